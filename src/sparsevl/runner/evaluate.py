"""Evaluate a checkpoint on a split: the task's metrics and result files, from the checkpoint alone;
or, zero-shot, a pretrained model read whole from its folder (no checkpoint, no training)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

from sparsevl.config import load_config
from sparsevl.dist import Dist
from sparsevl.models.factory import pretrained_model_section
from sparsevl.problems import ProblemLog
from sparsevl.runner.checkpoint import Restored, restore, run_dir_of
from sparsevl.runner.runtime import autocast_factory
from sparsevl.tasks.config import RunConfig
from sparsevl.tasks.protocol import Evaluation
from sparsevl.tasks.registry import build_task
from sparsevl.txt_db import write_json_atomic


def evaluate(
    checkpoint: str | Path, split: str, overrides: Sequence[str] = (), config: str | Path | None = None,
    out_dir: str | Path | None = None,
) -> tuple[Evaluation, dict[str, Path]]:
    """Evaluate `split` with a checkpoint; write the task's result files to `out_dir` (default: the
    checkpoint's run folder's results/). `overrides` and `config` as in `checkpoint.restore`."""
    run_dir = run_dir_of(checkpoint)
    out = Path(out_dir) if out_dir else run_dir / "results"
    restored = restore(checkpoint, overrides, config, ProblemLog(out / f"{split}_problems.log"))
    return _evaluate_and_write(restored, split, out, {"checkpoint": str(checkpoint)})


def evaluate_pretrained(
    folder: str | Path, split: str, out_dir: str | Path, overrides: Sequence[str] = (),
    config: str | Path | None = None,
) -> tuple[Evaluation, dict[str, Path]]:
    """Zero-shot: evaluate `split` with the pretrained model in `folder` as it is (e.g. a CLIP
    folder: the dual encoder). The run config is `config` (or the defaults), with the model
    section that reads `folder` and then `overrides` (the task, txt_db, vis_db, ...); the result
    files, named as a checkpoint's at step 0, go to `out_dir`."""
    out = Path(out_dir)
    model = [token for key, value in pretrained_model_section(folder).items() for token in (f"--model.{key}", value)]
    cfg = load_config(RunConfig, config, [*model, "--output_dir", str(out), *overrides])
    task = build_task(cfg, ProblemLog(out / f"{split}_problems.log"))
    restored = Restored(cfg=cfg, task=task, model=task.build_model(), step=0)
    return _evaluate_and_write(restored, split, out, {"init_from": str(folder)})


def _evaluate_and_write(
    restored: Restored, split: str, out: Path, source: dict[str, str],
) -> tuple[Evaluation, dict[str, Path]]:
    cfg = restored.cfg
    device = Dist().device(cfg.device)
    model = restored.model.to(device)
    result = restored.task.evaluate(model, split, device, autocast_factory(cfg.amp, device), Dist())
    files = dict(result.files)
    reserved = {"evaluation", "examples"} & set(files)
    if reserved:
        raise ValueError(f"task {cfg.task!r} names a result file {sorted(reserved)[0]!r}, which evaluate writes itself")
    # what every task has, for readers that know no task (the run report): the metrics, the
    # headline and the printed table
    files["evaluation"] = {"split": split, "step": restored.step, "headline": result.headline,
                           "metrics": result.metrics, "table": result.table}
    if result.examples:
        files["examples"] = [dataclasses.asdict(e) for e in result.examples]
    paths = {}
    for name, content in files.items():
        if isinstance(content, dict):
            content = {**source, **content}
        paths[name] = out / f"{split}_step{restored.step}_{name}.json"
        write_json_atomic(paths[name], content)
    return result, paths
