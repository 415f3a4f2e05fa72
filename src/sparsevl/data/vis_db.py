"""vis_db: an LMDB of JPEG frames plus one meta record per video (layout in docs/data.md).

Keys (utf-8):
    {video_id}/{frame_index:06d}  JPEG bytes of stored frame `frame_index` (0 .. num_frames-1)
    meta/{video_id}               orjson VideoMeta; its presence means "this video is complete"
    __settings__                  orjson StoreSettings: how every frame in the store was sampled

Video ids are file stems, so they never contain '/'. The one possible clash, a video named
`meta` whose frame keys `meta/000123` would read as the meta record of a video named `000123`, is
prevented by refusing the id `meta` (RESERVED_IDS) when writing.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from pathlib import Path

import lmdb
import numpy as np
import orjson
import simplejpeg

from sparsevl.problems import BadSampleError, MissingInputError, UserError

FORMAT = "sparsevl-vis_db"
FORMAT_VERSION = 1
SETTINGS_KEY = b"__settings__"
META_PREFIX = b"meta/"
RESERVED_IDS = frozenset({"meta"})


def frame_key(video_id: str, index: int) -> bytes:
    return f"{video_id}/{index:06d}".encode()


def meta_key(video_id: str) -> bytes:
    return META_PREFIX + video_id.encode()


class VideoNotFound(BadSampleError, KeyError):
    """A video id that is not in the store (or a frame of it that is missing)."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0])


class BadFrame(BadSampleError, ValueError):
    """A stored frame that cannot be decoded (a corrupt JPEG) or does not fit its video."""


class SettingsMismatch(UserError, ValueError):
    """Extraction settings that differ from those the store was made with."""


@dataclasses.dataclass(frozen=True)
class StoreSettings:
    """How the store's frames were sampled; one record per store, checked on every write run."""

    fps: float | None
    num_frames: int | None
    max_size: int | None
    quality: int
    image_format: str = "jpeg"
    format: str = FORMAT
    version: int = FORMAT_VERSION

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> StoreSettings:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclasses.dataclass(frozen=True)
class VideoMeta:
    num_frames: int
    timestamps: list[float]  # seconds from the video's first frame, one per stored frame
    fps: float | None  # the requested sampling rate; None in num_frames mode
    source_fps: float | None
    duration: float | None  # seconds, as decoded
    width: int  # stored frame size
    height: int
    source_width: int | None = None
    source_height: int | None = None
    source_frames_decoded: int | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> VideoMeta:
        # Unknown keys are ignored so a newer writer's extra fields do not break this reader.
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


# One read-only environment per store per process, shared by every VisDB of that store: LMDB
# forbids opening the same environment twice in a process (py-lmdb raises "already open"), and
# train and eval datasets often read the same store. {resolved path: [pid, env, users]}
_ENVS: dict[str, list] = {}


def _acquire_env(path: Path) -> lmdb.Environment:
    key = str(path.resolve())
    entry = _ENVS.get(key)
    if entry is not None and entry[0] == os.getpid():
        entry[2] += 1
        return entry[1]
    if entry is not None:
        # Inherited through fork (e.g. DataLoader workers): the parent's handle must not be used
        # here, and py-lmdb refuses a second open until it is closed in this process.
        try:
            entry[1].close()
        except lmdb.Error:
            pass
    # lock=False: readers of a finished store need no lock file (and the store may sit on a
    # read-only file system); readahead=False: random frame reads, not a scan.
    env = lmdb.open(
        key, readonly=True, lock=False, readahead=False, meminit=False, max_readers=2048
    )
    _ENVS[key] = [os.getpid(), env, 1]
    return env


def _release_env(path: Path) -> None:
    key = str(path.resolve())
    entry = _ENVS.get(key)
    if entry is not None and entry[0] == os.getpid():
        entry[2] -= 1
        if entry[2] <= 0:
            entry[1].close()
            del _ENVS[key]


