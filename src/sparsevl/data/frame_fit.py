"""Putting a frame into a square model input: longer side scaled to the input size, padded with
zeros at the bottom and right (as ClipBERT pads), written into a slot of a preallocated batch array.

Reading clips is dominated by JPEG decoding, so the JPEG path does nothing else it can avoid
(measured in benchmarks/clip_reading.py): libjpeg-turbo (through simplejpeg) writes RGB directly,
into the slot itself when the stored frame already has the input's width; no resize when the
stored size fits; and a frame stored at twice the input size or more is decoded at a reduced
scale by the JPEG decoder's DCT (1/2, 1/4, 1/8) before the final area resize.
"""

from __future__ import annotations

import cv2
import numpy as np
import simplejpeg


def fitted_size(height: int, width: int, size: int) -> tuple[int, int]:
    """(height, width) with the longer side scaled to `size` and the aspect kept."""
    if max(height, width) == size:
        return height, width
    scale = size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def fit_into(frame: np.ndarray, slot: np.ndarray) -> None:
    """Write RGB `frame` (H, W, 3) into `slot` (S, S, 3), resized to fit; the rest is left as it is."""
    h, w = frame.shape[:2]
    nh, nw = fitted_size(h, w, slot.shape[0])
    if (nh, nw) == (h, w):
        slot[:nh, :nw] = frame
        return
    # INTER_AREA averages the source pixels a target pixel covers: no aliasing on downscale.
    interpolation = cv2.INTER_AREA if nh < h else cv2.INTER_LINEAR
    if nw == slot.shape[1]:  # full-width rows are contiguous: resize straight into the slot
        cv2.resize(frame, (nw, nh), dst=slot[:nh], interpolation=interpolation)
    else:
        slot[:nh, :nw] = cv2.resize(frame, (nw, nh), interpolation=interpolation)


def decode_into(jpeg: bytes, slot: np.ndarray) -> None:
    """Decode JPEG bytes into `slot` (S, S, 3) as RGB, fitted as `fit_into` does.

    Raises ValueError when the bytes are not a readable JPEG."""
    size = slot.shape[0]
    h, w, _, _ = simplejpeg.decode_jpeg_header(jpeg)
    nh, nw = fitted_size(h, w, size)
    if (nh, nw) == (h, w) and w == size:
        # full-width rows of the slot are contiguous: the decoder writes there, no copy at all
        simplejpeg.decode_jpeg(jpeg, "RGB", buffer=slot[:h])
    elif (nh, nw) == (h, w):
        slot[:h, :w] = simplejpeg.decode_jpeg(jpeg, "RGB")
    elif h >= 2 * nh and w >= 2 * nw:
        # the decoder's DCT scaling (1/2, 1/4, 1/8; min_factor=2 rules out its slower M/8 scales):
        # the smallest scale that still covers the target, so the area resize starts from at
        # most twice the pixels it needs
        fit_into(simplejpeg.decode_jpeg(jpeg, "RGB", min_height=nh, min_width=nw, min_factor=2), slot)
    else:
        fit_into(simplejpeg.decode_jpeg(jpeg, "RGB"), slot)
