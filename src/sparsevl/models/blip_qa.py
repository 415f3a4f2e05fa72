"""BLIP for open-ended video QA: BLIP's VQA model (its ViT inflated to clips, a question encoder
cross-attending to the video, an answer decoder cross-attending to the question) scoring a fixed
answer list, so that it is a classifier over the list as the `video_qa` task expects.

- The video: `BlipVideoTower` as in retrieval (`space_only` or `divided_space_time`); the question
  encoder (BLIP's `text_encoder`, [ENC] in place of [CLS] when the tokenizer has it, as BLIP's
  VQA reads it) cross-attends to the tokens of all the clip's frames concatenated.
- An answer's score is its log-likelihood under the decoder: [DEC] answer [SEP], every token after
  [DEC] counted (the [SEP] too, so that a short answer is not favoured for being a prefix).
  The decoder cross-attends to the question's own tokens, never to a batch's padding.
- Ranking (BLIP's `rank_answer`): the `rank_k` answers whose first token the decoder finds most
  likely (on several clips: the mean of the clips' log-probabilities) are scored whole; the others
  get -inf. In training the gold answers are always among those scored, so cross-entropy over the
  scores is a ranking loss over the gold answer and the `rank_k` most likely others. Every clip of
  a question scores the same answers, so combining the clips (`score_agg_func`) leaves the others
  at -inf and the scored ones finite.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from transformers import BlipTextConfig, BlipTextLMHeadModel, BlipTextModel

from sparsevl.models.aggregation import aggregate_clip_scores
from sparsevl.models.blip import BlipVideoTower
from sparsevl.models.vit import VisionTransformer

# (question, answer) pairs the decoder scores at once: bounds the (pairs, answer tokens, vocabulary)
# logits, 2 GB in float32 for BLIP's 30,524 tokens and 6-token answers at 4,096 pairs
PAIRS_PER_PASS = 1024


def answer_sequences(answers: Sequence[Sequence[int]], config: BlipTextConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Answers' token ids (no special tokens) -> ([DEC] ids [SEP] padded, (A, L); their mask), cut
    to the decoder's positions."""
    if not answers:
        raise ValueError("BLIP's QA ranks an answer list: it is empty")
    longest = config.max_position_embeddings
    rows = [[config.bos_token_id, *list(ids)[:longest - 2], config.sep_token_id] for ids in answers]
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), config.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row)
        mask[i, :len(row)] = 1
    return ids, mask


