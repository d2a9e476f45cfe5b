"""The package as users install it: a wheel holds the protocols and the published tables, and an installed copy
(not the checkout) runs from another directory."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_wheel_holds_data_and_runs_from_another_directory(tmp_path):
    wheels = tmp_path / "wheels"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                            str(wheels), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = wheels.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder, suffix in (("protocols", ".yaml"), ("baselines", ".yaml")):
        shipped = {Path(n).name for n in names if n.startswith(f"benchmark/{folder}/") and n.endswith(suffix)}
        here = {p.name for p in (ROOT / ("benchmark" if folder == "protocols" else "") / folder).glob(f"*{suffix}")}
        assert here and shipped == here, folder
    packages = {str(p.parent.relative_to(ROOT)) for p in (ROOT / "benchmark").rglob("*.py")
                if "baselines" not in p.parts}
    assert {p for p in packages if not any(n.startswith(p + "/") for n in names)} == set()

    site = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
                                str(wheel)], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run([sys.executable, "-c", "import benchmark; print(benchmark.__file__)"], cwd=elsewhere,
                           env=env, capture_output=True, text=True, timeout=60)
    assert where.stdout.startswith(str(site)), where.stdout + where.stderr  # the installed copy, not the checkout
    paper = subprocess.run([sys.executable, "-m", "benchmark", "paper", "yu2024", "--table", "1"], cwd=elsewhere,
                           env=env, capture_output=True, text=True, timeout=120)
    assert paper.returncode == 0 and "51.4" in paper.stdout, paper.stderr[-2000:]
    from tests.conftest import MICRO
    run = subprocess.run([sys.executable, "-m", "benchmark", "run", "--source", "pmg"]
                         + [x for item in MICRO for x in ("--set", item)], cwd=elsewhere, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert list((elsewhere / "runs" / "results").rglob("pmg-s0-*.json"))
