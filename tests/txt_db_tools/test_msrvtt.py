import csv
import json
import subprocess
import sys

import pytest

from sparsevl.txt_db import load_split
from sparsevl.problems import BadInputError
from txt_db_tools.msrvtt import convert

TEST_CSV = "MSRVTT_JSFUSION_test.csv"
LIST_9K, LIST_7K = "MSRVTT_train.9k.csv", "MSRVTT_train.7k.csv"


# ---------------------------------------------------------------------------- fixtures, published schema


def _official_split(n: int, n_videos: int) -> str:
    # like MSRVTT's own split (6513 / 497 / 2990 videos): about 65 % train, 5 % validate, 30 % test
    if n < 0.65 * n_videos:
        return "train"
    return "validate" if n < 0.70 * n_videos else "test"


def _data_json(n_videos: int, per_video: int = 2) -> dict:
    """MSRVTT_data.json as published: videos, then sentences with running sen_id."""
    videos = [
        {"category": n % 20, "url": f"https://www.youtube.com/watch?v=yt{n}", "video_id": f"video{n}",
         "start time": 1.5, "end time": 11.5, "split": _official_split(n, n_videos), "id": n}
        for n in range(n_videos)
    ]
    sentences = [
        {"caption": f"caption {k} of video {n}", "video_id": f"video{n}", "sen_id": n * per_video + k}
        for n in range(n_videos) for k in range(per_video)
    ]
    return {"info": {"year": "2016", "version": "1.0"}, "videos": videos, "sentences": sentences}


def _write_csv(path, header, rows, delimiter=","):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, delimiter=delimiter, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _test_rows(videos):
    return [[f"ret{i}", f"msr{n}", f"video{n}", f"test caption of video {n}"] for i, n in enumerate(videos)]


# 12 videos: official train 0-7, validate 8, test 9-11; 1k-A test = 9 and 11 (here), so the 9k list
# holds 0-8 and 10 (train + validate + the test video outside 1k-A) and the 7k list 0-8
SMALL = {
    "data": _data_json(12),
    "test": _test_rows([9, 11]),
    "test_header": ["key", "vid_key", "video_id", "sentence"],
    "9k": [f"video{n}" for n in (*range(9), 10)],
    "7k": [f"video{n}" for n in range(9)],
}


def _make(tmp_path, fx=None, skip=()):
    fx = json.loads(json.dumps(fx or SMALL))  # a copy the test may change
    ann = tmp_path / "ann"
    ann.mkdir(parents=True, exist_ok=True)
    if "data" not in skip:
        (ann / "MSRVTT_data.json").write_text(json.dumps(fx["data"]))
    if "test" not in skip:
        _write_csv(ann / TEST_CSV, fx["test_header"], fx["test"])
    for name, file in (("9k", LIST_9K), ("7k", LIST_7K)):
        if name not in skip:
            _write_csv(ann / file, ["video_id"], [[v] for v in fx[name]])
    return ann


def _videos(records):
    return sorted({r["video_id"] for r in records}, key=lambda v: int(v[5:]))


# ---------------------------------------------------------------------------- real data


def test_real_1k_a_test(real_ann, tmp_path):
    ann = real_ann("msrvtt_ret", TEST_CSV)
    meta = convert(ann, tmp_path / "db", quiet=True)
    test = load_split(tmp_path / "db", "test")
    assert len(test) == 1000 and len({r["video_id"] for r in test}) == 1000
    assert [r["cid"] for r in test] == [f"ret{i}" for i in range(1000)]
    assert test[0] == {"cid": "ret0", "video_id": "video9770", "caption": "a person is connecting something to system",
                       "vid_key": "msr9770"}
    assert test[-1]["caption"] == "bearded guy in grey tshirt talking to the camera"
    # 1k-A is drawn from MSRVTT's official test videos (video7010 - video9999)
    assert all(7010 <= int(r["video_id"][5:]) <= 9999 for r in test)
    assert meta["task"] == "retrieval" and meta["protocol"] == {"train": "9k", "test": "1k-A"}
    assert meta["splits"]["test"] == {"rows_in": 1000, "written": 1000, "dropped": 0, "dropped_by_kind": {}}
    assert meta["missing_splits"] == {"train": "missing MSRVTT_data.json"}
    assert [s["name"] for s in meta["sources"]] == [TEST_CSV]


def test_real_9k_list_is_every_video_but_1k_a(real_ann, tmp_path):
    real = real_ann("msrvtt_ret", TEST_CSV, LIST_9K)
    ann = tmp_path / "ann"
    ann.mkdir()
    for name in (TEST_CSV, LIST_9K):
        (ann / name).symlink_to(real / name)
    (ann / "MSRVTT_data.json").write_text(json.dumps(_data_json(10_000)))  # not published here
    meta = convert(ann, tmp_path / "db", quiet=True)
    train, test = load_split(tmp_path / "db", "train"), load_split(tmp_path / "db", "test")
    train_videos, test_videos = set(_videos(train)), set(_videos(test))
    assert len(train) == 18_000 and len(train_videos) == 9000
    assert not train_videos & test_videos
    assert train_videos | test_videos == {f"video{n}" for n in range(10_000)}
    assert "video7010" in train_videos  # an official test video outside 1k-A trains in the 9k protocol
    assert meta["splits"]["train"]["listed_videos_in"] == 9000 and meta["splits"]["train"]["dropped"] == 0


