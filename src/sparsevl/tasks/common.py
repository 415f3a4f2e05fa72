"""What every task reads: the config's txt_db splits, the vis_db, the tokenizer, and the shape of an
evaluation's result.

A task (video_qa, matching) composes a `RunData` and supplies, for the training loop:
`dataset(split, train)` (with `set_epoch` and `describe`), `collator`, `build_model()`,
`loss(model, batch)` and `evaluate(model, split, device, autocast) -> Evaluation`.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any, Callable, Iterable

import torch

from sparsevl.data.clips import ClipReader, ClipSampling
from sparsevl.data.tokenizer import build_word_vocab, load_tokenizer, write_vocab
from sparsevl.data.txt_db import load_split
from sparsevl.data.clipbert_vis_db import open_vis_db
from sparsevl.problems import ProblemLog
from sparsevl.train.config import TrainConfig


@dataclasses.dataclass
class Evaluation:
    metrics: dict[str, float]  # logged as the validation metrics
    headline: str  # one line for the training log, e.g. "All 63.29"
    table: str  # what `sparsevl evaluate` prints
    files: dict[str, Any]  # written as results/{split}_step{N}_{name}.json


class RunData:
    def __init__(self, cfg: TrainConfig, run_dir: str | Path, problems: ProblemLog):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.problems = problems
        self._records: dict[str, list[dict]] = {}

    @functools.cached_property
    def vis_db(self):
        """Opened on first use (`sparsevl predict` puts a one-video store here instead)."""
        return open_vis_db(self.cfg.vis_db)  # ours, or ClipBERT's video-bytes LMDB

    def records(self, split: str) -> list[dict]:
        if split not in self._records:
            self._records[split] = load_split(self.cfg.txt_db, split)
        return self._records[split]

    def tokenizer(self, train_texts: Callable[[], Iterable[str]]):
        """A pretrained text model brings its vocabulary; otherwise the run builds one from the
        training texts, once, and keeps it in the run folder (evaluation reuses it)."""
        if self.cfg.model.text_model_dir is not None:
            return load_tokenizer(Path(self.cfg.model.text_model_dir) / "vocab.txt")
        vocab = self.run_dir / "vocab.txt"
        if not vocab.is_file():
            self.run_dir.mkdir(parents=True, exist_ok=True)
            write_vocab(build_word_vocab(train_texts()), vocab)
        return load_tokenizer(vocab)

    def clip_reader(self, train: bool) -> ClipReader:
        cfg = self.cfg
        sampling = ClipSampling(
            num_frm=cfg.num_frm,
            n_clips=cfg.train_n_clips if train else cfg.inference_n_clips,
            frm_stride=cfg.frm_stride,
            random=train,
            seed=cfg.seed,
        )
        return ClipReader(self.vis_db, sampling, cfg.img_size)


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
