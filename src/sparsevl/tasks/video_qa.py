"""Open-ended VideoQA: the task builds the datasets, tokenizer and model; the runner trains."""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from sparsevl.data.qa_dataset import IGNORE_LABEL, QACollator, VideoQADataset
from sparsevl.data.txt_db import load_ans2label
from sparsevl.dist import Dist
from sparsevl.models.factory import build_video_qa_model
from sparsevl.problems import ProblemLog
from sparsevl.tasks.common import Evaluation, RunData, to_device
from sparsevl.tasks.qa_report import Report, accuracy_by_type, format_table
from sparsevl.train.config import TrainConfig


class VideoQATask:
    def __init__(self, cfg: TrainConfig, run_dir: str | Path, problems: ProblemLog):
        self.cfg = cfg
        self.data = RunData(cfg, run_dir, problems)
        self.problems = problems
        self.ans2label = load_ans2label(cfg.txt_db)
        self.label2ans = {label: ans for ans, label in self.ans2label.items()}
        self.tokenizer = self.data.tokenizer(lambda: [r["question"] for r in self.data.records(cfg.train_split)])
        self.collator = QACollator(self.tokenizer, cfg.model.max_text_len)

    def dataset(self, split: str, train: bool) -> VideoQADataset:
        return VideoQADataset(self.data.records(split), self.data.clip_reader(train), self.ans2label, self.problems)

    def build_model(self) -> torch.nn.Module:
        return build_video_qa_model(self.cfg.model, self.cfg.num_frm, len(self.ans2label), len(self.tokenizer))

    def loss(self, model: torch.nn.Module, batch: dict) -> torch.Tensor:
        logits, _ = model(
            batch["frames"], batch["input_ids"], batch["attention_mask"], batch["video_index"], self.cfg.score_agg_func
        )
        labels = batch["labels"]
        if (labels == IGNORE_LABEL).all():  # no answer of this batch is in the vocabulary
            return logits.sum() * 0.0
        return F.cross_entropy(logits.float(), labels, ignore_index=IGNORE_LABEL)

    @torch.no_grad()
    def predict(
        self, model: torch.nn.Module, split: str, device: torch.device, autocast=contextlib.nullcontext,
        dist: Dist = Dist(),
    ) -> list[dict]:
        """ActivityNet-QA's prediction format: [{"question_id", "answer"}], answers from `inference_n_clips`.
        Under several processes each answers its share of the videos and all get every prediction."""
        dataset = self.dataset(split, train=False)
        dataset = Subset(dataset, dist.shard(list(range(len(dataset)))))
        loader = DataLoader(
            dataset, batch_size=self.cfg.val_batch_size, collate_fn=self.collator, num_workers=self.cfg.num_workers
        )
        was_training = model.training
        model.eval()
        predictions = []
        for batch in tqdm(loader, desc=f"predict {split}", unit="batch", leave=False):
            batch = to_device(batch, device)
            with autocast():
                logits, _ = model(
                    batch["frames"], batch["input_ids"], batch["attention_mask"], batch["video_index"],
                    self.cfg.score_agg_func,
                )
            for qid, label in zip(batch["qids"], logits.argmax(-1).tolist()):
                predictions.append({"question_id": qid, "answer": self.label2ans[label]})
        model.train(was_training)
        return dist.gather_lists(predictions)

    def report(self, split: str, predictions: list[dict]) -> Report:
        truth = [
            {"qid": r["qid"], "answer": r["answer"], "answer_type": r.get("answer_type")}
            for r in self.data.records(split)
        ]
        return accuracy_by_type({p["question_id"]: p["answer"] for p in predictions}, truth)

    def evaluate(
        self, model, split: str, device: torch.device, autocast=contextlib.nullcontext, dist: Dist = Dist()
    ) -> Evaluation:
        predictions = self.predict(model, split, device, autocast, dist)
        report = self.report(split, predictions)
        return Evaluation(
            metrics={r.name: r.accuracy for r in report.rows if r.total},
            headline=f"All {report.row('All').accuracy:.2f}",
            table=format_table(report),
            files={"predictions": predictions, "accuracy": {"split": split, **report.to_dict()}},
        )
