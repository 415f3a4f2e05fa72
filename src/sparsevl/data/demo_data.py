"""Synthetic demo data: videos of coloured shapes moving on a plain background.

`generate(OUT_DIR, spec)` (`sparsevl demo-data OUT_DIR`) writes, deterministically from the seed:

    OUT_DIR/videos/v_<video_name>.mp4          real video files (OpenCV VideoWriter, mp4v)
    OUT_DIR/annotations/{split}_q.json         ActivityNet-QA questions  (video_name, question, question_id)
    OUT_DIR/annotations/{split}_a.json         ActivityNet-QA answers    (answer, type, question_id)
    OUT_DIR/captions/{train,val_1,val_2}.json  ActivityNet Captions      (duration, timestamps, sentences)

so the same converters and tools that read the published datasets read the demo. The caption
files carry ActivityNet Captions' published names: val_1.json holds the val videos and val_2.json
the test videos (in the real dataset both annotate the same validation videos).

Every question needs the video: the scene is random and each question is about one scene. Two
kinds need several frames *in order*, which is what separates an order-aware model from ClipBERT's
mean pooling: motion (type 0: "what direction does the red circle move") and temporal order
(type 2: one object changes colour half-way; "what color does the square turn"). A frame-order-free
model sees the same set of positions or colours for "left" and "right", "before" and "after".
"""

from __future__ import annotations

import dataclasses
import math
import random
from pathlib import Path

import cv2
import numpy as np
import orjson
from tqdm import tqdm

# RGB; far apart so that mp4 compression and JPEG cannot blur one into another.
COLORS = {
    "red": (230, 30, 30),
    "green": (30, 200, 40),
    "blue": (40, 80, 255),
    "yellow": (250, 230, 20),
    "white": (250, 250, 250),
}
SHAPES = ("circle", "square", "triangle")
DIRECTIONS = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
BACKGROUND = (60, 60, 60)

# demo split -> ActivityNet Captions file name
CAPTION_FILES = {"train": "train", "val": "val_1", "test": "val_2"}

# ActivityNet-QA type codes.
MOTION, SPATIAL, TEMPORAL, YES_NO, COLOR, OBJECT, LOCATION, NUMBER, OTHER = range(9)


@dataclasses.dataclass(frozen=True)
class DemoSpec:
    """What one demo dataset looks like."""

    num_videos: int = 500
    seed: int = 0
    size: int = 96  # frame width and height, pixels
    fps: int = 8
    seconds: float = 3.0
    radius: int = 13  # half the extent of a shape, pixels
    travel: float = 0.45  # distance moved over the whole video, as a fraction of the frame size
    split_fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)  # train, val, test

    @property
    def num_frames(self) -> int:
        return int(round(self.fps * self.seconds))


@dataclasses.dataclass
class ShapeTrack:
    shape: str
    color: str
    direction: str
    start: tuple[float, float]  # centre at t=0, pixels
    velocity: tuple[float, float]  # pixels per frame
    new_color: str | None = None  # colour after `change_frame`, if the object changes colour
    change_frame: int = 0

    def center(self, frame: int) -> tuple[float, float]:
        return (self.start[0] + self.velocity[0] * frame, self.start[1] + self.velocity[1] * frame)

    def color_at(self, frame: int) -> str:
        return self.new_color if self.new_color and frame >= self.change_frame else self.color


@dataclasses.dataclass
class Scene:
    video_name: str
    objects: list[ShapeTrack]


