"""The finetune stage: end-to-end finetuning of the classifier on the task's training split (VideoMAE's
run_class_finetuning.py), from the pretrain stage's weights; `finetune.mode: linear` makes it a linear probe."""

from __future__ import annotations

from typing import Any

from benchmark.runtime import world_from_env
from benchmark.stages.base import Context, Cost, Output, Size, Stage, register


def task_key(spec) -> dict[str, Any]:
    """What a stage that trains on the task depends on besides its own recipe."""
    p = spec.protocol
    return {"task": spec.task, "params": spec.task_params, "model": p.model, "clip": p.clip}


def load_classifier(spec, recipe, num_classes: int, workdir, dist):
    """The classifier a finetuning (or probe) left in workdir/final.pt, on the run's device."""
    import torch

    from benchmark.models.build import classifier
    from benchmark.models.checkpoints import load_strict
    p = spec.protocol
    model = classifier(p.model, p.clip, num_classes, recipe)
    state = torch.load(workdir / "final.pt", map_location="cpu", weights_only=True)["model"]
    load_strict(model, state, f"finetuned checkpoint {workdir / 'final.pt'}")
    return model.to(dist.device)


@register
class Finetune(Stage):
    """End-to-end finetuning on the task's training split."""

    name = "finetune"
    needs = ("pretrain",)

    def enabled(self, spec) -> bool:
        return spec.protocol.finetune.enabled

    def key(self, spec) -> dict[str, Any]:
        return {**task_key(spec), "finetune": spec.protocol.finetune}

    def validate(self, spec) -> None:
        from benchmark.train.finetune import schedule
        schedule(spec.protocol.finetune, len(spec.task_object.train), world_from_env()[1])

    def cost(self, spec, size: Size) -> Cost:
        from benchmark.train.finetune import schedule
        ft = spec.protocol.finetune
        steps = schedule(ft, size.train, 1)[0]
        return Cost(steps, size.train_flops(steps * ft.batch_size * ft.repeated_aug, size.view_gmacs))

    def run(self, ctx: Context) -> dict[str, Any]:
        from benchmark.stages.pretrain import encoder_weights
        from benchmark.train.finetune import finetune
        p, spec = ctx.spec.protocol, ctx.spec
        weights = encoder_weights(ctx.inputs["pretrain"], spec)
        return finetune(p.model, p.clip, p.finetune, p.runtime, ctx.task, weights, spec.seed, ctx.dist, ctx.workdir)

    def fill(self, record, output: Output, spec) -> None:
        result = dict(output.result)
        record.skipped_videos["finetune"] = result.pop("skipped_videos", [])
        record.finetune, record.finetune_hash = {**result, "cached": output.cached}, output.hash
