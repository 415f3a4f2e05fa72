"""BLIP's open-ended QA read from a Hugging Face BlipForQuestionAnswering folder: on one frame, its
answer scores are the log-likelihoods transformers' own modules of that model give, its top
answer is what transformers' `generate` produces, the first-token ranking (BLIP's rank_answer)
scores the answers transformers' decoder finds most likely first, and training scores the gold
answers whatever their rank."""

from __future__ import annotations

import pytest
import torch

from sparsevl.data.tokenizer import read_tokenizer_folder
from sparsevl.models.factory import build_matching_model, build_video_qa_model
from sparsevl.problems import BadInputError
from tests.models.blip_folder import write_tiny_blip, write_tiny_blip_qa
from tests.models.test_blip import blip_config, random_frames
from tests.models.test_clip_text import pixel_values

QUESTIONS = ["what colour is the square", "what does the circle do now", "where"]
ANSWERS = ["red", "blue", "green square", "left", "the circle jumps", "it moves right", "none"]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(params=[True, False], ids=["enc_token", "cls_token"])
def blip_qa(request, tmp_path):
    hf = write_tiny_blip_qa(tmp_path / "blip_qa", QUESTIONS + ANSWERS, enc_token=request.param)
    return hf, tmp_path / "blip_qa", request.param


def tokens(folder, texts: list[str]) -> list[list[int]]:
    return read_tokenizer_folder(folder)(texts, add_special_tokens=False)["input_ids"]


def build(folder, answers: list[list[int]], **overrides):
    return build_video_qa_model(blip_config(folder, **overrides), len(answers), 0, answer_token_ids=answers).eval()


