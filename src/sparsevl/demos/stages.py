"""The stages the demos are made of. Each one is skipped when its output is already complete, so a
second demo reuses the first one's data and an interrupted demo continues where it stopped."""

from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import Sequence

from sparsevl.config import load_config
from sparsevl.configs import config_file
from sparsevl.data.demo_data import DemoSpec, generate
from sparsevl.data.extract_frames import extract_frames
from sparsevl.report import report_runs
from sparsevl.report.run_folder import evaluations
from sparsevl.runner.checkpoint import latest_checkpoint
from sparsevl.runner.evaluate import evaluate
from sparsevl.runner.train import train
from sparsevl.tasks.config import RunConfig
from sparsevl.tasks.protocol import Evaluation
from sparsevl.txt_db import read_json

FRAMES_PER_VIDEO = 12  # stored frames per demo video (3 s): the sparse sampler picks from these
FRAME_SIZE = 64


class Stages:
    """Numbered progress lines ("[2/6] frames -> DIR") and the demo's total time."""

    def __init__(self, total: int):
        self.total, self.done, self.start = total, 0, time.time()

    def next(self, message: str) -> None:
        self.done += 1
        print(f"[{self.done}/{self.total}] {message}", flush=True)

    def finish(self) -> None:
        print(f"demo finished in {time.time() - self.start:.0f}s")


def demo_data(data: Path, num_videos: int, seed: int, stages: Stages) -> None:
    """Synthetic shape videos with ActivityNet-QA questions and ActivityNet Captions."""
    if (data / "annotations" / "test_a.json").is_file():  # written last by `generate`
        stages.next(f"demo data: reusing {data}")
        return
    stages.next(f"demo data: {num_videos} videos -> {data}")
    generate(data, DemoSpec(num_videos=num_videos, seed=seed))


def frames(videos: Path, vis_db: Path, stages: Stages) -> None:
    stages.next(f"frames -> {vis_db}")
    print(extract_frames(videos, vis_db, num_frames=FRAMES_PER_VIDEO, max_size=FRAME_SIZE))


def annotations(converter: str, source: Path, txt_db: Path, stages: Stages) -> None:
    """`converter`: a txt_db_tools module, run as its command line would."""
    stages.next(f"annotations -> {txt_db}")
    importlib.import_module(converter).convert(source, txt_db, quiet=True)


def run_config(config: str, overrides: Sequence[str]) -> RunConfig:
    return load_config(RunConfig, config_file(config), list(overrides))


def training(cfg: RunConfig, stages: Stages) -> Path:
    """Train, or continue the run in `cfg.output_dir` from its last checkpoint (a run stopped
    before its first checkpoint starts again); returns the run's last checkpoint."""
    run_dir = Path(cfg.output_dir)
    resume = latest_checkpoint(run_dir) is not None
    stages.next(f"training -> {run_dir}" + (" (continuing)" if resume else ""))
    train(cfg, resume=resume, overwrite=not resume)
    return latest_checkpoint(run_dir)


def evaluation(checkpoint: Path, split: str, stages: Stages) -> Evaluation:
    stages.next(f"evaluating {checkpoint.name} on the held-out split ({split})")
    result, files = evaluate(checkpoint, split)
    print(result.table)
    for name, path in files.items():
        print(f"{name}: {path}")
    return result


def report(run_dir: Path, split: str, out: Path, stages: Stages) -> Path:
    """The run's HTML report, beside the other runs of the same task in the same folder that were
    evaluated on `split` (e.g. the `mean` demo beside the `concat` one)."""
    task = read_json(run_dir / "config.json").get("task")
    others = [d for d in sorted(run_dir.parent.iterdir())
              if d != run_dir and (d / "config.json").is_file() and read_json(d / "config.json").get("task") == task
              and any(s == split for s, _, _ in evaluations(d))]
    stages.next(f"report -> {out}" + (f" (beside {', '.join(d.name for d in others)})" if others else ""))
    return report_runs(run_dir, out, compare=others, split=split)
