"""BLIP read from a Hugging Face BLIP retrieval folder equals transformers' BlipForImageTextRetrieval
on one frame (a tiny random BLIP, saved with save_pretrained): the ITC similarity and the ITM match
probability. Inflated to clips, its temporal parts start at zero, so a clip's frames come out as
the image model gives them."""

from __future__ import annotations

import pytest
import torch

from sparsevl.config import ConfigError
from sparsevl.data.tokenizer import read_tokenizer_folder
from sparsevl.models.factory import ModelConfig, build_matching_model
from sparsevl.problems import BadInputError, MissingInputError
from tests.models.blip_folder import IMAGE_SIZE, PATCH, write_tiny_blip
from tests.models.test_clip_text import pixel_values

TEXTS = ["a red square moves left", "the blue circle jumps", "green"]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def blip_config(folder, **overrides) -> ModelConfig:
    cfg = ModelConfig(**{"architecture": "blip", "backbone": "blip_vit", "backbone_dir": str(folder),
                         "num_frm": 1, **overrides})
    cfg.validate()
    return cfg


def random_frames(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (*shape, IMAGE_SIZE, IMAGE_SIZE, 3), generator=torch.Generator().manual_seed(seed),
                         dtype=torch.uint8)


@pytest.fixture(params=[True, False], ids=["enc_token", "cls_token"])
def blip(request, tmp_path):
    hf = write_tiny_blip(tmp_path / "blip", TEXTS, enc_token=request.param)
    return hf, tmp_path / "blip", request.param


def test_itc_and_itm_on_one_frame_equal_transformers(blip):
    hf, folder, enc_token = blip
    model = build_matching_model(blip_config(folder), vocab_size=0).eval()
    tokens = read_tokenizer_folder(folder)(TEXTS, padding=True, return_tensors="pt")
    ids, mask = tokens["input_ids"], tokens["attention_mask"]
    frames = random_frames(2, 1, 1)  # two videos of one clip of one frame
    pixels = pixel_values(frames.flatten(0, 2))
    with torch.no_grad():
        clips = model.encode_clips(frames)
        ours_itc = model.text_embedding(ids, mask) @ model.video_embedding(clips).T  # (texts, videos)
        theirs_itc = hf(input_ids=ids, attention_mask=mask, pixel_values=pixels, use_itm_head=False).itm_score.T
        # BLIP's ITM reads [ENC] in the first place (when the tokenizer has it); transformers takes the ids as given
        itm_ids = ids.clone()
        if enc_token:
            itm_ids[:, 0] = read_tokenizer_folder(folder).convert_tokens_to_ids("[ENC]")
        for v in range(2):
            ours = model.itm_logits(ids, mask, clips[v:v + 1].expand(len(TEXTS), -1, -1, -1), "mean").softmax(-1)[:, 1]
            theirs = hf(input_ids=itm_ids, attention_mask=mask, pixel_values=pixels[v:v + 1].expand(len(TEXTS), -1, -1, -1),
                        use_itm_head=True).itm_score.softmax(-1)[:, 1]
            torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    torch.testing.assert_close(ours_itc, theirs_itc, atol=1e-5, rtol=0)
    assert ours_itc.std() > 0.05 and theirs.std() > 1e-3  # random weights that tell texts apart
    assert (model.itm_token_id is not None) == enc_token


