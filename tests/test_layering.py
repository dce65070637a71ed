"""The import direction of padless's packages, read from the source with ``ast``.

Every ``import`` counts, inside functions too (a deferred import still runs); only imports
under ``if TYPE_CHECKING:`` are skipped, since they never execute. The rules:

* each package imports only the packages below it (``LAYERS``); in particular models import
  neither data nor train, and serve and deploy never import train;
* encode (and every module the torch-free edge install runs) imports no torch, directly or
  through another module;
* no module imports another module that, directly or not, imports it back (no cycles).

``test_checker_reports_bad_imports`` runs the same checker on a small package with
deliberate violations, so a rule that stopped firing would fail here too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# What each part may import, besides itself and the root ``padless`` (for __version__ and the
# lazy public API). A prefix allows that module and everything under it.
_CORE = ["padless.cores", "padless.errors", "padless.lazy", "padless.progress"]
LAYERS: dict[str, list[str]] = {
    "padless.errors": [],
    "padless.lazy": [],
    "padless.progress": [],
    "padless.cores": [],
    "padless.config": ["padless.errors", "padless.models.names", "padless.data.sources"],
    "padless.data": [*_CORE, "padless.config"],
    "padless.encode": [*_CORE, "padless.config", "padless.data", "padless.models.names"],
    "padless.batching": [*_CORE],
    "padless.nn": [*_CORE],
    "padless.models": [*_CORE, "padless.config", "padless.nn"],
    "padless.evaluation": [
        *_CORE,
        "padless.encode",
        "padless.batching",
        "padless.nn",
        "padless.models",
    ],
    "padless.deploy": [
        *_CORE,
        "padless.config",
        "padless.data",
        "padless.encode",
        "padless.batching",
        "padless.nn",
        "padless.models",
        "padless.evaluation",
    ],
    "padless.train": [
        *_CORE,
        "padless.config",
        "padless.data",
        "padless.encode",
        "padless.batching",
        "padless.nn",
        "padless.models",
        "padless.evaluation",
        "padless.deploy.artifact",
    ],
    "padless.serve": [
        *_CORE,
        "padless.config",
        "padless.encode",
        "padless.batching",
        "padless.nn",
        "padless.models",
        "padless.deploy",
    ],
    "padless.cli": ["padless"],
    "padless.__main__": ["padless.cli"],
}
# Modules the edge install (ONNX Runtime, no torch) and the config loader run.
TORCH_FREE = [
    "padless",
    "padless.config",
    "padless.data.sources",
    "padless.encode.pipeline",
    "padless.encode.splits",
    "padless.models.names",
    "padless.deploy.predict",
    "padless.deploy.inputs",
    "padless.serve.batcher",
    "padless.serve.sessions",
    "padless.cli",
]


# --------------------------------------------------------------------------------- checker
def _modules(root: Path, package: str) -> dict[str, Path]:
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _runtime_imports(path: Path, module: str) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every import that runs (TYPE_CHECKING blocks skipped)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")
                parent = parent if is_package else parent[:-1]
                parent = parent[: len(parent) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            for alias in node.names:  # `from pkg import mod` imports pkg.mod when it exists
                yield node.lineno, f"{base}.{alias.name}"


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The known module ``name`` names (``a.b.func`` -> ``a.b``), or None if outside."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def _part(module: str, layers: dict[str, list[str]]) -> str | None:
    owners = [p for p in layers if module == p or module.startswith(p + ".")]
    return max(owners, key=len, default=None)


def _allowed(target: str, prefixes: list[str]) -> bool:
    return any(target == p or target.startswith(p + ".") for p in prefixes)


def check(root: Path, package: str, layers: dict[str, list[str]]) -> list[str]:
    """Every import of ``root/package`` that breaks ``layers`` or closes a cycle."""
    known = _modules(root, package)
    problems, graph = [], {}
    for module, path in known.items():
        graph[module] = set()
        part = _part(module, layers)
        for line, name in _runtime_imports(path, module):
            target = _resolve(name, known)
            if target is None or target == module:
                continue
            graph[module].add(target)
            if part is None or target == package or _part(target, layers) == part:
                continue
            if not _allowed(target, layers[part]):
                problems.append(
                    f"{path.relative_to(root)}:{line}: {module} imports {target}; "
                    f"expected only {layers[part] or 'nothing from ' + package}; fix: move the "
                    "shared code down a layer or pass it in as an argument"
                )
    problems += [f"import cycle: {' -> '.join(c)}" for c in _cycles(graph)]
    return problems


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp) + [sorted(comp)[0]])

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


# ----------------------------------------------------------------------------------- tests
def test_every_import_follows_the_layers_and_closes_no_cycle():
    problems = check(SRC, "padless", LAYERS)
    assert not problems, "\n".join(problems)


def test_every_module_belongs_to_a_layer():
    loose = [m for m in _modules(SRC, "padless") if m != "padless" and _part(m, LAYERS) is None]
    assert not loose, f"modules outside LAYERS: {loose}; add them to a package or to LAYERS"


@pytest.mark.parametrize(
    ("part", "forbidden"),
    [
        ("padless.models", "padless.data"),
        ("padless.models", "padless.train"),
        ("padless.serve", "padless.train"),
        ("padless.deploy", "padless.train"),
        ("padless.encode", "padless.batching"),
    ],
)
def test_named_rules_hold(part, forbidden):
    assert not _allowed(forbidden, LAYERS[part])  # the table itself keeps the named rules
    known = _modules(SRC, "padless")
    bad = [
        f"{m} imports {t}"
        for m, path in known.items()
        if _part(m, LAYERS) == part
        for _, name in _runtime_imports(path, m)
        if (t := _resolve(name, known)) and _allowed(t, [forbidden])
    ]
    assert not bad, bad


def test_encode_and_the_edge_path_import_no_torch():
    encode = [m for m in _modules(SRC, "padless") if m.startswith("padless.encode")]
    code = textwrap.dedent(
        f"""
        import importlib, sys
        for name in {encode + TORCH_FREE!r}:
            importlib.import_module(name)
            if "torch" in sys.modules:
                raise SystemExit(f"importing {{name}} imported torch")
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    direct = [
        f"{m}:{line} imports {name}"
        for m, path in _modules(SRC, "padless").items()
        if m.startswith("padless.encode")
        for line, name in _runtime_imports(path, m)
        if name == "torch" or name.startswith("torch.")
    ]
    assert not direct, direct


def test_checker_reports_bad_imports(tmp_path):
    """A deliberate bad import, a forbidden deferred import and a cycle are each reported."""
    pkg = tmp_path / "pkg"
    for sub in ("low", "high"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "low" / "a.py").write_text("from pkg.high.b import thing\n")  # upward import
    (pkg / "low" / "c.py").write_text("def f():\n    import pkg.high.b\n")  # deferred
    (pkg / "high" / "b.py").write_text("from pkg.low import a\nthing = 1\n")  # closes a cycle
    (pkg / "high" / "d.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.high import b\n"
    )
    layers = {"pkg.low": [], "pkg.high": ["pkg.low"]}
    problems = check(tmp_path, "pkg", layers)
    assert any("pkg/low/a.py:1: pkg.low.a imports pkg.high.b" in p for p in problems), problems
    assert any("pkg/low/c.py:2: pkg.low.c imports pkg.high.b" in p for p in problems), problems
    assert any(p.startswith("import cycle: pkg.high.b -> pkg.low.a") for p in problems), problems
    assert len(problems) == 3, problems  # the TYPE_CHECKING import and allowed ones are fine
