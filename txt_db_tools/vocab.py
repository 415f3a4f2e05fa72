"""The answer vocabulary of open-ended QA: the K most frequent train answers -> labels."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Iterable, Mapping

from sparsevl.txt_db import load_ans2label
from sparsevl.problems import BadInputError

DEFAULT_TOP_K = 1000



def build_ans2label(answers: Iterable[str], top_k: int = DEFAULT_TOP_K) -> dict[str, int]:
    """The `top_k` most frequent answers -> labels 0..K-1 in frequency order (ties: by answer)."""
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, not {top_k}")
    counts = Counter(answers)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top_k]
    return {answer: label for label, (answer, _) in enumerate(ranked)}


def vocab_coverage(records: Iterable[dict], ans2label: Mapping[str, int], field: str = "answer") -> dict:
    n = oov = 0
    for r in records:
        n += 1
        oov += r[field] not in ans2label
    return {"out_of_vocab": oov, "out_of_vocab_fraction": round(oov / n, 6) if n else 0.0}


def resolve_ans2label(
    splits: Mapping[str, list[dict]],
    top_k: int,
    ans2label_path: str | os.PathLike | None,
    train_source: str,
) -> tuple[dict[str, int], dict]:
    """Vocabulary from `ans2label_path` if given, else from the train answers (`train_source`
    names their files, or the folder without them, for the messages). Returns (ans2label, its
    description for meta.json). An empty vocabulary is refused: no model can be trained on it."""
    if ans2label_path is not None:
        ans2label = load_ans2label(ans2label_path)
        if not ans2label:
            raise BadInputError(f"{ans2label_path}: the answer vocabulary is empty")
        return ans2label, {"from": str(Path(ans2label_path).resolve()), "size": len(ans2label)}
    if "train" not in splits:
        raise BadInputError(
            f"{train_source}: no train split to build the answer vocabulary from; give one with --ans2label FILE"
        )
    answers = [r["answer"] for r in splits["train"]]
    if not answers:
        raise BadInputError(
            f"{train_source}: no usable train record to build the answer vocabulary from; "
            "give one with --ans2label FILE"
        )
    ans2label = build_ans2label(answers, top_k)
    return ans2label, {
        "from": "train answers",
        "top_k": top_k,
        "distinct_train_answers": len(set(answers)),
        "size": len(ans2label),
    }
