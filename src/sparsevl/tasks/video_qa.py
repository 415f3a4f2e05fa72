"""Open-ended VideoQA: the task builds the datasets, tokenizer and model; the runner trains."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import Subset
from tqdm import tqdm

from sparsevl.data.qa_dataset import IGNORE_LABEL, QACollator, VideoQADataset
from sparsevl.data.store import FrameStore
from sparsevl.dist import Dist
from sparsevl.models.factory import build_video_qa_model
from sparsevl.problems import ProblemLog, UserError
from sparsevl.data.skipping import report_skipped
from sparsevl.tasks.common import RunData, eval_loader, evaluating, to_device
from sparsevl.tasks.config import RunConfig
from sparsevl.tasks.protocol import Evaluation, Example, Prediction
from sparsevl.tasks.qa_report import NO_TYPE, Report, accuracy_by_type, format_report, normalize
from sparsevl.tables import format_table
from sparsevl.txt_db import load_ans2label


RECORD_FIELDS = {"qid": (str, int), "video_id": (str, int), "question": str, "answer": (str, int)}


class VideoQATask:
    def __init__(self, cfg: RunConfig, problems: ProblemLog, state: dict | None = None):
        self.cfg = cfg
        self.problems = problems
        self.data = RunData(cfg, problems, state, RECORD_FIELDS)
        # the answer vocabulary is the model's output layer: a checkpoint's own, else the txt_db's
        self.ans2label = state["ans2label"] if state and "ans2label" in state else load_ans2label(cfg.txt_db)
        self.label2ans = {label: ans for ans, label in self.ans2label.items()}
        tokenizer = self.data.load_tokenizer(lambda: [r["question"] for r in self.data.records(cfg.train_split)])
        self.collator = QACollator(tokenizer, cfg.model.max_text_len)

    def state(self) -> dict:
        return {**self.data.state(), "ans2label": self.ans2label}

    def dataset(self, split: str, train: bool) -> VideoQADataset:
        return VideoQADataset(self.data.records(split), self.data.clip_reader(train), self.ans2label, self.problems)

    def build_model(self) -> torch.nn.Module:
        model = build_video_qa_model(self.cfg.model, len(self.ans2label), len(self.collator.tokenizer), self.data.arch,
                                     answer_token_ids=self.answer_token_ids())
        return self.data.keep_arch(model)

    def answer_token_ids(self) -> list[list[int]]:
        """The answer list tokenized (no special tokens), in label order: for a model that scores
        answers by their words (BLIP's decoder); a classifier ignores it."""
        answers = [self.label2ans[label] for label in range(len(self.label2ans))]
        return self.collator.tokenizer(answers, add_special_tokens=False)["input_ids"]

    def logits(self, model: torch.nn.Module, batch: dict, with_labels: bool = False) -> torch.Tensor:
        """(questions, answers), the clips' logits combined by `score_agg_func`. `with_labels`
        (training): the gold answers go to the model too, which must score them (a model that
        scores only some answers, BLIP's ranking); a classifier scores all anyway."""
        labels = {"labels": batch["labels"]} if with_labels else {}
        logits, _ = model(
            batch["frames"], batch["input_ids"], batch["attention_mask"], batch["video_index"], self.cfg.score_agg_func,
            **labels,
        )
        return logits

    def loss(self, model: torch.nn.Module, batch: dict) -> dict[str, torch.Tensor]:
        logits = self.logits(model, batch, with_labels=True)
        labels = batch["labels"]
        if (labels == IGNORE_LABEL).all():  # no answer of this batch is in the vocabulary
            return {"loss": logits.sum() * 0.0}
        return {"loss": F.cross_entropy(logits.float(), labels, ignore_index=IGNORE_LABEL)}

    def answers(self, model, split: str, device: torch.device, autocast, dist: Dist) -> list[dict]:
        """[{"question_id", "answer", "score"}] (ActivityNet-QA's format, plus the answer's
        probability), answers from `inference_n_clips`. Under several processes each answers its
        share of the videos and all get every prediction."""
        dataset = self.dataset(split, train=False)
        dataset = Subset(dataset, dist.shard(list(range(len(dataset)))))
        loader = eval_loader(dataset, self.cfg.val_batch_size, self.collator, self.cfg.num_workers)
        predictions = []
        with evaluating(model):
            for batch in tqdm(loader, desc=f"predict {split}", unit="batch", leave=False):
                if report_skipped(batch, self.problems, split) and not batch:
                    continue  # a skipped video's questions get no answer: they count as wrong
                batch = to_device(batch, device)
                with autocast():
                    logits = self.logits(model, batch)
                best = logits.float().softmax(-1).max(-1)
                for qid, label, score in zip(batch["qids"], best.indices.tolist(), best.values.tolist()):
                    predictions.append({"question_id": qid, "answer": self.label2ans[label], "score": score})
        return dist.gather_lists(predictions)

    def report(self, split: str, predictions: list[dict]) -> Report:
        truth = [
            {"qid": r["qid"], "answer": r["answer"], "answer_type": r.get("answer_type")}
            for r in self.data.records(split)
        ]
        return accuracy_by_type({p["question_id"]: p["answer"] for p in predictions}, truth)

    def evaluate(self, model, split: str, device: torch.device, autocast, dist: Dist) -> Evaluation:
        predictions = self.answers(model, split, device, autocast, dist)
        report = self.report(split, predictions)
        unanswered = len(report.missing)
        note = (f"\n{unanswered} question(s) without an answer (their video missing from the vis_db or "
                "unreadable: see problems.log), counted as wrong" if unanswered else "")
        return Evaluation(
            metrics={r.name: r.accuracy for r in report.rows if r.total} | {"unanswered": unanswered},
            headline=f"All {report.row('All').accuracy:.2f}",
            table=format_report(report) + note,
            files={"predictions": [{"question_id": p["question_id"], "answer": p["answer"]} for p in predictions],
                   "accuracy": {"split": split, **report.to_dict()}},
            examples=self.examples(split, predictions),
        )

    def examples(self, split: str, predictions: list[dict]) -> list[Example]:
        """Every answered question with the frames the model saw, grouped by question type."""
        clips = self.data.clip_reader(train=False)
        by_qid = {str(p["question_id"]): p for p in predictions}
        frames: dict[str, list[int]] = {}  # inference clips depend on the video only
        out = []
        for r in self.data.records(split):
            p = by_qid.get(str(r["qid"]))
            if p is None:  # its video has no frames: reported when the dataset was built
                continue
            if r["video_id"] not in frames:
                frames[r["video_id"]] = [i for clip in clips.video_clip_indices(r["video_id"]) for i in clip]
            out.append(Example(
                video_id=r["video_id"], frames=frames[r["video_id"]], text=r["question"],
                prediction=p["answer"], truth=str(r["answer"]),
                correct=normalize(p["answer"]) == normalize(r["answer"]), score=round(p["score"], 4),
                group=NO_TYPE if r.get("answer_type") is None else str(r["answer_type"]),
            ))
        return out

    def predict(self, model, store: FrameStore, video_id: str, texts: list[str], device: torch.device) -> Prediction:
        if not texts:
            raise UserError("a video_qa model answers questions: give at least one --question")
        records = [{"qid": str(i), "video_id": video_id, "question": q, "answer": ""} for i, q in enumerate(texts)]
        item = VideoQADataset(records, self.data.clip_reader(train=False, store=store), self.ans2label)[0]
        batch = to_device(self.collator([item]), device)
        with evaluating(model):
            probs = self.logits(model, batch).float().softmax(-1).cpu()
        rows = []
        for question, p in zip(texts, probs):
            top = p.topk(min(3, len(p)))
            answers = [self.label2ans[int(i)] for i in top.indices]
            rows.append({"question": question, "answer": answers[0],
                         "top": [{"answer": a, "score": round(float(v), 4)} for a, v in zip(answers, top.values)]})
        table = format_table(
            ("Question", "Answer", "Alternatives"),
            [(r["question"], r["answer"], ", ".join(f"{t['answer']} {t['score']:.2f}" for t in r["top"])) for r in rows],
        )
        return Prediction(rows=rows, table=table)
