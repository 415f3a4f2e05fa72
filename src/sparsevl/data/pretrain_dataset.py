"""Pre-training examples: a video (or an image, a 1-frame video) with one of its captions, the
pair the cross-encoder matches, and the caption's masked words.

- `CaptionPairDataset`: one item per video: one of its captions (drawn per epoch), and the text it
  is paired with for image-text matching: that caption, or, with probability `itm_neg_prob`, a
  caption of another video (ClipBERT's ITM sampling; 0 when the negatives come from the batch).
  A caption with a time window (`start`, `end` seconds: HowTo100M's narrations) has its clips
  sampled from the stored frames inside the window.
- `PretrainCollator`: tokenizes the captions (for the dual encoder) and the pair texts, and masks
  15% of each pair text's non-special tokens, 80/10/10 [MASK]/random/unchanged (BERT). The mask
  of a text is drawn from the item's own seed (run seed, epoch, dataset, index), never from a
  shared generator: it is the same whatever the batch, the number of processes or a resume.
"""

from __future__ import annotations


import numpy as np
import torch
from torch.utils.data import Dataset

from sparsevl.data.clips import ClipReader, records_by_video
from sparsevl.problems import BadInputError, ProblemLog

MLM_PROBABILITY = 0.15  # BERT's share of masked tokens
IGNORE = -100  # the cross-entropy's ignore_index: positions with nothing to predict


class CaptionPairDataset(Dataset):
    def __init__(self, records: list[dict], clips: ClipReader, itm_neg_prob: float, seed: int,
                 problems: ProblemLog | None = None, salt: int = 0):
        self.videos = records_by_video(records, clips.vis_db, problems, what="caption(s)")
        if len(self.videos) < 2 and itm_neg_prob > 0:
            raise BadInputError(f"{len(self.videos)} video(s) of these captions have frames in {clips.vis_db.path}: "
                                "ITM's negative captions need at least two")
        self.captions = [(i, c["caption"]) for i, (_, caps) in enumerate(self.videos) for c in caps]
        self.clips = clips
        self.itm_neg_prob = itm_neg_prob
        self.seed = seed
        self.salt = salt  # this dataset's place in a mix: its items' draws differ from another's
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.videos)

    def describe(self) -> str:
        return f"{len(self.videos)} videos, {len(self.captions)} captions"

    def __getitem__(self, index: int) -> dict:
        video_id, caps = self.videos[index]
        seed = [self.seed, self.epoch, self.salt, index]
        rng = np.random.default_rng(seed + [1])
        record = caps[rng.integers(len(caps))]
        caption, window = record["caption"], _window(record)
        pair, label = caption, 1
        if rng.random() < self.itm_neg_prob:
            while True:
                owner, other = self.captions[rng.integers(len(self.captions))]
                if owner != index:
                    pair, label = other, 0
                    break
        return {"video_id": video_id, "frames": self.clips.read(video_id, index, self.epoch, window),
                "caption": caption, "pair_text": pair, "itm_label": label, "mask_seed": seed + [2]}


def _window(record: dict) -> tuple[float, float] | None:
    """A caption's time window in seconds, when its record has one (HowTo100M's start and end)."""
    start, end = record.get("start"), record.get("end")
    if isinstance(start, (int, float)) and isinstance(end, (int, float)) and 0 <= start <= end:
        return float(start), float(end)
    return None


def mask_tokens(ids: list[int], special: set[int], mask_id: int, vocab_size: int,
                rng: np.random.Generator) -> tuple[list[int], list[int]]:
    """BERT's masking of one text's token ids: (ids with 15% of the non-special tokens replaced
    80/10/10 by [MASK] / a random token / themselves, labels: the original id there, IGNORE elsewhere)."""
    ids, labels = list(ids), [IGNORE] * len(ids)
    chosen = rng.random(len(ids)) < MLM_PROBABILITY
    how = rng.random(len(ids))
    random_ids = rng.integers(vocab_size, size=len(ids))
    for i, token in enumerate(ids):
        if not chosen[i] or token in special:
            continue
        labels[i] = token
        if how[i] < 0.8:
            ids[i] = mask_id
        elif how[i] < 0.9:
            ids[i] = int(random_ids[i])
    return ids, labels


class PretrainCollator:
    """Stacks the videos' clips (one clip length per batch); tokenizes captions and pair texts."""

    def __init__(self, tokenizer, max_text_len: int, mlm: bool):
        self.tokenizer = tokenizer
        self.max_text_len = max_text_len
        self.mlm = mlm
        self.special = set(tokenizer.all_special_ids)

    def tokenize(self, texts: list[str]) -> dict:
        t = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_text_len, return_tensors="pt")
        return {"input_ids": t["input_ids"], "attention_mask": t["attention_mask"]}

    def __call__(self, items: list[dict]) -> dict:
        captions = self.tokenize([it["caption"] for it in items])
        pairs = self.tokenize([it["pair_text"] for it in items])
        itm_labels = torch.tensor([it["itm_label"] for it in items], dtype=torch.long)
        batch = {
            "frames": torch.from_numpy(np.stack([it["frames"] for it in items])),
            "video_ids": [it["video_id"] for it in items],
            **captions,
            "pair_input_ids": pairs["input_ids"],
            "pair_attention_mask": pairs["attention_mask"],
            "itm_labels": itm_labels,
        }
        if self.mlm:
            ids, labels = [], []
            for it, row, mask in zip(items, pairs["input_ids"].tolist(), pairs["attention_mask"].tolist()):
                n = sum(mask)  # masked within the text itself: the padding of the batch changes nothing
                masked, lab = mask_tokens(row[:n], self.special, self.tokenizer.mask_token_id,
                                          len(self.tokenizer), np.random.default_rng(it["mask_seed"]))
                ids.append(masked + row[n:])
                labels.append(lab + [IGNORE] * (len(row) - n))
            labels = torch.tensor(labels, dtype=torch.long)
            labels[itm_labels == 0] = IGNORE  # a caption of another video: its words are not this video's
            batch["pair_input_ids"] = torch.tensor(ids, dtype=torch.long)
            batch["mlm_labels"] = labels
        return batch
