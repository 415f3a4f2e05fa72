"""Benchmark inputs made from a few real video files: each re-encoded at several sizes and lengths.

    python benchmarks/real_videos.py SOURCE_DIR OUT_DIR

For every source file (e.g. the four real mp4s of the project's shared test data: 176x144 to
1280x720, 4-10 s) and every longer side in SIZES not above the source's (plus 2x for sources
smaller than 320 px, as CIF is of QCIF), the video is played 1, 2 and 3 times in a row
(`-stream_loop`) and re-encoded with the `ffmpeg` command line as H.264 in mp4 (libx264, preset
veryfast, CRF 23, its default keyframe interval, no audio). Four sources give 33 videos of 4-30 s.
Files already in OUT_DIR are kept, so the inputs are made once per machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path

SIZES = (1280, 640, 480, 320)  # longer side
LOOPS = (1, 2, 3)
EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov")


def probe_size(path: Path) -> tuple[int, int]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
         "-of", "json", str(path)], check=True, capture_output=True, text=True,
    ).stdout
    stream = json.loads(out)["streams"][0]
    return int(stream["width"]), int(stream["height"])


def target_sides(width: int, height: int) -> list[int]:
    longer = max(width, height)
    sides = sorted({longer, *(s for s in SIZES if s < longer)}, reverse=True)
    if longer < 320:
        sides.insert(0, 2 * longer)
    return sides


def make_inputs(source_dir: Path, out_dir: Path) -> list[Path]:
    if shutil.which("ffmpeg") is None:
        raise SystemExit("the ffmpeg command line is needed (e.g. apt-get install ffmpeg)")
    out_dir.mkdir(parents=True, exist_ok=True)
    made = []
    for source in sorted(p for p in source_dir.iterdir() if p.suffix.lower() in EXTENSIONS):
        width, height = probe_size(source)
        for side in target_sides(width, height):
            # even sizes (H.264 4:2:0 needs them), longer side = `side`, aspect kept
            scale = f"scale={side}:-2" if width >= height else f"scale=-2:{side}"
            for loops in LOOPS:
                out = out_dir / f"{source.stem}_{side}_x{loops}.mp4"
                if not out.exists():
                    tmp = out.with_suffix(".part.mp4")
                    subprocess.run(
                        ["ffmpeg", "-v", "error", "-y", "-stream_loop", str(loops - 1), "-i", str(source),
                         "-an", "-vf", scale, "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
                         "-pix_fmt", "yuv420p", str(tmp)], check=True,
                    )
                    tmp.replace(out)  # a killed run leaves no half-written input behind
                made.append(out)
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args()
    for path in make_inputs(args.source_dir, args.out_dir):
        print(path)


if __name__ == "__main__":
    main()
