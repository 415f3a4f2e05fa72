"""The DataLoader on the demo's data: clips/s by workers, loading hidden behind training, and the
workers' memory over epochs.

    python benchmarks/dataloader.py --demo DEMO_OUT [--rounds 3] [--steps 40] [--epochs 5]

1. Loading alone: the demo QA config's training set read through `torch.utils.data.DataLoader`
   (the config's collator, 8 videos per batch) with 0, 1 and 2 worker processes, with and without
   pinned memory (a no-op without an accelerator: torch says so) and persistent workers; two
   epochs per measurement, so that starting the workers again each epoch shows.
2. A training step with real loading against the same steps on batches read beforehand, with
   the demo config (`num_workers` 0) and with 1 worker; in turns.
3. Memory: 2 persistent workers over `--epochs` epochs of a subset; each process's RSS after each
   epoch (psutil) and the peak.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import psutil
import torch
from torch.utils.data import DataLoader, Subset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import Report, best, interleaved  # noqa: E402
from training_step import Stepper  # noqa: E402

from sparsevl.config import load_config  # noqa: E402
from sparsevl.configs import config_file  # noqa: E402
from sparsevl.problems import ProblemLog  # noqa: E402
from sparsevl.tasks.config import RunConfig  # noqa: E402
from sparsevl.tasks.registry import build_task  # noqa: E402


def demo_task(demo: Path):
    cfg = load_config(RunConfig, config_file("demo_qa.json"), [
        "--txt_db", str(demo / "txt_db"), "--vis_db", str(demo / "vis_db"), "--output_dir", "/tmp/unused"])
    return cfg, build_task(cfg, ProblemLog(None))


def workers(me: psutil.Process, earlier: set[int]) -> list[psutil.Process]:
    return [p for p in me.children(recursive=True) if p.pid not in earlier]


def epochs_of(loader: DataLoader, dataset, epochs: int) -> None:
    for epoch in range(epochs):
        dataset.set_epoch(epoch)
        for _ in loader:
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--demo", type=Path, required=True, help="a `sparsevl demo --out` folder")
    parser.add_argument("--videos", type=int, default=800, help="training videos read per epoch in part 1")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40, help="training steps per round in part 2")
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=".*pin_memory.*")
    report = Report("dataloader", "DataLoader: workers, loading behind compute, memory")
    report.log(f"torch threads: {torch.get_num_threads()}; accelerator: {torch.cuda.is_available()}")
    cfg, task = demo_task(args.demo)
    full = task.dataset(cfg.train_split, train=True)
    subset = Subset(full, range(args.videos))
    subset.set_epoch = full.set_epoch

    settings = {"0 workers": dict(num_workers=0), "1 worker": dict(num_workers=1),
                "2 workers": dict(num_workers=2), "2 workers, persistent": dict(num_workers=2, persistent_workers=True),
                "2 workers, pinned memory": dict(num_workers=2, pin_memory=True)}
    loaders = {name: DataLoader(subset, batch_size=cfg.train_batch_size, collate_fn=task.collator, **kw)
               for name, kw in settings.items()}
    times = interleaved({n: (lambda ld=ld: epochs_of(ld, subset, 2)) for n, ld in loaders.items()},
                        args.rounds, report.log)
    clips = 2 * args.videos * cfg.train_n_clips
    rates = {n: clips / best(t) for n, t in times.items()}
    report.table(("DataLoader", "clips/s"), [(n, f"{r:,.0f}") for n, r in rates.items()],
                 caption=f"Loading alone: {args.videos} demo training videos x 2 epochs, 8 per batch, "
                         "the demo config's clips (1 of 4 frames at 64 x 64):")
    report.bar_chart("dataloader_clips.png", list(rates), list(rates.values()), "clips/s", "DataLoader, loading alone")
    del loaders

    # 2. training with real loading vs batches read beforehand
    stepper = Stepper(args.demo, [], args.steps)  # its batches are read beforehand
    subset2 = Subset(full, range(args.steps * cfg.train_batch_size))

    def train_from(loader_kwargs):
        loader = DataLoader(subset2, batch_size=cfg.train_batch_size, collate_fn=stepper.task.collator, **loader_kwargs)
        model, optimizer = stepper.model, stepper.optimizer

        def run():
            for batch in loader:
                loss = stepper.task.loss(model, batch)["loss"]
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                model.zero_grad(set_to_none=True)
        return run

    paths = {"batches in memory": stepper.run, "loading, 0 workers (demo config)": train_from({"num_workers": 0}),
             "loading, 1 persistent worker": train_from({"num_workers": 1, "persistent_workers": True})}
    for p in paths.values():
        p()
    times = interleaved(paths, args.rounds, report.log)
    base = best(times["batches in memory"])
    report.table(("training steps", "s per step", "vs batches in memory"),
                 [(n, f"{best(t) / args.steps:.3f}", f"{100 * (best(t) / base - 1):+.1f}%") for n, t in times.items()],
                 caption=f"The demo QA config, {args.steps} steps per round:")

    # 3. memory over epochs
    me = psutil.Process()
    del paths, stepper
    earlier = {p.pid for p in me.children(recursive=True)}  # e.g. a resource tracker: not ours
    loader = DataLoader(subset, batch_size=cfg.train_batch_size, collate_fn=task.collator, num_workers=2,
                        persistent_workers=True)
    rows, peak = [], {}
    for epoch in range(args.epochs):
        subset.set_epoch(epoch)
        for _ in loader:
            for p in [me, *workers(me, earlier)]:
                peak[p.pid] = max(peak.get(p.pid, 0), p.memory_info().rss)
        rss = [p.memory_info().rss / 2**20 for p in [me, *workers(me, earlier)]]
        rows.append((epoch + 1, f"{rss[0]:,.0f}", ", ".join(f"{r:,.0f}" for r in rss[1:])))
    report.table(("epoch", "main process RSS (MiB)", "workers' RSS (MiB)"), rows,
                 caption=f"2 persistent workers, {args.videos} videos per epoch, RSS after each epoch:")
    report.log("peak RSS (MiB): " + ", ".join(f"pid {pid} {v / 2**20:,.0f}" for pid, v in peak.items()))
    report.finish()


if __name__ == "__main__":
    main()
