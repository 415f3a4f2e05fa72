import json

import pytest

from sparsevl.txt_db import load_split
from sparsevl.problems import BadInputError, ProblemLog
from txt_db_tools.common import SplitLog
from txt_db_tools.msvd_qa import MAPPING_FILE, convert, read_mapping


def _log(mode="skip"):
    return SplitLog(ProblemLog(None, on_error=mode), "video mapping")


def test_real_mapping_has_1970_videos(real_ann):
    path = real_ann("msvd_qa", MAPPING_FILE) / MAPPING_FILE
    clips, n_lines = read_mapping(path, _log("stop"))
    assert n_lines == len(clips) == 1970
    assert sorted(clips) == list(range(1, 1971))
    # the first and last lines, by hand (the file has CRLF line ends and no final one)
    assert clips[1] == "-4wsuPCjDBc_5_15" and clips[2] == "-7KMZQEsJW4_205_208"
    assert clips[1970] == "zzit5b_-ukg_5_20"


# ---------------------------------------------------------------------------- fixtures, published schema

MAPPING = "-4wsuPCjDBc_5_15 vid1\r\n-7KMZQEsJW4_205_208 vid2\r\n-8y1Q0rA3n8_108_115 vid3"


def _qa(i, video, question, answer):
    return {"answer": answer, "id": i, "question": question, "video_id": video}


def _good():
    return [_qa(0, 1, "what is chewing on a nut?", "animal"), _qa(1, 2, "who slices a tomato?", "woman"),
            _qa(2, 3, "what does a man play?", "guitar")]


def _make(tmp_path, records, mapping=MAPPING):
    ann = tmp_path / "ann"
    ann.mkdir(exist_ok=True)
    (ann / "train_qa.json").write_text(json.dumps(records))
    if mapping is not None:
        (ann / MAPPING_FILE).write_text(mapping, newline="")
    return ann


def test_small_conversion_maps_videos(tmp_path):
    meta = convert(_make(tmp_path, _good()), tmp_path / "db", quiet=True)
    train = load_split(tmp_path / "db", "train")
    assert train[0] == {"qid": 0, "video_id": "-4wsuPCjDBc_5_15", "question": "what is chewing on a nut?",
                        "answer": "animal", "answer_type": "what"}
    assert [r["video_id"] for r in train] == ["-4wsuPCjDBc_5_15", "-7KMZQEsJW4_205_208", "-8y1Q0rA3n8_108_115"]
    assert meta["dataset"] == "MSVD-QA" and meta["converter"] == "txt_db_tools.msvd_qa"
    assert meta["video_mapping"]["lines_in"] == meta["video_mapping"]["written"] == 3
    assert [s["name"] for s in meta["sources"]] == [MAPPING_FILE, "train_qa.json"]


def test_unknown_video(tmp_path):
    records = _good() + [_qa(3, 4, "what is a cat doing?", "sleep")]
    ann = _make(tmp_path, records)
    with pytest.raises(BadInputError, match=r"train_qa\.json:record 3 \(id 3\): unknown video: no vid4 in youtube"):
        convert(ann, tmp_path / "db", on_error="stop", quiet=True)
    meta = convert(ann, tmp_path / "db", on_error="skip", quiet=True)
    assert meta["splits"]["train"]["dropped_by_kind"] == {"unknown video": 1}
    assert len(load_split(tmp_path / "db", "train")) == 3


BAD_MAPPINGS = {
    # name: (mapping text, line, message start, videos kept in skip mode)
    "three fields": ("-4wsuPCjDBc_5_15 vid1 x\n-7KMZQEsJW4_205_208 vid2\n", 1,
                     "bad line: expected '<youtube clip> vid<N>'", 1),
    "not vid<N>": ("-4wsuPCjDBc_5_15 1\n-7KMZQEsJW4_205_208 vid2\n", 1, "bad line", 1),
    "repeated N": ("-4wsuPCjDBc_5_15 vid1\n\n-7KMZQEsJW4_205_208 vid1\nabc_1_2 vid2\n", 1,
                   "duplicate id: vid 1 also at record(s) 3", 1),
}


@pytest.mark.parametrize("case", list(BAD_MAPPINGS))
def test_bad_mapping_line(tmp_path, case):
    text, line, message, kept = BAD_MAPPINGS[case]
    ann = _make(tmp_path, _good()[:2], mapping=text)
    with pytest.raises(BadInputError) as info:
        convert(ann, tmp_path / "db", on_error="stop", quiet=True)
    assert str(info.value).startswith(f"{ann / MAPPING_FILE}:{line}: {message}"), str(info.value)
    meta = convert(ann, tmp_path / "db", on_error="skip", quiet=True)
    assert meta["video_mapping"]["written"] == kept
    assert meta["splits"]["train"]["written"] == kept  # the questions of the lost videos are dropped
    assert f"{ann / MAPPING_FILE}:{line}: {message}" in (tmp_path / "db" / "problems.log").read_text()


def test_missing_mapping_is_an_error(tmp_path):
    ann = _make(tmp_path, _good(), mapping=None)
    with pytest.raises(BadInputError, match=r"youtube_mapping\.txt: not found"):
        convert(ann, tmp_path / "db", quiet=True)
