"""`retrieval.low_resource_eval`: a 96-frame retrieval evaluation whose device memory for video
tokens grows with the candidates scored, not with the number of videos.

The machine has no GPU, so the test's compute device is `cpu:0`: torch treats it as a device of
its own (moving a tensor there copies it, as to a GPU), while the tokens' CPU home is `cpu`. A
hook on `VideoTokens.take` (every candidate batch the cross-encoder scores goes through it)
measures, at each batch, the bytes of video tokens on the compute device: the batch it moved there
plus the tokens kept there."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sparsevl.config import from_dict
from sparsevl.data.vis_db import StoreSettings, VideoMeta, VisDBWriter
from sparsevl.dist import Dist
from sparsevl.problems import ProblemLog
from sparsevl.tasks.config import RunConfig
from sparsevl.tasks.registry import build_task
from sparsevl.tasks.video_tokens import VideoTokens
from sparsevl.txt_db import write_jsonl

FRAMES = 96
DEVICE = torch.device("cpu", 0)  # a device other than the tokens' CPU home

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _jpeg(rng: np.random.Generator) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(out, format="JPEG")
    return out.getvalue()


@pytest.fixture(scope="module")
def dbs(tmp_path_factory) -> dict[int, dict[str, Path]]:
    """Split databases of 4 and of 8 videos of 96 frames, one caption each."""
    root = tmp_path_factory.mktemp("long_videos")
    rng = np.random.default_rng(0)
    words = ["red", "blue", "green", "circle", "square", "moves", "left", "right"]
    records = [{"cid": f"c{i}", "video_id": f"v{i}", "caption": f"{words[i]} {words[(i + 3) % 8]} {words[(i + 5) % 8]}"}
               for i in range(8)]
    settings = StoreSettings(fps=1.0, num_frames=None, max_size=16, quality=90)
    with VisDBWriter(root / "vis_db", settings) as w:
        for r in records:
            meta = VideoMeta(num_frames=FRAMES, timestamps=[float(i) for i in range(FRAMES)], fps=1.0, source_fps=None,
                             duration=float(FRAMES), width=16, height=16)
            w.put_video(r["video_id"], [_jpeg(rng) for _ in range(FRAMES)], meta.to_dict())
    out = {}
    for n in (4, 8):
        write_jsonl(root / f"txt_{n}" / "test.jsonl", records[:n])
        write_jsonl(root / f"txt_{n}" / "train.jsonl", records)  # the same vocabulary for both
        out[n] = {"txt_db": root / f"txt_{n}", "vis_db": root / "vis_db", "out": root / f"run_{n}"}
    return out


def config(db: dict[str, Path], k: int, low_resource: bool) -> RunConfig:
    return from_dict(RunConfig, {
        "task": "retrieval", "txt_db": str(db["txt_db"]), "vis_db": str(db["vis_db"]), "output_dir": str(db["out"]),
        "model": {"backbone_channels": 8, "backbone_blocks": 3, "hidden_size": 16, "num_layers": 1, "num_heads": 2,
                  "intermediate_size": 32, "dropout": 0.0, "max_text_len": 8, "embed_dim": 8, "num_frm": FRAMES,
                  "fusion": "time_embed"},  # every frame kept apart: 96 x 2 x 2 tokens a video
        "retrieval": {"eval_mode": "rerank", "rerank_k": k, "eval_pairs_per_batch": k, "low_resource_eval": low_resource},
        "inference_n_clips": 1, "img_size": 16, "val_batch_size": 2, "seed": 1, "device": "cpu",
    })


def evaluate_measuring(db: dict[str, Path], k: int, low_resource: bool, monkeypatch) -> tuple[int, list]:
    """(peak bytes of video tokens on the compute device while scoring, the rerank scores)."""
    peak = 0
    take = VideoTokens.take

    def measured_take(self: VideoTokens, videos: torch.Tensor) -> torch.Tensor:
        nonlocal peak
        moved = take(self, videos)
        peak = max(peak, moved.untyped_storage().nbytes() + self.device_bytes())
        return moved

    monkeypatch.setattr(VideoTokens, "take", measured_take)
    torch.manual_seed(0)
    task = build_task(config(db, k, low_resource), ProblemLog())
    model = task.build_model()
    result = task.evaluate(model, "test", DEVICE, contextlib.nullcontext, Dist())
    monkeypatch.setattr(VideoTokens, "take", take)
    return peak, result.files["retrieval_rerank"]["topk"]


def test_low_resource_evaluation_memory_grows_with_the_candidates_not_the_videos(dbs, monkeypatch):
    kept = {n: evaluate_measuring(dbs[n], 2, False, monkeypatch) for n in (4, 8)}
    low = {n: evaluate_measuring(dbs[n], 2, True, monkeypatch) for n in (4, 8)}
    more_candidates = evaluate_measuring(dbs[8], 4, True, monkeypatch)
    # tokens kept on the device: twice the videos, more memory
    assert kept[8][0] > 1.5 * kept[4][0]
    # kept on the CPU: the same memory for 4 and 8 videos, and more for more candidates
    assert low[4][0] == low[8][0] > 0
    assert more_candidates[0] > 1.5 * low[8][0]
    assert low[8][0] < kept[8][0] / 2
    # and the same scores either way
    for n in (4, 8):
        assert low[n][1]["indices"] == kept[n][1]["indices"]
        np.testing.assert_allclose(low[n][1]["scores"], kept[n][1]["scores"], rtol=1e-6, atol=1e-6)


def test_take_moves_the_chosen_videos_to_the_device_in_order():
    tokens = VideoTokens(DEVICE, low_resource=True)
    tokens.add(torch.arange(6.0).view(3, 1, 1, 2))
    tokens.add(torch.arange(6.0, 8.0).view(1, 1, 1, 2))
    assert tokens.home == torch.device("cpu") and len(tokens) == 4 and tokens.device_bytes() == 0
    taken = tokens.take(torch.tensor([3, 0, 3]))
    assert taken.view(3, 2).tolist() == [[6.0, 7.0], [0.0, 1.0], [6.0, 7.0]]
    on_device = VideoTokens(DEVICE, low_resource=False)
    on_device.add(torch.zeros(3, 1, 1, 2))
    assert on_device.device_bytes() == 3 * 2 * 4
