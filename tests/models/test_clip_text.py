"""The CLIP dual encoder read from a Hugging Face CLIP folder equals transformers' CLIPModel:
text embeddings, image embeddings and image-text logits (a tiny random CLIP, saved with
save_pretrained); a video's embedding is the mean of its frames' (CLIP4Clip's meanP)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sparsevl.config import ConfigError
from sparsevl.data.clip_tokenizer import read_clip_tokenizer
from sparsevl.models.clip_weights import write_clip_folder
from sparsevl.models.factory import ModelConfig, build_dual_encoder, build_matching_model
from sparsevl.models.vit import CLIP_MEAN, CLIP_STD
from tests.models.clip_folder import IMAGE_SIZE, write_tiny_clip

TEXTS = ["a red square moves left", "the blue circle jumps", "green"]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def dual_config(folder, **overrides) -> ModelConfig:
    cfg = ModelConfig(**{"architecture": "dual_encoder", "backbone": "clip_vit", "text_tower": "clip",
                         "backbone_dir": str(folder), "max_text_len": 77, **overrides})
    cfg.validate()
    return cfg


def pixel_values(frames: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> CLIP's normalised (N, 3, H, W), as CLIPImageProcessor's last step."""
    x = frames.permute(0, 3, 1, 2).float() / 255
    return (x - torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)) / torch.tensor(CLIP_STD).view(1, 3, 1, 1)


@pytest.fixture
def clip(tmp_path):
    hf = write_tiny_clip(tmp_path / "clip", TEXTS)
    return hf, tmp_path / "clip"


def test_text_and_image_embeddings_and_logits_equal_clipmodel(clip):
    hf, folder = clip
    ours = build_dual_encoder(dual_config(folder)).eval()
    tokens = read_clip_tokenizer(folder)(TEXTS, padding=True, return_tensors="pt")
    frames = torch.randint(0, 256, (2, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = hf(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"], pixel_values=pixel_values(frames))
        texts = ours.text_embedding(tokens["input_ids"], tokens["attention_mask"])
        videos = ours.video_embedding(ours.encode_clips(frames[:, None, None]))  # one clip of one frame each
        logits = ours.temperature_scale() * texts @ videos.T
    torch.testing.assert_close(texts, out.text_embeds, atol=1e-5, rtol=0)
    torch.testing.assert_close(videos, out.image_embeds, atol=1e-5, rtol=0)
    torch.testing.assert_close(logits, out.logits_per_text, atol=1e-5, rtol=0)
    assert not torch.allclose(texts[0], texts[1], atol=1e-2)  # the texts are told apart


def test_a_video_embedding_is_the_mean_of_its_frames(clip):
    hf, folder = clip
    ours = build_dual_encoder(dual_config(folder)).eval()
    frames = torch.randint(0, 256, (2, 3, 4, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=torch.uint8)  # 2 videos x 3 clips x 4 frames
    with torch.no_grad():
        per_frame = F.normalize(hf.get_image_features(pixel_values=pixel_values(frames.flatten(0, 2))).pooler_output, dim=-1)
        expected = F.normalize(per_frame.view(2, 12, -1).mean(1), dim=-1)  # every clip has as many frames
        videos = ours.video_embedding(ours.encode_clips(frames))
    torch.testing.assert_close(videos, expected, atol=1e-5, rtol=0)


def test_the_matching_factory_builds_it_and_a_checkpoint_rebuilds_it_without_the_folder(clip):
    _, folder = clip
    cfg = dual_config(folder)
    model = build_matching_model(cfg, vocab_size=0)
    again = build_matching_model(dual_config("/nonexistent"), vocab_size=0, arch=model.arch)
    again.load_state_dict(model.state_dict())
    tokens = read_clip_tokenizer(folder)(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(again.eval().text_embedding(**tokens), model.eval().text_embedding(**tokens))


def test_configs_that_do_not_fit_are_refused(clip):
    _, folder = clip
    with pytest.raises(ConfigError, match="max_text_len"):
        build_dual_encoder(dual_config(folder, max_text_len=78))
    with pytest.raises(ValueError, match="text_tower clip goes with architecture dual_encoder"):
        ModelConfig(text_tower="clip").validate()
    with pytest.raises(ValueError, match="embed_dim would have no effect"):
        dual_config(folder, embed_dim=64)


def test_a_dual_encoder_written_as_a_clip_folder_reads_back_the_same(clip, tmp_path):
    hf, folder = clip
    model = build_dual_encoder(dual_config(folder)).eval()
    with torch.no_grad():  # another model than the folder's: every weight moved
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    write_clip_folder(model, tmp_path / "written")
    for name in ("vocab.json", "merges.txt"):
        (tmp_path / "written" / name).write_bytes((folder / name).read_bytes())
    again = build_dual_encoder(dual_config(tmp_path / "written")).eval()
    assert again.state_dict().keys() == model.state_dict().keys()
    for key, value in model.state_dict().items():
        torch.testing.assert_close(again.state_dict()[key], value, atol=0, rtol=0, msg=key)
