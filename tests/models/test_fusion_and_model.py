"""Temporal fusion and the VideoQA model built by the factory, on tiny random inputs."""

from __future__ import annotations

import pytest
import torch

from sparsevl.models.aggregation import aggregate_clip_scores
from sparsevl.models.factory import ModelConfig, build_video_qa_model
from sparsevl.models.fusion import ConcatFusion, MeanFusion, TimeEmbedFusion

N, T, C, H, W = 2, 3, 4, 2, 3  # clips, frames per clip, channels, grid rows, grid columns


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def grids():
    g = torch.Generator().manual_seed(0)
    return torch.randn(N, T, C, H, W, generator=g)


def grid_cells():
    return [(r, c) for r in range(H) for c in range(W)]  # row-major


# --- fusion -------------------------------------------------------------------------------------


def test_mean_fusion_tokens_and_positions(grids):
    tokens, positions = MeanFusion(C, T)(grids)
    assert tokens.shape == (N, H * W, C)
    assert positions.shape == (H * W, 3)
    assert positions.dtype == torch.long
    assert positions.tolist() == [[r, c, 0] for r, c in grid_cells()]
    for k, (r, c) in enumerate(grid_cells()):
        assert torch.allclose(tokens[:, k], grids[:, :, :, r, c].mean(dim=1))


def test_mean_fusion_ignores_frame_order(grids):
    fusion = MeanFusion(C, T)
    tokens, positions = fusion(grids)
    for order in ([2, 1, 0], [1, 2, 0], [0, 2, 1]):
        shuffled, shuffled_pos = fusion(grids[:, order])
        assert torch.allclose(tokens, shuffled, atol=1e-6)
        assert torch.equal(positions, shuffled_pos)


def test_concat_fusion_tokens_and_positions(grids):
    torch.manual_seed(0)
    fusion = ConcatFusion(C, T)
    tokens, positions = fusion(grids)
    assert tokens.shape == (N, H * W, C)
    assert positions.tolist() == [[r, c, 0] for r, c in grid_cells()]
    # each cell: its T feature vectors in time order, concatenated, then projected
    for k, (r, c) in enumerate(grid_cells()):
        cell = torch.cat([grids[:, t, :, r, c] for t in range(T)], dim=1)
        assert torch.allclose(tokens[:, k], fusion.proj(cell), atol=1e-6)


def test_concat_fusion_depends_on_frame_order(grids):
    torch.manual_seed(0)
    fusion = ConcatFusion(C, T)
    tokens, _ = fusion(grids)
    reversed_tokens, _ = fusion(grids.flip(1))
    assert not torch.allclose(tokens, reversed_tokens, atol=1e-4)


def test_concat_fusion_rejects_other_clip_length(grids):
    with pytest.raises(ValueError, match="3 frames per clip, got 2"):
        ConcatFusion(C, T)(grids[:, :2])


def test_time_embed_fusion_tokens_and_positions(grids):
    tokens, positions = TimeEmbedFusion(C, T)(grids)
    assert tokens.shape == (N, T * H * W, C)
    assert positions.shape == (T * H * W, 3)
    expected = [[r, c, t + 1] for t in range(T) for r, c in grid_cells()]  # time 0 = no frame
    assert positions.tolist() == expected
    for k, (r, c, time) in enumerate(expected):
        assert torch.equal(tokens[:, k], grids[:, time - 1, :, r, c])


def test_time_embed_fusion_depends_on_frame_order(grids):
    fusion = TimeEmbedFusion(C, T)
    tokens, positions = fusion(grids)
    reversed_tokens, reversed_positions = fusion(grids.flip(1))
    assert torch.equal(positions, reversed_positions)  # same tags ...
    assert not torch.allclose(tokens, reversed_tokens)  # ... on other frames' features


# --- the model ----------------------------------------------------------------------------------

NUM_FRM, N_CLIPS, SIZE, NUM_LABELS, VOCAB = 2, 3, 16, 5, 40


def tiny_config(fusion: str, pool: str = "cls") -> ModelConfig:
    return ModelConfig(
        backbone="tiny_cnn",
        backbone_channels=16,
        backbone_blocks=2,  # 16 x 16 frames -> 4 x 4 grids
        fusion=fusion,
        num_frm=NUM_FRM,
        text_model_dir=None,
        hidden_size=32,
        num_layers=1,
        num_heads=2,
        intermediate_size=64,
        dropout=0.1,
        max_text_len=16,
        pool=pool,
    )


def tiny_model(fusion: str, pool: str = "cls"):
    torch.manual_seed(0)
    return build_video_qa_model(tiny_config(fusion, pool), NUM_LABELS, VOCAB)


def random_frames(b: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, N_CLIPS, NUM_FRM, SIZE, SIZE, 3), dtype=torch.uint8, generator=g)


def questions(lengths: list[int], seed: int = 1) -> list[list[int]]:
    """Token ids as [CLS] w1 .. wn [SEP] (ids 2 and 3 as in the word vocabulary; words >= 5)."""
    g = torch.Generator().manual_seed(seed)
    return [[2] + torch.randint(5, VOCAB, (n,), generator=g).tolist() + [3] for n in lengths]


