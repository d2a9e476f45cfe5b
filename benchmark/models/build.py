"""The models a protocol describes: VideoMAE for pretraining and the classifier for finetuning and probes."""

from __future__ import annotations

from benchmark.config import ClipConfig, FinetuneConfig, ModelConfig
from benchmark.models.videomae import SIZES, Encoder, VideoMAEClassifier, VideoMAEPretrain, token_grid


def pretrain_model(model: ModelConfig, clip: ClipConfig) -> VideoMAEPretrain:
    return VideoMAEPretrain(model.size, clip.frames, clip.size, model.patch_size, model.tubelet_size,
                            model.decoder_depth)


def classifier(model: ModelConfig, clip: ClipConfig, num_classes: int,
               recipe: FinetuneConfig | None = None) -> VideoMAEClassifier:
    """The finetuning model; `recipe` sets drop path, head dropout and the linear-probe head (default: none)."""
    ft = recipe or FinetuneConfig(drop_path=0.0)
    return VideoMAEClassifier(model.size, num_classes, clip.frames, clip.size, model.patch_size, model.tubelet_size,
                              drop_path=ft.drop_path, fc_dropout=ft.fc_dropout, linear_probe=ft.mode == "linear")


def frozen_encoder(model: ModelConfig, clip: ClipConfig, weights: dict | None, what: str = "checkpoint") -> Encoder:
    """The encoder as the probes read it: every token through the blocks and the final norm, frozen, in eval mode.

    Weights from a pretraining (encoder.*) load strictly; from a classifier (patch_embed, blocks, fc_norm, head,
    e.g. an official finetuned checkpoint) the blocks load and the final norm stays at its identity init, since a
    mean-pooling classifier has none; None leaves the random initialisation."""
    from benchmark.models.checkpoints import load_strict
    grid = token_grid(clip.frames, clip.size, model.patch_size, model.tubelet_size)
    encoder = Encoder(SIZES[model.size], grid[0] * grid[1] * grid[2], model.patch_size, model.tubelet_size)
    if weights is not None:
        if any(k.startswith("encoder.") for k in weights):
            state = {k.removeprefix("encoder."): v for k, v in weights.items() if k.startswith("encoder.")}
            load_strict(encoder, state, what)
        else:
            state = {k: v for k, v in weights.items() if not k.startswith(("fc_norm.", "head."))}
            load_strict(encoder, state, what, allow_missing=("norm.",))
    for p in encoder.parameters():
        p.requires_grad = False
    return encoder.eval()
