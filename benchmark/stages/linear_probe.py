"""The linear_probe stage: a linear classifier on the frozen pretrained encoder (Yu et al.'s LP.sh after MAE's
linear probing: BatchNorm without affine before the head, everything but the head frozen, the encoder left in
train mode as their code leaves it), evaluated on the clean test views. It trains with the finetune machinery in
`mode: linear` under its own recipe, so one run can report finetuning and the probe from one pretraining."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from benchmark.config import FinetuneConfig, param
from benchmark.errors import BenchError
from benchmark.runtime import world_from_env
from benchmark.stages.base import Context, Cost, Metric, Size, Stage, register


@dataclass
class LinearProbeConfig(FinetuneConfig):
    """The finetune schema with LP.sh's values (Yu et al.'s released linear_probe/LP.sh) as defaults."""

    enabled: bool = param(False, doc="run the linear probe")
    mode: Literal["full", "linear"] = param("linear", doc="always linear for this stage")
    # LP.sh passes --opt sgd --momentum 0.9, but also --enable_deepspeed, under which those are ignored: the optimizer
    # that runs is DeepSpeed's Adam in AdamW mode from the generated config (betas 0.9/0.999, eps 1e-8)
    optimizer: Literal["adamw", "sgd", "momentum"] = param("adamw", doc="what LP.sh runs (DeepSpeed AdamW); sgd: "
                                                                         "VideoMAE's Nesterov SGD, as --opt sgd asks")
    momentum: float = param(0.9, min=0, max=1)
    base_lr: float = param(0.1, gt=0, doc="lr = base_lr * batch_size / 256")
    min_lr: float = param(0.0, min=0, doc="run_linear_probe.py's default")
    weight_decay: float = param(0.0, min=0)
    layer_decay: float = param(1.0, gt=0, max=1)
    epochs: int = param(100, gt=0)
    batch_size: int = param(256, gt=0)
    drop_path: float = param(0.2, min=0, max=1)
    fc_dropout: float = param(0.5, min=0, max=1)

    def validate(self, where: str) -> None:
        if self.mode != "linear":
            raise BenchError(f"key {where}.mode must be linear (the stage is a linear probe)")


@register
class LinearProbe(Stage):
    """Linear probe on the frozen pretrained encoder."""

    name = "linear_probe"
    Config = LinearProbeConfig
    needs = ("pretrain",)
    example = ("linear_probe.enabled=true", "linear_probe.epochs=1", "linear_probe.batch_size=8",
               "linear_probe.warmup_epochs=0")

    def enabled(self, spec) -> bool:
        return spec.protocol.linear_probe.enabled

    def key(self, spec) -> dict[str, Any]:
        from benchmark.stages.finetune import task_key
        p = spec.protocol
        return {**task_key(spec), "linear_probe": p.linear_probe, "views": self.views(p)}

    @staticmethod
    def views(p):
        return replace(p.evaluate, perturbations=[])

    def validate(self, spec) -> None:
        from benchmark.train.finetune import schedule
        schedule(spec.protocol.linear_probe, len(spec.task_object.train), world_from_env()[1],
                 what="linear_probe")

    def cost(self, spec, size: Size) -> Cost:
        """The frozen encoder's forward passes in training and test (the head is small beside it)."""
        from benchmark.train.finetune import schedule
        recipe, ev = spec.protocol.linear_probe, self.views(spec.protocol)
        steps = schedule(recipe, size.train, 1, what="linear_probe")[0]
        return Cost(steps, size.forward_flops(steps * recipe.batch_size * recipe.repeated_aug
                                              + size.test * ev.test_clips * ev.test_crops))

    def run(self, ctx: Context) -> dict[str, Any]:
        from benchmark.evaluate.multiview import evaluate
        from benchmark.stages.finetune import load_classifier
        from benchmark.stages.pretrain import encoder_weights
        from benchmark.train.finetune import finetune
        spec, p = ctx.spec, ctx.spec.protocol
        recipe = p.linear_probe
        summary = finetune(p.model, p.clip, recipe, p.runtime, ctx.task, encoder_weights(ctx.inputs["pretrain"], spec),
                           spec.seed, ctx.dist, ctx.workdir)
        model = load_classifier(spec, recipe, ctx.task.num_classes, ctx.workdir, ctx.dist)
        metrics = evaluate(model, ctx.task.test, p.clip, self.views(p), recipe.stride, p.runtime, ctx.dist)
        return {**{k: metrics[k] for k in ("top1", "top5", "test_videos", "views_per_video")},
                "skipped_test_videos": metrics["skipped_test_videos"], "train": summary}

    def fill(self, record, output, spec) -> None:
        record.metrics["linear_probe"] = {**output.result, "cached": output.cached}

    def metrics(self) -> list[Metric]:
        return [Metric("linear_probe.top1", "linear probe top-1 %", primary=True)]
