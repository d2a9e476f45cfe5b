"""`bench export`: a pretrained or finetuned encoder as the field shares them.

The target is a stage folder (<work>/pretrain/<hash>/ or <work>/finetune/<hash>/, with final.pt and config.json)
or a result record (its stage's folder is found under --work from the hash the record keeps). Formats:

- `hf`: a `transformers` VideoMAE folder (config.json + model.safetensors, `save_pretrained`):
  VideoMAEForPreTraining for a pretraining (final layer norm, as the official encoder), VideoMAEForVideoClassification
  for a finetuning (mean pooling, the task's classes as labels). The weights load strictly; a name that finds no
  place is an error, not a dropped tensor;
- `official`: an MCG-NJU .pth, {"model": state dict} in the official names, which run_class_finetuning.py's
  --finetune and run_mae_pretraining.py's --resume read (and `bench run --source checkpoint`).

The folder is written next to --out and renamed into place when complete, so nothing is half-written.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from benchmark.config import ClipConfig, ModelConfig, build
from benchmark.errors import BenchError, read_text

FORMATS = ("hf", "official")


def stage_folder(target: Path, work: Path, stage: str | None) -> Path:
    """The stage folder a target names: itself, or the one of a record's stage (finetune by default)."""
    if target.is_dir():
        if not (target / "final.pt").is_file() or not (target / "config.json").is_file():
            raise BenchError(f"{target} is not a finished stage folder (it needs final.pt and config.json): give "
                             f"<work>/pretrain/<hash>/, <work>/finetune/<hash>/ or a result record")
        return target
    if not target.is_file():
        raise BenchError(f"export target {target} does not exist: give a stage folder or a result record")
    try:
        record = json.loads(read_text(target, "result record"))
        stages = record["stages"]
    except (ValueError, KeyError, TypeError):
        raise BenchError(f"{target} is not a result record (no `stages`): give a record written by bench run, or a "
                         f"stage folder") from None
    name = stage or ("finetune" if stages.get("finetune", {}).get("hash") else "pretrain")
    h = stages.get(name, {}).get("hash")
    if not h:
        raise BenchError(f"record {target} has no {name} stage with weights (source {record.get('source')}): choose "
                         f"--stage {'pretrain' if name == 'finetune' else 'finetune'}")
    folder = work / name / h
    if not (folder / "final.pt").is_file():
        raise BenchError(f"{folder}/final.pt is missing: the record's {name} weights are not under --work {work} "
                         f"(give the --work the run used)")
    return folder


def load(folder: Path) -> tuple[str, ModelConfig, ClipConfig, dict]:
    """(stage name, model and clip config, official-named state dict) of a stage folder."""
    import torch
    identity = json.loads(read_text(folder / "config.json", "stage config"))
    kind, cfg = identity.get("stage"), identity.get("config", {})
    if kind not in ("pretrain", "finetune") or "model" not in cfg:
        raise BenchError(f"{folder} is a {kind} stage; export takes a pretrain or finetune folder")
    model, clip = build(ModelConfig, cfg["model"], "model"), build(ClipConfig, cfg["clip"], "clip")
    state = torch.load(folder / "final.pt", map_location="cpu", weights_only=True)["model"]
    return kind, model, clip, state


def export(target: Path, fmt: str, out: Path, work: Path, stage: str | None = None) -> Path:
    if fmt not in FORMATS:
        raise BenchError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BenchError(f"--out {out} exists and is not empty: choose another folder or remove it")
    folder = stage_folder(target, work, stage)
    kind, model, clip, state = load(folder)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        if fmt == "official":
            from benchmark.runtime import atomic_save
            atomic_save({"model": state}, tmp / "checkpoint.pth")
        else:
            _save_hf(kind, model, clip, state, tmp)
        (tmp / "exported_from.json").write_text(json.dumps({"stage_folder": str(folder), "stage": kind,
                                                            "format": fmt}, indent=1))
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _save_hf(kind: str, model: ModelConfig, clip: ClipConfig, state: dict, folder: Path) -> None:
    import transformers

    from benchmark.models.hf import hf_config, official_to_hf
    if kind == "pretrain":
        hf = transformers.VideoMAEForPreTraining(hf_config(model, clip, mean_pooling=False))
    else:
        hf = transformers.VideoMAEForVideoClassification(hf_config(model, clip, state["head.weight"].shape[0]))
    mapped = official_to_hf(state, set(hf.state_dict()))
    missing, unexpected = set(hf.state_dict()) - set(mapped), set(mapped) - set(hf.state_dict())
    if missing or unexpected:
        raise BenchError(f"the weights do not map onto transformers' VideoMAE (missing {sorted(missing)[:3]}, "
                         f"unexpected {sorted(unexpected)[:3]})")
    hf.load_state_dict(mapped, strict=True)
    hf.save_pretrained(folder)
