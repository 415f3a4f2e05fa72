"""Open-ended VideoQA: the task builds the datasets, tokenizer and model; the runner trains."""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from sparsevl.data.qa_dataset import IGNORE_LABEL, ClipSampling, QACollator, VideoQADataset
from sparsevl.data.tokenizer import build_word_vocab, load_tokenizer, write_vocab
from sparsevl.data.txt_db import load_ans2label, load_split
from sparsevl.data.vis_db import VisDB
from sparsevl.models.factory import build_video_qa_model
from sparsevl.problems import ProblemLog
from sparsevl.tasks.qa_report import Report, accuracy_by_type
from sparsevl.train.config import TrainConfig


class VideoQATask:
    def __init__(self, cfg: TrainConfig, run_dir: str | Path, problems: ProblemLog):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.problems = problems
        self.ans2label = load_ans2label(cfg.txt_db)
        self.label2ans = {label: ans for ans, label in self.ans2label.items()}
        self.vis_db = VisDB(cfg.vis_db)
        self._records: dict[str, list[dict]] = {}
        self.tokenizer = load_tokenizer(self._vocab_file())
        self.collator = QACollator(self.tokenizer, cfg.model.max_text_len)

    def _vocab_file(self) -> Path:
        """A pretrained text model brings its vocabulary; otherwise the run builds one, once."""
        if self.cfg.model.text_model_dir is not None:
            return Path(self.cfg.model.text_model_dir) / "vocab.txt"
        vocab = self.run_dir / "vocab.txt"
        if not vocab.is_file():
            questions = [r["question"] for r in self.records(self.cfg.train_split)]
            write_vocab(build_word_vocab(questions), vocab)
        return vocab

    def records(self, split: str) -> list[dict]:
        if split not in self._records:
            self._records[split] = load_split(self.cfg.txt_db, split)
        return self._records[split]

    def dataset(self, split: str, train: bool) -> VideoQADataset:
        cfg = self.cfg
        sampling = ClipSampling(
            num_frm=cfg.num_frm,
            n_clips=cfg.train_n_clips if train else cfg.inference_n_clips,
            frm_stride=cfg.frm_stride,
            random=train,
            seed=cfg.seed,
        )
        return VideoQADataset(self.records(split), self.vis_db, self.ans2label, sampling, cfg.img_size, self.problems)

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
        self, model: torch.nn.Module, split: str, device: torch.device, autocast=contextlib.nullcontext
    ) -> list[dict]:
        """ActivityNet-QA's prediction format: [{"question_id", "answer"}], answers from `inference_n_clips`."""
        dataset = self.dataset(split, train=False)
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
        return predictions

    def report(self, split: str, predictions: list[dict]) -> Report:
        truth = [
            {"qid": r["qid"], "answer": r["answer"], "answer_type": r.get("answer_type")}
            for r in self.records(split)
        ]
        return accuracy_by_type({p["question_id"]: p["answer"] for p in predictions}, truth)


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
