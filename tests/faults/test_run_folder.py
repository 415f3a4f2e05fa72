"""Fault suite: a run folder belongs to one run, a resumed run is the run it continues, and the
files a run writes are readable by others."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import torch

from sparsevl.cli import main
from sparsevl.runner.checkpoint import latest_checkpoint, load_checkpoint
from sparsevl.runner.runtime import generator_states, restore_generators
from sparsevl.runner.train import train


def log_steps(run: Path) -> list[int]:
    return [e["step"] for e in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if "train/loss" in e]


def test_a_second_run_into_a_used_output_dir_is_refused_and_overwrite_replaces_it(demo_data, tmp_path, config, capsys):
    run = tmp_path / "run"
    first = config(demo_data, run, as_file=tmp_path / "first.json", max_steps=4, val_split=None)
    assert main(["train", "--config", str(first)]) == 0
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    capsys.readouterr()

    second = config(demo_data, run, as_file=tmp_path / "second.json", max_steps=2, val_split=None)
    assert main(["train", "--config", str(second)]) == 2
    err = capsys.readouterr().err
    assert err == (f"sparsevl train: output_dir {run} is not empty (another run is there): --resume continues it, "
                   "--overwrite replaces it, or choose another output_dir\n")
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before  # untouched

    assert main(["train", "--config", str(second), "--overwrite"]) == 0
    assert sorted(p.name for p in (run / "ckpt").iterdir()) == ["step_0000002.pt"]  # no stale step 4
    assert latest_checkpoint(run).name == "step_0000002.pt"
    assert log_steps(run) == [1, 2]  # the log is this run's alone
    assert json.loads((run / "config.json").read_text())["max_steps"] == 2


def test_resume_refuses_another_config_naming_the_keys_and_keeps_the_saved_one(demo_data, tmp_path, config, capsys):
    run = tmp_path / "run"
    path = config(demo_data, run, as_file=tmp_path / "c.json", max_steps=2, val_split=None)
    assert main(["train", "--config", str(path)]) == 0
    saved = (run / "config.json").read_text()
    capsys.readouterr()
    assert main(["train", "--config", str(path), "--resume", "--lr", "0.5", "--model.hidden_size", "32"]) == 2
    err = capsys.readouterr().err
    assert "the config differs from the one" in err and "lr, model.hidden_size" in err
    # a longer run may continue: max_steps is allowed to change
    assert main(["train", "--config", str(path), "--resume", "--max_steps", "4"]) == 0
    assert (run / "config.json").read_text() == saved  # the run's config stays the one it started with
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [e["resume/changed"] for e in log if "resume/changed" in e] == [["max_steps"]]
    assert log_steps(run) == [1, 2, 3, 4]


def test_the_demo_continues_its_training_stage(tmp_path, capsys):
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--num-videos", "12", "--max_steps", "4", "--save_every_steps", "2",
            "--val_split", "null", "--train_batch_size", "4", "--model.hidden_size", "32", "--model.num_heads", "2",
            "--model.num_layers", "1", "--model.intermediate_size", "64"]
    assert main(args) == 0
    run = out / "runs" / "demo_qa"
    finished = load_checkpoint(run / "ckpt" / "step_0000004.pt")["model"]
    (run / "ckpt" / "step_0000004.pt").unlink()  # as if the demo had been stopped after step 2
    capsys.readouterr()
    assert main(args) == 0
    out_text = capsys.readouterr().out
    assert "training -> " in out_text and "(continuing)" in out_text and "resuming at step 2" in out_text
    again = load_checkpoint(run / "ckpt" / "step_0000004.pt")["model"]
    assert all(torch.equal(finished[k], again[k]) for k in finished)


def test_every_cuda_generator_is_saved_and_restored(monkeypatch):
    """What a GPU run saves (the CPU generator and each device's), restored as it was: checked with
    stand-ins for the CUDA calls, since this machine has no GPU."""
    devices = [torch.ByteTensor([1, 2, 3]), torch.ByteTensor([4, 5, 6])]
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: [d.clone() for d in devices])
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", lambda states: restored.extend(states))
    states = generator_states()
    assert [s.tolist() for s in states["cuda"]] == [[1, 2, 3], [4, 5, 6]]
    cpu_draw = torch.rand(3)
    restore_generators(states)
    assert [s.tolist() for s in restored] == [[1, 2, 3], [4, 5, 6]]
    assert torch.equal(torch.rand(3), cpu_draw)  # the CPU generator is back where it was
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(Exception, match="2 CUDA device"):
        restore_generators(states)


def test_run_files_are_readable_by_others(demo_data, tmp_path, config):
    run = tmp_path / "run"
    train(config(demo_data, run, max_steps=1, val_split=None), progress=False)
    for path in (run / "config.json", run / "log.jsonl", run / "ckpt" / "step_0000001.pt"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o044 == 0o044, path  # group and others may read
