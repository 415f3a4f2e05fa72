"""The task registry: a task's name in the run config -> the class that implements it.

Built-in tasks are listed here as `module:Class` strings, imported only when a run uses them (so
reading a config does not import torch). A task that lives outside this package needs no entry:
name it as `module:Class` in the config's `task` key and it is imported the same way.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from sparsevl.problems import ProblemLog

if TYPE_CHECKING:  # the run config validates task names with this module
    from sparsevl.tasks.config import RunConfig
    from sparsevl.tasks.protocol import Task

TASKS: dict[str, str] = {
    "video_qa": "sparsevl.tasks.video_qa:VideoQATask",
    "retrieval": "sparsevl.tasks.matching:RetrievalTask",
    "multiple_choice": "sparsevl.tasks.matching:MultipleChoiceTask",
    "classification": "sparsevl.tasks.classification:ClassificationTask",
    "pretrain": "sparsevl.tasks.pretrain:PretrainTask",
}


def check_task_name(name: str) -> None:
    """A registry name or a `module:Class` path; raises ValueError listing the choices."""
    if name not in TASKS and name.count(":") != 1:
        raise ValueError(f"unknown task {name!r}: one of {', '.join(TASKS)}, or module:Class for a task of your own")


def task_class(name: str) -> type[Task]:
    check_task_name(name)
    module_name, _, class_name = TASKS.get(name, name).partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"task {name!r}: cannot import {module_name}: {e}") from e
    cls = getattr(module, class_name, None)
    if cls is None:
        raise ValueError(f"task {name!r}: {module_name} has no {class_name}")
    return cls


def build_task(cfg: RunConfig, problems: ProblemLog, state: dict | None = None) -> Task:
    """The run's task. `state`: what a checkpoint saved of it (`Task.state()`), to rebuild the
    model and tokenizer of that run instead of deriving them from the data."""
    return task_class(cfg.task)(cfg, problems, state)