def _sample_scene(rng: random.Random, spec: DemoSpec, video_name: str) -> Scene:
    """Rejection-sample 1-3 objects that stay inside the frame and never overlap.

    The number of objects is drawn first and kept while placements are retried, so crowded scenes
    are not under-represented.
    """
    n_frames = spec.num_frames
    step = spec.travel * spec.size / (n_frames - 1)
    margin = spec.radius + 2
    n_obj = rng.choices((1, 2, 3), weights=(0.2, 0.4, 0.4))[0]
    while True:
        shapes = rng.sample(SHAPES, n_obj)
        colors = rng.sample(list(COLORS), n_obj)
        objects = []
        for shape, color in zip(shapes, colors):
            direction = rng.choice(list(DIRECTIONS))
            dx, dy = DIRECTIONS[direction]
            span = spec.travel * spec.size
            # the start is drawn so that the whole path stays inside the frame
            lo_x = margin + (span if dx < 0 else 0)
            hi_x = spec.size - margin - (span if dx > 0 else 0)
            lo_y = margin + (span if dy < 0 else 0)
            hi_y = spec.size - margin - (span if dy > 0 else 0)
            start = (rng.uniform(lo_x, hi_x), rng.uniform(lo_y, hi_y))
            objects.append(ShapeTrack(shape, color, direction, start, (dx * step, dy * step)))
        if _never_overlap(objects, n_frames, min_dist=2 * spec.radius + 4):
            break
    if rng.random() < 0.5:
        changer = rng.choice(objects)
        unused = [c for c in COLORS if c not in {o.color for o in objects}]
        changer.new_color = rng.choice(unused)
        changer.change_frame = int(round(n_frames * rng.uniform(0.4, 0.6)))
    return Scene(video_name, objects)


def _never_overlap(objects: list[ShapeTrack], n_frames: int, min_dist: float) -> bool:
    for f in range(n_frames):
        centers = [o.center(f) for o in objects]
        for i in range(len(centers)):
            for j in range(i + 1, len(centers)):
                if math.dist(centers[i], centers[j]) < min_dist:
                    return False
    return True


def render_frame(scene: Scene, frame: int, spec: DemoSpec) -> np.ndarray:
    """One RGB frame (H, W, 3) uint8."""
    img = np.empty((spec.size, spec.size, 3), np.uint8)
    img[:] = BACKGROUND
    r = spec.radius
    for obj in scene.objects:
        cx, cy = obj.center(frame)
        color = COLORS[obj.color_at(frame)]
        c = (int(round(cx)), int(round(cy)))
        if obj.shape == "circle":
            cv2.circle(img, c, r, color, -1, cv2.LINE_AA)
        elif obj.shape == "square":
            s = int(round(r * 0.85))
            cv2.rectangle(img, (c[0] - s, c[1] - s), (c[0] + s, c[1] + s), color, -1)
        else:
            pts = np.array([[c[0], c[1] - r], [c[0] - r, c[1] + r - 2], [c[0] + r, c[1] + r - 2]], np.int32)
            cv2.fillPoly(img, [pts], color, cv2.LINE_AA)
    return img


def write_video(path: Path, scene: Scene, spec: DemoSpec) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), spec.fps, (spec.size, spec.size))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path} (mp4v codec unavailable?)")
    try:
        for f in range(spec.num_frames):
            writer.write(cv2.cvtColor(render_frame(scene, f, spec), cv2.COLOR_RGB2BGR))
    finally:
        writer.release()


def _ref(rng: random.Random, obj: ShapeTrack) -> str:
    """How a question names an object: shapes are unique in a scene; a colour is added when stable."""
    if obj.new_color is None and rng.random() < 0.5:
        return f"{obj.color} {obj.shape}"
    return obj.shape


def _spatial_relation(a: ShapeTrack, b: ShapeTrack, n_frames: int, gap: float) -> str | None:
    """Where `a` is relative to `b` if that holds in every frame, else None."""
    rel = None
    for name, axis, sign in (("left", 0, -1), ("right", 0, 1), ("above", 1, -1), ("below", 1, 1)):
        if all(sign * (a.center(f)[axis] - b.center(f)[axis]) > gap for f in range(n_frames)):
            rel = name
            break
    return rel


