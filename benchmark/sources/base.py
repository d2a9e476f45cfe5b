"""What a pretraining source is.

A source with clips yields uint8 (T, H, W, 3) clips, deterministic for (run seed, index): `clip(index, frames,
stride)` with index any non-negative integer (a virtual epoch of N clips uses N new indices). `scratch` has no
clips and `checkpoint` loads weights instead of pretraining.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class ClipSource(Protocol):
    def clip(self, index: int, frames: int, stride: int) -> np.ndarray: ...

    def info(self) -> dict[str, Any]:
        """What the result record says about the data (pools, stand-ins, counts)."""
        ...
