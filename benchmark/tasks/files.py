"""Downstream tasks read from disk: UCF101 and HMDB51 from their official split files, a VideoMAE-style
`path label` list, and a class-per-folder tree.

Labels are always explicit: UCF101's class ids come from classInd.txt (1-indexed there, 0-indexed here), test
labels from the class folder of each path (testlist0N.txt has none), and a train label that disagrees with its
folder is an error; HMDB51's classes are its split files' names in sorted order. A list line without a label, a
label out of range or a class folder that is not in the class list is a one-line error naming the file and line,
never a silent -1.

Videos listed but missing or unreadable are not an error here: runs skip them and count them in the record, and
`bench datasets check` lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmark.data.splits import VideoListSplit
from benchmark.data.video import VIDEO_SUFFIXES
from benchmark.errors import BenchError, read_text
from benchmark.tasks.base import Task, register


def _need_root(data_root: str | None, task: str) -> Path:
    if not data_root:
        raise BenchError(f"task {task} needs its files: add --data-root DIR (see `bench tasks`)")
    root = Path(data_root).expanduser()
    if not root.is_dir():
        raise BenchError(f"--data-root {root} does not exist or is not a folder")
    return root


def _first_existing(root: Path, names: tuple[str, ...], what: str, hint: str) -> Path:
    for name in names:
        if (root / name).exists():
            return root / name
    raise BenchError(f"{what} not found under {root} (looked for {', '.join(names)}): {hint}")


def _lines(path: Path) -> list[tuple[int, str]]:
    return [(n, line.strip()) for n, line in enumerate(read_text(path, "list file").splitlines(), 1) if line.strip()]


# ---------------------------------------------------------------------------------------------------------------
# UCF101


@dataclass
class UCF101Params:
    data_root: str | None = None  # holds UCF-101/<Class>/*.avi and ucfTrainTestlist/ (the official archives)
    split: int = 1
    videos: str | None = None  # the class folders; default: <data_root>/UCF-101, else <data_root>
    annotations: str | None = None  # classInd.txt + lists; default: <data_root>/ucfTrainTestlist, else <data_root>
    short_side: int | None = None  # decode at this short side; None: native (320x240)

    def validate(self, where: str) -> None:
        if self.split not in (1, 2, 3):
            raise BenchError(f"{where}.split must be 1, 2 or 3 (the official splits), got {self.split}")


def read_ucf101(p: UCF101Params) -> tuple[list[str], tuple[list[Path], list[int]], tuple[list[Path], list[int]]]:
    """(classes, (train paths, labels), (test paths, labels)) from the official split files."""
    root = _need_root(p.data_root, "ucf101")
    hint = "unpack UCF101.rar and UCF101TrainTestSplits-RecognitionTask.zip into --data-root"
    ann = Path(p.annotations) if p.annotations else _first_existing(root, ("ucfTrainTestlist", "."),
                                                                   "ucfTrainTestlist", hint)
    videos = Path(p.videos) if p.videos else (root / "UCF-101" if (root / "UCF-101").is_dir() else root)
    class_file = ann / "classInd.txt"
    if not class_file.is_file():
        raise BenchError(f"{class_file} not found: {hint} (or set task.annotations)")
    classes: dict[str, int] = {}
    for n, line in _lines(class_file):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise BenchError(f"{class_file} line {n} must be `<id> <ClassName>`, got {line!r}")
        classes[parts[1]] = int(parts[0]) - 1  # 1-indexed in the file
    names = sorted(classes, key=classes.get)
    if not names:
        raise BenchError(f"{class_file} lists no classes: it must hold `<id> <ClassName>` lines")
    if [classes[c] for c in names] != list(range(len(names))):
        raise BenchError(f"{class_file}: class ids must be 1..{len(names)} without gaps")

    def read(list_name: str, labelled: bool):
        path = ann / list_name
        if not path.is_file():
            raise BenchError(f"{path} not found: {hint} (or set task.annotations)")
        paths, labels = [], []
        for n, line in _lines(path):
            parts = line.split()
            rel = parts[0]
            folder = rel.split("/")[0]
            if folder not in classes:
                raise BenchError(f"{path} line {n}: class folder {folder!r} is not in {class_file}")
            label = classes[folder]
            if labelled:
                if len(parts) != 2 or not parts[1].isdigit():
                    raise BenchError(f"{path} line {n} must be `<Class>/<video> <class id>`, got {line!r}")
                if int(parts[1]) - 1 != label:
                    raise BenchError(f"{path} line {n}: label {parts[1]} disagrees with the class folder {folder} "
                                     f"(id {label + 1} in {class_file.name})")
            paths.append(videos / rel)
            labels.append(label)
        if not paths:
            raise BenchError(f"{path} lists no videos: it must hold `<Class>/<video>` lines")
        return paths, labels

    return names, read(f"trainlist0{p.split}.txt", True), read(f"testlist0{p.split}.txt", False)


def _official_task(name: str, p, classes: list[str], train: tuple, test: tuple) -> Task:
    """A task from an official split's (paths, labels) lists."""
    return Task(name, classes, VideoListSplit(*train, p.short_side), VideoListSplit(*test, p.short_side),
                info={"split": p.split, "data_root": str(p.data_root)})


