"""What a downstream task is, and the registry of them (`bench tasks`).

A task is a class list and two splits of labelled videos (`benchmark.data.splits.VideoSplit`). A task module
registers a factory `make(params) -> Task` with `@register(name, description, params=..., needs=...)`; `needs`
says in one line what the user must provide (data root, split). Factories read split files and class lists but
decode no video; unreadable videos are skipped by runs and counted in their records.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchmark.config import build
from benchmark.data.splits import VideoSplit
from benchmark.errors import BenchError
from benchmark.registry import Entry, Registry


@dataclass
class Task:
    name: str
    classes: list[str]
    train: VideoSplit
    test: VideoSplit
    flip_keeps_label: bool = True  # False where left/right motion defines the class
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "num_classes": self.num_classes, "train_videos": len(self.train),
                "test_videos": len(self.test), **self.info}


@dataclass(frozen=True)
class TaskEntry(Entry):
    factory: Callable[[Any], Task] | None = None
    needs: str = ""  # what the user provides, one line
    sizes: tuple[int, int, int] | None = None  # (classes, train, test) of the official split 1, for cost estimates

    def check(self) -> None:
        super().check()
        if self.params is None or not callable(self.factory) or not self.needs:
            raise TypeError(f"task {self.name}: needs params, a factory and a `needs` line")


TASKS: Registry[TaskEntry] = Registry("task", package="benchmark.tasks", first=("embedded", "files"))


def register(name: str, description: str, params: type, needs: str, sizes: tuple[int, int, int] | None = None):
    def decorator(factory: Callable[[Any], Task]) -> Callable[[Any], Task]:
        TASKS.add(TaskEntry(name, description, params, factory=factory, needs=needs, sizes=sizes), factory.__module__)
        return factory
    return decorator


def task_params(name: str, raw: dict) -> Any:
    return build(TASKS.get(name).params, raw, "task")


def make_task(name: str, params: Any) -> Task:
    task = TASKS.get(name).factory(params)
    for split, videos in (("training", task.train), ("test", task.test)):
        if len(videos) == 0:
            raise BenchError(f"task {name}: its {split} split holds no videos; check the task's files (`bench tasks "
                             f"{name}` says what it reads)")
    return task
