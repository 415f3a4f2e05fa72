"""The cross-modal transformer: BERT over `[CLS] text [SEP]` followed by visual tokens.

Text tokens are embedded by BERT's own embeddings (word + position + type 0). Visual tokens get
their own embedding, as in ClipBERT: a projection of the grid feature plus row, column and time
embeddings plus BERT's type-1 embedding, layer-normalised (the time table holds 64 frames; a clip
of more, e.g. 96-frame ActivityNet, reads it resized linearly to its length). Both then go
through BERT's encoder layers together, so every text token can attend to every visual token and
back.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import BertModel
from transformers.masking_utils import create_bidirectional_mask

from sparsevl.models.vit import resize_time_embedding

MAX_GRID = 64  # rows / columns a visual grid may have
MAX_TIME = 65  # frames per clip the time table holds (+1 for "no particular frame"); more are interpolated


class VisualEmbeddings(nn.Module):
    def __init__(self, visual_dim: int, hidden_size: int, dropout: float):
        super().__init__()
        self.proj = nn.Linear(visual_dim, hidden_size)
        self.row = nn.Embedding(MAX_GRID, hidden_size)
        self.col = nn.Embedding(MAX_GRID, hidden_size)
        self.time = nn.Embedding(MAX_TIME, hidden_size)
        self.norm = nn.LayerNorm(hidden_size, eps=1e-12)
        self.dropout = nn.Dropout(dropout)

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor, type_embedding: torch.Tensor,
                frames: int | None = None) -> torch.Tensor:
        pos = self.row(positions[:, 0]) + self.col(positions[:, 1]) + self.time_embedding(positions[:, 2], frames)
        return self.dropout(self.norm(self.proj(tokens) + pos + type_embedding))

    def time_embedding(self, times: torch.Tensor, frames: int | None = None) -> torch.Tensor:
        """Rows of the time table; for clips longer than it holds, frames 1..64 resized (linearly,
        as positions in between) to the clip's length, row 0 ("no particular frame") kept.
        `frames`: the clip's length when the caller knows it; otherwise it is read from `times`,
        which on a GPU waits for the device (so the models pass it: this runs every step)."""
        if frames is None:
            frames = int(times.max()) if len(times) else 0
        if frames < MAX_TIME:
            return self.time(times)
        table = self.time.weight
        return torch.cat([table[:1], resize_time_embedding(table[1:], frames, "linear")])[times]


class CrossEncoder(nn.Module):
    def __init__(self, bert: BertModel, visual_dim: int):
        super().__init__()
        self.bert = bert
        cfg = bert.config
        self.visual_embeddings = VisualEmbeddings(visual_dim, cfg.hidden_size, cfg.hidden_dropout_prob)

    @property
    def hidden_size(self) -> int:
        return self.bert.config.hidden_size

    def embed_visual(self, tokens: torch.Tensor, positions: torch.Tensor, frames: int | None = None) -> torch.Tensor:
        """(N, L, visual_dim) -> (N, L, hidden), for clips of `frames` frames. Done once per clip,
        before pairing with texts."""
        type_1 = self.bert.embeddings.token_type_embeddings.weight[1]
        return self.visual_embeddings(tokens, positions, type_1, frames)

    def encode(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """BERT's encoder layers over embedded tokens (N, L, hidden) with a padding mask (N, L)."""
        mask = create_bidirectional_mask(config=self.bert.config, inputs_embeds=hidden, attention_mask=attention_mask)
        return self.bert.encoder(hidden, attention_mask=mask).last_hidden_state

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, visual: torch.Tensor) -> torch.Tensor:
        """input_ids, attention_mask (N, Lt); visual (N, Lv, hidden) from `embed_visual`.

        Returns the last hidden states (N, Lt + Lv, hidden); position 0 is [CLS].
        """
        text = self.bert.embeddings(input_ids=input_ids, token_type_ids=torch.zeros_like(input_ids))
        hidden = torch.cat([text, visual.to(text.dtype)], dim=1)
        mask = torch.cat([attention_mask, attention_mask.new_ones(visual.shape[:2])], dim=1)
        return self.encode(hidden, mask)


def pool_text(hidden: torch.Tensor, text_mask: torch.Tensor, pool: str) -> torch.Tensor:
    """What a head reads from the cross-encoder's states (N, Lt + Lv, H): [CLS] ("cls", ClipBERT)
    or the mean of the text tokens' states ("text_mean": a word that looked up its object feeds the
    head directly, without a second hop through [CLS])."""
    if pool == "cls":
        return hidden[:, 0]
    mask = text_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden[:, : mask.shape[1]] * mask).sum(1) / mask.sum(1)
