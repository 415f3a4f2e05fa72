"""What the tasks share: the run's data (txt_db splits, frame store, tokenizer) and what of it a
checkpoint keeps, moving batches to the device, and evaluation mode."""

from __future__ import annotations

import contextlib
import functools
from typing import Callable, Iterable, Iterator

import torch
from torch import nn

from sparsevl.data.clips import ClipReader, ClipSampling
from sparsevl.data.store import FrameStore, open_vis_db
from sparsevl.data.tokenizer import (
    bert_tokenizer,
    build_word_vocab,
    read_vocab_file,
    tokenizer_from_state,
    tokenizer_state,
)
from sparsevl.problems import ProblemLog
from sparsevl.tasks.config import RunConfig
from sparsevl.txt_db import load_split


class RunData:
    """The data side of a run, for every task: records of the txt_db splits (read once), the frame
    store (opened on first use), the tokenizer, and the sampling of clips.

    `saved` is what `state()` returned in the run a checkpoint comes from: the tokenizer and the
    model's architecture are then taken from it, not from the data or the model folders.
    """

    def __init__(self, cfg: RunConfig, problems: ProblemLog, saved: dict | None = None):
        self.cfg = cfg
        self.problems = problems
        self.saved = saved
        self._records: dict[str, list[dict]] = {}
        self.tokenizer = None
        self.arch: dict | None = saved.get("arch") if saved else None

    @functools.cached_property
    def vis_db(self) -> FrameStore:
        return open_vis_db(self.cfg.vis_db)  # ours, or ClipBERT's video-bytes LMDB

    def records(self, split: str) -> list[dict]:
        if split not in self._records:
            self._records[split] = load_split(self.cfg.txt_db, split)
        return self._records[split]

    def load_tokenizer(self, train_texts: Callable[[], Iterable[str]]):
        """The checkpoint's tokenizer; else a pretrained text model's vocabulary; else a word
        vocabulary built from the training texts."""
        if self.saved is not None:
            self.tokenizer = tokenizer_from_state(self.saved["tokenizer"])
        elif self.cfg.model.text_model_dir is not None:
            self.tokenizer = bert_tokenizer(read_vocab_file(f"{self.cfg.model.text_model_dir}/vocab.txt"))
        else:
            self.tokenizer = bert_tokenizer(build_word_vocab(train_texts()))
        return self.tokenizer

    def keep_arch(self, model: nn.Module) -> nn.Module:
        """Remember the architecture of a model built from pretrained folders, for `state()`."""
        self.arch = getattr(model, "arch", {})
        return model

    def state(self) -> dict:
        """The tokenizer, the model's architecture, and how the frame store sampled its frames
        (so `sparsevl predict` samples a video file the same way)."""
        if self.saved is not None:  # a restored run: its store may not be here any more
            settings = self.saved.get("vis_db_settings")
        else:
            store_settings = getattr(self.vis_db, "settings", None)  # a ClipBERT store has none
            settings = store_settings().to_dict() if store_settings and store_settings() else None
        tokenizer = tokenizer_state(self.tokenizer) if self.tokenizer is not None else None  # none: a task without text
        return {"tokenizer": tokenizer, "arch": self.arch or {}, "vis_db_settings": settings}

    def clip_reader(self, train: bool, store: FrameStore | None = None) -> ClipReader:
        cfg = self.cfg
        sampling = ClipSampling(
            num_frm=cfg.model.num_frm,
            n_clips=cfg.train_n_clips if train else cfg.inference_n_clips,
            frm_stride=cfg.frm_stride,
            random=train,
            seed=cfg.seed,
        )
        return ClipReader(store if store is not None else self.vis_db, sampling, cfg.img_size)


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """The model in eval mode and without gradients, put back as it was afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)
