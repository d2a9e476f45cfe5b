"""Downstream task registry. `make_task(name, params)` builds a Task; `bench tasks` lists them."""

from __future__ import annotations

from typing import Any

from benchmark.config import build
from benchmark.registry import Registry
from benchmark.tasks.base import Task, VideoSplit

TASKS = Registry("task")


def make_task(name: str, params: Any) -> Task:
    return TASKS.get(name).factory(params)


def task_params(name: str, raw: dict) -> Any:
    entry = TASKS.get(name)
    return build(entry.params, raw, "task")


from benchmark.tasks import embedded, files  # noqa: E402,F401  (registers, in listing order)

__all__ = ["TASKS", "Task", "VideoSplit", "make_task", "task_params"]
