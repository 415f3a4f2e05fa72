"""The ViT of the video classifier: adapter sizes, zero-initialised video parts, and parity with the
checkpoints it reads (Hugging Face TimeSformer and CLIP, OpenAI's CLIP layout)."""

from __future__ import annotations

import dataclasses
import zipfile

import pytest
import torch
from torch import nn
from transformers import CLIPVisionConfig, CLIPVisionModel, TimesformerConfig, TimesformerModel

from sparsevl.models.factory import ModelConfig, build_video_classifier
from sparsevl.models.video_classifier import VideoClassifier
from sparsevl.models.vit import AdapterSpec, Block, STAdapter, ViTArch, VisionTransformer, adapter_blocks
from sparsevl.models.vit_weights import clip_openai_state_dict, load_image_weights, read_vit_checkpoint
from sparsevl.problems import BadInputError

VIT_B16 = ViTArch(width=768, layers=12, heads=12, patch_size=16, grid=14, mlp_dim=3072)
TINY = ViTArch(width=32, layers=2, heads=2, patch_size=4, grid=4, mlp_dim=64)


@pytest.fixture(autouse=True)
def _threads(one_torch_thread):
    torch.manual_seed(0)


def adapter_parameters(vit: nn.Module) -> int:
    return sum(p.numel() for name, p in vit.named_parameters() if ".adapter_" in name)


def randomize(module: nn.Module, std: float = 0.2) -> nn.Module:
    """Every weight random (zero-initialised parts too), so that nothing matches by accident."""
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, std)
    return module


def test_one_adapter_at_vit_b_width_has_592512_parameters():
    assert sum(p.numel() for p in STAdapter(768, 384, 3).parameters()) == 592_512


@pytest.mark.parametrize("count,expected", [(12, 7_110_144), (24, 14_220_288)])
def test_adapters_on_a_vit_b16_shaped_model(count, expected):
    with torch.device("meta"):  # shapes only: no memory, no time
        vit = VisionTransformer(VIT_B16, adapter=AdapterSpec(count, 384))
        image = VisionTransformer(VIT_B16)
        model = VideoClassifier(vit, num_classes=400)
    assert adapter_parameters(vit) == expected
    assert sum(p.numel() for p in vit.image_parameters()) == sum(p.numel() for p in image.parameters())
    model.freeze_backbone()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == expected + 768 * 400 + 400  # adapters and the head


def test_adapter_placement():
    assert adapter_blocks(AdapterSpec(12, 8), 12) == [(True, False)] * 12
    assert adapter_blocks(AdapterSpec(12, 8, position="mlp"), 12) == [(False, True)] * 12
    assert adapter_blocks(AdapterSpec(24, 8), 12) == [(True, True)] * 12
    assert adapter_blocks(AdapterSpec(4, 8), 6) == [(False, False)] * 2 + [(True, False)] * 4
    assert adapter_blocks(AdapterSpec(8, 8), 6) == [(False, False)] * 2 + [(True, True)] * 4
    with pytest.raises(ValueError, match="do not fit"):
        adapter_blocks(AdapterSpec(13, 8), 12)


def frames(n: int = 2, t: int = 4, size: int = 16) -> torch.Tensor:
    return torch.randn(n, t, 3, size, size)


@pytest.mark.parametrize("video", [
    {"adapter": AdapterSpec(4, 8)},
    {"adapter": AdapterSpec(2, 8, kernel_t=5, position="mlp")},
    {"attention_type": "divided_space_time", "num_frames": 4},
], ids=["st_adapter_x4", "st_adapter_mlp_k5", "divided"])
def test_video_parts_start_as_the_image_model(video):
    """At initialisation a model with adapters or divided attention equals the space-only model
    with the same image weights, on frames that differ (so time could matter)."""
    image = randomize(VisionTransformer(TINY)).eval()
    model = VisionTransformer(TINY, **video).eval()
    load_image_weights(model, image.state_dict(), "image model")
    x = frames()
    with torch.no_grad():
        assert torch.equal(model(x), image(x))
    # and the video parts do something once trained: perturb them and the output changes
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".adapter_" in name or "temporal" in name or "time_embed" in name:
                p.add_(0.1)
        assert not torch.allclose(model(x), image(x), atol=1e-3)