class BlipQAModel(nn.Module):
    def __init__(self, vit: VisionTransformer, text_config: BlipTextConfig, answers: Sequence[Sequence[int]],
                 enc_token_id: int | None, rank_k: int):
        super().__init__()
        self.visual = BlipVideoTower(vit)
        self.text_encoder = BlipTextModel(text_config, add_pooling_layer=False)
        self.text_decoder = BlipTextLMHeadModel(text_config)
        self.enc_token_id = enc_token_id  # put in place of [CLS] in the question; None: keep [CLS]
        self.rank_k = rank_k  # answers scored whole; 0: all of them
        ids, mask = answer_sequences(answers, text_config)
        # rebuilt from the answer list each time the model is built: not part of the weights
        self.register_buffer("answer_ids", ids, persistent=False)
        self.register_buffer("answer_mask", mask, persistent=False)

    @property
    def num_answers(self) -> int:
        return self.answer_ids.shape[0]

    def forward(self, frames: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                video_index: torch.Tensor, score_agg_func: str = "mean",
                labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """frames (B, n_clips, T, H, W, 3) uint8; questions (Q, Lt) about videos `video_index` (Q,);
        `labels` (Q,): answers to score whatever their rank (negative: none). Returns (scores (Q,
        answers), clip scores (Q, n_clips, answers)), -inf for the answers not scored."""
        b, n_clips = frames.shape[:2]
        visual = self.visual(frames.flatten(0, 1))[:, 1:]  # every frame's tokens, without the summary slot
        visual = visual.unflatten(0, (b, n_clips))[video_index].flatten(0, 1)  # (Q n_clips, Lv, width)
        mask = attention_mask.repeat_interleave(n_clips, dim=0)
        states = self.encode_questions(input_ids.repeat_interleave(n_clips, dim=0), mask, visual)
        # The decoder reads each question's own tokens, without padding: transformers' BLIP text
        # model drops the mask of its cross-attention (BlipTextAttention hands it on as the
        # self-attention's mask, which the cross-attention replaces with its encoder mask, None),
        # so padded questions would be answered differently from the same question alone.
        lengths, groups, blocks = attention_mask.sum(dim=1), [], []
        for length in lengths.unique().tolist():
            questions = (lengths == length).nonzero().squeeze(1)
            rows = (questions[:, None] * n_clips + torch.arange(n_clips, device=questions.device)).flatten()
            own = states[rows][mask[rows].bool()].view(len(rows), length, -1)  # (questions n_clips, length, hidden)
            gold = labels[questions] if labels is not None else None
            groups.append(questions)
            blocks.append(self.score_answers(own, n_clips, gold))
        clip_scores = torch.cat(blocks)[torch.cat(groups).argsort()]  # back in the questions' order
        return aggregate_clip_scores(clip_scores, score_agg_func), clip_scores

    def score_answers(self, states: torch.Tensor, n_clips: int, labels: torch.Tensor | None) -> torch.Tensor:
        """Questions' states, unpadded (Q n_clips, Lt, hidden) -> (Q, n_clips, answers), -inf where not scored."""
        candidates = self.candidates(states, n_clips, labels).repeat_interleave(n_clips, dim=0)  # (Q n_clips, K)
        scores = self.answer_log_likelihoods(states, candidates)
        out = scores.new_full((states.shape[0], self.num_answers), float("-inf")).scatter(1, candidates, scores)
        return out.view(-1, n_clips, self.num_answers)

    def encode_questions(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, visual: torch.Tensor) -> torch.Tensor:
        """Questions (P, Lt), each with its clip's tokens (P, Lv, width) -> states (P, Lt, hidden)."""
        if self.enc_token_id is not None:
            input_ids = input_ids.clone()
            input_ids[:, 0] = self.enc_token_id
        states = self.text_encoder(
            input_ids=input_ids, attention_mask=attention_mask, encoder_hidden_states=visual,
            encoder_attention_mask=visual.new_ones(visual.shape[:2], dtype=torch.long),
        ).last_hidden_state
        return states

    @torch.no_grad()
    def candidates(self, states: torch.Tensor, n_clips: int, labels: torch.Tensor | None) -> torch.Tensor:
        """(Q, K) answers to score whole: all, or the `rank_k` whose first token is most likely
        (with the `labels` among them). A choice, so no gradient."""
        q, count = states.shape[0] // n_clips, self.num_answers
        if self.rank_k == 0 or self.rank_k >= count:
            return torch.arange(count, device=states.device).expand(q, count)
        start = self.answer_ids[:1, :1].expand(states.shape[0], 1)  # [DEC]
        first = self.decode(start, torch.ones_like(start), states)[:, 0].float().log_softmax(-1)
        ranking = first[:, self.answer_ids[:, 1]].view(q, n_clips, count).mean(dim=1)
        if labels is not None:
            known = labels >= 0
            ranking[known.nonzero().squeeze(1), labels[known]] = float("inf")
        return ranking.topk(self.rank_k, dim=1).indices

    def answer_log_likelihoods(self, states: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """Questions' states (P, Lt, hidden) and answers (P, K) -> each answer's log-likelihood (P, K)."""
        k = candidates.shape[1]
        pairs = candidates.flatten()
        out = []
        for start in range(0, len(pairs), PAIRS_PER_PASS):
            chunk = torch.arange(start, min(start + PAIRS_PER_PASS, len(pairs)), device=pairs.device)
            question = chunk // k
            ids, answer_mask = self.answer_ids[pairs[chunk]], self.answer_mask[pairs[chunk]]
            logits = self.decode(ids, answer_mask, states[question])
            token_log_probs = logits[:, :-1].float().log_softmax(-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
            out.append((token_log_probs * answer_mask[:, 1:]).sum(dim=1))
        return torch.cat(out).view(-1, k)

    def decode(self, ids: torch.Tensor, ids_mask: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """The decoder's next-token logits (P, La, vocab) for answer tokens cross-attending to
        unpadded questions (P, Lt, hidden)."""
        return self.text_decoder(input_ids=ids, attention_mask=ids_mask, encoder_hidden_states=states,
                                 use_cache=False).logits
