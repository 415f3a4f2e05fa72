"""Checkpoints: written atomically, read with `weights_only=True` (never arbitrary pickle).

A checkpoint is self-contained: besides the weights (and, for resuming, the optimizer, scheduler,
scaler, generators and data position) it holds the run's resolved config and the task's state
(`Task.state()`: tokenizer, label map, model architecture, how the frames were sampled), so
`restore` rebuilds the task and model from the file alone.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from sparsevl.config import config_with_overrides, load_config, to_dict
from sparsevl.files import write_atomic
from sparsevl.models.pretrained import LoadReport, load_weights, read_state_dict
from sparsevl.models.weight_layouts import convert_foreign_layout
from sparsevl.problems import BadInputError, MissingInputError, ProblemLog
from sparsevl.tasks.config import RunConfig
from sparsevl.tasks.protocol import SHARED_STATE, Task
from sparsevl.tasks.registry import build_task

FORMAT_VERSION = 2  # 2: the config and the task's state are in the file


def save_checkpoint(path: str | Path, state: dict) -> Path:
    """Written atomically: a crash never leaves half a checkpoint under a checkpoint's name."""
    return write_atomic(path, lambda f: torch.save(state, f))


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"no checkpoint at {path}: give a ckpt/step_*.pt file written by `sparsevl train`")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # not a torch file, truncated, or holding objects other than tensors and plain data
        raise BadInputError(f"{path} cannot be read as a checkpoint (torch.load with weights_only=True): "
                            f"{str(e).splitlines()[0]}") from None


def checkpoint_path(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / "ckpt" / f"step_{step:07d}.pt"


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    found = sorted((Path(run_dir) / "ckpt").glob("step_*.pt"), key=lambda p: int(re.findall(r"\d+", p.stem)[0]))
    return found[-1] if found else None


def run_dir_of(checkpoint: str | Path) -> Path:
    """The run folder a checkpoint belongs to (RUN/ckpt/step_N.pt -> RUN), or the file's folder."""
    folder = Path(checkpoint).resolve().parent
    return folder.parent if folder.name == "ckpt" else folder


@dataclasses.dataclass
class Restored:
    cfg: RunConfig
    task: Task
    model: nn.Module
    step: int


def restore(
    checkpoint: str | Path, overrides: Sequence[str] = (), config: str | Path | None = None,
    problems: ProblemLog | None = None,
) -> Restored:
    """The task and the model (weights loaded, on the CPU) of a checkpoint, from the file alone.

    The run's config comes from the checkpoint (or from `config`, a config file), then `overrides`
    (e.g. `--txt_db DIR` to evaluate on other data, `--task multiple_choice` to answer multiple
    choice with a retrieval model)."""
    cfg = load_config(RunConfig, config, overrides) if config else None
    state = load_checkpoint(checkpoint)
    if "config" not in state or "task" not in state:
        raise BadInputError(f"{checkpoint} holds no run config: it was written by an older version; "
                            "evaluate it with that version, or retrain")
    if cfg is None:
        cfg = config_with_overrides(RunConfig, state["config"], f"the config saved in {checkpoint}", overrides)
    task = build_task(cfg, problems or ProblemLog(), state["task"])
    model = task.build_model()
    # a model of another task (e.g. retrieval from a pre-training checkpoint) has no place for
    # the heads it does not use, but must find every tensor of its own
    load_model_weights(model, state["model"], checkpoint, other_task=cfg.task != state["config"]["task"])
    return Restored(cfg=cfg, task=task, model=model, step=state.get("step", 0))


def load_model_weights(model: nn.Module, weights: dict, checkpoint: str | Path, other_task: bool = False) -> None:
    """The checkpoint's weights, which must be exactly the model's: same names, same shapes (a
    checkpoint of another model config is refused, naming the tensors that differ)."""
    load_weights(model, weights, Path(checkpoint), unexpected_ok=other_task)


@dataclasses.dataclass
class InitCheckpoint:
    """The weights a run starts from (`init_checkpoint`), and what the run that wrote them
    shares with a run of another task (`SHARED_STATE`: its tokenizer and model architecture), so
    that the towers, their vocabulary included, carry over."""

    path: Path
    weights: dict
    shared_state: dict | None  # None for a plain state dict file

    @classmethod
    def read(cls, path: str | Path) -> InitCheckpoint:
        path = Path(path)
        if not path.is_file():
            raise MissingInputError(f"init_checkpoint {path} does not exist: give a ckpt/step_*.pt of a run, "
                                    "or a state dict file")
        if path.suffix == ".safetensors":
            return cls(path, read_state_dict(path), None)
        saved = load_checkpoint(path)
        if isinstance(saved.get("model"), dict) and "task" in saved:
            return cls(path, saved["model"], {k: v for k, v in saved["task"].items() if k in SHARED_STATE})
        if not all(isinstance(v, torch.Tensor) for v in saved.values()):
            raise BadInputError(f"init_checkpoint {path} holds neither a sparsevl checkpoint nor a state dict")
        return cls(path, saved, None)

    def load_into(self, model: nn.Module, skip: tuple[str, ...] = ()) -> LoadReport:
        """Tensors the model has and the file lacks keep their initialisation (a new head), tensors
        the model has no place for are ignored; both are reported. A tensor of another shape is an
        error unless its name starts with one of `skip`. A state dict in another project's layout
        (ClipBERT's) is converted to the model's names first; what was dropped is reported."""
        converted = convert_foreign_layout(self.weights, model.state_dict())
        weights = self.weights if converted is None else converted[1].weights
        report = load_weights(model, weights, self.path, missing_ok=True, unexpected_ok=True, skip=skip)
        if converted is not None:
            layout, mapped = converted
            report.dropped = sorted(mapped.dropped)
            report.conversion = [f"read as {layout}"] + mapped.report_lines()
        return report


def checkpoint_state(cfg: RunConfig, task: Task, model: nn.Module, **training: object) -> dict:
    """What every checkpoint holds; `training` adds the optimizer, generators and position for resuming."""
    return {"format": FORMAT_VERSION, "config": to_dict(cfg), "task": task.state(), "model": model.state_dict(), **training}
