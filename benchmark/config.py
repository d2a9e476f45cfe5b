"""Protocols: YAML files with `base:` inheritance, `--set a.b=value` overrides, strict validation and hashing.

A protocol fixes everything about a run except the pretraining source, the downstream task and the seed: model
size, clip geometry, the pretraining recipe, the finetuning recipe and the evaluation views. The resolved
configuration of a run (protocol + source and its parameters + task and its parameters + seed) is a plain dict;
its hash names cached checkpoints and result records.

The schema below is the single place where keys, types, defaults and allowed ranges live: its defaults are the
official VideoMAE recipe, so a protocol without `base:` and one with `base: videomae` are the same. The core
sections (model, clip, pretrain, finetune, evaluate, runtime) are read by the training and evaluation code; a stage
that needs a section of its own declares it in its module (`benchmark/stages/`) and `build_protocol` takes it from
there. Any key not in the schema, or a value of the wrong type, is a one-line `BenchError` naming the dotted key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from benchmark.errors import BenchError, read_text

PROTOCOL_DIR = Path(__file__).parent / "protocols"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def param(default: Any, *, min: float | None = None, max: float | None = None, gt: float | None = None,
          doc: str = "") -> Any:
    """A schema field with an allowed range, checked by `build`."""
    meta = {"min": min, "max": max, "gt": gt, "doc": doc}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


# The defaults below are one official recipe, whole: VideoMAE ViT-B on Kinetics-400, 800 epochs (MCG-NJU/VideoMAE
# scripts/kinetics/videomae_vit_base_patch16_224_tubemasking_ratio_0.9_epoch_800/{pretrain,finetune}.sh, 80.0%
# top-1 in MODEL_ZOO.md), with the defaults of run_mae_pretraining.py / run_class_finetuning.py for every argument
# those scripts leave out. Every shipped protocol starts from them.


@dataclass
class ModelConfig:
    size: Literal["tiny", "small", "base", "large", "huge"] = "base"
    patch_size: int = param(16, gt=0)
    tubelet_size: int = param(2, gt=0)
    decoder_depth: int | None = param(None, gt=0, doc="None: the official scripts' depth for the size")


@dataclass
class ClipConfig:
    frames: int = param(16, gt=0)
    size: int = param(224, gt=0)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD


@dataclass
class PretrainConfig:
    epochs: int = param(800, min=0, doc="0 skips pretraining (finetune from the random init). The script passes "
                                        "801 and finetunes checkpoint-799, a checkpoint-naming workaround")
    epoch_size: int = param(240_000, gt=0, doc="clips per (virtual) epoch, the same for every source; K400 has "
                                               "about 240k training videos (the exact count varies per copy)")
    warmup_epochs: float = param(40, min=0)
    batch_size: int = param(2048, gt=0, doc="clips per optimizer step, summed over all processes (32 x 64 GPUs)")
    base_lr: float = param(1.5e-4, gt=0, doc="lr = base_lr * batch_size / 256 (also min_lr, warmup_lr)")
    min_lr: float = param(1e-5, min=0)
    warmup_lr: float = param(0.0, min=0, doc="where the linear warmup starts: 0, the official start_warmup_value "
                                             "(its --warmup_lr is parsed but never passed)")
    weight_decay: float = param(0.05, min=0)
    betas: tuple[float, float] = (0.9, 0.95)
    clip_grad: float | None = param(None, gt=0)
    mask_ratio: float = param(0.9, min=0, max=0.99)
    stride: int = param(4, gt=0, doc="temporal sampling stride of source videos (ignored by PMG)")
    crop_scales: list[float] = param([1.0, 0.875, 0.75, 0.66], doc="GroupMultiScaleCrop scales")
    flip: bool = False


@dataclass
class FinetuneConfig:
    enabled: bool = param(True, doc="false: no end-to-end finetuning (and no evaluate or lowdata stage); the "
                                 "probes still run")
    epochs: int = param(100, gt=0)
    warmup_epochs: float = param(5, min=0)
    batch_size: int = param(512, gt=0, doc="videos per optimizer step, summed over all processes (8 x 64 GPUs)")
    repeated_aug: int = param(1, gt=0, doc="augmented clips per video per step (VideoMAE --num_sample)")
    base_lr: float = param(1e-3, gt=0, doc="lr = base_lr * batch_size / 256 (also min_lr, warmup_lr)")
    min_lr: float = param(1e-6, min=0)
    warmup_lr: float = param(0.0, min=0, doc="where the linear warmup starts: 0, the official start_warmup_value "
                                             "(its --warmup_lr is parsed but never passed)")
    layer_decay: float = param(0.75, gt=0, max=1)
    weight_decay: float = param(0.05, min=0)
    betas: tuple[float, float] = (0.9, 0.999)
    clip_grad: float | None = param(None, gt=0)
    drop_path: float = param(0.1, min=0, max=1)
    fc_dropout: float = param(0.0, min=0, max=1, doc="dropout before the classification head")
    mixup: float = param(0.8, min=0)
    cutmix: float = param(1.0, min=0)
    mixup_prob: float = param(1.0, min=0, max=1)
    mixup_switch_prob: float = param(0.5, min=0, max=1)
    label_smoothing: float = param(0.1, min=0, max=1)
    randaug: str | None = "rand-m7-n4-mstd0.5-inc1"
    reprob: float = param(0.25, min=0, max=1, doc="random erasing probability")
    stride: int = param(4, gt=0)
    crop_scale: tuple[float, float] = (0.08, 1.0)
    crop_ratio: tuple[float, float] = (0.75, 1.3333333)
    flip: bool = param(True, doc="horizontal flip, applied only if the task says it keeps labels")
    mode: Literal["full", "linear"] = param("full", doc="full: end-to-end finetuning; linear: linear probe on the "
                                                    "frozen encoder (BatchNorm without affine, then the head)")
    optimizer: Literal["adamw", "sgd", "momentum"] = param("adamw", doc="adamw; sgd: VideoMAE's 'sgd' (Nesterov "
                                                                         "momentum); momentum: plain momentum SGD")
    momentum: float = param(0.9, min=0, max=1, doc="SGD momentum")


@dataclass
class EvaluateConfig:
    test_clips: int = param(5, gt=0)
    test_crops: Literal[1, 3] = 3
    batch_size: int = param(4, gt=0, doc="video-conditions (each K x crops views) per forward pass and process")
    perturbations: list[str] = param([], doc="UCF101-P perturbations evaluated besides the clean test set")
    severities: list[int] = param([1, 2, 3, 4, 5], doc="severities (1-5) of every listed perturbation")
    perturbation_seed: int = param(0, doc="seeds the random parts of perturbations: the same perturbed test set "
                                       "for every run")


@dataclass
class RuntimeConfig:
    """How a run executes; never changes its results, so it is not part of any hash."""

    device: str = "auto"
    amp: Literal["auto", "bf16", "off"] = "auto"
    compile: Literal["auto", "on", "off"] = "auto"
    workers: int = param(8, min=0, doc="data loader processes per training process")
    checkpoint_every: int = param(500, min=0, doc="optimizer steps between checkpoints (0: only at the end)")
    log_every: int = param(20, gt=0, doc="optimizer steps per log.jsonl line")
    progress: bool = True
    tensorboard: bool = param(True, doc="also write log.jsonl's scalars (loss, lr, grad norm, clips/s) as "
                                        "TensorBoard event files in <stage folder>/tensorboard/")
    decoder: Literal["pyav", "torchcodec"] = param("pyav", doc="video decoder; torchcodec (optional: pip install "
                                                   "torchcodec, apt ffmpeg) where its frames are PyAV's (native "
                                                   "size), PyAV elsewhere")


@dataclass
class Protocol:
    """A resolved protocol: the core sections, per-source and per-task parameter sections, and the sections that
    stages declare for themselves (`sections`, read as attributes: `p.lowdata`)."""

    name: str = ""
    description: str = ""
    task: str = "embedded"
    model: ModelConfig = field(default_factory=ModelConfig)
    clip: ClipConfig = field(default_factory=ClipConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    sections: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        sections = self.__dict__.get("sections") or {}
        if name in sections:
            return sections[name]
        raise AttributeError(f"protocol has no section {name!r}")


# ----------------------------------------------------------------------------------------------------------------
# YAML with floats like 1e-3 (PyYAML's YAML 1.1 resolver reads those as strings)

class _Loader(yaml.SafeLoader):
    pass


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                    |\.[0-9_]+(?:[eE][-+][0-9]+)?
                    |[-+]?\.(?:inf|Inf|INF)
                    |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def parse_yaml(text: str, where: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" line {mark.line + 1}" if mark else ""
        raise BenchError(f"{where}:{at} is not valid YAML ({getattr(e, 'problem', e)})") from None


# ----------------------------------------------------------------------------------------------------------------
# strict conversion of plain data into the schema dataclasses

def _type_name(tp: Any) -> str:
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin in (list, tuple, dict):
        return {list: "a list", tuple: "a list", dict: "a mapping"}[origin]
    if tp is type(None):
        return "null"
    return {int: "an integer", float: "a number", bool: "true/false", str: "a string"}.get(tp, str(tp))


def _convert(tp: Any, value: Any, key: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    bad = BenchError(f"key {key} must be {_type_name(tp)}, got {value!r}")
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise bad
        return build(tp, value, key)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        real = [a for a in args if a is not type(None)]
        if len(real) == 1 and dataclasses.is_dataclass(real[0]) and isinstance(value, Mapping):
            return _convert(real[0], value, key)  # an optional section: its own error names the key in it
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, key)
            except BenchError:
                pass
        raise bad
    if origin is Literal:
        if isinstance(value, bool) and {"on", "off"} & set(args):  # YAML 1.1 reads on/off as booleans
            value = "on" if value else "off"
        if value in args and type(value) is type(args[args.index(value)]):
            return value
        raise bad
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise bad
        return [_convert(args[0], v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise bad
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise BenchError(f"key {key} must be a list of {len(args)} values, got {value!r}")
        return tuple(_convert(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True)))
    if origin is dict:
        if not isinstance(value, Mapping):
            raise bad
        return {str(k): _convert(args[1], v, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            if abs(value) >= 2 ** 63:
                raise BenchError(f"key {key} must be an integer below 2^63, got {value!r}")
            return value
        raise bad
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise BenchError(f"key {key} must be a finite number, got {value!r}")
            return float(value)
        raise bad
    if tp is str:
        if isinstance(value, str):
            return value
        raise bad
    raise TypeError(f"schema type {tp} of {key} is not supported")


def _check_range(f: dataclasses.Field, value: Any, key: str) -> None:
    meta = f.metadata
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    if meta.get("gt") is not None and not value > meta["gt"]:
        raise BenchError(f"key {key} must be > {meta['gt']}, got {value!r}")
    if meta.get("min") is not None and value < meta["min"]:
        raise BenchError(f"key {key} must be >= {meta['min']}, got {value!r}")
    if meta.get("max") is not None and value > meta["max"]:
        raise BenchError(f"key {key} must be <= {meta['max']}, got {value!r}")


def build(cls: type, data: Mapping[str, Any], where: str) -> Any:
    """Build dataclass `cls` from `data`, rejecting unknown keys, wrong types and out-of-range values.

    `where` is the dotted prefix used in error messages (e.g. "pretrain" or "source").
    """
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    prefix = f"{where}." if where else ""
    for k in data:
        if k not in fields:
            raise BenchError(f"unknown key {prefix}{k}: valid keys under {where or 'the top level'} are "
                             f"{', '.join(fields)}")
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}{name}"
        kwargs[name] = _convert(hints[name], value, key)
        _check_range(fields[name], kwargs[name], key)
    obj = cls(**kwargs)
    check = getattr(obj, "validate", None)
    if check is not None:
        check(where)
    return obj


def to_dict(obj: Any) -> Any:
    """Dataclasses -> plain JSON-able data (tuples become lists)."""
    if isinstance(obj, Protocol):  # stage sections sit beside the core ones, as in the YAML
        out = {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.name != "sections"}
        return {**out, **{k: to_dict(v) for k, v in obj.sections.items()}}
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_dict(v) for k, v in obj.items()}
    return obj


def stable_hash(data: Any, length: int = 16) -> str:
    """sha256 of canonical JSON: key order, tuples vs lists and float formatting never change it."""
    blob = json.dumps(to_dict(data), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


# ----------------------------------------------------------------------------------------------------------------
# loading protocols: base inheritance and overrides

def yaml_names(folder: Path = PROTOCOL_DIR) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.yaml"))


def protocol_names() -> list[str]:
    return yaml_names(PROTOCOL_DIR)


def _yaml_path(name: str, folder: Path, kind: str, relative_to: Path | None = None) -> Path:
    if name.endswith((".yaml", ".yml")):
        path = Path(name)
        if not path.is_absolute() and relative_to is not None and not path.exists():
            path = relative_to / name
        if not path.is_file():
            raise BenchError(f"{kind} file {name} does not exist: give a path to a YAML file or one of "
                             f"{', '.join(yaml_names(folder))}")
        return path
    path = folder / f"{name}.yaml"
    if not path.is_file():
        raise BenchError(f"unknown {kind} {name!r}: choose one of {', '.join(yaml_names(folder))} "
                         f"or give a path to a .yaml file (list them with `bench {kind}s`)")
    return path


def deep_merge(base: Mapping, top: Mapping) -> dict:
    out = dict(base)
    for k, v in top.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def load_raw(name: str, _seen: tuple[str, ...] = (), _rel: Path | None = None, folder: Path = PROTOCOL_DIR,
             kind: str = "protocol", whole: tuple[str, ...] = ()) -> dict:
    """The YAML file (a protocol by default; `folder` and `kind` for other files with `base:`, e.g. sweep specs)
    merged over its `base:` chain, as plain data (not yet validated). Top-level keys in `whole` replace the base's
    value instead of merging into it."""
    path = _yaml_path(name, folder, kind, _rel)
    key = str(path.resolve())
    if key in _seen:
        raise BenchError(f"{kind} {path.name} inherits from itself through base: (remove the cycle)")
    data = parse_yaml(read_text(path, f"{kind} file"), str(path)) or {}
    if not isinstance(data, Mapping):
        raise BenchError(f"{kind} {path} must be a YAML mapping of keys to values")
    base = data.pop("base", None)
    if base is not None:
        if not isinstance(base, str):
            raise BenchError(f"key base in {path} must be a {kind} name or file, got {base!r}")
        parent = load_raw(base, _seen + (key,), path.parent, folder, kind, whole)
        data = deep_merge({k: v for k, v in parent.items() if k not in whole or k not in data}, data)
    data["name"] = path.stem if not name.endswith((".yaml", ".yml")) else str(path)
    return data


def parse_override(item: str) -> tuple[list[str], Any]:
    """'a.b=value' -> (['a', 'b'], parsed YAML value)."""
    key, sep, text = item.partition("=")
    if not sep or not key or any(not part for part in key.split(".")):
        raise BenchError(f"--set {item!r} must look like section.key=value (e.g. --set pretrain.epochs=5)")
    return key.split("."), parse_yaml(text, f"--set {key}") if text.strip() else ""


def section_overrides(overrides: list[str], section: str, command: str) -> dict[str, Any]:
    """`--set section.KEY=VALUE` items of a command that takes only that section's keys -> {KEY: value}."""
    raw: dict[str, Any] = {}
    for item in overrides:
        path, value = parse_override(item)
        if path[0] != section or len(path) != 2:
            raise BenchError(f"--set {item}: {command} takes {section} parameters only (--set {section}.KEY=VALUE)")
        raw[path[1]] = value
    return raw


def set_path(data: dict, path: list[str], value: Any) -> None:
    node = data
    for i, part in enumerate(path[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise BenchError(f"--set {'.'.join(path)}: {'.'.join(path[:i + 1])} is not a section")
        node = child
    node[path[-1]] = value


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    for item in overrides:
        path, value = parse_override(item)
        set_path(raw, path, value)
    return raw


def build_protocol(raw: Mapping[str, Any], sections: Mapping[str, type]) -> Protocol:
    """A Protocol from plain data: core keys by the schema above, the keys of `sections` (section name -> a stage's
    dataclass) by theirs. Sections not given take their defaults."""
    core = {f.name for f in dataclasses.fields(Protocol)} - {"sections"}
    for k in raw:
        if k not in core and k not in sections:
            raise BenchError(f"unknown key {k}: valid keys at the top level are "
                             f"{', '.join(sorted(core | set(sections)))}")
    proto = build(Protocol, {k: v for k, v in raw.items() if k in core}, "")
    proto.sections = {name: _convert(cls, {} if raw.get(name) is None else raw[name], name)
                      for name, cls in sections.items()}
    return proto
