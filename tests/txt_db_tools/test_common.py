"""The converter skeleton (txt_db_tools.common) on a toy format declared here: one text file per
split, `<video> <answer>` per line."""

import json

import pytest

from sparsevl.txt_db import load_ans2label, load_split
from sparsevl.problems import BadInputError
from txt_db_tools.common import Converter, Finished, Option, Shared, SplitInput, each_split
from txt_db_tools.sources import read_text_lines, split_counts

SEEN = []  # the order splits are read in, for one test


def _read_split(split: SplitInput):
    SEEN.append(split.name)
    path = split.files["text"]
    records = []
    lines = read_text_lines(path)
    for n, text in lines:
        fields = text.split()
        if len(fields) != 2:
            split.log.drop(path, f"bad line: {text!r}", n)
            continue
        video = split.shared.get(fields[0], fields[0])
        records.append({"qid": f"{split.name}_{n}", "video_id": video, "question": "q?", "answer": fields[1],
                        "earlier": sorted(split.done)})
    return records, split_counts(split.log, len(records), lines=len(lines))


def _shared(ann_dir, problems, options):
    path = ann_dir / "rename.json"
    return Shared(json.loads(path.read_text()), (path,), {"renamed": True})


TOY = Converter(
    module="txt_db_tools.toy",
    doc="Toy format -> txt_db.\n\nMore text.",
    dataset="Toy",
    task=lambda opts: "video_qa" if opts["kind"] == "open" else "retrieval",
    files=each_split(("train", "val", "test"), text="{split}.{ext}"),
    read_split=_read_split,
    read_first=("test",),
    read_shared=_shared,
    finish=lambda splits, opts, shared: Finished({"extra.json": {"n": len(splits)}}, {"finished": opts["ext"]}),
    options=(
        Option("--ext", default="txt", help="file extension"),
        Option("--kind", default="open", choices=("open", "closed"), help="task kind"),
    ),
    answer_vocab=True,
    meta=lambda opts: {"ext": opts["ext"]},
)


def _ann(tmp_path, files):
    ann = tmp_path / "ann"
    ann.mkdir(exist_ok=True)
    (ann / "rename.json").write_text('{"a": "video_a"}')
    for name, text in files.items():
        (ann / name).write_text(text)
    return ann


def test_skeleton_reads_declared_files_in_order_and_writes_everything(tmp_path, capsys):
    ann = _ann(tmp_path, {"train.lst": "a yes\nb no\nc yes\n", "test.lst": "a yes\nbroken\n"})
    SEEN.clear()
    meta = TOY.convert(ann, tmp_path / "db", ext="lst", top_k=1)
    assert SEEN == ["test", "train"]  # read_first, then the declared order
    assert list(meta["splits"]) == ["train", "test"] and meta["files"][:2] == ["train.jsonl", "test.jsonl"]
    train = load_split(tmp_path / "db", "train")
    assert [r["video_id"] for r in train] == ["video_a", "b", "c"] and train[0]["earlier"] == ["test"]
    assert load_ans2label(tmp_path / "db") == {"yes": 0}
    assert meta["task"] == "video_qa" and meta["ext"] == "lst" and meta["renamed"] is True
    assert meta["finished"] == "lst" and json.loads((tmp_path / "db" / "extra.json").read_text()) == {"n": 2}
    assert [s["name"] for s in meta["sources"]] == ["rename.json", "train.lst", "test.lst"]
    assert meta["missing_splits"] == {"val": "missing val.lst"} and meta["on_error"] == "skip"
    assert meta["splits"]["test"]["dropped_by_kind"] == {"bad line": 1}
    assert f"{ann / 'test.lst'}:2: bad line: 'broken'" in (tmp_path / "db" / "problems.log").read_text()
    out = capsys.readouterr().out
    assert "test: 1 written (lines 2 in), 1 source records dropped (bad line x1)" in out
    assert "val: not converted (missing val.lst)" in out and "problems: 1 skipped" in out


def test_task_decides_the_vocabulary(tmp_path):
    ann = _ann(tmp_path, {"train.txt": "a yes\n"})
    meta = TOY.convert(ann, tmp_path / "db", kind="closed", quiet=True)
    assert meta["task"] == "retrieval" and "ans2label" not in meta
    assert not (tmp_path / "db" / "ans2label.json").exists()


def test_options_are_checked(tmp_path):
    ann = _ann(tmp_path, {"train.txt": "a yes\n"})
    with pytest.raises(TypeError, match="unknown option"):
        TOY.convert(ann, tmp_path / "db", colour="red")
    with pytest.raises(ValueError, match="kind must be one of open, closed"):
        TOY.convert(ann, tmp_path / "db", kind="half")
    with pytest.raises(ValueError, match="on_error must be one of skip, stop"):
        TOY.convert(ann, tmp_path / "db", on_error="ignore")
    with pytest.raises(ValueError, match="top_k must be at least 1"):
        TOY.convert(ann, tmp_path / "db", top_k=0)
    required = Converter("txt_db_tools.req", "Doc.", "Req", "retrieval", _read_split,
                         options=(Option("--task", required=True, help="x"),))
    with pytest.raises(TypeError, match="needs task="):
        required.convert(ann, tmp_path / "db")


def test_no_split_names_what_is_needed(tmp_path):
    ann = _ann(tmp_path, {})
    needs = r"need at least one of train\.txt, val\.txt, test\.txt"
    with pytest.raises(BadInputError, match=rf"no Toy split in .*: {needs}"):
        TOY.convert(ann, tmp_path / "db")


def test_stop_mode_and_the_command_line(tmp_path, capsys):
    ann = _ann(tmp_path, {"train.txt": "a yes\nbroken\n"})
    argv = ["--ann-dir", str(ann), "--out", str(tmp_path / "db")]
    assert TOY.main(argv + ["--on-error", "stop"]) == 1
    err = capsys.readouterr().err
    assert err == f"error: {ann / 'train.txt'}:2: bad line: 'broken'\n"
    assert not (tmp_path / "db").exists()
    assert TOY.main(argv + ["--top-k", "5"]) == 0
    assert "train: 1 written (lines 2 in), 1 source records dropped" in capsys.readouterr().out
    help_text = TOY.parser().format_help()
    assert "Toy format -> txt_db." in help_text and "--ext" in help_text and "--kind {open,closed}" in help_text
    assert "--on-error {skip,stop}" in help_text and "skip it (default" in help_text


def test_an_empty_answer_vocabulary_is_refused(tmp_path):
    ann = _ann(tmp_path, {"train.txt": "broken\n", "val.txt": "a yes\n"})
    with pytest.raises(BadInputError, match=r"train\.txt: no usable train record to build the answer vocabulary"):
        TOY.convert(ann, tmp_path / "db")  # skip mode: every train record dropped
    (ann / "train.txt").unlink()
    with pytest.raises(BadInputError, match=r"ann: no train split to build the answer vocabulary from"):
        TOY.convert(ann, tmp_path / "db")
    (tmp_path / "empty.json").write_text("{}")
    with pytest.raises(BadInputError, match=r"empty\.json: the answer vocabulary is empty"):
        TOY.convert(ann, tmp_path / "db", ans2label=tmp_path / "empty.json")
    assert not (tmp_path / "db").exists()
