"""Image pools: formula-driven synthetic images (FractalDB-style, VisualAtom-style) and folder errors."""

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmark.data.fractal_table import SEED0_ATTEMPTS
from benchmark.data.images import FolderPool, FractalPool, VisualAtomPool, fractal_search, make_pool
from benchmark.errors import BenchError


def digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


@pytest.mark.parametrize("name, cls", [("fractal", FractalPool), ("visual-atom", VisualAtomPool)])
def test_synthetic_images_are_deterministic_and_differ_by_index_and_seed(name, cls):
    pool, again = make_pool(name), make_pool(name)
    assert isinstance(pool, cls) and len(pool) == 100_000 and pool.info()["categories"] == 1000
    a = pool.image(1234)
    assert a.shape == (512, 512, 3) and a.dtype == np.uint8
    assert np.array_equal(a, again.image(1234))
    assert 0.005 < (a.max(axis=2) > 0).mean() < 0.95  # a drawing, neither blank nor full
    assert not np.array_equal(a, pool.image(1235))  # another category
    assert not np.array_equal(a, pool.image(2234))  # the same category, another instance
    assert not np.array_equal(a, make_pool(name, seed=1).image(1234))  # another dataset


def test_synthetic_images_are_identical_in_another_process():
    code = ("from benchmark.data.images import make_pool;"
            "from benchmark.sources.base import make_source, source_params;"
            "from tests.test_pools import digest;"
            "print(digest(make_pool('fractal').image(777)), digest(make_pool('visual-atom').image(777)),"
            "digest(make_source('pmg', source_params('pmg', {}), 0, 64).clip(3, 4, 1)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parents[1]).stdout.split()
    from benchmark.sources.base import make_source, source_params
    here = [digest(make_pool("fractal").image(777)), digest(make_pool("visual-atom").image(777)),
            digest(make_source("pmg", source_params("pmg", {}), 0, 64).clip(3, 4, 1))]
    assert out == here


def test_fractal_table_matches_the_search():
    for c in (16, 52, 11, 4):  # categories whose search ends early (the table was made by the same search)
        assert fractal_search(0, c) == SEED0_ATTEMPTS[c]
    assert len(SEED0_ATTEMPTS) == 1000


def test_other_pool_seeds_search_on_the_fly():
    pool = FractalPool(seed=3, size=2)
    maps, probs = pool.category(0)
    assert 2 <= len(maps) <= 7 and probs.sum() == pytest.approx(1)
    assert pool.image(0).shape == (512, 512, 3)


def test_synthetic_pool_sizes():
    pool = make_pool("visual-atom:50")
    assert len(pool) == 50 and pool.info()["categories"] == 50
    assert pool.image(49).shape == (512, 512, 3)
    with pytest.raises(IndexError):
        pool.image(50)
    with pytest.raises(BenchError, match="only the synthetic pools take a size"):
        make_pool("bundled:5")
    with pytest.raises(BenchError, match="fractal:0': the size after ':' must be a whole number >= 1"):
        make_pool("fractal:0")


def test_folder_of_unreadable_images_fails_at_once(tmp_path):
    for i in range(20):
        (tmp_path / f"{i:02d}.png").write_bytes(b"broken")
    with pytest.raises(BenchError, match="none of the 16 images tried can be read"):
        FolderPool(tmp_path)
