import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from sparsevl.txt_db import load_ans2label, load_split, read_jsonl
from sparsevl.problems import BadInputError
from txt_db_tools.activitynet_qa import TYPE_NAMES, convert
from txt_db_tools.vocab import build_ans2label

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "activitynet_qa"
EXPECTED = {"train": 32000, "val": 18000, "test": 8000}


def _need_real():
    if not all((REAL / f"{s}_{h}.json").is_file() for s in EXPECTED for h in "qa"):
        pytest.skip(f"published ActivityNet-QA files not found in {REAL}")


@pytest.fixture(scope="module")
def real_db(tmp_path_factory):
    _need_real()
    out = tmp_path_factory.mktemp("anet_txt_db")
    meta = convert(REAL, out, quiet=True)
    return out, meta


# ---------------------------------------------------------------------------- real data


def test_real_files_convert(real_db):
    out, meta = real_db
    train_answers = Counter(r["answer"] for r in json.loads((REAL / "train_a.json").read_text()))
    for split, n in EXPECTED.items():
        records = load_split(out, split)
        assert len(records) == n
        source_q = json.loads((REAL / f"{split}_q.json").read_text())
        source_a = {r["question_id"]: r for r in json.loads((REAL / f"{split}_a.json").read_text())}
        assert [r["qid"] for r in records] == [q["question_id"] for q in source_q]  # q file order
        for r, q in zip(records, source_q):
            a = source_a[q["question_id"]]
            assert r["video_id"] == "v_" + q["video_name"]
            assert r["question"] == q["question"] and r["answer"] == a["answer"]
            assert r["type"] == a["type"] and r["answer_type"] == TYPE_NAMES[a["type"]]
        assert set(r["answer_type"] for r in records) == set(TYPE_NAMES)
        s = meta["splits"][split]
        assert (s["questions_in"], s["answers_in"], s["written"], s["dropped"]) == (n, n, n, 0)
        assert s["dropped_by_kind"] == {}
        assert sum(s["answer_types"].values()) == n
        assert s["answer_types"]["Motion"] == n // 10  # one motion question per video
    ans2label = load_ans2label(out)
    assert len(ans2label) == min(1000, len(train_answers)) == 1000
    assert sorted(ans2label.values()) == list(range(1000))
    assert list(ans2label)[:2] == ["yes", "no"]
    # labels follow frequency
    freqs = [train_answers[a] for a in ans2label]
    assert freqs == sorted(freqs, reverse=True)
    assert meta["ans2label"]["distinct_train_answers"] == len(train_answers)
    val = load_split(out, "val")
    oov = sum(r["answer"] not in ans2label for r in val)
    assert meta["splits"]["val"]["out_of_vocab"] == oov
    assert meta["splits"]["val"]["out_of_vocab_fraction"] == pytest.approx(oov / 18000, abs=1e-6)
    assert meta["missing_splits"] == {}
    assert [s["name"] for s in meta["sources"]] == [f"{s}_{h}.json" for s in EXPECTED for h in "qa"]
    assert meta["converter"] == "txt_db_tools.activitynet_qa" and meta["top_k"] == 1000
    assert json.loads((out / "meta.json").read_text())["splits"] == meta["splits"]
    assert not (out / "problems.log").exists()


def test_real_vocab_size_when_k_exceeds_distinct_answers():
    _need_real()
    answers = [r["answer"] for r in json.loads((REAL / "train_a.json").read_text())]
    assert len(build_ans2label(answers, 100_000)) == len(set(answers))


# ---------------------------------------------------------------------------- fixtures


def _q(vid, n, question="what is he doing"):
    return {"video_name": vid, "question": question, "question_id": f"v_{vid}_{n}"}


def _a(vid, n, answer="dance", type_=0):
    return {"answer": answer, "type": type_, "question_id": f"v_{vid}_{n}"}


def _make(tmp_path, splits, raw=None):
    ann = tmp_path / "ann"
    ann.mkdir(exist_ok=True)
    for split, (qs, as_) in splits.items():
        if qs is not None:
            (ann / f"{split}_q.json").write_text(json.dumps(qs))
        if as_ is not None:
            (ann / f"{split}_a.json").write_text(json.dumps(as_))
    for name, text in (raw or {}).items():
        (ann / name).write_text(text)
    return ann


def _good(n=3, vid="abcdefghijk"):
    answers = ["yes", "no", "yes", "red", "2"]
    types = [3, 3, 3, 4, 7]
    qs = [_q(vid, i) for i in range(n)]
    as_ = [_a(vid, i, answers[i % 5], types[i % 5]) for i in range(n)]
    return qs, as_


