"""COCO captions (published release) -> txt_db for image-text pre-training.

    python -m txt_db_tools.coco_captions --ann-dir DIR --out TXT_DB [--year 2017|2014] [--on-error skip|stop]

DIR holds `captions_train{year}.json` and/or `captions_val{year}.json` (the COCO annotation
release): a JSON object with `images` (list of {id, file_name, ...}) and `annotations` (list of
{id, image_id, caption}). They become the splits `train` and `val`.

One record per caption, in the annotation file's order: {cid: the annotation id, video_id: the
image file's stem, caption (as published), image_id}. Images are 1-frame videos: `video_id` is
the stem of `file_name` (`000000397133.jpg` -> `000000397133`; the 2014 release names its images
`COCO_val2014_000000391895.jpg`), the id frames are stored under. An image or annotation id given
twice drops every entry of it; a caption of an image the file does not list is unusable.
"""

from __future__ import annotations

from sparsevl.problems import BadInputError
from txt_db_tools.common import Converter, Option, SplitInput
from txt_db_tools.sources import (
    brief,
    image_stem,
    keep_unique,
    keep_valid,
    load_json_object,
    record_locator,
    split_counts,
    with_source_fields,
)

IMAGE_FIELDS = {"id": int, "file_name": str}
CAPTION_FIELDS = {"id": int, "image_id": int, "caption": str}
_where_image = record_locator("id", noun="image")
_where_caption = record_locator("id", noun="annotation")


def _list_under(path, data: dict, key: str) -> list:
    value = data.get(key)
    if not isinstance(value, list):
        raise BadInputError(f"{path}: expected a list of records under {key!r}, got {type(value).__name__}")
    return value


def read_split(split: SplitInput) -> tuple[list[dict], dict]:
    path, log = split.files["captions"], split.log
    data = load_json_object(path)
    images_raw, captions_raw = _list_under(path, data, "images"), _list_under(path, data, "annotations")

    def image_problem(image: dict) -> str | None:
        return None if image_stem(image["file_name"]) else f"bad file_name: {brief(image['file_name'])}"

    usable = keep_valid(enumerate(images_raw), IMAGE_FIELDS, path, log, _where_image, key="id", check=image_problem)
    images, _ = keep_unique(usable, "id", path, log, _where_image)

    def caption_problem(caption: dict) -> str | None:
        if caption["image_id"] not in images:
            return f"unknown image: no usable image with id {caption['image_id']} in 'images'"
        return None

    usable = keep_valid(enumerate(captions_raw), CAPTION_FIELDS, path, log, _where_caption, key="id",
                        check=caption_problem)
    captions, _ = keep_unique(usable, "id", path, log, _where_caption)
    records = []
    for _, c in captions.values():
        record = {"cid": c["id"], "video_id": image_stem(images[c["image_id"]][1]["file_name"]),
                  "caption": c["caption"]}
        records.append(with_source_fields(record, c, consumed=("id",)))
    counts = split_counts(log, len(records), images=len(images_raw), annotations=len(captions_raw))
    counts["images"] = len({r["video_id"] for r in records})
    return records, counts


CONVERTER = Converter(
    module="txt_db_tools.coco_captions",
    doc=__doc__,
    dataset="COCO captions",
    task="pretrain",
    files={split: {"captions": f"captions_{split}{{year}}.json"} for split in ("train", "val")},
    read_split=read_split,
    options=(Option("--year", default="2017", choices=("2017", "2014"),
                    help="the release: captions_{train,val}2017.json (default) or ...2014.json"),),
    meta={"images": "1-frame videos: video_id is the image file's stem"},
)
convert = CONVERTER.convert
main = CONVERTER.main

if __name__ == "__main__":
    raise SystemExit(main())
