"""Reading and checking source files: txt_db_tools.sources."""

import json
import pickle

import pytest

from sparsevl.problems import BadInputError, ProblemLog
from txt_db_tools.sources import (
    SplitLog,
    brief,
    keep_valid,
    line_number,
    load_json_object,
    load_plain_pickle,
    read_csv_rows,
    read_json_file,
    read_jsonl_rows,
    read_text_lines,
    record_locator,
    split_counts,
    video_path_problem,
    whole_number,
    with_source_fields,
)


def _log(mode="skip"):
    return SplitLog(ProblemLog(None, on_error=mode), "test")


def test_read_csv_rows_line_numbers_and_bad_rows(tmp_path):
    path = tmp_path / "a.csv"
    # a BOM, a blank line, a quoted field over two lines, a row with a field too many
    path.write_text('\ufeffkey,sentence\nret0,a man\n\nret1,"two\nlines"\nret2,a,b\nret3,"a, b"\n', encoding="utf-8")
    log = _log()
    rows, n_rows = read_csv_rows(path, ["key", "sentence"], log)
    assert rows == [
        (2, {"key": "ret0", "sentence": "a man"}),
        (4, {"key": "ret1", "sentence": "two\nlines"}),
        (7, {"key": "ret3", "sentence": "a, b"}),
    ]
    assert n_rows == 4 and log.dropped == {"bad row": 1}
    assert [str(p) for p in log.problems.problems] == [f"{path}:6: bad row: 3 fields, the header has 2"]
    with pytest.raises(BadInputError, match=r"a\.csv:6: bad row"):
        read_csv_rows(path, ["key"], _log("stop"))


def test_read_csv_rows_tab_separated_and_extra_columns(tmp_path):
    path = tmp_path / "a.tsv"
    path.write_text(" key \tvid_key\tmore\nmc0\tmsr1\tx, y\n")
    rows, _ = read_csv_rows(path, ["key", "vid_key"], _log(), delimiter="\t")
    assert rows == [(2, {"key": "mc0", "vid_key": "msr1", "more": "x, y"})]  # header names stripped


UNREADABLE = {
    "missing columns": (b"key,video\nret0,video1\n",
                        r"a\.csv:1: missing column\(s\) 'sentence', 'vid_key' in the header \['key', 'video'\]"),
    "empty file": (b"\n\n", r"a\.csv: empty file, expected a header line"),
    "not UTF-8": (b"key,sentence,vid_key\nret0,caf\xe9,msr1\n",
                  r"a\.csv:2: not UTF-8 text: byte 0xe9 at column 9 \(invalid continuation byte\)"),
    "huge field": (b'key,sentence,vid_key\nret0,"' + b"x" * 200_000 + b'",msr1\n',
                   r"a\.csv:2: malformed CSV: field larger than field limit"),
}


@pytest.mark.parametrize("case", list(UNREADABLE))
def test_read_csv_rows_unreadable_file(tmp_path, case):
    content, message = UNREADABLE[case]
    path = tmp_path / "a.csv"
    path.write_bytes(content)
    for mode in ("stop", "skip"):
        with pytest.raises(BadInputError, match=message):
            read_csv_rows(path, ["key", "sentence", "vid_key"], _log(mode))


def test_keep_valid_and_split_counts():
    def where(pos, rid):
        return f"record {pos}" + (f" (id {rid!r})" if rid is not None else "")

    records = [{"id": "a", "n": 1}, {"id": "b", "n": "2"}, "c", {"id": "d", "n": -1}, {"id": "e", "n": 5}]
    log = _log()
    kept = keep_valid(
        enumerate(records), {"id": str, "n": int}, "f.json", log, where, key="id",
        check=lambda r: "negative: n < 0" if r["n"] < 0 else None,
    )
    assert kept == [(0, records[0]), (4, records[4])]
    assert [str(p) for p in log.problems.problems] == [
        "f.json:record 1 (id 'b'): wrong field type: 'n' should be a integer, got '2'",
        "f.json:record 2: not a record: expected a JSON object, got str",
        "f.json:record 3 (id 'd'): negative: n < 0",
    ]
    assert split_counts(log, 2, records=5, files=1) == {
        "records_in": 5, "files_in": 1, "written": 2, "dropped": 3,
        "dropped_by_kind": {"wrong field type": 1, "not a record": 1, "negative": 1},
    }
    assert line_number(12, "ret0") == "12"


