"""Sweeps: specs as data, grid expansion, a cell is exactly one `bench run`, launching again runs nothing, failures
are kept and do not stop the others, status per cell; local processes (submitit) and a real Slurm (job array,
`scontrol requeue` mid-run, resumed with identical metrics)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from benchmark import sweep as S
from benchmark.cli import main
from benchmark.errors import BenchError
from benchmark.report.paper import load_paper
from benchmark.sources.base import CLIP_SOURCES
from tests.conftest import MICRO

SHIPPED = S.sweep_names()


def micro_spec(folder: Path, name: str = "micro", seeds=(0,), sources=None, extra: dict | None = None,
               **top) -> Path:
    """A sweep of micro-scale cells (seconds each): MICRO's overrides as the spec's `set`."""
    sets = {}
    for item in MICRO:
        key, value = item.split("=", 1)
        sets[key.replace("task.", "tasks.embedded.", 1) if key.startswith("task.") else key] = yaml.safe_load(value)
    sets.update(extra or {})
    data = {"description": "micro cells", "protocol": "smoke", "seeds": list(seeds),
            "sources": sources or {"scratch": None, "pmg": {"params": {"size": 64}}}, "set": sets, **top}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def cli(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


# ---------------------------------------------------------------------------------------------------------------
# specs and grids


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_spec_loads_and_expands(name):
    spec = S.load_spec(name)
    grid = S.expand(spec)
    assert len(grid.cells) == len(spec.runs or [None]) * len(spec.sources) * len(spec.seeds)
    assert len({c.id for c in grid.cells}) == len(grid.cells)
    for ref in spec.reproduces:
        paper, table = ref.split("/")
        assert table in {t.id for t in load_paper(paper).tables}


def test_the_issue_names_are_shipped():
    assert {"smoke-progression", "yu2024-table1", "yu2024-ucf101p", "ishikawa2024-table2", "ishikawa2024-table4",
            "ishikawa2024-lowdata"} <= set(SHIPPED)


def test_smoke_progression_is_scratch_natural_and_every_clip_source_with_three_seeds():
    spec = S.load_spec("smoke-progression")
    sources = {(v.source if v and v.source else k) for k, v in spec.sources.items()}
    assert sources == {"scratch"} | set(CLIP_SOURCES.names())  # a new clip source must join the leaderboard
    assert spec.seeds == [0, 1, 2] and spec.protocol == "smoke"


def test_a_cell_is_exactly_one_bench_run():
    from benchmark.run import resolve
    spec = S.load_spec("ishikawa2024-table2")
    cell = next(c for c in S.expand(spec).cells if c.variant == "zoom" and c.task == "hmdb51")
    run = resolve("ishikawa2024-hmdb51", "pmg", "hmdb51", 0, ["source.transforms=[zoom]", "source.video_mix=none"])
    assert cell.config_hash == run.config_hash()
    assert cell.record_path(Path("R")) == Path("R/ishikawa2024-hmdb51/hmdb51") / f"pmg-s0-{run.config_hash()}.json"
    assert "--source pmg" in cell.command() and "--task hmdb51" in cell.command()


def test_a_child_spec_replaces_the_grid_and_inherits_the_rest(tmp_path):
    (tmp_path / "child.yaml").write_text("base: ishikawa2024-table2\nsources: {zoom: {source: pmg, params: "
                                         "{transforms: [zoom], video_mix: none}}}\nseeds: [0, 1]\n")
    spec = S.load_spec(str(tmp_path / "child.yaml"))
    assert list(spec.sources) == ["zoom"] and spec.seeds == [0, 1] and spec.slurm.gpus_per_node == 8
    assert len(S.expand(spec).cells) == 2 * 2


@pytest.mark.parametrize("yaml_text,message", [
    ("sources: {pmg: }\nbogus: 1\n", "unknown key bogus"),
    ("sources: {pmg: }\nseeds: [a]\n", "key seeds[0] must be an integer"),
    ("sources: {pmg: }\nseeds: []\n", "seeds is empty"),
    ("sources: {pmg: }\nseeds: [1, 1]\n", "distinct"),
    ("sources: {}\n", "sources is empty"),
    ("sources: {pmg: {sauce: 1}}\n", "unknown key sources.pmg.sauce"),
    ("sources: {x: {source: nosuch}}\n", "variant x"),
    ("sources: {pmg: {params: {transforms: [spin]}}}\n", "variant pmg"),
    ("sources: {pmg: }\nset: {pretrain.epochz: 1}\n", "pretrain.epochz"),
    ("sources: {pmg: }\nreproduces: [yu2024/99]\n", "no table 99"),
    ("sources: {pmg: }\nreproduces: [yu2024]\n", "paper/table"),
    ("sources: {pmg: }\nslurm: {nodes: 0}\n", "slurm.nodes must be > 0"),
    ("sources: {'a b': }\n", "may hold only"),
    ("base: bad.yaml\nsources: {pmg: }\n", "inherits from itself"),
])
def test_spec_errors_are_one_line_with_exit_code_2(tmp_path, capsys, yaml_text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    code, out, err = cli(capsys, "sweep", path, "--dry-run")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and out == ""


def test_unknown_spec_and_status_without_spec(capsys):
    code, _, err = cli(capsys, "sweep", "nosuch")
    assert code == 2 and "unknown sweep 'nosuch'" in err and "smoke-progression" in err
    code, _, err = cli(capsys, "sweep", "status")
    assert code == 2 and "bench sweep status SPEC" in err


def test_dry_run_lists_every_cell_with_its_cost_and_counts_a_shared_pretraining_once(tmp_path, capsys):
    path = micro_spec(tmp_path, runs=[{"name": "a"}, {"name": "b", "set": {"finetune.epochs": 1}}])
    code, out, _ = cli(capsys, "sweep", path, "--dry-run", "--format", "json", "--work", tmp_path / "w",
                       "--results", tmp_path / "r")
    rows = json.loads(out)
    assert code == 0 and [r["cell"] for r in rows] == ["a.scratch.s0", "a.pmg.s0", "b.scratch.s0", "b.pmg.s0"]
    by = {r["cell"]: r for r in rows}
    assert by["a.pmg.s0"]["steps"] == 6 + 8 and by["b.pmg.s0"]["steps"] == 4  # pretraining counted in a
    assert by["b.pmg.s0"]["shared"] == "pretrain" and by["a.pmg.s0"]["shared"] == ""
    assert by["a.scratch.s0"]["steps"] == 8 and all(r["state"] == "not started" for r in rows)
    flops = {c.cell.id: c.gflops for c in S.estimate(S.expand(S.load_spec(str(path))))}
    assert flops["a.pmg.s0"] > flops["a.scratch.s0"] > flops["b.scratch.s0"] > 0
    assert not (tmp_path / "w").exists() and not (tmp_path / "r").exists()  # a dry run writes nothing


def test_paper_scale_dry_run_states_the_assumed_throughput(capsys):
    code, out, _ = cli(capsys, "sweep", "yu2024-table1", "--dry-run", "--tflops", "50")
    assert code == 0 and "30 cells" in out and "assumed 50 TFLOP/s per GPU" in out
    assert "published split 1" in out
    lines = [line for line in out.splitlines() if line.startswith("| hmdb51-ft.")]
    assert len(lines) == 10  # each source's pretraining is counted once, in its UCF101 cell
    assert all(line.rstrip(" |").endswith("pretrain") != ("scratch" in line) for line in lines)


def test_paper_names_the_spec_and_its_missing_cells(tmp_path, capsys):
    code, out, _ = cli(capsys, "paper", "ishikawa2024", "--table", "4", "--results", tmp_path)
    assert code == 0 and "filled by `bench sweep ishikawa2024-table4`: 0 of 6 cells done" in out
    assert "missing ucf101: every cell" in out
    code, out, _ = cli(capsys, "paper", "ishikawa2024", "--table", "5", "--results", tmp_path)
    assert "no sweep spec fills it" in out


# ---------------------------------------------------------------------------------------------------------------
# launching inline: one run per cell, nothing twice, failures kept


def test_inline_sweep_writes_the_records_of_bench_run_and_a_second_launch_runs_nothing(tmp_path, capsys):
    path = micro_spec(tmp_path, sources={"scratch": None})
    r, w = tmp_path / "r", tmp_path / "w"
    code, out, _ = cli(capsys, "sweep", path, "--executor", "inline", "--results", r, "--work", w)
    assert code == 0 and "1 to launch" in out and "1 cells: 1 done" in out
    (cell,) = S.expand(S.load_spec(str(path))).cells
    record = json.loads(cell.record_path(r).read_text())
    assert record["config_hash"] == cell.config_hash and record["metrics"]["top1"] is not None
    mtime = cell.record_path(r).stat().st_mtime_ns
    code, out, _ = cli(capsys, "sweep", path, "--executor", "inline", "--results", r, "--work", w)
    assert code == 0 and "1 done, 0 running or queued, 0 to launch" in out
    assert cell.record_path(r).stat().st_mtime_ns == mtime
    code, out, _ = cli(capsys, "sweep", "status", path, "--results", r, "--work", w)
    assert code == 0 and out.splitlines()[0].startswith("done") and "top-1" in out


def test_a_failing_cell_is_kept_does_not_stop_the_others_and_fails_the_sweep(tmp_path, capsys, monkeypatch):
    import benchmark.run as run_module
    real = run_module.execute

    def execute(spec, results, work):
        if spec.source == "scratch":
            raise BenchError("scratch cannot today (a test)")
        return real(spec, results, work)

    monkeypatch.setattr(run_module, "execute", execute)
    path = micro_spec(tmp_path)
    r, w = tmp_path / "r", tmp_path / "w"
    code, out, _ = cli(capsys, "sweep", path, "--executor", "inline", "--results", r, "--work", w)
    assert code == 1 and "failed   smoke.embedded.scratch.s0: scratch cannot today" in out
    assert "2 cells: 1 done, 1 failed" in out
    code, out, _ = cli(capsys, "sweep", "status", path, "--results", r, "--work", w, "--format", "json")
    cells = {c["variant"]: c for c in json.loads(out)["cells"]}
    assert cells["scratch"]["state"] == "failed" and cells["scratch"]["error"] == "scratch cannot today (a test)"
    assert cells["pmg"]["state"] == "done" and cells["pmg"]["top1"] is not None
    monkeypatch.setattr(run_module, "execute", real)  # fixed: launching again runs the failed cell only
    code, out, _ = cli(capsys, "sweep", path, "--executor", "inline", "--results", r, "--work", w)
    assert code == 0 and "1 done, 0 running or queued, 1 to launch" in out and "2 cells: 2 done" in out


def test_status_tells_running_queued_and_stopped_cells_apart(tmp_path, capsys):
    path = micro_spec(tmp_path, seeds=(0, 1))
    spec = S.load_spec(str(path))
    grid = S.expand(spec)
    w = tmp_path / "w"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    a, b, c, _ = grid.cells
    S.write_state(w, a, "running", executor="local", host=socket.gethostname(), pid=os.getpid())
    S.write_state(w, b, "running", executor="local", host=socket.gethostname(), pid=dead.pid)
    S.write_state(w, c, "queued", executor="local", host=socket.gethostname(), launcher=os.getpid())
    run = grid.runs[a.id]
    from benchmark.stages.base import cache_hash
    log = w / "finetune" / cache_hash(run.keys["finetune"], run.seed) / "log.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text(json.dumps({"step": 4, "of": 8, "loss": 2.0}) + "\n")
    states = [s.state for s in S.status(grid, tmp_path / "r", w)]
    assert states == ["running", "stopped", "queued", "not started"]
    code, out, _ = cli(capsys, "sweep", "status", path, "--results", tmp_path / "r", "--work", w)
    lines = out.splitlines()
    assert "finetune step 4/8" in lines[0] and "launch the sweep again to resume" in lines[1]
    assert lines[-1] == "4 cells: 1 running, 1 queued, 1 stopped, 1 not started"


def test_a_state_file_of_another_configuration_is_ignored(tmp_path):
    path = micro_spec(tmp_path, sources={"scratch": None})
    (cell,) = S.expand(S.load_spec(str(path))).cells
    S.write_state(tmp_path, cell, "failed", error="old")
    other = micro_spec(tmp_path, sources={"scratch": None}, extra={"finetune.epochs": 1})
    (changed,) = S.expand(S.load_spec(str(other))).cells
    assert changed.id == cell.id and changed.config_hash != cell.config_hash
    assert S.read_state(tmp_path, changed) == {} and S.read_state(tmp_path, cell)["error"] == "old"


# ---------------------------------------------------------------------------------------------------------------
# local processes through submitit


def _metrics(cell, results: Path) -> dict:
    return json.loads(cell.record_path(results).read_text())["metrics"]


def test_local_executor_runs_cells_as_processes_at_most_n_at_once(tmp_path, capsys):
    path = micro_spec(tmp_path, seeds=(0,), sources={"scratch": None, "pmg": {"params": {"size": 64}},
                                                     "static-images": {"params": {"size": 64}}})
    r, w = tmp_path / "r", tmp_path / "w"
    code, out, _ = cli(capsys, "sweep", path, "--executor", "local", "--jobs", "2", "--results", r, "--work", w)
    assert code == 0 and "3 cells: 3 done" in out, out
    grid = S.expand(S.load_spec(str(path)))
    states = [S.read_state(w, c) for c in grid.cells]
    assert all(s["state"] == "done" and s["executor"] == "local" for s in states)
    assert len({s["pid"] for s in states}) == 3 and os.getpid() not in {s["pid"] for s in states}
    assert len(list(w.glob("sweeps/*/submitit/*/*_log.err"))) == 3  # one process (and log) per cell


def _wait_for_step(folder: Path, stage: str, step: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for log in folder.glob(f"{stage}/*/log.jsonl"):
            lines = log.read_text().splitlines()
            if lines and json.loads(lines[-1])["step"] >= step and (log.parent / "checkpoint.pt").is_file():
                return
        time.sleep(0.05)
    raise AssertionError(f"{stage} never reached step {step}")


LONG_PRETRAIN = {"pretrain.epochs": 40, "runtime.log_every": 1}  # 120 steps: seconds to interrupt it in


@pytest.mark.slow
def test_a_cell_killed_mid_run_and_launched_again_ends_with_identical_metrics(tmp_path):
    path = micro_spec(tmp_path, sources={"pmg": {"params": {"size": 64}}}, extra=LONG_PRETRAIN)
    (cell,) = S.expand(S.load_spec(str(path))).cells
    S.run_cell(cell, tmp_path / "ref", tmp_path / "ref-work")  # uninterrupted, in this process
    r, w = tmp_path / "r", tmp_path / "w"
    cmd = [sys.executable, "-m", "benchmark", "sweep", str(path), "--executor", "local", "--results", str(r),
           "--work", str(w)]
    launcher = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _wait_for_step(w, "pretrain", 6)
    os.kill(S.read_state(w, cell)["pid"], signal.SIGKILL)
    out, _ = launcher.communicate(timeout=120)
    assert launcher.returncode == 1 and "failed" in out
    assert S.status(S.expand(S.load_spec(str(path))), r, w)[0].state == "failed"
    relaunch = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert relaunch.returncode == 0, relaunch.stdout + relaunch.stderr
    assert _metrics(cell, r) == _metrics(cell, tmp_path / "ref")
    logs = "".join(p.read_text() for p in w.glob("sweeps/**/*_log.err"))
    assert "resuming from" in logs


# ---------------------------------------------------------------------------------------------------------------
# a real Slurm


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    from tests import slurm_cluster
    reason = slurm_cluster.missing()
    if reason:
        pytest.skip(reason)
    try:
        cluster = slurm_cluster.start(tmp_path_factory.mktemp("slurm"))
    except RuntimeError as e:
        pytest.skip(f"Slurm did not start here: {e}")
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(cluster.conf)
    yield cluster
    cluster.stop()
    if old is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = old


def test_a_sweep_on_a_real_slurm_survives_a_requeue_with_identical_metrics(slurm, tmp_path, capsys):
    path = micro_spec(tmp_path, seeds=(0,), sources={"scratch": None, "pmg": {"params": {"size": 64}}},
                      extra=LONG_PRETRAIN, slurm={"cpus_per_task": 1, "time_min": 10})
    grid = S.expand(S.load_spec(str(path)))
    scratch, pmg = grid.cells
    S.run_cell(pmg, tmp_path / "ref", tmp_path / "ref-work")  # the uninterrupted run
    r, w = tmp_path / "r", tmp_path / "w"
    code, out, _ = cli(capsys, "sweep", path, "--executor", "slurm", "--results", r, "--work", w)
    assert code == 0 and "submitted 2 cells as Slurm job array" in out
    job = S.read_state(w, pmg)["job"]
    assert "_" in job and S.read_state(w, pmg)["state"] in ("queued", "running")
    _wait_for_step(w, "pretrain", 6)
    code, out, _ = cli(capsys, "sweep", "status", path, "--results", r, "--work", w)
    assert any(line.startswith("running") and "pretrain step" in line and job in line for line in out.splitlines())
    slurm.run("scontrol", "requeue", job)  # as a preemption or node failure does: the job is killed and queued
    _until(lambda: "PENDING" in slurm.run("squeue", "--noheader", "--format=%T", "--jobs", job), 60)
    code, out, _ = cli(capsys, "sweep", "status", path, "--results", r, "--work", w)
    assert any(line.startswith("queued") and job in line for line in out.splitlines())
    slurm.run("scontrol", "update", f"JobId={job}", "StartTime=now")  # Slurm holds a requeued job for 120 s
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        statuses = S.status(grid, r, w)
        if all(s.state not in ("running", "queued") for s in statuses):
            break
        time.sleep(1)
    code, out, _ = cli(capsys, "sweep", "status", path, "--results", r, "--work", w)
    assert out.splitlines()[-1] == "2 cells: 2 done", out + slurm.log("slurmctld")[-2000:]
    assert _metrics(pmg, r) == _metrics(pmg, tmp_path / "ref")
    record = json.loads(pmg.record_path(r).read_text())
    assert record["pretrain"]["resumed_from_step"] >= 6  # the requeued job went on from its checkpoint
    logs = "".join(p.read_text() for p in w.glob("sweeps/**/*_log.err"))
    assert "resuming from" in logs
    code, out, _ = cli(capsys, "sweep", path, "--executor", "slurm", "--results", r, "--work", w)
    assert code == 0 and "0 to launch" in out and "submitted" not in out
    _until(lambda: slurm.run("squeue", "--noheader").strip() == "", 60)  # the jobs end, no new one came


def _until(ok, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.2)