def make_questions(rng: random.Random, scene: Scene, spec: DemoSpec) -> list[tuple[str, str, int]]:
    """(question, answer, ActivityNet-QA type code) about one scene."""
    qa: list[tuple[str, str, int]] = []
    objs = scene.objects
    stable = [o for o in objs if o.new_color is None]
    for o in objs:
        qa.append((f"what direction does the {_ref(rng, o)} move", o.direction, MOTION))
    pairs = [(a, b) for a in objs for b in objs if a is not b]
    rng.shuffle(pairs)
    for a, b in pairs:
        rel = _spatial_relation(a, b, spec.num_frames, gap=spec.radius)
        if rel:
            qa.append((f"where is the {_ref(rng, a)} relative to the {_ref(rng, b)}", rel, SPATIAL))
            break
    for o in objs:
        if o.new_color:
            if rng.random() < 0.5:
                qa.append((f"what color does the {o.shape} turn", o.new_color, TEMPORAL))
            else:
                qa.append((f"what color is the {o.shape} before it changes", o.color, TEMPORAL))
    if stable:
        o = rng.choice(stable)
        qa.append((f"what color is the {o.shape}", o.color, COLOR))
        o = rng.choice(stable)
        qa.append((f"what shape is the {o.color} object", o.shape, OBJECT))
    # yes/no, balanced: a stable object that is there, or a colour-shape pair that is not
    used_colors = {c for o in objs for c in (o.color, o.new_color) if c}
    present = {(o.color, o.shape) for o in stable}
    if stable and rng.random() < 0.5:
        color, shape = rng.choice(sorted(present))
        qa.append((f"is there a {color} {shape}", "yes", YES_NO))
    else:
        absent = [(c, s) for c in COLORS for s in SHAPES if (c, s) not in present and c not in used_colors]
        absent += [(c, s) for c in COLORS for s in SHAPES if c in {o.color for o in stable} and (c, s) not in present]
        color, shape = rng.choice(sorted(set(absent)))
        qa.append((f"is there a {color} {shape}", "no", YES_NO))
    qa.append(("how many objects are there", str(len(objs)), NUMBER))
    return qa


def make_captions(scene: Scene, spec: DemoSpec) -> dict:
    """ActivityNet Captions record: one sentence per event, with its time span."""
    duration = spec.seconds
    sentences, stamps = [], []
    for o in scene.objects:
        verb = "moves up" if o.direction == "up" else "moves down" if o.direction == "down" else f"moves {o.direction}"
        sentences.append(f"A {o.color} {o.shape} {verb}.")
        stamps.append([0.0, duration])
        if o.new_color:
            t = round(o.change_frame / spec.fps, 2)
            sentences.append(f"The {o.shape} turns {o.new_color}.")
            stamps.append([max(0.0, round(t - 0.5, 2)), min(duration, round(t + 0.5, 2))])
    return {"duration": duration, "timestamps": stamps, "sentences": sentences}


def _split_names(spec: DemoSpec, rng: random.Random) -> list[str]:
    n = spec.num_videos
    n_train = int(round(n * spec.split_fractions[0]))
    n_val = int(round(n * spec.split_fractions[1]))
    names = ["train"] * n_train + ["val"] * n_val + ["test"] * (n - n_train - n_val)
    rng.shuffle(names)
    return names


def generate(out_dir: str | Path, spec: DemoSpec = DemoSpec(), progress: bool = True) -> dict:
    """Write the demo dataset; returns counts per split. Deterministic from `spec.seed`."""
    out = Path(out_dir)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    (out / "captions").mkdir(parents=True, exist_ok=True)
    rng = random.Random(spec.seed)
    splits = _split_names(spec, rng)
    questions: dict[str, list] = {"train": [], "val": [], "test": []}
    answers: dict[str, list] = {"train": [], "val": [], "test": []}
    captions: dict[str, dict] = {"train": {}, "val": {}, "test": {}}
    for i in tqdm(range(spec.num_videos), desc="demo videos", disable=not progress, unit="video"):
        video_name = f"demo{i:05d}"
        # one generator per video: a video's content does not depend on how many come before it
        vrng = random.Random(f"{spec.seed}/{video_name}")
        scene = _sample_scene(vrng, spec, video_name)
        write_video(out / "videos" / f"v_{video_name}.mp4", scene, spec)
        split = splits[i]
        for k, (q, a, qtype) in enumerate(make_questions(vrng, scene, spec)):
            qid = f"v_{video_name}_{k}"
            questions[split].append({"video_name": video_name, "question": q, "question_id": qid})
            answers[split].append({"answer": a, "type": qtype, "question_id": qid})
        captions[split][f"v_{video_name}"] = make_captions(scene, spec)
    for split in questions:
        (out / "annotations" / f"{split}_q.json").write_bytes(orjson.dumps(questions[split]))
        (out / "annotations" / f"{split}_a.json").write_bytes(orjson.dumps(answers[split]))
        (out / "captions" / f"{CAPTION_FILES[split]}.json").write_bytes(
            orjson.dumps(captions[split], option=orjson.OPT_INDENT_2)
        )
    return {split: {"videos": len(captions[split]), "questions": len(questions[split])} for split in questions}
