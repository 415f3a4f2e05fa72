"""Fault suite, 5 and 6: untrusted and mismatched files, and configs that cannot work.

A checkpoint that holds pickled objects is refused (never unpickled); a checkpoint of another
model is refused naming the tensors that differ; a store is opened read-only in DataLoader
workers and read correctly after a fork. A config with an unknown key, a wrong type or an
impossible combination is refused before any work starts, naming the key.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from sparsevl.cli import main
from sparsevl.data.vis_db import VisDB
from sparsevl.runner.train import train


class Payload:
    """Unpickling this would run code: a checkpoint must never be able to do that."""

    def __reduce__(self):
        return (os.system, ("touch /tmp/sparsevl_pickle_ran",))


def test_a_checkpoint_holding_pickled_objects_is_refused_without_running_them(tmp_path, capsys):
    evil = tmp_path / "evil.pt"
    torch.save({"model": {}, "config": {}, "task": {}, "payload": Payload()}, evil)
    Path("/tmp/sparsevl_pickle_ran").unlink(missing_ok=True)
    assert main(["evaluate", "--checkpoint", str(evil)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sparsevl evaluate: {evil} cannot be read as a checkpoint (torch.load with weights_only=True)")
    assert err.count("\n") == 1
    assert not Path("/tmp/sparsevl_pickle_ran").exists()


def test_a_checkpoint_of_another_model_is_refused_naming_the_tensors(demo_data, tmp_path, config, capsys):
    train(config(demo_data, tmp_path / "run", max_steps=1, val_split=None), progress=False)
    checkpoint = tmp_path / "run" / "ckpt" / "step_0000001.pt"
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--split", "val", "--model.hidden_size", "32"]) == 2
    err = capsys.readouterr().err
    assert f"sparsevl evaluate: {checkpoint} does not fit VideoQAModel:" in err
    assert "shape mismatches: " in err and "cross.bert.embeddings.word_embeddings.weight" in err


def test_stores_are_read_only_and_fork_safe_in_dataloader_workers(demo_data):
    store = VisDB(demo_data["vis_db"])
    video_ids = store.video_ids()
    expected = [store.frames(v, [0, 3]) for v in video_ids]  # opened in this process before the fork
    files = sorted(demo_data["vis_db"].iterdir())
    before = {p.name: (p.stat().st_mtime_ns, stat.S_IMODE(p.stat().st_mode)) for p in files}

    class Frames(torch.utils.data.Dataset):
        def __len__(self):
            return len(video_ids)

        def __getitem__(self, i):
            return store.frames(video_ids[i], [0, 3])

    loader = DataLoader(Frames(), batch_size=None, num_workers=2, multiprocessing_context="fork")
    got = [np.asarray(batch) for batch in loader]
    assert all(np.array_equal(a, b) for a, b in zip(got, expected)) and len(got) == len(expected)
    after = {p.name: (p.stat().st_mtime_ns, stat.S_IMODE(p.stat().st_mode)) for p in sorted(demo_data["vis_db"].iterdir())}
    assert after == before  # nothing written, no lock file made


@pytest.mark.parametrize("override,says", [
    (["--modle.hidden_size", "3"], "modle.hidden_size: unknown key"),
    (["--lr", "fast"], "lr: expected float, got 'fast'"),
    (["--model.num_frm", "9"], "model.num_frm: 9 frames per clip, but the vis_db at"),
    (["--retrieval.itm_negatives", "hard"], "retrieval: itm_negatives = hard needs objective = itm+contrastive"),
    (["--task", "captioning"], "unknown task 'captioning'"),
])
def test_impossible_configs_are_refused_before_any_work_naming_the_key(demo_data, tmp_path, config, capsys,
                                                                       override, says):
    run = tmp_path / "run"
    path = config(demo_data, run, as_file=tmp_path / "c.json")
    assert main(["train", "--config", str(path), *override]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err, err
    assert not run.exists()
