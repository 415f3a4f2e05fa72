"""`sparsevl extract-frames VIDEO_DIR|--video-list FILE VIS_DB [--shard I/N] [--fps F | --num-frames N] [--max-size S] [--workers W]`"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sparsevl.data.extract_frames import DEFAULT_VIDEO_TIMEOUT, check_options, extract_frames, find_inputs
from sparsevl.data.image_io import IMAGE_EXTENSIONS
from sparsevl.data.shard_plan import Shard, read_video_list
from sparsevl.data.video_io import DEFAULT_FPS, DEFAULT_MAX_SIZE, DEFAULT_QUALITY
from sparsevl.video_ids import VIDEO_EXTENSIONS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    exts = ", ".join(e.lstrip(".") for e in VIDEO_EXTENSIONS)
    image_exts = ", ".join(e.lstrip(".") for e in IMAGE_EXTENSIONS)
    parser.description = (
        f"Sample frames of every video file ({exts}) directly inside VIDEO_DIR (not subfolders), or "
        "listed in --video-list FILE, into the LMDB vis_db VIS_DB; video id = file name without "
        f"extension. Image files ({image_exts}, or images without an extension) are stored as "
        "1-frame videos. Re-running resumes. With --shard I/N only shard I of N (by a hash of the video "
        "id), for N machines each writing its own VIS_DB; `sparsevl vis-db index` then joins them."
    )
    parser.add_argument("video_dir", metavar="VIDEO_DIR", type=Path, nargs="?", help="folder of video and image files")
    parser.add_argument("vis_db", metavar="VIS_DB", type=Path, help="output folder (an LMDB)")
    parser.add_argument("--video-list", type=Path, default=None, metavar="FILE",
                        help="instead of VIDEO_DIR: a file of video or image paths, one per line (relative to its folder)")
    parser.add_argument("--shard", default=None, metavar="I/N",
                        help="extract only shard I of N (0 <= I < N), e.g. $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--fps", type=float, default=None, metavar="F",
        help=f"frames per second to store (default {DEFAULT_FPS:g} when --num-frames is not given)",
    )
    mode.add_argument(
        "--num-frames", type=int, default=None, metavar="N",
        help="store N frames spread uniformly over each video",
    )
    parser.add_argument(
        "--max-size", type=int, default=DEFAULT_MAX_SIZE, metavar="S",
        help=f"resize so the longer side is at most S pixels, never upscale; 0 keeps the source "
        f"size (default {DEFAULT_MAX_SIZE})",
    )
    parser.add_argument(
        "--workers", type=int, default=None, metavar="W",
        help="decoding processes (default min(4, CPUs); 0 = in this process)",
    )
    parser.add_argument(
        "--quality", type=int, default=DEFAULT_QUALITY, metavar="Q",
        help=f"JPEG quality 1-100 (default {DEFAULT_QUALITY})",
    )
    parser.add_argument(
        "--video-timeout", type=float, default=DEFAULT_VIDEO_TIMEOUT, metavar="SECONDS",
        help=f"skip a video whose decoding takes longer (a hanging decoder); 0: no limit (default {DEFAULT_VIDEO_TIMEOUT:g})",
    )
    parser.add_argument(
        "--on-error", choices=("skip", "stop"), default="skip",
        help="a broken video: report and skip it (default), or stop the run",
    )


def run(args: argparse.Namespace) -> int:
    from sparsevl.problems import BadInputError, UserError

    check_options(args.fps, args.num_frames, args.max_size, args.quality)
    if (args.video_dir is None) == (args.video_list is None):
        raise UserError("give VIDEO_DIR or --video-list FILE (one of them), then VIS_DB")
    shard = Shard.parse(args.shard) if args.shard is not None else None
    videos = read_video_list(args.video_list) if args.video_list is not None else None
    source = args.video_list or args.video_dir
    if (videos is not None and not videos) or (args.video_dir and args.video_dir.is_dir() and not find_inputs(args.video_dir)):
        print(f"extract-frames: no video or image files in {source}", file=sys.stderr)
        return 1
    try:
        summary = extract_frames(
            args.video_dir, args.vis_db, fps=args.fps, num_frames=args.num_frames,
            max_size=args.max_size, workers=args.workers, quality=args.quality,
            on_error=args.on_error, video_timeout=args.video_timeout or None, videos=videos, shard=shard,
        )
    except BadInputError as e:
        print(f"extract-frames: stopped (--on-error stop): {e}", file=sys.stderr)
        print("videos stored so far are kept; re-run to resume", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nextract-frames: interrupted; the videos stored so far are kept, re-run to resume",
              file=sys.stderr)
        return 130
    print(f"shard {shard} of {source}: {summary}" if shard else summary)
    return 0
