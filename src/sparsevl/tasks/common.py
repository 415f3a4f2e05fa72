"""What the tasks share: the run's data (txt_db splits, frame store, tokenizer) and what of it a
checkpoint keeps, moving batches to the device, and evaluation mode."""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Callable, Iterable, Iterator

import torch
from torch import nn

from torch.utils.data import DataLoader

from sparsevl.data.clip_tokenizer import read_clip_tokenizer
from sparsevl.data.clips import ClipReader, ClipSampling
from sparsevl.data.skipping import SkipBadSamples, skipping_collate
from sparsevl.config import ConfigError
from sparsevl.data.store import FrameStore, open_vis_db
from sparsevl.data.vis_db import VisDB
from sparsevl.data.tokenizer import (
    bert_tokenizer,
    build_word_vocab,
    read_tokenizer_folder,
    read_vocab_file,
    tokenizer_from_state,
    tokenizer_state,
)
from sparsevl.problems import ProblemLog
from sparsevl.tasks.config import RunConfig
from sparsevl.txt_db import load_split, usable_records


class RunData:
    """The data side of a run, for every task: records of the txt_db splits (read once), the frame
    store (opened on first use), the tokenizer, and the sampling of clips.

    `saved` is what `state()` returned in the run a checkpoint comes from: the tokenizer and the
    model's architecture are then taken from it, not from the data or the model folders.
    """

    def __init__(
        self, cfg: RunConfig, problems: ProblemLog, saved: dict | None = None,
        fields: dict[str, type | tuple[type, ...]] | None = None,
    ):
        self.cfg = cfg
        self.problems = problems
        self.saved = saved or {}  # may be partial: a run started from another task's checkpoint
        self.fields = fields or {}  # what every record must have; records without are reported and skipped
        self._records: dict[str, list[dict]] = {}
        self.tokenizer = None
        self.arch: dict | None = self.saved.get("arch")

    @functools.cached_property
    def vis_db(self) -> FrameStore:
        store = open_vis_db(self.cfg.vis_db)  # ours, or ClipBERT's video-bytes LMDB
        settings = store.settings() if isinstance(store, VisDB) else None
        if settings is not None and settings.num_frames and self.cfg.model.num_frm > settings.num_frames:
            raise ConfigError(
                f"{self.cfg.model.num_frm} frames per clip, but the vis_db at {self.cfg.vis_db} stores "
                f"{settings.num_frames} per video (every clip would repeat frames): lower it, or extract "
                "more frames (sparsevl extract-frames --num-frames N)", "model.num_frm")
        return store

    def records(self, split: str) -> list[dict]:
        """The split's usable records; malformed lines and records without `fields` are reported."""
        if split not in self._records:
            records = load_split(self.cfg.txt_db, split, self.problems)
            source = Path(self.cfg.txt_db) / f"{split}.jsonl"
            self._records[split] = usable_records(records, self.fields, self.problems, source)
        return self._records[split]

    def load_tokenizer(self, train_texts: Callable[[], Iterable[str]]):
        """The checkpoint's tokenizer; else a pretrained text model's (CLIP's BPE, or a BERT's
        vocabulary); else a word vocabulary built from the training texts."""
        text_model = self.cfg.model.text_model_dir
        if "tokenizer" in self.saved:
            self.tokenizer = tokenizer_from_state(self.saved["tokenizer"])
        elif self.cfg.model.text_tower == "clip":  # CLIP's text tower comes with its tokenizer
            self.tokenizer = read_clip_tokenizer(self.cfg.model.backbone_dir)
        elif self.cfg.model.architecture == "blip":  # so does BLIP's (in the same folder)
            self.tokenizer = read_tokenizer_folder(self.cfg.model.backbone_dir)
        elif text_model is not None and (Path(text_model).exists() or not self.cfg.model.allow_missing_pretrained):
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
        if "vis_db_settings" in self.saved:  # a restored run: its store may not be here any more
            settings = self.saved["vis_db_settings"]
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


def eval_loader(dataset, batch_size: int, collate, num_workers: int) -> DataLoader:
    """Batches for evaluation in which a broken sample is a marker, not an error (`data.skipping`):
    take them out with `report_skipped` and count the items as wrong. The loader has a generator
    of its own: evaluating during training must not draw from the global one (dropout's), or a
    run resumed from the checkpoint saved before a validation would differ from an uninterrupted one."""
    return DataLoader(SkipBadSamples(dataset), batch_size=batch_size, collate_fn=skipping_collate(collate),
                      num_workers=num_workers, generator=torch.Generator().manual_seed(0))


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
