"""Video ids: the name a video has in both stores."""

from __future__ import annotations

import pytest

from sparsevl.video_ids import video_id_from_path


@pytest.mark.parametrize("name, video_id", [
    ("abseiling/0wR5jVB-WPk.mp4", "0wR5jVB-WPk"),
    ("/data/k400/x.WEBM", "x"),
    ("clips\\y.avi", "y"),
    ("video7010", "video7010"),
    ("v_a.b", "v_a.b"),            # not a video extension: an id with a dot
    ("tumblr_abc.gif", "tumblr_abc"),
    ("dir/", "dir"),
    (".mp4", ".mp4"),              # no stem left: kept whole
])
def test_video_id_from_path(name, video_id):
    assert video_id_from_path(name) == video_id
