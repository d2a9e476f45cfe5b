"""Launching a sweep's cells: inline, as local processes or as one Slurm job array, all through submitit.

`CellJob` is what submitit pickles and runs: one cell (`benchmark.sweep.run_cell`), with the ranks of a multi-task
job exported for torch.distributed (NCCL on GPUs, gloo on CPUs, as `bench run` under torchrun). It is
Checkpointable: on a timeout or preemption signal (USR2, `slurm.signal_delay_s` before the limit) submitit requeues
it, and the requeued job runs the same cell, which resumes from its stage checkpoints (the cell itself holds no
state). A job that Slurm requeues by itself (`scontrol requeue`, a node failure) runs the same pickled cell again,
with the same effect.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import submitit

from benchmark.errors import BenchError
from benchmark.sweep import Cell, Grid, SlurmConfig, one_line, read_state, run_cell, sweep_dir, write_state

EXECUTORS = ("local", "slurm", "inline")


class CellJob(submitit.helpers.Checkpointable):
    def __init__(self, cell: Cell, results: Path, work: Path, executor: str) -> None:
        self.cell, self.results, self.work, self.executor = cell, Path(results), Path(work), executor

    def __call__(self) -> dict:
        env = submitit.JobEnvironment()
        if env.num_tasks > 1:  # ranks for torch.distributed: MASTER_ADDR/PORT, RANK, WORLD_SIZE, LOCAL_RANK
            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        os.environ.setdefault("PYTHONUNBUFFERED", "1")
        return run_cell(self.cell, self.results, self.work, self.executor, job=env.job_id,
                        log=str(env.paths.stderr))


def _log_folder(grid: Grid, work: Path) -> Path:
    return sweep_dir(work, grid.spec) / "submitit"


def slurm_executor(grid: Grid, work: Path, slurm: SlurmConfig):
    """submitit's Slurm executor with the spec's resources (after command-line overrides)."""
    executor = submitit.AutoExecutor(folder=_log_folder(grid, work) / "%j", cluster="slurm",
                                     slurm_max_num_timeout=slurm.max_requeues)
    params = {"slurm_partition": slurm.partition, "slurm_account": slurm.account, "slurm_qos": slurm.qos,
              "slurm_mem_gb": slurm.mem_gb}
    executor.update_parameters(
        name=f"bench-{Path(grid.spec.name).stem}", nodes=slurm.nodes, tasks_per_node=slurm.tasks,
        gpus_per_node=slurm.gpus_per_node or None, cpus_per_task=slurm.cpus_per_task, timeout_min=slurm.time_min,
        slurm_array_parallelism=slurm.array_parallelism, slurm_signal_delay_s=slurm.signal_delay_s,
        slurm_setup=list(slurm.setup), slurm_additional_parameters=dict(slurm.additional),
        **{k: v for k, v in params.items() if v is not None})
    return executor


def launch_slurm(grid: Grid, cells: list[Cell], results: Path, work: Path, slurm: SlurmConfig) -> list[str]:
    """Submit the cells as one job array; returns the job ids (each cell's state file names its job)."""
    executor = slurm_executor(grid, work, slurm)
    try:
        with executor.batch():
            jobs = [executor.submit(CellJob(c, results, work, "slurm")) for c in cells]
    except (submitit.core.utils.FailedJobError, OSError, RuntimeError) as e:
        raise BenchError(f"sbatch refused the sweep's job array: {one_line(e)}; check the partition, account "
                         f"and resources (bench sweep --help lists the flags)") from None
    for cell, job in zip(cells, jobs, strict=True):
        write_state(work, cell, "queued", executor="slurm", job=job.job_id, log=str(job.paths.stderr))
    return [j.job_id for j in jobs]


def launch_local(grid: Grid, cells: list[Cell], results: Path, work: Path, jobs: int, timeout_min: int,
                 poll_s: float = 0.5, report=print) -> list[Cell]:
    """Cells as separate processes through submitit's local executor, at most `jobs` at once; waits for all and
    returns those that failed."""
    executor = submitit.AutoExecutor(folder=_log_folder(grid, work) / "%j", cluster="local")
    executor.update_parameters(timeout_min=timeout_min, tasks_per_node=1)
    for cell in cells:
        write_state(work, cell, "queued", executor="local", launcher=os.getpid())
    pending, active, failed = list(cells), {}, []
    try:
        while pending or active:
            while pending and len(active) < jobs:
                cell = pending.pop(0)
                active[cell.id] = (cell, executor.submit(CellJob(cell, results, work, "local")))
            time.sleep(poll_s)
            for key, (cell, job) in list(active.items()):
                if not job.done():
                    continue
                del active[key]
                state = read_state(work, cell)
                if state.get("state") == "done":
                    report(f"done     {cell.id}: top-1 {state.get('top1')}")
                    continue
                if state.get("state") != "failed":  # died without saying why (killed, out of memory)
                    write_state(work, cell, "failed", executor="local", job=job.job_id, log=str(job.paths.stderr),
                                error=f"the process ended without finishing (job state {job.state})")
                failed.append(cell)
                report(f"failed   {cell.id}: {read_state(work, cell).get('error')} (log: {job.paths.stderr})")
    except KeyboardInterrupt:
        for _cell, job in active.values():
            job.cancel(check=False)
        raise
    return failed


def launch_inline(cells: list[Cell], results: Path, work: Path, report=print) -> list[Cell]:
    """Cells one after another in this process (for debugging); a failing cell does not stop the others."""
    failed = []
    for cell in cells:
        report(f"running  {cell.id}")
        try:
            out = run_cell(cell, results, work, "inline")
            report(f"done     {cell.id}: top-1 {out.get('top1')}")
        except Exception as e:  # kept in the cell's state; the sweep goes on
            failed.append(cell)
            report(f"failed   {cell.id}: {one_line(e)}")
    return failed


def slurm_overrides(slurm: SlurmConfig, **flags) -> SlurmConfig:
    """The spec's Slurm section with the command line's flags (those given) on top."""
    given = {k: v for k, v in flags.items() if v is not None}
    extra = given.pop("additional", None)
    out = replace(slurm, **given)
    if extra:
        out = replace(out, additional={**slurm.additional, **extra})
    return out


def stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
