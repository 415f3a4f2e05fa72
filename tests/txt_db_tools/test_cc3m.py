import pytest

from sparsevl.txt_db import load_split
from sparsevl.problems import BadInputError
from txt_db_tools.cc3m import convert, image_name

VAL = "Validation_GCC-1.1.0-Validation.tsv"


def test_real_validation_tsv(real_ann, tmp_path):
    ann = real_ann("cc3m", VAL)
    meta = convert(ann, tmp_path / "db", on_error="stop", quiet=True)
    val = load_split(tmp_path / "db", "val")
    assert len(val) == meta["splits"]["val"]["written"] == 15_833
    assert val[0]["video_id"] == "0_1595581236" and val[0]["caption"] == "author : a life in photography -- in pictures"
    # names and captions as an independent list of the downloaded validation images has them
    # (showlab/Region_Learner, meta_data/cc3m_validation_success_full.tsv, rows 0-278)
    by_id = {r["video_id"]: r["caption"] for r in val}
    assert by_id["3_2841214833"] == "the player staring intently at a computer screen ."
    assert by_id["20_16666536"].startswith("pair of new bright orange modern sneakers")
    assert by_id["278_2694004967"] == "vector illustration of a banner for holiday ."


def test_image_name():
    url = "https://i.pinimg.com/736x/66/01/6c/66016c3ba27c0e04f39e2bd81a934e3e--anita-ekberg-bob-hope.jpg"
    assert image_name(0, url) == "0_1595581236"


def _write(tmp_path, name, text):
    ann = tmp_path / "ann"
    ann.mkdir(exist_ok=True)
    (ann / name).write_text(text, encoding="utf-8")
    return ann


def test_downloaded_list_layout(tmp_path):
    ann = _write(tmp_path, "cc3m_training_success_full.tsv",
                 'the player staring intently at a computer screen .\t3_2841214833\n'
                 'a "quoted" caption\ttraining/4_2703412885\n')
    meta = convert(ann, tmp_path / "db", on_error="stop", quiet=True)
    assert [(r["video_id"], r["caption"]) for r in load_split(tmp_path / "db", "train")] == [
        ("3_2841214833", "the player staring intently at a computer screen ."),
        ("4_2703412885", 'a "quoted" caption')]
    assert meta["splits"]["train"]["layout"] == "downloaded"


def test_bad_lines_and_both_layouts(tmp_path):
    ann = _write(tmp_path, VAL, "a cat\thttp://x/a.jpg\nno url here\nbad\tftp://x/b.jpg\nthird\thttp://x/c.jpg\n")
    with pytest.raises(BadInputError, match=r"Validation\.tsv:2: bad line: expected 'caption<TAB>url', got 1 fields"):
        convert(ann, tmp_path / "db", on_error="stop", quiet=True)
    meta = convert(ann, tmp_path / "db", quiet=True)
    assert [r["video_id"] for r in load_split(tmp_path / "db", "val")] == [
        image_name(0, "http://x/a.jpg"), image_name(3, "http://x/c.jpg")]
    assert meta["splits"]["val"]["dropped_by_kind"] == {"bad line": 1, "bad url": 1}
    _write(tmp_path, "cc3m_validation_success_full.tsv", "a\t1_2\n")
    with pytest.raises(BadInputError, match="both .* for split 'val'; keep one"):
        convert(ann, tmp_path / "db", quiet=True)
