import json

import pytest

from sparsevl.txt_db import load_split
from sparsevl.problems import BadInputError
from txt_db_tools.coco_captions import convert


def test_real_val2017(real_ann, tmp_path):
    ann = real_ann("coco_captions", "captions_val2017.json")
    meta = convert(ann, tmp_path / "db", on_error="stop", quiet=True)
    val = load_split(tmp_path / "db", "val")
    assert len(val) == meta["splits"]["val"]["written"] == 25_014
    assert meta["splits"]["val"]["images"] == 5_000 and meta["task"] == "pretrain"
    assert val[0] == {"cid": 38, "video_id": "000000179765", "image_id": 179765,
                      "caption": "A black Honda motorcycle parked in front of a garage."}
    assert all(len(r["video_id"]) == 12 and r["video_id"].isdigit() for r in val)
    assert len({r["cid"] for r in val}) == len(val)


# ---------------------------------------------------------------------------- fixtures, published schema


def _images():
    return [{"license": 3, "file_name": f"COCO_train2014_{n:012d}.jpg", "height": 480, "width": 640, "id": n,
             "coco_url": f"http://images.cocodataset.org/train2014/COCO_train2014_{n:012d}.jpg"} for n in (9, 25)]


def _captions():
    return [{"image_id": 9, "id": 48, "caption": "Closeup of bins of food that include broccoli and bread."},
            {"image_id": 25, "id": 122, "caption": "A giraffe eating food from the top of the tree. "},
            {"image_id": 9, "id": 67, "caption": "A meal is presented in brightly colored plastic trays."}]


def _make(tmp_path, images, captions):
    ann = tmp_path / "ann"
    ann.mkdir(exist_ok=True)
    data = {"info": {"year": 2014}, "images": images, "licenses": [], "annotations": captions}
    (ann / "captions_train2014.json").write_text(json.dumps(data))
    return ann


def test_2014_layout_keeps_captions_as_published(tmp_path):
    meta = convert(_make(tmp_path, _images(), _captions()), tmp_path / "db", year="2014", on_error="stop", quiet=True)
    train = load_split(tmp_path / "db", "train")
    assert [(r["cid"], r["video_id"]) for r in train] == [
        (48, "COCO_train2014_000000000009"), (122, "COCO_train2014_000000000025"), (67, "COCO_train2014_000000000009")]
    assert train[1]["caption"] == "A giraffe eating food from the top of the tree. "  # not stripped
    assert meta["missing_splits"] == {"val": "missing captions_val2014.json"}


@pytest.mark.parametrize("change, where, message", [
    (lambda i, c: c.append({"image_id": 99, "id": 7, "caption": "x"}), "annotation 3 (id 7)", "unknown image"),
    (lambda i, c: c.append(dict(c[0])), "annotation 0 (id 48)", "duplicate id: id 48 also at record(s) 3"),
    (lambda i, c: c[0].__setitem__("caption", ""), "annotation 0 (id 48)", "empty field: 'caption'"),
    (lambda i, c: i[0].pop("file_name"), "image 0 (id 9)", "missing field: 'file_name'"),
])
def test_bad_records(tmp_path, change, where, message):
    images, captions = _images(), _captions()
    change(images, captions)
    ann = _make(tmp_path, images, captions)
    with pytest.raises(BadInputError) as info:
        convert(ann, tmp_path / "db", year="2014", on_error="stop", quiet=True)
    assert str(info.value).startswith(f"{ann / 'captions_train2014.json'}:{where}: {message}"), str(info.value)
    meta = convert(ann, tmp_path / "db", year="2014", quiet=True)
    assert meta["problems"]["count"] >= 1 and message.split(":")[0] in meta["splits"]["train"]["dropped_by_kind"]


def test_missing_list_is_an_error(tmp_path):
    ann = tmp_path / "ann"
    ann.mkdir()
    (ann / "captions_val2017.json").write_text('{"images": []}')
    with pytest.raises(BadInputError, match=r"captions_val2017\.json: expected a list of records under 'annotations'"):
        convert(ann, tmp_path / "db", quiet=True)
