import json

import pytest

from sparsevl.txt_db import load_ans2label, load_split
from sparsevl.problems import BadInputError
from txt_db_tools.vqa_v2 import convert, soft_labels


def _answers(*given):
    return [{"answer": a, "answer_confidence": "yes", "answer_id": i + 1} for i, a in enumerate(given)]


QUESTIONS = {"info": {}, "task_type": "Open-Ended", "data_type": "mscoco", "license": {}, "data_subtype": "val2014",
             "questions": [{"image_id": 393225, "question": "Is this a bowl?", "question_id": 393225000},
                           {"image_id": 393225, "question": "What color is the plate?", "question_id": 393225001},
                           {"image_id": 42, "question": "How many dogs?", "question_id": 42000}]}
ANNOTATIONS = {"info": {}, "license": {}, "data_subtype": "val2014", "data_type": "mscoco", "annotations": [
    {"question_type": "is this a", "multiple_choice_answer": "yes", "image_id": 393225, "answer_type": "yes/no",
     "question_id": 393225000, "answers": _answers(*["yes"] * 9, "no")},
    {"question_type": "what color is the", "multiple_choice_answer": "white", "image_id": 393225,
     "answer_type": "other", "question_id": 393225001,
     "answers": _answers("white", "white", "white", "white and blue", "blue", "white", "white", "white", "white",
                         "clear")},
    {"question_type": "how many", "multiple_choice_answer": "2", "image_id": 42, "answer_type": "number",
     "question_id": 42000, "answers": _answers("2", "2", "two", "3", "2", "2", "2", "2", "2", "2")},
]}


def _make(tmp_path, questions=QUESTIONS, annotations=ANNOTATIONS, subtype="val2014"):
    ann = tmp_path / "ann"
    ann.mkdir(exist_ok=True)
    (ann / f"v2_OpenEnded_mscoco_{subtype}_questions.json").write_text(json.dumps(questions))
    (ann / f"v2_mscoco_{subtype}_annotations.json").write_text(json.dumps(annotations))
    return ann


def test_soft_labels():
    assert soft_labels(_answers("a", "a", "a", "a", "b", "b", "b", "c", "c", "d")) == {"a": 1.0, "b": 0.9, "c": 0.6,
                                                                                    "d": 0.3}


def test_records_and_vocabulary(tmp_path):
    ann = _make(tmp_path)
    _make(tmp_path, json.loads(json.dumps(QUESTIONS).replace("val2014", "train2014")),
          json.loads(json.dumps(ANNOTATIONS).replace("val2014", "train2014")), subtype="train2014")
    meta = convert(ann, tmp_path / "db", top_k=2, on_error="stop", quiet=True)
    val = load_split(tmp_path / "db", "val")
    assert val[0] == {"qid": 393225000, "video_id": "COCO_val2014_000000393225", "question": "Is this a bowl?",
                      "answer": "yes", "answer_type": "yes/no", "question_type": "is this a", "image_id": 393225,
                      "labels": {"yes": 1.0, "no": 0.3}}
    assert val[2]["video_id"] == "COCO_val2014_000000000042" and val[2]["labels"] == {"2": 1.0, "two": 0.3, "3": 0.3}
    assert load_split(tmp_path / "db", "train")[0]["video_id"] == "COCO_train2014_000000393225"
    assert load_ans2label(tmp_path / "db") == {"2": 0, "white": 1}  # ties broken by the answer string
    assert meta["splits"]["val"]["answer_types"] == {"yes/no": 1, "other": 1, "number": 1}


@pytest.mark.parametrize("change, path, where, message", [
    (lambda q, a: a["annotations"].pop(1), "questions", "record 1 (question_id 393225001)", "question without answer"),
    (lambda q, a: a["annotations"][2].__setitem__("answers", "2"), "annotations", "record 2 (question_id 42000)",
     "wrong field type: 'answers'"),
    (lambda q, a: a["annotations"][2].__setitem__("image_id", 7), "questions", "record 2 (question_id 42000)",
     "image mismatch"),
])
def test_unusable_questions(tmp_path, change, path, where, message):
    questions, annotations = json.loads(json.dumps(QUESTIONS)), json.loads(json.dumps(ANNOTATIONS))
    change(questions, annotations)
    ann = _make(tmp_path, questions, annotations)
    name = {"questions": "v2_OpenEnded_mscoco_val2014_questions.json",
            "annotations": "v2_mscoco_val2014_annotations.json"}[path]
    with pytest.raises(BadInputError) as info:
        convert(ann, tmp_path / "db", ans2label=_vocab(tmp_path), on_error="stop", quiet=True)
    assert str(info.value).startswith(f"{ann / name}:{where}: {message}"), str(info.value)
    meta = convert(ann, tmp_path / "db", ans2label=_vocab(tmp_path), quiet=True)
    assert meta["splits"]["val"]["written"] == 2 and meta["problems"]["count"] >= 1


def _vocab(tmp_path):
    path = tmp_path / "vocab.json"
    path.write_text('{"yes": 0, "no": 1}')
    return path