# ---------------------------------------------------------------------------- protocols


def test_9k_and_7k_train_lists(tmp_path):
    ann = _make(tmp_path)
    meta = convert(ann, tmp_path / "db9", quiet=True)
    train = load_split(tmp_path / "db9", "train")
    assert _videos(train) == [f"video{n}" for n in (*range(9), 10)]
    assert train[0] == {"cid": "0", "video_id": "video0", "caption": "caption 0 of video 0", "sen_id": 0}
    assert [r["cid"] for r in train[-2:]] == ["20", "21"]  # video10's two captions, in file order
    assert meta["protocol"] == {"train": "9k", "test": "1k-A"} and list(meta["splits"]) == ["train", "test"]
    assert meta["splits"]["train"] == {
        "listed_videos_in": 10, "sentences_in": 24, "written": 20, "dropped": 0, "dropped_by_kind": {}, "videos": 10,
    }
    assert [s["name"] for s in meta["sources"]] == ["MSRVTT_data.json", LIST_9K, TEST_CSV]

    meta = convert(ann, tmp_path / "db7", train_list="7k", quiet=True)
    assert _videos(load_split(tmp_path / "db7", "train")) == [f"video{n}" for n in range(9)]
    assert meta["protocol"]["train"] == "7k"
    # the test split does not depend on the train list
    assert load_split(tmp_path / "db7", "test") == load_split(tmp_path / "db9", "test")
    assert [r["cid"] for r in load_split(tmp_path / "db7", "test")] == ["ret0", "ret1"]


def test_missing_files_are_reported_per_split(tmp_path, capsys):
    ann = _make(tmp_path, skip=("data",))
    meta = convert(ann, tmp_path / "db")
    assert meta["missing_splits"] == {"train": "missing MSRVTT_data.json"} and list(meta["splits"]) == ["test"]
    assert "train: not converted (missing MSRVTT_data.json)" in capsys.readouterr().out

    ann = _make(tmp_path / "b", skip=("7k",))
    meta = convert(ann, tmp_path / "db", train_list="7k", quiet=True)
    assert meta["missing_splits"] == {"train": f"missing {LIST_7K}"} and list(meta["splits"]) == ["test"]

    with pytest.raises(BadInputError, match="no MSRVTT split"):
        convert(_make(tmp_path / "c", skip=("data", "test")), tmp_path / "db", quiet=True)


# ---------------------------------------------------------------------------- malformed input


def _sentences(fx):
    return fx["data"]["sentences"]


