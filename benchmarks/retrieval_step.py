"""The retrieval demo's training step with its backbone trained (the demo config) and frozen with
channels-last activations (what the QA demo does; for retrieval it lowered R@1, docs/benchmarks.md),
in turns in one process: `python benchmarks/retrieval_step.py --demo DEMO_OUT`
(a folder where `sparsevl demo --task retrieval` ran: txt_db_ret/ and vis_db/)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import Report, best, interleaved  # noqa: E402
from training_step import BEFORE, Stepper  # noqa: E402

FROZEN = ["--model.channels_last", "true", "--model.frozen_backbone_blocks", "11"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--demo", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = parser.parse_args()
    report = Report("retrieval_step", "Training step: the retrieval demo, before and after")  # title of its docs section
    report.log(f"torch threads: {torch.get_num_threads()}")
    pair = {name: Stepper(args.demo, overrides, args.steps, "demo_retrieval.json", "txt_db_ret")
            for name, overrides in [("backbone trained (the demo config)", BEFORE),
                                    ("channels-last, backbone frozen", FROZEN)]}
    for s in pair.values():
        s.run()
    times = interleaved({k: s.run for k, s in pair.items()}, args.rounds, report.log, clock=args.clock)
    rates = {k: pair[k].videos / best(t) for k, t in times.items()}
    first = next(iter(rates.values()))
    report.table(("retrieval demo step (32 videos, ITM + contrastive)", "videos/s", "speed-up"),
                 [(k, f"{v:.1f}", f"{v / first:.2f}x") for k, v in rates.items()],
                 caption="The retrieval demo config's training step, before and after, same run:")
    report.finish()


if __name__ == "__main__":
    main()