def test_a_96_frame_clip_reads_an_8_frame_time_table_resized():
    """A pretrained 8-frame temporal embedding (TimeSformer's) on 96 frames: each frame takes the
    row of its eighth of the clip (nearest, as TimeSformer resizes it), in a model whose other
    weights are the same as one built with that 96-row table."""
    torch.manual_seed(0)
    short = randomize(VisionTransformer(dataclasses.replace(TINY, time_frames=8), attention_type="divided_space_time"))
    long = VisionTransformer(TINY, attention_type="divided_space_time", num_frames=96)
    state = short.state_dict()
    state["time_embed"] = short.time_embed.detach().repeat_interleave(12, dim=0)
    long.load_state_dict(state)
    x = frames(1, 96, 16)
    with torch.no_grad():
        out = short(x)
        assert out.shape == (96, 1 + 16, 32)
        torch.testing.assert_close(out, long(x))
        assert not torch.allclose(out, short(x.flip(1)).flip(0), atol=1e-4)  # time matters across the 96


def test_temporal_attention_starts_as_a_copy_of_the_spatial_one():
    image = randomize(VisionTransformer(TINY))
    model = VisionTransformer(TINY, attention_type="divided_space_time", num_frames=4)
    load_image_weights(model, image.state_dict(), "image model")
    for block in model.blocks:
        assert torch.equal(block.temporal.attn.qkv.weight, block.attn.qkv.weight)
        assert torch.equal(block.temporal.ln.weight, block.ln_1.weight)
        assert not block.temporal.fc.weight.any() and not block.temporal.fc.bias.any()
    assert not model.time_embed.any()


def hf_timesformer(tmp_path, attention_type: str, qkv_bias: bool = True) -> tuple[TimesformerModel, str]:
    cfg = TimesformerConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                            image_size=16, patch_size=4, num_frames=3, attention_type=attention_type,
                            qkv_bias=qkv_bias)
    model = randomize(TimesformerModel(cfg)).eval()
    folder = tmp_path / f"timesformer_{attention_type}"
    model.save_pretrained(folder)
    return model, str(folder)


@pytest.mark.parametrize("attention_type", ["divided_space_time", "space_only"])
@pytest.mark.parametrize("qkv_bias", [True, False])
def test_timesformer_parity(tmp_path, attention_type, qkv_bias):
    """A random Hugging Face TimeSformer read into ours gives the same tokens (1e-5). Its layout:
    [CLS, patches position-major, frame-minor] (divided) or frames apart (space-only)."""
    hf, folder = hf_timesformer(tmp_path, attention_type, qkv_bias)
    arch, state = read_vit_checkpoint("timesformer", folder)
    assert (arch.shared_cls, arch.ln_pre, arch.patch_bias, arch.act) == (True, False, True, "gelu")
    ours = VisionTransformer(arch, attention_type=attention_type, num_frames=3).eval()
    load_image_weights(ours, state, folder)
    n, t, patches = 2, 3, 16
    x = frames(n, t, 16)
    with torch.no_grad():
        expected = hf(pixel_values=x).last_hidden_state
        tokens = ours.ln_post(ours(x))  # TimeSformer's final LayerNorm is on every token
    if attention_type == "space_only":
        torch.testing.assert_close(tokens, expected, atol=1e-5, rtol=0)
        return
    per_frame = tokens.view(n, t, 1 + patches, -1)
    assert torch.equal(per_frame[:, :, 0], per_frame[:, :1, 0].expand(-1, t, -1))  # one class token per clip
    ours_layout = torch.cat([per_frame[:, 0, :1], per_frame[:, :, 1:].transpose(1, 2).flatten(1, 2)], dim=1)
    torch.testing.assert_close(ours_layout, expected, atol=1e-5, rtol=0)


def test_a_divided_checkpoint_needs_divided_attention(tmp_path):
    _, folder = hf_timesformer(tmp_path, "divided_space_time")
    arch, state = read_vit_checkpoint("timesformer", folder)
    with pytest.raises(BadInputError, match="set model.attention_type to divided_space_time"):
        load_image_weights(VisionTransformer(arch), state, folder)


def hf_clip(tmp_path) -> tuple[CLIPVisionModel, str]:
    cfg = CLIPVisionConfig(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=1,
                           image_size=16, patch_size=4)
    model = randomize(CLIPVisionModel(cfg), 0.1).eval()
    folder = tmp_path / "clip"
    model.save_pretrained(folder)
    return model, str(folder)