def test_space_only_clip_is_its_frames_through_the_image_model(blip):
    """Each frame's tokens are the image model's; the ITC embedding is of the frames' mean class token."""
    hf, folder, _ = blip
    model = build_matching_model(blip_config(folder, num_frm=3), vocab_size=0).eval()
    frames = random_frames(1, 2, 3, seed=1)  # one video, two clips of three frames
    with torch.no_grad():
        clips = model.encode_clips(frames)
        image = hf.vision_model(pixel_values=pixel_values(frames.flatten(0, 2))).last_hidden_state  # (6, L, C)
    tokens_per_frame = (IMAGE_SIZE // PATCH) ** 2 + 1
    assert clips.shape == (1, 2, 1 + 3 * tokens_per_frame, 32)
    torch.testing.assert_close(clips[0, :, 1:].reshape(6, tokens_per_frame, 32), image, atol=1e-5, rtol=0)
    expected = torch.nn.functional.normalize(hf.vision_proj(image[:, 0].mean(0)), dim=-1)
    torch.testing.assert_close(model.video_embedding(clips)[0], expected, atol=1e-5, rtol=0)


def test_divided_space_time_starts_as_the_image_model_and_takes_any_length(blip):
    _, folder, _ = blip
    space = build_matching_model(blip_config(folder, num_frm=4), vocab_size=0).eval()
    divided = build_matching_model(blip_config(folder, num_frm=4, attention_type="divided_space_time"), 0).eval()
    assert all(block.temporal is not None for block in divided.visual.backbone.blocks)
    frames = random_frames(2, 1, 4, seed=2)
    with torch.no_grad():
        torch.testing.assert_close(divided.encode_clips(frames), space.encode_clips(frames), atol=1e-5, rtol=0)
        # trained temporal parts (here: random) change a clip of different frames, and clips of other
        # lengths get a resized temporal embedding
        for block in divided.visual.backbone.blocks:
            block.temporal.fc.weight.normal_(0, 0.2)
        divided.visual.backbone.time_embed.normal_(0, 0.2)
        assert (divided.encode_clips(frames) - space.encode_clips(frames)).abs().max() > 1e-2
        for t in (1, 7):
            assert divided.encode_clips(random_frames(1, 1, t)).shape[2] == 1 + t * ((IMAGE_SIZE // PATCH) ** 2 + 1)


def test_a_checkpoint_rebuilds_the_same_model_without_the_folder(blip, tmp_path):
    _, folder, _ = blip
    cfg = blip_config(folder, num_frm=2, attention_type="divided_space_time")
    model = build_matching_model(cfg, vocab_size=0).eval()
    rebuilt = build_matching_model(blip_config(tmp_path / "gone", num_frm=2, attention_type="divided_space_time"),
                                   vocab_size=0, arch=model.arch).eval()
    rebuilt.load_state_dict(model.state_dict())
    frames = random_frames(1, 1, 2, seed=3)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.encode_clips(frames), model.encode_clips(frames))
    assert rebuilt.itm_token_id == model.itm_token_id


def test_wrong_settings_are_said(blip, tmp_path):
    _, folder, _ = blip
    with pytest.raises(ValueError, match="allow_missing_pretrained does not apply"):
        blip_config(folder, allow_missing_pretrained=True)
    with pytest.raises(ValueError, match="adapter"):
        blip_config(folder, adapter={"type": "st"})
    with pytest.raises(ConfigError, match="do not fit BLIP's text encoder"):
        build_matching_model(blip_config(folder, max_text_len=65), vocab_size=0)
    (tmp_path / "clip").mkdir()
    (tmp_path / "clip" / "config.json").write_text('{"model_type": "clip"}')
    with pytest.raises(BadInputError, match="not 'blip'"):
        build_matching_model(blip_config(tmp_path / "clip"), vocab_size=0)


def test_frames_of_another_size_get_transformers_interpolated_positions(blip):
    """Video runs at 224 px from BLIP's 384 px folders: the position grid is resized as
    transformers' `interpolate_pos_encoding` does (bicubic)."""
    hf, folder, _ = blip
    model = build_matching_model(blip_config(folder), vocab_size=0).eval()
    frames = random_frames(1, 1, 1, seed=4)[..., :24, :24, :].contiguous()  # a 3 x 3 grid instead of 4 x 4
    with torch.no_grad():
        ours = model.encode_clips(frames)[0, 0, 1:]
        theirs = hf.vision_model(pixel_values=pixel_values(frames.flatten(0, 2)), interpolate_pos_encoding=True)
    assert ours.shape == (10, 32)
    torch.testing.assert_close(ours, theirs.last_hidden_state[0], atol=1e-5, rtol=0)


def test_a_folder_without_its_tokenizer_is_said(blip):
    _, folder, _ = blip
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (folder / name).unlink()
    with pytest.raises(MissingInputError, match="no BERT tokenizer there"):
        build_matching_model(blip_config(folder), vocab_size=0)
