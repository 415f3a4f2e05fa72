"""Four shards extracted separately and read as one store: the same videos, frames and training
batches as one store of everything; and every way a set of shards can be wrong is named when it
is opened."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from sparsevl.cli import main
from sparsevl.config import from_dict, save_config
from sparsevl.data.clips import videos_in_store
from sparsevl.data.demo_data import DemoSpec, generate
from sparsevl.data.extract_frames import extract_frames
from sparsevl.data.shard_plan import Shard, shard_of
from sparsevl.data.sharded_store import (
    DuplicateVideoError,
    MissingShardError,
    ShardedStore,
    ShardSettingsMismatch,
    index_shards,
)
from sparsevl.data.store import open_vis_db
from sparsevl.data.vis_db import VisDB
from sparsevl.problems import ProblemLog
from sparsevl.runner.checkpoint import latest_checkpoint, load_checkpoint
from sparsevl.runner.evaluate import evaluate
from sparsevl.runner.train import EpochSampler, train
from sparsevl.tasks.config import RunConfig
from sparsevl.tasks.registry import build_task
from sparsevl.txt_db import load_split
from txt_db_tools.activitynet_qa import convert

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # one thread: runs repeat bit for bit
SETTINGS = {"num_frames": 8, "max_size": 32, "workers": 0, "progress": False}


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[str, Path]:
    """One store of every video, and the same videos as 4 shards, each extracted on its own from a
    video list (as 4 machines would), then indexed."""
    root = tmp_path_factory.mktemp("shards")
    generate(root / "demo", DemoSpec(num_videos=23, seed=5), progress=False)
    convert(root / "demo" / "annotations", root / "txt_db", quiet=True)
    extract_frames(root / "demo" / "videos", root / "one", **SETTINGS)
    listed = root / "videos.txt"
    listed.write_text("".join(f"demo/videos/{p.name}\n" for p in sorted((root / "demo" / "videos").iterdir())))
    for i in range(4):
        assert main(["extract-frames", "--video-list", str(listed), str(root / "shards" / f"shard_{i}"),
                     "--shard", f"{i}/4", "--num-frames", "8", "--max-size", "32", "--workers", "0"]) == 0
    assert main(["vis-db", "index", str(root / "shards")]) == 0
    return {"root": root, "one": root / "one", "shards": root / "shards", "txt_db": root / "txt_db", "list": listed}


def config(stores: dict, vis_db, output_dir: Path) -> RunConfig:
    return from_dict(RunConfig, {
        "task": "video_qa", "txt_db": str(stores["txt_db"]), "vis_db": vis_db, "output_dir": str(output_dir),
        "val_split": None, "model": {"backbone_channels": 16, "backbone_blocks": 3, "hidden_size": 32,
                                     "num_layers": 1, "num_heads": 2, "intermediate_size": 64, "dropout": 0.0,
                                     "num_frm": 2},
        "train_n_clips": 2, "img_size": 32, "train_batch_size": 4, "num_epochs": 2, "warmup_ratio": 0.0,
        "log_every_steps": 1, "seed": 9, "device": "cpu",
    })


def test_the_shards_hold_every_video_once_with_the_same_frames(stores):
    one = VisDB(stores["one"])
    sharded = open_vis_db(str(stores["shards"]))
    assert isinstance(sharded, ShardedStore) and len(sharded.stores) == 4
    assert sorted(sharded.video_ids()) == sorted(one.video_ids()) and len(one) == 23
    for store in sharded.stores:
        index = int(store.path.name.split("_")[1])
        assert all(shard_of(v, 4) == index for v in store.video_ids())
    for video_id in one.video_ids():
        meta = one.meta(video_id)
        assert sharded.meta(video_id) == meta
        every = list(range(meta.num_frames))
        assert np.array_equal(sharded.frames(video_id, every), one.frames(video_id, every))
    assert sharded.settings() == one.settings()
    manifest = json.loads((stores["shards"] / "manifest.json").read_text())
    assert [(s["path"], s["shard"]) for s in manifest["shards"]] == [(f"shard_{i}", f"{i}/4") for i in range(4)]
    assert manifest["videos"] == 23 and sum(s["videos"] for s in manifest["shards"]) == 23
    # the same txt_db records find their frames
    for split in ("train", "val", "test"):
        videos = [r["video_id"] for r in load_split(stores["txt_db"], split)]
        assert videos_in_store(videos, sharded) == videos_in_store(videos, one) == set(videos)


def test_training_on_the_shards_reads_the_same_batches_and_ends_with_the_same_weights(stores, tmp_path):
    as_list = [str(stores["shards"] / f"shard_{i}") for i in (2, 0, 3, 1)]  # a list, in any order
    runs = {"one": str(stores["one"]), "folder": str(stores["shards"]), "list": as_list}
    batches = {}
    for name, vis_db in runs.items():
        cfg = config(stores, vis_db, tmp_path / name)
        task = build_task(cfg, ProblemLog())
        dataset = task.dataset("train", train=True)
        sampler = EpochSampler(len(dataset), cfg.seed)
        loader = DataLoader(dataset, batch_size=cfg.train_batch_size, sampler=sampler, collate_fn=task.collator)
        batches[name] = []
        for epoch in range(2):
            dataset.set_epoch(epoch)
            sampler.set_position(epoch)
            batches[name] += list(loader)
        train(cfg, progress=False)
    for name in ("folder", "list"):
        assert len(batches[name]) == len(batches["one"]) > 4
        for a, b in zip(batches[name], batches["one"]):
            assert a.keys() == b.keys()
            for key in a:
                assert torch.equal(a[key], b[key]) if torch.is_tensor(a[key]) else a[key] == b[key], key
        weights = load_checkpoint(latest_checkpoint(tmp_path / name))["model"]
        reference = load_checkpoint(latest_checkpoint(tmp_path / "one"))["model"]
        assert all(torch.equal(weights[k], reference[k]) for k in reference)
    # the checkpoint keeps the shards' common settings, for `sparsevl predict`
    state = load_checkpoint(latest_checkpoint(tmp_path / "folder"))
    assert state["task"]["vis_db_settings"] == VisDB(stores["one"]).settings().to_dict()
    # evaluation reads them as one too: a list given on the command line, the folder, one store
    checkpoint = latest_checkpoint(tmp_path / "one")
    results = [evaluate(checkpoint, "test", ["--vis_db", vis_db], out_dir=tmp_path / f"eval{i}")[0].metrics
               for i, vis_db in enumerate((json.dumps(as_list), str(stores["shards"]), str(stores["one"])))]
    assert results[0] == results[1] == results[2]
    with pytest.raises(MissingShardError):  # (the list given is the one read)
        evaluate(checkpoint, "test", ["--vis_db", json.dumps(as_list[:3])], out_dir=tmp_path / "eval_missing")


def _copy_shards(stores: dict, tmp_path: Path, keep=range(4)) -> Path:
    folder = tmp_path / "shards"
    for i in keep:
        shutil.copytree(stores["shards"] / f"shard_{i}", folder / f"shard_{i}")
    return folder


def test_a_missing_shard_is_named(stores, tmp_path, capsys):
    folder = _copy_shards(stores, tmp_path, keep=(0, 1, 3))
    with pytest.raises(MissingShardError, match=r"1 of 4 shards missing: 2/4 \(have: 0/4 at "):
        index_shards(folder)
    assert not (folder / "manifest.json").exists()
    with pytest.raises(MissingShardError, match="2/4"):
        open_vis_db([str(folder / f"shard_{i}") for i in (0, 1, 3)])
    with pytest.raises(MissingShardError, match="is shard 1/4 alone"):
        open_vis_db(str(folder / "shard_1"))
    # a shard deleted after indexing: the manifest names it
    shutil.copytree(stores["shards"] / "shard_2", folder / "shard_2")
    index_shards(folder)
    shutil.rmtree(folder / "shard_3")
    with pytest.raises(MissingShardError, match=r"lists 4 shards; 1 not there: .*shard_3"):
        open_vis_db(str(folder))
    # the command line says it in one line, before training starts
    save_config(config(stores, str(folder), tmp_path / "run"), tmp_path / "run.json")
    assert main(["train", "--config", str(tmp_path / "run.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sparsevl train: ") and "shard_3" in err and "\n" not in err
    assert not (tmp_path / "run" / "log.jsonl").exists()


def test_a_video_in_two_stores_is_named(stores, tmp_path, capsys):
    """Stores extracted from overlapping lists (without --shard, so nothing else flags them)."""
    videos = sorted((stores["root"] / "demo" / "videos").iterdir())
    folder = tmp_path / "stores"
    extract_frames(None, folder / "a", videos=videos[:12], **SETTINGS)
    extract_frames(None, folder / "b", videos=videos[10:], **SETTINGS)
    assert main(["vis-db", "index", str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"video '{videos[10].stem}' is in two shards: {folder / 'a'} and {folder / 'b'}" in err
    assert err.count("\n") == 1 and not (folder / "manifest.json").exists()
    with pytest.raises(DuplicateVideoError):
        open_vis_db([str(folder / "a"), str(folder / "b")])


def test_shards_with_other_settings_are_named(stores, tmp_path):
    folder = _copy_shards(stores, tmp_path, keep=(0, 1, 2))
    extract_frames(None, folder / "shard_3", videos=sorted((stores["root"] / "demo" / "videos").iterdir()),
                   shard=Shard(3, 4), **{**SETTINGS, "max_size": 48})
    with pytest.raises(ShardSettingsMismatch, match=r"shard_3 \(max_size: 32 vs 48\)"):
        index_shards(folder)


def test_plain_stores_listed_together_are_one_store(stores, tmp_path):
    videos = sorted((stores["root"] / "demo" / "videos").iterdir())
    extract_frames(None, tmp_path / "a", videos=videos[:10], **SETTINGS)
    extract_frames(None, tmp_path / "b", videos=videos[10:], **SETTINGS)
    store = open_vis_db([str(tmp_path / "a"), str(tmp_path / "b")])
    assert sorted(store.video_ids()) == sorted(VisDB(stores["one"]).video_ids())
    with pytest.raises(Exception, match="was extracted without --shard"):
        open_vis_db([str(tmp_path / "a"), str(stores["shards"] / "shard_0")])
