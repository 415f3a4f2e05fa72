"""Video-text pre-training: masked language modelling (MLM), video-text matching (ITM) and
contrastive alignment (ITC), weighted in `pretrain`, on one or several caption txt_dbs.

The model is retrieval's (the cross-encoder with its ITM head and the dual encoder beside it)
plus an MLM head, so its checkpoint is a retrieval model as it is (`sparsevl evaluate --task
retrieval --checkpoint CKPT`: zero-shot retrieval) and the start of any fine-tuning run
(`init_checkpoint`). One training step:

- ITC: retrieval's symmetric InfoNCE between each video and its (unmasked) caption;
- ITM and MLM: one cross-encoder pass over each video and its pair text (masked when MLM is on,
  as ClipBERT does): the ITM head reads the pair, the MLM head the masked positions of the pairs
  that match. ITM negatives are ClipBERT's (the caption replaced by another video's with
  probability `itm_neg_prob`) or hard ones from the batch by ITC similarity (ALBEF): a caption per
  video and a video per caption, each in a pass of its own.

Evaluation: masked-token and ITM accuracy (half of the pairs negatives, chance 50%) and
text-to-video retrieval by the dual encoder (retrieval's evaluation, `eval_mode: dual`).
"""

from __future__ import annotations

import dataclasses
import functools

import torch
import torch.nn.functional as F
from torch.utils.data import Subset
from tqdm import tqdm

from sparsevl.config import ConfigError
from sparsevl.data.mixed_datasets import MixedDataset, MixPart
from sparsevl.data.pretrain_dataset import IGNORE, CaptionPairDataset, PretrainCollator
from sparsevl.data.skipping import report_skipped
from sparsevl.data.store import FrameStore
from sparsevl.dist import Dist
from sparsevl.models.aggregation import aggregate_clip_scores
from sparsevl.models.factory import build_pretraining_model
from sparsevl.problems import ProblemLog
from sparsevl.tables import format_table
from sparsevl.tasks.common import RunData, eval_loader, evaluating, to_device
from sparsevl.tasks.config import RunConfig, TrainDataset
from sparsevl.tasks.matching import RetrievalTask, contrastive_loss, hard_negatives, same_text
from sparsevl.tasks.protocol import Evaluation, Prediction

EVAL_ITM_NEG_PROB = 0.5  # validation pairs: half negatives, so ITM accuracy has chance 50%


