"""The report's gallery: which examples it shows, and the frames the model saw as thumbnails.

Frames are read from the run's frame store at the indices each example lists, so the page shows
exactly what was evaluated; each video's frames become one strip (a JPEG data URI), so a page
shows one image per example and one per ranked candidate.
"""

from __future__ import annotations

import base64
import dataclasses

import cv2
import numpy as np

from sparsevl.data.store import FrameStore
from sparsevl.tasks.protocol import Example

THUMB_HEIGHT = 72  # pixels, of the example's own frames
CANDIDATE_HEIGHT = 40  # of a ranked candidate video's frames
GAP = 2  # pixels between frames in a strip
JPEG_QUALITY = 85


@dataclasses.dataclass
class Shown:
    """One example as the page shows it: its strip, its candidates' strips, other runs' answers."""

    example: Example
    strip: str | None  # data URI; None when the frames could not be read (see `missing`)
    candidates: list[tuple[dict, str | None]]
    others: list[Example | None]  # the same item in each compared run (None: not there)
    missing: str = ""  # why frames are not shown


def sample(examples: list[Example], n: int, seed: int) -> list[Example]:
    """Up to `n` examples, half of them wrong where there are enough (the gallery is for finding
    errors, and right answers show what the model does get), drawn at random from (seed); ordered
    by group, wrong first."""
    rng = np.random.default_rng(seed)
    wrong = [e for e in examples if not e.correct]
    right = [e for e in examples if e.correct]
    take_wrong = min(len(wrong), max(n - len(right), (n + 1) // 2))
    take_right = min(len(right), n - take_wrong)
    chosen = [wrong[i] for i in rng.permutation(len(wrong))[:take_wrong]]
    chosen += [right[i] for i in rng.permutation(len(right))[:take_right]]
    return sorted(chosen, key=lambda e: (e.group, e.correct))


def frame_strip(store: FrameStore, video_id: str, indices: list[int], height: int) -> str:
    """The frames at `indices` side by side, `height` pixels high, as a JPEG data URI."""
    frames = store.frames(video_id, indices)
    if len(frames) == 0:
        raise ValueError(f"no frames listed for video {video_id!r}")
    scaled = [cv2.resize(f, (max(1, round(f.shape[1] * height / f.shape[0])), height), interpolation=cv2.INTER_AREA)
              for f in frames]
    width = sum(f.shape[1] for f in scaled) + GAP * (len(scaled) - 1)
    strip = np.full((height, width, 3), 255, np.uint8)
    x = 0
    for f in scaled:
        strip[:, x:x + f.shape[1]] = f
        x += f.shape[1] + GAP
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(strip, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError(f"could not encode the frames of video {video_id!r} as JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode("ascii")


def show(examples: list[Example], store: FrameStore | None, others: list[list[Example]]) -> list[Shown]:
    """`examples` with their strips read from `store` (None: no frames), and each compared run's
    answer to the same item (same video and text)."""
    by_item = [{(e.video_id, e.text): e for e in run} for run in others]
    shown = []
    for e in examples:
        strip, missing = _strip(store, e.video_id, e.frames, THUMB_HEIGHT)
        candidates = [(c, _strip(store, c["video_id"], c.get("frames", []), CANDIDATE_HEIGHT)[0]) for c in e.candidates]
        shown.append(Shown(e, strip, candidates, [run.get((e.video_id, e.text)) for run in by_item], missing))
    return shown


def _strip(store: FrameStore | None, video_id: str, indices: list[int], height: int) -> tuple[str | None, str]:
    if store is None:
        return None, "no frame store"
    try:
        return frame_strip(store, video_id, indices, height), ""
    except (KeyError, IndexError, ValueError) as e:  # a video or frame the store does not have
        return None, str(e)
