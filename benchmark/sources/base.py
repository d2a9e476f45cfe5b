"""What a clip source is, and the registry of them (`bench sources` lists them with the inits).

A clip source yields uint8 (T, H, W, 3) clips, deterministic for (run seed, index): `clip(index, frames, stride)`
with index any non-negative integer (a virtual epoch of N clips uses N new indices). `info()` is what the result
record says about the data (pools, stand-ins, counts); `skipped` names the unreadable inputs (videos, images) the
source replaced by other draws, which the record lists.

A source module registers a subclass of `ClipSource` with `@register(name, description, params=...)`; the
class is built as `cls(params, seed=..., clip_size=...)`. Registration checks the contract's shape (methods and
their arguments, parameters that build with their defaults); `tests/test_contracts.py` runs every registered
source. Source modules import numpy and the project's light modules at the top and heavier libraries (OpenCV,
torch, PyAV) inside the functions that use them, so listing the sources stays fast.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmark.config import build
from benchmark.registry import Entry, Registry


class ClipSource(ABC):
    """A source of pretraining clips (see the module docstring)."""

    skipped: frozenset[str] | set[str] = frozenset()  # sources that read files set their own set

    @abstractmethod
    def clip(self, index: int, frames: int, stride: int) -> np.ndarray:
        """uint8 (frames, H, W, 3), the same for the same (seed, index, frames, stride)."""

    @abstractmethod
    def info(self) -> dict[str, Any]:
        """What the result record says about the data."""


@dataclass(frozen=True)
class ClipSourceEntry(Entry):
    cls: type[ClipSource] | None = None
    factory: Callable[..., ClipSource] | None = None  # default: cls itself
    level: int | None = None  # Yu et al.'s progression level, if the source is one

    def check(self) -> None:
        super().check()
        if self.params is None:
            raise TypeError(f"clip source {self.name}: needs a params dataclass")
        if not (inspect.isclass(self.cls) and issubclass(self.cls, ClipSource)) or inspect.isabstract(self.cls):
            raise TypeError(f"clip source {self.name}: {self.cls!r} must be a concrete subclass of ClipSource")
        args = list(inspect.signature(self.cls.clip).parameters)
        if args[1:4] != ["index", "frames", "stride"]:
            raise TypeError(f"clip source {self.name}: clip() must take (index, frames, stride), takes {args[1:]}")

    def make(self, params: Any, seed: int, clip_size: int) -> ClipSource:
        return (self.factory or self.cls)(params, seed=seed, clip_size=clip_size)


CLIP_SOURCES: Registry[ClipSourceEntry] = Registry(
    "source", package="benchmark.sources", first=("natural", "synthetic", "pmg", "static", "mixture"))


def register(name: str, description: str, params: type, aliases: tuple[str, ...] = (), **fields: Any):
    """Class decorator: register a ClipSource subclass under `name`."""
    def decorator(cls: type[ClipSource]) -> type[ClipSource]:
        CLIP_SOURCES.add(ClipSourceEntry(name, description, params, tuple(aliases), cls=cls, **fields), cls.__module__)
        return cls
    return decorator


def source_params(name: str, raw: dict) -> Any:
    return build(CLIP_SOURCES.get(name).params, raw, "source")


def make_source(name: str, params: Any, seed: int, clip_size: int) -> ClipSource:
    """Build a source; `clip_size` is the protocol's crop side, for sources that decode or render at a matching
    scale (0: unknown, the source's native size)."""
    return CLIP_SOURCES.get(name).make(params, seed, clip_size)
