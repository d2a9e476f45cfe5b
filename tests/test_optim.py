"""Optimizers and the learning-rate schedule against VideoMAE's optim_factory.py and utils.cosine_scheduler."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from benchmark.stages.base import load_protocol
from benchmark.train.optim import cosine_schedule, make_optimizer


def videomae_cosine_scheduler(base, final, epochs, niter_per_ep, warmup_epochs=0, start_warmup_value=0,
                              warmup_steps=-1):
    """utils.cosine_scheduler of MCG-NJU/VideoMAE, written out from its definition."""
    warmup_schedule = np.array([])
    warmup_iters = warmup_epochs * niter_per_ep
    if warmup_steps > 0:
        warmup_iters = warmup_steps
    if warmup_epochs > 0:
        warmup_schedule = np.linspace(start_warmup_value, base, warmup_iters)
    iters = np.arange(epochs * niter_per_ep - warmup_iters)
    schedule = np.array([final + 0.5 * (base - final) * (1 + math.cos(math.pi * i / len(iters))) for i in iters])
    return np.concatenate((warmup_schedule, schedule))


def test_schedule_is_videomaes_cosine_scheduler_with_warmup_from_zero():
    p = load_protocol("smoke", ["finetune.base_lr=0.256", "finetune.min_lr=0.0256"])
    model = torch.nn.Linear(4, 2)
    opt = make_optimizer(model, p.finetune, 256)
    sched = cosine_schedule(opt, p.finetune, 256, total_steps=50, warmup_steps=10)
    got = []
    for step in range(50):
        sched.step_update(num_updates=step)
        got.append(opt.param_groups[0]["lr"])
    want = videomae_cosine_scheduler(0.256, 0.0256, epochs=10, niter_per_ep=5, warmup_epochs=2)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    assert got[0] == 0 and got[9] == pytest.approx(0.256)  # starts at 0, peaks at the last warmup step


def test_layer_decay_scales_each_groups_lr():
    from benchmark.models.videomae import VideoMAEClassifier
    p = load_protocol("smoke")
    model = VideoMAEClassifier("tiny", 3, 8, 32)
    opt = make_optimizer(model, p.finetune, 256, layer_decay=0.75)
    sched = cosine_schedule(opt, p.finetune, 256, total_steps=20, warmup_steps=0)
    sched.step_update(num_updates=0)
    scales = sorted({round(g["lr_scale"], 8) for g in opt.param_groups})
    assert scales[-1] == 1.0 and scales[0] == pytest.approx(0.75 ** 5)  # patch_embed: 0.75^(depth + 1)
    for g in opt.param_groups:
        assert g["lr"] == pytest.approx(p.finetune.base_lr * g["lr_scale"])


@pytest.mark.parametrize("name, cls, nesterov", [("adamw", torch.optim.AdamW, None), ("sgd", torch.optim.SGD, True),
                                                 ("momentum", torch.optim.SGD, False)])
def test_optimizer_names_are_videomaes(name, cls, nesterov):
    p = load_protocol("smoke", [f"finetune.optimizer={name}"])
    opt = make_optimizer(torch.nn.Linear(4, 2), p.finetune, 256)
    assert isinstance(opt, cls)
    if nesterov is not None:  # optim_factory.py: 'sgd' is Nesterov momentum, 'momentum' plain
        assert opt.defaults["nesterov"] is nesterov and opt.defaults["momentum"] == 0.9


def test_linear_probe_defaults_to_what_lp_sh_runs():
    p = load_protocol("yu2024-linprobe")
    lp = p.linear_probe
    assert (lp.optimizer, lp.base_lr, lp.weight_decay, lp.min_lr, lp.warmup_lr, lp.mode) == ("adamw", 0.1, 0.0, 0.0,
                                                                                             0.0, "linear")
    assert tuple(lp.betas) == (0.9, 0.999) and not p.finetune.enabled


def test_parameter_groups_match_timms_layer_decay_and_weight_decay():
    """The official grouping (optim_factory.py) written out, checked against timm's implementation of it."""
    from timm.optim import param_groups_layer_decay

    from benchmark.models.videomae import VideoMAEClassifier
    from benchmark.train.optim import parameter_groups
    model = VideoMAEClassifier("tiny", 5, 8, 32)
    ours = {id(p): (g["weight_decay"], g["lr_scale"]) for g in parameter_groups(model, 0.05, 0.75)
            for p in g["params"]}
    theirs = {id(p): (g["weight_decay"], g["lr_scale"]) for g in
              param_groups_layer_decay(model, 0.05, layer_decay=0.75, no_weight_decay_list=()) for p in g["params"]}
    assert ours.keys() == theirs.keys() == {id(p) for p in model.parameters()}
    for k in ours:
        assert ours[k][0] == theirs[k][0] and ours[k][1] == pytest.approx(theirs[k][1])