def test_small_conversion_and_extra_fields(tmp_path):
    qs, as_ = _good(5)
    qs[0]["extra_q"] = "kept"
    as_[1]["confidence"] = 0.5
    ann = _make(tmp_path, {"train": (qs, as_), "val": _good(2, "v_startsWith")})
    meta = convert(ann, tmp_path / "db", top_k=2, quiet=True)
    train = read_jsonl(tmp_path / "db" / "train.jsonl")
    assert train[0] == {
        "qid": "v_abcdefghijk_0", "video_id": "v_abcdefghijk", "question": "what is he doing",
        "answer": "yes", "answer_type": "Yes/No", "type": 3, "extra_q": "kept",
    }
    assert train[1]["confidence"] == 0.5
    assert train[3]["answer_type"] == "Color" and train[4]["answer_type"] == "Number"
    # a video name that itself starts with "v_" still gets the prefix
    assert read_jsonl(tmp_path / "db" / "val.jsonl")[0]["video_id"] == "v_v_startsWith"
    # yes x2, then no/red/2 x1 -> tie broken by the answer string
    assert load_ans2label(tmp_path / "db") == {"yes": 0, "2": 1}
    assert meta["splits"]["train"]["out_of_vocab"] == 2
    assert meta["splits"]["val"]["out_of_vocab"] == 1


def test_build_ans2label_ties_are_deterministic():
    answers = ["b", "a", "c", "a", "b", "d"]
    assert build_ans2label(answers, 3) == {"a": 0, "b": 1, "c": 2}
    assert build_ans2label(reversed(answers), 3) == {"a": 0, "b": 1, "c": 2}
    with pytest.raises(ValueError):
        build_ans2label(answers, 0)


def test_malformed_json_names_file_and_position(tmp_path):
    qs, _ = _good()
    ann = _make(tmp_path, {"train": (qs, None)}, raw={"train_a.json": '[{"answer": "yes",\n "type": }]'})
    for mode in ("stop", "skip"):
        with pytest.raises(BadInputError, match=r"train_a\.json: malformed JSON: .*line 2 column"):
            convert(ann, tmp_path / "db", on_error=mode, quiet=True)
    assert not (tmp_path / "db" / "train.jsonl").exists()


def test_not_a_list(tmp_path):
    qs, _ = _good()
    ann = _make(tmp_path, {"train": (qs, None)}, raw={"train_a.json": '{"answer": "yes"}'})
    with pytest.raises(BadInputError, match=r"train_a\.json: expected a JSON list of records, got dict"):
        convert(ann, tmp_path / "db", quiet=True)


