"""Image and video transformer checkpoints -> `VisionTransformer` weights, by key mapping.

Three layouts are read (nothing is downloaded; docs/action_recognition.md):

- **OpenAI CLIP** (`clip_vit`, a `.pt` file): the released files are TorchScript archives; a plain
  state_dict with the same names works too. The image tower's keys are `visual.conv1.weight`,
  `visual.class_embedding`, `visual.positional_embedding`, `visual.ln_pre.*`,
  `visual.transformer.resblocks.N.{ln_1, attn.in_proj_weight, attn.in_proj_bias, attn.out_proj,
  ln_2, mlp.c_fc, mlp.c_proj}`, `visual.ln_post.*` and `visual.proj`. `in_proj_weight` is q, k
  and v stacked (3 x width rows), which is our `qkv`. The architecture comes from the shapes, with
  CLIP's rule of one head per 64 channels. `proj` (the image-text projection) is not used.
- **Hugging Face CLIP** (`clip_vit`, a folder): read with `CLIPVisionModel`; q_proj, k_proj,
  v_proj are stacked into `qkv`.
- **Hugging Face TimeSformer** (`timesformer`, a folder): read with `TimesformerModel`,
  space-only or with its divided attention's temporal layers.

`clip_openai_state_dict` writes our image transformer back in OpenAI's layout (the demo saves its
pre-trained ViT that way, and the tests read it back).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import torch
from transformers import CLIPVisionModel, TimesformerModel

from sparsevl.models.pretrained import checkpoint_path, load_hf_vision_model, read_state_dict
from sparsevl.models.vit import VIDEO_PARTS, ViTArch, VisionTransformer
from sparsevl.problems import BadInputError

TIMESFORMER_MEAN = (0.45, 0.45, 0.45)  # the image processor of facebook/timesformer-base-finetuned-k400
TIMESFORMER_STD = (0.225, 0.225, 0.225)

State = dict[str, torch.Tensor]

# per block: OpenAI name -> ours
_OPENAI_BLOCK = {
    "ln_1": "ln_1", "attn.in_proj_weight": "attn.qkv.weight", "attn.in_proj_bias": "attn.qkv.bias",
    "attn.out_proj": "attn.out", "ln_2": "ln_2", "mlp.c_fc": "mlp.0", "mlp.c_proj": "mlp.2",
}
_OPENAI_TOP = {
    "conv1.weight": "patch_embed.weight", "class_embedding": "cls_token", "positional_embedding": "pos_embed",
    "ln_pre": "ln_pre", "ln_post": "ln_post",
}
_TIMESFORMER_BLOCK = {
    "attention.attention.qkv": "attn.qkv", "attention.output.dense": "attn.out", "layernorm_before": "ln_1",
    "layernorm_after": "ln_2", "intermediate.dense": "mlp.0", "output.dense": "mlp.2",
    "temporal_layernorm": "temporal.ln", "temporal_attention.attention.qkv": "temporal.attn.qkv",
    "temporal_attention.output.dense": "temporal.attn.out", "temporal_dense": "temporal.fc",
}


def _rename(key: str, table: dict[str, str]) -> str | None:
    """`key` with the longest matching prefix of `table` replaced (a name, or `name.weight`)."""
    for old in sorted(table, key=len, reverse=True):
        if key == old or key.startswith(old + "."):
            return table[old] + key[len(old):]
    return None


# --- OpenAI CLIP ----------------------------------------------------------------------------------


def read_openai_clip(path: Path) -> State:
    """The tensors of an OpenAI CLIP checkpoint: a TorchScript archive (as released) or a plain
    state_dict, in float32. A TorchScript archive is read with `torch.jit.load` (TorchScript's own
    loader, which does not run Python code from the file); a state_dict with `weights_only=True`."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            scripted = any(name.endswith("/constants.pkl") or "/code/" in name for name in z.namelist())
        if scripted:
            try:
                state = torch.jit.load(str(path), map_location="cpu").state_dict()
            except Exception as e:
                raise BadInputError(f"{path} cannot be read as a TorchScript archive: {str(e).splitlines()[0]}") from None
            return {k: v.float() for k, v in state.items()}
    return {k: v.float() for k, v in read_state_dict(path).items()}


def openai_visual(state: State, source: Path) -> State:
    """The image tower's tensors without the `visual.` prefix (a visual-only state_dict has none)."""
    if any(k.startswith("visual.") for k in state):
        state = {k[len("visual."):]: v for k, v in state.items() if k.startswith("visual.")}
    if "conv1.weight" not in state or "transformer.resblocks.0.attn.in_proj_weight" not in state:
        raise BadInputError(f"{source} is not a CLIP ViT checkpoint in OpenAI's layout: no visual.conv1.weight or "
                            "visual.transformer.resblocks.0.attn.in_proj_weight (a ResNet CLIP, or another model?)")
    return state