def pad(qs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(map(len, qs))
    ids = torch.tensor([q + [0] * (width - len(q)) for q in qs])
    mask = torch.tensor([[1] * len(q) + [0] * (width - len(q)) for q in qs])
    return ids, mask


@pytest.mark.parametrize("fusion", ["mean", "concat", "time_embed"])
def test_forward_shapes_and_aggregation(fusion):
    model = tiny_model(fusion).eval()
    frames = random_frames(2)
    qs = questions([3, 5, 2, 4, 6])
    ids, mask = pad(qs)
    video_index = torch.tensor([0, 0, 1, 1, 0])
    with torch.no_grad():
        logits, clip_logits = model(frames, ids, mask, video_index, "mean")
        for func in ("max", "lse"):
            agg, clips_again = model(frames, ids, mask, video_index, func)
            assert torch.allclose(clips_again, clip_logits, atol=1e-6)
            assert torch.allclose(agg, aggregate_clip_scores(clip_logits, func), atol=1e-6)
    assert logits.shape == (5, NUM_LABELS)
    assert clip_logits.shape == (5, N_CLIPS, NUM_LABELS)
    assert torch.allclose(logits, clip_logits.mean(dim=1), atol=1e-6)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("fusion", ["mean", "concat", "time_embed"])
def test_visual_pass_runs_once_per_clip_not_per_question(fusion):
    model = tiny_model(fusion).eval()
    seen = []
    model.visual.backbone.register_forward_hook(lambda m, inp, out: seen.append(inp[0].shape[0]))
    frames = random_frames(2)
    ids, mask = pad(questions([3, 5, 2, 4, 6, 3, 2]))
    with torch.no_grad():
        model(frames, ids, mask, torch.tensor([0, 0, 1, 1, 0, 1, 1]))
    assert seen == [2 * N_CLIPS * NUM_FRM]  # one call over every frame of every clip, once


@pytest.mark.parametrize("fusion", ["mean", "concat", "time_embed"])
@pytest.mark.parametrize("pool", ["cls", "text_mean"])
def test_question_logits_do_not_depend_on_other_questions(fusion, pool):
    model = tiny_model(fusion, pool).eval()
    frames = random_frames(2)
    qs = questions([3, 7, 2, 4, 5])  # padded to 9 tokens in the batch
    video_index = torch.tensor([0, 1, 1, 0, 1])
    ids, mask = pad(qs)
    with torch.no_grad():
        batch_logits, batch_clips = model(frames, ids, mask, video_index)
        for j, q in enumerate(qs):
            v = int(video_index[j])
            alone_ids, alone_mask = pad([q])  # unpadded, alone in its batch
            alone, alone_clips = model(frames, alone_ids, alone_mask, torch.tensor([v]))
            assert torch.allclose(alone[0], batch_logits[j], atol=1e-5), j
            assert torch.allclose(alone_clips[0], batch_clips[j], atol=1e-5), j
            # ... and with only its own video in the batch
            own, _ = model(frames[v : v + 1], alone_ids, alone_mask, torch.tensor([0]))
            assert torch.allclose(own[0], batch_logits[j], atol=1e-5), j


@pytest.mark.parametrize("fusion", ["mean", "concat", "time_embed"])
def test_same_question_on_other_video_gets_other_logits(fusion):
    model = tiny_model(fusion).eval()
    frames = torch.zeros(2, N_CLIPS, NUM_FRM, SIZE, SIZE, 3, dtype=torch.uint8)
    frames[1, :, :, : SIZE // 2] = 255  # video 1: top half white; video 0: all black
    q = questions([4])[0]
    ids, mask = pad([q, q])
    with torch.no_grad():
        logits, _ = model(frames, ids, mask, torch.tensor([0, 1]))
        same, _ = model(frames, ids, mask, torch.tensor([1, 1]))
    assert (logits[0] - logits[1]).abs().max() > 1e-5  # the answer depends on the video
    assert torch.allclose(same[0], same[1], atol=1e-6)


def test_model_uses_frame_order_only_with_order_aware_fusion():
    frames = torch.zeros(1, N_CLIPS, NUM_FRM, SIZE, SIZE, 3, dtype=torch.uint8)
    frames[:, :, 0, : SIZE // 2] = 255  # first frame: top half white
    frames[:, :, 1, :, : SIZE // 2] = 255  # second frame: left half white
    ids, mask = pad(questions([4]))
    change = {}
    for fusion in ("mean", "concat", "time_embed"):
        model = tiny_model(fusion).eval()
        with torch.no_grad():
            forward, _ = model(frames, ids, mask, torch.tensor([0]))
            backward, _ = model(frames.flip(2), ids, mask, torch.tensor([0]))  # each clip played backwards
        change[fusion] = (forward - backward).abs().max().item()
    assert change["mean"] < 1e-6
    assert change["concat"] > 1e-5
    assert change["time_embed"] > 1e-5


def test_every_parameter_gets_a_gradient():
    model = tiny_model("time_embed").train()
    frames = random_frames(2)
    ids, mask = pad(questions([3, 5, 4]))
    logits, _ = model(frames, ids, mask, torch.tensor([0, 1, 1]), "lse")
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 3, 1])).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert no_grad == []  # no part is built and then left out of the forward pass


def test_text_mean_pool_reads_every_question_token_but_not_padding():
    cls_model, mean_model = tiny_model("concat", "cls").eval(), tiny_model("concat", "text_mean").eval()
    frames = random_frames(1)
    ids, mask = pad(questions([4]))
    with torch.no_grad():
        hidden = mean_model.cross(
            ids.repeat_interleave(N_CLIPS, 0),
            mask.repeat_interleave(N_CLIPS, 0),
            mean_model.cross.embed_visual(*mean_model.visual(frames.flatten(0, 1))),
        )
        expected = mean_model.head(hidden[:, : ids.shape[1]].mean(1)).view(1, N_CLIPS, -1)
        _, clips = mean_model(frames, ids, mask, torch.tensor([0]))
        _, cls_clips = cls_model(frames, ids, mask, torch.tensor([0]))
    assert torch.allclose(clips, expected, atol=1e-5)
    assert not torch.allclose(clips, cls_clips)