CASES = {
    # name: (mutate(qs, as_), file named, where named, kind)
    "missing field": (lambda qs, as_: as_[1].pop("answer"), "train_a.json",
                      "record 1 (question_id 'v_abcdefghijk_1')", "missing field: 'answer'"),
    "wrong type": (lambda qs, as_: as_[1].update(type="3"), "train_a.json",
                   "record 1 (question_id 'v_abcdefghijk_1')", "wrong field type: 'type'"),
    "bool type": (lambda qs, as_: as_[1].update(type=True), "train_a.json",
                  "record 1 (question_id 'v_abcdefghijk_1')", "wrong field type: 'type'"),
    "empty question": (lambda qs, as_: qs[1].update(question=" "), "train_q.json",
                       "record 1 (question_id 'v_abcdefghijk_1')", "empty field: 'question'"),
    "unknown type code": (lambda qs, as_: as_[1].update(type=9), "train_a.json",
                          "record 1 (question_id 'v_abcdefghijk_1')", "unknown type code: 9"),
    "answer without question": (lambda qs, as_: as_.insert(1, _a("zzzzzzzzzzz", 0)), "train_a.json",
                                "record 1 (question_id 'v_zzzzzzzzzzz_0')", "answer without question"),
    "question without answer": (lambda qs, as_: qs.insert(1, _q("zzzzzzzzzzz", 0)), "train_q.json",
                                "record 1 (question_id 'v_zzzzzzzzzzz_0')", "question without answer"),
    "duplicate id": (lambda qs, as_: qs.append(dict(qs[1], question="other")), "train_q.json",
                     "record 1 (question_id 'v_abcdefghijk_1')", "duplicate id: question_id"),
    "not a record": (lambda qs, as_: as_.insert(1, "yes"), "train_a.json", "record 1", "not a record"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_record_stop_names_file_and_record(tmp_path, case):
    mutate, fname, where, kind = CASES[case]
    qs, as_ = _good(4)
    mutate(qs, as_)
    ann = _make(tmp_path, {"train": (qs, as_)})
    with pytest.raises(BadInputError) as info:
        convert(ann, tmp_path / "db", on_error="stop", quiet=True)
    msg = str(info.value)
    assert msg.startswith(str(ann / fname) + ":" + where + ": " + kind), msg
    assert not (tmp_path / "db" / "train.jsonl").exists()


# kind counts in skip mode, and the qids written
SKIP_EXPECTED = {
    "missing field": ({"missing field": 1, "answer dropped": 1}, [0, 2, 3]),
    "wrong type": ({"wrong field type": 1, "answer dropped": 1}, [0, 2, 3]),
    "bool type": ({"wrong field type": 1, "answer dropped": 1}, [0, 2, 3]),
    "empty question": ({"empty field": 1, "question dropped": 1}, [0, 2, 3]),
    "unknown type code": ({"unknown type code": 1, "answer dropped": 1}, [0, 2, 3]),
    "answer without question": ({"answer without question": 1}, [0, 1, 2, 3]),
    "question without answer": ({"question without answer": 1}, [0, 1, 2, 3]),
    "duplicate id": ({"duplicate id": 2, "question dropped": 1}, [0, 2, 3]),
    "not a record": ({"not a record": 1}, [0, 1, 2, 3]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_record_skip_drops_and_counts(tmp_path, case, capsys):
    mutate, fname, where, kind = CASES[case]
    qs, as_ = _good(4)
    mutate(qs, as_)
    ann = _make(tmp_path, {"train": (qs, as_)})
    out = tmp_path / "db"
    meta = convert(ann, out, on_error="skip")
    kinds, kept = SKIP_EXPECTED[case]
    s = meta["splits"]["train"]
    assert s["dropped_by_kind"] == kinds
    assert s["dropped"] == sum(kinds.values())
    assert s["written"] == len(kept)
    assert [r["qid"] for r in load_split(out, "train")] == [f"v_abcdefghijk_{i}" for i in kept]
    assert (s["questions_in"], s["answers_in"]) == (len(qs), len(as_))
    log = (out / "problems.log").read_text()
    assert f"{ann / fname}:{where}: {kind}" in log
    assert meta["problems"]["count"] == len(log.splitlines()) == s["dropped"]
    assert json.loads((out / "meta.json").read_text())["splits"]["train"]["dropped_by_kind"] == kinds
    assert "dropped" in capsys.readouterr().out


def test_missing_val_half_is_reported_rest_converted(tmp_path, capsys):
    qs, as_ = _good(3)
    vq, _ = _good(2, "bbbbbbbbbbb")
    ann = _make(tmp_path, {"train": (qs, as_), "val": (vq, None), "test": _good(2, "ccccccccccc")})
    meta = convert(ann, tmp_path / "db")
    assert meta["missing_splits"] == {"val": "missing val_a.json"}
    assert set(meta["splits"]) == {"train", "test"}
    assert (tmp_path / "db" / "test.jsonl").exists() and not (tmp_path / "db" / "val.jsonl").exists()
    assert "val: not converted (missing val_a.json)" in capsys.readouterr().out


def test_reconversion_removes_stale_split(tmp_path):
    ann = _make(tmp_path, {"train": _good(3), "val": _good(2, "bbbbbbbbbbb")})
    convert(ann, tmp_path / "db", quiet=True)
    (ann / "val_q.json").unlink()
    convert(ann, tmp_path / "db", quiet=True)
    assert not (tmp_path / "db" / "val.jsonl").exists()
    assert (tmp_path / "db" / "train.jsonl").exists()
    # a skip run's problems.log does not outlive a later clean run
    qs, as_ = _good(3)
    (ann / "train_a.json").write_text(json.dumps(as_[:2]))
    convert(ann, tmp_path / "db", on_error="skip", quiet=True)
    assert "question without answer" in (tmp_path / "db" / "problems.log").read_text()
    (ann / "train_a.json").write_text(json.dumps(as_))
    meta = convert(ann, tmp_path / "db", quiet=True)
    assert not (tmp_path / "db" / "problems.log").exists() and "problems" not in meta


def test_no_split_is_an_error(tmp_path):
    ann = _make(tmp_path, {"val": (_good(2)[0], None)})
    with pytest.raises(BadInputError, match="no ActivityNet-QA split"):
        convert(ann, tmp_path / "db", quiet=True)


def test_no_train_needs_an_existing_vocabulary(tmp_path):
    ann = _make(tmp_path, {"val": _good(3)})
    with pytest.raises(BadInputError, match="--ans2label"):
        convert(ann, tmp_path / "db", quiet=True)
    vocab = tmp_path / "vocab.json"
    vocab.write_text('{"no": 0, "yes": 1}')
    meta = convert(ann, tmp_path / "db", ans2label=vocab, quiet=True)
    assert load_ans2label(tmp_path / "db") == {"no": 0, "yes": 1}
    assert meta["ans2label"]["size"] == 2 and meta["top_k"] is None
    assert meta["splits"]["val"]["out_of_vocab"] == 0


def test_cli(tmp_path):
    ann = _make(tmp_path, {"train": _good(5)})
    cmd = [sys.executable, "-m", "txt_db_tools.activitynet_qa", "--ann-dir", str(ann), "--out", str(tmp_path / "db")]
    r = subprocess.run(cmd + ["--top-k", "2"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "train: 5 written" in r.stdout
    assert len(load_ans2label(tmp_path / "db")) == 2
    (ann / "train_a.json").write_text("[{")
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr.startswith("error: ") and "train_a.json: malformed JSON" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
