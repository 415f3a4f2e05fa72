"""Retrieval evaluation, full cross-encoder vs dual encoder + cross-encoder re-ranking of its top k.

    python benchmarks/retrieval_rerank.py --run runs/demo/runs/demo_retrieval [--num-videos 500] [--k 16]

Takes a trained retrieval run (e.g. from `sparsevl demo --task retrieval`), the first N videos of
its held-out split and their captions, and evaluates them in the same process with
`retrieval.eval_mode` = cross (every pair through the cross-encoder: ClipBERT's protocol, the
baseline), dual, and rerank; prints time and text-to-video R@1 of each and the ratios.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from sparsevl.runner.checkpoint import latest_checkpoint, restore
from sparsevl.runner.evaluate import evaluate
from sparsevl.txt_db import load_split, write_jsonl


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", required=True, type=Path, help="a retrieval run folder (config.json, ckpt/)")
    parser.add_argument("--split", default="val_2")
    parser.add_argument("--num-videos", type=int, default=500)
    parser.add_argument("--k", type=int, default=16, help="candidates re-ranked per caption")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    checkpoint = latest_checkpoint(args.run)
    cfg = restore(checkpoint).cfg
    records = load_split(cfg.txt_db, args.split)
    videos = list(dict.fromkeys(r["video_id"] for r in records))[: args.num_videos]
    chosen = set(videos)
    subset = [r for r in records if r["video_id"] in chosen]
    if len(videos) < args.num_videos:
        raise SystemExit(f"{args.split} has only {len(videos)} videos")
    print(f"{checkpoint}: {len(subset)} captions x {len(videos)} videos of {args.split}")

    with tempfile.TemporaryDirectory() as tmp:
        write_jsonl(Path(tmp) / "subset.jsonl", subset)
        results = {}
        for mode in ("cross", "dual", "rerank"):
            overrides = ["--txt_db", tmp, "--retrieval.eval_mode", mode, "--retrieval.rerank_k", str(args.k)]
            start = time.perf_counter()
            result, _ = evaluate(checkpoint, "subset", overrides, out_dir=tmp)
            results[mode] = (time.perf_counter() - start, result.metrics["t2v_R@1"])
            print(f"{mode:>6}: {results[mode][0]:7.1f} s   t2v R@1 {results[mode][1]:6.2f}")
    cross_time, cross_r1 = results["cross"]
    rerank_time, rerank_r1 = results["rerank"]
    print(f"rerank (k={args.k}) vs full cross-encoder: {cross_time / rerank_time:.1f}x faster, "
          f"R@1 {rerank_r1 - cross_r1:+.2f} points")


if __name__ == "__main__":
    main()
