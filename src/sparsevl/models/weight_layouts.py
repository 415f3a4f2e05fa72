"""State dicts in other projects' layouts, recognised by their tensor names and converted to this
project's model names, so that a run can start from them (`init_checkpoint`) like from its own."""

from __future__ import annotations

from typing import Callable

import torch

from sparsevl.models.clipbert_weights import MappedWeights, is_clipbert_state, map_clipbert_state

# (whose layout, recognise, convert given the model's state dict)
LAYOUTS: tuple[tuple[str, Callable[[dict], bool], Callable[[dict, dict], MappedWeights]], ...] = (
    ("ClipBERT's e2e checkpoint", is_clipbert_state, map_clipbert_state),
)


def convert_foreign_layout(weights: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> tuple[str, MappedWeights] | None:
    """(whose layout, the converted weights) if `weights` is in a layout of `LAYOUTS`; None if not
    (this project's own names, loaded as they are)."""
    for name, recognise, convert in LAYOUTS:
        if recognise(weights):
            return name, convert(weights, target)
    return None
