"""How the encoder starts: from VideoMAE's random initialisation (`scratch`), from a checkpoint file
(`checkpoint`), or by pretraining on a clip source (any name in `benchmark.sources`; the pretrain stage does that).

`bench run --source NAME` takes either kind of name: an init below or a clip source. An init has no clips; it
gives the weights the downstream stages start from (or none) and what the record says about them.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from benchmark.errors import BenchError
from benchmark.registry import Entry, Registry


class Init(ABC):
    kind: ClassVar[str]  # what records call it in source_info.kind: "none" or "checkpoint"

    def __init__(self, params: Any):
        self.params = params

    @abstractmethod
    def key(self) -> str | None:
        """What determines the weights (None: no weights): it names the pretrain stage in records."""

    @abstractmethod
    def weights(self) -> dict | None:
        """The encoder's state dict in the official names, or None for the random init."""

    def info(self) -> dict:
        return {}


@dataclass(frozen=True)
class InitEntry(Entry):
    cls: type[Init] | None = None

    def check(self) -> None:
        super().check()
        if not (isinstance(self.cls, type) and issubclass(self.cls, Init)) or self.cls.kind not in ("none",
                                                                                                   "checkpoint"):
            raise TypeError(f"init {self.name}: needs an Init subclass with kind 'none' or 'checkpoint'")


INITS: Registry[InitEntry] = Registry("source")


def register(name: str, description: str, params: type):
    def decorator(cls: type[Init]) -> type[Init]:
        INITS.add(InitEntry(name, description, params, cls=cls))
        return cls
    return decorator


@dataclass
class NoParams:
    pass


@register("scratch", "No pretraining: finetune from VideoMAE's random initialisation (the lower bound of every "
          "table).", NoParams)
class Scratch(Init):
    kind = "none"

    def key(self) -> None:
        return None

    def weights(self) -> None:
        return None


@dataclass
class CheckpointParams:
    path: str = ""  # official VideoMAE .pth (pretraining or finetuned) or a Hugging Face model folder

    def validate(self, where: str) -> None:
        if not self.path:
            raise BenchError(f"source 'checkpoint' needs a file: add --set {where}.path=/path/to/checkpoint.pth")
        if not Path(self.path).exists():
            raise BenchError(f"{where}.path {self.path} does not exist: give an official VideoMAE .pth or a Hugging "
                             f"Face model folder")


def file_digest(path: Path) -> str:
    """sha256 (16 hex digits) of a file, or of every file of a folder in sorted order."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    h = hashlib.sha256()
    for f in files:
        with f.open("rb") as fh:
            for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


@register("checkpoint", "Pretrained weights from a file instead of pretraining: an official VideoMAE .pth "
          "(MCG-NJU naming) or a Hugging Face VideoMAE folder, loaded strictly. Use it to evaluate the official "
          "natural-video checkpoints (--set source.path=...).", CheckpointParams)
class CheckpointFile(Init):
    kind = "checkpoint"

    def __init__(self, params: CheckpointParams):
        super().__init__(params)
        self.digest = file_digest(Path(params.path))

    def key(self) -> str:
        return "file-" + self.digest

    @cache  # noqa: B019 (one init per run: read the file once, for the check before work and for the run)
    def weights(self) -> dict:
        from benchmark.models.checkpoints import read_checkpoint
        return read_checkpoint(self.params.path)

    def info(self) -> dict:
        return {"checkpoint": str(self.params.path), "sha256_16": self.digest}


def source_entry(name: str):
    """The init or the clip source called `name` (or one of its aliases)."""
    from benchmark.sources.base import CLIP_SOURCES
    if name in INITS:
        return INITS.get(name)
    if name in CLIP_SOURCES:
        return CLIP_SOURCES.get(name)
    import difflib
    names = INITS.names() + CLIP_SOURCES.names()
    close = difflib.get_close_matches(name, names + [a for e in CLIP_SOURCES for a in e.aliases], n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise BenchError(f"unknown source {name!r}: {hint}choose one of {', '.join(names)} (list them with "
                     f"`bench sources`)")
