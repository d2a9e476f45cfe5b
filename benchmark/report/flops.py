"""Parameter and MAC counts per protocol (fvcore), with the attention that fvcore does not count.

fvcore's FlopCountAnalysis counts one fused multiply-add as one "flop", i.e. MACs (timm's and VideoMAE's
"180 GFLOPs" for ViT-B at 16 x 224^2 is this convention), and ignores aten::scaled_dot_product_attention, which
is about a quarter of a video ViT's compute: the handle below adds it as prod(batch, heads) x Lq x Lk x (E + Ev)
MACs (QK^T and the weighted sum of V).
"""

from __future__ import annotations

import math

from benchmark.config import Protocol


def sdpa_macs(inputs, outputs) -> int:
    from fvcore.nn.jit_handles import get_shape
    q, k, v = (get_shape(x) for x in inputs[:3])
    return math.prod(q[:-2]) * q[-2] * k[-2] * (q[-1] + v[-1])


def count(model, *example) -> int:
    import warnings
    with warnings.catch_warnings():  # fvcore scripts and traces with torch.jit, which torch 2.9+ calls deprecated
        warnings.filterwarnings("ignore", "`torch.jit", FutureWarning)
        from fvcore.nn import FlopCountAnalysis
        analysis = FlopCountAnalysis(model, example)
        analysis.set_op_handle("aten::scaled_dot_product_attention", sdpa_macs)
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return int(analysis.total())


def model_cost(p: Protocol, num_classes: int = 400) -> dict:
    """Parameters of the classifier and the pretraining model, and GMACs per test view and per pretraining clip
    (visible tokens only in the encoder, all tokens in the decoder) at the protocol's clip geometry."""
    import numpy as np
    import torch

    from benchmark.data.sampling import tube_mask
    from benchmark.models.build import classifier, pretrain_model
    clf = classifier(p.model, p.clip, num_classes, p.finetune).eval()
    pre = pretrain_model(p.model, p.clip).eval()
    video = torch.zeros(1, 3, p.clip.frames, p.clip.size, p.clip.size)
    mask = torch.from_numpy(tube_mask(pre.grid, p.pretrain.mask_ratio, np.random.default_rng(0)))[None]
    with torch.no_grad():
        cls_macs, pre_macs = count(clf, video), count(pre, video, mask)
    return {"model": p.model.size, "clip": f"{p.clip.frames}x{p.clip.size}^2",
            "params_m": round(sum(x.numel() for x in clf.parameters()) / 1e6, 2),
            "pretrain_params_m": round(sum(x.numel() for x in pre.parameters()) / 1e6, 2),
            "gmacs_per_view": round(cls_macs / 1e9, 2), "pretrain_gmacs_per_clip": round(pre_macs / 1e9, 2)}
