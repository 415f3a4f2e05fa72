"""A regular (non-editable) `pip install .` works from any folder: the shipped configs are package
data, found without the repository."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# A tiny model and two steps: this checks the installation, not the demo's accuracy.
QUICK_DEMO = ["--num-videos", "20", "--max_steps", "2", "--train_batch_size", "4", "--val_split", "null",
              "--model.hidden_size", "32", "--model.num_heads", "2", "--model.num_layers", "1",
              "--model.intermediate_size", "64"]


def run(cmd: list, cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # only the installed copy
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def install(tmp_path: Path, system_site_packages: bool) -> Path:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True, system_site_packages=system_site_packages)
    python = env_dir / "bin" / "python"
    # with the machine's packages: only this project goes in; a bare venv gets all of its dependencies
    # (torch pinned to the CPU build on this machine's disk, as scripts/setup.sh installs it)
    deps = ["--no-deps"] if system_site_packages else []
    run([python, "-m", "pip", "install", "-q", *deps, ROOT], cwd=tmp_path)
    return env_dir


def check_installed_demo(env_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = run([env_dir / "bin" / "python", "-c", "import sparsevl; print(sparsevl.__file__)"], cwd=elsewhere)
    assert Path(where.stdout.strip()).is_relative_to(env_dir)  # the installed copy, not the source tree
    result = run([env_dir / "bin" / "sparsevl", "demo", "--out", tmp_path / "demo", *QUICK_DEMO], cwd=elsewhere)
    assert "demo finished" in result.stdout
    assert list((tmp_path / "demo" / "runs" / "demo_qa" / "results").glob("test_step2_accuracy.json"))
    assert "sparsevl report: demo_qa" in (tmp_path / "demo" / "report.html").read_text()


def test_regular_install_runs_the_demo_from_another_folder(tmp_path):
    check_installed_demo(install(tmp_path, system_site_packages=True), tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the CPU torch wheel on disk is for Python 3.11")
def test_install_into_a_bare_virtualenv_runs_the_demo(tmp_path):
    check_installed_demo(install(tmp_path, system_site_packages=False), tmp_path)
