"""Read an image file as a 1-frame video, so image-text data (COCO, Visual Genome, CC3M, VQA)
lives in a vis_db beside videos and is read by the same clip reader.

Pillow decodes the image (strictly: a truncated file is an error, not a grey-filled picture),
applies its EXIF orientation as a viewer does, and converts any mode (palette, grey, alpha, CMYK,
16-bit) to RGB; the frame is then resized and JPEG-encoded exactly as a video frame is
(`video_io.encode_jpeg`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from sparsevl.data.video_io import SampledVideo, VideoError, encode_jpeg, scaled_size
from sparsevl.video_ids import VIDEO_EXTENSIONS

# Still-image files `extract-frames` reads as 1-frame videos (GIFs are read as videos).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def is_image(path: Path) -> bool:
    """Whether `path` is read as an image: by its extension; a file with neither an image nor a
    video extension (the CC3M downloader saves `<row>_<crc32>` without one) when Pillow
    recognises its header."""
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return True
    if suffix in VIDEO_EXTENSIONS:
        return False
    try:
        with Image.open(path) as image:
            return image.format is not None and image.format != "GIF"
    except (OSError, UnidentifiedImageError, ValueError):
        return False  # not an image: the video reader reports what is wrong with it


def sample_image(path: str | Path, *, max_size: int | None = 256, quality: int = 90) -> SampledVideo:
    """The image as a 1-frame video (timestamp 0, duration 0). Raises `VideoError` with the
    reason first, as `video_io.sample_video` does."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise VideoError(f"cannot open: {e.strerror or e}") from None
    if size == 0:
        raise VideoError("empty file: 0 bytes")
    try:
        with Image.open(path) as image:
            image.load()  # decodes now: a cut-off file raises here
            upright = ImageOps.exif_transpose(image)
            rgb = np.asarray(upright.convert("RGB"))
    except UnidentifiedImageError:
        raise VideoError("cannot open: not an image Pillow can read") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        # Pillow raises OSError("image file is truncated ...") for a cut file, SyntaxError for
        # some broken headers (PNG), DecompressionBombError for a picture of > 179 M pixels.
        raise VideoError(f"decode error: {e}") from None
    height, width = rgb.shape[:2]
    stored = scaled_size(width, height, max_size)
    jpeg = encode_jpeg(np.ascontiguousarray(rgb[..., ::-1]), stored, quality)  # RGB -> BGR
    return SampledVideo(
        jpegs=[jpeg], timestamps=[0.0], width=stored[0], height=stored[1], source_width=width,
        source_height=height, source_fps=None, duration=0.0, source_frames_decoded=1,
    )
