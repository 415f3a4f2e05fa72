"""Fault suite, 2: missing and broken inputs at training and evaluation.

A missing store, an unusable split or a malformed record ends the command with one line naming the
file (exit status 2, no traceback, no run folder left behind); a broken sample (an unreadable
frame, a broken video of a ClipBERT store, a record without a field) is skipped, reported and
counted, or, with `on_error: stop`, stops the run naming it. Evaluation counts what it could not
answer as wrong.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import lmdb
import pytest

from sparsevl.cli import main
from sparsevl.data.vis_db import frame_key, meta_key
from sparsevl.dist import Dist
from sparsevl.problems import UserError
from sparsevl.runner.train import _train, train
from sparsevl.txt_db import load_split, write_jsonl


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().err


def one_line(err: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


def read_log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def damage_store(store: Path, edit) -> None:
    env = lmdb.open(str(store), map_size=1 << 28)
    with env.begin(write=True) as txn:
        edit(txn)
    env.close()


def test_missing_txt_db_or_vis_db_is_one_line_and_leaves_no_run_folder(demo_data, tmp_path, config, capsys):
    run = tmp_path / "run"
    for key, says in (("txt_db", "txt_db folder not found: "), ("vis_db", "no vis_db at ")):
        missing = tmp_path / f"no_{key}"
        path = config(demo_data, run, as_file=tmp_path / f"{key}.json", **{key: str(missing)})
        code, err = run_cli(["train", "--config", str(path)], capsys)
        assert code == 2 and one_line(err).startswith(f"sparsevl train: {says}{missing}")
        assert not run.exists()


def test_a_subprocess_user_error_has_no_traceback(demo_data, tmp_path, config):
    path = config(demo_data, tmp_path / "run", as_file=tmp_path / "c.json", txt_db=str(tmp_path / "nowhere"))
    result = subprocess.run([sys.executable, "-m", "sparsevl", "train", "--config", str(path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"sparsevl train: txt_db folder not found: {tmp_path / 'nowhere'}"]


def test_evaluate_with_a_missing_checkpoint_is_one_line(tmp_path, capsys):
    code, err = run_cli(["evaluate", "--checkpoint", str(tmp_path / "none.pt")], capsys)
    assert code == 2 and one_line(err).startswith(f"sparsevl evaluate: no checkpoint at {tmp_path / 'none.pt'}")


def break_records(txt_db: Path) -> tuple[int, int]:
    """A malformed line and a record without `question` in the train split; their line numbers."""
    path = txt_db / "train.jsonl"
    lines = path.read_text().splitlines()
    record = json.loads(lines[1])
    del record["question"]
    lines[1] = json.dumps(record)
    lines[3] = '{"qid": "broken", "video_id": '
    path.write_text("\n".join(lines) + "\n")
    return 4, 2


def test_malformed_records_are_skipped_and_reported_or_stop_the_run(own_copy, tmp_path, config, capsys):
    malformed_line, no_question = break_records(own_copy["qa_db"])
    source = own_copy["qa_db"] / "train.jsonl"
    run = tmp_path / "skip"
    train(config(own_copy, run, max_steps=2, val_split=None), progress=False)
    problems = (run / "problems.log").read_text().splitlines()
    assert any(line.startswith(f"{source}:{malformed_line}: malformed JSON line") for line in problems)
    assert f"{source}:record {no_question}: unusable record: no question" in problems

    path = config(own_copy, tmp_path / "stop", as_file=tmp_path / "stop.json", on_error="stop")
    code, err = run_cli(["train", "--config", str(path)], capsys)
    assert code == 2 and one_line(err).startswith(f"sparsevl train: {source}:{malformed_line}: malformed JSON line")
    assert not (tmp_path / "stop").exists()


def test_a_split_whose_videos_are_all_missing_is_one_line(demo_data, tmp_path, config, capsys):
    txt_db = tmp_path / "txt_db"
    records = load_split(demo_data["qa_db"], "train")
    write_jsonl(txt_db / "train.jsonl", [{**r, "video_id": f"gone_{r['video_id']}"} for r in records])
    (txt_db / "ans2label.json").write_text((demo_data["qa_db"] / "ans2label.json").read_text())
    path = config(demo_data, tmp_path / "run", as_file=tmp_path / "c.json", txt_db=str(txt_db), val_split=None)
    code, err = run_cli(["train", "--config", str(path)], capsys)
    message = one_line(err)
    assert code == 2 and "training split 'train' has 0 usable item(s)" in message
    assert "video not in vis_db" in message  # the first problem, as an example
    assert not (tmp_path / "run").exists()


def test_fewer_items_than_processes_is_refused_before_any_collective(demo_data, tmp_path, config):
    class FourProcesses(Dist):  # as torchrun would set up, seen from rank 0
        world_size = 4

        def barrier(self):
            raise AssertionError("the inputs must be checked before the processes wait for each other")

    txt_db = tmp_path / "txt_db"
    records = load_split(demo_data["qa_db"], "train")
    first_three = list(dict.fromkeys(r["video_id"] for r in records))[:3]
    write_jsonl(txt_db / "train.jsonl", [r for r in records if r["video_id"] in first_three])
    (txt_db / "ans2label.json").write_text((demo_data["qa_db"] / "ans2label.json").read_text())
    with pytest.raises(UserError, match=r"training split 'train' has 3 usable item\(s\) .* for 4 process\(es\)"):
        _train(config(demo_data, tmp_path / "run", txt_db=str(txt_db)), FourProcesses(), False, False, False)


def corrupt_a_frame(store: Path) -> str:
    """Garbage instead of the JPEG of one frame of the first train video; returns that video."""
    from sparsevl.data.vis_db import VisDB

    video = sorted(VisDB(store).video_ids())[0]
    damage_store(store, lambda txn: [txn.put(frame_key(video, i), b"\xff\xd8 not a jpeg") for i in range(6)])
    return video


def test_a_corrupt_frame_is_skipped_counted_and_wrong_in_evaluation(own_copy, tmp_path, config, capsys):
    video = corrupt_a_frame(own_copy["vis_db"])
    split = next(s for s in ("train", "val", "test") if any(r["video_id"] == video for r in load_split(own_copy["qa_db"], s)))
    run = tmp_path / "run"
    train(config(own_copy, run, train_split=split, val_split=split, max_steps=6), progress=False)
    problems = (run / "problems.log").read_text()
    assert f"skipped sample: frame" in problems and f"of video '{video}'" in problems
    assert "is not a readable JPEG" in problems
    logged = [e["train/skipped_samples"] for e in read_log(run) if "train/skipped_samples" in e]
    assert logged[-1] >= 1 and logged == sorted(logged)
    val = [e for e in read_log(run) if "val/unanswered" in e][-1]
    questions = sum(r["video_id"] == video for r in load_split(own_copy["qa_db"], split))
    assert val["val/unanswered"] == questions  # counted as wrong, not dropped

    stop = config(own_copy, tmp_path / "stop", as_file=tmp_path / "stop.json", train_split=split, val_split=None,
                  on_error="stop", max_steps=6)
    code, err = run_cli(["train", "--config", str(stop)], capsys)
    assert code == 2 and f"video '{video}'" in one_line(err) and "not a readable JPEG" in err


def test_a_broken_video_in_a_clipbert_store_is_skipped(demo_data, tmp_path, config):
    store = tmp_path / "clipbert_vis_db"
    broken = load_split(demo_data["qa_db"], "train")[0]["video_id"]
    env = lmdb.open(str(store), map_size=1 << 28)
    with env.begin(write=True) as txn:
        for path in sorted(demo_data["videos"].glob("*.mp4")):
            data = path.read_bytes()
            txn.put(path.stem.encode(), data[: len(data) // 3] if path.stem == broken else data)
    env.close()
    run = tmp_path / "run"
    train(config(demo_data, run, vis_db=str(store), val_split="train", max_steps=4), progress=False)
    problems = (run / "problems.log").read_text()
    assert f"skipped sample: video '{broken}' in the ClipBERT vis_db at {store} cannot be used" in problems
    assert (run / "ckpt" / "step_0000004.pt").is_file()
    val = [e for e in read_log(run) if "val/unanswered" in e][-1]
    assert val["val/unanswered"] == sum(r["video_id"] == broken for r in load_split(demo_data["qa_db"], "train"))


def test_retrieval_counts_captions_of_missing_videos_as_misses(own_copy, tmp_path, config):
    from sparsevl.runner.evaluate import evaluate

    run = tmp_path / "run"
    train(config(own_copy, run, task="retrieval", max_steps=1, val_split=None), progress=False)
    checkpoint = run / "ckpt" / "step_0000001.pt"
    records = load_split(own_copy["ret_db"], "train")
    gone = records[0]["video_id"]
    damage_store(own_copy["vis_db"], lambda txn: txn.delete(meta_key(gone)))
    result, files = evaluate(checkpoint, "train")
    saved = json.loads(next(iter(files.values())).read_text())
    missing = sum(r["video_id"] == gone for r in records)
    assert result.metrics["missing_texts"] == missing and result.metrics["missing_videos"] == 1
    assert saved["metrics"]["t2v"]["queries"] == len(records)  # still in the denominator
    hits = sum(row[t] == max(row) for row, t in zip(saved["scores"], saved["text_to_video"]))
    assert result.metrics["t2v_R@1"] <= 100 * hits / len(records) + 1e-9
    assert "caption(s) of 1 missing or unreadable video(s) counted as misses" in result.table
