"""Training step of the demo model on the CPU: samples/s and peak memory, sparse vs dense sampling.

    python benchmarks/training_step.py --demo DEMO_OUT [--rounds 5] [--steps 4]

On the demo's data (`sparsevl demo --out DEMO_OUT`) with the demo QA config: 8 videos per step
and all their questions, batches read beforehand (this measures compute, not loading). Two tables:

1. clips x frames per video in training: 1x1, 2x2, 4x2, 8x2 and one dense clip of 16 frames
   (ClipBERT's comparison of sparse and dense sampling), each with its own model (the `concat`
   fusion's weights depend on the frames per clip). Time in turns in this process; peak memory
   of each in a process of its own (its RSS sampled every millisecond during the steps).
2. the demo config's step before and after this project's CPU changes (channels-last
   activations, the frozen first backbone blocks), in turns in this process.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import Report, best, interleaved  # noqa: E402

from sparsevl.config import load_config  # noqa: E402
from sparsevl.configs import config_file  # noqa: E402
from sparsevl.problems import ProblemLog  # noqa: E402
from sparsevl.runner.optim import build_optimizer  # noqa: E402
from sparsevl.tasks.config import RunConfig  # noqa: E402
from sparsevl.tasks.registry import build_task  # noqa: E402

SAMPLINGS = {"1x1": (1, 1), "2x2": (2, 2), "4x2": (4, 2), "8x2": (8, 2), "dense 1x16": (1, 16)}
BEFORE = ["--model.channels_last", "false", "--model.frozen_backbone_blocks", "0"]  # the demo config before


class Stepper:
    """A model, its optimizer and a few batches of the demo data; `run()` takes one step per batch."""

    def __init__(self, demo: Path, overrides: list[str], steps: int, config: str = "demo_qa.json",
                 txt_db: str = "txt_db"):
        cfg = load_config(RunConfig, config_file(config), [
            "--txt_db", str(demo / txt_db), "--vis_db", str(demo / "vis_db"), "--output_dir", "/tmp/unused",
            *overrides])
        torch.manual_seed(0)
        self.task = build_task(cfg, ProblemLog(None))
        dataset = self.task.dataset("train", train=True)
        b = cfg.train_batch_size
        self.batches = [self.task.collator([dataset[i] for i in range(k * b, (k + 1) * b)]) for k in range(steps)]
        self.videos = steps * b
        self.model = self.task.build_model().train()
        self.optimizer = build_optimizer(self.model, cfg.lr, cfg.backbone_lr, cfg.weight_decay)

    def run(self) -> None:
        for batch in self.batches:
            loss = self.task.loss(self.model, batch)["loss"]
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.optimizer.step()
            self.model.zero_grad(set_to_none=True)


def sampling_overrides(n_clips: int, num_frm: int) -> list[str]:
    # frm_stride 1: dense frames are consecutive stored frames, and 16 of them fit in the demo's 12
    # only by repeating the last: the cost is what is measured here
    return ["--train_n_clips", str(n_clips), "--model.num_frm", str(num_frm), "--frm_stride", "1"]


def rss_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20


def peak_during(fn) -> tuple[float, float]:
    """(RSS before, peak RSS while `fn` runs) in MiB, sampled every millisecond by a thread."""
    import threading

    before, peak, done = rss_mib(), [0.0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_mib())
            done.wait(0.001)

    thread = threading.Thread(target=sample)
    thread.start()
    try:
        fn()
    finally:
        done.set()
        thread.join()
    return before, max(peak[0], rss_mib())


def peak_memory(demo: Path, overrides: list[str], steps: int) -> tuple[float, float]:
    """(RSS before, peak RSS during) `steps` training steps after one warm-up step, in a fresh process."""
    code = (
        "import json, sys; sys.path.insert(0, 'benchmarks');"
        "from training_step import Stepper, peak_during;"
        f"s = Stepper(__import__('pathlib').Path({str(demo)!r}), {overrides!r}, {steps});"
        "s.run(); print(json.dumps(peak_during(s.run)))"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=root)
    return tuple(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--demo", type=Path, required=True, help="a `sparsevl demo --out` folder")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=4, help="steps per timed round")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="cpu: this process's CPU time, for one torch thread on a busy machine")
    args = parser.parse_args()
    report = Report("training_step", "Training step: sparse vs dense sampling, and the demo step")
    report.log(f"torch threads: {torch.get_num_threads()}")

    steppers = {name: Stepper(args.demo, sampling_overrides(*s), args.steps) for name, s in SAMPLINGS.items()}
    for s in steppers.values():
        s.run()  # warm-up
    times = interleaved({k: s.run for k, s in steppers.items()}, args.rounds, report.log, clock=args.clock)
    rows = []
    base = None
    for name, (n_clips, num_frm) in SAMPLINGS.items():
        rate = steppers[name].videos / best(times[name])
        before, peak = peak_memory(args.demo, sampling_overrides(n_clips, num_frm), args.steps)
        base = base or rate
        rows.append((name, n_clips * num_frm, f"{rate:.1f}", f"{base / rate:.2f}x", f"{peak:,.0f}",
                     f"{peak - before:,.0f}"))
    report.table(("clips x frames", "frames per video", "videos/s", "time vs 1x1", "peak RSS in a step (MiB)",
                  "above the RSS between steps (MiB)"), rows,
                 caption="Demo QA model, 8 videos per step with their questions, 64 x 64 frames:")
    report.bar_chart("training_step_sampling.png", [r[0] for r in rows], [float(r[2]) for r in rows],
                     "training videos/s (CPU)", "Training step: sparse vs dense sampling")

    del steppers
    pair = {"before (contiguous, all blocks trained)": Stepper(args.demo, BEFORE, args.steps),
            "now (channels-last, backbone frozen)": Stepper(args.demo, [], args.steps)}
    for s in pair.values():
        s.run()
    times = interleaved({k: s.run for k, s in pair.items()}, args.rounds, report.log, clock=args.clock)
    rates = {k: pair[k].videos / best(t) for k, t in times.items()}
    first = next(iter(rates.values()))
    report.table(("demo QA config step", "videos/s", "speed-up"),
                 [(k, f"{v:.1f}", f"{v / first:.2f}x") for k, v in rates.items()],
                 caption="The demo config's training step, before and after, same run:")
    report.bar_chart("training_step_demo.png", list(rates), list(rates.values()), "training videos/s (CPU)",
                     "Demo QA training step, before and after")
    report.log(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")
    report.finish()


if __name__ == "__main__":
    main()
