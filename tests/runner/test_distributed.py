"""Several processes, resuming, mixed precision: each must end where one plain run would.

Two processes under torchrun (Gloo, CPU) and, where Horovod is installed, under horovodrun, train
on tiny real data and must end with the weights of one process with the same global batch; so do
two "nodes" on this machine (two torchrun launchers meeting at a c10d rendezvous on 127.0.0.1, and
horovodrun with a host list of two names for this machine), launched with the commands
docs/distributed.md gives for several nodes. An interrupted run resumed from its checkpoint must
end with the weights of an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sparsevl.config import from_dict, save_config
from sparsevl.data.demo_data import DemoSpec, generate
from sparsevl.data.extract_frames import extract_frames
from sparsevl.txt_db import load_split, write_jsonl
from sparsevl.dist import Dist, _interleave
from sparsevl.runner.checkpoint import latest_checkpoint, load_checkpoint
from sparsevl.tasks.config import PretrainConfig, RunConfig
from sparsevl.problems import ProblemLog, UserError
from sparsevl.runner.train import EpochSampler, train
from sparsevl.tasks.registry import build_task
from txt_db_tools.activitynet_captions import convert as convert_captions
from txt_db_tools.activitynet_qa import convert as convert_qa

pytestmark = pytest.mark.usefixtures("one_torch_thread")
CHILD_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("dist")
    generate(root / "demo", DemoSpec(num_videos=23, seed=7), progress=False)
    extract_frames(root / "demo" / "videos", root / "vis_db", num_frames=8, max_size=32, workers=0, progress=False)
    convert_captions(root / "demo" / "captions", root / "ret_db", quiet=True)
    convert_qa(root / "demo" / "annotations", root / "qa_db", quiet=True)
    return {"ret_db": root / "ret_db", "qa_db": root / "qa_db", "vis_db": root / "vis_db"}


def retrieval_config(data: dict, output_dir: Path, **changes) -> RunConfig:
    """ITM with cross-entropy over a fixed number of texts per video, no dropout, frozen BN: the
    mean loss of two half batches is the mean loss of the whole batch."""
    cfg = {
        "task": "retrieval", "txt_db": str(data["ret_db"]), "vis_db": str(data["vis_db"]),
        "output_dir": str(output_dir), "train_split": "train", "val_split": None,
        "model": {"backbone_channels": 16, "backbone_blocks": 3, "hidden_size": 32, "num_layers": 1,
                  "num_heads": 2, "intermediate_size": 64, "dropout": 0.0, "max_text_len": 40,
                  "embed_dim": 16, "frozen_bn": True, "num_frm": 2},
        "retrieval": {"objective": "itm", "itm_neg_size": 1},
        "train_n_clips": 1, "inference_n_clips": 1, "img_size": 32,
        "train_batch_size": 4, "val_batch_size": 4, "num_epochs": 2, "warmup_ratio": 0.0,
        "log_every_steps": 1, "seed": 3, "device": "cpu",
    }
    for key, value in changes.items():
        section, _, name = key.rpartition("__")
        (cfg[section] if section else cfg)[name] = value
    return from_dict(RunConfig, cfg)


def final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(latest_checkpoint(run_dir))["model"]


def assert_same_weights(a: dict, b: dict, atol: float = 1e-6) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=atol), f"{k} differs by {(a[k].float() - b[k].float()).abs().max()}"


# ---------------------------------------------------------------------------- pieces


def test_shard_and_gather_give_every_item_once_in_order():
    items = list(range(11))
    for world in (1, 2, 3, 4):
        shards = [items[r::world] for r in range(world)]
        assert sorted(x for s in shards for x in s) == items
        assert _interleave(shards) == items
    assert Dist().gather_lists(Dist().shard(items)) == items


def test_epoch_sampler_splits_each_global_batch_between_processes():
    one = list(EpochSampler(10, seed=1))
    two = [list(EpochSampler(10, seed=1, rank=r, world_size=2)) for r in range(2)]
    assert sorted(one) == list(range(10)) and len(two[0]) == len(two[1]) == 5
    # global batch s of one process (size 4) = the union of the two processes' batches s (size 2)
    for s in range(2):
        assert set(one[4 * s : 4 * s + 4]) == set(two[0][2 * s : 2 * s + 2] + two[1][2 * s : 2 * s + 2])
    odd = [list(EpochSampler(11, seed=1, rank=r, world_size=2)) for r in range(2)]
    assert len(odd[0]) == len(odd[1]) == 5  # equal steps: one item left out this epoch
    sampler = EpochSampler(10, seed=1)
    sampler.set_position(epoch=0, start=6)
    assert list(sampler) == one[6:]
    sampler.set_position(epoch=1)
    assert list(sampler) != one and sorted(sampler) == list(range(10))


# ---------------------------------------------------------------------------- resume


def test_a_killed_run_resumed_ends_with_the_weights_of_an_uninterrupted_run(data, tmp_path, monkeypatch):
    full = retrieval_config(data, tmp_path / "full", save_every_steps=2, model__frozen_bn=False, model__dropout=0.1)
    train(full, progress=False)
    expected = final_weights(tmp_path / "full")

    killed = retrieval_config(data, tmp_path / "killed", save_every_steps=2, model__frozen_bn=False, model__dropout=0.1)
    task_cls = type(build_task(killed, ProblemLog()))
    calls = {"n": 0}
    real_loss = task_cls.loss

    def dying_loss(self, model, batch):
        calls["n"] += 1
        if calls["n"] == 4:  # mid-way through the first epoch (4 steps per epoch), after the step-2 checkpoint
            raise KeyboardInterrupt("killed")
        return real_loss(self, model, batch)

    monkeypatch.setattr(task_cls, "loss", dying_loss)
    with pytest.raises(KeyboardInterrupt):
        train(killed, progress=False)
    monkeypatch.setattr(task_cls, "loss", real_loss)
    assert latest_checkpoint(tmp_path / "killed").name == "step_0000002.pt"
    train(killed, progress=False, resume=True)
    assert_same_weights(final_weights(tmp_path / "killed"), expected, atol=0)


def test_resume_without_a_checkpoint_is_a_clear_error(data, tmp_path):
    with pytest.raises(UserError, match="no checkpoint"):
        train(retrieval_config(data, tmp_path), progress=False, resume=True)


# ---------------------------------------------------------------------------- mixed precision


def test_bf16_training_on_the_cpu_lowers_the_loss(data, tmp_path):
    cfg = retrieval_config(data, tmp_path, amp="bf16", max_steps=12, num_epochs=10, lr=3e-3)
    train(cfg, progress=False)
    losses = [e["train/loss"] for e in map(json.loads, (tmp_path / "log.jsonl").read_text().splitlines())
              if "train/loss" in e]
    assert len(losses) == 12 and sum(losses[-3:]) / 3 < sum(losses[:3]) / 3


def test_fp16_overflowed_steps_are_skipped_and_counted(data, tmp_path, monkeypatch):
    cfg = retrieval_config(data, tmp_path, amp="fp16", max_steps=4)
    task_cls = type(build_task(cfg, ProblemLog()))
    real_loss = task_cls.loss
    calls = {"n": 0}

    def overflowing(self, model, batch):
        calls["n"] += 1
        loss = real_loss(self, model, batch)["loss"]
        return {"loss": loss * float("inf") if calls["n"] == 2 else loss}

    monkeypatch.setattr(task_cls, "loss", overflowing)
    train(cfg, progress=False)
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    skipped = [e["train/skipped_steps"] for e in log if "train/skipped_steps" in e]
    scales = [e["train/loss_scale"] for e in log if "train/loss_scale" in e]
    assert skipped == [0, 1, 1, 1] and scales[1] == scales[0] / 2
    state = load_checkpoint(latest_checkpoint(tmp_path))
    assert state["skipped_steps"] == 1 and all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


# ---------------------------------------------------------------------------- several processes


def _launch(cmd: list[str], cwd: Path) -> None:
    r = subprocess.run(cmd, cwd=cwd, env=CHILD_ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{' '.join(cmd)} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"


def _two_process_run_matches_one(data, tmp_path, launcher: list[str]) -> None:
    single = retrieval_config(data, tmp_path / "single", train_batch_size=8)
    train(single, progress=False)
    multi = retrieval_config(data, tmp_path / "multi", train_batch_size=4)  # per process: 2 x 4 = 8
    config_file = tmp_path / "multi.json"
    save_config(multi, config_file)
    _launch(launcher + ["-m", "sparsevl", "train", "--config", str(config_file)], tmp_path)
    assert latest_checkpoint(tmp_path / "multi").name == latest_checkpoint(tmp_path / "single").name
    assert_same_weights(final_weights(tmp_path / "multi"), final_weights(tmp_path / "single"), atol=1e-5)


def test_torchrun_two_processes_end_with_the_weights_of_one(data, tmp_path):
    _two_process_run_matches_one(
        data, tmp_path, [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    )


@pytest.fixture(scope="module")
def mixed_data(data, tmp_path_factory) -> dict[str, Path]:
    """The demo videos as 1-frame "images" beside the 8-frame videos, with a caption txt_db of an
    even number of videos (so one process and two leave out the same items: none)."""
    root = tmp_path_factory.mktemp("mixed")
    extract_frames(data["vis_db"].parent / "demo" / "videos", root / "vis1", num_frames=1, max_size=32, workers=0,
                   progress=False)
    records = load_split(data["ret_db"], "train")
    videos = list(dict.fromkeys(r["video_id"] for r in records))
    kept = set(videos[: len(videos) - len(videos) % 2])
    write_jsonl(root / "ret_db" / "train.jsonl", [r for r in records if r["video_id"] in kept])
    return {"ret_db": root / "ret_db", "vis1": root / "vis1", "vis_db": data["vis_db"]}


def mixed_pretrain_config(mixed_data: dict, output_dir: Path, image_batch: int, video_batch: int) -> RunConfig:
    """Pre-training on images (1 frame) and videos (4 frames) mixed, ClipBERT's ITM alone: its
    cross-entropy is a mean over items, so two half batches average to the whole batch (MLM's mean
    over each process's masked tokens and ITC's in-batch negatives are per process: they match one
    process in expectation, not to the bit). With weight decay: the dual encoder's projections get
    no gradient from ITM and must stay as they are under every launcher (Horovod's optimizer gives
    them zero gradients, which `HorovodDist` drops)."""
    cfg = retrieval_config({"ret_db": mixed_data["ret_db"], "vis_db": mixed_data["vis_db"]}, output_dir,
                           task="pretrain", model__fusion="mean", model__num_frm=4, weight_decay=0.01)
    cfg.pretrain = from_dict(PretrainConfig, {
        "mlm_weight": 0.0, "itc_weight": 0.0, "itm_weight": 1.0, "itm_negatives": "random",
        "train_datasets": [
            {"name": "images", "txt_db": str(mixed_data["ret_db"]), "vis_db": str(mixed_data["vis1"]),
             "num_frm": 1, "batch_size": image_batch},
            {"name": "videos", "txt_db": str(mixed_data["ret_db"]), "vis_db": str(mixed_data["vis_db"]),
             "num_frm": 4, "batch_size": video_batch},
        ]})
    return cfg


def _two_process_mixed_pretraining_matches_one(mixed_data, tmp_path, launcher: list[str]) -> None:
    single = mixed_pretrain_config(mixed_data, tmp_path / "single", image_batch=4, video_batch=2)
    train(single, progress=False)
    multi = mixed_pretrain_config(mixed_data, tmp_path / "multi", image_batch=2, video_batch=1)  # x 2 processes
    config_file = tmp_path / "multi.json"
    save_config(multi, config_file)
    _launch(launcher + ["-m", "sparsevl", "train", "--config", str(config_file)], tmp_path)
    assert latest_checkpoint(tmp_path / "multi").name == latest_checkpoint(tmp_path / "single").name
    assert_same_weights(final_weights(tmp_path / "multi"), final_weights(tmp_path / "single"), atol=1e-5)


def test_torchrun_two_processes_of_mixed_image_and_video_pretraining_end_with_the_weights_of_one(mixed_data, tmp_path):
    _two_process_mixed_pretraining_matches_one(
        mixed_data, tmp_path, [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    )


def _distributed_eval_returns_every_question_once(data, tmp_path, launcher: list[str]) -> None:
    cfg = retrieval_config(data, tmp_path / "qa", task="video_qa", txt_db=str(data["qa_db"]), val_split="test",
                           max_steps=1, model__pool="cls")
    config_file = tmp_path / "qa.json"
    save_config(cfg, config_file)
    # train one step under the launcher; its validation is the distributed evaluation
    _launch(launcher + ["-m", "sparsevl", "train", "--config", str(config_file)], tmp_path)
    ckpt = latest_checkpoint(tmp_path / "qa")
    log = [json.loads(line) for line in (tmp_path / "qa" / "log.jsonl").read_text().splitlines()]
    val = [e for e in log if "val/All" in e]
    assert len(val) == 1
    # the same checkpoint evaluated by one process gives the same accuracy over the same questions
    from sparsevl.runner.evaluate import evaluate

    result, files = evaluate(ckpt, "test")
    predictions = json.loads(files["predictions"].read_text())
    records = load_split(data["qa_db"], "test")
    assert len({r["video_id"] for r in records}) % 2 == 1, "the split's videos should not divide by 2 processes"
    assert sorted(p["question_id"] for p in predictions) == sorted(r["qid"] for r in records)
    assert val[0]["val/All"] == pytest.approx(result.metrics["All"])


def test_torchrun_evaluation_of_an_odd_split_sees_every_question_once(data, tmp_path):
    _distributed_eval_returns_every_question_once(
        data, tmp_path, [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    )


def _horovodrun() -> list[str]:
    try:
        import horovod.torch  # noqa: F401
    except ImportError:
        pytest.skip("Horovod is not installed: `bash scripts/install_horovod.sh` builds it")
    exe = shutil.which("horovodrun")
    if exe is None:
        pytest.skip("horovodrun is not on PATH")
    return [exe, "-np", "2", "-H", "localhost:2", "--gloo", sys.executable]


def test_horovodrun_two_processes_end_with_the_weights_of_one(data, tmp_path):
    _two_process_run_matches_one(data, tmp_path, _horovodrun())


def test_horovodrun_two_processes_of_mixed_image_and_video_pretraining_end_with_the_weights_of_one(mixed_data, tmp_path):
    _two_process_mixed_pretraining_matches_one(mixed_data, tmp_path, _horovodrun())


def test_horovodrun_evaluation_of_an_odd_split_sees_every_question_once(data, tmp_path):
    _distributed_eval_returns_every_question_once(data, tmp_path, _horovodrun())


FAILING_RANK = """
import os, sys
from sparsevl.cli import main
import sparsevl.tasks.matching as matching
rank = os.environ.get("RANK") or os.environ.get("HOROVOD_RANK")
if rank == "1":
    def fail(self, model, batch):
        raise RuntimeError("broken batch on rank 1")
    matching.RetrievalTask.loss = fail