@register("ucf101", "UCF101 (101 classes) from the official distribution: UCF-101/<Class>/*.avi with "
                "ucfTrainTestlist/ (classInd.txt, trainlist0N.txt, testlist0N.txt); split 1: 9,537 train / "
                "3,783 test videos.", params=UCF101Params,
                needs="--data-root DIR holding UCF-101/ and ucfTrainTestlist/; --split 1|2|3", sizes=(101, 9537, 3783))
def make_ucf101(p: UCF101Params) -> Task:
    return _official_task("ucf101", p, *read_ucf101(p))


# ---------------------------------------------------------------------------------------------------------------
# HMDB51


@dataclass
class HMDB51Params:
    data_root: str | None = None  # holds the class folders of videos and testTrainMulti_7030_splits/
    split: int = 1
    videos: str | None = None  # default: <data_root>/hmdb51_org or <data_root>/videos, else <data_root>
    splits: str | None = None  # default: <data_root>/testTrainMulti_7030_splits or <data_root>/splits
    short_side: int | None = None

    def validate(self, where: str) -> None:
        if self.split not in (1, 2, 3):
            raise BenchError(f"{where}.split must be 1, 2 or 3 (the official splits), got {self.split}")


def read_hmdb51(p: HMDB51Params):
    root = _need_root(p.data_root, "hmdb51")
    hint = "unpack hmdb51_org.rar (and each class's .rar) and test_train_splits.rar into --data-root"
    split_dir = Path(p.splits) if p.splits else _first_existing(
        root, ("testTrainMulti_7030_splits", "splits"), "HMDB51 split folder", hint)
    videos = Path(p.videos) if p.videos else next(
        (root / d for d in ("hmdb51_org", "videos") if (root / d).is_dir()), root)
    files = sorted(split_dir.glob(f"*_test_split{p.split}.txt"))
    if not files:
        raise BenchError(f"no *_test_split{p.split}.txt files in {split_dir}: {hint} (or set task.splits)")
    classes = [f.name.removesuffix(f"_test_split{p.split}.txt") for f in files]
    train, test = ([], []), ([], [])
    for label, (cls, f) in enumerate(zip(classes, files, strict=True)):
        for n, line in _lines(f):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise BenchError(f"{f} line {n} must be `<video>.avi 0|1|2`, got {line!r}")
            target = {"1": train, "2": test}.get(parts[1])  # 0 = unused in this split
            if target is not None:
                target[0].append(videos / cls / parts[0])
                target[1].append(label)
    for part, (paths, _) in (("training (1)", train), ("test (2)", test)):
        if not paths:
            raise BenchError(f"the split files *_test_split{p.split}.txt in {split_dir} mark no {part} videos")
    return classes, train, test


@register("hmdb51", "HMDB51 (51 classes) from the official distribution: <class>/*.avi with "
                "testTrainMulti_7030_splits/<class>_test_splitN.txt (1 = train, 2 = test, 0 = unused); "
                "3,570 train / 1,530 test videos per split.", params=HMDB51Params,
                needs="--data-root DIR holding the class folders and testTrainMulti_7030_splits/; --split 1|2|3",
          sizes=(51, 3570, 1530))
