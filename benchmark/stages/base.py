"""What a stage is, and the registry of them.

A run is the sequence of the registered stages that its protocol enables, in dependency order. A stage declares:

- `name`: its registry name, its folder under --work and (for stages with their own section) its protocol
  section;
- `Config`: the dataclass of its own protocol section, or None when it reads only the core sections;
- `needs`: the stages whose outputs it reads;
- `key(spec)`: the slice of the resolved configuration that determines its result, without the seed and without
  the stages it needs. `identity` turns it, the needed stages' identities and the seed into the stage's hash (its
  cache folder), its `config.json` and its part of the record's experiment;
- `run(ctx)`: the work, returning a JSON-able result (weights it makes go to `ctx.workdir`);
- `fill(record, output, spec)`: the record fields it fills;
- `metrics()` / `tables(groups)` / `plots()`: the columns it adds to the main table, its own tables and plots;
- `example`: the `--set` overrides that switch it on at the smallest scale (the contract tests run them);
- `cost(spec, size)`: its optimizer steps and floating-point operations, for `bench sweep --dry-run`.

A new evaluation is one module in this package (plus a protocol section in the YAML that uses it); the registry
imports it, `execute` runs it, tables, plots and the leaderboard show it, and `tests/test_contracts.py` runs it.
Stage modules import only light modules at the top (torch inside `run`), so listings stay fast.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from benchmark.config import apply_overrides, build_protocol, load_raw, stable_hash, to_dict
from benchmark.registry import Entry, Registry
from benchmark.runtime import Dist, atomic_write_json

# Bump when a change to generators, training or evaluation code makes cached stage results wrong.
CACHE_VERSION = 3  # 3: VideoMAE-faithful warmup, init, RandAugment order and random erasing (issue 10)


@dataclass(frozen=True)
class Metric:
    """A number a stage puts in every record, shown as a column of the main table (mean over seeds)."""

    key: str  # dotted path under record.metrics, e.g. "knn.top1"
    header: str
    primary: bool = False  # the stage's headline number (tables, plots, the regression check)


@dataclass(frozen=True)
class Size:
    """What a cost estimate needs: forward GMACs per pretraining clip (visible tokens in the encoder, all in the
    decoder) and per view of the classifier, and the task's class and video counts."""

    pretrain_gmacs: float
    view_gmacs: float
    classes: int
    train: int
    test: int

    def train_flops(self, samples: float, gmacs: float) -> float:
        """GFLOPs of forward and backward passes: 2 FLOPs per MAC, backward twice the forward."""
        return 6 * gmacs * samples

    def forward_flops(self, samples: float, gmacs: float | None = None) -> float:
        return 2 * (self.view_gmacs if gmacs is None else gmacs) * samples


@dataclass(frozen=True)
class Cost:
    steps: int = 0  # optimizer steps
    gflops: float = 0.0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.steps + other.steps, self.gflops + other.gflops)


@dataclass
class Output:
    """A finished stage: its result, where it lives and whether it was reused."""

    result: dict[str, Any]
    hash: str | None
    workdir: Path | None
    cached: bool = False
    seconds: float = 0.0


@dataclass
class Context:
    """What a stage's `run` sees."""

    spec: Any  # benchmark.run.RunSpec
    dist: Dist
    work: Path
    workdir: Path | None
    inputs: dict[str, Output]
    task: Any = None  # the downstream Task, built once per run
    identity: dict[str, Any] = field(default_factory=dict)  # this stage's config.json


class Stage(ABC):
    name: ClassVar[str]
    Config: ClassVar[type | None] = None
    needs: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""
    table_kinds: ClassVar[tuple[str, ...]] = ()  # the kinds `tables` can return
    example: ClassVar[tuple[str, ...]] = ()  # --set overrides that switch the stage on at the smallest scale

    def enabled(self, spec) -> bool:
        return True

    def validate(self, spec) -> None:  # noqa: B027 (most stages check nothing beyond the schema)
        """Every check that can run before any stage starts (raise BenchError)."""

    @abstractmethod
    def key(self, spec) -> dict[str, Any] | None:
        """What determines the result, without the seed and the needed stages (None: there is no result, e.g.
        no pretraining for scratch)."""

    def cache(self, spec) -> bool:
        """Whether the result is kept in a work folder (False for stages that do no work worth keeping)."""
        return True

    @abstractmethod
    def run(self, ctx: Context) -> dict[str, Any]:
        """Do the work; the result must be JSON-able."""

    def fill(self, record, output: Output, spec) -> None:
        """Write this stage's part of the record (default: metrics[name] = the result)."""
        record.metrics[self.name] = output.result

    def metrics(self) -> list[Metric]:
        return []

    def tables(self, groups: list, severity: int | None = None) -> dict[str, Any]:
        """This stage's own tables over groups of records (kind -> benchmark.render.Table, only kinds with
        data), for `bench table --kind` and the leaderboard."""
        return {}

    def plots(self) -> dict[str, Callable]:
        """Plot kinds -> plot(ax, groups by source, title, severity) -> drew anything, for `bench plot` and the
        leaderboard."""
        return {}

    def cost(self, spec, size: Size) -> Cost:
        """Optimizer steps and GFLOPs of the stage (default: none worth counting)."""
        return Cost()

    def section(self, spec):
        return getattr(spec.protocol, self.name)