sys.exit(main(["train", "--config", sys.argv[1]]))
"""


def _a_failing_process_stops_the_others(data, tmp_path, launcher: list[str]) -> None:
    cfg = retrieval_config(data, tmp_path / "run")
    save_config(cfg, tmp_path / "run.json")
    (tmp_path / "fail_on_rank1.py").write_text(FAILING_RANK)
    # rank 0 would wait for rank 1's gradients forever; the launcher must end the job instead
    r = subprocess.run(launcher + [str(tmp_path / "fail_on_rank1.py"), str(tmp_path / "run.json")],
                       cwd=tmp_path, env=CHILD_ENV, capture_output=True, text=True, timeout=240)
    assert r.returncode != 0
    assert "[rank 1/2] training failed: RuntimeError: broken batch on rank 1" in r.stdout + r.stderr


def test_torchrun_a_failing_process_stops_the_others(data, tmp_path):
    _a_failing_process_stops_the_others(
        data, tmp_path, [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    )


def test_horovodrun_a_failing_process_stops_the_others(data, tmp_path):
    _a_failing_process_stops_the_others(data, tmp_path, _horovodrun())


# ---------------------------------------------------------------------------- two nodes on this machine

# every byte between the "nodes" stays on the loopback interface
LOOPBACK_ENV = {**CHILD_ENV, "GLOO_SOCKET_IFNAME": "lo"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def one_process(data, tmp_path_factory) -> Path:
    """The reference: one process with the global batch (8) of two processes of 4."""
    run = tmp_path_factory.mktemp("one_process")
    train(retrieval_config(data, run, train_batch_size=8), progress=False)
    return run


def _two_node_config(data, tmp_path) -> Path:
    config_file = tmp_path / "two_nodes.json"
    save_config(retrieval_config(data, tmp_path / "two_nodes", train_batch_size=4), config_file)
    return config_file


def _assert_same_run(two_nodes: Path, one_process: Path) -> None:
    assert latest_checkpoint(two_nodes).name == latest_checkpoint(one_process).name
    assert_same_weights(final_weights(two_nodes), final_weights(one_process), atol=1e-5)


def torchrun_node_command(rendezvous: str, node_rank: int, port: int, config_file: Path) -> list[str]:
    """docs/distributed.md, "Several nodes": the command each node runs (one process per node here).
    c10d: every node runs the same command, and the rendezvous numbers the nodes; static: node 0
    is the master and each node gives its own --node_rank."""
    if rendezvous == "c10d":
        where = ["--rdzv_backend", "c10d", "--rdzv_endpoint", f"127.0.0.1:{port}", "--rdzv_id", "two-nodes"]
    else:
        where = ["--node_rank", str(node_rank), "--master_addr", "127.0.0.1", "--master_port", str(port)]
    return [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1", *where,
            "--local_addr", "127.0.0.1", "-m", "sparsevl", "train", "--config", str(config_file)]


@pytest.mark.parametrize("rendezvous", ["c10d", "static"])
def test_torchrun_two_nodes_end_with_the_weights_of_one_process(data, one_process, tmp_path, rendezvous):
    config_file = _two_node_config(data, tmp_path)
    port = _free_port()
    nodes = [subprocess.Popen(torchrun_node_command(rendezvous, rank, port, config_file), cwd=tmp_path,
                              env=LOOPBACK_ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for rank in (0, 1)]
    try:
        outputs = [node.communicate(timeout=300)[0] for node in nodes]
    finally:
        for node in nodes:
            node.kill()
    for rank, (node, output) in enumerate(zip(nodes, outputs)):
        assert node.returncode == 0, f"node {rank} failed:\n{output[-3000:]}"
    assert sum("2 processes (torch)" in output for output in outputs) == 1  # printed by global rank 0 only
    _assert_same_run(tmp_path / "two_nodes", one_process)


def test_horovodrun_two_hosts_end_with_the_weights_of_one_process(data, one_process, tmp_path):
    launcher = _horovodrun()
    config_file = _two_node_config(data, tmp_path)
    # two host names of this machine, one slot each: horovodrun places one process per "host"
    # (no ssh: both names resolve to this machine); Gloo on the loopback interface
    cmd = [launcher[0], "-np", "2", "-H", "localhost:1,127.0.0.1:1", "--gloo", "--network-interfaces", "lo",
           sys.executable, "-m", "sparsevl", "train", "--config", str(config_file)]
    r = subprocess.run(cmd, cwd=tmp_path, env=LOOPBACK_ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{' '.join(cmd)} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    assert "2 processes (horovod)" in r.stdout
    _assert_same_run(tmp_path / "two_nodes", one_process)
