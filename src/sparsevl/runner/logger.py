"""Run metrics: one JSON line per record in `log.jsonl`, the same scalars to TensorBoard."""

from __future__ import annotations

import time
from pathlib import Path

import orjson


class RunLogger:
    def __init__(self, run_dir: str | Path, enabled: bool = True):
        self.enabled = enabled
        self.path = Path(run_dir) / "log.jsonl"
        self.tb = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(Path(run_dir) / "tb"))

    def log(self, step: int, prefix: str, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        record = {"time": round(time.time(), 3), "step": step, **{f"{prefix}/{k}": v for k, v in metrics.items()}}
        with open(self.path, "ab") as f:
            f.write(orjson.dumps(record) + b"\n")
        for k, v in metrics.items():
            if isinstance(v, (int, float)):
                self.tb.add_scalar(f"{prefix}/{k}", v, step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
