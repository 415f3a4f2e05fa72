"""Writing a txt_db whole or not at all: txt_db_tools.output."""

import json

import pytest

from sparsevl.problems import BadInputError, ProblemLog
from txt_db_tools.output import staged_folder, summary, write_txt_db


def _write(out, splits, extra_files=None, problems=None):
    with staged_folder(out) as stage:
        meta = write_txt_db(stage, splits, {"converter": "txt_db_tools.x", "splits": {}},
                            problems=problems, extra_files=extra_files)
    return meta


def test_write_txt_db_files_and_meta_last(tmp_path):
    out = tmp_path / "db"
    meta = _write(out, {"val": [{"video_id": "a", "label": 1}]}, {"label2name.json": {"0": "x", "1": "y"}})
    assert meta["files"] == ["val.jsonl", "label2name.json"]
    assert json.loads((out / "label2name.json").read_text()) == {"0": "x", "1": "y"}
    assert json.loads((out / "meta.json").read_text())["files"] == meta["files"]
    assert sorted(p.name for p in out.iterdir()) == ["label2name.json", "meta.json", "val.jsonl"]
    assert [p.name for p in tmp_path.iterdir()] == ["db"]  # no staging folder left beside it
    # a later conversion without the file: the folder holds only what the new one wrote
    _write(out, {"val": []})
    assert sorted(p.name for p in out.iterdir()) == ["meta.json", "val.jsonl"]


def test_failed_run_keeps_the_previous_txt_db(tmp_path):
    out = tmp_path / "db"
    _write(out, {"train": [{"qid": 1}]})
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(BadInputError, match="boom"):
        with staged_folder(out) as stage:
            (stage / "train.jsonl").write_text('{"qid": 2}\n')  # half a conversion ...
            raise BadInputError("boom")  # ... then bad input
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["db"]


def test_failed_first_run_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with staged_folder(tmp_path / "db") as stage:
            (stage / "train.jsonl").write_text("{}\n")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content", [
    {"notes.txt": "mine"},                                          # not a txt_db
    {"meta.json": '{"converter": "someone-else", "files": []}'},    # another tool's meta.json
    {"meta.json": '{"converter": "txt_db_tools.x", "files": ["train.jsonl"]}', "train.jsonl": "",
     "video.mp4": ""},                                              # a txt_db plus other files
])
def test_a_folder_with_other_files_is_refused_not_deleted(tmp_path, content):
    out = tmp_path / "db"
    out.mkdir()
    for name, text in content.items():
        (out / name).write_text(text)
    with pytest.raises(BadInputError, match="give a new or empty folder"):
        _write(out, {"train": []})
    assert sorted(p.name for p in out.iterdir()) == sorted(content)
    assert [p.name for p in tmp_path.iterdir()] == ["db"]


def test_an_empty_folder_or_a_file_at_out(tmp_path):
    (tmp_path / "empty").mkdir()
    _write(tmp_path / "empty", {"train": []})
    assert (tmp_path / "empty" / "meta.json").is_file()
    (tmp_path / "file").write_text("x")
    with pytest.raises(BadInputError, match="exists and is not a folder"):
        _write(tmp_path / "file", {"train": []})


def test_problems_in_meta_and_summary(tmp_path):
    problems = ProblemLog(None, on_error="skip")
    for i in range(7):
        problems.report("a.json", f"missing field: 'x{i}'", f"record {i}")
    meta = _write(tmp_path / "db", {"train": []}, problems=problems)
    assert meta["problems"]["count"] == 7 and len(meta["problems"]["first"]) == 7
    meta["splits"] = {"train": {"rows_in": 7, "written": 0, "dropped": 7, "dropped_by_kind": {"missing field": 7}}}
    text = summary(meta, tmp_path / "db")
    assert "train: 0 written (rows 7 in), 7 source records dropped (missing field x7)" in text
    assert f"problems: 7 skipped, listed in {tmp_path / 'db' / 'problems.log'}" in text
    assert "a.json:record 0: missing field: 'x0'" in text and "... and 2 more" in text
