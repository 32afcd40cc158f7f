"""The layers point one way: model/ is the bottom, training/ and service/ build on it, never on each other."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import PROJECT_DIR

FORBIDDEN = {"model": ("training", "service"), "service": ("training",), "training": ("service",)}


def imported_packages(path: Path) -> set[str]:
    """Top-level packages a module imports, by statement or by name (`importlib.import_module("x.y")`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r"\w+(\.\w+)+", node.value):
            # A dotted name in a string may be a module imported by name.
            names.add(node.value.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_module_imports_a_layer_it_must_not(package):
    offenders = {
        str(path.relative_to(PROJECT_DIR)): sorted(imported_packages(path) & set(FORBIDDEN[package]))
        for path in (PROJECT_DIR / package).glob("*.py")
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_makefile_and_the_bentofile_repeat_the_offline_environment_exactly():
    import re

    import yaml

    from model.environment import OFFLINE_ENVIRONMENT

    bento_envs = {env["name"]: env["value"] for env in yaml.safe_load((PROJECT_DIR / "bentofile.yaml").read_text())["envs"]}
    make_exports = dict(re.findall(r"^export (\w+) := (\S+)$", (PROJECT_DIR / "Makefile").read_text(), re.M))
    assert {name: bento_envs.get(name) for name in OFFLINE_ENVIRONMENT} == OFFLINE_ENVIRONMENT
    assert {name: make_exports.get(name) for name in OFFLINE_ENVIRONMENT} == OFFLINE_ENVIRONMENT
