"""How a video is named in both stores: its file name without folders and extension.

`sparsevl extract-frames` stores `videos/abc.mp4` as video `abc`; converters name the video of a
record the same way (`video_id_from_path`), so a txt_db's records find their frames in a vis_db.
"""

from __future__ import annotations

import os

VIDEO_EXTENSIONS = (".mp4", ".webm", ".avi", ".mkv", ".mov", ".gif", ".m4v", ".mpg", ".mpeg")


def video_id_from_path(name: str) -> str:
    """The vis_db id of a video named by a path or file name: the file name without its folders
    and, if it is one `extract-frames` reads (`.mp4`, `.webm`, ...), without its extension
    (`k400/abseiling/x1.mp4` -> `x1`). Any other name is kept whole (`v_a.b` stays `v_a.b`)."""
    base = name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    stem, ext = os.path.splitext(base)
    return stem if ext.lower() in VIDEO_EXTENSIONS and stem else base
