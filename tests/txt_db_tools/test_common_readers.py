"""The helpers of txt_db_tools.common added for the QA, list and classification converters."""

import json

import pytest

from sparsevl.problems import BadInputError, ProblemLog
from txt_db_tools.common import SplitLog, read_jsonl_rows, read_text_lines, video_id_from_path, write_txt_db


def _log(mode="skip"):
    return SplitLog(ProblemLog(None, on_error=mode), "train")


def test_read_text_lines(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes("\ufeffa 1\r\n\r\n  \nb 2\nc 3".encode())  # BOM, CRLF, blank lines, no final newline
    assert read_text_lines(path) == [(1, "a 1"), (4, "b 2"), (5, "c 3")]
    path.write_bytes(b"a 1\nb\xff 2\n")
    with pytest.raises(BadInputError, match=r"a\.txt:2: not UTF-8 text"):
        read_text_lines(path)


def test_read_jsonl_rows(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"a": 1}\n\n[1, 2]\n{"a": \n"x"\n')
    log = _log()
    rows, n = read_jsonl_rows(path, log)
    assert rows == [(1, {"a": 1}), (3, [1, 2]), (5, "x")] and n == 4
    assert log.dropped == {"malformed JSON line": 1}
    assert str(log.problems.problems[0]).startswith(f"{path}:4: malformed JSON line: ")
    with pytest.raises(BadInputError, match=r"a\.jsonl:4: malformed JSON line"):
        read_jsonl_rows(path, _log("stop"))


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


def test_write_txt_db_extra_files(tmp_path):
    meta = write_txt_db(tmp_path, {"val": [{"video_id": "a", "label": 1}]}, {"splits": {}},
                        extra_files={"label2name.json": {"0": "x", "1": "y"}})
    assert meta["files"] == ["val.jsonl", "label2name.json"]
    assert json.loads((tmp_path / "label2name.json").read_text()) == {"0": "x", "1": "y"}
    assert json.loads((tmp_path / "meta.json").read_text())["files"] == meta["files"]
    # a later conversion without the file removes it, as it does a stale split
    write_txt_db(tmp_path, {"val": []}, {"splits": {}})
    assert not (tmp_path / "label2name.json").exists()
