"""Fault suite, 4: SIGKILL at random points, during a checkpoint save, during evaluation and during
extraction. A run resumed after each kill ends with exactly the weights of an uninterrupted run,
the last good checkpoint always loads, and an extraction has every video once with the bytes a
clean run writes. (Slow: these start many processes; `.ci/run` runs them.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import lmdb
import numpy as np
import pytest
import torch

from sparsevl.runner.checkpoint import latest_checkpoint, load_checkpoint

pytestmark = pytest.mark.slow

# Starts `sparsevl` after patching, from the test's side, the step to be interrupted: it then
# leaves a marker file and waits to be killed.
WRAPPER = '''
import sys, time, pathlib, torch
marker, mode = pathlib.Path(sys.argv[1]), sys.argv[2]

def stall():
    marker.touch()
    time.sleep(600)

if mode == "save":  # the second checkpoint: half written, then the process dies
    real_save, calls = torch.save, [0]
    def save(obj, f, *args, **kwargs):
        calls[0] += 1
        if calls[0] == 2:
            f.write(b"half a checkpoint")
            f.flush()
            stall()
        return real_save(obj, f, *args, **kwargs)
    torch.save = save
elif mode == "evaluate":  # the first validation
    from sparsevl.tasks.video_qa import VideoQATask
    real_evaluate = VideoQATask.evaluate
    def evaluate(self, *args, **kwargs):
        stall()
    VideoQATask.evaluate = evaluate
from sparsevl.cli import main
sys.exit(main(sys.argv[3:]))
'''


def sparsevl(*args, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sparsevl", *map(str, args)], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen) -> None:
    _, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-3000:]


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(latest_checkpoint(run))["model"]


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture
def training(demo_data, tmp_path, config):
    """The reference run (uninterrupted) and the config file for the runs to be killed."""
    def config_file(name: str) -> Path:
        return config(demo_data, tmp_path / name, as_file=tmp_path / f"{name}.json", max_steps=10,
                      save_every_steps=2, valid_every_epochs=1, model={"dropout": 0.1})

    finish(sparsevl("train", "--config", config_file("reference"), cwd=tmp_path))
    return weights(tmp_path / "reference"), config_file


def continue_after(killed: subprocess.Popen, run: Path, config_file: Path, cwd: Path) -> subprocess.Popen:
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    if latest_checkpoint(run) is not None:
        load_checkpoint(latest_checkpoint(run))  # the last good checkpoint is whole
        return sparsevl("train", "--config", config_file, "--resume", cwd=cwd)
    return sparsevl("train", "--config", config_file, "--overwrite", cwd=cwd)


def test_killed_at_random_points_and_resumed_ends_with_the_uninterrupted_weights(training, tmp_path):
    expected, config_file = training
    rng = np.random.default_rng(2026)
    for trial in range(2):
        run, path = tmp_path / f"killed{trial}", config_file(f"killed{trial}")
        process = sparsevl("train", "--config", path, cwd=tmp_path)
        for _ in range(3):  # three kills per run, each at a random moment (start-up, a step, a save, validation)
            time.sleep(rng.uniform(2.0, 8.0))
            if process.poll() is not None:
                break
            process = continue_after(process, run, path, tmp_path)
        finish(process)
        assert_same(weights(run), expected)


@pytest.mark.parametrize("mode", ["save", "evaluate"])
def test_killed_while_saving_or_evaluating(training, tmp_path, mode):
    expected, config_file = training
    run, path = tmp_path / mode, config_file(mode)
    wrapper, marker = tmp_path / "wrapper.py", tmp_path / f"{mode}.marker"
    wrapper.write_text(textwrap.dedent(WRAPPER))
    process = subprocess.Popen([sys.executable, wrapper, marker, mode, "train", "--config", path], cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not marker.exists():
        assert process.poll() is None and time.time() < deadline, process.stderr.read()[-3000:] if process.poll() else ""
        time.sleep(0.05)
    if mode == "save":
        assert [p.name for p in (run / "ckpt").glob("step_*.pt")] == ["step_0000002.pt"]  # the one before
        assert list((run / "ckpt").glob(".step_0000004.pt.*.tmp"))  # the half-written one, under another name
    process = continue_after(process, run, path, tmp_path)
    finish(process)
    assert not list((run / "ckpt").glob("*.tmp"))
    assert_same(weights(run), expected)


def store_contents(store: Path) -> dict[bytes, bytes]:
    env = lmdb.open(str(store), readonly=True, lock=False)
    with env.begin() as txn:
        contents = dict(txn.cursor())
    env.close()
    return contents


def test_extraction_killed_at_random_points_has_every_video_once(synth, tmp_path):
    videos = tmp_path / "videos"
    for i in range(24):
        synth.write(videos / f"v{i:02d}.mp4", 40, fps=10, size=(96, 64))
    args = ["extract-frames", videos, "--fps", "4", "--max-size", "48", "--workers", "2"]
    finish(sparsevl(*args, tmp_path / "clean", cwd=tmp_path))
    rng = np.random.default_rng(7)
    process = sparsevl(*args, tmp_path / "killed", cwd=tmp_path)
    for _ in range(3):
        time.sleep(rng.uniform(1.5, 4.0))
        if process.poll() is not None:
            break
        os.kill(process.pid, signal.SIGKILL)  # workers notice their parent is gone and exit
        process.wait()
        process = sparsevl(*args, tmp_path / "killed", cwd=tmp_path)
    finish(process)
    assert store_contents(tmp_path / "killed") == store_contents(tmp_path / "clean")
