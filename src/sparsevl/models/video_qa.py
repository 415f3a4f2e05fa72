"""Open-ended VideoQA: clips -> visual tokens -> cross-encoder with the question -> answer logits."""

from __future__ import annotations

import torch
from torch import nn

from sparsevl.models.aggregation import aggregate_clip_scores
from sparsevl.models.cross_encoder import CrossEncoder, pool_text
from sparsevl.models.visual import VisualEncoder


class AnswerHead(nn.Module):
    """ClipBERT's classifier: hidden -> 2 x hidden -> GELU -> LayerNorm -> labels."""

    def __init__(self, hidden_size: int, num_labels: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(hidden_size, 2 * hidden_size),
            nn.GELU(),
            nn.LayerNorm(2 * hidden_size, eps=1e-12),
            nn.Linear(2 * hidden_size, num_labels),
        )

    def forward(self, cls: torch.Tensor) -> torch.Tensor:
        return self.net(cls)


class VideoQAModel(nn.Module):
    def __init__(self, visual: VisualEncoder, cross: CrossEncoder, num_labels: int, pool: str = "cls"):
        super().__init__()
        self.visual = visual
        self.cross = cross
        self.head = AnswerHead(cross.hidden_size, num_labels)
        self.pool = pool

    def forward(
        self,
        frames: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        video_index: torch.Tensor,
        score_agg_func: str = "mean",
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """frames (B, n_clips, T, H, W, 3) uint8 for B videos; questions (Q, Lt) with
        video_index (Q,) saying which video each question is about.

        The visual pass runs once per clip of a video, however many questions the video has.
        Returns (aggregated logits (Q, labels), clip logits (Q, n_clips, labels)).
        """
        b, n_clips = frames.shape[:2]
        tokens, positions = self.visual(frames.flatten(0, 1))
        visual = self.cross.embed_visual(tokens, positions, frames.shape[2])  # (B * n_clips, Lv, hidden)
        visual = visual.view(b, n_clips, *visual.shape[1:])[video_index].flatten(0, 1)
        q = input_ids.shape[0]
        hidden = self.cross(
            input_ids.repeat_interleave(n_clips, dim=0),
            attention_mask.repeat_interleave(n_clips, dim=0),
            visual,
        )
        pooled = pool_text(hidden, attention_mask.repeat_interleave(n_clips, dim=0), self.pool)
        clip_logits = self.head(pooled).view(q, n_clips, -1)
        return aggregate_clip_scores(clip_logits, score_agg_func), clip_logits
