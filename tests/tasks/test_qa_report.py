import json

import pytest

from sparsevl.problems import BadInputError
from sparsevl.tasks.qa_report import (
    ANET_ROWS,
    accuracy_by_type,
    format_report,
    load_ground_truth,
    load_predictions,
)

GT = [
    {"qid": "q1", "answer": "Yes", "answer_type": "Yes/No"},
    {"qid": "q2", "answer": "no", "answer_type": "Yes/No"},
    {"qid": "q3", "answer": "red", "answer_type": "Color"},
    {"qid": "q4", "answer": "dance", "answer_type": "Motion"},
    {"qid": "q5", "answer": "dance", "answer_type": "Motion"},
]


def test_activitynet_layout_and_normalization():
    preds = {"q1": "  yes ", "q2": "yes", "q3": "RED", "q4": "dance"}  # q5 missing
    report = accuracy_by_type(preds, GT)
    assert report.layout == "activitynet-qa"
    assert [r.name for r in report.rows] == list(ANET_ROWS)
    got = {r.name: (r.correct, r.total) for r in report.rows}
    assert got["Motion"] == (1, 2)
    assert got["Yes/No"] == (1, 2)
    assert got["Color"] == (1, 1)
    assert got["Free"] == (2, 3)
    assert got["All"] == (3, 5)
    assert got["Spatial Relation"] == (0, 0) and report.row("Spatial Relation").accuracy is None
    assert report.row("All").accuracy == pytest.approx(60.0)
    assert report.missing == ["q5"]
    d = report.to_dict()
    assert d["missing"] == {"count": 1, "first": ["q5"]}
    assert d["rows"][4] == {"name": "All", "accuracy": 60.0, "correct": 3, "total": 5}
    json.dumps(d)


def test_table():
    table = format_report(accuracy_by_type({"q1": "yes"}, GT))
    lines = table.splitlines()
    assert lines[0].split() == ["Type", "Accuracy", "Correct", "Total"]
    names = [line[: lines[0].index("Accuracy")].strip() for line in lines[2:]]
    assert names == list(ANET_ROWS)
    assert lines[2 + ANET_ROWS.index("All")].split()[1:] == ["20.00", "1", "5"]
    assert lines[2 + ANET_ROWS.index("Spatial Relation")].split()[-3:] == ["-", "0", "0"]
    assert len({len(line) for line in lines}) == 1  # aligned


def test_other_datasets_sorted_types_then_all():
    gt = [
        {"qid": 1, "answer": "cat", "answer_type": "what"},
        {"qid": 2, "answer": "3", "answer_type": "how many"},
        {"qid": 3, "answer": "dog"},
    ]
    report = accuracy_by_type({"1": "cat", 2: "4", 3: "dog"}, gt)  # ids compared as strings
    assert report.layout == "by-type"
    assert [(r.name, r.correct, r.total) for r in report.rows] == [
        ("(no type)", 1, 1), ("how many", 0, 1), ("what", 1, 1), ("All", 2, 3)]


def test_unknown_prediction_ids_are_an_error():
    with pytest.raises(ValueError, match=r"2 prediction\(s\) for question ids not in the ground truth: 'x1', 'x2'"):
        accuracy_by_type({"q1": "yes", "x1": "a", "x2": "b"}, GT)
    with pytest.raises(ValueError, match="appears twice"):
        accuracy_by_type({}, GT + GT[:1])


def test_load_ground_truth_published_and_txt_db(tmp_path):
    pub = tmp_path / "val_a.json"
    pub.write_text(json.dumps([{"answer": "no", "type": 3, "question_id": "v_a_1"},
                               {"answer": "walk", "type": 0, "question_id": "v_a_2"}]))
    assert load_ground_truth(pub) == [
        {"qid": "v_a_1", "answer": "no", "answer_type": "Yes/No"},
        {"qid": "v_a_2", "answer": "walk", "answer_type": "Motion"},
    ]
    db = tmp_path / "val.jsonl"
    db.write_text('{"qid": "v_a_1", "video_id": "v_a", "answer": "no", "answer_type": "Yes/No", "type": 3}\n'
                  '{"qid": 7, "answer": "cat"}\n')
    assert load_ground_truth(db) == [
        {"qid": "v_a_1", "answer": "no", "answer_type": "Yes/No", "video_id": "v_a"},
        {"qid": 7, "answer": "cat", "answer_type": None},
    ]
    pub.write_text(json.dumps([{"answer": "no", "type": 12, "question_id": "v_a_1"}]))
    with pytest.raises(BadInputError, match=rf"{pub}: record 0 \(question_id 'v_a_1'\): unknown type code 12"):
        load_ground_truth(pub)
    pub.write_text(json.dumps([{"type": 1, "question_id": "v_a_1"}]))
    with pytest.raises(BadInputError, match=r"record 0: missing field 'answer'"):
        load_ground_truth(pub)
    pub.write_text("[{")
    with pytest.raises(BadInputError, match=rf"{pub}: malformed JSON"):
        load_ground_truth(pub)
    with pytest.raises(FileNotFoundError):
        load_ground_truth(tmp_path / "none.json")


def test_load_predictions_formats(tmp_path):
    p = tmp_path / "pred.json"
    p.write_text(json.dumps([{"question_id": "a", "answer": "x"}, {"qid": "b", "answer": "y"}]))
    assert load_predictions(p) == {"a": "x", "b": "y"}
    p.write_text(json.dumps({"a": "x"}))
    assert load_predictions(p) == {"a": "x"}
    pj = tmp_path / "pred.jsonl"
    pj.write_text('{"question_id": "a", "answer": "x"}\n')
    assert load_predictions(pj) == {"a": "x"}
    p.write_text(json.dumps([{"question_id": "a", "answer": "x"}, {"question_id": "a", "answer": "z"}]))
    with pytest.raises(BadInputError, match="record 1: second prediction for question id 'a'"):
        load_predictions(p)
    p.write_text(json.dumps([{"question_id": "a", "answer": 3}]))
    with pytest.raises(BadInputError, match="field 'answer' should be str"):
        load_predictions(p)
    p.write_text(json.dumps("yes"))
    with pytest.raises(BadInputError, match="expected a list"):
        load_predictions(p)
