"""The public API: ``padless`` and each subpackage export their names lazily (PEP 562).

Each package ``__init__`` lists its exports three times by necessity (``__all__``, the lazy
table, and the ``TYPE_CHECKING`` imports type checkers read); these tests keep the three equal
and check that every name resolves to the object its defining module holds.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import padless

SRC = Path(__file__).resolve().parents[1] / "src" / "padless"
PACKAGES = ["padless"] + [
    f"padless.{p.name}" for p in sorted(SRC.iterdir()) if (p / "__init__.py").is_file()
]


def _type_checking_imports(package: str) -> dict[str, str]:
    """``{name: module}`` imported under ``if TYPE_CHECKING:`` in the package's __init__."""
    path = SRC.parent / package.replace(".", "/") / "__init__.py"
    found = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for imp in ast.walk(node):
                if isinstance(imp, ast.ImportFrom):
                    found.update({a.asname or a.name: imp.module for a in imp.names})
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_exports_resolve_and_match_the_type_checking_imports(package):
    mod = importlib.import_module(package)
    table = {n: f"{package}.{m}" for n, m in mod._EXPORTS.items()}
    public = set(mod.__all__) - {"__version__"}
    assert public == set(table), f"__all__ and _EXPORTS differ: {public ^ set(table)}"
    assert _type_checking_imports(package) == table
    for name, module in table.items():
        assert getattr(mod, name) is getattr(importlib.import_module(module), name)
        assert name in dir(mod)


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        padless.nope  # noqa: B018


def test_the_readme_names_resolve():
    """What the README imports from the top level and the packages."""
    from padless.batching import BucketBatchSampler, collate  # noqa: F401
    from padless.data import read_text_table  # noqa: F401
    from padless.models import RecurrentEncoder  # noqa: F401
    from padless.train import train  # noqa: F401

    assert callable(padless.load) and padless.__version__