class VisDB:
    """Read-only access. Safe to pickle or fork into DataLoader workers: the LMDB environment is
    opened on first use in each process (an environment must not cross a fork)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not (self.path / "data.mdb").is_file():
            raise MissingInputError(f"no vis_db at {self.path} (expected {self.path / 'data.mdb'})")
        self._env = None
        self._pid = None
        self._ids: list[str] | None = None

    def __getstate__(self):
        return {"path": self.path, "_env": None, "_pid": None, "_ids": self._ids}

    def _get_env(self) -> lmdb.Environment:
        if self._env is None or self._pid != os.getpid():
            self._env = _acquire_env(self.path)
            self._pid = os.getpid()
        return self._env

    def _begin(self):
        env = self._get_env()
        try:
            return env.begin(buffers=False)
        except lmdb.MapResizedError:  # a writer grew the map since we opened it
            env.set_mapsize(0)
            return env.begin(buffers=False)

    def video_ids(self) -> list[str]:
        if self._ids is None:
            ids = []
            with self._begin() as txn:
                cursor = txn.cursor()
                if cursor.set_range(META_PREFIX):
                    for key in cursor.iternext(keys=True, values=False):
                        if not key.startswith(META_PREFIX):
                            break
                        ids.append(key[len(META_PREFIX):].decode())
            self._ids = ids
        return list(self._ids)

    def __len__(self) -> int:
        return len(self.video_ids())

    def __contains__(self, video_id) -> bool:
        with self._begin() as txn:
            return txn.get(meta_key(str(video_id))) is not None

    def settings(self) -> StoreSettings | None:
        """How the store was made; None for an LMDB without our record (e.g. ClipBERT's)."""
        with self._begin() as txn:
            raw = txn.get(SETTINGS_KEY)
        if raw is None:
            return None
        settings = StoreSettings.from_dict(orjson.loads(raw))
        if (settings.format, settings.version) != (FORMAT, FORMAT_VERSION):
            raise SettingsMismatch(
                f"the vis_db at {self.path} is {settings.format!r} version {settings.version}; this sparsevl "
                f"reads {FORMAT!r} version {FORMAT_VERSION}: extract it again, or use the version that wrote it")
        return settings

    def meta(self, video_id: str) -> VideoMeta:
        with self._begin() as txn:
            raw = txn.get(meta_key(video_id))
        if raw is None:
            raise VideoNotFound(f"video {video_id!r} is not in the vis_db at {self.path}")
        return VideoMeta.from_dict(orjson.loads(raw))

    def jpeg(self, video_id: str, index: int) -> bytes:
        """The stored JPEG bytes of one frame."""
        return self.jpegs(video_id, [index])[0]

    def frames(self, video_id: str, indices: Sequence[int]) -> np.ndarray:
        """uint8 (K, H, W, 3) RGB, in the order of `indices`; only these frames are decoded."""
        jpegs = self.jpegs(video_id, indices)
        if not jpegs:
            m = self.meta(video_id)
            return np.zeros((0, m.height, m.width, 3), np.uint8)
        out = None
        for i, buf in enumerate(jpegs):
            try:
                rgb = simplejpeg.decode_jpeg(buf, "RGB")
            except ValueError:
                raise BadFrame(f"frame {indices[i]} of video {video_id!r} in {self.path} is not a readable JPEG") from None
            if out is not None and rgb.shape != out.shape[1:]:
                raise BadFrame(f"frame {indices[i]} of video {video_id!r} in {self.path} is "
                               f"{rgb.shape[1]}x{rgb.shape[0]}, unlike the video's other frames")
            if out is None:
                out = np.empty((len(jpegs), *rgb.shape), np.uint8)
            out[i] = rgb
        return out

    def jpegs(self, video_id: str, indices: Sequence[int]) -> list[bytes]:
        """The stored JPEG bytes of frames `indices`, in that order. The meta record is read only
        to explain a missing frame: this is the per-clip path of training."""
        indices = [int(i) for i in indices]
        with self._begin() as txn:
            out = [txn.get(frame_key(video_id, i)) for i in indices]
            if any(buf is None for buf in out):
                self._explain_missing(txn, video_id, [i for i, buf in zip(indices, out) if buf is None])
        return out

    def _explain_missing(self, txn, video_id: str, missing: list[int]) -> None:
        raw_meta = txn.get(meta_key(video_id))
        if raw_meta is None:
            raise VideoNotFound(f"video {video_id!r} is not in the vis_db at {self.path}")
        n = orjson.loads(raw_meta)["num_frames"]
        bad = [i for i in missing if not 0 <= i < n]
        if bad:
            raise IndexError(
                f"frame index {bad[0]} out of range for video {video_id!r} "
                f"({n} frames stored) in {self.path}"
            )
        raise VideoNotFound(
            f"frame {missing[0]} of video {video_id!r} is missing from the vis_db at {self.path}"
        )

    def close(self) -> None:
        if self._env is not None and self._pid == os.getpid():
            _release_env(self.path)
        self._env = None
        self._pid = None

    def __del__(self):
        # Release this reader's share of the environment, so a store that nobody reads any more
        # can be opened again (e.g. by a writer) in this process.
        if getattr(self, "_env", None) is not None:
            try:
                self.close()
            except Exception:
                pass

    def __enter__(self) -> VisDB:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class VisDBWriter:
    """The single writer. A video's frames and its meta record always go in the same transaction,
    so a killed run leaves either the whole video or nothing, and `has()` is a reliable resume test.

    Videos are committed in batches (every `commit_videos` videos, `commit_bytes` bytes or
    `commit_seconds` seconds, and at `close`): a commit waits for the disk (fsync), up to 25 ms
    here, which cost more than decoding a small video. A killed run loses only the uncommitted
    batch, which the next run extracts again."""

    def __init__(
        self,
        path: str | os.PathLike,
        settings: StoreSettings,
        map_size: int = 1 << 30,
        commit_videos: int = 64,
        commit_bytes: int = 64 << 20,
        commit_seconds: float = 0.5,
    ):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        # The map is reserved address space, not disk: data.mdb grows with the data. When it fills
        # up, the commit doubles it and retries (MapFullError), so no size has to be guessed.
        self.env = lmdb.open(str(self.path), map_size=map_size, readahead=False, meminit=False)
        self.settings = settings
        self.commit_videos, self.commit_bytes, self.commit_seconds = commit_videos, commit_bytes, commit_seconds
        self._pending: dict[str, tuple[Sequence[bytes], bytes]] = {}  # video id -> (frames, meta)
        self._pending_bytes = 0
        self._first_pending = 0.0
        try:
            self._check_settings()
        except BaseException:
            self.env.close()
            raise

    def _check_settings(self) -> None:
        with self.env.begin(write=True) as txn:
            raw = txn.get(SETTINGS_KEY)
            if raw is None:
                if txn.cursor().first():
                    raise SettingsMismatch(
                        f"{self.path} is an LMDB without vis_db settings; not writing into it"
                    )
                txn.put(SETTINGS_KEY, orjson.dumps(self.settings.to_dict()))
                return
        stored = orjson.loads(raw)
        wanted = self.settings.to_dict()
        diff = {k: (stored.get(k), v) for k, v in wanted.items() if stored.get(k) != v}
        if diff:
            detail = ", ".join(
                f"{k}: store has {a!r}, asked for {b!r}" for k, (a, b) in diff.items()
            )
            raise SettingsMismatch(
                f"the vis_db at {self.path} was made with other settings ({detail}); "
                "use the same settings to resume, or a new VIS_DB folder"
            )

    def has(self, video_id: str) -> bool:
        if video_id in self._pending:
            return True
        with self.env.begin() as txn:
            return txn.get(meta_key(video_id)) is not None

    def put_video(self, video_id: str, jpeg_frames: Sequence[bytes], meta: dict) -> None:
        if video_id in RESERVED_IDS or "/" in video_id:
            raise ValueError(f"video id {video_id!r} is reserved or contains '/'")
        if meta.get("num_frames") != len(jpeg_frames):
            raise ValueError(f"meta num_frames != {len(jpeg_frames)} frames for {video_id!r}")
        if not self._pending:
            self._first_pending = time.monotonic()
        self._pending[video_id] = (jpeg_frames, orjson.dumps(meta))
        self._pending_bytes += sum(len(b) for b in jpeg_frames)
        if (len(self._pending) >= self.commit_videos or self._pending_bytes >= self.commit_bytes
                or time.monotonic() - self._first_pending >= self.commit_seconds):
            self.commit()

    def commit(self) -> None:
        """Write the pending videos in one transaction."""
        while self._pending:
            try:
                with self.env.begin(write=True) as txn:
                    for video_id, (frames, meta_bytes) in self._pending.items():
                        for i, buf in enumerate(frames):
                            txn.put(frame_key(video_id, i), buf)
                        txn.put(meta_key(video_id), meta_bytes)
            except lmdb.MapFullError:  # the transaction was aborted: grow the map and redo it
                self.env.set_mapsize(self.env.info()["map_size"] * 2)
                continue
            self._pending.clear()
            self._pending_bytes = 0

    def close(self) -> None:
        try:
            self.commit()
        finally:
            self.env.close()

    def __enter__(self) -> VisDBWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