def test_hugging_face_clip_parity(tmp_path):
    hf, folder = hf_clip(tmp_path)
    arch, state = read_vit_checkpoint("clip_vit", folder)
    ours = VisionTransformer(arch).eval()
    load_image_weights(ours, state, folder)
    x = frames(2, 1, 16)
    with torch.no_grad():
        out = hf(pixel_values=x[:, 0])
        tokens = ours(x)
    torch.testing.assert_close(tokens, out.last_hidden_state, atol=1e-5, rtol=0)
    torch.testing.assert_close(ours.ln_post(tokens[:, 0]), out.pooler_output, atol=1e-5, rtol=0)
    # frames of another size: the position embeddings are interpolated, as Hugging Face does
    x = frames(1, 1, 24)
    with torch.no_grad():
        expected = hf(pixel_values=x[:, 0], interpolate_pos_encoding=True).last_hidden_state
        torch.testing.assert_close(ours(x), expected, atol=1e-5, rtol=0)


def openai_layout(hf: CLIPVisionModel) -> dict[str, torch.Tensor]:
    """OpenAI CLIP's names for a Hugging Face CLIP vision model, written out here independently of
    the loader: in_proj_weight is q, k, v stacked; `proj` the image-text projection."""
    s = hf.state_dict()
    out = {
        "visual.conv1.weight": s["embeddings.patch_embedding.weight"],
        "visual.class_embedding": s["embeddings.class_embedding"],
        "visual.positional_embedding": s["embeddings.position_embedding.weight"],
        "visual.ln_pre.weight": s["pre_layrnorm.weight"], "visual.ln_pre.bias": s["pre_layrnorm.bias"],
        "visual.ln_post.weight": s["post_layernorm.weight"], "visual.ln_post.bias": s["post_layernorm.bias"],
        "visual.proj": torch.randn(64, 16),
        "transformer.resblocks.0.attn.in_proj_weight": torch.randn(8, 8),  # the text tower: ignored
    }
    for i in range(hf.config.num_hidden_layers):
        hf_block, block = f"encoder.layers.{i}.", f"visual.transformer.resblocks.{i}."
        for p in ("weight", "bias"):
            out[f"{block}attn.in_proj_{p}"] = torch.cat([s[f"{hf_block}self_attn.{x}_proj.{p}"] for x in "qkv"])
            for ours, theirs in (("attn.out_proj", "self_attn.out_proj"), ("ln_1", "layer_norm1"),
                                 ("ln_2", "layer_norm2"), ("mlp.c_fc", "mlp.fc1"), ("mlp.c_proj", "mlp.fc2")):
                out[f"{block}{ours}.{p}"] = s[f"{hf_block}{theirs}.{p}"]
    return out


