"""A CLIP-style dual encoder for video: an image tower over the frames, a text tower, one joint space.

The video embedding is CLIP4Clip's "meanP": every frame's class token (after the final LayerNorm)
projected by CLIP's image-text projection and normalised, averaged over all the frames sampled
from the video (every clip's), and normalised again. With a BT-Adapter branch (`bt_adapter`),
the branch's output is added to each frame's class token (of CLIP's last layer) first.
A pair's score is the cosine similarity of the two embeddings (times the logit scale in the loss).

It has no image-text matching head: retrieval with it ranks by similarity (`eval_mode: dual`), and
multiple choice scores each option by its similarity to the video.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sparsevl.models.bt_adapter import BTAdapterBranch
from sparsevl.models.vit import VisionTransformer


class VideoTower(nn.Module):
    """uint8 frames (N, T, H, W, 3) -> one embedding per frame (N, T, embed_dim), unit length."""

    def __init__(self, vit: VisionTransformer, embed_dim: int, branch: BTAdapterBranch | None = None):
        super().__init__()
        self.backbone = vit  # `backbone`: the optimizer gives it `backbone_lr`
        self.proj = nn.Linear(vit.arch.width, embed_dim, bias=False)
        self.branch = branch
        self.register_buffer("mean", torch.tensor(vit.arch.pixel_mean).view(1, 1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(vit.arch.pixel_std).view(1, 1, 3, 1, 1), persistent=False)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        n, t = frames.shape[:2]
        x = frames.permute(0, 1, 4, 2, 3).float().div_(255)
        x = (x - self.mean) / self.std
        vit = self.backbone
        if self.branch is None:
            cls = vit(x)[:, 0]
        else:
            hidden = vit.forward_blocks(x)
            grid = (x.shape[-2] // vit.arch.patch_size, x.shape[-1] // vit.arch.patch_size)
            added = self.branch(hidden[-self.branch.depth:], t, vit.position_embedding(*grid))
            cls = hidden[-1][:, 0] + added.repeat_interleave(t, dim=0)
        return F.normalize(self.proj(vit.ln_post(cls)).float(), dim=-1).view(n, t, -1)


class DualEncoder(nn.Module):
    def __init__(self, visual: VideoTower, text: nn.Module, logit_scale: float):
        super().__init__()
        self.visual = visual
        self.text = text  # (input_ids, attention_mask) -> (N, embed_dim)
        self.logit_scale = nn.Parameter(torch.tensor(float(logit_scale)))

    def freeze_all_but_the_branch(self) -> None:
        """Keep CLIP as it is (BT-Adapter): only the branch trains."""
        if self.visual.branch is None:
            raise ValueError("a dual encoder without a BT-Adapter branch has nothing left to train")
        self.requires_grad_(False)
        self.visual.branch.requires_grad_(True)

    def encode_clips(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (B, n_clips, T, H, W, 3) uint8 -> frame embeddings (B, n_clips, T, embed_dim)."""
        b, n_clips = frames.shape[:2]
        return self.visual(frames.flatten(0, 1)).unflatten(0, (b, n_clips))

    def video_embedding(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, n_clips, T, embed_dim) -> (B, embed_dim), unit length: the mean of every sampled
        frame's embedding (meanP)."""
        return F.normalize(clips.mean(dim=(1, 2)), dim=-1)

    def text_embedding(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text(input_ids, attention_mask).float(), dim=-1)

    def similarity_scores(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, clips: torch.Tensor) -> torch.Tensor:
        """Texts (P, Lt) paired with their videos' clips (P, n_clips, T, embed_dim) -> (P,) scaled
        cosine similarities (multiple choice: one per option)."""
        texts = self.text_embedding(input_ids, attention_mask)
        return self.temperature_scale() * (texts * self.video_embedding(clips)).sum(-1)

    def temperature_scale(self) -> torch.Tensor:
        return self.logit_scale.exp().clamp(max=100.0)
