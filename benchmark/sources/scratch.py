"""`scratch`: no pretraining, the random-init baseline."""

from __future__ import annotations

from dataclasses import dataclass

from benchmark.sources import SOURCES


@dataclass
class NoParams:
    pass


@SOURCES.register("scratch", "No pretraining: finetune from VideoMAE's random initialisation (the lower bound of "
                  "every table).", params=NoParams, kind="none")
def make_scratch(params: NoParams, seed: int, clip_size: int) -> None:
    return None
