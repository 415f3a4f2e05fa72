"""Every config shipped in sparsevl/configs (configs/ in the repository) loads into RunConfig,
validation included, so a broken one fails CI; and `config_file` finds them by name."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sparsevl.config import load_config
from sparsevl.configs import CONFIGS_DIR, config_file
from sparsevl.models.pretrained import CHECKPOINT_LAYOUTS
from sparsevl.problems import MissingInputError
from sparsevl.tasks.config import RunConfig

CONFIGS = CONFIGS_DIR
ALL = sorted(CONFIGS.rglob("*.json"))
# The configs of the ClipBERT paper's runs: configs/{dataset_task}/{backbone}.json
PAPER = [p for p in ALL if p.parent != CONFIGS and p.parent.name != "container"]
MOUNTS = ("/txt/", "/vis/", "/storage/", "/pretrain/")  # launch_container.sh's mounts


def placeholders(data: dict) -> list[str]:
    """What the demo fills in itself (sparsevl demo): data and run paths, and the packaged
    EfficientNet-Lite0 checkpoint; a path need not exist for a config to load."""
    overrides = []
    for key in ("txt_db", "vis_db", "output_dir"):
        if not data.get(key):
            overrides += [f"--{key}", f"/placeholder/{key}"]
    model = data.get("model", {})
    needs_folder = model.get("backbone") in CHECKPOINT_LAYOUTS and model.get("backbone") != "efficientnet_lite0"
    if needs_folder and not model.get("backbone_dir"):
        overrides += ["--model.backbone_dir", "/placeholder/backbone"]
    return overrides


def test_there_are_configs():
    assert len(ALL) >= 4 and len(PAPER) >= 12


def test_the_repository_configs_folder_is_the_shipped_one():
    assert (Path(__file__).resolve().parents[2] / "configs").resolve() == CONFIGS_DIR


def test_config_file_finds_shipped_configs_by_name_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert config_file("demo_qa.json") == CONFIGS_DIR / "demo_qa.json"
    assert config_file("configs/msrvtt_qa/resnet50.json") == CONFIGS_DIR / "msrvtt_qa" / "resnet50.json"
    (tmp_path / "demo_qa.json").write_text("{}")  # a file of that name here wins
    assert config_file("demo_qa.json") == Path("demo_qa.json")
    with pytest.raises(MissingInputError, match=r"no config file nope.json: not a file, nor one of .*demo_qa.json"):
        config_file("nope.json")


@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_config_loads(path, capsys):
    data = json.loads(path.read_text())
    cfg = load_config(RunConfig, path, placeholders(data))
    assert isinstance(cfg, RunConfig)
    assert capsys.readouterr().err == ""  # our format: no ClipBERT report


@pytest.mark.parametrize("path", PAPER, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_paper_configs_use_the_container_mounts(path):
    cfg = load_config(RunConfig, path)  # complete as they are: no placeholder needed
    paths = [cfg.txt_db, cfg.vis_db, cfg.output_dir, cfg.model.backbone_dir]
    if cfg.model.architecture == "cross_encoder":  # ClipBERT's runs: named by backbone, with a text model
        paths.append(cfg.model.text_model_dir)
        assert cfg.model.backbone == path.stem
    else:  # action recognition, BT-Adapter: named by method and backbone (st_adapter_vit_b16, webvid2m_vit_l14)
        assert re.search(r"vit_(b16|l14)$", path.stem) and cfg.model.backbone == "clip_vit"
    assert all(p and p.startswith(MOUNTS) for p in paths), paths


def test_readme_lists_every_config():
    readme = (CONFIGS / "README.md").read_text()
    listed = set(re.findall(r"`([\w/]+\.json)`", readme))
    assert {str(p.relative_to(CONFIGS)) for p in PAPER} <= listed
    assert all((CONFIGS / name).is_file() for name in listed if "/" in name), listed


@pytest.mark.parametrize("backbone", ["resnet50", "clip_vit"])
def test_msrvtt_mc_evaluates_the_msrvtt_retrieval_run(backbone):
    """Zero-shot: the retrieval checkpoint must load into the MC model, and the results go to its run."""
    mc = load_config(RunConfig, CONFIGS / "msrvtt_mc" / f"{backbone}.json")
    ret = load_config(RunConfig, CONFIGS / "msrvtt_ret" / f"{backbone}.json")
    assert (mc.task, ret.task) == ("multiple_choice", "retrieval")
    assert mc.model == ret.model
    assert mc.output_dir == ret.output_dir and mc.vis_db == ret.vis_db
