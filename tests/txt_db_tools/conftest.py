"""Fixtures of the converter tests."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest


@pytest.fixture
def real_ann(shared_data) -> Callable[..., Path]:
    """`real_ann(folder, *names)`: the folder of published files in the shared test data; the test
    is skipped when one of `names` is not there."""

    def find(folder: str, *names: str) -> Path:
        ann = shared_data / folder
        absent = [name for name in names if not (ann / name).is_file()]
        if absent:
            pytest.skip(f"published files not found in {ann}: {', '.join(absent)}")
        return ann

    return find
