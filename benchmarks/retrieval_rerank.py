"""Retrieval at MSRVTT-1k-A size (1,000 captions x 1,000 videos): full cross-encoder vs dual encoder
vs re-ranking, time and text-to-video R@1, all in one run.

    python benchmarks/retrieval_rerank.py --run DEMO_OUT/runs/demo_retrieval [--k 16] [--cross-rows 100]

Takes a trained retrieval run (e.g. from `sparsevl demo --task retrieval`) and 1,000 videos with
one caption each: the demo's held-out split (`val_2`, 800 videos) and then the first videos of
`val_1`. Every video is encoded once by the visual tower (timed apart: every mode needs it). Then,
with the task's own scoring code:

- dual: every caption and video embedded, one matrix product;
- rerank: the dual encoder's top k videos per caption re-scored by the cross-encoder, sorted by
  the ITM log-odds alone (`retrieval.rerank_score = itm`) or by ITM + the dual logit (`itm+dual`);
- cross: every (caption, video) pair through the cross-encoder (ClipBERT's protocol). A million
  pairs is too slow to run here in full: it is timed on `--cross-rows` captions (every 10th) and
  its time is extrapolated to 1,000 captions; its R@1 is on those captions, compared with the
  other modes' R@1 on the same captions.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import Report  # noqa: E402

from sparsevl.runner.checkpoint import latest_checkpoint, restore  # noqa: E402
from sparsevl.tasks.common import evaluating  # noqa: E402
from sparsevl.tasks.retrieval_metrics import text_to_video_ranks, topk_ranks  # noqa: E402
from sparsevl.txt_db import load_split, write_jsonl  # noqa: E402


def r_at_1(ranks: np.ndarray) -> float:
    return 100.0 * float(np.mean(ranks == 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, type=Path, help="a retrieval run folder (config.json, ckpt/)")
    parser.add_argument("--num-videos", type=int, default=1000)
    parser.add_argument("--k", type=int, default=16, help="candidates re-ranked per caption")
    parser.add_argument("--cross-rows", type=int, default=100, help="captions the full cross-encoder is timed on")
    parser.add_argument("--dual-weights", default="1,0.5,2", help="rerank_dual_weight values of the itm+dual sort "
                        "(the first is the demo config's; the others cost only a re-sort)")
    args = parser.parse_args()
    report = Report("retrieval_rerank", "Retrieval at MSRVTT-1k-A size: cross-encoder, dual encoder, re-ranking")
    checkpoint = latest_checkpoint(args.run)
    cfg = restore(checkpoint).cfg
    records, seen = [], set()
    for split in ("val_2", "val_1"):
        for r in load_split(cfg.txt_db, split):
            if r["video_id"] not in seen and len(seen) < args.num_videos:  # one caption per video
                seen.add(r["video_id"])
                records.append(r)
    if len(records) < args.num_videos:
        raise SystemExit(f"only {len(records)} videos in val_2 + val_1")
    report.log(f"{checkpoint}: {len(records)} captions x {len(records)} videos (val_2, then val_1), "
               f"torch threads {torch.get_num_threads()}")

    with tempfile.TemporaryDirectory() as tmp:
        write_jsonl(Path(tmp) / "bench.jsonl", records)
        restored = restore(checkpoint, ["--txt_db", tmp, "--retrieval.rerank_k", str(args.k)])
        task, model, device = restored.task, restored.model, torch.device("cpu")
        video_ids = [r["video_id"] for r in records]
        truth = np.arange(len(records))  # caption i is about video i
        with evaluating(model):
            start = time.perf_counter()
            encoded, clips, video_emb = task._encode_videos(model, video_ids, "val_2 + val_1", device,
                                                            need_embedding=True)
            if encoded != video_ids:
                raise SystemExit(f"{len(video_ids) - len(encoded)} of the videos could not be read")
            t_videos = time.perf_counter() - start
            texts = task.collator.tokenize([r["caption"] for r in records])

            start = time.perf_counter()
            sims = task._text_embeddings(model, texts, len(records), video_emb) @ video_emb.T
            t_dual = time.perf_counter() - start
            top_sims, candidates = sims.topk(args.k, dim=1)

            start = time.perf_counter()
            itm = task._cross_scores(model, texts, clips, candidates).float()
            t_itm = time.perf_counter() - start
            weights = [float(w) for w in args.dual_weights.split(",")]
            fused = {w: itm + w * model.temperature_scale() * top_sims.float() for w in weights}

            rows = np.arange(0, len(records), len(records) // args.cross_rows)[: args.cross_rows]
            sample = {k: v[torch.from_numpy(rows)] for k, v in texts.items()}
            start = time.perf_counter()
            cross = task._cross_scores(model, sample, clips, torch.arange(len(records)).expand(len(rows), -1)).float()
            t_cross_sample = time.perf_counter() - start
    t_cross = t_cross_sample * len(records) / len(rows)
    report.log(f"video encoding (every mode): {t_videos:.1f} s; dual: {t_dual:.1f} s; cross-encoder on "
               f"{len(records) * args.k:,} candidate pairs: {t_itm:.1f} s; cross-encoder on {len(rows)} x "
               f"{len(records)} pairs: {t_cross_sample:.1f} s")

    dual_ranks = text_to_video_ranks(sims, truth)
    itm_ranks, _ = topk_ranks(candidates, itm, truth, len(records))
    fused_ranks = {w: topk_ranks(candidates, f, truth, len(records))[0] for w, f in fused.items()}
    cross_ranks = text_to_video_ranks(cross, truth[rows])
    t_rerank = t_videos + t_dual + t_itm
    modes = [  # name, seconds (videos encoded included), R@1 all captions, R@1 on the cross rows
        ("cross: every pair through the cross-encoder (ClipBERT; time extrapolated from "
         f"{len(rows)} captions)", t_videos + t_cross, None, r_at_1(cross_ranks)),
        (f"rerank k={args.k} by ITM (`rerank_score: itm`, the demo's sort before)", t_rerank, r_at_1(itm_ranks),
         r_at_1(itm_ranks[rows])),
        *[(f"rerank k={args.k} by ITM + {w:g} x dual logit (`rerank_score: itm+dual`)", t_rerank,
           r_at_1(ranks), r_at_1(ranks[rows])) for w, ranks in fused_ranks.items()],
        ("dual: one pass per caption and per video, one matrix product", t_videos + t_dual,
         r_at_1(dual_ranks), r_at_1(dual_ranks[rows])),
    ]
    cross_time = modes[0][1]
    body = [(name, f"{t:,.1f} s", f"{cross_time / t:.1f}x", "-" if r1 is None else f"{r1:.1f}", f"{r1_rows:.1f}")
            for name, t, r1, r1_rows in modes]
    report.table(("mode", "time", "faster than cross", f"t2v R@1, {len(records)} captions",
                  f"t2v R@1, the {len(rows)} cross rows"), body,
                 caption=f"{len(records)} x {len(records)}, the retrieval demo's checkpoint, times include encoding "
                         f"every video once ({t_videos:.1f} s):")
    report.bar_chart("retrieval_rerank_time.png", ["cross (extrapolated)", "rerank (k candidates)", "dual"],
                     [modes[0][1], t_rerank, modes[-1][1]], "seconds for 1,000 x 1,000 (log scale)",
                     "Retrieval evaluation time", log_scale=True)
    report.bar_chart("retrieval_rerank_r1.png", ["cross (sampled rows)"] + [m[0].split(" (")[0].split(": ")[0] for m in modes[1:]],
                     [modes[0][3]] + [m[3] for m in modes[1:]], f"t2v R@1 on the {len(rows)} cross rows",
                     "Retrieval R@1 by mode")
    report.finish()


if __name__ == "__main__":
    main()
