"""`sparsevl predict --checkpoint CKPT --video FILE [--question TEXT | --caption TEXT ...]`

    sparsevl predict --checkpoint RUN/ckpt/step_N.pt --video clip.mp4 --question "what color is the circle"
    sparsevl predict --checkpoint RUN/ckpt/step_N.pt --video clip.mp4 --caption "a red circle moves left" --caption ...
"""

from __future__ import annotations

import argparse
from pathlib import Path

ACCEPTS_CONFIG_OVERRIDES = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="a ckpt/step_*.pt file written by train")
    parser.add_argument("--video", required=True, type=Path, help="a video file")
    parser.add_argument("--question", "--caption", "--text", dest="texts", action="append", default=[],
                        help="a question (video_qa), or a caption / option to score (retrieval, multiple "
                             "choice); repeatable")
    parser.add_argument("--captions-file", type=Path, default=None, help="more texts, one per line")


def run(args: argparse.Namespace) -> int:
    from sparsevl.problems import MissingInputError
    from sparsevl.runner.predict import predict

    texts = list(args.texts)
    if args.captions_file is not None:
        if not args.captions_file.is_file():
            raise MissingInputError(f"no captions file at {args.captions_file}")
        texts += [t for t in args.captions_file.read_text(encoding="utf-8").splitlines() if t.strip()]
    result = predict(args.checkpoint, args.video, texts, args.overrides)
    print(f"{args.video}: {result.num_frames} frames, {result.sampling}; {result.clips}")
    print(result.prediction.table)
    return 0
