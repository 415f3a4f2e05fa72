import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "eval_res.py"
REAL = ROOT.parent / "shared" / "data" / "activitynet_qa"
NAMES = ["Motion", "Spatial Relation", "Temporal Relation", "Yes/No", "Color", "Object",
         "Location", "Number", "Other"]
ROWS = NAMES[:3] + ["Free", "All"] + NAMES[3:]
P = [0.55, 0.40, 0.25, 0.80, 0.47, 0.33, 0.30, 0.51, 0.12]  # planned accuracy per type code
OMIT = 7  # predictions left out per type (taken from the wrong ones)


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def val_answers():
    path = REAL / "val_a.json"
    if not path.is_file():
        pytest.skip(f"published ActivityNet-QA val_a.json not found in {REAL}")
    return path, json.loads(path.read_text())


@pytest.fixture(scope="module")
def planned(val_answers, tmp_path_factory):
    """Predictions with a known number of correct answers per type."""
    _, answers = val_answers
    by_type = {c: [a for a in answers if a["type"] == c] for c in range(9)}
    preds, correct, total, omitted = [], {}, {}, 0
    for c, items in by_type.items():
        k = round(P[c] * len(items))
        assert k + OMIT <= len(items)
        correct[NAMES[c]], total[NAMES[c]] = k, len(items)
        for i, a in enumerate(items):
            if i < k:  # right, some with other case and spaces
                ans = a["answer"] if i % 2 else f"  {a['answer'].upper()} "
            elif i >= len(items) - OMIT:
                omitted += 1
                continue
            else:
                ans = "zz not an answer"
            preds.append({"question_id": a["question_id"], "answer": ans})
    free = NAMES[3:]
    correct["Free"], total["Free"] = sum(correct[n] for n in free), sum(total[n] for n in free)
    correct["All"], total["All"] = sum(correct[n] for n in NAMES), sum(total[n] for n in NAMES)
    pred_path = tmp_path_factory.mktemp("pred") / "pred.json"
    pred_path.write_text(json.dumps(preds))
    return pred_path, correct, total, omitted


def _check_json(stdout, correct, total):
    d = json.loads(stdout)
    assert d["layout"] == "activitynet-qa"
    assert [r["name"] for r in d["rows"]] == ROWS
    for r in d["rows"]:
        assert (r["correct"], r["total"]) == (correct[r["name"]], total[r["name"]])
        assert r["accuracy"] == pytest.approx(100 * correct[r["name"]] / total[r["name"]])
    assert total["All"] == 18000
    return d


def test_planned_accuracies_on_real_val(val_answers, planned):
    gt, _ = val_answers
    pred, correct, total, omitted = planned
    r = run(pred, gt, "--json")
    assert r.returncode == 0, r.stderr
    d = _check_json(r.stdout, correct, total)
    assert d["missing"]["count"] == omitted == 9 * OMIT
    assert f"warning: {omitted} of 18000 questions have no prediction" in r.stderr
    # spot-check against the planned fractions themselves
    rows = {x["name"]: x["accuracy"] for x in d["rows"]}
    for c, name in enumerate(NAMES):
        assert rows[name] == pytest.approx(100 * P[c], abs=0.05)


def test_table_rows_and_order(val_answers, planned):
    gt, _ = val_answers
    pred, correct, total, _ = planned
    r = run(pred, gt)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0].split() == ["Type", "Accuracy", "Correct", "Total"]
    width = lines[0].index("Accuracy")
    assert [line[:width].strip() for line in lines[2:]] == ROWS
    for line, name in zip(lines[2:], ROWS):
        acc, c, t = line[width:].split()
        assert acc == f"{100 * correct[name] / total[name]:.2f}"
        assert (int(c), int(t)) == (correct[name], total[name])


def test_ground_truth_as_txt_db_split(val_answers, planned, tmp_path):
    from txt_db_tools.activitynet_qa import convert

    ann = tmp_path / "ann"
    ann.mkdir()
    for half in "qa":  # val only, with a vocabulary from elsewhere
        (ann / f"val_{half}.json").symlink_to(REAL / f"val_{half}.json")
    vocab = tmp_path / "vocab.json"
    vocab.write_text('{"yes": 0, "no": 1}')
    convert(ann, tmp_path / "db", ans2label=vocab, quiet=True)
    pred, correct, total, _ = planned
    r = run(pred, tmp_path / "db" / "val.jsonl", "--json")
    assert r.returncode == 0, r.stderr
    _check_json(r.stdout, correct, total)


def test_unknown_question_id_fails_cleanly(val_answers, tmp_path):
    gt, answers = val_answers
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps([{"question_id": answers[0]["question_id"], "answer": "no"},
                                {"question_id": "v_notAVideo_1", "answer": "no"}]))
    r = run(pred, gt)
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.strip() == ("error: 1 prediction(s) for question ids not in the ground truth: "
                                "'v_notAVideo_1'")


def test_malformed_files_fail_cleanly(tmp_path):
    gt = tmp_path / "gt.jsonl"
    gt.write_text('{"qid": "a", "answer": "x"}\n{"qid": "b", "answer": \n')
    pred = tmp_path / "pred.json"
    pred.write_text('{"a": "x"}')
    good_gt = tmp_path / "good.jsonl"
    good_gt.write_text('{"qid": "a", "answer": "x"}\n')
    assert run(pred, good_gt).returncode == 0
    for args, needle in [((pred, gt), f"{gt}:2: malformed JSON line"),
                         ((tmp_path / "none.json", good_gt), "file not found"),
                         ((pred, pred), "expected a list of records, got dict"),
                         ((gt, good_gt), f"{gt}:2: malformed JSON line")]:
        r = run(*args)
        assert r.returncode == 1
        assert r.stderr.startswith("error: ") and needle in r.stderr
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_html_report_of_a_prediction_file(tmp_path):
    gt = tmp_path / "test.jsonl"
    records = [{"qid": f"q{i}", "video_id": f"v{i // 2}", "question": f"what is {i}", "answer": "yes" if i % 3 else "red",
                "answer_type": "Yes/No" if i % 3 else "Color"} for i in range(12)]
    gt.write_text("".join(json.dumps(r) + "\n" for r in records))
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps([{"question_id": r["qid"], "answer": "yes"} for r in records[:-1]]))  # one missing
    out = tmp_path / "report.html"
    r = run(pred, gt, "--html", out, "--sample", "6")
    assert r.returncode == 0, r.stderr
    assert f"report: {out}" in r.stderr
    text = out.read_text()
    assert text.count('<figure class="ex') == 6 and "<img class=\"frames\"" not in text
    assert "a prediction file does not say which frames the model saw" in text
    all_row = next(line for line in r.stdout.splitlines() if line.startswith("All"))
    assert f"<td>All</td><td>{all_row.split()[1]}</td>" in text
    # 7 right, 5 wrong (the unanswered question among them): the gallery takes 3 of each
    assert "right (3)" in text and "wrong (3)" in text and text.count('<p class="text">what is ') == 6
