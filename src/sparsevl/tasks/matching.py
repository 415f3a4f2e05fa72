"""Video-text matching tasks: text-video retrieval and multiple-choice QA, on one model.

Retrieval trains the cross-encoder's ITM head on each video's caption against `itm_neg_size`
captions of other videos (ClipBERT), the dual encoder with a symmetric contrastive loss over the
batch, or both; it evaluates by `retrieval.eval_mode` (see `RetrievalConfig`).
Multiple choice scores every option with the cross-encoder and picks the best; it trains with a
cross-entropy over a question's options, and a retrieval checkpoint answers it zero-shot.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Subset
from tqdm import tqdm

from sparsevl.data.clips import videos_in_store
from sparsevl.data.matching_dataset import (
    CaptionTrainDataset,
    MatchingCollator,
    MultipleChoiceDataset,
    VideoClipsDataset,
    option_texts,
)
from sparsevl.data.store import FrameStore
from sparsevl.config import ConfigError
from sparsevl.dist import Dist
from sparsevl.models.factory import build_matching_model
from sparsevl.problems import BadInputError, ProblemLog, UserError
from sparsevl.tables import format_table
from sparsevl.data.skipping import report_skipped
from sparsevl.tasks.common import RunData, eval_loader, evaluating, to_device
from sparsevl.tasks.config import RunConfig
from sparsevl.tasks.protocol import Evaluation, Example, Prediction
from sparsevl.tasks.retrieval_metrics import (
    format_retrieval_table,
    retrieval_metrics,
    text_to_video_ranks,
    topk_metrics,
    topk_ranks,
)
from sparsevl.tasks.video_tokens import VideoTokens

TEXTS_PER_BATCH = 256  # texts per dual-encoder forward at evaluation
SHOWN_CANDIDATES = 5  # best-scored videos kept per caption in the evaluation's examples


class _MatchingTask:
    """What retrieval and multiple choice share: data, tokenizer, model, the cross-encoder score."""

    def __init__(self, cfg: RunConfig, problems: ProblemLog, state: dict | None = None):
        self.cfg = cfg
        self.problems = problems
        self.data = RunData(cfg, problems, state, self.record_fields)
        tokenizer = self.data.load_tokenizer(lambda: self.train_texts(self.data.records(cfg.train_split)))
        self.collator = MatchingCollator(tokenizer, cfg.model.max_text_len)

    def state(self) -> dict:
        return self.data.state()

    def build_model(self) -> torch.nn.Module:
        model = build_matching_model(self.cfg.model, len(self.collator.tokenizer), self.data.arch)
        self.check_model(model)
        return self.data.keep_arch(model)

    def check_model(self, model) -> None:
        """Multiple choice scores options with either model (a cross-encoder or a dual encoder alone)."""

    def itm_logits(self, model, batch: dict, clips: torch.Tensor) -> torch.Tensor:
        """(texts, 2): every text of the batch against the clips of its video."""
        return model.itm_logits(
            batch["input_ids"], batch["attention_mask"], clips[batch["video_index"]], self.cfg.score_agg_func
        )

    def seen_frames(self, video_ids) -> dict[str, list[int]]:
        """The stored frames evaluation reads of each video (every clip's, in order)."""
        clips = self.data.clip_reader(train=False)
        return {v: [i for clip in clips.video_clip_indices(v) for i in clip] for v in dict.fromkeys(video_ids)}

    def predict(self, model, store: FrameStore, video_id: str, texts: list[str], device: torch.device) -> Prediction:
        """Every text scored against the video by the cross-encoder and the dual encoder."""
        if not texts:
            raise UserError(f"a {self.cfg.task} model scores texts against the video: give --caption TEXT "
                            "(repeatable; the options of a multiple-choice question too) or --captions-file FILE")
        frames = torch.from_numpy(self.data.clip_reader(train=False, store=store).read(video_id))[None].to(device)
        tokens = to_device(self.collator.tokenize(texts), device)
        if not has_cross_encoder(model):
            with evaluating(model):
                video = model.video_embedding(model.encode_clips(frames))
                dual = (model.text_embedding(tokens["input_ids"], tokens["attention_mask"]) @ video.T)[:, 0].cpu()
            rows = [{"text": texts[i], "dual": round(float(dual[i]), 4)} for i in dual.argsort(descending=True).tolist()]
            return Prediction(rows=rows, table=format_table(("Dual", "Text (best first)"),
                                                            [(f"{r['dual']:.3f}", r["text"]) for r in rows]))
        with evaluating(model):
            video = model.encode_clips(frames)
            itm = model.match_score(model.itm_logits(
                tokens["input_ids"], tokens["attention_mask"], video.expand(len(texts), *video.shape[1:]),
                self.cfg.score_agg_func).float()).cpu()
            dual = (model.text_embedding(tokens["input_ids"], tokens["attention_mask"]) @ model.video_embedding(video).T)[:, 0].cpu()
        order = itm.argsort(descending=True).tolist()
        rows = [{"text": texts[i], "cross_encoder": round(float(itm[i]), 4), "dual": round(float(dual[i]), 4)} for i in order]
        table = format_table(("Cross-encoder", "Dual", "Text (best first, by the cross-encoder)"),
                             [(f"{r['cross_encoder']:.3f}", f"{r['dual']:.3f}", r["text"]) for r in rows])
        return Prediction(rows=rows, table=table)


class RetrievalTask(_MatchingTask):
    record_fields = {"cid": (str, int), "video_id": (str, int), "caption": str}

    @staticmethod
    def train_texts(records: list[dict]) -> list[str]:
        return [r["caption"] for r in records]

    def check_model(self, model) -> None:
        """A dual encoder alone (CLIP) is evaluated by embedding similarity only (and trained with
        the contrastive objective only: `loss` says so)."""
        if not has_cross_encoder(model) and self.cfg.retrieval.eval_mode != "dual":
            raise ConfigError(f"the {self.cfg.model.architecture} has no cross-encoder to score pairs with: set "
                              "--retrieval.eval_mode dual", "retrieval.eval_mode")

    def dataset(self, split: str, train: bool) -> CaptionTrainDataset:
        rc = self.cfg.retrieval
        # hard negatives are drawn from the batch by the loss, so the dataset gives positives only
        neg = rc.itm_neg_size if "itm" in rc.objective and rc.itm_negatives == "random" else 0
        return CaptionTrainDataset(self.data.records(split), self.data.clip_reader(train), neg, self.cfg.seed, self.problems)

    def loss(self, model, batch: dict) -> dict[str, torch.Tensor]:
        rc = self.cfg.retrieval
        if "itm" in rc.objective and not has_cross_encoder(model):
            raise ConfigError(f"the {self.cfg.model.architecture} has no ITM head: set --retrieval.objective "
                              "contrastive", "retrieval.objective")
        clips = model.encode_clips(batch["frames"])
        total = clips.new_zeros((), dtype=torch.float32)
        if "contrastive" in rc.objective:
            positive = batch["labels"] == 1  # one per video, in video order
            texts = model.text_embedding(batch["input_ids"][positive], batch["attention_mask"][positive])
            videos = model.video_embedding(clips)
            logits = model.temperature_scale() * texts @ videos.T
            target = torch.arange(len(videos), device=logits.device)
            total = total + (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
        if "itm" in rc.objective:
            if rc.itm_negatives == "hard":
                batch = self._hard_negative_pairs(batch, logits.detach())
            logits = self.itm_logits(model, batch, clips).float()
            if rc.loss_type == "ce":
                total = total + F.cross_entropy(logits, batch["labels"])
            else:  # ClipBERT's rank loss: each negative's sigmoid score `margin` below its positive's
                scores = torch.sigmoid(model.match_score(logits)).view(len(clips), -1)
                total = total + (rc.margin + scores[:, 1:] - scores[:, :1]).clamp(min=0).mean()
        return {"loss": total}

    def _hard_negative_pairs(self, batch: dict, similarity: torch.Tensor) -> dict:
        """ITM pairs whose negatives are the batch's other captions, drawn in proportion to how well
        the dual encoder thinks they match the video (softmax of similarity): random captions are
        too easy to teach the cross-encoder to rank close candidates (ALBEF's hard negatives).
        `similarity`: the contrastive logits (caption, video) of the batch."""
        n = len(similarity)
        k = min(self.cfg.retrieval.itm_neg_size, n - 1)
        weights = similarity.T.float().softmax(dim=1) + 1e-12  # (video, caption)
        # never the video's own caption, nor a caption with the same words (synthetic and real
        # datasets repeat short captions): a "negative" equal to the positive contradicts it
        ids = batch["input_ids"]
        same_text = (ids[:, None, :] == ids[None, :, :]).all(-1)
        weights = weights.masked_fill(same_text, 0)
        no_choice = weights.sum(1) == 0
        weights[no_choice] = (~torch.eye(n, dtype=torch.bool, device=weights.device))[no_choice].float()
        negatives = torch.multinomial(weights, k) if k > 0 else weights.new_zeros((n, 0), dtype=torch.long)
        text_index = torch.cat([torch.arange(n, device=negatives.device)[:, None], negatives], dim=1).reshape(-1)
        labels = torch.zeros(n, k + 1, dtype=torch.long, device=negatives.device)
        labels[:, 0] = 1
        return {
            "input_ids": batch["input_ids"][text_index],
            "attention_mask": batch["attention_mask"][text_index],
            "video_index": torch.arange(n, device=negatives.device).repeat_interleave(k + 1),
            "labels": labels.reshape(-1),
        }

    def evaluate(self, model, split: str, device: torch.device, autocast, dist: Dist) -> Evaluation:
        """Every process encodes every video and scores its share of the captions; all get every row.

        `cross` scores every (caption, video) pair with the cross-encoder; `dual` by embedding
        similarity; `rerank` re-scores the dual encoder's top `rerank_k` videos with the cross-encoder."""
        rc = self.cfg.retrieval
        all_records = self.data.records(split)
        split_videos = list(dict.fromkeys(r["video_id"] for r in all_records))
        present = videos_in_store(split_videos, self.data.vis_db, self.problems, "caption(s)")
        with evaluating(model), autocast():
            video_ids, tokens, video_emb = self._encode_videos(
                model, [v for v in split_videos if v in present], split, device, need_embedding=rc.eval_mode != "cross")
        # captions whose video is missing or unreadable are not scored but count as misses
        column = {v: i for i, v in enumerate(video_ids)}
        records = [r for r in all_records if r["video_id"] in column]
        missing = {"missing_texts": len(all_records) - len(records), "missing_videos": len(split_videos) - len(video_ids)}
        text_to_video = np.array([column[r["video_id"]] for r in records], dtype=np.int64)
        mine = dist.shard(records)
        candidates = None  # (captions, k) videos scored per caption, when not all of them are
        with evaluating(model), autocast():
            texts = to_device(self.collator.tokenize([r["caption"] for r in mine] or [""]), device)
            if rc.eval_mode == "cross":
                scores = self._cross_scores(model, texts, tokens, torch.arange(len(video_ids)).expand(len(mine), -1))
            else:
                scores = self._text_embeddings(model, texts, len(mine), video_emb) @ video_emb.T
                if rc.eval_mode == "rerank":
                    dual, candidates = scores.topk(min(rc.rerank_k, len(video_ids)), dim=1)
                    scores = self._cross_scores(model, texts, tokens, candidates)
                    if rc.rerank_score == "itm+dual":
                        scores = scores.float() + rc.rerank_dual_weight * model.temperature_scale() * dual.float()
        # every process gets the rows of every caption, in the split's order
        scores = torch.tensor(dist.gather_lists(scores.float().cpu().tolist())).view(len(records), -1)
        files = {"video_ids": video_ids, "cids": [r["cid"] for r in records], "text_to_video": text_to_video.tolist()}
        if candidates is not None:
            candidates = torch.tensor(dist.gather_lists(candidates.cpu().tolist()), dtype=torch.long).view(len(records), -1)
            metrics = topk_metrics(candidates, scores, text_to_video, len(video_ids), missing["missing_texts"])
            files["topk"] = {"indices": candidates.tolist(), "scores": scores.tolist()}
            ranks, found = topk_ranks(candidates, scores, text_to_video, len(video_ids))
            ranks = [int(r) if f else None for r, f in zip(ranks, found)]
        else:
            metrics = retrieval_metrics(scores, text_to_video, **missing)
            files["scores"] = scores.tolist()
            ranks = text_to_video_ranks(scores, text_to_video).tolist()
        flat = {f"{d}_{name}": value for d in ("t2v", "v2t") if d in metrics for name, value in metrics[d].items()
                if isinstance(value, (int, float))}
        note = (f"\n{missing['missing_texts']} caption(s) of {missing['missing_videos']} missing or unreadable "
                "video(s) counted as misses (see problems.log)" if missing["missing_texts"] else "")
        return Evaluation(
            metrics=flat | missing,
            headline=f"t2v R@1 {metrics['t2v']['R@1']:.2f} ({self._mode_name()})",
            table=f"{self._mode_name()}: {len(all_records)} captions x {len(split_videos)} videos\n"
                  + format_retrieval_table(metrics) + note,
            files={f"retrieval_{rc.eval_mode}": {"split": split, "mode": rc.eval_mode, "metrics": metrics, **files}},
            examples=self.examples(records, video_ids, scores, candidates, ranks),
        )

    def examples(self, records: list[dict], video_ids: list[str], scores: torch.Tensor,
                 candidates: torch.Tensor | None, ranks: list[int | None]) -> list[Example]:
        """Every caption with its video's frames and its best-scored videos; grouped by the rank of
        its own video. `scores[t, j]` is caption t's score of video `candidates[t, j]` (of video
        j when every video was scored); `ranks[t]`: its video's rank (None: not among the scored)."""
        frames = self.seen_frames(video_ids)
        k = min(SHOWN_CANDIDATES, scores.shape[1])
        best = scores.topk(k, dim=1)
        chosen = best.indices if candidates is None else candidates.gather(1, best.indices)
        out = []
        for r, rank, top, top_scores in zip(records, ranks, chosen.tolist(), best.values.tolist()):
            shown = [{"video_id": video_ids[v], "score": round(s, 4), "frames": frames[video_ids[v]]}
                     for v, s in zip(top, top_scores)]
            out.append(Example(
                video_id=r["video_id"], frames=frames[r["video_id"]], text=r["caption"],
                prediction=shown[0]["video_id"], truth=r["video_id"], correct=rank == 1,
                score=shown[0]["score"], group=_rank_group(rank, scores.shape[1]), candidates=shown,
            ))
        return out

    def _mode_name(self) -> str:
        rc = self.cfg.retrieval
        if rc.eval_mode != "rerank":
            return rc.eval_mode
        score = "itm" if rc.rerank_score == "itm" else f"itm + {rc.rerank_dual_weight:g} x dual"
        return f"rerank k={rc.rerank_k} by {score}"

    def _encode_videos(self, model, video_ids: list[str], split: str, device, need_embedding: bool):
        """Every video's clips through the visual tower once: the ids of the videos that could be
        read, their tokens (V, n_clips, Lv, hidden; on the CPU with `low_resource_eval`) and
        embeddings (V, D, on the device)."""
        tokens, embeddings, encoded = VideoTokens(device, self.cfg.retrieval.low_resource_eval), [], []
        dataset = VideoClipsDataset(video_ids, self.data.clip_reader(train=False))
        for batch in tqdm(eval_loader(dataset, self.cfg.val_batch_size, self.collator, self.cfg.num_workers),
                          desc="encode videos", unit="batch", leave=False):
            if report_skipped(batch, self.problems, split) and not batch:
                continue
            encoded += batch["video_ids"]
            clips = model.encode_clips(batch["frames"].to(device))
            if need_embedding:
                embeddings.append(model.video_embedding(clips))
            if self.cfg.retrieval.eval_mode != "dual":  # only the cross-encoder reads them again
                tokens.add(clips)
        if not encoded:
            raise BadInputError(f"no video of split {split!r} could be read from {self.cfg.vis_db} (see problems.log)")
        return encoded, tokens, torch.cat(embeddings) if need_embedding else None

    @staticmethod
    def _text_embeddings(model, texts: dict, n: int, video_emb: torch.Tensor) -> torch.Tensor:
        """(n, D) dual-encoder embeddings of the tokenized texts, in batches."""
        parts = [
            model.text_embedding(texts["input_ids"][i:i + TEXTS_PER_BATCH], texts["attention_mask"][i:i + TEXTS_PER_BATCH])
            for i in range(0, n, TEXTS_PER_BATCH)
        ]
        return torch.cat(parts) if parts else video_emb.new_zeros((0, video_emb.shape[1]))

    def _cross_scores(self, model, texts: dict, tokens: VideoTokens, candidates: torch.Tensor) -> torch.Tensor:
        """Cross-encoder match scores of text i with video candidates[i, j]: (texts, candidates)."""
        n_texts, n_cand = candidates.shape
        pairs_text = torch.arange(n_texts).repeat_interleave(n_cand)
        pairs_video = candidates.reshape(-1).cpu()
        scores = []
        step = self.cfg.retrieval.eval_pairs_per_batch
        for i in tqdm(range(0, len(pairs_text), step), desc="cross-encoder pairs", unit="batch", leave=False):
            t, v = pairs_text[i:i + step], pairs_video[i:i + step]
            logits = model.itm_logits(
                texts["input_ids"][t], texts["attention_mask"][t], tokens.take(v), self.cfg.score_agg_func
            )
            scores.append(model.match_score(logits.float()))
        flat = torch.cat(scores) if scores else torch.zeros(0)
        return flat.view(n_texts, n_cand)


def has_cross_encoder(model) -> bool:
    """Whether the model scores pairs with a cross-encoder (ITM) beside its dual encoder."""
    return hasattr(model, "itm_logits")


def _rank_group(rank: int | None, scored: int) -> str:
    """The bucket of a caption's own video in its ranking, as R@1/5/10 count them."""
    if rank is None:
        return f"not in the top {scored}"
    for low, high in ((1, 1), (2, 5), (6, 10)):
        if rank <= high:
            return f"rank {rank}" if low == high else f"rank {low}-{high}"
    return "rank > 10"


class MultipleChoiceTask(_MatchingTask):
    record_fields = {"qid": (str, int), "video_id": (str, int), "options": list, "answer": int}

    @staticmethod
    def train_texts(records: list[dict]) -> list[str]:
        return [t for r in records for t in option_texts(r)]

    def dataset(self, split: str, train: bool) -> MultipleChoiceDataset:
        return MultipleChoiceDataset(self.data.records(split), self.data.clip_reader(train), self.problems)

    def option_scores(self, model, batch: dict) -> list[torch.Tensor]:
        """One score per option, per question (questions may have different numbers of options):
        the cross-encoder's match score, or a dual encoder's scaled similarity."""
        clips = model.encode_clips(batch["frames"])
        if has_cross_encoder(model):
            scores = model.match_score(self.itm_logits(model, batch, clips).float())
        else:
            scores = model.similarity_scores(batch["input_ids"], batch["attention_mask"], clips[batch["video_index"]])
        return list(scores.split(batch["num_texts"].tolist()))

    def loss(self, model, batch: dict) -> dict[str, torch.Tensor]:
        per_question = self.option_scores(model, batch)
        labels = batch["labels"].split(batch["num_texts"].tolist())
        losses = [F.cross_entropy(s[None], lab.argmax()[None]) for s, lab in zip(per_question, labels)]
        return {"loss": torch.stack(losses).mean()}

    def evaluate(self, model, split: str, device: torch.device, autocast, dist: Dist) -> Evaluation:
        predictions = []
        dataset = self.dataset(split, train=False)
        loader = eval_loader(Subset(dataset, dist.shard(list(range(len(dataset))))), self.cfg.val_batch_size,
                             self.collator, self.cfg.num_workers)
        skipped = []
        with evaluating(model):
            for batch in tqdm(loader, desc=f"predict {split}", unit="batch", leave=False):
                skipped += report_skipped(batch, self.problems, split)
                if not batch:
                    continue
                batch = to_device(batch, device)
                with autocast():
                    per_question = self.option_scores(model, batch)
                labels = batch["labels"].split(batch["num_texts"].tolist())
                for qid, s, lab in zip(batch["qids"], per_question, labels):
                    predictions.append({"qid": qid, "answer": int(s.argmax()), "truth": int(lab.argmax()),
                                        "scores": s.tolist()})
        predictions = dist.gather_lists(predictions)
        not_in_store = len(self.data.records(split)) - len(dataset)
        unanswered = not_in_store + len(dist.gather_lists(skipped))
        total = len(predictions) + unanswered  # a question that could not be answered is wrong
        examples = self.examples(dataset.records, predictions)
        correct = sum(p["answer"] == p["truth"] for p in predictions)
        accuracy = 100.0 * correct / total if total else 0.0
        table = format_table(("Split", "Accuracy", "Correct", "Total"), [(split, f"{accuracy:.2f}", str(correct), str(total))])
        if unanswered:
            table += f"\n{unanswered} question(s) whose video is missing or unreadable counted as wrong (see problems.log)"
        return Evaluation(
            metrics={"accuracy": accuracy, "unanswered": unanswered},
            headline=f"accuracy {accuracy:.2f}",
            table=table,
            files={"predictions": predictions, "accuracy": {"split": split, "accuracy": accuracy, "correct": correct,
                                                            "total": total, "unanswered": unanswered}},
            examples=examples,
        )

    def examples(self, records: list[dict], predictions: list[dict]) -> list[Example]:
        """Every answered question: its options as the text, the chosen and the right option."""
        frames = self.seen_frames(r["video_id"] for r in records)
        by_qid = {str(r["qid"]): r for r in records}
        out = []
        for p in predictions:
            r = by_qid[str(p["qid"])]
            options = option_texts(r)
            question = (r.get("question") or "").strip()
            out.append(Example(
                video_id=r["video_id"], frames=frames[r["video_id"]],
                text=(f"{question}: " if question else "") + " | ".join(map(str, r["options"])),
                prediction=options[p["answer"]], truth=options[p["truth"]], correct=p["answer"] == p["truth"],
                score=round(p["scores"][p["answer"]], 4),
            ))
        return out