def make_hmdb51(p: HMDB51Params) -> Task:
    return _official_task("hmdb51", p, *read_hmdb51(p))


# ---------------------------------------------------------------------------------------------------------------
# `path label` lists and class-per-folder trees


@dataclass
class ListParams:
    data_root: str | None = None  # holds train.csv and test.csv (VideoMAE's `path label` format)
    train: str = "train.csv"  # relative to data_root
    test: str = "test.csv"
    classes: str | None = None  # optional file with one class name per line (line i = label i)
    short_side: int | None = None


def read_list(path: Path, root: Path) -> tuple[list[Path], list[int]]:
    if not path.is_file():
        raise BenchError(f"video list {path} not found (set task.train / task.test relative to --data-root)")
    paths, labels = [], []
    for n, line in _lines(path):
        name, _, label = line.rpartition(" ")
        if not name or not label.lstrip("-").isdigit():
            raise BenchError(f"{path} line {n} must be `<path> <integer label>`, got {line!r}")
        p = Path(name.strip())
        paths.append(p if p.is_absolute() else root / p)
        labels.append(int(label))
    if not paths:
        raise BenchError(f"video list {path} lists no videos: it must hold `<path> <label>` lines")
    return paths, labels


@register("csv", "Any labelled videos as VideoMAE-style `path label` lists (labels 0..C-1): "
                "<data-root>/train.csv and test.csv, relative paths resolved against the data root.",
                params=ListParams, needs="--data-root DIR holding train.csv and test.csv (`path label` lines)")
def make_list_task(p: ListParams) -> Task:
    root = _need_root(p.data_root, "csv")
    train, test = read_list(root / p.train, root), read_list(root / p.test, root)
    labels = train[1] + test[1]
    if p.classes:
        names = [line for _, line in _lines(root / p.classes)]
        if not names:
            raise BenchError(f"class list {root / p.classes} is empty: one class name per line")
    else:
        names = [f"class {i}" for i in range(max(labels) + 1)]
    bad = [x for x in labels if not 0 <= x < len(names)]
    if bad:
        raise BenchError(f"labels must be in 0..{len(names) - 1} ({len(names)} classes), found {bad[0]}")
    return Task("csv", names, VideoListSplit(*train, p.short_side), VideoListSplit(*test, p.short_side),
                info={"data_root": str(root), "train_list": p.train, "test_list": p.test})


@dataclass
class FolderParams:
    data_root: str | None = None  # holds train/<class>/<video> and test/<class>/<video>
    train: str = "train"
    test: str = "test"
    short_side: int | None = None


def read_folder(folder: Path, classes: list[str] | None) -> tuple[list[str], list[Path], list[int]]:
    if not folder.is_dir():
        raise BenchError(f"class folder tree {folder} not found (set task.train / task.test under --data-root)")
    names = classes or sorted(d.name for d in folder.iterdir() if d.is_dir())
    if not names:
        raise BenchError(f"{folder} holds no class folders")
    paths, labels = [], []
    for d in sorted(x for x in folder.iterdir() if x.is_dir()):
        if d.name not in names:
            raise BenchError(f"class folder {d} is not a training class ({', '.join(names[:5])}, ...)")
        for v in sorted(d.rglob("*")):
            if v.suffix.lower() in VIDEO_SUFFIXES:
                paths.append(v)
                labels.append(names.index(d.name))
    if not paths:
        raise BenchError(f"{folder} holds no videos ({', '.join(VIDEO_SUFFIXES)})")
    return names, paths, labels


@register("folder", "Any labelled videos as a class-per-folder tree: <data-root>/train/<class>/* and "
                "<data-root>/test/<class>/*; classes are the train folder names in sorted order.",
                params=FolderParams, needs="--data-root DIR holding train/<class>/ and test/<class>/")
def make_folder_task(p: FolderParams) -> Task:
    root = _need_root(p.data_root, "folder")
    classes, tr_p, tr_l = read_folder(root / p.train, None)
    _, te_p, te_l = read_folder(root / p.test, classes)
    return Task("folder", classes, VideoListSplit(tr_p, tr_l, p.short_side), VideoListSplit(te_p, te_l, p.short_side),
                info={"data_root": str(root)})
