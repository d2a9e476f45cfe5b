"""Contracts every registered entry keeps, checked for each one (timm's test-over-every-model pattern): a new clip
source, init, task, protocol, perturbation or stage is tested by being registered, without a test of its own.

Tasks that read files need an example tree in their official layout (EXAMPLE_TREES below): a task registered
without one fails `test_every_task_has_an_example_tree`, which says what to add.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmark.config import build, protocol_names, to_dict
from benchmark.errors import BenchError
from benchmark.evaluate.perturbations import PERTURBATIONS, SEVERITIES
from benchmark.inits import INITS
from benchmark.render import FORMATS, render
from benchmark.sources.base import CLIP_SOURCES, ClipSource, make_source
from benchmark.stages.base import STAGES, load_protocol
from benchmark.tasks.base import TASKS, make_task, task_params
from tests.conftest import MICRO, write_video

# ---------------------------------------------------------------------------------------------------------------
# clip sources


@pytest.mark.parametrize("name", CLIP_SOURCES.names())
def test_clip_source_yields_deterministic_uint8_clips(name):
    entry = CLIP_SOURCES.get(name)
    src = make_source(name, entry.params(), seed=0, clip_size=32)
    assert isinstance(src, ClipSource)
    clips = [src.clip(i, 4, 2) for i in range(3)]
    for clip in clips:
        assert clip.dtype == np.uint8 and clip.ndim == 4 and clip.shape[0] == 4 and clip.shape[3] == 3
        assert min(clip.shape[1:3]) >= 32  # at least the protocol's crop side
    again = make_source(name, entry.params(), seed=0, clip_size=32)
    assert np.array_equal(again.clip(1, 4, 2), clips[1])  # deterministic for (seed, index)
    assert not all(np.array_equal(clips[0], c) for c in clips[1:])  # indices are different clips
    other = make_source(name, entry.params(), seed=1, clip_size=32)
    assert not all(np.array_equal(other.clip(i, 4, 2), c) for i, c in enumerate(clips))  # the seed matters
    json.dumps(src.info())  # the record can hold it
    assert set(src.skipped) == set()


@pytest.mark.parametrize("name", CLIP_SOURCES.names())
def test_clip_source_bad_parameter_is_a_one_line_error(name):
    entry = CLIP_SOURCES.get(name)
    with pytest.raises(BenchError) as err:
        build(entry.params, {"no_such_key": 1}, "source")
    assert "unknown key source.no_such_key" in str(err.value) and "\n" not in str(err.value)
    first = next(iter(to_dict(entry.params())))  # the first key, with a value of the wrong type
    with pytest.raises(BenchError) as err:
        build(entry.params, {first: object()}, "source")
    assert f"source.{first}" in str(err.value) and "\n" not in str(err.value)


# ---------------------------------------------------------------------------------------------------------------
# inits


@pytest.mark.parametrize("name", INITS.names())
def test_init_defaults_build_or_fail_in_one_line(name, tmp_path):
    entry = INITS.get(name)
    try:
        params = build(entry.params, {}, "source")
    except BenchError as e:
        assert "\n" not in str(e) and "source." in str(e)  # e.g. checkpoint: which key to set
        return
    init = entry.cls(params)
    assert init.kind in ("none", "checkpoint")
    assert (init.key() is None) == (init.weights() is None)
    json.dumps(init.info())


def test_checkpoint_init_reads_what_a_pretraining_wrote(tmp_path):
    import torch

    from benchmark.models.videomae import VideoMAEPretrain
    path = tmp_path / "ckpt.pth"
    state = VideoMAEPretrain("tiny", 8, 32, 16, 2).state_dict()
    torch.save({"model": state}, path)
    init = INITS.get("checkpoint").cls(build(INITS.get("checkpoint").params, {"path": str(path)}, "source"))
    weights = init.weights()
    assert init.key().startswith("file-") and set(weights) == set(state)
    assert init.key() == INITS.get("checkpoint").cls(init.params).key()  # the same file, the same key


# ---------------------------------------------------------------------------------------------------------------
# tasks


def _csv_tree(root: Path) -> dict:
    clips = np.random.default_rng(0).integers(0, 255, (6, 8, 24, 32, 3), dtype=np.uint8)
    lines = {"train": [], "test": []}
    for i, clip in enumerate(clips):
        split = "train" if i < 4 else "test"
        write_video(root / "videos" / f"v{i}.mp4", clip)
        lines[split].append(f"videos/v{i}.mp4 {i % 2}")
    for split, rows in lines.items():
        (root / f"{split}.csv").write_text("\n".join(rows) + "\n")
    return {"data_root": str(root)}


def _folder_tree(root: Path) -> dict:
    clips = np.random.default_rng(1).integers(0, 255, (6, 8, 24, 32, 3), dtype=np.uint8)
    for i, clip in enumerate(clips):
        write_video(root / ("train" if i < 4 else "test") / f"class{i % 2}" / f"v{i}.mp4", clip)
    return {"data_root": str(root)}


EXAMPLE_TREES = {  # task -> (conftest fixture name or builder)
    "embedded": lambda request, tmp: {"train_videos": 16, "test_videos": 8},
    "ucf101": lambda request, tmp: {"data_root": str(request.getfixturevalue("ucf_tree"))},
    "hmdb51": lambda request, tmp: {"data_root": str(request.getfixturevalue("hmdb_tree"))},
    "csv": lambda request, tmp: _csv_tree(tmp),
    "folder": lambda request, tmp: _folder_tree(tmp),
    "ssv2": lambda request, tmp: {"data_root": str(request.getfixturevalue("ssv2_tree"))},
    "diving48": lambda request, tmp: {"data_root": str(request.getfixturevalue("diving_tree"))},
    "kinetics": lambda request, tmp: {"data_root": str(request.getfixturevalue("kinetics_tree"))},
}


def test_every_task_has_an_example_tree():
    missing = [n for n in TASKS.names() if n not in EXAMPLE_TREES]
    assert not missing, f"add a tiny tree in its official layout for task(s) {missing} to EXAMPLE_TREES"


@pytest.mark.parametrize("name", TASKS.names())
def test_task_reads_labelled_splits(name, request, tmp_path):
    params = task_params(name, EXAMPLE_TREES[name](request, tmp_path))
    task = make_task(name, params)
    assert task.num_classes >= 2 and len(set(task.classes)) == task.num_classes
    json.dumps(task.describe())
    for split in (task.train, task.test):
        assert len(split) > 0
        names = [split.name(i) for i in range(len(split))]
        assert len(set(names)) == len(names)
        assert all(0 <= split.label(i) < task.num_classes for i in range(len(split)))  # never a silent -1
        frames = split.frames(0, np.array([0, 1]))
        assert frames.dtype == np.uint8 and frames.shape[0] == 2 and frames.shape[3] == 3
        assert split.frame_count(0) >= 2


@pytest.mark.parametrize("name", TASKS.names())
def test_task_defaults_build_or_fail_in_one_line(name):
    try:
        make_task(name, task_params(name, {}))
    except BenchError as e:
        assert "\n" not in str(e) and "--data-root" in str(e)


# ---------------------------------------------------------------------------------------------------------------
# protocols


@pytest.mark.parametrize("name", protocol_names())
def test_protocol_resolves_and_every_stage_validates_it(name, request, tmp_path):
    from benchmark.run import resolve
    proto = load_protocol(name)
    assert proto.name == name and proto.description
    tree = EXAMPLE_TREES[proto.task](request, tmp_path)
    overrides = [f"task.{k}={json.dumps(v)}" for k, v in tree.items()]
    for source in ("scratch", "natural", "moving-shapes"):
        spec = resolve(name, source, None, 0, overrides)
        plan = spec.plan()
        assert [s.name for s in plan][:1] == ["pretrain"] and len(spec.config_hash()) == 16
        for stage in plan:
            stage.validate(spec)
    json.dumps(to_dict(proto))


# ---------------------------------------------------------------------------------------------------------------
# perturbations


@pytest.mark.parametrize("name", PERTURBATIONS.names())
@pytest.mark.parametrize("severity", SEVERITIES)
def test_perturbation_keeps_the_contract(name, severity):
    p = PERTURBATIONS.get(name)
    rng = np.random.default_rng
    if p.kind == "spatial":
        x = rng(0).integers(0, 256, (4, 32, 40, 3), dtype=np.uint8)
        out = p.apply(x.copy(), severity, rng(7))
        assert out.dtype == np.uint8 and out.shape == x.shape
        assert np.array_equal(out, p.apply(x.copy(), severity, rng(7)))  # deterministic for its generator
    else:
        idx = p.apply(40, severity, rng(7))
        assert idx.dtype.kind == "i" and len(idx) >= 1 and idx.min() >= 0 and idx.max() < 40
        assert np.array_equal(idx, p.apply(40, severity, rng(7)))


# ---------------------------------------------------------------------------------------------------------------
# stages


@pytest.fixture(scope="module")
def shared_work(tmp_path_factory):
    return tmp_path_factory.mktemp("stages-work")  # one pretraining for every stage's run


@pytest.mark.parametrize("name", STAGES.names())
def test_stage_runs_fills_its_record_and_shows_in_tables(name, shared_work, tmp_path, capsys):
    from benchmark.records import read_records
    from benchmark.report.tables import groups, table
    from benchmark.run import execute, resolve
    stage = STAGES.get(name).stage
    spec = resolve("smoke", "natural", None, 0, MICRO + list(stage.example))
    assert name in [s.name for s in spec.plan()], f"stage {name}: its `example` overrides must switch it on"
    json.dumps(to_dict(stage.key(spec)))  # its slice of the config is plain data
    record, path = execute(spec, tmp_path / "r", shared_work)
    assert record.stages[name]["hash"] or stage.key(spec) is None
    for metric in stage.metrics():
        assert record.metric(metric.key) is not None, f"stage {name} did not fill metrics.{metric.key}"
    records, _ = read_records(tmp_path / "r")
    for kind in stage.table_kinds:
        t = table(kind, records)
        assert t is not None and t.rows
        for fmt in FORMATS:
            assert render(t, fmt)
    main = table("main", records)
    headers = [c.key for c in main.columns]
    assert all(m.key.replace(".", "_") in headers for m in stage.metrics())
    by = {g.source: g for g in groups(records)}
    for kind, plot in stage.plots().items():
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots()
        try:
            assert plot(ax, by, "test", None), f"stage {name}: plot {kind} drew nothing from its own record"
        finally:
            plt.close(fig)


# ---------------------------------------------------------------------------------------------------------------
# the command line starts without the heavy libraries


@pytest.mark.parametrize("argv", [["--help"], ["sources"], ["protocols", "--format", "json"], ["tasks"],
                                  ["perturbations", "--format", "json"], ["stages"], ["sources", "pmg"]])
def test_listings_import_neither_torch_nor_opencv(argv):
    code = ("import sys; from benchmark.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'cv2', 'timm', 'torchvision', 'scipy') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).parents[1])
    assert out.returncode == 0, out.stderr[-1000:]
    assert "HEAVY []" in out.stdout, out.stdout[-300:]
