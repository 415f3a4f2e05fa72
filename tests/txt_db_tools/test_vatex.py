import json

import pytest

from sparsevl.txt_db import load_split
from sparsevl.problems import BadInputError
from txt_db_tools.vatex import convert

# Chinese captions as VATEX publishes them: full-width punctuation and digits, which any Unicode
# normalisation (NFKC) or ASCII escaping would change
ZH = ["一个男人正在厨房里切洋葱，然后把它们放进锅里。", "两个孩子在公园里踢足球，比分是１２比３。"]
TRAIN = [
    {"videoID": "Ptf_2VRj-V0_000122_000132", "enCap": ["A man cuts onions in a kitchen.", "Someone cooks."],
     "chCap": ZH},
    {"videoID": "--33Lscn6sk_000004_000014", "enCap": ["Kids play football in a park."], "chCap": ["孩子们在踢球。"]},
]


def _make(tmp_path, train=TRAIN, test=True):
    ann = tmp_path / "ann"
    ann.mkdir(exist_ok=True)
    (ann / "vatex_training_v1.0.json").write_text(json.dumps(train, ensure_ascii=False), encoding="utf-8")
    if test:
        (ann / "vatex_public_test_english_v1.1.json").write_text(json.dumps(
            [{"videoID": "abc_000001_000011", "enCap": ["A dog runs."]}]))
    return ann


def test_english_captions(tmp_path):
    meta = convert(_make(tmp_path), tmp_path / "db", on_error="stop", quiet=True)
    train = load_split(tmp_path / "db", "train")
    assert [(r["cid"], r["video_id"]) for r in train] == [
        ("Ptf_2VRj-V0_000122_000132_0", "Ptf_2VRj-V0_000122_000132"),
        ("Ptf_2VRj-V0_000122_000132_1", "Ptf_2VRj-V0_000122_000132"),
        ("--33Lscn6sk_000004_000014_0", "--33Lscn6sk_000004_000014")]
    assert len(load_split(tmp_path / "db", "test")) == 1 and meta["language"] == "en"


def test_chinese_captions_go_through_unchanged(tmp_path):
    meta = convert(_make(tmp_path), tmp_path / "db", language="zh", on_error="stop", quiet=True)
    train = load_split(tmp_path / "db", "train")
    assert [r["caption"] for r in train] == [*ZH, "孩子们在踢球。"]
    raw = (tmp_path / "db" / "train.jsonl").read_bytes()
    assert ZH[1].encode("utf-8") in raw and b"\\u" not in raw  # UTF-8 as is, no escapes
    # the English-only test file is not read for Chinese captions
    assert "test" not in meta["splits"] and meta["caption_field"] == "chCap"


def test_bad_captions(tmp_path):
    train = json.loads(json.dumps(TRAIN))
    train[0]["enCap"][1] = ""
    train[1]["enCap"] = "not a list"
    ann = _make(tmp_path, train, test=False)
    with pytest.raises(BadInputError, match=r"training_v1\.0\.json:video 1 \(videoID '--33Lscn6sk_000004_000014'\): "
                                            r"wrong field type: 'enCap' should be a list"):
        convert(ann, tmp_path / "db", on_error="stop", quiet=True)
    meta = convert(ann, tmp_path / "db", quiet=True)
    assert [r["cid"] for r in load_split(tmp_path / "db", "train")] == ["Ptf_2VRj-V0_000122_000132_0"]
    assert meta["splits"]["train"]["dropped_by_kind"] == {"bad caption": 1, "wrong field type": 1}
    log = (tmp_path / "db" / "problems.log").read_text(encoding="utf-8")
    assert "video 0 (videoID 'Ptf_2VRj-V0_000122_000132'): bad caption: enCap[1] should be a non-empty string" in log
