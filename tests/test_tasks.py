"""Downstream tasks from files: UCF101 / HMDB51 official layouts, `path label` lists, class folders."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from benchmark.cli import main
from benchmark.errors import BenchError
from benchmark.records import read_records
from benchmark.sources.base import make_source, source_params
from benchmark.tasks.base import make_task, task_params
from tests.conftest import MICRO


def test_ucf101_layout_class_ids_split_sizes_and_labels(ucf_tree):
    task = make_task("ucf101", task_params("ucf101", {"data_root": str(ucf_tree)}))
    assert task.classes == ["BigBuckBunny", "Bikes", "Carphone"]  # classInd order, 0-indexed
    assert (len(task.train), len(task.test)) == (9, 4)
    assert [task.train.label(i) for i in range(9)] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert [task.test.label(i) for i in range(4)] == [0, 1, 2, 1]  # from the class folder: the list has none
    assert task.train.name(3).endswith("UCF-101/Bikes/v_Bikes_g01_c01.avi")
    assert task.train.frame_count(0) == 24
    frames = task.train.frames(0, np.array([0, 23]))
    assert frames.shape == (2, 60, 80, 3) and frames.dtype == np.uint8


def _copy(tree: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(tree, dst)
    return dst


def test_ucf101_bad_lists_are_one_line_errors(ucf_tree, tmp_path):
    root = _copy(ucf_tree, tmp_path)
    with pytest.raises(BenchError, match="trainlist02.txt not found"):
        make_task("ucf101", task_params("ucf101", {"data_root": str(root), "split": 2}))
    lst = root / "ucfTrainTestlist" / "trainlist01.txt"
    lines = lst.read_text().splitlines()
    lst.write_text("\n".join([lines[0].replace(" 1", " 2")] + lines[1:]))
    with pytest.raises(BenchError, match="trainlist01.txt line 1: label 2 disagrees with the class folder"):
        make_task("ucf101", task_params("ucf101", {"data_root": str(root)}))
    lst.write_text("\n".join([lines[0].split()[0]] + lines[1:]))  # a training line without its label
    with pytest.raises(BenchError, match=r"line 1 must be `<Class>/<video> <class id>`"):
        make_task("ucf101", task_params("ucf101", {"data_root": str(root)}))
    (root / "ucfTrainTestlist" / "testlist01.txt").write_text("Juggling/v_Juggling_g01_c01.avi\n")
    lst.write_text("\n".join(lines))
    with pytest.raises(BenchError, match="class folder 'Juggling' is not in"):
        make_task("ucf101", task_params("ucf101", {"data_root": str(root)}))
    with pytest.raises(BenchError, match="needs its files: add --data-root"):
        make_task("ucf101", task_params("ucf101", {}))
    with pytest.raises(BenchError, match="split must be 1, 2 or 3"):
        task_params("ucf101", {"split": 4})


def test_hmdb51_layout(hmdb_tree):
    task = make_task("hmdb51", task_params("hmdb51", {"data_root": str(hmdb_tree)}))
    assert task.classes == ["bigbuckbunny", "bikes", "carphone"]  # sorted split-file names
    assert (len(task.train), len(task.test)) == (9, 3)  # 1 = train, 2 = test, 0 = unused (left out)
    assert [task.test.label(i) for i in range(3)] == [0, 1, 2]
    assert all("clip_4" not in task.train.name(i) for i in range(9))
    assert task.test.name(1).endswith("bikes/bikes_clip_3.avi")


def test_csv_and_folder_tasks(ucf_tree, tmp_path):
    ucf = ucf_tree / "UCF-101"
    videos = [ucf / f"{c}/v_{c}_g{g:02d}_c01.avi" for g in (1, 2, 3) for c in ("BigBuckBunny", "Bikes")]
    (tmp_path / "train.csv").write_text("".join(f"{v} {i % 2}\n" for i, v in enumerate(videos[:4])))
    (tmp_path / "test.csv").write_text(f"{videos[4]} 1\n{videos[5]} 0\n")
    task = make_task("csv", task_params("csv", {"data_root": str(tmp_path)}))
    assert task.num_classes == 2 and len(task.train) == 4 and task.test.label(0) == 1
    (tmp_path / "test.csv").write_text(f"{videos[4]}\n")
    with pytest.raises(BenchError, match="must be `<path> <integer label>`"):
        make_task("csv", task_params("csv", {"data_root": str(tmp_path)}))

    for split, names in (("train", videos[:4]), ("test", videos[4:])):
        for v in names:
            dst = tmp_path / "tree" / split / v.parent.name / v.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(v, dst)
    task = make_task("folder", task_params("folder", {"data_root": str(tmp_path / "tree")}))
    assert task.classes == sorted({v.parent.name for v in videos[:4]})
    assert len(task.train) == 4 and len(task.test) == 2


def test_datasets_check_lists_the_corrupt_video(ucf_tree, capsys):
    code = main(["datasets", "check", "--task", "ucf101", "--data-root", str(ucf_tree), "--workers", "1"])
    out = capsys.readouterr().out
    assert code == 1
    assert "v_Bikes_g05_c01.avi" in out and "12 of 13 videos readable" in out


def test_a_run_on_a_ucf101_tree_skips_and_counts_the_corrupt_video(ucf_tree, tmp_path, capsys):
    args = ["run", "--source", "scratch", "--task", "ucf101", "--data-root", str(ucf_tree), "--protocol", "smoke",
            "--results", str(tmp_path / "r"), "--work", str(tmp_path / "w")]
    for item in MICRO:
        if not item.startswith("task."):
            args += ["--set", item]
    assert main(args) == 0
    (rec,) = [r.to_json() for r in read_records(tmp_path / "r")[0]]
    assert rec["task"] == "ucf101" and rec["task_info"]["num_classes"] == 3
    assert rec["metrics"]["test_videos"] == 3
    assert [Path(p).name for p in rec["skipped_videos"]["test"]] == ["v_Bikes_g05_c01.avi"]
    assert rec["config"]["task"]["params"]["data_root"] == str(ucf_tree)


def test_natural_source_on_a_task_train_split(ucf_tree):
    params = source_params("natural", {"task": "ucf101", "data_root": str(ucf_tree)})
    src = make_source("natural", params, seed=0, clip_size=32)
    clip = src.clip(3, 8, 2)
    assert clip.shape == (8, 60, 80, 3) and src.info()["videos"] == 9
    assert src.info()["origin"] == "ucf101 train split 1"
    with pytest.raises(BenchError, match="alternatives"):
        source_params("natural", {"task": "ucf101", "videos": "x"})


def test_natural_on_the_run_task_inherits_its_data_root(ucf_tree):
    from benchmark.run import resolve
    spec = resolve("smoke", "natural", "ucf101", 0, [f"task.data_root={json.dumps(str(ucf_tree))}",
                                                    "source.task=ucf101"])
    assert spec.source_params.data_root == str(ucf_tree) and spec.source_params.split == 1


@pytest.mark.skipif(not os.environ.get("UCF101_ROOT"), reason="set UCF101_ROOT to a full UCF101 copy")
def test_official_ucf101_split_sizes():
    root = os.environ["UCF101_ROOT"]
    sizes = {s: make_task("ucf101", task_params("ucf101", {"data_root": root, "split": s})) for s in (1, 2, 3)}
    assert sizes[1].num_classes == 101
    assert (len(sizes[1].train), len(sizes[1].test)) == (9537, 3783)
    assert all(len(t.train) + len(t.test) == 13320 for t in sizes.values())


@pytest.mark.skipif(not os.environ.get("HMDB51_ROOT"), reason="set HMDB51_ROOT to a full HMDB51 copy")
def test_official_hmdb51_split_sizes():
    for s in (1, 2, 3):
        task = make_task("hmdb51", task_params("hmdb51", {"data_root": os.environ["HMDB51_ROOT"], "split": s}))
        assert task.num_classes == 51 and (len(task.train), len(task.test)) == (3570, 1530)
