import pickle

import pytest

from sparsevl.txt_db import load_split
from sparsevl.problems import BadInputError
from txt_db_tools.msvd_ret import convert

LISTS = ("train_list.txt", "val_list.txt", "test_list.txt")


def test_real_split_lists(real_ann, tmp_path):
    """The published 1,200 / 100 / 670 lists, with two captions per clip in CLIP4Clip's pickle form."""
    real = real_ann("msvd_ret", *LISTS)
    ann = tmp_path / "ann"
    ann.mkdir()
    clips = []
    for name in LISTS:
        (ann / name).write_bytes((real / name).read_bytes())
        clips += (real / name).read_text().split()
    pickle.dump({c: [["a", "clip", c], ["another", "caption"]] for c in clips}, open(ann / "raw-captions.pkl", "wb"))
    meta = convert(ann, tmp_path / "db", on_error="stop", quiet=True)
    videos = {s: meta["splits"][s]["videos"] for s in ("train", "val", "test")}
    assert videos == {"train": 1200, "val": 100, "test": 670}
    test = load_split(tmp_path / "db", "test")
    assert len(test) == 1340 and test[0]["caption"] == f"a clip {test[0]['video_id']}"
    assert test[0]["cid"] == f"{test[0]['video_id']}_0" and meta["captions"]["file"] == "raw-captions.pkl"


DESCRIPTIONS = """# MSVD English descriptions
# clip description
-4wsuPCjDBc_5_15 a squirrel is eating a peanut in it's shell.
-4wsuPCjDBc_5_15 A chipmunk is eating.
-7KMZQEsJW4_205_208 A woman is slicing a tomato.
-7KMZQEsJW4_205_208
"""


def _make(tmp_path, text=DESCRIPTIONS, pkl=None):
    ann = tmp_path / "ann"
    ann.mkdir(exist_ok=True)
    (ann / "train_list.txt").write_text("-4wsuPCjDBc_5_15\n-7KMZQEsJW4_205_208")
    (ann / "test_list.txt").write_text("-8y1Q0rA3n8_108_115\n")
    if text is not None:
        (ann / "AllVideoDescriptions.txt").write_text(text)
    if pkl is not None:
        (ann / "raw-captions.pkl").write_bytes(pkl)
    return ann


def test_text_descriptions(tmp_path):
    ann = _make(tmp_path)
    with pytest.raises(BadInputError, match=r"AllVideoDescriptions\.txt:6: bad line"):
        convert(ann, tmp_path / "db", on_error="stop", quiet=True)
    meta = convert(ann, tmp_path / "db", quiet=True)
    assert [(r["cid"], r["caption"]) for r in load_split(tmp_path / "db", "train")] == [
        ("-4wsuPCjDBc_5_15_0", "a squirrel is eating a peanut in it's shell."),
        ("-4wsuPCjDBc_5_15_1", "A chipmunk is eating."),
        ("-7KMZQEsJW4_205_208_0", "A woman is slicing a tomato.")]
    assert meta["splits"]["test"]["dropped_by_kind"] == {"video without captions": 1}
    assert meta["captions"]["dropped"] == 1 and meta["problems"]["count"] == 2


class _Payload:
    def __reduce__(self):
        return (print, ("loaded",))


def test_caption_forms_and_refused_pickle(tmp_path):
    ann = _make(tmp_path, pkl=pickle.dumps({"-4wsuPCjDBc_5_15": [["a", "squirrel"]]}))
    with pytest.raises(BadInputError, match="both of raw-captions.pkl and AllVideoDescriptions.txt; choose one"):
        convert(ann, tmp_path / "db", quiet=True)
    convert(ann, tmp_path / "db", captions="pkl", quiet=True)
    assert [r["caption"] for r in load_split(tmp_path / "db", "train")] == ["a squirrel"]
    (ann / "raw-captions.pkl").write_bytes(pickle.dumps({"-4wsuPCjDBc_5_15": [_Payload()]}))
    with pytest.raises(BadInputError, match=r"raw-captions\.pkl: refused: the pickle names 'builtins\.print'"):
        convert(ann, tmp_path / "db", captions="pkl", quiet=True)
