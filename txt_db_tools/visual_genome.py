"""Visual Genome region descriptions (published release) -> txt_db for image-text pre-training.

    python -m txt_db_tools.visual_genome --ann-dir DIR --out TXT_DB [--on-error skip|stop]

DIR holds `region_descriptions.json` (Visual Genome v1.2): a JSON list of images, {id: image id,
regions: [{region_id, image_id, phrase, x, y, width, height}, ...]}. Visual Genome has no
published split: everything becomes the split `train`.

One record per region, in file order: {cid: region_id, video_id: the image id as a string (the
release names its images `<image id>.jpg`, so this is the file's stem: images are 1-frame videos),
caption: phrase (as published), box: [x, y, width, height] in pixels, image_id}. A region whose
image_id is not its image's id, whose box is not four whole numbers with a positive width and
height, or whose phrase is empty is unusable; a region_id given twice drops every region of it.
"""

from __future__ import annotations

from txt_db_tools.common import Converter, SplitInput
from txt_db_tools.sources import brief, keep_unique, keep_valid, load_json_list, split_counts

IMAGE_FIELDS = {"id": int, "regions": list}
REGION_FIELDS = {"region_id": int, "image_id": int, "phrase": str, "x": int, "y": int, "width": int, "height": int}


def _where_image(index: int, image_id=None) -> str:
    return f"image {index}" + (f" (id {brief(image_id)})" if image_id is not None else "")


def read_split(split: SplitInput) -> tuple[list[dict], dict]:
    path, log = split.files["regions"], split.log
    images = load_json_list(path)
    usable_images = keep_valid(enumerate(images), IMAGE_FIELDS, path, log, _where_image, key="id")
    regions, n_regions = [], 0
    for i, image in usable_images:
        n_regions += len(image["regions"])

        def where(j, region_id=None, i=i, image_id=image["id"]):
            return f"{_where_image(i, image_id)} region {j}" + (f" (region_id {region_id})" if region_id else "")

        def region_problem(region: dict, image_id=image["id"]) -> str | None:
            if region["image_id"] != image_id:
                return f"image mismatch: image_id {region['image_id']} in the regions of image {image_id}"
            if region["width"] <= 0 or region["height"] <= 0:
                return f"bad box: width {region['width']}, height {region['height']} must be positive"
            return None

        usable = keep_valid(enumerate(image["regions"]), REGION_FIELDS, path, log, where, key="region_id",
                            check=region_problem)
        regions += [(where(j, r["region_id"]), r) for j, r in usable]
    unique, _ = keep_unique(regions, "region_id", path, log, lambda where, _: where)
    records = [
        {"cid": r["region_id"], "video_id": str(r["image_id"]), "caption": r["phrase"],
         "box": [r["x"], r["y"], r["width"], r["height"]], "image_id": r["image_id"]}
        for _, r in unique.values()
    ]
    counts = split_counts(log, len(records), images=len(images), regions_of_usable_images=n_regions)
    counts["images"] = len({r["video_id"] for r in records})
    return records, counts


CONVERTER = Converter(
    module="txt_db_tools.visual_genome",
    doc=__doc__,
    dataset="Visual Genome regions",
    task="pretrain",
    files={"train": {"regions": "region_descriptions.json"}},
    read_split=read_split,
    meta={"images": "1-frame videos: video_id is the image id, the stem of <id>.jpg; box is [x, y, w, h]"},
)
convert = CONVERTER.convert
main = CONVERTER.main

if __name__ == "__main__":
    raise SystemExit(main())
