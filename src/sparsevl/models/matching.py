"""Video-text matching: one model, two ways of scoring a (text, video) pair.

- Cross-encoder (ClipBERT): the text and the clip's visual tokens go through BERT together and a
  2-way image-text-matching (ITM) head says "match" or "not"; a pair's score is the log-odds of
  "match", clip scores combined by `score_agg_func`. Accurate, but every pair is a BERT pass.
- Dual encoder: the same towers run on each side alone (BERT on the text; the visual encoder and
  BERT on the clip's tokens), each projected to one normalised embedding; a pair's score is their
  cosine similarity. One pass per text and per video, then a matrix product.

Retrieval ranks videos for a text (or texts for a video) with either, or re-ranks the dual
encoder's top-k with the cross-encoder; multiple-choice QA scores each option with the
cross-encoder.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from sparsevl.models.aggregation import aggregate_clip_scores
from sparsevl.models.cross_encoder import CrossEncoder, pool_text
from sparsevl.models.visual import VisualEncoder


class VideoTextMatchingModel(nn.Module):
    def __init__(self, visual: VisualEncoder, cross: CrossEncoder, embed_dim: int, pool: str = "cls"):
        super().__init__()
        self.visual = visual
        self.cross = cross
        self.pool = pool  # what the ITM head reads: [CLS] (ClipBERT) or the mean of the text tokens
        hidden = cross.hidden_size
        self.itm_head = nn.Linear(hidden, 2)
        # no bias: a shared offset would make every embedding alike at the start of training
        self.text_proj = nn.Linear(hidden, embed_dim, bias=False)
        self.video_proj = nn.Linear(hidden, embed_dim, bias=False)
        # CLIP's learned temperature, stored as log(1 / 0.07) and clamped at 100 when used.
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def encode_clips(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (B, n_clips, T, H, W, 3) uint8 -> embedded visual tokens (B, n_clips, Lv, hidden).

        Computed once per video and then paired with as many texts as needed.
        """
        b, n_clips = frames.shape[:2]
        tokens, positions = self.visual(frames.flatten(0, 1))
        visual = self.cross.embed_visual(tokens, positions, frames.shape[2])
        return visual.view(b, n_clips, *visual.shape[1:])

    def itm_clip_logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, clips: torch.Tensor) -> torch.Tensor:
        """Texts (P, Lt) paired with the clips of their videos (P, n_clips, Lv, hidden) -> (P, n_clips, 2)."""
        p, n_clips = clips.shape[:2]
        mask = attention_mask.repeat_interleave(n_clips, dim=0)
        hidden = self.cross(input_ids.repeat_interleave(n_clips, dim=0), mask, clips.flatten(0, 1))
        return self.itm_head(pool_text(hidden, mask, self.pool)).view(p, n_clips, 2)

    def itm_logits(self, input_ids, attention_mask, clips, score_agg_func: str) -> torch.Tensor:
        """(P, 2) match / no-match logits, the clips' logits combined as in QA."""
        return aggregate_clip_scores(self.itm_clip_logits(input_ids, attention_mask, clips), score_agg_func)

    @staticmethod
    def match_score(itm_logits: torch.Tensor) -> torch.Tensor:
        """The log-odds of "match": ranks pairs exactly as the softmax probability does."""
        return itm_logits[..., 1] - itm_logits[..., 0]

    def text_embedding(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(N, Lt) -> (N, embed_dim), unit length: BERT on the text alone, its tokens' final states
        averaged and projected (a fresh [CLS] state hardly depends on the text, the mean does)."""
        text = self.cross.bert.embeddings(input_ids=input_ids, token_type_ids=torch.zeros_like(input_ids))
        pooled = pool_text(self.cross.encode(text, attention_mask), attention_mask, "text_mean")
        return F.normalize(self.text_proj(pooled).float(), dim=-1)

    def video_embedding(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, n_clips, Lv, hidden) -> (B, embed_dim), unit length: BERT on each clip's visual tokens
        alone, max-pooled over tokens (most cells are background: a mean washes the objects out),
        averaged over clips, projected."""
        b, n_clips = clips.shape[:2]
        flat = clips.flatten(0, 1)
        hidden = self.cross.encode(flat, flat.new_ones(flat.shape[:2], dtype=torch.long))
        pooled = hidden.amax(dim=1).view(b, n_clips, -1).mean(dim=1)
        return F.normalize(self.video_proj(pooled).float(), dim=-1)

    def temperature_scale(self) -> torch.Tensor:
        return self.logit_scale.exp().clamp(max=100.0)
