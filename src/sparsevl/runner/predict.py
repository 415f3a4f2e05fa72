"""Answer one video file with a checkpoint, without building any store (`sparsevl predict`).

The video is sampled as the run's vis_db was (the extraction settings the checkpoint recorded),
its frames are kept in memory in a one-video store, and the task's own code reads clips from it
and runs the model, so a prediction sees exactly what evaluation would.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from sparsevl.data.store import InMemoryStore
from sparsevl.data.video_io import VideoError, sample_video
from sparsevl.dist import Dist
from sparsevl.problems import BadInputError, MissingInputError
from sparsevl.runner.checkpoint import restore
from sparsevl.tasks.protocol import Prediction

DEFAULT_FRAMES = 12  # when the checkpoint does not say how its frames were sampled


@dataclasses.dataclass
class VideoPrediction:
    prediction: Prediction
    num_frames: int
    sampling: str  # how the frames were sampled, in words
    clips: str  # how many clips of how many frames the model saw


def read_video(path: Path, settings: dict | None) -> tuple[np.ndarray, str]:
    """RGB frames sampled with a vis_db's extraction settings (or `DEFAULT_FRAMES` uniform frames)."""
    try:
        if settings is not None:
            sampled = sample_video(path, fps=settings["fps"], num_frames=settings["num_frames"],
                                   max_size=settings["max_size"], quality=settings["quality"])
            rate = f"fps {settings['fps']:g}" if settings["fps"] else f"{settings['num_frames']} frames"
            how = f"as the run's vis_db ({rate})"
        else:
            sampled = sample_video(path, num_frames=DEFAULT_FRAMES)
            how = f"{DEFAULT_FRAMES} uniform frames (the checkpoint does not say how its frames were sampled)"
    except VideoError as e:
        raise BadInputError(f"{path}: {e}") from None
    frames = np.stack([cv2.cvtColor(cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
                       for j in sampled.jpegs])
    return frames, how


def predict(checkpoint: str | Path, video: str | Path, texts: list[str], overrides: Sequence[str] = ()) -> VideoPrediction:
    video = Path(video)
    if not video.is_file():
        raise MissingInputError(f"no video file at {video}")
    restored = restore(checkpoint, overrides)
    frames, how = read_video(video, restored.task.state().get("vis_db_settings"))
    cfg = restored.cfg
    device = Dist().device(cfg.device)
    store = InMemoryStore({video.stem: frames}, video)
    prediction = restored.task.predict(restored.model.to(device), store, video.stem, texts, device)
    return VideoPrediction(prediction, len(frames), how, f"{cfg.inference_n_clips} clip(s) of {cfg.model.num_frm}")
