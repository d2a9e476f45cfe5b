"""The import graph (every import statement, file -> file, lazy ones included) runs one way: no module imports a
module of a higher layer, and there is no cycle. The layers are README's "Architecture"."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "benchmark"
# bottom to top; a module may import its own layer and the ones below
LAYERS = [
    ["errors", "registry", "runtime", "config", "stats", "render"],
    ["data", "models", "environment"],
    ["tasks"],
    ["sources"],
    ["inits"],
    ["train"],
    ["evaluate"],
    ["stages"],
    ["records"],
    ["run", "generate", "export"],
    ["report", "speed", "analyze"],
    ["sweep", "launch"],
    ["cli", "__main__"],
]


def modules() -> dict[str, Path]:
    out = {}
    for f in PACKAGE.rglob("*.py"):
        if "baselines" in f.parts:
            continue
        name = ".".join(f.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        out[name] = f
    return out


def graph() -> dict[str, set[str]]:
    mods = modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m, f in mods.items():
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for t in targets:
                while t.startswith("benchmark") and t not in mods:
                    t = t.rpartition(".")[0]
                if t.startswith("benchmark.") and t != m:
                    edges[m].add(t)
    return edges


def layer(module: str) -> int:
    top = module.split(".")[1]
    for k, names in enumerate(LAYERS):
        if top in names:
            return k
    raise AssertionError(f"{module} is in no layer: add it to LAYERS here and to README's architecture")


def test_no_import_runs_up_a_layer():
    up = [(m, t) for m, ts in graph().items() for t in ts if m != "benchmark" and layer(t) > layer(m)]
    assert up == []


def test_no_import_cycle():
    edges = graph()
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for t in sorted(edges[m]):
            assert state.get(t) != 1, f"import cycle: {' -> '.join(path + [m, t])}"
            if t not in state:
                visit(t, path + [m])
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m, [])
