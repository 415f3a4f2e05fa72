"""Reading a video's sampled clips from a vis_db: which frames (sparse sampling), decoded and sized.

Every task's dataset reads its frames through `ClipReader`, so training and inference clips are
drawn the same way whatever the task.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from sparsevl.data.sampling import inference_clip_indices, train_clip_indices


@dataclasses.dataclass(frozen=True)
class ClipSampling:
    num_frm: int
    n_clips: int
    frm_stride: int = 1
    random: bool = False  # training: random clip positions; inference: uniform
    seed: int = 0


def fit_frame(frame: np.ndarray, size: int) -> np.ndarray:
    """Resize the longer side to `size` and pad bottom/right to a square (ClipBERT pads too)."""
    h, w = frame.shape[:2]
    if (h, w) == (size, size):
        return frame
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    resized = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    out = np.zeros((size, size, 3), np.uint8)
    out[:nh, :nw] = resized
    return out


class ClipReader:
    def __init__(self, vis_db, sampling: ClipSampling, img_size: int):
        self.vis_db = vis_db
        self.sampling = sampling
        self.img_size = img_size

    def clip_indices(self, num_frames: int, item: int, epoch: int) -> list[list[int]]:
        """Training clips are drawn from (seed, epoch, item): reproducible, different each epoch."""
        s = self.sampling
        if s.random:
            rng = np.random.default_rng([s.seed, epoch, item])
            return train_clip_indices(num_frames, s.num_frm, s.n_clips, rng, s.frm_stride)
        return inference_clip_indices(num_frames, s.num_frm, s.n_clips, s.frm_stride)

    def video_clip_indices(self, video_id: str, item: int = 0, epoch: int = 0) -> list[list[int]]:
        """The stored frames of each clip `read` returns for this video."""
        return self.clip_indices(self.vis_db.meta(video_id).num_frames, item, epoch)

    def read(self, video_id: str, item: int = 0, epoch: int = 0) -> np.ndarray:
        """(n_clips, num_frm, S, S, 3) uint8; each stored frame is decoded once even if clips share it."""
        clips = self.video_clip_indices(video_id, item, epoch)
        wanted = sorted({i for clip in clips for i in clip})
        decoded = dict(zip(wanted, self.vis_db.frames(video_id, wanted)))
        return np.stack([[fit_frame(decoded[i], self.img_size) for i in clip] for clip in clips])


def videos_in_store(video_ids, vis_db, problems=None, what: str = "record(s)") -> set[str]:
    """The ids that have frames in `vis_db`; each missing one is reported once (it is then skipped)."""
    present = set()
    for video_id in dict.fromkeys(video_ids):
        if video_id in vis_db:
            present.add(video_id)
        elif problems is not None:
            problems.report(vis_db.path, f"video not in vis_db: its {what} dropped", video_id)
    return present
