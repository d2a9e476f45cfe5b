"""The models a protocol describes: VideoMAE for pretraining and the classifier for finetuning and probes."""

from __future__ import annotations

from benchmark.config import ClipConfig, FinetuneConfig, ModelConfig
from benchmark.models.videomae import VideoMAEClassifier, VideoMAEPretrain


def pretrain_model(model: ModelConfig, clip: ClipConfig) -> VideoMAEPretrain:
    return VideoMAEPretrain(model.size, clip.frames, clip.size, model.patch_size, model.tubelet_size,
                            model.decoder_depth)


def classifier(model: ModelConfig, clip: ClipConfig, num_classes: int,
               recipe: FinetuneConfig | None = None) -> VideoMAEClassifier:
    """The finetuning model; `recipe` sets drop path, head dropout and the linear-probe head (default: none)."""
    ft = recipe or FinetuneConfig(drop_path=0.0)
    return VideoMAEClassifier(model.size, num_classes, clip.frames, clip.size, model.patch_size, model.tubelet_size,
                              drop_path=ft.drop_path, fc_dropout=ft.fc_dropout, linear_probe=ft.mode == "linear")
