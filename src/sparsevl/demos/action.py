"""Action recognition on a frozen image transformer: `sparsevl demo --task classification --out DIR`.

No pretrained weights can be downloaded here, so the demo makes its own image model first: a small
ViT trained on single frames (colour and shape of one still object), saved in OpenAI CLIP's layout.
Then, on synthetic action videos whose class needs the order of the frames (`action_videos`), it
trains four video models on that ViT and evaluates them on held-out videos:

    frozen_mean     frozen ViT, class tokens averaged over the frames (blind to order)
    st_adapter      frozen ViT + ST-Adapters
    divided         frozen ViT + divided space-time attention (trained temporal attention)
    full_finetune   every weight trained, class tokens averaged over the frames

    DIR/stills/, DIR/actions/        videos in class folders and Kinetics-style lists
    DIR/vis_db_stills/, DIR/vis_db/  frames (extract-frames, one class folder at a time)
    DIR/txt_db_stills/, DIR/txt_db/  the lists converted by txt_db_tools.video_list
    DIR/runs/pretrain/               the ViT trained on single frames
    DIR/pretrained/vit_clip.pt       its image transformer in OpenAI CLIP's layout
    DIR/runs/{variant}/              each variant's run, results/ for the held-out split
    DIR/results.md                   the comparison table

`--config FILE` replaces the variants' base config (`demo_action.json`); other `--key value`
pairs override every training run, pre-training included.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from sparsevl.data.action_videos import ActionSpec, StillSpec, class_folders, generate_actions, generate_stills
from sparsevl.data.extract_frames import extract_frames
from sparsevl.demos import DemoOptions
from sparsevl.demos import stages as st
from sparsevl.models.vit_weights import clip_openai_state_dict
from sparsevl.problems import UserError
from sparsevl.runner.checkpoint import restore, save_checkpoint
from sparsevl.tables import format_table
from sparsevl.tasks.config import RunConfig

PRETRAIN_CONFIG = "demo_action_pretrain.json"
CONFIG = "demo_action.json"
ACTION_VIDEOS = 1600
STILL_IMAGES = 2000
ACTION_FPS = 8.0  # frames stored per second of an action video
HELD_OUT = "test"
VIDEO_LIST = "txt_db_tools.video_list"


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    title: str
    overrides: tuple[str, ...]
    trains: str  # what is trained, in words


VARIANTS = (
    Variant("frozen_mean", "frozen ViT + mean over frames", ("--model.freeze_backbone", "true"), "head only"),
    Variant("st_adapter", "frozen ViT + ST-Adapter",
            ("--model.freeze_backbone", "true", "--model.adapter.type", "st"), "adapters + head"),
    # the whole attention layers of the temporal blocks and every weight of a full fine-tune take
    # lower learning rates than the config's (0.02, for the zero-initialised adapters and the head)
    Variant("divided", "frozen ViT + divided space-time attention",
            ("--model.freeze_backbone", "true", "--model.attention_type", "divided_space_time", "--lr", "3e-3"),
            "temporal attention + head"),
    Variant("full_finetune", "full fine-tune, mean over frames",
            ("--model.freeze_backbone", "false", "--lr", "1e-3"), "all"),
)


def run(out: Path, options: DemoOptions) -> int:
    stages = st.Stages(7 + 2 * len(VARIANTS))
    n_videos = options.num_videos or ACTION_VIDEOS
    # a smaller demo (e.g. a smoke test) gets proportionally fewer still images
    n_stills = STILL_IMAGES if options.num_videos is None else max(30, options.num_videos)
    videos(out, n_videos, n_stills, options.seed, stages)
    frames(out, stages)
    annotations(out, stages)
    pretrained = pretrain(out, options, stages)
    results = []
    for variant in VARIANTS:
        cfg = variant_config(out, variant, pretrained, options)
        checkpoint = st.training(cfg, stages)
        evaluation = st.evaluation(checkpoint, HELD_OUT, stages)
        results.append(row(variant, Path(cfg.output_dir), evaluation.metrics))
    stages.next(f"comparison -> {out / 'results.md'}")
    table = format_table(("Variant", "Trained", "Trainable params", "Total params", "Top-1", "Top-5", "Mean class"),
                         results)
    print(table)
    (out / "results.md").write_text(f"Held-out split `{HELD_OUT}` of {out / 'txt_db'}\n\n{table}\n")
    stages.finish()
    return 0


def videos(out: Path, n_videos: int, n_stills: int, seed: int, stages: st.Stages) -> None:
    """Still images for pre-training and action videos, each skipped when its lists exist."""
    for kind, folder, make in (
        ("stills", out / "stills", lambda: generate_stills(out / "stills", StillSpec(num_images=n_stills, seed=seed))),
        ("actions", out / "actions", lambda: generate_actions(out / "actions", ActionSpec(num_videos=n_videos, seed=seed))),
    ):
        if (folder / "lists").is_dir():  # written last
            stages.next(f"{kind}: reusing {folder}")
        else:
            stages.next(f"{kind} -> {folder}")
            make()


def frames(out: Path, stages: st.Stages) -> None:
    """Every frame of the videos (8 fps), one class folder at a time (Kinetics keeps its videos in
    class folders; extract-frames reads one folder and adds to the store)."""
    stages.next(f"frames -> {out / 'vis_db_stills'}, {out / 'vis_db'}")
    for source, vis_db, fps in ((out / "stills", out / "vis_db_stills", 1.0), (out / "actions", out / "vis_db", ACTION_FPS)):
        stored = 0
        for folder in class_folders(source):
            stored += extract_frames(folder, vis_db, fps=fps, max_size=ActionSpec.size, workers=0, progress=False).stored
        print(f"{vis_db}: {stored} videos stored")


def annotations(out: Path, stages: st.Stages) -> None:
    """The lists, converted as a user's Kinetics-style lists are."""
    st.annotations(VIDEO_LIST, out / "stills" / "lists", out / "txt_db_stills", stages)
    st.annotations(VIDEO_LIST, out / "actions" / "lists", out / "txt_db", stages)


