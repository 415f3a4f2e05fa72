"""BT-Adapter's branch beside a frozen CLIP: at step 0 the dual encoder is exactly the frozen CLIP,
only the branch trains, the branch sees the order of the frames, and its size."""

from __future__ import annotations

import pytest
import torch

from sparsevl.data.clip_tokenizer import read_clip_tokenizer
from sparsevl.models.bt_adapter import BTAdapterBranch
from sparsevl.models.factory import BTAdapterConfig, build_dual_encoder
from sparsevl.models.vit import ViTArch
from tests.models.clip_folder import IMAGE_SIZE, write_tiny_clip
from tests.models.test_clip_text import dual_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TEXTS = ["a red square moves left", "a blue circle"]
FRAMES = 4


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bt") / "clip"
    write_tiny_clip(folder, TEXTS, layers=3)
    return folder


def branch_config(folder, depth: int = 2, mask_ratio: float = 0.5):
    return dual_config(folder, num_frm=FRAMES, bt_adapter=BTAdapterConfig(depth, mask_ratio))


def videos(n: int = 2, seed: int = 0) -> torch.Tensor:
    """uint8 (n, 1 clip, FRAMES, H, W, 3)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 1, FRAMES, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=torch.uint8, generator=g)


def embed(model, frames: torch.Tensor) -> torch.Tensor:
    return model.video_embedding(model.encode_clips(frames))


@pytest.mark.parametrize("train", [False, True])  # in training the branch masks 50% of the patches
def test_at_step_0_the_model_is_the_frozen_clip(folder, train):
    clip = build_dual_encoder(dual_config(folder, num_frm=FRAMES)).eval()
    with_branch = build_dual_encoder(branch_config(folder)).train(train)
    frames = videos()
    with torch.no_grad():
        torch.testing.assert_close(embed(with_branch, frames), embed(clip, frames), atol=1e-6, rtol=0)


def test_the_branch_blocks_start_as_the_clip_layers_beside_them(folder):
    model = build_dual_encoder(branch_config(folder))
    vit, branch = model.visual.backbone, model.visual.branch
    for k, block in enumerate(branch.blocks):  # 2 blocks beside the last 2 of 3 layers
        torch.testing.assert_close(block.attn.qkv.weight, vit.blocks[1 + k].attn.qkv.weight)
        torch.testing.assert_close(block.mlp[2].weight, vit.blocks[1 + k].mlp[2].weight)


def test_only_the_branch_trains(folder):
    model = build_dual_encoder(branch_config(folder)).train()
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(name.startswith("visual.branch.") for name in trainable)
    assert trainable == {f"visual.branch.{name}" for name, _ in model.visual.branch.named_parameters()}
    clip_before = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("visual.branch.")}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    tokens = dict(read_clip_tokenizer(folder)(TEXTS[:1], return_tensors="pt"))
    for _ in range(2):  # a contrastive step: video 0 with text 0
        texts = model.text_embedding(**tokens)
        loss = -(texts @ embed(model, videos()).T)[0, 0]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in clip_before.items())
    assert model.visual.branch.out_proj.weight.abs().sum() > 0  # the branch did move


def test_the_trained_branch_sees_the_order_of_the_frames(folder):
    model = build_dual_encoder(branch_config(folder)).eval()
    clip = build_dual_encoder(dual_config(folder, num_frm=FRAMES)).eval()
    with torch.no_grad():  # as after training: the zero-initialised layers and the temporal embedding grown
        model.visual.branch.out_proj.weight.normal_(0, 0.5)
        model.visual.branch.time_embed.normal_(0, 1.0)
        for block in model.visual.branch.blocks:
            block.temporal.fc.weight.normal_(0, 0.5)
    frames = videos()
    reversed_frames = frames.flip(2)
    with torch.no_grad():
        # frame-mean CLIP cannot tell a video from its reverse; the branch can
        torch.testing.assert_close(embed(clip, reversed_frames), embed(clip, frames), atol=1e-6, rtol=0)
        assert (embed(model, reversed_frames) - embed(model, frames)).abs().max() > 1e-3


def test_masking_keeps_the_same_patch_positions_in_every_frame():
    branch = BTAdapterBranch(ViTArch(width=32, layers=2, heads=2, patch_size=4, grid=4, mlp_dim=64), 1, FRAMES, 0.75)
    keep = branch.train().keep_mask(videos=3, patches=16, device=torch.device("cpu"))
    assert keep.shape == (3, 4) and all(len(set(row.tolist())) == 4 for row in keep)
    assert branch.eval().keep_mask(3, 16, torch.device("cpu")) is None  # evaluation: every patch


def branch_parameters(width: int, depth: int, frames: int) -> int:
    """Counted by hand: per block a temporal attention (LayerNorm, qkv, out, zero-initialised fc)
    and a CLIP block (two LayerNorms, qkv, out, a 4x MLP); a class token, the temporal embedding
    and the output projection."""
    c = width
    temporal = 2 * c + (3 * c * c + 3 * c) + (c * c + c) + (c * c + c)
    spatial = 4 * c + (3 * c * c + 3 * c) + (c * c + c) + (4 * c * c + 4 * c) + (4 * c * c + c)
    return depth * (temporal + spatial) + c + frames * c + (c * c + c)


@pytest.mark.parametrize(("width", "name"), [(768, "ViT-B/16"), (1024, "ViT-L/14")])
def test_branch_size(width, name):
    arch = ViTArch(width=width, layers=12, heads=width // 64, patch_size=16, grid=14, mlp_dim=4 * width)
    branch = BTAdapterBranch(arch, depth=4, num_frames=8)
    count = sum(p.numel() for p in branch.parameters())
    assert count == branch_parameters(width, 4, 8)
    print(f"BT-Adapter branch, 4 blocks, 8 frames, beside {name}: {count:,} parameters")
