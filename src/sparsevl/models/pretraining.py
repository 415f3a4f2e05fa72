"""The pre-training model: the video-text matching model (cross-encoder with its ITM head, dual
encoder with its learned temperature) plus a masked-language-modelling head.

The MLM head is BERT's (`cls.predictions`: dense + GELU + LayerNorm, then a decoder whose weight
is the word-embedding table and whose bias is its own), reading the cross-encoder's text states.
Every other tensor is named as in `VideoTextMatchingModel`, so a pre-training checkpoint loads
into a retrieval model as it is (the MLM head is then reported unused) and into a VideoQA model
through `init_checkpoint` (visual and cross towers; the answer head is new).
"""

from __future__ import annotations

import torch
from transformers.models.bert.modeling_bert import BertOnlyMLMHead

from sparsevl.models.cross_encoder import CrossEncoder
from sparsevl.models.matching import VideoTextMatchingModel
from sparsevl.models.visual import VisualEncoder


class VideoTextPretrainingModel(VideoTextMatchingModel):
    def __init__(self, visual: VisualEncoder, cross: CrossEncoder, embed_dim: int, pool: str = "cls"):
        super().__init__(visual, cross, embed_dim, pool)
        bert = cross.bert
        self.mlm_head = BertOnlyMLMHead(bert.config)
        predictions = self.mlm_head.predictions
        # tied as BertForMaskedLM ties them: predicting a word is scoring it against its input embedding
        predictions.decoder.weight = bert.embeddings.word_embeddings.weight
        predictions.decoder.bias = predictions.bias

    def mlm_logits(self, text_states: torch.Tensor) -> torch.Tensor:
        """Cross-encoder states of text positions (..., hidden) -> vocabulary logits (..., vocab)."""
        return self.mlm_head(text_states)
