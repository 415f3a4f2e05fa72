"""MSVD text-to-video retrieval (the 1,200 / 100 / 670 split) -> txt_db.

    python -m txt_db_tools.msvd_ret --ann-dir DIR --out TXT_DB [--captions auto|pkl|txt] [--on-error skip|stop]

DIR holds the split lists `train_list.txt`, `val_list.txt`, `test_list.txt` (one clip per line,
`-4wsuPCjDBc_5_15`; the lists of albanie/collaborative-experts that CLIP4Clip's msvd_data uses) and
the captions in one of two published forms:
- `raw-captions.pkl` (CLIP4Clip, collaborative-experts): {clip: [[token, ...], ...]}, read with a
  reader that accepts plain data only (no class in the pickle is ever loaded);
- `AllVideoDescriptions.txt` (the MSVD release): lines `<clip> <description>`, `#` comment lines.
`--captions` chooses (default: whichever is there; both is an error asking to choose).

One record per caption, for each listed clip in list order: {cid: "<clip>_<n>" (n counts that
clip's captions from 0), video_id: clip (the stem of MSVD's YouTubeClips/<clip>.avi), caption}:
the tokens joined by single spaces (as CLIP4Clip joins them), or the description as published. A
listed clip without captions is unusable; a caption that is not text is dropped.
"""

from __future__ import annotations

from pathlib import Path

from sparsevl.problems import BadInputError, ProblemLog
from txt_db_tools.common import Converter, Option, Options, Shared, SplitInput, each_split
from txt_db_tools.sources import (
    SplitLog,
    brief,
    load_token_lists,
    read_id_list,
    read_text_lines,
    split_counts,
)

SPLITS = ("train", "val", "test")
CAPTION_FILES = {"pkl": "raw-captions.pkl", "txt": "AllVideoDescriptions.txt"}


def _captions_from_pickle(path: Path, log: SplitLog) -> dict[str, list[str]]:
    return load_token_lists(path, log, "clip", "caption")


def _captions_from_text(path: Path, log: SplitLog) -> dict[str, list[str]]:
    captions: dict[str, list[str]] = {}
    for n, line in read_text_lines(path):
        if line.lstrip().startswith("#"):
            continue
        clip, _, description = line.strip().partition(" ")
        if not description.strip():
            log.drop(path, f"bad line: expected '<clip> <description>', got {brief(line.strip())}", n)
            continue
        captions.setdefault(clip, []).append(description.strip())
    return captions


def read_shared(ann_dir: Path, problems: ProblemLog, opts: Options) -> Shared:
    """The captions of every clip, from the file `--captions` chooses."""
    present = [kind for kind, name in CAPTION_FILES.items() if (ann_dir / name).is_file()]
    kind = opts["captions"]
    if kind == "auto":
        if len(present) != 1:
            names = " and ".join(CAPTION_FILES.values())
            found = "both" if present else "neither"
            raise BadInputError(f"{ann_dir}: {found} of {names}; " + (
                "choose one with --captions pkl|txt" if present else "MSVD retrieval needs the captions"))
        kind = present[0]
    path = ann_dir / CAPTION_FILES[kind]
    if not path.is_file():
        raise BadInputError(f"{path}: not found (--captions {kind})")
    log = SplitLog(problems, "captions")
    captions = (_captions_from_pickle if kind == "pkl" else _captions_from_text)(path, log)
    n_captions = sum(len(texts) for texts in captions.values())
    counts = {"file": path.name, **split_counts(log, n_captions, clips=len(captions))}
    return Shared(captions, (path,), {"captions": counts})


def read_split(split: SplitInput) -> tuple[list[dict], dict]:
    path, log, captions = split.files["list"], split.log, split.shared
    listed, n_lines = read_id_list(path, log)
    records = []
    for clip, n in listed.items():
        if not captions.get(clip):
            log.drop(path, f"video without captions: no caption of {brief(clip)}", n)
            continue
        records += [{"cid": f"{clip}_{i}", "video_id": clip, "caption": text} for i, text in enumerate(captions[clip])]
    counts = split_counts(log, len(records), listed_videos=n_lines)
    counts["videos"] = len({r["video_id"] for r in records})
    return records, counts


CONVERTER = Converter(
    module="txt_db_tools.msvd_ret",
    doc=__doc__,
    dataset="MSVD retrieval",
    task="retrieval",
    files=each_split(SPLITS, list="{split}_list.txt"),
    read_split=read_split,
    read_shared=read_shared,
    options=(Option("--captions", default="auto", choices=("auto", "pkl", "txt"),
                    help="captions from raw-captions.pkl or AllVideoDescriptions.txt (default: the one there)"),),
    meta={"protocol": "text-to-video retrieval, every caption of each listed clip (1,200 / 100 / 670 clips)"},
)
convert = CONVERTER.convert
main = CONVERTER.main

if __name__ == "__main__":
    raise SystemExit(main())
