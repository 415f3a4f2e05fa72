import json
import re

import pytest

from sparsevl.txt_db import load_split
from sparsevl.problems import BadInputError
from txt_db_tools.visual_genome import convert


def _regions():  # region_descriptions.json as published (v1.2)
    return [
        {"regions": [
            {"region_id": 1382, "width": 82, "height": 139, "image_id": 1, "phrase": "the clock is green in colour",
             "y": 57, "x": 421},
            {"region_id": 1383, "width": 182, "height": 109, "image_id": 1, "phrase": "shade is along the street ",
             "y": 372, "x": 194}], "id": 1},
        {"regions": [{"region_id": 4091, "width": 40, "height": 38, "image_id": 2, "phrase": "a white car",
                      "y": 320, "x": 318}], "id": 2},
    ]


def _make(tmp_path, regions):
    ann = tmp_path / "ann"
    ann.mkdir(exist_ok=True)
    (ann / "region_descriptions.json").write_text(json.dumps(regions))
    return ann


def test_one_record_per_region_with_its_box(tmp_path):
    meta = convert(_make(tmp_path, _regions()), tmp_path / "db", on_error="stop", quiet=True)
    train = load_split(tmp_path / "db", "train")
    assert train[0] == {"cid": 1382, "video_id": "1", "caption": "the clock is green in colour",
                        "box": [421, 57, 82, 139], "image_id": 1}
    assert [r["video_id"] for r in train] == ["1", "1", "2"] and meta["splits"]["train"]["images"] == 2


@pytest.mark.parametrize("change, where, message", [
    (lambda r: r[1]["regions"][0].__setitem__("image_id", 1), "image 1 (id 2) region 0 (region_id 4091)",
     "image mismatch"),
    (lambda r: r[0]["regions"][1].__setitem__("width", 0), "image 0 (id 1) region 1 (region_id 1383)", "bad box"),
    (lambda r: r[0]["regions"][1].__setitem__("x", 1.5), "image 0 (id 1) region 1 (region_id 1383)",
     "wrong field type: 'x'"),
    (lambda r: r[1]["regions"].append(dict(r[0]["regions"][0], image_id=2)),
     "image 0 (id 1) region 0 (region_id 1382)", "duplicate id"),
])
def test_bad_regions(tmp_path, change, where, message):
    regions = _regions()
    change(regions)
    ann = _make(tmp_path, regions)
    with pytest.raises(BadInputError, match=re.escape(f"region_descriptions.json:{where}: {message}")):
        convert(ann, tmp_path / "db", on_error="stop", quiet=True)
    meta = convert(ann, tmp_path / "db", quiet=True)
    assert message.split(":")[0] in meta["splits"]["train"]["dropped_by_kind"]
