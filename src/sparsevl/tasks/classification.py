"""Video classification (action recognition) over `{video_id, label}` txt_dbs (`txt_db_tools.video_list`,
`txt_db_tools.ssv2`), with the video classifier (a ViT with ST-Adapters or divided attention).

Training: cross-entropy (with `classification.label_smoothing`) on each of a video's
`train_n_clips` augmented clips. Evaluation: every video's `inference_n_clips` x
`classification.test_spatial_views` views, their softmax averaged; top-1, top-5 and mean-class
accuracy, and each video's top 5 in the predictions file (`scripts/eval_res.py` reads it).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from sparsevl.data.action_sampling import ActionClipReader, ActionSampling
from sparsevl.data.classification_dataset import UNLABELLED, ClassificationDataset, collate, usable_records
from sparsevl.data.store import FrameStore
from sparsevl.dist import Dist
from sparsevl.models.factory import build_video_classifier
from sparsevl.problems import BadInputError, ProblemLog, UserError
from sparsevl.tables import format_table
from sparsevl.tasks.classification_metrics import TOP_K, accuracy, format_accuracy, top_predictions, view_average
from sparsevl.tasks.common import RunData, evaluating
from sparsevl.tasks.config import RunConfig
from sparsevl.tasks.protocol import Evaluation, Example, Prediction
from sparsevl.txt_db import read_json

LABEL_NAMES = "label2name.json"  # written by the converters: class id (a string) -> class name


def load_class_names(txt_db: str, records: list[dict]) -> list[str]:
    """The classes' names, by class id: from the txt_db's label2name.json, or, when it names none
    (`{}`), the ids themselves, as many as the largest label of `records` needs."""
    path = Path(txt_db) / LABEL_NAMES
    names = read_json(path) if path.is_file() else {}
    if not isinstance(names, dict) or not all(isinstance(v, str) for v in names.values()):
        raise BadInputError(f"{path}: expected a JSON object class id -> class name")
    if names:
        try:
            ids = sorted(int(k) for k in names)
        except ValueError:
            raise BadInputError(f"{path}: class ids must be whole numbers (as strings)") from None
        if ids != list(range(len(ids))):
            raise BadInputError(f"{path}: class ids must be 0..{len(ids) - 1}, each used once")
        return [names[str(i)] for i in ids]
    labels = [r["label"] for r in records if isinstance(r.get("label"), int)]
    if not labels:
        raise BadInputError(f"txt_db {txt_db}: no class names ({LABEL_NAMES}) and no labelled records to count classes")
    return [str(i) for i in range(max(labels) + 1)]


class ClassificationTask:
    def __init__(self, cfg: RunConfig, problems: ProblemLog, state: dict | None = None):
        if cfg.model.architecture != "video_classifier":
            raise UserError("task classification trains the video classifier: set model.architecture to "
                            f"video_classifier (it is {cfg.model.architecture!r})")
        self.cfg = cfg
        self.problems = problems
        self.data = RunData(cfg, problems, state)
        # the classes are the model's output layer: a checkpoint's own, else the txt_db's
        self.class_names = state["class_names"] if state else load_class_names(
            cfg.txt_db, self.data.records(cfg.train_split))
        self.collator = collate
        self._usable: dict[str, list[dict]] = {}

    def state(self) -> dict:
        return {**self.data.state(), "class_names": self.class_names}

    def sampling(self, train: bool) -> ActionSampling:
        cfg, c = self.cfg, self.cfg.classification
        return ActionSampling(
            num_frm=cfg.model.num_frm, size=cfg.img_size, train=train, mode=c.sampling, frm_stride=cfg.frm_stride,
            train_clips=cfg.train_n_clips, temporal_views=cfg.inference_n_clips, spatial_views=c.test_spatial_views,
            resize=c.resize, scale_range=tuple(c.scale_range), hflip=c.hflip, seed=cfg.seed,
        )

    def reader(self, train: bool, store: FrameStore | None = None) -> ActionClipReader:
        return ActionClipReader(store if store is not None else self.data.vis_db, self.sampling(train))

    def records(self, split: str) -> list[dict]:
        """The split's records with a usable label (each bad one reported once)."""
        if split not in self._usable:
            source = str(Path(self.cfg.txt_db) / f"{split}.jsonl")
            self._usable[split] = usable_records(self.data.records(split), len(self.class_names), source, self.problems)
        return self._usable[split]

    def dataset(self, split: str, train: bool) -> ClassificationDataset:
        records = self.records(split)
        if train and records and all(r.get("label", UNLABELLED) == UNLABELLED for r in records):
            raise UserError(f"split {split!r} of {self.cfg.txt_db} has no labels: it cannot be trained on")
        return ClassificationDataset(records, self.reader(train), self.problems)

    def build_model(self) -> torch.nn.Module:
        model = build_video_classifier(self.cfg.model, len(self.class_names), self.cfg.img_size, self.data.arch)
        return self.data.keep_arch(model)

    def loss(self, model: torch.nn.Module, batch: dict) -> dict[str, torch.Tensor]:
        logits = model(batch["frames"]).float()  # (B, clips, classes)
        labels = batch["labels"]
        flat = F.cross_entropy(logits.flatten(0, 1), labels.repeat_interleave(logits.shape[1]),
                               label_smoothing=self.cfg.classification.label_smoothing)
        top1 = (logits.mean(1).argmax(-1) == labels).float().mean() * 100
        return {"loss": flat, "top1": top1}

    def predictions(self, model, split: str, device: torch.device, autocast, dist: Dist) -> tuple[list[dict], list[dict]]:
        """Every video's top 5 (the predictions file) and what it saw; under several processes each
        does its share and all get everything."""
        dataset = self.dataset(split, train=False)
        loader = DataLoader(Subset(dataset, dist.shard(list(range(len(dataset))))), batch_size=self.cfg.val_batch_size,
                            collate_fn=self.collator, num_workers=self.cfg.num_workers)
        predictions, seen = [], []
        with evaluating(model):
            for batch in tqdm(loader, desc=f"predict {split}", unit="batch", leave=False):
                with autocast():
                    logits = model(batch["frames"].to(device))
                labels = [lab if lab != UNLABELLED else None for lab in batch["labels"].tolist()]
                predictions += top_predictions(batch["video_ids"], view_average(logits).cpu(), labels)
                seen += [[i for clip in clips for i in clip] for clips in batch["clips"]]
        return dist.gather_lists(predictions), dist.gather_lists(seen)

    def evaluate(self, model, split: str, device: torch.device, autocast, dist: Dist) -> Evaluation:
        predictions, seen = self.predictions(model, split, device, autocast, dist)
        truth = {p["video_id"]: p["label"] for p in predictions if p["label"] is not None}
        files = {"predictions": predictions}
        if not truth:  # an unlabelled split (e.g. SSv2 test): predictions only
            return Evaluation(metrics={}, headline=f"{len(predictions)} videos predicted (no labels)",
                              table=f"{split}: {len(predictions)} videos predicted; the split has no labels",
                              files=files)
        result = accuracy(predictions, truth)
        del result["missing"]  # every labelled video of the split was predicted
        files["accuracy"] = {"split": split, **result}
        names = self.class_names
        examples = [
            Example(video_id=p["video_id"], frames=frames, text="", prediction=names[p["top5"][0]],
                    truth=names[p["label"]], correct=p["top5"][0] == p["label"], score=p["scores"][0],
                    group=names[p["label"]])
            for p, frames in zip(predictions, seen) if p["label"] is not None
        ]
        return Evaluation(
            metrics={"top1": result["top1"], "top5": result["top5"], "mean_class": result["mean_class"]},
            headline=f"top-1 {result['top1']:.2f}, top-5 {result['top5']:.2f}",
            table=f"{split}: {self.describe_views()}\n" + format_accuracy(result),
            files=files,
            examples=examples,
        )

    def describe_views(self) -> str:
        cfg = self.cfg
        return (f"{cfg.inference_n_clips} temporal x {cfg.classification.test_spatial_views} spatial view(s) "
                f"of {cfg.model.num_frm} frames ({cfg.classification.sampling}), softmax averaged")

    def predict(self, model, store: FrameStore, video_id: str, texts: list[str], device: torch.device) -> Prediction:
        if texts:
            raise UserError("a classification model takes no texts: leave out --question / --caption")
        views, _ = self.reader(train=False, store=store).read(video_id)
        with evaluating(model):
            probs = view_average(model(torch.from_numpy(views)[None].to(device)))[0].cpu()
        top = probs.topk(min(TOP_K, len(probs)))
        rows = [{"label": int(i), "name": self.class_names[int(i)], "probability": round(float(p), 4)}
                for i, p in zip(top.indices, top.values)]
        table = format_table(("Class", "Probability"), [(r["name"], f"{r['probability']:.3f}") for r in rows])
        return Prediction(rows=rows, table=table)
