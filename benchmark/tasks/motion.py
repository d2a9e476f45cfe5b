"""Motion-heavy downstream tasks from their official distributions: Something-Something v2, Diving48, Kinetics.

Where UCF101 and HMDB51 can be solved from appearance, these need the order of frames (Yu et al.'s reviewers'
caveat). Labels are explicit: SSv2's from labels.json by the template of each video (brackets removed), Diving48's
integer labels checked against its 48 classes, Kinetics' class names from the training CSV in sorted order; an entry
whose label cannot be resolved is a one-line error naming the file and entry. Videos listed but absent from disk
(every Kinetics copy misses some) are left out of the split and counted in the task's description, which the run's
record keeps (`task_info.missing_videos`); unreadable ones are skipped by runs and counted, as for UCF101.

pytorchvideo 0.1.5's data layer is not used for these: its `SSv2` reads frame folders and a different label file,
its `Kinetics` reads `path label` CSVs rather than the official annotation CSVs, it has no Diving48, and it sets
an unknown label to -1 silently; its clip samplers do not implement VideoMAE's segment sampling for SSv2 (see
datasets/README.md).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from benchmark.data.splits import VideoListSplit
from benchmark.data.video import VIDEO_SUFFIXES
from benchmark.errors import BenchError, read_text
from benchmark.tasks.base import Task, register
from benchmark.tasks.files import _first_existing, _need_root


def _json(path: Path, what: str):
    try:
        return json.loads(read_text(path, what))
    except json.JSONDecodeError as e:
        raise BenchError(f"{path} is not valid JSON (line {e.lineno}: {e.msg})") from None


def _split(paths: list[Path], labels: list[int], short_side, sampling="window", ranges=None):
    """The split of the listed videos that exist, and the count of those that do not."""
    keep = [k for k, p in enumerate(paths) if p.is_file()]
    split = VideoListSplit([paths[k] for k in keep], [labels[k] for k in keep], short_side, sampling,
                           [ranges[k] for k in keep] if ranges is not None else None)
    return split, len(paths) - len(keep)


def _task(name: str, classes: list[str], train, test, flip: bool, info: dict) -> Task:
    (tr, tr_missing), (te, te_missing) = train, test
    return Task(name, classes, tr, te, flip_keeps_label=flip,
                info={**info, "missing_videos": {"train": tr_missing, "test": te_missing}})


# ---------------------------------------------------------------------------------------------------------------
# Something-Something v2


@dataclass
class SSv2Params:
    data_root: str | None = None  # holds labels.json, train.json, validation.json and the <id>.webm videos
    videos: str | None = None  # default: <data_root>/20bn-something-something-v2, <data_root>/videos, <data_root>
    short_side: int | None = None


SSV2_FILES = {"labels": ("labels.json", "something-something-v2-labels.json"),
              "train": ("train.json", "something-something-v2-train.json"),
              "validation": ("validation.json", "something-something-v2-validation.json")}


def read_ssv2(p: SSv2Params):
    root = _need_root(p.data_root, "ssv2")
    hint = "unpack the 20bn-something-something-v2 archives and the labels zip into --data-root"
    files = {k: _first_existing(root, names, f"SSv2 {k} file", hint) for k, names in SSV2_FILES.items()}
    labels = _json(files["labels"], "SSv2 labels")
    if not isinstance(labels, dict) or not labels:
        raise BenchError(f"{files['labels']} must map each template to its class id, e.g. "
                         f"{{\"Approaching something with your camera\": \"0\"}}")
    ids = sorted(int(v) for v in labels.values())
    if ids != list(range(len(ids))):
        raise BenchError(f"{files['labels']}: class ids must be 0..{len(ids) - 1} without gaps")
    classes = [""] * len(ids)
    for template, i in labels.items():
        classes[int(i)] = template
    videos = Path(p.videos) if p.videos else next(
        (root / d for d in ("20bn-something-something-v2", "videos") if (root / d).is_dir()), root)
    out = []
    for part in ("train", "validation"):
        entries = _json(files[part], f"SSv2 {part} list")
        if not isinstance(entries, list):
            raise BenchError(f"{files[part]} must be a list of {{id, template, label}} entries")
        paths, ys = [], []
        for n, e in enumerate(entries):
            if not isinstance(e, dict) or "id" not in e or "template" not in e:
                raise BenchError(f"{files[part]} entry {n} needs `id` and `template`, got {e!r:.80}")
            template = e["template"].replace("[", "").replace("]", "")
            if template not in labels:
                raise BenchError(f"{files[part]} entry {n} (id {e['id']}): template {template!r} is not in "
                                 f"{files['labels'].name}")
            paths.append(videos / f"{e['id']}.webm")
            ys.append(int(labels[template]))
        out.append(_split(paths, ys, p.short_side, sampling="segments"))
    return classes, out[0], out[1], {"videos": str(videos)}


@register("ssv2", "Something-Something v2 (174 classes) from the official distribution: labels.json, train.json, "
                  "validation.json (id, template) and <id>.webm; labels from the templates; VideoMAE's segment "
                  "sampling; no horizontal flip (labels name left and right). 168,913 train / 24,777 validation.",
          params=SSv2Params, needs="--data-root DIR holding labels.json, train.json, validation.json and the videos",
          sizes=(174, 168913, 24777))
def make_ssv2(p: SSv2Params) -> Task:
    classes, train, test, info = read_ssv2(p)
    return _task("ssv2", classes, train, test, flip=False, info=info)


# ---------------------------------------------------------------------------------------------------------------
# Diving48


@dataclass
class Diving48Params:
    data_root: str | None = None  # holds Diving48_V2_train.json, Diving48_V2_test.json and rgb/<vid_name>.mp4
    videos: str | None = None  # default: <data_root>/rgb, else <data_root>
    short_side: int | None = None


def read_diving48(p: Diving48Params):
    root = _need_root(p.data_root, "diving48")
    hint = "unpack Diving48_V2 (rgb videos and the V2 annotation JSONs) into --data-root"
    videos = Path(p.videos) if p.videos else (root / "rgb" if (root / "rgb").is_dir() else root)
    vocab_file = root / "Diving48_vocab.json"
    vocab = _json(vocab_file, "Diving48 vocabulary") if vocab_file.is_file() else None
    classes = [" / ".join(map(str, v)) for v in vocab] if isinstance(vocab, list) else [f"dive {i}" for i in range(48)]
    out = []
    for part in ("train", "test"):
        f = _first_existing(root, (f"Diving48_V2_{part}.json",), f"Diving48 {part} list", hint)
        entries = _json(f, f"Diving48 {part} list")
        paths, ys, ranges = [], [], []
        for n, e in enumerate(entries if isinstance(entries, list) else [None]):
            if not isinstance(e, dict) or not {"vid_name", "label"} <= e.keys():
                raise BenchError(f"{f} entry {n} needs vid_name and label (and start_frame, end_frame)")
            label = e["label"]
            if not isinstance(label, int) or not 0 <= label < len(classes):
                raise BenchError(f"{f} entry {n} ({e['vid_name']}): label {label!r} is not a class id 0.."
                                 f"{len(classes) - 1}")
            first, last = int(e.get("start_frame", 0)), int(e.get("end_frame", 10 ** 9))
            if last < first:
                raise BenchError(f"{f} entry {n} ({e['vid_name']}): end_frame {last} is before start_frame {first}")
            paths.append(videos / f"{e['vid_name']}.mp4")
            ys.append(label)
            ranges.append((first, last))
        out.append(_split(paths, ys, p.short_side, ranges=ranges))
    return classes, out[0], out[1], {"videos": str(videos)}


@register("diving48", "Diving48 V2 (48 dive classes) from the official distribution: Diving48_V2_train.json / "
                      "Diving48_V2_test.json (vid_name, label, start_frame, end_frame) and rgb/<vid_name>.mp4; "
                      "frames between start_frame and end_frame. 15,027 train / 1,970 test.",
          params=Diving48Params, needs="--data-root DIR holding the Diving48_V2 JSON files and rgb/",
          sizes=(48, 15027, 1970))
def make_diving48(p: Diving48Params) -> Task:
    classes, train, test, info = read_diving48(p)
    return _task("diving48", classes, train, test, flip=True, info=info)


# ---------------------------------------------------------------------------------------------------------------
# Kinetics


@dataclass
class KineticsParams:
    data_root: str | None = None  # holds the annotation CSVs (train.csv, validate.csv) and the videos, any depth
    videos: str | None = None  # where the <youtube_id>_<start:06d>_<end:06d>.mp4 files are; default: data_root
    version: int | None = None  # 400, 600 or 700: the class count the training CSV must have; None: any
    short_side: int | None = None

    def validate(self, where: str) -> None:
        if self.version not in (None, 400, 600, 700):
            raise BenchError(f"{where}.version must be 400, 600 or 700 (or null), got {self.version}")


def _kinetics_csv(path: Path) -> list[tuple[str, str]]:
    """(class name, file stem) of each row of an official Kinetics annotation CSV."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    need = {"label", "youtube_id", "time_start", "time_end"}
    if not rows or not need <= rows[0].keys():
        raise BenchError(f"{path} must be an official Kinetics CSV with columns {', '.join(sorted(need))}")
    out = []
    for n, r in enumerate(rows, 2):
        try:
            start, end = int(float(r["time_start"])), int(float(r["time_end"]))
        except ValueError:
            raise BenchError(f"{path} line {n}: time_start/time_end must be seconds, got "
                             f"{r['time_start']!r}, {r['time_end']!r}") from None
        out.append((r["label"], f"{r['youtube_id']}_{start:06d}_{end:06d}"))
    return out


