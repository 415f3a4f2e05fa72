"""benchmarks/retrieval_rerank.py end to end on a tiny retrieval demo run: the benchmark reads the
task's private scoring code, so a change there must not leave it broken unnoticed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sparsevl.cli import main

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "retrieval_rerank.py"


def test_retrieval_rerank_benchmark_runs_and_reports(tmp_path):
    demo = tmp_path / "demo"
    assert main(["demo", "--task", "retrieval", "--out", str(demo), "--num-videos", "30", "--max_steps", "2",
                 "--train_batch_size", "4", "--model.hidden_size", "32", "--model.num_heads", "2",
                 "--model.num_layers", "1", "--model.intermediate_size", "64", "--retrieval.rerank_k", "3"]) == 0
    docs = tmp_path / "docs"
    docs.mkdir()
    env = {**os.environ, "SPARSEVL_BENCHMARK_DOCS": str(docs)}
    run = subprocess.run([sys.executable, str(BENCHMARK), "--run", str(demo / "runs" / "demo_retrieval"),
                          "--num-videos", "8", "--k", "3", "--cross-rows", "2"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    page = (docs / "benchmarks.md").read_text()
    assert "## Retrieval at MSRVTT-1k-A size" in page
    rows = [line for line in page.splitlines() if line.startswith("| ") and " s | " in line]
    assert len(rows) == 6  # cross, ITM, ITM + 3 dual weights, dual
    assert all(len(line.split("|")) == 7 for line in rows)
    assert list((docs / "logs").glob("retrieval_rerank_*.txt")) and (docs / "img" / "retrieval_rerank_r1.png").is_file()
