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

import argparse
import os
import re
from pathlib import Path

from sparsevl.problems import BadInputError, ProblemLog
from txt_db_tools.common import (
    DEFAULT_TOP_K,
    SplitLog,
    file_info,
    keep_unique,
    line_number,
    read_text_lines,
    run_cli,
    split_counts,
)
from txt_db_tools.msrvtt_qa import VideoOf, build_parser as qa_parser, convert_qa_json

CONVERTER = "txt_db_tools.msvd_qa"
MAPPING_FILE = "youtube_mapping.txt"
VID = re.compile(r"vid(\d+)")


def read_mapping(path: Path, log: SplitLog) -> tuple[dict[int, str], int]:
    """youtube_mapping.txt as {N: clip name}, and its number of non-blank lines."""
    lines = read_text_lines(path)
    entries = []
    for n, text in lines:
        fields = text.split()
        match = VID.fullmatch(fields[-1]) if len(fields) == 2 else None
        if match is None:
            log.drop(path, f"bad line: expected '<youtube clip> vid<N>', got {text.strip()!r}", n)
            continue
        entries.append((n, {"clip": fields[0], "vid": int(match.group(1))}))
    by_vid, _ = keep_unique(entries, "vid", path, log, line_number)
    by_clip, _ = keep_unique(list(by_vid.values()), "clip", path, log, line_number)
    return {rec["vid"]: rec["clip"] for _, rec in by_clip.values()}, len(lines)


def _mapping_reader(ann_dir: Path):
    def read(problems: ProblemLog) -> tuple[VideoOf, list[dict], dict]:
        path = ann_dir / MAPPING_FILE
        if not path.is_file():
            raise BadInputError(f"{path}: not found; MSVD-QA needs it to name the videos of vid<N>")
        log = SplitLog(problems, "video mapping")
        clips, n_lines = read_mapping(path, log)

        def video_of(n: int) -> tuple[str | None, str | None]:
            if n in clips:
                return clips[n], None
            return None, f"unknown video: no vid{n} in {MAPPING_FILE}"

        counts = {"file": MAPPING_FILE, **split_counts(log, len(clips), lines=n_lines)}
        return video_of, [file_info(path)], counts

    return read


def convert(
    ann_dir: str | os.PathLike,
    out: str | os.PathLike,
    top_k: int = DEFAULT_TOP_K,
    on_error: str = "stop",
    ans2label: str | os.PathLike | None = None,
    quiet: bool = False,
) -> dict:
    """Convert every split found in `ann_dir` into the txt_db folder `out`; returns its meta.

    Raises BadInputError on bad input in stop mode, on malformed JSON, when no split is found or
    when youtube_mapping.txt is missing.
    """
    ann_dir = Path(ann_dir)
    return convert_qa_json(
        ann_dir, Path(out), dataset="MSVD-QA", converter=CONVERTER, top_k=top_k, on_error=on_error,
        ans2label=ans2label, quiet=quiet, video_of=_mapping_reader(ann_dir),
    )


def build_parser() -> argparse.ArgumentParser:
    return qa_parser(CONVERTER, __doc__)


def main(argv: list[str] | None = None) -> int:
    return run_cli(
        lambda a: convert(a.ann_dir, a.out, a.top_k, a.on_error, a.ans2label),
        build_parser(),
        argv,
    )


if __name__ == "__main__":
    raise SystemExit(main())
