"""Result records: one JSON file per evaluated run, written atomically, never edited.

Layout: <results>/<protocol>/<task>/<source>-s<seed>-<run id>.json. Readers select by the fields inside a record,
never by its path, and skip (and count) files that are not records, so a store can be copied, merged and
hand-organised freely.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


def new_run_id(config_hash: str) -> str:
    now = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{now}-{config_hash[:8]}-{uuid.uuid4().hex[:6]}"


def record_path(results: Path, record: dict) -> Path:
    protocol = Path(record["protocol"]).stem
    return results / protocol / record["task"] / f"{record['source']}-s{record['seed']}-{record['run_id']}.json"


def write_record(results: Path, record: dict) -> Path:
    """Write atomically: a temporary file in the same folder, fsynced, then renamed into place."""
    path = record_path(results, record)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:6]}.tmp")
    with tmp.open("w") as f:
        json.dump(record, f, indent=1, sort_keys=False, allow_nan=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def variant(record: dict) -> str:
    """Hash of everything that determines a record's results except its seed: records with the same variant are
    repeats of one experiment, and only they are pooled into a mean over seeds."""
    from benchmark.config import stable_hash
    cfg = {k: v for k, v in record.get("config", {}).items() if k not in ("seed", "runtime", "name", "description")}
    return stable_hash(cfg)[:8] if cfg else record.get("config_hash", "")[:8]


def upgrade(record: dict) -> dict:
    """Fill what records of older schema versions lack, so every reader sees the current shape."""
    record.setdefault("schema_version", 0)
    record.setdefault("seed", record.get("config", {}).get("seed", 0))
    record.setdefault("protocol", record.get("config", {}).get("name", "unknown"))
    record.setdefault("task", record.get("config", {}).get("task", {}).get("name", "unknown"))
    record.setdefault("config", {})
    record.setdefault("created", "")
    record["metrics"].setdefault("top5", None)
    return record


def read_records(results: Path, **match: Any) -> tuple[list[dict], list[Path]]:
    """Every record under `results` whose fields equal `match` (None values match anything), and the paths of
    JSON files that are not readable records."""
    records, bad = [], []
    if not results.is_dir():
        return records, bad
    for path in sorted(results.rglob("*.json")):
        if path.name.startswith("."):
            continue
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            bad.append(path)
            continue
        if not isinstance(rec, dict) or "metrics" not in rec or "source" not in rec:
            bad.append(path)
            continue
        rec = upgrade(rec)
        rec["_path"] = str(path)
        if all(v is None or rec.get(k) == v for k, v in match.items()):
            records.append(rec)
    return records, bad
