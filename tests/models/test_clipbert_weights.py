"""ClipBERT's released weights onto our models: a state dict with ClipBERT's exact names and shapes
(tests/models/clipbert_checkpoint.py, listed from its module definitions), read through ClipBERT's
own config files as a run reads them, lands tensor by tensor where ClipBERT uses it."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import BertConfig, BertModel

from tests.models.clipbert_checkpoint import HIDDEN, detectron2_model_shapes, e2e_shapes, fill
from sparsevl.config import load_config
from sparsevl.models.clipbert_weights import detectron2_resnet_key, map_clipbert_state
from sparsevl.models.factory import (
    ModelConfig,
    build_backbone,
    build_matching_model,
    build_pretraining_model,
    build_video_qa_model,
)
from sparsevl.problems import BadInputError
from sparsevl.runner.checkpoint import InitCheckpoint
from sparsevl.tasks.config import RunConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")

VOCAB = 120  # a small vocabulary keeps the files small; BERT's sizes are BERT-base's
LAYERS = 2  # the mapping is per layer; the full 12-layer name set is checked on the meta device
QUERY0 = "transformer.bert.encoder.layer.0.attention.self.query.weight"
WORDS = "transformer.bert.embeddings.word_embeddings.weight"
RES5_CONV = "cnn.feature.backbone.res5.1.conv2.weight"
RANDOM = (QUERY0, WORDS, RES5_CONV, "transformer.bert.embeddings.token_type_embeddings.weight",
          "transformer.bert.visual_embeddings.token_type_embeddings.weight",
          "transformer.bert.visual_embeddings.row_position_embeddings.weight")

# ClipBERT's released configs (jayleicn/ClipBERT src/configs/*.json), the keys that matter here
_COMMON = {
    "img_pixel_mean": [123.675, 116.28, 103.53], "img_pixel_std": [1.0, 1.0, 1.0], "img_input_format": "BGR",
    "model_config": "src/configs/base_model.json",
    "detectron2_model_cfg": "src/configs/detectron2_configs/R-50-grid.yaml",
    "detectron2_weights_path": None, "bert_weights_path": None, "fps": 2, "score_agg_func": "lse",
}
CONFIGS = {
    "msrvtt_qa_base_resnet50.json": ({
        "train_datasets": [{"name": "msrvtt_qa", "txt": {"msrvtt_qa": "/txt/msrvtt_qa/train.jsonl"}, "img": "/img/msrvtt"}],
        "val_datasets": [{"name": "msrvtt_qa", "txt": {"msrvtt_qa": "/txt/msrvtt_qa/val.jsonl"}, "img": "/img/msrvtt"}],
        "max_txt_len": 100, "max_img_size": 448, "num_frm": 2, "train_n_clips": 8, "task": "msrvtt_qa", **_COMMON,
    }, "video_qa"),
    "msrvtt_ret_base_resnet50.json": ({
        "train_datasets": [{"name": "msrvtt", "txt": "/txt/msrvtt_retrieval/train.jsonl", "img": "/img/msrvtt"}],
        "val_datasets": [{"name": "msrvtt_retrieval", "txt": "/txt/msrvtt_retrieval/val.jsonl", "img": "/img/msrvtt"}],
        "max_txt_len": 20, "max_img_size": 448, "num_frm": 2, "train_n_clips": 8, "loss_type": "ce", **_COMMON,
    }, "retrieval"),
    "tgif_qa_action_base_resnet50.json": ({
        "train_datasets": [{"name": "tgif_qa", "txt": {"action": "/txt/tgif_qa/action_train.jsonl"}, "img": "/img/tgif"}],
        "val_datasets": [{"name": "tgif_qa", "txt": {"action": "/txt/tgif_qa/action_val.jsonl"}, "img": "/img/tgif"}],
        "max_txt_len": 25, "max_img_size": 768, "num_frm": 1, "train_n_clips": 1, "task": "action", **_COMMON,
    }, "multiple_choice"),
}
# the model's tensors ClipBERT's pre-trained checkpoint has no counterpart for: new heads
NEW = {"video_qa": {f"head.net.{i}.{p}" for i in (0, 2, 3) for p in ("weight", "bias")},
       "retrieval": {"text_proj.weight", "video_proj.weight", "logit_scale"}}
NEW["multiple_choice"] = NEW["retrieval"]


@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
    """ClipBERT's pre-trained checkpoint (ClipBertForPreTraining) of BERT-base sizes with 2 layers,
    saved as ClipBERT saves it (a flat state dict), and a BERT-base-sized text model folder."""
    folder = tmp_path_factory.mktemp("clipbert")
    state = fill(e2e_shapes(LAYERS, VOCAB), random=RANDOM)
    # ClipBERT saved it with torch 1.5.1 (its Dockerfile): the format before torch 1.6's zip files
    torch.save(state, folder / "clipbert_image_text_pretrained.pt", _use_new_zipfile_serialization=False)
    bert = folder / "bert-base-uncased"
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=VOCAB, num_hidden_layers=LAYERS)).save_pretrained(bert)
    (bert / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
                                              + [f"w{i}" for i in range(VOCAB - 5)]) + "\n")
    return folder, state


def clipbert_run_config(folder, name: str) -> RunConfig:
    data, _ = CONFIGS[name]
    data = {**data, "e2e_weights_path": str(folder / "clipbert_image_text_pretrained.pt"),
            "tokenizer_dir": str(folder / "bert-base-uncased"), "output_dir": str(folder / "run")}
    path = folder / name
    path.write_text(json.dumps(data))
    return load_config(RunConfig, path, [])


def build(cfg: RunConfig, task: str):
    if task == "video_qa":
        return build_video_qa_model(cfg.model, 5, VOCAB)
    return build_matching_model(cfg.model, VOCAB)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_clipbert_configs_load_the_e2e_checkpoint_with_nothing_unused_or_missing(e2e, name, capsys):
    folder, state = e2e
    task = CONFIGS[name][1]
    cfg = clipbert_run_config(folder, name)
    assert cfg.task == task and cfg.init_checkpoint == str(folder / "clipbert_image_text_pretrained.pt")
    assert (cfg.model.backbone, cfg.model.fusion, cfg.model.pool) == ("clipbert_grid_r50", "mean", "pooler")
    model = build(cfg, task)
    report = InitCheckpoint.read(cfg.init_checkpoint).load_into(model)

    assert report.unexpected == []  # every tensor of the file is used or dropped with its reason
    assert set(report.missing) == NEW[task]  # every tensor of the model is ClipBERT's but the new heads
    dropped = set(report.dropped)
    # the MLM head: only a pre-training model has one (test below)
    expected_dropped = {k for k in state if k.startswith(DROPPED_BY_RULE + ("transformer.cls.predictions.",))}
    if task == "video_qa":  # no ITM head: ClipBERT's fine-tuning does not read it either
        expected_dropped |= {"transformer.cls.seq_relationship.weight", "transformer.cls.seq_relationship.bias"}
    assert dropped == expected_dropped
    assert "read as ClipBERT's e2e checkpoint" in report.lines()[0]

    weights = model.state_dict()
    resnet = "visual.backbone.resnet."
    assert torch.equal(weights["cross.bert.encoder.layer.0.attention.self.query.weight"], state[QUERY0])
    assert torch.equal(weights["cross.bert.embeddings.word_embeddings.weight"], state[WORDS])
    assert torch.equal(weights[resnet + "encoder.stages.3.layers.1.layer.1.convolution.weight"], state[RES5_CONV])
    for ours, theirs in (
        ("visual.backbone.grid_encoder.0.weight", "cnn.grid_encoder.0.weight"),
        (resnet + "embedder.embedder.convolution.weight", "cnn.feature.backbone.stem.conv1.weight"),
        (resnet + "embedder.embedder.normalization.running_var", "cnn.feature.backbone.stem.conv1.norm.running_var"),
        (resnet + "encoder.stages.0.layers.0.shortcut.convolution.weight", "cnn.feature.backbone.res2.0.shortcut.weight"),
        (resnet + "encoder.stages.1.layers.0.layer.0.normalization.bias", "cnn.feature.backbone.res3.0.conv1.norm.bias"),
        (resnet + "encoder.stages.3.layers.2.layer.2.normalization.running_mean",
         "cnn.feature.backbone.res5.2.conv3.norm.running_mean"),
        ("cross.bert.encoder.layer.1.output.LayerNorm.bias", "transformer.bert.encoder.layer.1.output.LayerNorm.bias"),
        ("cross.bert.embeddings.position_embeddings.weight", "transformer.bert.embeddings.position_embeddings.weight"),
        ("cross.bert.pooler.dense.weight", "transformer.bert.pooler.dense.weight"),
        ("cross.visual_embeddings.norm.weight", "transformer.bert.visual_embeddings.LayerNorm.weight"),
    ):
        assert torch.equal(weights[ours], state[theirs].expand(weights[ours].shape)), ours
    assert torch.equal(weights["cross.visual_embeddings.col.weight"],  # a constant: rows 64.. are cut
                       state["transformer.bert.visual_embeddings.col_position_embeddings.weight"][:64])
    types = weights["cross.bert.embeddings.token_type_embeddings.weight"]
    assert torch.equal(types[0], state["transformer.bert.embeddings.token_type_embeddings.weight"][0])
    assert torch.equal(types[1], state["transformer.bert.visual_embeddings.token_type_embeddings.weight"][0])
    assert torch.equal(weights["cross.visual_embeddings.row.weight"],
                       state["transformer.bert.visual_embeddings.row_position_embeddings.weight"][:64])
    assert torch.equal(weights["cross.visual_embeddings.proj.weight"], torch.eye(HIDDEN))
    assert not weights["cross.visual_embeddings.time.weight"].any()
    if task != "video_qa":
        assert torch.equal(weights["itm_head.weight"], state["transformer.cls.seq_relationship.weight"].expand(2, HIDDEN))
    assert "e2e_weights_path" in capsys.readouterr().err  # the config's report says where the file went


DROPPED_BY_RULE = ("cnn.feature.proposal_generator.", "cnn.feature.roi_heads.", "cnn.feature.pixel_",
                   "transformer.bert.visual_embeddings.position_embeddings.")


def test_a_pretraining_model_takes_clipberts_mlm_head_too(e2e, tmp_path):
    """Continuing ClipBERT's pre-training (task pretrain): its MLM head lands in ours, decoder tied
    to the word embeddings as in ClipBERT; only the contrastive parts ClipBERT lacks are new."""
    folder, state = e2e
    # ClipBERT's decoder is tied as ours is: its file holds the same values under both names
    p = "transformer.cls.predictions."
    state = {**state, p + "decoder.weight": state["transformer.bert.embeddings.word_embeddings.weight"],
             p + "decoder.bias": state[p + "bias"]}
    torch.save(state, tmp_path / "e2e.pt", _use_new_zipfile_serialization=False)
    cfg = clipbert_run_config(folder, "msrvtt_ret_base_resnet50.json")
    model = build_pretraining_model(cfg.model, VOCAB)
    report = InitCheckpoint.read(tmp_path / "e2e.pt").load_into(model)
    assert report.unexpected == [] and set(report.missing) == NEW["retrieval"]
    assert set(report.dropped) == {k for k in state if k.startswith(DROPPED_BY_RULE)}
    weights = model.state_dict()
    for ours, theirs in (("mlm_head.predictions.transform.dense.weight", "transformer.cls.predictions.transform.dense.weight"),
                         ("mlm_head.predictions.transform.LayerNorm.bias", "transformer.cls.predictions.transform.LayerNorm.bias"),
                         ("mlm_head.predictions.bias", "transformer.cls.predictions.bias"),
                         ("mlm_head.predictions.decoder.weight", "transformer.bert.embeddings.word_embeddings.weight")):
        assert torch.equal(weights[ours], state[theirs].expand(weights[ours].shape)), ours
    head = model.mlm_head.predictions
    assert head.decoder.weight is model.cross.bert.embeddings.word_embeddings.weight  # still tied after loading
    assert head.decoder.bias is head.bias


def test_a_model_without_an_mlm_head_drops_clipberts_saying_why():
    state = {k: torch.zeros(s) for k, s in e2e_shapes(1, 10).items() if k.startswith("transformer.cls.predictions.")}
    mapped = map_clipbert_state(state, {})
    assert mapped.weights == {}
    assert all("only task pretrain has one" in why for why in mapped.dropped.values()) and len(mapped.dropped) == 7


def test_the_visual_embedding_computes_clipberts():
    """ClipBERT: mean over frames, + row + column position, + its visual type, LayerNorm. Ours after
    the mapping (identity projection, zero time table, its type as BERT's type 1): the same."""
    torch.manual_seed(0)
    shapes = e2e_shapes(1, VOCAB)
    state = fill(shapes, random=tuple(k for k in shapes if "visual_embeddings" in k or "token_type" in k))
    model = build_video_qa_model(ModelConfig(backbone="tiny_cnn", backbone_channels=HIDDEN, fusion="mean",
                                             hidden_size=HIDDEN, num_layers=1, num_heads=12,
                                             intermediate_size=3072, max_text_len=512, pool="pooler"), 3, VOCAB)
    mapped = map_clipbert_state(state, model.state_dict())
    model.load_state_dict({**model.state_dict(), **{k: v for k, v in mapped.weights.items()
                                                    if k.startswith("cross.")}})
    model.eval()
    grid = torch.randn(2, 3, 4, 5, HIDDEN)  # (B, frames, H, W, C), ClipBERT's layout
    v = "transformer.bert.visual_embeddings."
    expected = grid.mean(1) + state[v + "row_position_embeddings.weight"][:4, None] \
        + state[v + "col_position_embeddings.weight"][None, :5] + state[v + "token_type_embeddings.weight"][0]
    expected = torch.nn.functional.layer_norm(expected, (HIDDEN,), state[v + "LayerNorm.weight"].expand(HIDDEN),
                                              state[v + "LayerNorm.bias"].expand(HIDDEN), eps=1e-12).flatten(1, 2)
    tokens, positions = model.visual.fusion(grid.permute(0, 1, 4, 2, 3))
    assert torch.allclose(model.cross.embed_visual(tokens, positions, 3), expected, atol=1e-5)


def test_full_size_clipbert_names_all_find_their_place():
    """BERT-base's 12 layers and vocabulary, on the meta device (names and shapes, no memory)."""
    with torch.device("meta"):
        state = {k: torch.empty(s) for k, s in e2e_shapes(12).items()}
        for task, builder in (("video_qa", lambda c: build_video_qa_model(c, 1000, 30522)),
                              ("retrieval", lambda c: build_matching_model(c, 30522))):
            cfg = ModelConfig(backbone="clipbert_grid_r50", fusion="mean", pool="pooler", hidden_size=HIDDEN,
                              num_layers=12, num_heads=12, intermediate_size=3072, max_text_len=512,
                              allow_missing_pretrained=True)
            target = builder(cfg).state_dict()
            mapped = map_clipbert_state(state, target)
            assert not set(mapped.weights) - set(target)
            assert {k: tuple(v.shape) for k, v in mapped.weights.items()} == {
                k: tuple(target[k].shape) for k in mapped.weights}
            assert set(target) - set(mapped.weights) == NEW[task]
            assert len([k for k in mapped.weights if k.startswith("cross.bert.encoder.layer.11.")]) == 16


def test_a_fine_tuned_clipbert_classifier_is_dropped_with_its_reason():
    state = {k: torch.zeros(s) for k, s in e2e_shapes(1, 10, num_labels=3).items() if k.startswith("transformer.")}
    mapped = map_clipbert_state(state, {})
    assert "Linear-ReLU-Linear" in mapped.dropped["transformer.classifier.2.weight"]
    assert not any(k.startswith("transformer.classifier") for k in mapped.weights)


def test_an_unknown_clipbert_tensor_is_reported_as_unused(e2e, tmp_path):
    folder, state = e2e
    odd = {**state, "cnn.feature.backbone.fpn_lateral2.weight": torch.zeros(1)}
    torch.save(odd, tmp_path / "odd.pt")
    model = build_video_qa_model(ModelConfig(backbone="clipbert_grid_r50", backbone_dir=str(tmp_path / "odd.pt"),
                                             fusion="mean", pool="pooler",
                                             text_model_dir=str(folder / "bert-base-uncased")), 5, VOCAB)
    report = InitCheckpoint.read(tmp_path / "odd.pt").load_into(model)
    assert report.unexpected == ["cnn.feature.backbone.fpn_lateral2.weight"]


def test_the_grid_feats_file_loads_the_backbone(tmp_path, capsys):
    """grid-feats-vqa's detectron2 checkpoint (download_pretrained.sh's grid_feat_R-50.pth): the
    state dict under "model", beside the trainer's own entries."""
    state = fill(detectron2_model_shapes(), random=("backbone.res4.5.conv3.weight",))
    torch.save({"model": state, "iteration": 90000}, tmp_path / "grid_feat_R-50.pth", _use_new_zipfile_serialization=False)
    grid, arch = build_backbone(ModelConfig(backbone="clipbert_grid_r50", backbone_dir=str(tmp_path / "grid_feat_R-50.pth"),
                                            fusion="mean"), None)
    assert arch == {}
    ours = grid.state_dict()
    assert torch.equal(ours["resnet.encoder.stages.2.layers.5.layer.2.convolution.weight"],
                       state["backbone.res4.5.conv3.weight"])
    for name, tensor in state.items():
        key = detectron2_resnet_key(name)
        if key is not None:
            assert torch.equal(ours[key], tensor.expand(ours[key].shape)), name
    assert sum(detectron2_resnet_key(k) is not None for k in state) == len(ours) - 1  # all but the grid_encoder
    err = capsys.readouterr().err
    assert "266 backbone tensors" not in err and "265 backbone tensors loaded" in err
    assert "grid_encoder.0.weight not in the file (initialised randomly)" in err


def test_backbone_files_of_other_kinds_are_refused_naming_the_file(tmp_path):
    torch.save({"model": {"layer.weight": torch.zeros(1)}}, tmp_path / "other.pth")
    (tmp_path / "R-50.pkl").write_bytes(b"not read")
    for name, message in (("other.pth", "neither ClipBERT's e2e checkpoint"), ("R-50.pkl", "pickled detectron2 file")):
        cfg = ModelConfig(backbone="clipbert_grid_r50", backbone_dir=str(tmp_path / name), fusion="mean")
        with pytest.raises(BadInputError, match=message) as e:
            build_backbone(cfg, None)
        assert name in str(e.value)


def test_a_run_started_from_a_clipbert_config_loads_and_logs_the_checkpoint(e2e, tmp_path, capsys):
    """`sparsevl train --config msrvtt_qa_base_resnet50.json`'s path, on tiny demo videos: the
    e2e file is mapped, loaded, printed and logged as any init_checkpoint is."""
    from sparsevl.data.demo_data import DemoSpec, generate
    from sparsevl.data.extract_frames import extract_frames
    from sparsevl.runner.train import train
    from txt_db_tools.activitynet_qa import convert as convert_qa

    folder, _ = e2e
    generate(tmp_path / "demo", DemoSpec(num_videos=4, seed=3), progress=False)
    extract_frames(tmp_path / "demo" / "videos", tmp_path / "vis_db", num_frames=2, max_size=64, workers=0,
                   progress=False)
    convert_qa(tmp_path / "demo" / "annotations", tmp_path / "qa_db", quiet=True)
    data, _ = CONFIGS["msrvtt_qa_base_resnet50.json"]
    run = tmp_path / "run"
    path = tmp_path / "msrvtt_qa_base_resnet50.json"
    path.write_text(json.dumps({
        **data, "e2e_weights_path": str(folder / "clipbert_image_text_pretrained.pt"),
        "tokenizer_dir": str(folder / "bert-base-uncased"), "output_dir": str(run), "max_img_size": 64,
        "num_frm": 1, "train_n_clips": 1, "train_batch_size": 2,
        # ours, completing the file for a one-step CPU run on the demo data
        "txt_db": str(tmp_path / "qa_db"), "vis_db": str(tmp_path / "vis_db"), "val_split": None, "max_steps": 1,
        "device": "cpu", "log_every_steps": 1,
    }))
    train(load_config(RunConfig, path, []), progress=False)
    out = capsys.readouterr().out
    assert "read as ClipBERT's e2e checkpoint" in out and "dropped (grid-feats' region proposal network" in out
    logged = next(e for e in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if "init/missing" in e)
    assert logged["init/unexpected"] == [] and set(logged["init/missing"]) == NEW["video_qa"]
    assert "cnn.feature.roi_heads.box_head.fc1.weight" in logged["init/dropped"]


def test_without_the_e2e_file_the_backbone_and_bert_come_from_their_own_files(tmp_path, capsys):
    """ClipBERT's pre-training start: grid-feats' file for the ResNet, bert-base-uncased's folder
    (an original Google-converted file: `bert.` names, LayerNorm gamma / beta) for BERT."""
    detectron2 = fill(detectron2_model_shapes(), random=("backbone.stem.conv1.weight",))
    torch.save({"model": detectron2}, tmp_path / "grid_feat_R-50.pth", _use_new_zipfile_serialization=False)
    bert_folder = tmp_path / "bert-base-uncased"
    bert_folder.mkdir()
    config = BertConfig(vocab_size=VOCAB, num_hidden_layers=1)
    config.save_pretrained(bert_folder)
    torch.manual_seed(0)
    bert = {"bert." + k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
            for k, v in BertModel(config).state_dict().items()}
    torch.save(bert, bert_folder / "pytorch_model.bin", _use_new_zipfile_serialization=False)
    (bert_folder / "vocab.txt").write_text("\n".join(f"w{i}" for i in range(VOCAB)) + "\n")
    data, _ = CONFIGS["msrvtt_qa_base_resnet50.json"]
    path = tmp_path / "c.json"
    path.write_text(json.dumps({**data, "e2e_weights_path": None, "output_dir": str(tmp_path / "run"),
                                "detectron2_weights_path": str(tmp_path / "grid_feat_R-50.pth"),
                                "bert_weights_path": str(bert_folder / "pytorch_model.bin"),
                                "tokenizer_dir": str(bert_folder)}))
    cfg = load_config(RunConfig, path, [])
    assert cfg.init_checkpoint is None
    model = build_video_qa_model(cfg.model, 5, VOCAB)
    weights = model.state_dict()
    assert torch.equal(weights["visual.backbone.resnet.embedder.embedder.convolution.weight"],
                       detectron2["backbone.stem.conv1.weight"])
    assert torch.equal(weights["cross.bert.embeddings.LayerNorm.weight"], bert["bert.embeddings.LayerNorm.gamma"])
    assert torch.equal(weights["cross.bert.pooler.dense.weight"], bert["bert.pooler.dense.weight"])
    assert "detectron2_weights_path" in capsys.readouterr().err
