"""The layering contract (pyproject.toml, ``[tool.importlinter]``) holds, and breaks on an upward import.

import-linter reads every import statement, function-level ones included, so a lazy
``from kick_models... import`` inside a compressors function is caught as well as a top-level one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("kick_core", "compressors", "kick_tasks", "kick_models")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300)


def copy_tree(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_repository_keeps_its_layers():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # a function-level upward import: compressors (lower) reaching into the report (top)
        ("compressors/recipe.py", "\n\ndef _upward():\n    from kick_models.report import compare  # noqa\n",
         "kick_models above kick_tasks and compressors"),
        # the bottom layer importing a package above it
        ("kick_core/names.py", "\nimport compressors.recipe  # noqa\n", "kick_models above kick_tasks and compressors"),
        # inside kick_models: the cache (bottom) importing the sweep (top)
        ("kick_models/checkpoint_cache.py", "\nimport kick_models.sweep  # noqa\n", "kick_models: CLI, then sweep"),
        # compressors and kick_tasks are independent
        ("kick_tasks/data.py", "\nimport compressors.recipe  # noqa\n", "kick_models above kick_tasks and compressors"),
    ],
)
def test_an_upward_import_breaks_the_contract(tmp_path, module, line, broken):
    root = copy_tree(tmp_path)
    with open(root / module, "a") as handle:
        handle.write(line)
    result = lint(root)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert broken in " ".join(result.stdout.split())  # contract names wrap in the output
