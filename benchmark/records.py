"""Result records: one JSON file per evaluated run, written atomically, read back as typed `Record`s.

Layout: <results>/<protocol>/<task>/<source>-s<seed>-<config hash>.json. The name is derived from what the run
is, so running the same experiment and seed again replaces its record instead of adding a second one. Readers
select by the fields inside a record, never by its path, and skip (and count) files that are not records, so a
store can be copied, merged and hand-organised freely. Records of older schema versions are upgraded on read.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 2  # 2: `experiment` and `stages`; file name from the config hash; probes in metrics


@dataclass
class Record:
    protocol: str
    source: str
    task: str
    seed: int
    config_hash: str  # what the run is: the experiment and the seed
    experiment: str  # what the run is without its seed: repeats of one experiment share it (and pool over seeds)
    metrics: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION
    run_id: str = ""
    created: str = ""
    pretrain_hash: str | None = None
    finetune_hash: str | None = None
    source_info: dict[str, Any] = field(default_factory=dict)
    task_info: dict[str, Any] = field(default_factory=dict)
    skipped_videos: dict[str, list[str]] = field(default_factory=dict)
    pretrain: dict[str, Any] | None = None
    finetune: dict[str, Any] | None = None
    evaluate: dict[str, Any] | None = None
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)  # per stage: hash, cached, seconds
    timings: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    path: Path | None = field(default=None, compare=False)  # where it was read from (not stored)

    @property
    def variant(self) -> str:
        """The experiment's short name in tables."""
        return self.experiment[:8]

    def metric(self, dotted: str) -> Any:
        """metrics["a"]["b"] for "a.b" (None where absent)."""
        node: Any = self.metrics
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return node

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "path"}

    @classmethod
    def from_json(cls, data: dict[str, Any], path: Path | None = None) -> Record:
        data = upgrade(dict(data))
        names = {f.name for f in dataclasses.fields(cls)} - {"path"}
        return cls(**{k: v for k, v in data.items() if k in names}, path=path)


@dataclass
class Group:
    """Repeats of one experiment (same protocol, task, source and experiment), the unit tables pool over seeds."""

    protocol: str
    task: str
    source: str
    variant: str
    records: list[Record]

    @property
    def seeds(self) -> list[int]:
        return sorted({r.seed for r in self.records})

    def values(self, dotted: str) -> list:
        """The metric `dotted` of every record that has it."""
        return [v for v in (r.metric(dotted) for r in self.records) if v is not None]


def unique(records: list[Record]) -> tuple[list[Record], list[Record]]:
    """One record per (protocol, task, source, experiment, seed), the latest (by `created`, then path): (kept,
    ignored). A copied record, or a run repeated into another file name, must not count as another seed."""
    latest: dict[tuple, Record] = {}
    for r in sorted(records, key=lambda r: (r.created, str(r.path))):
        latest[(r.protocol, r.task, r.source, r.experiment, r.seed)] = r
    kept = set(map(id, latest.values()))
    return [r for r in records if id(r) in kept], [r for r in records if id(r) not in kept]


def new_run_id(config_hash: str) -> str:
    now = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{now}-{config_hash[:8]}-{uuid.uuid4().hex[:6]}"


def record_file(results: Path, protocol: str, task: str, source: str, seed: int, config_hash: str) -> Path:
    return results / Path(protocol).stem / task / f"{source}-s{seed}-{config_hash}.json"


def record_path(results: Path, record: Record) -> Path:
    return record_file(results, record.protocol, record.task, record.source, record.seed, record.config_hash)


def write_record(results: Path, record: Record, rescue: tuple[Path, ...] = ()) -> Path:
    """The one writer of records: atomically, at the path the run's identity names. If that fails (a full disk, a
    folder turned read-only), the record goes to the first of `rescue` folders (then the system's temporary
    folder) that takes it, and the one-line error says where it is, so a finished run is never lost."""
    import tempfile

    from benchmark.errors import BenchError
    from benchmark.runtime import atomic_write_text, remove_stale_temps
    path = record_path(results, record)
    text = json.dumps(record.to_json(), indent=1, allow_nan=False) + "\n"
    if path.parent.is_dir():
        remove_stale_temps(path.parent)  # what a killed writer left
    try:
        return atomic_write_text(path, text)
    except BenchError as e:
        for folder in (*rescue, Path(tempfile.gettempdir())):
            try:
                kept = atomic_write_text(Path(folder) / "unsaved-records" / path.name, text)
            except BenchError:
                continue
            raise BenchError(f"{e}; the finished run's record is kept at {kept}: move it to {path}") from None
        raise BenchError(f"{e}; the record could not be kept anywhere either (its metrics: "
                         f"{json.dumps(record.metrics)})") from None


def _old_variant(config: dict) -> str:
    """What schema 0-1 records called their variant: the config minus seed, runtime, name and description."""
    from benchmark.config import stable_hash
    return stable_hash({k: v for k, v in config.items() if k not in ("seed", "runtime", "name", "description")})


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """Fill what records of older schema versions lack, so every reader sees the current shape."""
    version = data.setdefault("schema_version", 0)
    config = data.setdefault("config", {})
    data.setdefault("seed", config.get("seed", 0))
    data.setdefault("protocol", config.get("name", "unknown"))
    data.setdefault("task", (config.get("task") or {}).get("name", "unknown"))
    data.setdefault("created", "")
    data.setdefault("config_hash", "")
    metrics = data.setdefault("metrics", {})
    metrics.setdefault("top5", None)
    if version < 2:
        data.setdefault("experiment", _old_variant(config) if config else data["config_hash"])
        if (config.get("finetune") or {}).get("mode") == "linear":  # schema 1's linear probe: the finetune stage
            metrics.setdefault("linear_probe", {k: metrics.get(k) for k in ("top1", "top5", "test_videos")})
    return data


def read_records(results: Path, **match: Any) -> tuple[list[Record], list[Path]]:
    """Every record under `results` whose fields equal `match` (None values match anything), and the paths of
    JSON files that are not readable records."""
    records, bad = [], []
    if not results.is_dir():
        return records, bad
    for path in sorted(results.rglob("*.json")):
        if path.name.startswith("."):
            continue
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            bad.append(path)
            continue
        if isinstance(data, dict) and data.get("kind") == "analysis":  # bench analyze's records, not runs
            continue
        if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict) or "source" not in data:
            bad.append(path)
            continue
        try:
            rec = Record.from_json(data, path)
        except (TypeError, ValueError, AttributeError):
            bad.append(path)
            continue
        if all(v is None or getattr(rec, k) == v for k, v in match.items()):
            records.append(rec)
    return records, bad
