"""Benchmark harness for video pretraining without natural videos.

Sources (scratch, natural video, the synthetic progression of Yu et al., PMG of Ishikawa et al.) are pretrained
with VideoMAE under a protocol, finetuned and evaluated on downstream tasks, and every run ends in one JSON result
record. See README.md for the commands and the architecture.
"""

__version__ = "0.1.0"
