import json
import subprocess
import sys

import pytest

from sparsevl.txt_db import load_split
from sparsevl.problems import BadInputError
from txt_db_tools.msrvtt_mc import convert

MC = "MSR_MC_test.csv"
HEADER = ["key", "vid_key", "video_id", "a1", "a2", "a3", "a4", "a5", "answer"]


# ---------------------------------------------------------------------------- fixture, published schema


def _rows():
    return [
        ["mc0", "msr7010", "video7010", "a man is singing", "a cat plays piano", "cars race on a track",
         "a woman cooks pasta", "kids swim in a pool", "0"],
        ["mc1", "msr7011", "video7011", "a dog runs", "a man explains a game", "people dance", "a car is washed",
         "a chef slices onions", "4"],
        ["mc2", "msr7012", "video7012", "news anchors talk", "a baby laughs", "a band plays", "a goal is scored",
         "a girl draws", "2"],
    ]


def _make(tmp_path, rows=None, header=HEADER, delimiter="\t"):
    ann = tmp_path / "ann"
    ann.mkdir(exist_ok=True)
    lines = [delimiter.join(header)] + [delimiter.join(r) for r in (_rows() if rows is None else rows)]
    (ann / MC).write_text("\n".join(lines) + "\n")
    return ann


def test_small_file(tmp_path, capsys):
    meta = convert(_make(tmp_path), tmp_path / "db")
    test = load_split(tmp_path / "db", "test")
    assert test[0] == {
        "qid": "mc0", "video_id": "video7010",
        "options": ["a man is singing", "a cat plays piano", "cars race on a track", "a woman cooks pasta",
                    "kids swim in a pool"],
        "answer": 0, "vid_key": "msr7010",
    }
    # answer is 0-based: 4 is a5, 2 is a3
    assert [r["options"][r["answer"]] for r in test[1:]] == ["a chef slices onions", "a band plays"]
    assert meta["task"] == "multiple_choice" and list(meta["splits"]) == ["test"]
    assert meta["splits"]["test"] == {
        "rows_in": 3, "written": 3, "dropped": 0, "dropped_by_kind": {},
        "answers_by_index": {"0": 1, "1": 0, "2": 1, "3": 0, "4": 1},
    }
    assert "test: 3 written (rows 3 in)" in capsys.readouterr().out


def test_video_id_column_is_optional(tmp_path):
    rows = [r[:2] + r[3:] for r in _rows()]  # fairseq reads only vid_key; the video follows from it
    convert(_make(tmp_path, rows, [h for h in HEADER if h != "video_id"]), tmp_path / "db", quiet=True)
    assert [r["video_id"] for r in load_split(tmp_path / "db", "test")] == ["video7010", "video7011", "video7012"]


def _set(row, column, value):
    return lambda rows: rows[row].__setitem__(HEADER.index(column), value)


CASES = {
    # name: (mutate(rows), line, message start)
    "bad row": (lambda rows: rows[1].append("1"), 3, "bad row: 10 fields, the header has 9"),
    "short row": (lambda rows: rows[2].pop(), 4, "bad row: 8 fields, the header has 9"),
    "answer out of range": (_set(0, "answer", "5"), 2, "bad answer: '5' is not an option index 0-4 (0 is a1)"),
    "answer not a number": (_set(0, "answer", "a1"), 2, "bad answer: 'a1' is not an option index"),
    "empty option": (_set(1, "a3", ""), 3, "empty field: 'a3'"),
    "bad vid_key": (_set(1, "vid_key", "7011"), 3, "bad vid_key: '7011' is not a JSFusion video key (msr<N>)"),
    "video mismatch": (_set(2, "video_id", "video7013"), 4,
                       "video mismatch: video_id 'video7013' is not vid_key 'msr7012'"),
    "duplicate key": (_set(2, "key", "mc0"), 2, "duplicate id: key 'mc0' also at record(s) 4"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_row_stop(tmp_path, case):
    mutate, line, message = CASES[case]
    rows = _rows()
    mutate(rows)
    ann = _make(tmp_path, rows)
    with pytest.raises(BadInputError) as info:
        convert(ann, tmp_path / "db", on_error="stop", quiet=True)
    assert str(info.value).startswith(f"{ann / MC}:{line}: {message}"), str(info.value)
    assert not (tmp_path / "db" / "test.jsonl").exists()


@pytest.mark.parametrize("case", list(CASES))
def test_bad_row_skip(tmp_path, case):
    mutate, line, message = CASES[case]
    rows = _rows()
    mutate(rows)
    ann = _make(tmp_path, rows)
    meta = convert(ann, tmp_path / "db", on_error="skip", quiet=True)
    kind = message.split(":")[0]
    n_dropped = 2 if kind == "duplicate id" else 1
    s = meta["splits"]["test"]
    assert (s["rows_in"], s["dropped"], s["dropped_by_kind"]) == (3, n_dropped, {kind: n_dropped})
    assert len(load_split(tmp_path / "db", "test")) == s["written"] == 3 - n_dropped
    assert f"{ann / MC}:{line}: {message}" in (tmp_path / "db" / "problems.log").read_text()


@pytest.mark.parametrize("mode", ["stop", "skip"])
def test_missing_column(tmp_path, mode):
    rows = [r[:-1] for r in _rows()]
    ann = _make(tmp_path, rows, HEADER[:-1])
    with pytest.raises(BadInputError) as info:
        convert(ann, tmp_path / "db", on_error=mode, quiet=True)
    assert str(info.value).startswith(f"{ann / MC}:1: missing column(s) 'answer' in the header")


def test_comma_separated_file_is_refused(tmp_path):
    # the file is tab-separated; read as CSV its header would be one column
    ann = _make(tmp_path, delimiter=",")
    with pytest.raises(BadInputError, match=r"missing column\(s\) 'key', 'vid_key', 'a1'.*\['key,vid_key,video_id"):
        convert(ann, tmp_path / "db", quiet=True)


def test_missing_file_is_an_error(tmp_path):
    (tmp_path / "ann").mkdir()
    with pytest.raises(BadInputError, match="no MSRVTT multiple-choice split .*: need MSR_MC_test.csv"):
        convert(tmp_path / "ann", tmp_path / "db", quiet=True)


def test_cli(tmp_path):
    ann = _make(tmp_path)
    cmd = [sys.executable, "-m", "txt_db_tools.msrvtt_mc", "--ann-dir", str(ann), "--out", str(tmp_path / "db")]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "db" / "meta.json").read_text())["splits"]["test"]["written"] == 3
    rows = _rows()
    rows[1][-1] = "5"
    _make(tmp_path, rows)
    r = subprocess.run(cmd + ["--on-error", "stop"], capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr == f"error: {ann / MC}:3: bad answer: '5' is not an option index 0-4 (0 is a1)\n"
    r = subprocess.run(cmd, capture_output=True, text=True)  # skip is the default
    assert r.returncode == 0 and "1 source records dropped (bad answer x1)" in r.stdout
