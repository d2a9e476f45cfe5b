"""Accepted search draw of each FractalDB-style category of pool seed 0 (see `benchmark.data.images`).

Category c's IFS is `fractal_candidate(0, c, SEED0_ATTEMPTS[c])`. The search costs ~0.5 s per category, so its
result is tabulated, as FractalDB ships its searched parameters; tests re-run the search for a few categories.
Regenerate with:
    python -c "from benchmark.data.images import fractal_search; print([fractal_search(0, c) for c in range(1000)])"
"""

SEED0_ATTEMPTS: tuple[int, ...] = ()
