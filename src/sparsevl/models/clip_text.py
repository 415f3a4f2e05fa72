"""CLIP's text tower: the causal text transformer (`transformers.CLIPTextModel`) and CLIP's
`text_projection`. A text's embedding is the final state of its end-of-text token, after the final
LayerNorm, projected; unnormalised, (N, embed_dim)."""

from __future__ import annotations

import torch
from torch import nn
from transformers import CLIPTextConfig, CLIPTextModel


class ClipTextTower(nn.Module):
    def __init__(self, config: CLIPTextConfig, embed_dim: int):
        super().__init__()
        self.model = CLIPTextModel(config)
        self.proj = nn.Linear(config.hidden_size, embed_dim, bias=False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        pooled = self.model(input_ids=input_ids, attention_mask=attention_mask).pooler_output
        return self.proj(pooled)
