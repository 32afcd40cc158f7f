"""The layers point one way: model/ is the bottom, training/ and service/ build on it, never on each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import PROJECT_DIR

FORBIDDEN = {"model": ("training", "service"), "service": ("training",), "training": ("service",)}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_module_imports_a_layer_it_must_not(package):
    offenders = {
        str(path.relative_to(PROJECT_DIR)): sorted(imported_packages(path) & set(FORBIDDEN[package]))
        for path in (PROJECT_DIR / package).glob("*.py")
    }
    assert {name: found for name, found in offenders.items() if found} == {}
