"""`sparsevl demo --out DIR [--task NAME]`: whole pipelines on synthetic data, on a CPU, in minutes.

Each demo is a function `run(out, options) -> int` in a module of this package, listed below; the
stages they share (demo data, frames, annotations, training, evaluation) are in `stages`.
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path

# demo name -> module:function
DEMOS: dict[str, str] = {
    "video_qa": "sparsevl.demos.shapes:video_qa",
    "retrieval": "sparsevl.demos.shapes:retrieval",
    "classification": "sparsevl.demos.action:run",
    "pretrain": "sparsevl.demos.pretrain:run",
    "zero_shot": "sparsevl.demos.zero_shot:run",
}


@dataclasses.dataclass(frozen=True)
class DemoOptions:
    config: str | None = None  # training config instead of the demo's own
    num_videos: int | None = None  # demo videos to generate (None: the demo's default)
    seed: int = 0  # of the demo data
    overrides: tuple[str, ...] = ()  # --key value pairs for the training config


def run_demo(name: str, out: str | Path, options: DemoOptions = DemoOptions()) -> int:
    module_name, _, function = DEMOS[name].partition(":")
    return getattr(importlib.import_module(module_name), function)(Path(out), options)
