"""The layering of docs/architecture.md, as the import contracts in pyproject.toml check it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = shutil.which("lint-imports")

pytestmark = pytest.mark.skipif(LINT_IMPORTS is None, reason="import-linter is not installed (pip install -e '.[dev]')")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """`lint-imports` on the packages under `root` (its src/ and txt_db_tools/), with root's contracts."""
    env = {**os.environ, "PYTHONPATH": f"{root / 'src'}{os.pathsep}{root}"}
    return subprocess.run([LINT_IMPORTS, "--config", str(root / "pyproject.toml"), "--no-cache"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=120)


def test_the_import_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Contracts: 2 kept, 0 broken." in result.stdout


@pytest.mark.parametrize("module,upward", [
    ("src/sparsevl/models/aggregation.py", "import sparsevl.runner.train"),  # a model reaching up to a driver
    ("src/sparsevl/tasks/common.py", "import sparsevl.cli"),  # a task reaching up to the command line
    ("txt_db_tools/common.py", "import sparsevl.tasks.registry"),  # a converter reaching into the tasks
])
def test_an_upward_import_breaks_a_contract(tmp_path, module, upward):
    copy = tmp_path / "repo"
    copy.mkdir()
    shutil.copy(ROOT / "pyproject.toml", copy)
    for folder in ("src", "txt_db_tools"):
        shutil.copytree(ROOT / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    target.write_text(target.read_text() + f"\n{upward}  # added by the test\n")
    result = lint_imports(copy)
    assert result.returncode == 1, result.stdout[-3000:]
    assert "BROKEN" in result.stdout and upward.split()[-1] in result.stdout
