"""Fitting frames into square input slots: decoded arrays and JPEG bytes give the same picture."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from sparsevl.data.frame_fit import decode_into, fit_into, fitted_size


def photo(h: int, w: int) -> np.ndarray:
    """A smooth RGB picture with detail at every scale (gradients and a checkerboard)."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([255 * x / w, 255 * y / h, 128 + 100 * np.sign(np.sin(x / 3) * np.sin(y / 3))], -1)
    return img.astype(np.uint8)


def jpeg(rgb: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()


def reference(jpeg_bytes: bytes, size: int) -> np.ndarray:
    """What the clip reader did before decoding into slots: decode, to RGB, resize, pad."""
    rgb = cv2.cvtColor(cv2.imdecode(np.frombuffer(jpeg_bytes, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    h, w = rgb.shape[:2]
    nh, nw = fitted_size(h, w, size)
    if (nh, nw) != (h, w):
        rgb = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if nh < h else cv2.INTER_LINEAR)
    out = np.zeros((size, size, 3), np.uint8)
    out[:nh, :nw] = rgb
    return out


@pytest.mark.parametrize("h, w", [(36, 64), (64, 36), (64, 64), (20, 30), (90, 120)])
def test_decode_into_equals_decode_resize_pad(h, w):
    """Stored size fits (landscape: decoded in place; portrait; square), upscaled, downscaled by
    less than 2: pixel for pixel what decoding, converting, resizing and padding gave."""
    data = jpeg(photo(h, w))
    slot = np.zeros((64, 64, 3), np.uint8)
    decode_into(data, slot)
    assert np.array_equal(slot, reference(data, 64))


def test_reduced_decode_of_large_frames_is_close_to_a_full_decode():
    """Frames stored at 2x the input or more are decoded at a DCT scale first: not bit-equal to a
    full decode + area resize, but the same picture."""
    data = jpeg(photo(252, 448))
    slot = np.zeros((112, 112, 3), np.uint8)
    decode_into(data, slot)
    ref = reference(data, 112)
    assert slot.shape == ref.shape and not slot[63:].any()  # 448x252 -> 112x63, padded below
    assert np.abs(slot.astype(int) - ref).mean() < 2.0


def test_fit_into_leaves_the_padding_alone():
    slot = np.full((32, 32, 3), 7, np.uint8)
    fit_into(photo(16, 32), slot)
    assert np.array_equal(slot[:16], photo(16, 32)) and (slot[16:] == 7).all()


def test_not_a_jpeg_is_a_value_error():
    with pytest.raises(ValueError):
        decode_into(b"not a jpeg", np.zeros((8, 8, 3), np.uint8))