def openai_arch(visual: State) -> ViTArch:
    width, _, patch, _ = visual["conv1.weight"].shape
    layers = len({k.split(".")[2] for k in visual if k.startswith("transformer.resblocks.")})
    grid = round((visual["positional_embedding"].shape[0] - 1) ** 0.5)
    mlp_dim = visual["transformer.resblocks.0.mlp.c_fc.weight"].shape[0]
    return ViTArch(width=width, layers=layers, heads=width // 64, patch_size=patch, grid=grid, mlp_dim=mlp_dim)


def from_openai(visual: State) -> State:
    out = {}
    for key, value in visual.items():
        if key == "proj":
            continue
        if key.startswith("transformer.resblocks."):
            _, _, index, rest = key.split(".", 3)
            name = _rename(rest, _OPENAI_BLOCK)
            out[f"blocks.{index}.{name or rest}"] = value
        else:
            out[_rename(key, _OPENAI_TOP) or key] = value
    return out


def clip_openai_state_dict(vit: VisionTransformer) -> State:
    """Our image transformer in OpenAI CLIP's layout (`visual.*`, without `proj`)."""
    arch = vit.arch
    if not arch.ln_pre or arch.patch_bias or arch.act != "quick_gelu" or arch.width != 64 * arch.heads:
        raise ValueError("only a CLIP-architecture ViT (QuickGELU, ln_pre, no patch bias, 64 channels per head) "
                         "has an OpenAI CLIP layout")
    top = {ours: theirs for theirs, ours in _OPENAI_TOP.items()}
    block = {ours: theirs for theirs, ours in _OPENAI_BLOCK.items()}
    out = {}
    for key, value in vit.state_dict().items():
        if any(part in key.split(".") for part in VIDEO_PARTS):
            continue
        if key.startswith("blocks."):
            _, index, rest = key.split(".", 2)
            out[f"visual.transformer.resblocks.{index}.{_rename(rest, block)}"] = value.clone()
        else:
            out["visual." + _rename(key, top)] = value.clone()
    return out


# --- Hugging Face CLIP and TimeSformer -------------------------------------------------------------


def _hf_activation(name: str, source: Path) -> str:
    if name not in ("quick_gelu", "gelu"):
        raise BadInputError(f"{source}: activation {name!r} is not supported (quick_gelu or gelu)")
    return name


def from_hf_clip(model: CLIPVisionModel, source: Path) -> tuple[ViTArch, State]:
    cfg = model.config
    arch = ViTArch(width=cfg.hidden_size, layers=cfg.num_hidden_layers, heads=cfg.num_attention_heads,
                   patch_size=cfg.patch_size, grid=cfg.image_size // cfg.patch_size, mlp_dim=cfg.intermediate_size,
                   act=_hf_activation(cfg.hidden_act, source), eps=cfg.layer_norm_eps)
    hf = {k.removeprefix("vision_model."): v for k, v in model.state_dict().items()}
    out = {
        "patch_embed.weight": hf["embeddings.patch_embedding.weight"],
        "cls_token": hf["embeddings.class_embedding"],
        "pos_embed": hf["embeddings.position_embedding.weight"],
    }
    for ours, theirs in (("ln_pre", "pre_layrnorm"), ("ln_post", "post_layernorm")):
        for p in ("weight", "bias"):
            out[f"{ours}.{p}"] = hf[f"{theirs}.{p}"]
    for i in range(arch.layers):
        layer = f"encoder.layers.{i}."
        for p in ("weight", "bias"):
            out[f"blocks.{i}.attn.qkv.{p}"] = torch.cat([hf[f"{layer}self_attn.{x}_proj.{p}"] for x in "qkv"])
            for ours, theirs in (("attn.out", "self_attn.out_proj"), ("ln_1", "layer_norm1"), ("ln_2", "layer_norm2"),
                                 ("mlp.0", "mlp.fc1"), ("mlp.2", "mlp.fc2")):
                out[f"blocks.{i}.{ours}.{p}"] = hf[f"{layer}{theirs}.{p}"]
    return arch, out


def from_hf_timesformer(model: TimesformerModel, source: Path) -> tuple[ViTArch, State]:
    cfg = model.config
    divided = cfg.attention_type == "divided_space_time"
    if cfg.attention_type not in ("space_only", "divided_space_time"):
        raise BadInputError(f"{source}: TimeSformer attention_type {cfg.attention_type!r} is not supported "
                            "(space_only or divided_space_time)")
    arch = ViTArch(width=cfg.hidden_size, layers=cfg.num_hidden_layers, heads=cfg.num_attention_heads,
                   patch_size=cfg.patch_size, grid=cfg.image_size // cfg.patch_size, mlp_dim=cfg.intermediate_size,
                   act=_hf_activation(cfg.hidden_act, source), eps=cfg.layer_norm_eps, ln_pre=False, patch_bias=True,
                   shared_cls=True, time_frames=cfg.num_frames if divided else 0,
                   pixel_mean=TIMESFORMER_MEAN, pixel_std=TIMESFORMER_STD)
    hf = {k.removeprefix("timesformer."): v for k, v in model.state_dict().items()}
    out = {
        "patch_embed.weight": hf["embeddings.patch_embeddings.projection.weight"],
        "patch_embed.bias": hf["embeddings.patch_embeddings.projection.bias"],
        "cls_token": hf["embeddings.cls_token"].reshape(-1),
        "pos_embed": hf["embeddings.position_embeddings"][0],
        "ln_post.weight": hf["layernorm.weight"],
        "ln_post.bias": hf["layernorm.bias"],
    }
    if divided:
        out["time_embed"] = hf["embeddings.time_embeddings"][0]
    for key, value in hf.items():
        if key.startswith("encoder.layer."):
            _, _, index, rest = key.split(".", 3)
            out[f"blocks.{index}.{_rename(rest, _TIMESFORMER_BLOCK) or rest}"] = value
    for i in range(arch.layers):  # without qkv_bias: a zero bias is the same attention
        for qkv in ("attn.qkv", "temporal.attn.qkv"):
            weight = out.get(f"blocks.{i}.{qkv}.weight")
            if weight is not None and f"blocks.{i}.{qkv}.bias" not in out:
                out[f"blocks.{i}.{qkv}.bias"] = weight.new_zeros(len(weight))
    return arch, out


# --- one entry point --------------------------------------------------------------------------------


def read_vit_checkpoint(backbone: str, backbone_dir: str | Path | None) -> tuple[ViTArch, State]:
    """The architecture and our-named weights of a `clip_vit` (OpenAI file or Hugging Face folder)
    or `timesformer` (Hugging Face folder) checkpoint."""
    path = checkpoint_path(backbone, backbone_dir)
    if backbone == "timesformer":
        return from_hf_timesformer(load_hf_vision_model(TimesformerModel, backbone, path, ("timesformer",)), path)
    if path.is_file():
        visual = openai_visual(read_openai_clip(path), path)
        return openai_arch(visual), from_openai(visual)
    model = load_hf_vision_model(CLIPVisionModel, backbone, path, ("clip", "clip_vision_model"))
    return from_hf_clip(model, path)


def load_image_weights(vit: VisionTransformer, state: State, source: str) -> None:
    """Load a checkpoint's weights: every image-transformer weight must be there with its shape;
    temporal weights are loaded if the checkpoint has them, else initialised from the spatial ones
    (`init_temporal_from_spatial`); adapters keep their initialisation."""
    expected = vit.state_dict()
    image_keys = {k for k in expected if not any(part in k.split(".") for part in VIDEO_PARTS)}
    missing = sorted(image_keys - state.keys())
    unexpected = sorted(state.keys() - expected.keys())
    mismatched = [f"{k} {tuple(state[k].shape)} (expected {tuple(expected[k].shape)})"
                  for k in sorted(state.keys() & expected.keys()) if state[k].shape != expected[k].shape]
    if any(k.startswith("blocks.") and ".temporal." in k for k in unexpected):
        raise BadInputError(f"{source} has divided space-time attention weights: set model.attention_type "
                            "to divided_space_time to use it")
    problems = [f"{len(keys)} {what}: {', '.join(keys[:5])}{', ...' if len(keys) > 5 else ''}"
                for what, keys in (("missing", missing), ("unexpected", unexpected), ("of the wrong shape", mismatched))
                if keys]
    if problems:
        raise BadInputError(f"{source} does not fit the ViT: weights " + "; ".join(problems))
    has_temporal = any(".temporal." in k for k in state)
    vit.load_state_dict(state, strict=False)
    if not has_temporal:
        vit.init_temporal_from_spatial()


def pretrained_vit(backbone: str, backbone_dir: str | Path | None, **video: object) -> VisionTransformer:
    """A `VisionTransformer` with the checkpoint's weights; `video`: attention_type, adapter,
    num_frames (VisionTransformer's options)."""
    arch, state = read_vit_checkpoint(backbone, backbone_dir)
    vit = VisionTransformer(arch, **video)
    load_image_weights(vit, state, str(backbone_dir))
    return vit
