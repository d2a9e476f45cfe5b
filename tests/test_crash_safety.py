"""Full disks, read-only folders and kill -9: one line and exit 2, no temporary file left, no finished run's record
lost, one record per run, and a killed run that resumes to the same metrics.

The disk tests mount real, small tmpfs filesystems (the tests run as root here); where mounting is not allowed
they are skipped with the reason.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from benchmark.cli import main
from tests.conftest import MICRO

ROOT = Path(__file__).parents[1]
MICRO_ARGS = [x for item in MICRO for x in ("--set", item)]


@contextmanager
def tmpfs(path: Path, size: str, read_only: bool = False):
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'mount failed'}): needs root")
    try:
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def temps(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bench: error:") and "Traceback" not in err, err
    return err


def test_a_full_work_folder_is_one_line_and_leaves_no_temporary_file(tmp_path, capsys):
    with tmpfs(tmp_path / "work", "2m") as work:
        code = main(["run", "--source", "natural", "--results", str(tmp_path / "r"), "--work", str(work),
                     *MICRO_ARGS])
        err = one_line_error(capsys)
        assert code == 2 and "no space left in" in err and "MiB free" in err
        assert temps(work) == [] and not (tmp_path / "r").exists()


def test_a_full_results_folder_keeps_the_finished_record_elsewhere(tmp_path, capsys):
    with tmpfs(tmp_path / "results", "64k") as results:
        import os
        fd = os.open(results / "filler", os.O_WRONLY | os.O_CREAT)
        try:  # fill it to the last byte
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        code = main(["run", "--source", "scratch", "--results", str(results), "--work", str(tmp_path / "w"),
                     *MICRO_ARGS])
        err = one_line_error(capsys)
        assert code == 2 and "no space left in" in err and "the finished run's record is kept at" in err
        kept = Path(err.split("kept at ")[1].split(":")[0])
        record = json.loads(kept.read_text())
        assert kept.is_relative_to(tmp_path / "w") and record["metrics"]["top1"] is not None
        assert temps(results) == []


def test_read_only_folders_are_refused_before_any_work(tmp_path, capsys):
    with tmpfs(tmp_path / "ro", "1m", read_only=True) as ro:
        assert main(["run", "--source", "natural", "--results", str(ro / "r"), "--work", str(tmp_path / "w"),
                     *MICRO_ARGS]) == 2
        assert "is not writable" in one_line_error(capsys) and not (tmp_path / "w").exists()
        assert main(["run", "--source", "natural", "--results", str(tmp_path / "r"), "--work", str(ro / "w"),
                     *MICRO_ARGS]) == 2
        assert "is not writable" in one_line_error(capsys) and not (tmp_path / "r").exists()
        assert main(["generate", "--source", "pmg", "-n", "1", "--out", str(ro / "g")]) == 2
        assert "is not writable" in one_line_error(capsys)


def bench_cmd(results: Path, work: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "benchmark", "run", "--source", "natural", "--results", str(results), "--work",
            str(work), *MICRO_ARGS, *[x for item in extra for x in ("--set", item)]]


def run_and_kill(cmd: list[str], after: float) -> None:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    time.sleep(after)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.mark.slow
def test_kill_9_at_random_moments_then_rerun(tmp_path):
    """Killed anywhere (during a stage, while a checkpoint or the record is written), a rerun ends with the
    uninterrupted run's metrics, one record, and no temporary file anywhere."""
    import numpy as np
    longer = ["pretrain.epochs=8"]
    reference = tmp_path / "ref"
    assert subprocess.run(bench_cmd(reference / "r", reference / "w", *longer), cwd=ROOT,
                          capture_output=True).returncode == 0
    (ref,) = list((reference / "r").rglob("*.json"))
    expected = json.loads(ref.read_text())["metrics"]
    t0 = time.perf_counter()
    subprocess.run(bench_cmd(tmp_path / "t" / "r", tmp_path / "t" / "w", *longer), cwd=ROOT, capture_output=True)
    full = time.perf_counter() - t0
    for k, moment in enumerate(np.random.default_rng(0).uniform(0.1, 1.0, 6) * full):
        results, work = tmp_path / f"k{k}" / "r", tmp_path / f"k{k}" / "w"
        run_and_kill(bench_cmd(results, work, *longer), float(moment))
        done = subprocess.run(bench_cmd(results, work, *longer), cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-1500:]
        recs = list(results.rglob("*.json"))
        assert len(recs) == 1 and json.loads(recs[0].read_text())["metrics"] == expected, (k, moment)
        assert temps(tmp_path / f"k{k}") == []
        for log in work.rglob("log.jsonl"):  # a resumed stage's log goes on without repeating steps
            steps = [json.loads(line)["step"] for line in log.read_text().splitlines()]
            assert steps == sorted(set(steps)), log
