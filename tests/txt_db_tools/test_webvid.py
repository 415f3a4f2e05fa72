import csv

import pytest

from sparsevl.txt_db import load_split
from sparsevl.problems import BadInputError
from txt_db_tools.webvid import convert, duration_seconds


def test_real_10m_val(real_ann, tmp_path):
    ann = real_ann("webvid", "results_10M_val.csv")
    meta = convert(ann, tmp_path / "db", on_error="stop", quiet=True)
    val = load_split(tmp_path / "db", "val")
    assert len(val) == meta["splits"]["val"]["written"] == 5_000
    first = val[0]
    assert (first["video_id"], first["duration"], first["page_dir"]) == ("1023443014", 30.0, "095201_095250")
    assert first["caption"].startswith("Disco light leaks disco ball")
    assert sum("\r\n" in r["caption"] for r in val) > 0  # quoted names with line breaks, kept whole


@pytest.mark.parametrize("text, seconds", [
    ("PT00H00M30S", 30.0), ("PT01H02M03S", 3723.0), ("PT12S", 12.0), ("PT1M", 60.0), ("PT0.5S", 0.5),
    ("PT", None), ("30", None), ("PT1H2X", None), ("", None),
])
def test_duration_seconds(text, seconds):
    assert duration_seconds(text) == seconds


ROWS_2M = [["videoid", "name", "page_idx", "page_dir", "duration", "contentUrl"],
           ["21179416", "Aerial shot winter forest", "1", "006001_006050", "PT00H00M11S", "https://x/21179416.mp4"],
           ["5629184", "Young woman, \"smiling\"\r\nat camera", "2", "006001_006050", "PT00H00M29S",
            "https://x/5629184.mp4"]]


def _make(tmp_path, rows):
    ann = tmp_path / "ann"
    ann.mkdir(exist_ok=True)
    with open(ann / "results_2M_train.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return ann


def test_2m_column_order_and_quoted_line_breaks(tmp_path):
    meta = convert(_make(tmp_path, ROWS_2M), tmp_path / "db", subset="2M", on_error="stop", quiet=True)
    train = load_split(tmp_path / "db", "train")
    assert [(r["video_id"], r["duration"]) for r in train] == [("21179416", 11.0), ("5629184", 29.0)]
    assert train[1]["caption"] == 'Young woman, "smiling"\r\nat camera'
    assert meta["subset"] == "2M" and meta["splits"]["train"]["seconds"] == 40.0


@pytest.mark.parametrize("column, value, message", [
    ("duration", "30 seconds", "bad duration"), ("videoid", "12a", "bad videoid"), ("name", " ", "empty field"),
])
def test_bad_rows(tmp_path, column, value, message):
    rows = [list(r) for r in ROWS_2M]
    rows[1][rows[0].index(column)] = value
    ann = _make(tmp_path, rows)
    with pytest.raises(BadInputError, match=rf"results_2M_train\.csv:2: {message}"):
        convert(ann, tmp_path / "db", subset="2M", on_error="stop", quiet=True)
    meta = convert(ann, tmp_path / "db", subset="2M", quiet=True)
    assert [r["video_id"] for r in load_split(tmp_path / "db", "train")] == ["5629184"]
    assert meta["splits"]["train"]["dropped_by_kind"] == {message: 1}
