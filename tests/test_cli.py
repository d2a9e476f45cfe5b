"""The command line: listings, JSON output, and one-line errors with exit code 2."""

import json

import pytest

from benchmark.cli import main


def run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("command", ["sources", "protocols", "tasks"])
def test_listings_as_table_and_json(capsys, command):
    code, out, _ = run(capsys, command)
    assert code == 0 and ("smoke" in out or "scratch" in out or "embedded" in out)
    code, out, _ = run(capsys, command, "--format", "json")
    data = json.loads(out)
    assert code == 0 and isinstance(data, list) and all("name" in d for d in data)


def test_sources_json_lists_kinds_and_parameters(capsys):
    _, out, _ = run(capsys, "sources", "--format", "json")
    by_name = {d["name"]: d for d in json.loads(out)}
    assert by_name["scratch"]["kind"] == "none"
    assert by_name["natural"]["kind"] == "clips" and "videos" in by_name["natural"]["params"]
    assert by_name["checkpoint"]["kind"] == "checkpoint"


@pytest.mark.parametrize("args, message", [
    (["run", "--source", "nope"], "unknown source 'nope'"),
    (["run", "--source", "natral"], "did you mean 'natural'"),
    (["run", "--source", "scratch", "--protocol", "nope"], "unknown protocol 'nope'"),
    (["run", "--source", "scratch", "--task", "nope"], "unknown task 'nope'"),
    (["run", "--source", "scratch", "--set", "pretrain.epochz=1"], "unknown key pretrain.epochz"),
    (["run", "--source", "scratch", "--set", "finetune.epochs=x"], "key finetune.epochs must be an integer"),
    (["run", "--source", "natural", "--set", "source.vidoes=/x"], "unknown key source.vidoes"),
    (["run", "--source", "scratch", "--set", "task.train_videos=-1"], "task.train_videos"),
    (["run", "--source", "checkpoint"], "needs a file: add --set source.path="),
    (["run", "--source", "checkpoint", "--set", "source.path=/nonexistent.pth"], "does not exist"),
    (["run", "--source", "scratch", "--set", "clip.frames=7"], "multiple of model.tubelet_size"),
    (["run"], "the following arguments are required: --source"),
    (["frobnicate"], "invalid choice"),
])
def test_user_errors_are_one_line_with_exit_code_2(capsys, tmp_path, args, message):
    if args[0] == "run":
        args = args + ["--results", str(tmp_path / "r"), "--work", str(tmp_path / "w")]
    code, out, err = run(capsys, *args)
    assert code == 2
    assert message in err and err.count("\n") == 1 and err.startswith("bench")
    assert not (tmp_path / "r").exists()  # nothing half-written


def test_speed_reports_rows_and_what_bounds_the_run(capsys):
    code, out, _ = run(capsys, "speed", "--steps", "1", "--batch", "2", "--items", "2", "--reference", "hf",
                       "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["bound"] and all(line.startswith(("pretrain:", "finetune:")) for line in data["bound"])
    rows = {(r["bench"], r["impl"]): r for r in data["rows"]}
    assert {("pretrain_step", "harness"), ("finetune_step", "harness"), ("pretrain_step", "hf"),
            ("source_data", "pmg"), ("task_data", "embedded")} <= set(rows)
    mine = rows[("pretrain_step", "harness")]
    assert mine["clips_per_s"] > 0 and mine["gmacs_per_clip"] > 0 and mine["torch"] and mine["dtype"] == "float32"
    assert rows[("pretrain_step", "hf")]["extra"]["harness_over_this"] > 0
    code, _, err = run(capsys, "speed", "--steps", "0")
    assert code == 2 and "--steps" in err
