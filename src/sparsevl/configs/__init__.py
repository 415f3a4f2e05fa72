"""The JSON configs shipped with sparsevl (package data): the demos' and the published datasets'.

`config_file(name)` finds one by its path relative to this folder (`demo_qa.json`,
`msrvtt_qa/resnet50.json`), so commands take these names from any folder and any install.
"""

from __future__ import annotations

from pathlib import Path

from sparsevl.problems import MissingInputError

CONFIGS_DIR = Path(__file__).resolve().parent


def shipped_configs() -> list[str]:
    return sorted(str(p.relative_to(CONFIGS_DIR)) for p in CONFIGS_DIR.rglob("*.json"))


def config_file(name: str | Path) -> Path:
    """`name` itself if it is a file, else the shipped config of that name (`configs/` in front is
    optional, so the repository's `configs/demo_qa.json` works from anywhere)."""
    path = Path(name)
    if path.is_file():
        return path
    relative = Path(*path.parts[1:]) if path.parts[:1] == ("configs",) else path
    if not path.is_absolute() and (CONFIGS_DIR / relative).is_file():
        return CONFIGS_DIR / relative
    raise MissingInputError(f"no config file {name}: not a file, nor one of sparsevl's configs "
                            f"({', '.join(shipped_configs())})")
