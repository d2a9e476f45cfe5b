"""The pretrain stage: VideoMAE pretraining on a clip source, or the weights of an init (scratch: none; a
checkpoint file: its weights). Every other stage starts from what this one gives (`encoder_weights`)."""

from __future__ import annotations

from typing import Any

from benchmark.config import to_dict
from benchmark.runtime import world_from_env
from benchmark.stages.base import Context, Cost, Output, Size, Stage, register


def encoder_weights(out: Output, spec) -> dict | None:
    """The state dict downstream stages start from: the pretrained model, the init's weights, or None."""
    if not spec.clips:
        return spec.init.weights()
    if out.workdir is None:  # pretrain.epochs == 0: the random init
        return None
    import torch
    return torch.load(out.workdir / "final.pt", map_location="cpu", weights_only=True)["model"]


@register
class Pretrain(Stage):
    """VideoMAE pretraining on a clip source, or an init's weights."""

    name = "pretrain"

    def key(self, spec) -> dict[str, Any] | None:
        if not spec.clips:
            file = spec.init.key()
            return None if file is None else {"init": spec.source, "file": file}
        p = spec.protocol
        if p.pretrain.epochs == 0:
            return None
        return {"source": spec.source, "params": spec.source_params, "model": p.model, "clip": p.clip,
                "pretrain": p.pretrain}

    def cache(self, spec) -> bool:
        return spec.clips

    def validate(self, spec) -> None:
        from benchmark.models.videomae import token_grid
        from benchmark.train.optim import check_schedule, steps_per_epoch
        p = spec.protocol
        token_grid(p.clip.frames, p.clip.size, p.model.patch_size, p.model.tubelet_size)
        if spec.clips and p.pretrain.epochs > 0:
            spec.source_object  # noqa: B018 (building the source checks its folders and files)
            spe = steps_per_epoch(p.pretrain.epoch_size, p.pretrain.batch_size, world_from_env()[1], "pretrain")
            check_schedule("pretrain", p.pretrain.epochs * spe, round(p.pretrain.warmup_epochs * spe))
        if not spec.clips and spec.init.key() is not None:  # a checkpoint must fit the model before work starts
            from benchmark.models.build import classifier
            from benchmark.train.finetune import init_from
            init_from(classifier(p.model, p.clip, 2), spec.init.weights(), f"checkpoint {spec.source_params.path}")

    def cost(self, spec, size: Size) -> Cost:
        if self.key(spec) is None or not spec.clips:
            return Cost()
        from benchmark.train.optim import steps_per_epoch
        pt = spec.protocol.pretrain
        steps = pt.epochs * steps_per_epoch(pt.epoch_size, pt.batch_size, 1, "pretrain")
        return Cost(steps, size.train_flops(steps * pt.batch_size, size.pretrain_gmacs))

    def run(self, ctx: Context) -> dict[str, Any]:
        spec = ctx.spec
        if ctx.workdir is None:  # an init, or pretrain.epochs = 0: nothing to train
            return {}
        from benchmark.train.pretrain import pretrain
        p = spec.protocol
        source = spec.source_object
        summary = pretrain(p.model, p.clip, p.pretrain, p.runtime, source, spec.seed, ctx.dist, ctx.workdir)
        return {**summary, "source_info": source.info()}

    def fill(self, record, output: Output, spec) -> None:
        from benchmark.inits import source_entry
        entry = source_entry(spec.source)
        result = dict(output.result)
        info = result.pop("source_info", None) or (spec.init.info() if spec.init is not None else {})
        record.source_info = {"name": spec.source, "kind": spec.source_kind, "description": entry.description,
                              "params": to_dict(spec.source_params), **info}
        record.skipped_videos["pretrain"] = result.pop("skipped_videos", [])
        if spec.clips and output.workdir is not None:
            record.pretrain, record.pretrain_hash = {**result, "cached": output.cached}, output.hash
        elif not spec.clips:
            record.pretrain_hash = spec.init.key()
