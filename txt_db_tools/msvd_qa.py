"""MSVD-QA (published release) -> txt_db.

    python -m txt_db_tools.msvd_qa --ann-dir DIR --out TXT_DB [--top-k K] [--ans2label FILE]
                                   [--on-error skip|stop]

DIR holds `{train,val,test}_qa.json` (Xu et al., 2017; the MSRVTT-QA format: JSON lists of
{"question", "answer", "video_id": int, "id": int}) and `youtube_mapping.txt`, one line per MSVD
video, `<youtube id>_<start>_<end> vid<N>` (1,970 lines): the QA files name a video by N, the
video files of MSVD (YouTubeClips/*.avi) are named by the first field. Every split whose QA file
is there is converted; the mapping is required.

Records as for MSRVTT-QA (see txt_db_tools/msrvtt_qa.py: qid, answer_type from the question's
first word, extra source fields kept), with `video_id` the clip name mapped from `vid<N>`
(`-4wsuPCjDBc_5_15`). A mapping line that is not `<clip> vid<N>`, or that repeats an N or a clip,
is unusable; a question whose N is not in the mapping is dropped as "unknown video".
"""

from __future__ import annotations

import re
from pathlib import Path

from sparsevl.problems import BadInputError, ProblemLog
from txt_db_tools import msrvtt_qa
from txt_db_tools.common import Converter, Options, Shared, SplitInput
from txt_db_tools.sources import SplitLog, brief, keep_unique, line_number, read_text_lines, split_counts, whole_number

MAPPING_FILE = "youtube_mapping.txt"
VID = re.compile(r"vid([0-9]+)")


def read_mapping(path: Path, log: SplitLog) -> tuple[dict[int, str], int]:
    """youtube_mapping.txt as {N: clip name}, and its number of non-blank lines."""
    lines = read_text_lines(path)
    entries = []
    for n, text in lines:
        fields = text.split()
        match = VID.fullmatch(fields[-1]) if len(fields) == 2 else None
        if match is None or whole_number(match.group(1)) is None:
            log.drop(path, f"bad line: expected '<youtube clip> vid<N>', got {brief(text.strip())}", n)
            continue
        entries.append((n, {"clip": fields[0], "vid": whole_number(match.group(1))}))
    by_vid, _ = keep_unique(entries, "vid", path, log, line_number)
    by_clip, _ = keep_unique(list(by_vid.values()), "clip", path, log, line_number)
    return {rec["vid"]: rec["clip"] for _, rec in by_clip.values()}, len(lines)


def read_shared(ann_dir: Path, problems: ProblemLog, _: Options) -> Shared:
    """The video mapping every split needs, its counts under meta.json's `video_mapping`."""
    path = ann_dir / MAPPING_FILE
    if not path.is_file():
        raise BadInputError(f"{path}: not found; MSVD-QA needs it to name the videos of vid<N>")
    log = SplitLog(problems, "video mapping")
    clips, n_lines = read_mapping(path, log)
    counts = {"file": MAPPING_FILE, **split_counts(log, len(clips), lines=n_lines)}
    return Shared(clips, (path,), {"video_mapping": counts})


def read_split(split: SplitInput) -> tuple[list[dict], dict]:
    clips: dict[int, str] = split.shared

    def video_of(n: int) -> tuple[str | None, str | None]:
        if n in clips:
            return clips[n], None
        return None, f"unknown video: no vid{n} in {MAPPING_FILE}"

    return msrvtt_qa.read_qa_split(split, video_of)


CONVERTER = Converter(
    module="txt_db_tools.msvd_qa",
    doc=__doc__,
    dataset="MSVD-QA",
    task="video_qa",
    files=msrvtt_qa.FILES,
    read_split=read_split,
    answer_vocab=True,
    read_shared=read_shared,
    meta=msrvtt_qa.META,
)
convert = CONVERTER.convert
main = CONVERTER.main

if __name__ == "__main__":
    raise SystemExit(main())
