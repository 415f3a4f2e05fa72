"""Several vis_db stores read as one (`FrameStore`): the shards of an extraction split over
machines, given as a list of stores or as a folder of shards with a manifest.

    VIS_DIR/manifest.json     written by `sparsevl vis-db index VIS_DIR`
    VIS_DIR/<shard>/          one vis_db per shard (data.mdb, shard.json), any folder names

Everything that would make the union wrong is an error when the store is opened, before any
training step: a video in two shards, shards sampled with different settings, a shard the
manifest lists that is not there, a shard missing from a complete set (I/N records), or a store
that is not one of ours. A video is then read from the one shard that has it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sparsevl.data.shard_plan import Shard, ShardError, read_shard
from sparsevl.data.vis_db import StoreSettings, VideoMeta, VideoNotFound, VisDB
from sparsevl.problems import BadInputError, MissingInputError
from sparsevl.txt_db import read_json, write_json_atomic

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "sparsevl-vis_db-shards"


class DuplicateVideoError(ShardError):
    """A video stored in two shards."""


class ShardSettingsMismatch(ShardError):
    """Shards whose frames were sampled with different settings."""


class MissingShardError(ShardError, MissingInputError):
    """A shard that should be there and is not."""


class ShardedStore:
    """Read-only, like each of its stores; safe to pickle into DataLoader workers (a `VisDB`
    opens its LMDB lazily in each process)."""

    def __init__(self, stores: Sequence[VisDB], path: str | os.PathLike):
        self.stores = list(stores)
        self.path = Path(path)
        self._settings = check_shards(self.stores)
        self._where: dict[str, int] = {}  # video id -> the index of the store that has it
        for i, store in enumerate(self.stores):
            for video_id in store.video_ids():
                if video_id in self._where:
                    raise DuplicateVideoError(
                        f"video {video_id!r} is in two shards: {self.stores[self._where[video_id]].path} and "
                        f"{store.path}; remove it from one of them (each shard must hold its own videos)")
                self._where[video_id] = i

    def __contains__(self, video_id: object) -> bool:
        return video_id in self._where

    def __len__(self) -> int:
        return len(self._where)

    def video_ids(self) -> list[str]:
        return list(self._where)

    def settings(self) -> StoreSettings:
        return self._settings

    def store_of(self, video_id: str) -> VisDB:
        if video_id not in self._where:
            raise VideoNotFound(f"video {video_id!r} is in none of the {len(self.stores)} shards at {self.path}")
        return self.stores[self._where[video_id]]

    def meta(self, video_id: str) -> VideoMeta:
        return self.store_of(video_id).meta(video_id)

    def frames(self, video_id: str, indices: Sequence[int]) -> np.ndarray:
        return self.store_of(video_id).frames(video_id, indices)

    def close(self) -> None:
        for store in self.stores:
            store.close()


def check_shards(stores: Sequence[VisDB]) -> StoreSettings:
    """The settings the stores share; raises if they differ, if one is not an extracted store, or
    if their shard records (I/N) do not form one complete set."""
    settings = []
    for store in stores:
        s = store.settings()
        if s is None:
            raise ShardError(f"{store.path} is not a vis_db written by `sparsevl extract-frames` (no settings "
                             "record): only those can be read as shards of one store")
        settings.append(s)
    for store, s in zip(stores[1:], settings[1:]):
        if s != settings[0]:
            diff = ", ".join(f"{k}: {a!r} vs {b!r}" for (k, a), b in zip(settings[0].to_dict().items(), s.to_dict().values())
                             if a != b)
            raise ShardSettingsMismatch(f"shards sampled with different settings: {stores[0].path} and {store.path} "
                                        f"({diff}); extract every shard with the same options")
    _check_complete([read_shard(s.path) for s in stores], stores)
    return settings[0]


def _check_complete(shards: list[Shard | None], stores: Sequence[VisDB]) -> None:
    recorded = [(shard, store.path) for shard, store in zip(shards, stores) if shard is not None]
    if not recorded:
        return  # stores made without --shard: nothing says what a complete set is
    if len(recorded) != len(stores):
        plain = next(store.path for shard, store in zip(shards, stores) if shard is None)
        raise ShardError(f"{plain} was extracted without --shard, {recorded[0][1]} as shard {recorded[0][0]}: "
                         "a set of shards comes from one split")
    counts = {shard.count for shard, _ in recorded}
    if len(counts) > 1:
        raise ShardError("shards of different splits: " + ", ".join(f"{p} is {s}" for s, p in recorded))
    count = counts.pop()
    seen: dict[int, Path] = {}
    for shard, path in recorded:
        if shard.index in seen:
            raise ShardError(f"{seen[shard.index]} and {path} are both shard {shard}")
        seen[shard.index] = path
    missing = [f"{i}/{count}" for i in range(count) if i not in seen]
    if missing:
        raise MissingShardError(f"{len(missing)} of {count} shards missing: {', '.join(missing[:10])}"
                                + (" ..." if len(missing) > 10 else "") + " (have: "
                                + ", ".join(f"{s} at {p}" for s, p in sorted(recorded, key=lambda r: r[0].index)[:4])
                                + (" ..." if len(recorded) > 4 else "") + ")")


def is_shard_folder(path: str | os.PathLike) -> bool:
    return (Path(path) / MANIFEST).is_file()


def open_shards(spec: str | os.PathLike | Sequence[str | os.PathLike]) -> ShardedStore:
    """A list of stores, or a folder with a manifest, as one store (checked as described above)."""
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise ShardError("vis_db is an empty list of stores")
        return ShardedStore([VisDB(p) for p in spec], Path(spec[0]).parent)
    folder = Path(spec)
    manifest = read_json(folder / MANIFEST)
    try:
        if manifest["format"] != MANIFEST_FORMAT:
            raise KeyError("format")
        listed = [folder / entry["path"] for entry in manifest["shards"]]
    except (KeyError, TypeError) as e:
        raise BadInputError(f"{folder / MANIFEST}: not a manifest of `sparsevl vis-db index` ({e})") from None
    absent = [p for p in listed if not (p / "data.mdb").is_file()]
    if absent:
        raise MissingShardError(f"{folder / MANIFEST} lists {len(listed)} shards; {len(absent)} not there: "
                                + ", ".join(str(p) for p in absent[:5]) + (" ..." if len(absent) > 5 else ""))
    return ShardedStore([VisDB(p) for p in listed], folder)


def index_shards(folder: str | os.PathLike) -> dict:
    """Check the vis_db stores in the subfolders of `folder` as one store and write its manifest
    (atomically; nothing is written if a check fails). Returns the manifest."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingInputError(f"no folder at {folder}")
    found = sorted(p.parent for p in folder.glob("*/data.mdb"))
    if not found:
        raise MissingInputError(f"no vis_db in the subfolders of {folder} (expected {folder}/<shard>/data.mdb)")
    store = ShardedStore([VisDB(p) for p in found], folder)
    try:
        manifest = {
            "format": MANIFEST_FORMAT, "version": 1, "settings": store.settings().to_dict(), "videos": len(store),
            "shards": [{"path": s.path.name, "shard": str(read_shard(s.path) or "") or None, "videos": len(s)}
                       for s in store.stores],
        }
    finally:
        store.close()
    write_json_atomic(folder / MANIFEST, manifest)
    return manifest