def pretrain(out: Path, options: DemoOptions, stages: st.Stages) -> Path:
    """Train the ViT on single still frames, then write its image transformer in CLIP's layout."""
    cfg = st.run_config(PRETRAIN_CONFIG, [
        "--txt_db", str(out / "txt_db_stills"), "--vis_db", str(out / "vis_db_stills"),
        "--output_dir", str(out / "runs" / "pretrain"), *options.overrides,
    ])
    checkpoint = st.training(cfg, stages)
    target = out / "pretrained" / "vit_clip.pt"
    vit = restore(checkpoint).model.vit
    save_checkpoint(target, clip_openai_state_dict(vit))
    print(f"pre-trained ViT ({sum(p.numel() for p in vit.parameters()) / 1e6:.2f}M parameters) -> {target}")
    return target


def variant_config(out: Path, variant: Variant, pretrained: Path, options: DemoOptions) -> RunConfig:
    config = options.config or CONFIG
    cfg = st.run_config(config, [
        "--txt_db", str(out / "txt_db"), "--vis_db", str(out / "vis_db"), "--output_dir", str(out / "runs" / variant.name),
        "--model.backbone_dir", str(pretrained), *variant.overrides, *options.overrides,
    ])
    if cfg.task != "classification":
        raise UserError(f"{config} is a {cfg.task} config; this demo trains classification")
    return cfg


def row(variant: Variant, run_dir: Path, metrics: dict) -> tuple[str, ...]:
    """A variant's line of the table; the parameter counts are those its run logged."""
    logged = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    counts = next(r for r in reversed(logged) if "model/parameters" in r)
    return (variant.title, variant.trains, f"{counts['model/trainable_parameters']:,}", f"{counts['model/parameters']:,}",
            f"{metrics['top1']:.1f}", f"{metrics['top5']:.1f}", f"{metrics['mean_class']:.1f}")
