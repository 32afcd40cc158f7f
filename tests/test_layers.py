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


def test_the_makefile_and_the_bentofile_repeat_the_offline_environment_exactly():
    import re

    import yaml

    from model.environment import OFFLINE_ENVIRONMENT

    must_hold = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "BENTOML_DO_NOT_TRACK", "TOKENIZERS_PARALLELISM")
    bento_envs = {env["name"]: env["value"] for env in yaml.safe_load((PROJECT_DIR / "bentofile.yaml").read_text())["envs"]}
    make_exports = dict(re.findall(r"^export (\w+) := (\S+)$", (PROJECT_DIR / "Makefile").read_text(), re.M))
    for name in must_hold:
        assert bento_envs.get(name) == OFFLINE_ENVIRONMENT[name], f"bentofile.yaml: {name}"
        assert make_exports.get(name) == OFFLINE_ENVIRONMENT[name], f"Makefile: {name}"