def read_kinetics(p: KineticsParams):
    root = _need_root(p.data_root, "kinetics")
    hint = "put the official annotation CSVs (train.csv, validate.csv) into --data-root"
    train_csv = _first_existing(root, ("train.csv", "annotations/train.csv", f"kinetics{p.version}/train.csv"),
                                "Kinetics train.csv", hint)
    val_csv = _first_existing(root, ("validate.csv", "val.csv", "annotations/validate.csv",
                                     f"kinetics{p.version}/validate.csv"), "Kinetics validate.csv", hint)
    train_rows, val_rows = _kinetics_csv(train_csv), _kinetics_csv(val_csv)
    classes = sorted({label for label, _ in train_rows})
    if p.version is not None and len(classes) != p.version:
        raise BenchError(f"{train_csv} names {len(classes)} classes, not {p.version}: set task.version or check the "
                         f"file")
    index = {c: i for i, c in enumerate(classes)}
    videos = Path(p.videos) if p.videos else root
    on_disk = {f.stem: f for f in videos.rglob("*") if f.suffix.lower() in VIDEO_SUFFIXES and f.is_file()}
    out = []
    for f, rows in ((train_csv, train_rows), (val_csv, val_rows)):
        paths, ys = [], []
        for n, (label, stem) in enumerate(rows, 2):
            if label not in index:
                raise BenchError(f"{f} line {n}: class {label!r} is not a class of {train_csv.name}")
            paths.append(on_disk.get(stem, videos / f"{stem}.mp4"))
            ys.append(index[label])
        out.append(_split(paths, ys, p.short_side))
    return classes, out[0], out[1], {"videos": str(videos)}


@register("kinetics", "Kinetics-400/600/700 from the official annotation CSVs (label, youtube_id, time_start, "
                      "time_end) and <youtube_id>_<start:06d>_<end:06d>.mp4 files anywhere under the data root; "
                      "validate.csv is the test split; missing videos are counted. K400: 240,436 train / 19,787 "
                      "val in the original lists.",
          params=KineticsParams, needs="--data-root DIR holding train.csv, validate.csv and the videos",
          sizes=(400, 240436, 19787))
def make_kinetics(p: KineticsParams) -> Task:
    classes, train, test, info = read_kinetics(p)
    return _task("kinetics", classes, train, test, flip=True, info={**info, "classes_in_csv": len(classes)})
