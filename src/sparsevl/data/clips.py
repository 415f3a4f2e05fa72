"""Reading a video's sampled clips from a vis_db: which frames (sparse sampling), decoded and sized.

Every task's dataset reads its frames through `ClipReader`, so training and inference clips are
drawn the same way whatever the task.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from sparsevl.data.frame_fit import decode_into, fit_into
from sparsevl.data.sampling import inference_clip_indices, train_clip_indices
from sparsevl.data.vis_db import BadFrame


@dataclasses.dataclass(frozen=True)
class ClipSampling:
    num_frm: int
    n_clips: int
    frm_stride: int = 1
    random: bool = False  # training: random clip positions; inference: uniform
    seed: int = 0


class ClipReader:
    """Reads a video's clips as one (n_clips, num_frm, S, S, 3) uint8 array, each frame fitted into
    its slot (`frame_fit`). From a store that keeps JPEG bytes (`VisDB.jpegs`) each frame is decoded
    straight into its slot; from any other `FrameStore`, its decoded frames are fitted there."""

    def __init__(self, vis_db, sampling: ClipSampling, img_size: int):
        self.vis_db = vis_db
        self.sampling = sampling
        self.img_size = img_size
        # video id -> stored frame count (and timestamps): the meta record is read once per video per process
        self._num_frames: dict[str, int] = {}
        self._timestamps: dict[str, list[float]] = {}

    def clip_indices(self, num_frames: int, item: int, epoch: int) -> list[list[int]]:
        """Training clips are drawn from (seed, epoch, item): reproducible, different each epoch."""
        s = self.sampling
        if s.random:
            rng = np.random.default_rng([s.seed, epoch, item])
            return train_clip_indices(num_frames, s.num_frm, s.n_clips, rng, s.frm_stride)
        return inference_clip_indices(num_frames, s.num_frm, s.n_clips, s.frm_stride)

    def num_frames(self, video_id: str) -> int:
        n = self._num_frames.get(video_id)
        if n is None:
            n = self._num_frames[video_id] = self.vis_db.meta(video_id).num_frames
        return n

    def window_frames(self, video_id: str, start: float, end: float) -> tuple[int, int]:
        """(first, count): the stored frames whose timestamps fall in [start, end] seconds (a
        caption's time window, HowTo100M); a window between two stored frames gets the one
        nearest its middle. A store without timestamps: the whole video."""
        if video_id not in self._timestamps:
            self._timestamps[video_id] = list(self.vis_db.meta(video_id).timestamps)
        times = np.asarray(self._timestamps[video_id])
        if not len(times):
            return 0, self.num_frames(video_id)
        inside = np.flatnonzero((times >= start) & (times <= end))
        if len(inside):
            return int(inside[0]), len(inside)
        return int(np.abs(times - (start + end) / 2).argmin()), 1

    def video_clip_indices(self, video_id: str, item: int = 0, epoch: int = 0,
                           window: tuple[float, float] | None = None) -> list[list[int]]:
        """The stored frames of each clip `read` returns for this video (within `window` seconds)."""
        if window is None:
            return self.clip_indices(self.num_frames(video_id), item, epoch)
        first, count = self.window_frames(video_id, *window)
        return [[first + i for i in clip] for clip in self.clip_indices(count, item, epoch)]

    def read(self, video_id: str, item: int = 0, epoch: int = 0, window: tuple[float, float] | None = None) -> np.ndarray:
        """(n_clips, num_frm, S, S, 3) uint8, from the frames of `window` (start, end seconds) when
        given; each stored frame is decoded once even if clips share it."""
        clips = self.video_clip_indices(video_id, item, epoch, window)
        size = self.img_size
        # zeros: the padding; np.zeros gets pages the kernel has already cleared
        out = np.zeros((len(clips), self.sampling.num_frm, size, size, 3), np.uint8)
        slots: dict[int, list[tuple[int, int]]] = {}  # stored frame -> its (clip, position)s
        for c, clip in enumerate(clips):
            for f, i in enumerate(clip):
                slots.setdefault(i, []).append((c, f))
        wanted = sorted(slots)
        jpegs = getattr(self.vis_db, "jpegs", None)
        if jpegs is not None:
            for i, buf in zip(wanted, jpegs(video_id, wanted)):
                c, f = slots[i][0]
                try:
                    decode_into(buf, out[c, f])
                except ValueError:
                    raise BadFrame(f"frame {i} of video {video_id!r} in {self.vis_db.path} is not a readable JPEG") from None
        else:
            for i, frame in zip(wanted, self.vis_db.frames(video_id, wanted)):
                c, f = slots[i][0]
                fit_into(frame, out[c, f])
        for (c, f), *repeats in slots.values():
            for rc, rf in repeats:
                out[rc, rf] = out[c, f]
        return out


def records_by_video(records, vis_db, problems=None, what: str = "record(s)") -> list[tuple[str, list[dict]]]:
    """(video_id, its records) in the records' order, for the videos with frames in `vis_db`
    (each missing one reported once, `videos_in_store`): a dataset item is a video."""
    by_video: dict[str, list[dict]] = {}
    for r in records:
        by_video.setdefault(r["video_id"], []).append(r)
    present = videos_in_store(by_video, vis_db, problems, what)
    return [(video_id, recs) for video_id, recs in by_video.items() if video_id in present]


def videos_in_store(video_ids, vis_db, problems=None, what: str = "record(s)") -> set[str]:
    """The ids that have frames in `vis_db`; each missing one is reported once (it is then skipped)."""
    present = set()
    for video_id in dict.fromkeys(video_ids):
        if video_id in vis_db:
            present.add(video_id)
        elif problems is not None:
            problems.report(vis_db.path, f"video not in vis_db: its {what} dropped", video_id)
    return present
