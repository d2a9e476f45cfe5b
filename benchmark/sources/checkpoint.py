"""`checkpoint`: pretrained weights from a file instead of pretraining (e.g. the official VideoMAE ones)."""

from __future__ import annotations

from dataclasses import dataclass

from benchmark.errors import BenchError
from benchmark.sources import SOURCES


@dataclass
class CheckpointParams:
    path: str = ""  # official VideoMAE .pth (pretraining or finetuned) or a Hugging Face model folder

    def validate(self, where: str) -> None:
        if not self.path:
            raise BenchError(f"source 'checkpoint' needs a file: add --set {where}.path=/path/to/checkpoint.pth")


@SOURCES.register("checkpoint", "Pretrained weights from a file instead of pretraining: an official VideoMAE "
                  ".pth (MCG-NJU naming) or a Hugging Face VideoMAE folder, loaded strictly. Use it to evaluate "
                  "the official natural-video checkpoints (--set source.path=...).", params=CheckpointParams,
                  kind="checkpoint")
def make_checkpoint(params: CheckpointParams, seed: int, clip_size: int) -> CheckpointParams:
    return params
