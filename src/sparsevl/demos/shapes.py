"""VideoQA and retrieval on the shapes demo: `sparsevl demo --out DIR [--task video_qa|retrieval]`.

    DIR/data/           demo videos and annotations (ActivityNet-QA / ActivityNet Captions formats)
    DIR/vis_db/         frames sampled by `extract-frames`
    DIR/txt_db/         questions converted by `txt_db_tools.activitynet_qa`        (video_qa)
    DIR/txt_db_ret/     captions converted by `txt_db_tools.activitynet_captions`   (retrieval)
    DIR/runs/NAME/      the training run of config NAME, with results/ for the held-out split
    DIR/report.html     the run's report (results, curves, examples with their frames), beside the
                        other runs of the same task in DIR/runs
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from sparsevl.demos import DemoOptions
from sparsevl.demos import stages as st
from sparsevl.problems import UserError

DEMO_VIDEOS = 4000  # more scenes than steps can memorise: the model has to learn the rule


@dataclasses.dataclass(frozen=True)
class Recipe:
    task: str  # what the config must train
    config: str  # shipped training config
    converter: str  # txt_db_tools module for the demo's annotations
    annotations: str  # the folder of DIR/data the converter reads
    txt_db: str  # folder under DIR
    held_out: str  # split evaluated at the end (the captions' val_2 file holds the test videos)


VIDEO_QA = Recipe("video_qa", "demo_qa.json", "txt_db_tools.activitynet_qa", "annotations", "txt_db", "test")
RETRIEVAL = Recipe("retrieval", "demo_retrieval.json", "txt_db_tools.activitynet_captions", "captions", "txt_db_ret", "val_2")


def video_qa(out: Path, options: DemoOptions) -> int:
    return run_recipe(VIDEO_QA, out, options)


def retrieval(out: Path, options: DemoOptions) -> int:
    return run_recipe(RETRIEVAL, out, options)


def run_recipe(recipe: Recipe, out: Path, options: DemoOptions) -> int:
    config = options.config or recipe.config
    cfg = st.run_config(config, [
        "--txt_db", str(out / recipe.txt_db), "--vis_db", str(out / "vis_db"),
        "--output_dir", str(out / "runs" / Path(config).stem), *options.overrides,
    ])
    if cfg.task != recipe.task:
        raise UserError(f"{config} is a {cfg.task} config; this demo trains {recipe.task} (--task {cfg.task}?)")
    stages = st.Stages(6)
    st.demo_data(out / "data", options.num_videos or DEMO_VIDEOS, options.seed, stages)
    st.frames(out / "data" / "videos", out / "vis_db", stages)
    st.annotations(recipe.converter, out / "data" / recipe.annotations, out / recipe.txt_db, stages)
    checkpoint = st.training(cfg, stages)
    st.evaluation(checkpoint, recipe.held_out, stages)
    st.report(Path(cfg.output_dir), recipe.held_out, out / "report.html", stages)
    stages.finish()
    return 0
