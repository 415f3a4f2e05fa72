"""The cross-encoder's visual embeddings for clips longer than its 64-frame time table."""

from __future__ import annotations

import pytest
import torch

from sparsevl.models.cross_encoder import MAX_TIME, VisualEmbeddings
from sparsevl.models.factory import ModelConfig, build_matching_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def embeddings() -> VisualEmbeddings:
    torch.manual_seed(0)
    return VisualEmbeddings(visual_dim=4, hidden_size=8, dropout=0.0)


def test_clips_of_up_to_64_frames_read_the_table_as_it_is():
    emb = embeddings()
    times = torch.tensor([0, 1, 17, 64])
    assert torch.equal(emb.time_embedding(times), emb.time.weight[times])


def test_a_96_frame_clip_reads_the_table_resized_linearly():
    emb = embeddings()
    table = emb.time.weight
    rows = emb.time_embedding(torch.arange(97))
    assert rows.shape == (97, 8)
    assert torch.equal(rows[0], table[0])  # "no particular frame" is not a position in time
    # the first and last frames are the table's first and last; the ones between, mixtures of
    # the two table rows around their position (frame t of 96 sits at (t - 0.5) * 64 / 96 + 0.5)
    torch.testing.assert_close(rows[1], table[1])
    torch.testing.assert_close(rows[96], table[MAX_TIME - 1])
    for t in (2, 40, 77):
        position = (t - 0.5) * 64 / 96 + 0.5  # in table rows, 1-based
        low = int(position)
        weight = position - low
        torch.testing.assert_close(rows[t], (1 - weight) * table[low] + weight * table[low + 1])


def test_a_matching_model_encodes_and_scores_96_frame_clips_with_every_frame_kept_apart():
    cfg = ModelConfig(backbone="tiny_cnn", backbone_channels=8, backbone_blocks=2, fusion="time_embed", num_frm=96,
                      hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32, dropout=0.0, max_text_len=8,
                      embed_dim=8)
    torch.manual_seed(0)
    model = build_matching_model(cfg, vocab_size=20).eval()
    # one image, 96 times: the frames' tokens differ by their time embedding alone
    frames = torch.randint(0, 256, (1, 1, 1, 16, 16, 3), dtype=torch.uint8).expand(1, 1, 96, 16, 16, 3)
    with torch.no_grad():
        clips = model.encode_clips(frames)
        ids = torch.tensor([[1, 5, 6, 2]])
        logits = model.itm_logits(ids, torch.ones_like(ids), clips, "mean")
    assert clips.shape == (1, 1, 96 * 4 * 4, 16)  # 96 frames of 4 x 4 cells
    assert logits.shape == (1, 2) and torch.isfinite(logits).all()
    per_frame = clips.view(96, 16, 16)
    for a, b in ((69, 89), (94, 95), (0, 95)):  # beyond the table's 64 frames too
        assert not torch.allclose(per_frame[a], per_frame[b])