def questions(folder, enc_token: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The questions as the task's collator gives them (padded), and as BLIP's question encoder reads them."""
    tokenizer = read_tokenizer_folder(folder)
    text = tokenizer(QUESTIONS, padding=True, return_tensors="pt")
    hf_ids = text["input_ids"].clone()
    if enc_token:
        hf_ids[:, 0] = tokenizer.convert_tokens_to_ids("[ENC]")
    return text["input_ids"], text["attention_mask"], hf_ids


def transformers_log_likelihoods(hf, folder, hf_ids, mask, pixels, answers: list[str]) -> torch.Tensor:
    """(questions, answers): -loss of BlipForQuestionAnswering's decoder on "[DEC] answer [SEP]"
    (BLIP's answer input), given each question (unpadded) encoded against the image, summed over
    the tokens."""
    tokenizer = read_tokenizer_folder(folder)
    answer = tokenizer(answers, padding=True, return_tensors="pt")
    answer_ids = answer["input_ids"].clone()
    answer_ids[:, 0] = hf.config.text_config.bos_token_id
    targets = answer_ids.masked_fill(answer["attention_mask"] == 0, -100)
    image = hf.vision_model(pixel_values=pixels).last_hidden_state
    out = []
    for question, length in zip(hf_ids, mask.sum(1).tolist()):
        states = hf.text_encoder(input_ids=question[None, :length], encoder_hidden_states=image).last_hidden_state
        out.append(-hf.text_decoder(
            input_ids=answer_ids, attention_mask=answer["attention_mask"],
            encoder_hidden_states=states.expand(len(answers), -1, -1), labels=targets, reduction="none",
        ).loss)
    return torch.stack(out)


def test_answer_scores_on_one_frame_are_transformers_log_likelihoods(blip_qa):
    hf, folder, enc_token = blip_qa
    model = build(folder, tokens(folder, ANSWERS), qa_rank_k=0)
    ids, mask, hf_ids = questions(folder, enc_token)
    frames = random_frames(1, 1, 1)  # one video of one clip of one frame, all questions about it
    with torch.no_grad():
        ours, clip_scores = model(frames, ids, mask, torch.zeros(len(ids), dtype=torch.long))
        theirs = transformers_log_likelihoods(hf, folder, hf_ids, mask, pixel_values(frames.flatten(0, 2)), ANSWERS)
    assert ours.shape == (len(QUESTIONS), len(ANSWERS)) and clip_scores.shape == (len(QUESTIONS), 1, len(ANSWERS))
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    assert theirs.std() > 0.1 and (theirs - theirs.mean(0)).abs().max() > 0.1  # answers and questions matter


def test_a_question_is_answered_the_same_whatever_the_padding_of_its_batch(blip_qa):
    """transformers' BLIP text model drops the mask of its cross-attention: the decoder must not
    see the padding of a batch's shorter questions."""
    _, folder, _ = blip_qa
    model = build(folder, tokens(folder, ANSWERS), qa_rank_k=0)
    ids, mask, _ = questions(folder, False)
    frames = random_frames(1, 1, 1, seed=6)
    assert (mask == 0).any()  # the batch pads some questions
    with torch.no_grad():
        batch, _ = model(frames, ids, mask, torch.zeros(len(ids), dtype=torch.long))
        for q, length in enumerate(mask.sum(1).tolist()):
            alone, _ = model(frames, ids[q:q + 1, :length], mask[q:q + 1, :length], torch.zeros(1, dtype=torch.long))
            torch.testing.assert_close(batch[q], alone[0], atol=1e-5, rtol=0)


def test_the_top_answer_is_what_transformers_generate_produces(blip_qa):
    """Beam search's beams as the answer list: their scores (length_penalty 0: the summed token
    log-probabilities) are ours, so our top answer is generate's."""
    hf, folder, enc_token = blip_qa
    _, _, hf_ids = questions(folder, enc_token)
    sep, beams = hf.config.text_config.sep_token_id, 4
    checked = 0
    for q, frame_seed in [(0, 1), (1, 2), (2, 3)]:
        length = int((hf_ids[q] != 0).sum())
        question = hf_ids[q:q + 1, :length]  # unpadded: generate's decoder reads every question token
        frames = random_frames(1, 1, 1, seed=frame_seed)
        out = hf.generate(input_ids=question, pixel_values=pixel_values(frames.flatten(0, 2)), num_beams=beams,
                          num_return_sequences=beams, length_penalty=0.0, max_new_tokens=8,
                          output_scores=True, return_dict_in_generate=True)
        generated = [row[1:].tolist() for row in out.sequences]  # without [DEC]
        assert all(sep in row for row in generated)  # every beam ended: its score counts its [SEP]
        answers = [row[:row.index(sep)] for row in generated]
        order = list(reversed(range(beams)))  # not generate's order
        model = build(folder, [answers[i] for i in order], qa_rank_k=0)
        ours_ids = torch.tensor([[read_tokenizer_folder(folder).cls_token_id, *question[0, 1:].tolist()]])
        with torch.no_grad():
            ours, _ = model(frames, ours_ids, torch.ones_like(ours_ids), torch.zeros(1, dtype=torch.long))
        torch.testing.assert_close(ours[0], out.sequences_scores[order], atol=1e-5, rtol=0)
        assert answers[order[int(ours[0].argmax())]] == answers[0]  # generate's answer
        checked += len(set(map(tuple, answers))) == beams  # distinct beams: the ranking had a choice
    assert checked >= 2


def test_first_token_ranking_scores_the_answers_most_likely_first(blip_qa):
    """qa_rank_k 3: the three answers whose first token transformers' decoder finds most likely
    are scored whole (as with every answer scored), the others are -inf; with labels (training),
    the gold answers are scored too."""
    hf, folder, enc_token = blip_qa
    answers = tokens(folder, ANSWERS)
    everything, ranked = build(folder, answers, qa_rank_k=0), build(folder, answers, qa_rank_k=3)
    ranked.load_state_dict(everything.state_dict())
    ids, mask, hf_ids = questions(folder, enc_token)
    frames, video_index = random_frames(1, 1, 1, seed=4), torch.zeros(len(ids), dtype=torch.long)
    with torch.no_grad():
        full, _ = everything(frames, ids, mask, video_index)
        top, _ = ranked(frames, ids, mask, video_index)
        image = hf.vision_model(pixel_values=pixel_values(frames.flatten(0, 2))).last_hidden_state
        start = torch.full((1, 1), hf.config.text_config.bos_token_id)
        first = []
        for question, length in zip(hf_ids, mask.sum(1).tolist()):
            states = hf.text_encoder(input_ids=question[None, :length], encoder_hidden_states=image).last_hidden_state
            first.append(hf.text_decoder(input_ids=start, encoder_hidden_states=states).logits[0, 0])
        expected = torch.stack(first).softmax(-1)[:, [a[0] for a in answers]].topk(3, dim=1).indices
    scored = torch.isfinite(top)
    assert scored.sum(1).tolist() == [3] * len(ids)
    assert [set(row.nonzero().flatten().tolist()) for row in scored] == [set(row.tolist()) for row in expected]
    torch.testing.assert_close(top[scored], full[scored], atol=1e-5, rtol=0)
    gold = torch.tensor([int(i) for i in (~scored).float().argmax(1)])  # an answer not ranked in, per question
    with torch.no_grad():
        trained, _ = ranked(frames, ids, mask, video_index, labels=torch.stack([gold[0], gold[1], torch.tensor(-100)]))
    assert torch.isfinite(trained[[0, 1], gold[:2]]).all()
    assert torch.isfinite(trained).sum(1).tolist() == [3, 3, 3]  # the gold in place of the third-ranked


def test_clips_are_combined_over_the_same_answers_and_a_checkpoint_rebuilds_it(blip_qa, tmp_path):
    _, folder, _ = blip_qa
    answers = tokens(folder, ANSWERS)
    model = build(folder, answers, qa_rank_k=2, num_frm=2, attention_type="divided_space_time")
    rebuilt = build_video_qa_model(blip_config(tmp_path / "gone", qa_rank_k=2, num_frm=2,
                                               attention_type="divided_space_time"),
                                   len(answers), 0, model.arch, answer_token_ids=answers).eval()
    rebuilt.load_state_dict(model.state_dict())
    ids, mask, _ = questions(folder, False)
    frames, video_index = random_frames(2, 3, 2, seed=5), torch.tensor([0, 1, 1])  # two videos, three clips each
    with torch.no_grad():
        for agg in ("mean", "max", "lse"):
            scores, clips = model(frames, ids, mask, video_index, agg)
            assert (torch.isfinite(scores).sum(1) == 2).all()
            assert (torch.isfinite(clips) == torch.isfinite(scores)[:, None]).all()  # every clip: the same two
        torch.testing.assert_close(rebuilt(frames, ids, mask, video_index)[0], model(frames, ids, mask, video_index)[0])
    assert "answer_ids" not in model.state_dict()  # rebuilt from the answer list, not saved
    # the unscored answers' -inf give no NaN gradient, whatever combines the clips (lse's backward
    # of an all -inf column is NaN: it must not reach the scores)
    labels = torch.tensor([0, 5, -100])
    for agg in ("mean", "max", "lse"):
        model.zero_grad()
        scores, _ = model(frames, ids, mask, video_index, agg, labels=labels)
        torch.nn.functional.cross_entropy(scores, labels, ignore_index=-100).backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)
        assert model.text_decoder.cls.predictions.transform.dense.weight.grad.abs().sum() > 0


def test_a_retrieval_folder_for_qa_and_a_qa_folder_for_retrieval_are_said(blip_qa, tmp_path):
    _, folder, _ = blip_qa
    write_tiny_blip(tmp_path / "itm", QUESTIONS + ANSWERS)
    with pytest.raises(BadInputError, match="holds a BlipForImageTextRetrieval .* needs a BlipForQuestionAnswering"):
        build(tmp_path / "itm", tokens(folder, ANSWERS))
    with pytest.raises(BadInputError, match="holds a BlipForQuestionAnswering .* needs a BlipForImageTextRetrieval"):
        build_matching_model(blip_config(folder), vocab_size=0)
    with pytest.raises(ValueError, match="qa_rank_k must be at least 0"):
        blip_config(folder, qa_rank_k=-1)