@dataclass(frozen=True)
class StageEntry(Entry):
    stage: Stage | None = None

    def check(self) -> None:
        super().check()
        s = self.stage
        if not isinstance(s, Stage) or s.name != self.name:
            raise TypeError(f"stage {self.name}: register a Stage instance whose name is {self.name!r}")
        if s.Config is not None and not dataclasses.is_dataclass(s.Config):
            raise TypeError(f"stage {self.name}: Config must be a dataclass")


STAGES: Registry[StageEntry] = Registry(
    "stage", package="benchmark.stages", first=("pretrain", "finetune", "evaluate", "lowdata"))


def register(cls: type[Stage]) -> type[Stage]:
    """Class decorator: register one instance of a Stage subclass."""
    stage = cls()
    STAGES.add(StageEntry(cls.name, cls.description or (cls.__doc__ or "").strip().split("\n")[0], cls.Config,
                          stage=stage), cls.__module__)
    return cls


def stages() -> list[Stage]:
    """Every registered stage, needed ones before the stages that need them (registration order otherwise)."""
    out: list[Stage] = []
    pending = [e.stage for e in STAGES]
    while pending:
        ready = [s for s in pending if all(n in {o.name for o in out} for n in s.needs)]
        if not ready:
            raise TypeError(f"stages {[s.name for s in pending]} need stages that are not registered")
        out.append(ready[0])
        pending.remove(ready[0])
    return out


def sections() -> dict[str, type]:
    """Protocol sections declared by stages: section name -> dataclass."""
    return {s.name: s.Config for s in stages() if s.Config is not None}


def load_protocol(name: str, overrides: list[str] = ()):
    """A protocol by name or YAML path, with `--set` overrides, validated against the whole schema."""
    return build_protocol(apply_overrides(load_raw(name), list(overrides)), sections())


# ---------------------------------------------------------------------------------------------------------------
# identity and caching


def identity(stage: Stage, spec, upstream: dict[str, str]) -> dict[str, Any] | None:
    """The stage's experiment key: its config slice and the experiment keys of the stages it needs (no seed)."""
    key = stage.key(spec)
    if key is None:
        return None
    return {"stage": stage.name, "v": CACHE_VERSION, "config": to_dict(key),
            "after": {n: upstream[n] for n in stage.needs if upstream.get(n) is not None}}


def experiment_hash(key: dict[str, Any] | None) -> str | None:
    return None if key is None else stable_hash(key)


def cache_hash(key: dict[str, Any], seed: int) -> str:
    return stable_hash({**key, "seed": seed})


@contextmanager
def stage_lock(workdir: Path, enabled: bool) -> Iterator[None]:
    """Exclusive lock on a stage folder, so two runs never compute the same stage at once."""
    if not enabled:
        yield
        return
    with (workdir / ".lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def cached(workdir: Path, key: dict[str, Any], dist: Dist, compute: Callable[[], dict]) -> tuple[dict, bool]:
    """compute() unless workdir already holds its result (result.json); returns (result, reused)."""
    workdir.mkdir(parents=True, exist_ok=True)
    result_path = workdir / "result.json"
    with stage_lock(workdir, dist.is_main):
        done = dist.broadcast(result_path.is_file())
        if done:
            return json.loads(result_path.read_text()), True
        if dist.is_main:
            atomic_write_json(workdir / "config.json", to_dict(key))
        result = compute()
        if dist.is_main:
            atomic_write_json(result_path, result)
            (workdir / "checkpoint.pt").unlink(missing_ok=True)
        dist.barrier()
    return result, False