CASES = {
    # name: (mutate(fixture), file named, where, message start, {split: dropped_by_kind} in skip mode)
    "bad row": (lambda fx: fx["test"][1].append("extra"), TEST_CSV, "3",
                "bad row: 5 fields, the header has 4", {"test": {"bad row": 1}}),
    "empty caption": (lambda fx: fx["test"][0].__setitem__(3, " "), TEST_CSV, "2",
                      "empty field: 'sentence'", {"test": {"empty field": 1}}),
    "video mismatch": (lambda fx: fx["test"][0].__setitem__(1, "msr10"), TEST_CSV, "2",
                       "video mismatch: video_id 'video9' is not vid_key 'msr10'", {"test": {"video mismatch": 1}}),
    "duplicate key": (lambda fx: fx["test"][1].__setitem__(0, "ret0"), TEST_CSV, "2",
                      "duplicate id: key 'ret0' also at record(s) 3", {"test": {"duplicate id": 2}}),
    "test video twice": (lambda fx: fx["test"].append(["ret2", "msr9", "video9", "another"]), TEST_CSV, "2",
                         "duplicate id: video_id 'video9'", {"test": {"duplicate id": 2}}),
    "wrong type": (lambda fx: _sentences(fx)[3].update(sen_id="3"), "MSRVTT_data.json", "sentence 3 (sen_id '3')",
                   "wrong field type: 'sen_id'", {"train": {"wrong field type": 1}}),
    "not a record": (lambda fx: _sentences(fx).insert(0, "a caption"), "MSRVTT_data.json", "sentence 0",
                     "not a record", {"train": {"not a record": 1}}),
    "duplicate sen_id": (lambda fx: _sentences(fx)[5].update(sen_id=4), "MSRVTT_data.json", "sentence 4 (sen_id 4)",
                         "duplicate id: sen_id 4 also at record(s) 5",
                         {"train": {"duplicate id": 2, "video without captions": 1}}),  # video2 has none left
    "listed video without captions": (lambda fx: fx["9k"].append("video99"), LIST_9K, "12",
                                      "video without captions: no sentence in MSRVTT_data.json is of 'video99'",
                                      {"train": {"video without captions": 1}}),
    "test video in train list": (lambda fx: fx["9k"].insert(0, "video9"), LIST_9K, "2",
                                 "test video in train list: 'video9' is in MSRVTT_JSFUSION_test.csv",
                                 {"train": {"test video in train list": 1}}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_record_stop(tmp_path, case):
    mutate, fname, where, message, _ = CASES[case]
    fx = json.loads(json.dumps(SMALL))
    mutate(fx)
    ann = _make(tmp_path, fx)
    with pytest.raises(BadInputError) as info:
        convert(ann, tmp_path / "db", on_error="stop", quiet=True)
    assert str(info.value).startswith(f"{ann / fname}:{where}: {message}"), str(info.value)
    assert not (tmp_path / "db" / "train.jsonl").exists() and not (tmp_path / "db" / "test.jsonl").exists()


@pytest.mark.parametrize("case", list(CASES))
def test_bad_record_skip(tmp_path, case):
    mutate, fname, where, message, kinds = CASES[case]
    fx = json.loads(json.dumps(SMALL))
    mutate(fx)
    ann = _make(tmp_path, fx)
    meta = convert(ann, tmp_path / "db", on_error="skip", quiet=True)
    for split in ("train", "test"):
        s = meta["splits"][split]
        assert s["dropped_by_kind"] == kinds.get(split, {}), split
        assert s["written"] == len(load_split(tmp_path / "db", split))
    assert f"{ann / fname}:{where}: {message}" in (tmp_path / "db" / "problems.log").read_text()
    assert meta["problems"]["count"] == sum(sum(k.values()) for k in kinds.values())


def test_skip_keeps_the_rest(tmp_path):
    fx = json.loads(json.dumps(SMALL))
    fx["test"][0].append("extra")  # video9's row
    fx["9k"].insert(0, "video11")  # a 1k-A test video on the train list
    _sentences(fx)[1]["sen_id"] = 0  # video0's two captions share an id
    meta = convert(_make(tmp_path, fx), tmp_path / "db", on_error="skip", quiet=True)
    test, train = load_split(tmp_path / "db", "test"), load_split(tmp_path / "db", "train")
    assert [r["video_id"] for r in test] == ["video11"]
    assert _videos(train) == [f"video{n}" for n in range(1, 9)] + ["video10"]
    # video0 lost both captions: reported as a duplicate pair, then as a listed video without any
    assert meta["splits"]["train"]["dropped_by_kind"] == {
        "test video in train list": 1, "duplicate id": 2, "video without captions": 1,
    }


def test_missing_column_stops_in_both_modes(tmp_path):
    fx = json.loads(json.dumps(SMALL))
    fx["test_header"][3] = "caption"
    ann = _make(tmp_path, fx)
    for mode in ("stop", "skip"):
        with pytest.raises(BadInputError) as info:
            convert(ann, tmp_path / "db", on_error=mode, quiet=True)
        assert str(info.value).startswith(f"{ann / TEST_CSV}:1: missing column(s) 'sentence' in the header")


@pytest.mark.parametrize(
    "data, message",
    [
        ("[]", "MSRVTT_data.json: expected a JSON object, got list"),
        ('{"videos": []}', "MSRVTT_data.json: expected a list of records under 'sentences', got NoneType"),
        ('{"sentences": {"0": {}}}', "MSRVTT_data.json: expected a list of records under 'sentences', got dict"),
        ('{"sentences": [', "MSRVTT_data.json: malformed JSON"),
    ],
)
def test_wrong_json_stops_in_both_modes(tmp_path, data, message):
    ann = _make(tmp_path)
    (ann / "MSRVTT_data.json").write_text(data)
    for mode in ("stop", "skip"):
        with pytest.raises(BadInputError, match=message):
            convert(ann, tmp_path / "db", on_error=mode, quiet=True)


def test_cli(tmp_path):
    ann = _make(tmp_path)
    cmd = [sys.executable, "-m", "txt_db_tools.msrvtt", "--ann-dir", str(ann), "--out", str(tmp_path / "db")]
    r = subprocess.run(cmd + ["--train-list", "7k"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "train: 18 written (listed_videos 9, sentences 24 in)" in r.stdout
    assert json.loads((tmp_path / "db" / "meta.json").read_text())["protocol"] == {"train": "7k", "test": "1k-A"}
    (ann / TEST_CSV).write_text("key,vid_key,video_id,sentence\nret0,msr9,video9\n")
    r = subprocess.run(cmd + ["--on-error", "stop"], capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr == f"error: {ann / TEST_CSV}:2: bad row: 3 fields, the header has 4\n"
    r = subprocess.run(cmd, capture_output=True, text=True)  # skip is the default
    assert r.returncode == 0 and "test: 0 written (rows 1 in), 1 source records dropped (bad row x1)" in r.stdout
