"""`bench speed`: what bounds a run of a protocol on this machine.

On the protocol's clip geometry and model it measures, after warm-up steps:
- the model step of pretraining and of finetuning (forward, backward and optimizer on a synthetic batch), in
  clips/s, with fvcore's MACs per clip, the achieved TFLOP/s (a training step is about 3 forward passes, 2 FLOPs per
  multiply-add) and, on CUDA, the model FLOPs utilisation against the device's dense bf16/fp16 peak;
- the data of one loader worker (one thread) for the source (its clips through the pretraining transform) and for
  the task (its videos through the finetuning transform), in clips/s;
- peak memory (CUDA allocator, else the process's peak RSS);
and says which one bounds each stage and how many loader workers keep the model fed. `--reference official=DIR`
and `--reference hf` measure the same steps of the official MCG-NJU code (modeling_pretrain.py and
modeling_finetune.py from DIR, as released: fp16 autocast on CUDA, eager attention) and of Hugging Face
`transformers` (sdpa attention) beside the harness's model. Rows are timm-style: one per (bench, implementation),
with the dtype, device and torch version in the row.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from benchmark.errors import BenchError

# dense tensor-core peaks (TFLOP/s, bf16 or fp16 with fp32 accumulation) by device name substring, from the vendors'
# data sheets; the first match wins
PEAK_TFLOPS = (("H200", 989.4), ("H100 SXM", 989.4), ("H100 PCIe", 756.0), ("H100", 989.4), ("A100", 312.0),
               ("L40S", 362.1), ("L4", 121.0), ("A10", 125.0), ("RTX 4090", 165.2), ("V100", 125.0))


@dataclass
class Row:
    bench: str  # pretrain_step | finetune_step | source_data | task_data
    impl: str  # harness | official | hf | the source or task name
    device: str
    dtype: str
    torch: str
    batch: int
    clips_per_s: float
    step_ms: float | None = None
    gmacs_per_clip: float | None = None
    tflops: float | None = None
    mfu: float | None = None
    peak_mem_mb: float | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def peak_tflops(device) -> float | None:
    import torch
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_TFLOPS if k in name), None)


def _sync(device) -> None:
    import torch
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_mem(device) -> float:
    import resource

    import torch
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_steps(step, steps: int, warmup: int, device) -> float:
    """Seconds per call of `step()` over `steps` calls after `warmup` calls."""
    for _ in range(warmup):
        step()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return (time.perf_counter() - t0) / steps


def _train_step(model, optimizer, loss_of, device, dtype):
    import torch

    def step():
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            loss = loss_of(model)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return step


def _row(bench, impl, device, dtype, batch, seconds, gmacs, note="") -> Row:
    import torch
    rate = batch / seconds
    tflops = 6 * gmacs * rate / 1e3 if gmacs else None
    peak = peak_tflops(device)
    return Row(bench, impl, device.type, str(dtype).removeprefix("torch."), torch.__version__, batch,
               round(rate, 2), round(seconds * 1e3, 2), gmacs, round(tflops, 3) if tflops else None,
               round(tflops / peak, 4) if tflops and peak else None, round(_peak_mem(device), 1), note)


def harness_models(p, classes: int, device):
    """(pretraining model, classifier) of the protocol, with its compile setting."""
    from benchmark.models.build import classifier, pretrain_model
    from benchmark.runtime import maybe_compile
    pre = pretrain_model(p.model, p.clip).to(device)
    clf = classifier(p.model, p.clip, classes, p.finetune).to(device)
    return maybe_compile(pre, p.runtime.compile, device), maybe_compile(clf, p.runtime.compile, device), pre.grid


def official_models(root: str, p, classes: int):
    """The official MCG-NJU classes from a checkout (never copied into this project), configured like ours."""
    from functools import partial
    from pathlib import Path

    import torch.nn as nn

    from benchmark.models.videomae import SIZES, sincos_table
    if not (Path(root) / "modeling_pretrain.py").is_file():
        raise BenchError(f"--reference official={root}: no modeling_pretrain.py there; give a checkout of "
                         f"github.com/MCG-NJU/VideoMAE")
    sys.path.insert(0, str(root))
    try:
        import modeling_finetune
        import modeling_pretrain
    finally:
        sys.path.remove(str(root))
    s, m, c = SIZES[p.model.size], p.model, p.clip
    norm = partial(nn.LayerNorm, eps=1e-6)
    pre = modeling_pretrain.PretrainVisionTransformer(
        img_size=c.size, patch_size=m.patch_size, encoder_embed_dim=s.embed_dim, encoder_depth=s.depth,
        encoder_num_heads=s.num_heads, decoder_num_classes=3 * m.tubelet_size * m.patch_size ** 2,
        decoder_embed_dim=s.decoder_dim, decoder_depth=m.decoder_depth or s.decoder_depth,
        decoder_num_heads=s.decoder_heads, qkv_bias=True, norm_layer=norm, tubelet_size=m.tubelet_size)
    tokens = (c.frames // m.tubelet_size) * (c.size // m.patch_size) ** 2
    pre.encoder.pos_embed = sincos_table(tokens, s.embed_dim)  # the official tables assume 16 frames
    pre.pos_embed = sincos_table(tokens, s.decoder_dim)
    clf = modeling_finetune.VisionTransformer(
        img_size=c.size, patch_size=m.patch_size, embed_dim=s.embed_dim, depth=s.depth, num_heads=s.num_heads,
        qkv_bias=True, norm_layer=norm, all_frames=c.frames, tubelet_size=m.tubelet_size, num_classes=classes,
        use_mean_pooling=True)
    return pre, clf


def hf_models(p, classes: int):
    import transformers

    from benchmark.models.hf import hf_config
    return (transformers.VideoMAEForPreTraining(hf_config(p.model, p.clip, classes, mean_pooling=False)),
            transformers.VideoMAEForVideoClassification(hf_config(p.model, p.clip, classes)))


def model_rows(p, device, batch: int, steps: int, warmup: int, references: list[str], classes: int = 400):
    import warnings

    import numpy as np
    import torch
    import torch.nn.functional as F

    from benchmark.data.sampling import tube_mask
    from benchmark.models.videomae import pretrain_targets
    from benchmark.report.flops import model_cost
    from benchmark.train.optim import make_optimizer
    with warnings.catch_warnings():  # fvcore traces through torch.jit, which warns it is deprecated
        warnings.simplefilter("ignore")
        cost = model_cost(p, classes)
    amp = torch.bfloat16 if (device.type == "cuda" and p.runtime.amp != "off") or p.runtime.amp == "bf16" \
        else torch.float32
    c, m = p.clip, p.model
    video = torch.randn(batch, 3, c.frames, c.size, c.size, device=device)
    labels = torch.randint(0, classes, (batch,), device=device)
    pre, clf, grid = harness_models(p, classes, device)
    mask = torch.from_numpy(np.stack([tube_mask(grid, p.pretrain.mask_ratio, np.random.default_rng(i))
                                      for i in range(batch)])).to(device)
    rows = []

    def ours_pre(model):
        target = pretrain_targets(video, mask, c.mean, c.std, m.patch_size, m.tubelet_size)
        return F.mse_loss(model(video, mask).float(), target)

    def ours_clf(model):
        return F.cross_entropy(model(video).float(), labels)

    compiled = ", compiled" if p.runtime.compile == "on" or (p.runtime.compile == "auto" and device.type == "cuda") \
        else ""
    for bench, model, loss, gmacs, recipe, note in (
            ("pretrain_step", pre, ours_pre, cost["pretrain_gmacs_per_clip"], p.pretrain,
             f"mask {p.pretrain.mask_ratio}{compiled}"),
            ("finetune_step", clf, ours_clf, cost["gmacs_per_view"], p.finetune, f"all tokens{compiled}")):
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        opt = make_optimizer(getattr(model, "_orig_mod", model), recipe, batch)
        secs = time_steps(_train_step(model, opt, loss, device, amp), steps, warmup, device)
        rows.append(_row(bench, "harness", device, amp, batch, secs, gmacs, note))
    for ref in references:
        kind, _, where = ref.partition("=")
        if kind == "official":
            opre, oclf = official_models(where, p, classes)
            dtype = torch.float16 if device.type == "cuda" else torch.float32  # as released: fp16 AMP
            losses = (lambda mdl: F.mse_loss(mdl(video, mask).float(), pretrain_targets(
                video, mask, c.mean, c.std, m.patch_size, m.tubelet_size)), ours_clf)
        elif kind == "hf":
            opre, oclf = hf_models(p, classes)
            dtype = amp
            hf_video = video.transpose(1, 2)  # (B, T, C, H, W)
            losses = (lambda mdl, v=hf_video: mdl(pixel_values=v, bool_masked_pos=mask).loss,
                      lambda mdl, v=hf_video: F.cross_entropy(mdl(pixel_values=v).logits.float(), labels))
        else:
            raise BenchError(f"--reference {ref!r}: give official=DIR (a MCG-NJU/VideoMAE checkout) or hf")
        for bench, model, loss, gmacs in (("pretrain_step", opre, losses[0], cost["pretrain_gmacs_per_clip"]),
                                          ("finetune_step", oclf, losses[1], cost["gmacs_per_view"])):
            model = model.to(device)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
            secs = time_steps(_train_step(model, opt, loss, device, dtype), steps, warmup, device)
            mine = next(r for r in rows if r.bench == bench and r.impl == "harness")
            row = _row(bench, kind, device, dtype, batch, secs, gmacs, "eager attention" if kind == "official"
                       else "sdpa")
            row.extra["harness_over_this"] = round(mine.clips_per_s / row.clips_per_s, 3)
            rows.append(row)
    return rows


def data_rows(spec, items: int) -> list[Row]:
    """Clips/s of one loader worker (one torch thread) through the pretraining and finetuning transforms."""
    import numpy as np
    import torch

    from benchmark.data.datasets import FinetuneClips, PretrainClips
    from benchmark.models.videomae import token_grid
    p = spec.protocol
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rows = []
    try:
        grid = token_grid(p.clip.frames, p.clip.size, p.model.patch_size, p.model.tubelet_size)
        if spec.clips:
            ds = PretrainClips(spec.source_object, p.clip, p.pretrain, spec.seed, grid)
            for k in range(8):  # warm-up: image pools and textures load on first use
                ds[10 ** 6 + k]
            t0 = time.perf_counter()
            for k in range(items):
                ds[k]
            rows.append(Row("source_data", spec.source, "cpu", "uint8", torch.__version__, 1,
                            round(items / (time.perf_counter() - t0), 2), note="per loader worker"))
        task = spec.task_object
        ft = FinetuneClips(task.train, p.clip, p.finetune, spec.seed, task.flip_keeps_label)
        order = np.random.default_rng(0).permutation(len(task.train))
        for k in range(8):
            ft[(10 ** 6 + k, int(order[k % len(order)]))]
        t0 = time.perf_counter()
        n = 0
        for k in range(1, items + 1):
            item = ft[(k, int(order[k % len(order)]))]
            n += len(item.get("video", ()))
        rows.append(Row("task_data", spec.task, "cpu", "uint8", torch.__version__, 1,
                        round(n / (time.perf_counter() - t0), 2), note="per loader worker"))
    finally:
        torch.set_num_threads(threads)
    return rows


def bound(rows: list[Row], workers: int) -> list[str]:
    """Per stage: which of model and data bounds it, and the loader workers that keep the model fed."""
    out = []
    for stage, data in (("pretrain", "source_data"), ("finetune", "task_data")):
        model = next((r for r in rows if r.bench == f"{stage}_step" and r.impl == "harness"), None)
        feed = next((r for r in rows if r.bench == data), None)
        if model is None or feed is None:
            continue
        need = math.ceil(model.clips_per_s / feed.clips_per_s)
        if workers == 0:
            share = model.clips_per_s / (model.clips_per_s + feed.clips_per_s)
            out.append(f"{stage}: data made in the training process takes {100 * share:.0f}% of a step (model "
                       f"{model.clips_per_s:.1f} clips/s, one worker {feed.clips_per_s:.1f} clips/s); "
                       + (f"loader-bound: needs >= {need} workers to overlap it" if need > 1 else
                          "one loader worker would keep up with the model"))
        elif need > workers:
            out.append(f"{stage}: loader-bound: needs >= {need} workers (runtime.workers is {workers}; model "
                       f"{model.clips_per_s:.1f} clips/s, one worker {feed.clips_per_s:.1f} clips/s)")
        else:
            out.append(f"{stage}: model-bound ({model.clips_per_s:.1f} clips/s; {workers} workers make "
                       f"{workers * feed.clips_per_s:.1f} clips/s)")
    return out


def speed(spec, steps: int, batch: int | None, references: list[str], data_items: int = 32):
    """(rows, bound lines) for a resolved run spec."""
    from benchmark.runtime import resolve_device
    if steps < 1 or (batch is not None and batch < 1) or data_items < 1:
        raise BenchError("--steps, --batch and --items must be >= 1")
    p = spec.protocol
    device = resolve_device(p.runtime.device)
    per_device = batch or max(2, min(p.pretrain.batch_size, 16 if device.type == "cpu" else 64))
    rows = model_rows(p, device, per_device, steps, warmup=min(3, steps), references=references,
                      classes=spec.task_object.num_classes)
    rows += data_rows(spec, data_items)
    return rows, bound(rows, p.runtime.workers)


def table(rows: list[Row]):
    from benchmark.render import Column, Table
    columns = [Column("bench"), Column("impl"), Column("device"), Column("dtype"), Column("torch"),
               Column("batch"), Column("clips_per_s", "clips/s", 1), Column("step_ms", "step ms", 1),
               Column("gmacs_per_clip", "GMACs/clip", 2), Column("tflops", "TFLOP/s", 2), Column("mfu", "MFU", 3),
               Column("peak_mem_mb", "peak MB", 0), Column("vs", "harness / this", 2), Column("note")]
    return Table(columns, [[r.bench, r.impl, r.device, r.dtype, r.torch, r.batch, r.clips_per_s, r.step_ms,
                            r.gmacs_per_clip, r.tflops, r.mfu, r.peak_mem_mb, r.extra.get("harness_over_this"),
                            r.note] for r in rows])
