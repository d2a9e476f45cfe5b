"""`bench plot`: the stages' plots (progression, lowdata, ood, ...) as PNG and SVG (matplotlib)."""

from __future__ import annotations

from pathlib import Path

from benchmark.errors import BenchError
from benchmark.records import Record
from benchmark.report.tables import by_source, groups
from benchmark.stages.base import stages

HINTS = {"progression": "run `bench run`", "lowdata": "run a protocol with lowdata points (e.g. lowdata)",
         "ood": "run a protocol with evaluate.perturbations (e.g. yu2024-ucf101p)"}


def kinds() -> dict:
    """Plot kind -> the stage's plot function."""
    return {kind: fn for s in stages() for kind, fn in s.plots().items()}


def plot(kind: str, records: list[Record], out: Path, title: str, severity: int | None = None) -> list[Path]:
    """Draw plot `kind` of the records into out/<kind>.png and .svg (atomically)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from benchmark.runtime import atomic_write
    available = kinds()
    if kind not in available:
        raise BenchError(f"unknown plot {kind!r}: choose one of {', '.join(available)}")
    fig, ax = plt.subplots(figsize=(6, 4))
    try:
        if not available[kind](ax, by_source(groups(records)), title, severity):
            raise BenchError(f"no records with {kind} results for this protocol and task: "
                             f"{HINTS.get(kind, 'run a protocol that has them')}")
        paths = []
        for ext, dpi in (("png", 150), ("svg", None)):
            path = out / f"{kind}.{ext}"
            atomic_write(path, lambda f, ext=ext, dpi=dpi: fig.savefig(f, format=ext, dpi=dpi, bbox_inches="tight"))
            paths.append(path)
    finally:
        plt.close(fig)
    return paths
