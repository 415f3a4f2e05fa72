"""Open-ended VideoQA: clips -> visual tokens -> cross-encoder with the question -> answer logits."""

from __future__ import annotations

import torch
from torch import nn

from sparsevl.models.aggregation import aggregate_clip_scores
from sparsevl.models.cross_encoder import CrossEncoder


def pool_text(hidden: torch.Tensor, text_mask: torch.Tensor, pool: str) -> torch.Tensor:
    """What a head reads from the cross-encoder's states (N, Lt + Lv, H): [CLS] ("cls", ClipBERT)
    or the mean of the text tokens' states ("text_mean": a word that looked up its object feeds the
    head directly, without a second hop through [CLS])."""
    if pool == "cls":
        return hidden[:, 0]
    mask = text_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden[:, : mask.shape[1]] * mask).sum(1) / mask.sum(1)


class VisualEncoder(nn.Module):
    """uint8 frames of clips -> visual tokens of clips: normalise, backbone per frame, fuse per clip."""

    def __init__(self, backbone: nn.Module, fusion: nn.Module, frozen_bn: bool = False):
        super().__init__()
        self.backbone = backbone
        self.fusion = fusion
        self.frozen_bn = frozen_bn
        self.register_buffer("mean", torch.tensor(backbone.pixel_mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(backbone.pixel_std).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True):
        """With `frozen_bn` the backbone's BatchNorm layers always use their stored statistics (as
        ClipBERT's ResNet does): a frame's features then do not depend on the rest of its batch, so
        N processes with batches of B give the same gradients as one process with N x B."""
        super().train(mode)
        if self.frozen_bn:
            for m in self.backbone.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """frames (N, T, H, W, 3) uint8 -> tokens (N, L, C), positions (L, 3)."""
        n, t = frames.shape[:2]
        x = frames.flatten(0, 1).permute(0, 3, 1, 2).float().div_(255)
        x = (x - self.mean) / self.std
        grids = self.backbone(x)
        return self.fusion(grids.view(n, t, *grids.shape[1:]))


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
        visual = self.cross.embed_visual(tokens, positions)  # (B * n_clips, Lv, hidden)
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