class PretrainTask:
    record_fields = RetrievalTask.record_fields

    def __init__(self, cfg: RunConfig, problems: ProblemLog, state: dict | None = None):
        self.cfg = cfg
        self.problems = problems
        self.data = RunData(cfg, problems, state, self.record_fields)
        # every dataset of the mix, each read as a run of its own would read it
        self.parts = [(d, RunData(self._part_config(d), problems, None, self.record_fields))
                      for d in cfg.pretrain.train_datasets]
        lengths = {d.num_frm or cfg.model.num_frm for d in cfg.pretrain.train_datasets} | {cfg.model.num_frm}
        if len(lengths) > 1 and cfg.model.fusion == "concat":
            raise ConfigError(f"train_datasets have clips of {sorted(lengths)} frames, but concat fusion is built for "
                              "one clip length: set model.fusion mean (ClipBERT) or time_embed", "model.fusion")
        tokenizer = self.data.load_tokenizer(self._train_texts)
        self.collator = PretrainCollator(tokenizer, cfg.model.max_text_len, mlm=cfg.pretrain.mlm_weight > 0)

    def _part_config(self, d: TrainDataset) -> RunConfig:
        model = dataclasses.replace(self.cfg.model, num_frm=d.num_frm or self.cfg.model.num_frm)
        return dataclasses.replace(self.cfg, txt_db=d.txt_db, vis_db=d.vis_db, model=model)

    def _train_texts(self) -> list[str]:
        if not self.parts:
            return [r["caption"] for r in self.data.records(self.cfg.train_split)]
        return [r["caption"] for d, data in self.parts for r in data.records(d.split or self.cfg.train_split)]

    def state(self) -> dict:
        return self.data.state()

    def build_model(self) -> torch.nn.Module:
        model = build_pretraining_model(self.cfg.model, len(self.collator.tokenizer), self.data.arch)
        return self.data.keep_arch(model)

    def _itm_neg_prob(self) -> float:
        pc = self.cfg.pretrain
        return pc.itm_neg_prob if pc.itm_weight > 0 and pc.itm_negatives == "random" else 0.0

    def dataset(self, split: str, train: bool) -> CaptionPairDataset | MixedDataset:
        """The split's videos with their captions; the training split, with `train_datasets`, their mix."""
        neg, seed = self._itm_neg_prob(), self.cfg.seed
        if not (train and split == self.cfg.train_split and self.parts):
            return CaptionPairDataset(self.data.records(split), self.data.clip_reader(train), neg, seed, self.problems)
        return MixedDataset([
            MixPart(d.name or f"dataset {i}",
                    CaptionPairDataset(data.records(d.split or split), data.clip_reader(train), neg, seed,
                                       self.problems, salt=i),
                    d.batch_size or self.cfg.train_batch_size, d.ratio)
            for i, (d, data) in enumerate(self.parts)
        ])

    def loss(self, model, batch: dict) -> dict[str, torch.Tensor]:
        pc = self.cfg.pretrain
        clips = model.encode_clips(batch["frames"])
        total = clips.new_zeros((), dtype=torch.float32)
        out: dict[str, torch.Tensor] = {}
        similarity = None
        if pc.itc_weight > 0:
            itc, similarity = contrastive_loss(model, batch["input_ids"], batch["attention_mask"], clips)
            total = total + pc.itc_weight * itc
            out["itc_loss"] = itc.detach()
        if pc.itm_weight > 0 or pc.mlm_weight > 0:
            ids, mask = batch["pair_input_ids"], batch["pair_attention_mask"]
            states = model.pair_states(ids, mask, clips)  # (B, n_clips, Lt + Lv, hidden)
            if pc.mlm_weight > 0:
                mlm, correct, count = self._mlm(model, states[:, :, : ids.shape[1]], batch["mlm_labels"])
                total = total + pc.mlm_weight * mlm
                out.update(mlm_loss=mlm.detach(), mlm_accuracy=100.0 * correct / count.clamp(min=1))
            if pc.itm_weight > 0:
                logits = self._itm_logits(model, states, mask)
                labels = batch["itm_labels"]
                if pc.itm_negatives == "hard":
                    negatives = self._hard_negative_logits(model, batch, clips, similarity.detach())
                    logits = torch.cat([logits, negatives])
                    labels = torch.cat([labels, labels.new_zeros(len(negatives))])
                itm = F.cross_entropy(logits, labels)
                total = total + pc.itm_weight * itm
                out.update(itm_loss=itm.detach(), itm_accuracy=100.0 * (logits.argmax(1) == labels).float().mean())
        return {"loss": total, **out}

    def _itm_logits(self, model, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return aggregate_clip_scores(model.itm_head_logits(states, mask), self.cfg.score_agg_func).float()

    def _mlm(self, model, text_states: torch.Tensor, labels: torch.Tensor):
        """(loss, correct, masked) over the masked positions; text_states (B, n_clips, Lt, hidden),
        each position's clip logits combined as ITM's are."""
        where = labels != IGNORE
        picked = text_states.transpose(1, 2)[where]  # (masked, n_clips, hidden)
        logits = aggregate_clip_scores(model.mlm_logits(picked), self.cfg.score_agg_func).float()
        target = labels[where]
        # no masked token in the batch (short captions): a zero that keeps the graph
        loss = F.cross_entropy(logits, target) if len(target) else logits.sum() * 0
        return loss, (logits.argmax(1) == target).sum().float(), where.sum()

    def _hard_negative_logits(self, model, batch: dict, clips: torch.Tensor, similarity: torch.Tensor) -> torch.Tensor:
        """ITM logits of a hard negative caption per video and a hard negative video per caption,
        drawn by the ITC logits `similarity` (caption, video) of the batch (ALBEF)."""
        ids, mask = batch["pair_input_ids"], batch["pair_attention_mask"]
        if len(ids) < 2:  # a batch of one (an epoch's last) has no other caption or video
            return similarity.new_zeros((0, 2))
        excluded = same_text(batch["input_ids"])  # a caption's own video, and a video whose caption is the same text
        caption_for_video = hard_negatives(similarity.T, excluded, 1)[:, 0]
        video_for_caption = hard_negatives(similarity, excluded, 1)[:, 0]
        wrong_caption = model.pair_states(ids[caption_for_video], mask[caption_for_video], clips)
        wrong_video = model.pair_states(ids, mask, clips[video_for_caption])
        return torch.cat([self._itm_logits(model, wrong_caption, mask[caption_for_video]),
                          self._itm_logits(model, wrong_video, mask)])

    @functools.cached_property
    def _retrieval(self) -> RetrievalTask:
        """Retrieval by the dual encoder, on the run's data with this run's tokenizer."""
        retrieval = dataclasses.replace(self.cfg.retrieval, eval_mode="dual")
        cfg = dataclasses.replace(self.cfg, task="retrieval", retrieval=retrieval)
        return RetrievalTask(cfg, self.problems, self.data.state())

    def evaluate(self, model, split: str, device: torch.device, autocast, dist: Dist) -> Evaluation:
        counts = self._accuracy_counts(model, split, device, autocast, dist)
        retrieval = self._retrieval.evaluate(model, split, device, autocast, dist)
        accuracy = {name: 100.0 * c / n if n else 0.0 for name, (c, n) in counts.items()}
        rows = [(name, f"{accuracy[name]:.2f}", str(n)) for name, (_, n) in counts.items()]
        table = format_table(("Objective", "Accuracy", "Scored"), rows) + "\n" + retrieval.table
        return Evaluation(
            metrics={f"{name}_accuracy": value for name, value in accuracy.items()} | retrieval.metrics,
            headline=", ".join(f"{name.upper()} {value:.2f}" for name, value in accuracy.items()) + f", {retrieval.headline}",
            table=table,
            files={**retrieval.files, "pretrain": {"split": split, "accuracy": accuracy,
                                                   "scored": {k: n for k, (_, n) in counts.items()}}},
            examples=retrieval.examples,
        )

    def _accuracy_counts(self, model, split: str, device, autocast, dist: Dist) -> dict[str, tuple[int, int]]:
        """(correct, scored) of masked tokens and of ITM pairs over the split, every process its share."""
        dataset = CaptionPairDataset(self.data.records(split), self.data.clip_reader(train=False), EVAL_ITM_NEG_PROB,
                                     self.cfg.seed, self.problems)
        # the pair texts as training reads them: masked only when MLM is trained
        collator = PretrainCollator(self.collator.tokenizer, self.cfg.model.max_text_len, mlm=self.collator.mlm)
        loader = eval_loader(Subset(dataset, dist.shard(list(range(len(dataset))))), self.cfg.val_batch_size,
                             collator, self.cfg.num_workers)
        mlm, itm = [0, 0], [0, 0]
        with evaluating(model):
            for batch in tqdm(loader, desc=f"MLM and ITM on {split}", unit="batch", leave=False):
                if report_skipped(batch, self.problems, split) and not batch:
                    continue
                batch = to_device(batch, device)
                with autocast():
                    clips = model.encode_clips(batch["frames"])
                    ids, mask = batch["pair_input_ids"], batch["pair_attention_mask"]
                    states = model.pair_states(ids, mask, clips)
                    if collator.mlm:
                        _, correct, count = self._mlm(model, states[:, :, : ids.shape[1]], batch["mlm_labels"])
                        mlm[0] += int(correct)
                        mlm[1] += int(count)
                    logits = self._itm_logits(model, states, mask)
                itm[0] += int((logits.argmax(1) == batch["itm_labels"]).sum())
                itm[1] += len(logits)
        totals = dist.gather_lists([mlm + itm])
        counts = {"itm": (sum(t[2] for t in totals), sum(t[3] for t in totals))}
        if collator.mlm:
            counts["mlm"] = (sum(t[0] for t in totals), sum(t[1] for t in totals))
        return counts

    def predict(self, model, store: FrameStore, video_id: str, texts: list[str], device: torch.device) -> Prediction:
        """Every text scored against the video by the cross-encoder and the dual encoder, as retrieval does."""
        return self._retrieval.predict(model, store, video_id, texts, device)
