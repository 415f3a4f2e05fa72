"""Which videos an extraction takes: a folder's or a list file's, and, for one of N machines, its
shard of them.

A video belongs to shard `sha1(video id) mod N`: the split depends on nothing but the id, so every
machine computes it alone, and adding, removing or reordering other videos in the list never moves
a video to another shard. Each shard's store records which shard it is (`shard.json` beside its
LMDB), so that `sparsevl vis-db index` can check that a folder of shards is complete, and a store
is never resumed as another shard.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from pathlib import Path

from sparsevl.problems import BadInputError, MissingInputError, UserError
from sparsevl.txt_db import read_json, write_json_atomic

SHARD_FILE = "shard.json"  # in a shard's VIS_DB folder, beside data.mdb
ASSIGNMENT = "sha1(video id) mod count"  # recorded, so a later change of rule cannot go unnoticed


class ShardError(UserError):
    """Shards that cannot be used together, or a store that is not the shard asked for."""


@dataclasses.dataclass(frozen=True)
class Shard:
    index: int  # 0 .. count - 1 (a slurm array task id, a Kubernetes job completion index)
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """"I/N", e.g. "3/16"."""
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not match:
            raise ShardError(f"--shard {text!r}: expected I/N, e.g. 0/4 (shard I of N, counted from 0)")
        index, count = int(match[1]), int(match[2])
        if not 0 <= index < count:
            raise ShardError(f"--shard {text}: I must be in 0 .. {count - 1} (shards are counted from 0)")
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def takes(self, video_id: str) -> bool:
        return shard_of(video_id, self.count) == self.index

    def select(self, paths: list[Path]) -> list[Path]:
        """This shard's videos of `paths`, in their order."""
        # by the id extract-frames stores the file under (its stem: `x.mp4` and `x.jpg` are both `x`)
        return [p for p in paths if self.takes(p.stem)]

    def to_dict(self) -> dict:
        return {"index": self.index, "count": self.count, "assignment": ASSIGNMENT}


def shard_of(video_id: str, count: int) -> int:
    digest = hashlib.sha1(video_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


def read_video_list(path: str | os.PathLike) -> list[Path]:
    """The video files of a list file: one path per line (relative paths from the list's folder);
    blank lines and lines starting with # are skipped. The files themselves are not checked here:
    a shard opens only its own."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"no video list at {path}")
    videos = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            video = Path(line)
            videos.append(video if video.is_absolute() else path.parent / video)
    return videos


def read_shard(store_dir: str | os.PathLike) -> Shard | None:
    """The shard a store says it is; None for a store of all the videos."""
    path = Path(store_dir) / SHARD_FILE
    if not path.is_file():
        return None
    record = read_json(path)
    try:
        if record["assignment"] != ASSIGNMENT:
            raise BadInputError(f"{path}: videos were assigned by {record['assignment']!r}, not {ASSIGNMENT!r}")
        return Shard(int(record["index"]), int(record["count"]))
    except (KeyError, TypeError, ValueError) as e:
        raise BadInputError(f"{path}: not a shard record ({type(e).__name__}: {e})") from None


def claim_store(store_dir: str | os.PathLike, shard: Shard | None) -> None:
    """Record that the store at `store_dir` is `shard`, or refuse a store that is another shard.
    (A store of all the videos made a shard later would hold videos of other shards: the check of
    a folder of shards at start-up finds them in two shards.)"""
    have = read_shard(store_dir)
    if have == shard:
        return
    if have is not None:
        wanted = f"--shard {shard}" if shard else "all the videos (no --shard)"
        raise ShardError(f"the vis_db at {store_dir} is shard {have}, not {wanted}: use --shard {have} to "
                         "resume it, or a new VIS_DB folder")
    write_json_atomic(Path(store_dir) / SHARD_FILE, shard.to_dict())
