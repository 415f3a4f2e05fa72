"""BLIP for video-text matching: BLIP's ViT inflated to clips, its BERT with cross-attention, and
its ITC (contrastive) and ITM (matching) heads.

- The ViT sees every frame (our `VisionTransformer`, so `space_only` or `divided_space_time`
  attention, the temporal parts starting at zero: at initialisation a clip's frames come out as
  BLIP's image model gives them). Each frame keeps its own class token.
- ITM: the text through BLIP's text encoder, cross-attending to the tokens of all the clip's
  frames concatenated (T x (1 + patches); the cross-attention has no positions, so the order does
  not matter), its first state through `itm_head`. Several clips of a video are scored each and
  combined by `score_agg_func`, as the cross-encoder's are.
- ITC: the video's embedding is `vision_proj` of the mean of its frames' class tokens (every
  clip's), normalised; on one frame that is BLIP's image embedding. (TESTA's TimeSformer averages
  all output tokens instead; the class tokens keep BLIP's image-text space as it was trained.)
  The text's is `text_proj` of the text encoder's first state (text alone), normalised.

`encode_clips` gives, per clip, one summary slot (the mean of its frames' class tokens, what
`video_embedding` reads) followed by the frames' tokens (what the ITM reads), so retrieval keeps
one tensor per video, as for the cross-encoder.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import BlipTextConfig, BlipTextModel

from sparsevl.models.aggregation import aggregate_clip_scores
from sparsevl.models.vit import VisionTransformer


class BlipVideoTower(nn.Module):
    """uint8 frames (N, T, H, W, 3) -> (N, 1 + T (1 + patches), width): the mean of the frames'
    class tokens, then every frame's tokens, all after the final LayerNorm."""

    def __init__(self, vit: VisionTransformer):
        super().__init__()
        self.backbone = vit  # `backbone`: the optimizer gives it `backbone_lr`
        self.register_buffer("mean", torch.tensor(vit.arch.pixel_mean).view(1, 1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(vit.arch.pixel_std).view(1, 1, 3, 1, 1), persistent=False)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        n, t = frames.shape[:2]
        x = frames.permute(0, 1, 4, 2, 3).float().div_(255)
        tokens = self.backbone.ln_post(self.backbone((x - self.mean) / self.std))  # (N T, L, width)
        per_frame = tokens.unflatten(0, (n, t))
        summary = per_frame[:, :, 0].mean(dim=1, keepdim=True)
        return torch.cat([summary, per_frame.flatten(1, 2)], dim=1)


class BlipMatchingModel(nn.Module):
    def __init__(self, vit: VisionTransformer, text_config: BlipTextConfig, embed_dim: int,
                 itm_token_id: int | None, logit_scale: float):
        super().__init__()
        self.visual = BlipVideoTower(vit)
        self.text_encoder = BlipTextModel(text_config, add_pooling_layer=False)
        self.vision_proj = nn.Linear(vit.arch.width, embed_dim)
        self.text_proj = nn.Linear(text_config.hidden_size, embed_dim)
        self.itm_head = nn.Linear(text_config.hidden_size, 2)
        self.itm_token_id = itm_token_id  # put in place of [CLS] for the ITM (BLIP's [ENC]); None: keep [CLS]
        self.logit_scale = nn.Parameter(torch.tensor(float(logit_scale)))

    def encode_clips(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (B, n_clips, T, H, W, 3) uint8 -> (B, n_clips, 1 + T (1 + patches), width)."""
        b, n_clips = frames.shape[:2]
        return self.visual(frames.flatten(0, 1)).unflatten(0, (b, n_clips))

    def video_embedding(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, n_clips, Lv, width) -> (B, embed_dim), unit length: the projected mean of every
        frame's class token (the clips have the same number of frames, so the mean of their means)."""
        return F.normalize(self.vision_proj(clips[:, :, 0].mean(dim=1)).float(), dim=-1)

    def text_embedding(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.text_encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return F.normalize(self.text_proj(hidden[:, 0]).float(), dim=-1)

    def itm_clip_logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, clips: torch.Tensor) -> torch.Tensor:
        """Texts (P, Lt) paired with the clips of their videos (P, n_clips, Lv, width) -> (P, n_clips, 2)."""
        p, n_clips = clips.shape[:2]
        ids = input_ids.repeat_interleave(n_clips, dim=0)
        if self.itm_token_id is not None:
            ids = ids.clone()
            ids[:, 0] = self.itm_token_id
        visual = clips.flatten(0, 1)[:, 1:]  # the frames' tokens, without the summary slot
        hidden = self.text_encoder(
            input_ids=ids, attention_mask=attention_mask.repeat_interleave(n_clips, dim=0),
            encoder_hidden_states=visual, encoder_attention_mask=visual.new_ones(visual.shape[:2], dtype=torch.long),
        ).last_hidden_state
        return self.itm_head(hidden[:, 0]).view(p, n_clips, 2)

    def itm_logits(self, input_ids, attention_mask, clips, score_agg_func: str) -> torch.Tensor:
        """(P, 2) match / no-match logits, the clips' logits combined as in QA."""
        return aggregate_clip_scores(self.itm_clip_logits(input_ids, attention_mask, clips), score_agg_func)

    @staticmethod
    def match_score(itm_logits: torch.Tensor) -> torch.Tensor:
        """The log-odds of "match": ranks pairs exactly as BLIP's softmax probability does."""
        return itm_logits[..., 1] - itm_logits[..., 0]

    def temperature_scale(self) -> torch.Tensor:
        return self.logit_scale.exp().clamp(max=100.0)