class OpenAIVisual(nn.Module):
    """A module whose state_dict has OpenAI's names, to write a TorchScript archive as released."""

    def __init__(self, state: dict[str, torch.Tensor]):
        super().__init__()
        for key, value in state.items():
            module = self
            *path, leaf = key.split(".")
            for part in path:
                if not hasattr(module, part):
                    module.add_module(part, nn.Module())
                module = getattr(module, part)
            module.register_parameter(leaf, nn.Parameter(value.clone()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


@pytest.mark.parametrize("form", ["state_dict", "torchscript", "fp16"])
def test_openai_layout_reads_as_the_same_model(tmp_path, form):
    hf, folder = hf_clip(tmp_path)
    reference = VisionTransformer(*read_vit_checkpoint("clip_vit", folder)[:1]).eval()
    load_image_weights(reference, read_vit_checkpoint("clip_vit", folder)[1], folder)
    state = openai_layout(hf)
    path = tmp_path / "ViT-tiny.pt"
    if form == "torchscript":
        torch.jit.save(torch.jit.script(OpenAIVisual(state)), str(path))
        with zipfile.ZipFile(path) as z:
            assert any("/code/" in n for n in z.namelist())
    else:
        torch.save({k: v.half() if form == "fp16" else v for k, v in state.items()}, path)
    arch, weights = read_vit_checkpoint("clip_vit", path)
    assert arch == reference.arch  # architecture from the shapes: one head per 64 channels
    ours = VisionTransformer(arch).eval()
    load_image_weights(ours, weights, str(path))
    x = frames(2, 1, 16)
    with torch.no_grad():
        atol = 1e-2 if form == "fp16" else 1e-6
        torch.testing.assert_close(ours(x), reference(x), atol=atol, rtol=0)


def test_our_vit_written_in_openai_layout_reads_back(tmp_path):
    vit = randomize(VisionTransformer(ViTArch(width=64, layers=2, heads=1, patch_size=4, grid=4, mlp_dim=96)))
    state = clip_openai_state_dict(vit)
    assert set(state) == set(openai_layout(hf_clip(tmp_path)[0])) - {"visual.proj", "transformer.resblocks.0.attn.in_proj_weight"}
    assert state["visual.transformer.resblocks.1.attn.in_proj_weight"].shape == (192, 64)
    torch.save(state, tmp_path / "ours.pt")
    arch, weights = read_vit_checkpoint("clip_vit", tmp_path / "ours.pt")
    back = VisionTransformer(arch)
    load_image_weights(back, weights, "ours.pt")
    assert all(torch.equal(a, b) for a, b in zip(back.state_dict().values(), vit.state_dict().values()))


def test_a_checkpoint_that_does_not_fit_is_named(tmp_path):
    vit = VisionTransformer(TINY)
    state = vit.state_dict()
    del state["blocks.1.mlp.0.weight"]
    state["blocks.0.extra"] = torch.zeros(1)
    with pytest.raises(BadInputError, match=r"ckpt.pt does not fit the ViT: weights 1 missing: blocks.1.mlp.0.weight; "
                                            r"1 unexpected: blocks.0.extra"):
        load_image_weights(VisionTransformer(TINY), state, "ckpt.pt")
    torch.save({"visual.layer1.0.conv1.weight": torch.zeros(1)}, tmp_path / "resnet.pt")
    with pytest.raises(BadInputError, match="not a CLIP ViT checkpoint in OpenAI's layout"):
        read_vit_checkpoint("clip_vit", tmp_path / "resnet.pt")


@pytest.mark.parametrize("video", [
    {"attention_type": "divided_space_time", "num_frames": 4},
    {"adapter": AdapterSpec(2, 8)},
])
def test_gradient_checkpointing_gives_the_same_loss_and_gradients(video, monkeypatch):
    torch.manual_seed(0)
    plain = VideoClassifier(randomize(VisionTransformer(TINY, **video)), num_classes=3, dropout=0.0)
    checkpointed = VideoClassifier(VisionTransformer(TINY, grad_checkpointing=True, **video), num_classes=3, dropout=0.0)
    checkpointed.load_state_dict(plain.state_dict())
    block_runs = []
    block_forward = Block.forward

    def counted_forward(self, *args):
        block_runs.append(self)
        return block_forward(self, *args)

    monkeypatch.setattr(Block, "forward", counted_forward)
    x = torch.randint(0, 256, (2, 1, 4, 16, 16, 3), dtype=torch.uint8)  # (videos, views, frames, H, W, RGB)
    labels = torch.tensor([[0], [2]])
    losses = []
    for model in (plain, checkpointed):
        loss = nn.functional.cross_entropy(model(x).flatten(0, 1), labels.flatten())
        loss.backward()
        losses.append(loss.detach())
    # the plain model runs each block once; the checkpointed one once more in the backward pass
    assert len(block_runs) == 3 * TINY.layers
    torch.testing.assert_close(losses[0], losses[1], rtol=0, atol=1e-6)
    for (name, p), q in zip(plain.named_parameters(), checkpointed.parameters()):
        assert p.grad is not None, name
        torch.testing.assert_close(p.grad, q.grad, rtol=0, atol=1e-6, msg=name)


def test_the_model_config_turns_gradient_checkpointing_on():
    cfg = ModelConfig(architecture="video_classifier", backbone="vit", hidden_size=32, num_layers=1, num_heads=2,
                      intermediate_size=64, patch_size=4, grad_checkpointing=True)
    assert build_video_classifier(cfg, num_classes=2, image_size=16).vit.grad_checkpointing
    assert not build_video_classifier(dataclasses.replace(cfg, grad_checkpointing=False), 2, 16).vit.grad_checkpointing