def test_load_json_object(tmp_path):
    (tmp_path / "a.json").write_text('{"v_a": {}}')
    assert load_json_object(tmp_path / "a.json") == {"v_a": {}}
    (tmp_path / "a.json").write_text("[1]")
    with pytest.raises(BadInputError, match=r"a\.json: expected a JSON object, got list"):
        load_json_object(tmp_path / "a.json")


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


def test_record_locator():
    where = record_locator("sen_id", noun="sentence")
    assert where(3, 17) == "sentence 3 (sen_id 17)"
    assert where(3) == "sentence 3"
    assert record_locator("id")(0, "a") == "record 0 (id 'a')"


def test_with_source_fields_never_replaces_a_record_field():
    record = {"qid": 1, "video_id": "video1"}
    source = {"id": 1, "video_id": 5, "qid": "x", "category_id": 3}
    assert with_source_fields(record, source, consumed=("id",)) == {"qid": 1, "video_id": "video1", "category_id": 3}


@pytest.mark.parametrize("text, number", [
    ("3", 3), (" 007 ", 7), ("9" * 18, 10**18 - 1),
    ("9" * 19, None), ("1" * 5000, None),   # too large for JSON's 64-bit integers (or for int())
    ("-1", None), ("1.5", None), ("", None), ("\u0661", None), ("²", None),
])
def test_whole_number(text, number):
    assert whole_number(text) == number


def test_brief_quotes_long_values_shortly():
    assert brief("a man") == "'a man'"
    long = brief("x" * 5000)
    assert long.startswith("'xxx") and long.endswith("... (5002 characters)") and len(long) < 110


def test_video_path_problem():
    assert video_path_problem("clips/abc.mp4") is None and video_path_problem("abc") is None
    assert video_path_problem("/") == "bad video: '/' names no file"
    assert video_path_problem("//") == "bad video: '//' names no file"


def test_read_json_file(tmp_path):
    path = tmp_path / "a.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps([{"caption": "caf\u00e9"}]).encode())  # a BOM, as Windows writes
    assert read_json_file(path) == [{"caption": "caf\u00e9"}]
    path.write_bytes(b'[{"caption": "ok"},\n {"caption": "caf\xe9"}]')
    with pytest.raises(BadInputError, match=r"a\.json:2: not UTF-8 text: byte 0xe9 at column 18"):
        read_json_file(path)
    path.write_bytes(b'[{"caption": "ok"},\n {"caption": }]')
    with pytest.raises(BadInputError, match=r"a\.json: malformed JSON: .*line 2 column 14"):
        read_json_file(path)


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_load_plain_pickle_reads_plain_data_and_refuses_classes(tmp_path, capsys):
    path = tmp_path / "captions.pkl"
    data = {"video-a": [["a", "man", "runs"], ["he", "stops"]], "n": (1, 2.5, None, True), "s": {1, 2}}
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        path.write_bytes(pickle.dumps(data, protocol=protocol))
        assert load_plain_pickle(path) == data
    path.write_bytes(pickle.dumps({"x": _Evil()}))
    with pytest.raises(BadInputError, match=r"captions\.pkl: refused: the pickle names 'builtins\.print'"):
        load_plain_pickle(path)
    assert "must never run" not in capsys.readouterr().out
    path.write_bytes(pickle.dumps(data)[:20])
    with pytest.raises(BadInputError, match=r"captions\.pkl: not a readable pickle: "):
        load_plain_pickle(path)
