"""`bench datasets check`: decode every video of a task and list the unreadable or truncated ones."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

from benchmark.config import section_overrides
from benchmark.data.splits import VideoListSplit
from benchmark.data.video import VideoError, decode, frame_count
from benchmark.errors import BenchError
from benchmark.tasks.base import make_task, task_params


def check_video(path: str) -> str | None:
    """None if every frame the header promises decodes, else what is wrong."""
    try:
        n = frame_count(path)
        got = len(decode(path, short_side=32))
    except VideoError as e:
        return str(e).removeprefix(f"video {path} ")
    if got < n:
        return f"truncated: the header says {n} frames, {got} decode"
    return None


def check_task(name: str, overrides: list[str], workers: int = 2) -> tuple[list[dict], int]:
    task = make_task(name, task_params(name, section_overrides(overrides, "task", "bench datasets check")))
    jobs = []
    for split_name, split in (("train", task.train), ("test", task.test)):
        if not isinstance(split, VideoListSplit):
            raise BenchError(f"task {name} is generated, not read from files: there is nothing to check")
        jobs += [(split_name, str(p)) for p in split.paths]
    with ProcessPoolExecutor(max(1, workers)) as pool:
        results = list(pool.map(check_video, [p for _, p in jobs], chunksize=8))
    problems = [{"split": s, "video": p, "problem": r} for (s, p), r in zip(jobs, results, strict=True) if r]
    return problems, len(jobs)
