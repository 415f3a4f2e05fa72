"""Synthetic action videos whose class depends on the order of the frames, and still images of
the same objects, written as real video files with Kinetics-style `<video> <label>` lists.

`generate_actions(OUT, spec)`: one shape moves in one of four directions and turns from one
colour to the other half-way: 8 classes, `{direction}_{first}_to_{second}` ("left_red_to_blue").
Any single frame, and the mean of a video's frames, cannot tell "left, red to blue" from "right,
blue to red": both show the same frames (in the reverse order), because start positions and the
moment of the change are drawn symmetrically. A model that averages frames is at chance between
those two; it takes the order of the frames to be right.

`generate_stills(OUT, spec)`: one-frame videos of one still shape; 15 classes `{colour}_{shape}`,
for pre-training an image model on single frames.

Both write (deterministically from the seed)

    OUT/videos/<class>/<name>.mp4                     OpenCV VideoWriter, mp4v
    OUT/lists/{kind}_{split}_list_videos.txt          `<class>/<name>.mp4 <label>`, MMAction2's format

so `txt_db_tools.video_list` converts the lists (class names from the folders) and
`sparsevl extract-frames` stores each class folder's frames.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

from tqdm import tqdm

from sparsevl.data.demo_data import DIRECTIONS, SHAPES, DemoSpec, Scene, ShapeTrack, write_video

ACTION_COLOURS = ("red", "blue")
STILL_COLOURS = ("red", "green", "blue", "yellow", "white")
SPLITS = ("train", "val", "test")


@dataclasses.dataclass(frozen=True)
class ActionSpec:
    num_videos: int = 1600
    seed: int = 0
    size: int = 32  # frame width and height, pixels
    frames: int = 16
    fps: int = 8
    radius: tuple[int, int] = (4, 6)  # half the extent of the shape, drawn per video
    travel: float = 0.45  # distance moved over the whole video, as a fraction of the frame size
    change: tuple[float, float] = (0.375, 0.625)  # when the colour changes, as a fraction of the video
    split_fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)


@dataclasses.dataclass(frozen=True)
class StillSpec:
    num_images: int = 2000
    seed: int = 0
    size: int = 32
    radius: tuple[int, int] = (4, 6)
    split_fractions: tuple[float, float, float] = (0.9, 0.1, 0.0)


def action_classes() -> list[str]:
    first, second = ACTION_COLOURS
    return [f"{d}_{a}_to_{b}" for d in DIRECTIONS for a, b in ((first, second), (second, first))]


def still_classes() -> list[str]:
    return [f"{c}_{s}" for c in STILL_COLOURS for s in SHAPES]


def _split_names(n: int, fractions: tuple[float, ...], rng: random.Random) -> list[str]:
    counts = [int(round(n * f)) for f in fractions[:-1]]
    names = [s for s, c in zip(SPLITS, counts) for _ in range(c)]
    names += [SPLITS[len(counts)]] * (n - len(names))
    rng.shuffle(names)
    return names


def _start(rng: random.Random, direction: str, size: int, margin: int, span: float) -> tuple[float, float]:
    """A start from which the whole path stays inside the frame, uniform over those: so the set of
    positions a path covers is distributed the same for opposite directions."""
    dx, dy = DIRECTIONS[direction]
    x = rng.uniform(margin + (span if dx < 0 else 0), size - margin - (span if dx > 0 else 0))
    y = rng.uniform(margin + (span if dy < 0 else 0), size - margin - (span if dy > 0 else 0))
    return x, y


def action_scene(rng: random.Random, spec: ActionSpec, name: str, label: int) -> tuple[Scene, DemoSpec]:
    direction, order = divmod(label, 2)
    direction = list(DIRECTIONS)[direction]
    first, second = ACTION_COLOURS if order == 0 else ACTION_COLOURS[::-1]
    radius = rng.randint(*spec.radius)
    render = DemoSpec(size=spec.size, fps=spec.fps, seconds=spec.frames / spec.fps, radius=radius)
    span = spec.travel * spec.size
    step = span / (spec.frames - 1)
    dx, dy = DIRECTIONS[direction]
    # the change is drawn symmetrically about the middle, so reversing a video keeps its distribution
    change = int(round(spec.frames * rng.uniform(*spec.change)))
    track = ShapeTrack(rng.choice(SHAPES), first, direction, _start(rng, direction, spec.size, radius + 2, span),
                       (dx * step, dy * step), new_color=second, change_frame=change)
    return Scene(name, [track]), render


def _write_lists(out: Path, kind: str, rows: dict[str, list[str]]) -> None:
    (out / "lists").mkdir(parents=True, exist_ok=True)
    for split, lines in rows.items():
        if lines:
            (out / "lists" / f"{kind}_{split}_list_videos.txt").write_text("".join(f"{line}\n" for line in lines))


def generate_actions(out_dir: str | Path, spec: ActionSpec = ActionSpec(), progress: bool = True) -> dict[str, int]:
    """Write the action videos and their lists; returns videos per split."""
    out = Path(out_dir)
    classes = action_classes()
    rng = random.Random(spec.seed)
    splits = _split_names(spec.num_videos, spec.split_fractions, rng)
    rows: dict[str, list[str]] = {s: [] for s in SPLITS}
    for i in tqdm(range(spec.num_videos), desc="action videos", unit="video", disable=not progress):
        name, label = f"act{i:05d}", i % len(classes)  # balanced classes
        vrng = random.Random(f"{spec.seed}/{name}")
        scene, render = action_scene(vrng, spec, name, label)
        folder = out / "videos" / classes[label]
        folder.mkdir(parents=True, exist_ok=True)
        write_video(folder / f"{name}.mp4", scene, render)
        rows[splits[i]].append(f"{classes[label]}/{name}.mp4 {label}")
    _write_lists(out, "actions", rows)  # last: its presence means the data is complete
    return {s: len(r) for s, r in rows.items()}


def generate_stills(out_dir: str | Path, spec: StillSpec = StillSpec(), progress: bool = True) -> dict[str, int]:
    """Write the one-frame videos and their lists; returns images per split."""
    out = Path(out_dir)
    classes = still_classes()
    rng = random.Random(spec.seed)
    splits = _split_names(spec.num_images, spec.split_fractions, rng)
    rows: dict[str, list[str]] = {s: [] for s in SPLITS}
    for i in tqdm(range(spec.num_images), desc="still images", unit="image", disable=not progress):
        name, label = f"still{i:05d}", i % len(classes)
        vrng = random.Random(f"{spec.seed}/{name}")
        colour, shape = STILL_COLOURS[label // len(SHAPES)], SHAPES[label % len(SHAPES)]
        radius = vrng.randint(*spec.radius)
        render = DemoSpec(size=spec.size, fps=1, seconds=1.0, radius=radius)
        margin = radius + 2
        centre = (vrng.uniform(margin, spec.size - margin), vrng.uniform(margin, spec.size - margin))
        scene = Scene(name, [ShapeTrack(shape, colour, "left", centre, (0.0, 0.0))])
        folder = out / "videos" / classes[label]
        folder.mkdir(parents=True, exist_ok=True)
        write_video(folder / f"{name}.mp4", scene, render)
        rows[splits[i]].append(f"{classes[label]}/{name}.mp4 {label}")
    _write_lists(out, "stills", rows)
    return {s: len(r) for s, r in rows.items()}


def class_folders(out_dir: str | Path) -> list[Path]:
    """The class folders of a generated set (extract-frames reads one folder at a time)."""
    return sorted(p for p in (Path(out_dir) / "videos").iterdir() if p.is_dir())
