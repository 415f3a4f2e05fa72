"""Mixed precision is really applied: inside the model, under `amp`, the matrix products run in the
reduced precision. (These would fail if autocast did nothing.)"""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from sparsevl.problems import ProblemLog
from sparsevl.runner.runtime import autocast_factory
from sparsevl.tasks.registry import build_task


def linear_output_dtypes(model: torch.nn.Module, run) -> set[torch.dtype]:
    """The dtypes of every nn.Linear output while `run()` executes."""
    seen: set[torch.dtype] = set()
    hooks = [m.register_forward_hook(lambda _m, _i, out: seen.add(out.dtype))
             for m in model.modules() if isinstance(m, torch.nn.Linear)]
    try:
        run()
    finally:
        for h in hooks:
            h.remove()
    return seen


@pytest.mark.parametrize("amp,dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16), ("none", torch.float32)])
def test_the_training_loss_runs_its_matrix_products_in_the_amp_dtype(demo_data, tmp_path, config, amp, dtype):
    cfg = config(demo_data, tmp_path, amp=amp)
    task = build_task(cfg, ProblemLog())
    batch = next(iter(DataLoader(task.dataset("train", train=True), batch_size=2, collate_fn=task.collator)))
    model = task.build_model()
    autocast = autocast_factory(cfg.amp, torch.device("cpu"))
    losses = {}

    def step():
        with autocast():
            losses.update(task.loss(model, batch))

    assert linear_output_dtypes(model, step) == {dtype}
    losses["loss"].backward()  # and the gradients come back to the float32 weights
    assert all(p.grad is None or p.grad.dtype == torch.float32 for p in model.parameters())


def test_evaluation_runs_in_the_amp_dtype_too(demo_data, tmp_path, config):
    from sparsevl.dist import Dist

    cfg = config(demo_data, tmp_path, amp="bf16")
    task = build_task(cfg, ProblemLog())
    model = task.build_model()
    seen = linear_output_dtypes(
        model, lambda: task.evaluate(model, "val", torch.device("cpu"), autocast_factory("bf16", torch.device("cpu")), Dist()))
    assert seen == {torch.bfloat16}
