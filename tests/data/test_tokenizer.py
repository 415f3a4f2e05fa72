"""The tokenizer comes from the text model's folder: Chinese captions with a Chinese BERT, from the
converter's csv to a trained retrieval checkpoint; a model folder's BERT tokenizer (BLIP's: vocab.txt
or tokenizer.json with added [DEC] and [ENC]) is read with the same ids and the same tokenization."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel, BertTokenizer

from sparsevl.cli import main
from sparsevl.config import from_dict
from sparsevl.data.extract_frames import extract_frames
from sparsevl.data.tokenizer import (
    SPECIAL_TOKENS,
    bert_tokenizer,
    build_word_vocab,
    read_tokenizer_folder,
    tokenizer_from_state,
    tokenizer_state,
)
from sparsevl.problems import MissingInputError, ProblemLog
from sparsevl.runner.checkpoint import load_checkpoint
from sparsevl.tasks.config import RunConfig
from sparsevl.tasks.registry import build_task
from sparsevl.txt_db import load_split
from tests.conftest import write_video
from txt_db_tools.webvid import convert

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# WebVid rows (results_10M_*.csv columns) with Chinese captions: full-width punctuation, a comma
# that makes the csv quote the field, and a Latin word the Chinese vocabulary does not have.
TRAIN = {
    "1001": "一只小狗在草地上奔跑。",
    "1002": "红色的汽车，开过大桥",
    "1003": "女孩在海边看日落",
    "1004": "厨师在厨房里切菜",
    "1005": "雪山下的湖水很蓝",
    "1006": "4K 城市夜景",
}
VAL = {"2001": "小狗在海边奔跑", "2002": "红色的大桥"}


def tiny_chinese_bert(folder: Path, captions: list[str]) -> list[str]:
    """A BERT-layout folder whose vocabulary is the special tokens and single CJK characters (as
    bert-base-chinese's is), with random weights. Returns the vocabulary."""
    chars = sorted({c for text in captions for c in text if "\u4e00" <= c <= "\u9fff"} | set("的了是我你他"))
    vocab = SPECIAL_TOKENS + ["，", "。"] + chars
    folder.mkdir()
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    torch.manual_seed(0)
    BertModel(config, add_pooling_layer=False).save_pretrained(folder)
    return vocab


def write_webvid_csv(path: Path, rows: dict[str, str]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["videoid", "contentUrl", "duration", "page_dir", "name"])
        for videoid, name in rows.items():
            writer.writerow([videoid, f"https://x/{videoid}.mp4", "PT00H00M02S", "000001_000050", name])


@pytest.fixture(scope="module")
def chinese(tmp_path_factory) -> dict[str, Path | list[str]]:
    root = tmp_path_factory.mktemp("chinese")
    ann = root / "ann"
    ann.mkdir()
    write_webvid_csv(ann / "results_10M_train.csv", TRAIN)
    write_webvid_csv(ann / "results_10M_val.csv", VAL)
    convert(ann, root / "txt_db", on_error="stop", quiet=True)
    for i, videoid in enumerate([*TRAIN, *VAL]):
        write_video(root / "videos" / f"{videoid}.mp4", 10 + i, fps=5, size=(48, 32))
    assert extract_frames(root / "videos", root / "vis_db", num_frames=2, max_size=32, workers=0,
                          progress=False).stored == len(TRAIN) + len(VAL)
    vocab = tiny_chinese_bert(root / "bert_zh", [*TRAIN.values(), *VAL.values()])
    return {"root": root, "txt_db": root / "txt_db", "vis_db": root / "vis_db", "bert": root / "bert_zh",
            "vocab": vocab}


def run_config(data: dict, output_dir: Path) -> dict:
    return {
        "task": "retrieval", "txt_db": str(data["txt_db"]), "vis_db": str(data["vis_db"]),
        "output_dir": str(output_dir), "train_split": "train", "val_split": "val",
        "model": {"text_model_dir": str(data["bert"]), "backbone_channels": 8, "backbone_blocks": 2,
                  "max_text_len": 16, "embed_dim": 16, "num_frm": 2, "dropout": 0.0},
        "train_n_clips": 1, "inference_n_clips": 1, "img_size": 32, "train_batch_size": 3,
        "val_batch_size": 4, "num_epochs": 1, "max_steps": 2, "warmup_ratio": 0.0, "log_every_steps": 1,
        "seed": 3, "device": "cpu", "num_workers": 0,
    }


def test_the_converter_keeps_chinese_captions_intact(chinese):
    train = load_split(chinese["txt_db"], "train")
    assert {r["video_id"]: r["caption"] for r in train} == TRAIN
    assert {r["video_id"]: r["caption"] for r in load_split(chinese["txt_db"], "val")} == VAL
    text = (chinese["txt_db"] / "train.jsonl").read_text(encoding="utf-8")
    assert "红色的汽车，开过大桥" in text  # written as UTF-8 characters, readable in the file


def test_the_run_tokenizes_with_the_text_models_vocabulary(chinese, tmp_path):
    cfg = from_dict(RunConfig, run_config(chinese, tmp_path / "run"))
    tokenizer = build_task(cfg, ProblemLog()).collator.tokenizer
    vocab = chinese["vocab"]
    assert tokenizer.get_vocab() == {token: i for i, token in enumerate(vocab)}
    caption = TRAIN["1002"]
    assert tokenizer.tokenize(caption) == ["红", "色", "的", "汽", "车", "，", "开", "过", "大", "桥"]
    ids = tokenizer(caption)["input_ids"]
    assert ids == [vocab.index("[CLS]"), *(vocab.index(c) for c in caption), vocab.index("[SEP]")]
    # a word outside the vocabulary is one [UNK], the characters around it are kept
    assert tokenizer.tokenize(TRAIN["1006"]) == ["[UNK]", "城", "市", "夜", "景"]


def test_without_a_text_model_the_built_vocabulary_is_characters_too():
    vocab = build_word_vocab(TRAIN.values())
    assert {"红", "色", "，", "4k"} <= set(vocab) and "红色的汽车" not in vocab
    assert bert_tokenizer(vocab).tokenize("红色的桥") == ["红", "色", "的", "桥"]


def test_two_training_steps_on_chinese_captions(chinese, tmp_path, capsys):
    run = tmp_path / "run"
    config = tmp_path / "config.json"
    config.write_text(json.dumps(run_config(chinese, run), ensure_ascii=False), encoding="utf-8")
    assert main(["train", "--config", str(config)]) == 0
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    losses = [r["train/loss"] for r in log if "train/loss" in r]
    assert len(losses) == 2 and all(np.isfinite(losses))
    assert [r["val/t2v_queries"] for r in log if "val/t2v_queries" in r] == [len(VAL)]  # evaluated too
    state = load_checkpoint(sorted((run / "ckpt").glob("*.pt"))[-1])
    assert state["task"]["tokenizer"]["vocab"] == chinese["vocab"]  # the checkpoint tokenizes as the run did
    embeddings = [v for k, v in state["model"].items() if k.endswith("word_embeddings.weight")]
    assert [tuple(e.shape) for e in embeddings] == [(len(chinese["vocab"]), 32)]  # the Chinese BERT's

BLIP_WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "red", "ball", "##s", "rolls"]


def test_a_saved_tokenizer_reads_with_its_added_tokens_and_survives_a_checkpoint(tmp_path):
    saved = BertTokenizer(vocab={w: i for i, w in enumerate(BLIP_WORDS)})
    saved.add_special_tokens({"bos_token": "[DEC]", "additional_special_tokens": ["[ENC]"]})
    saved.save_pretrained(tmp_path)
    tokenizer = read_tokenizer_folder(tmp_path)
    assert tokenizer.convert_tokens_to_ids(["[DEC]", "[ENC]"]) == [10, 11]
    text = "A red balls rolls, green"
    expected = saved(text)["input_ids"]
    assert tokenizer(text)["input_ids"] == expected == [2, 5, 6, 7, 8, 9, 1, 1, 3]
    assert tokenizer_from_state(tokenizer_state(tokenizer))(text)["input_ids"] == expected


def test_a_folder_without_a_tokenizer_is_said(tmp_path):
    with pytest.raises(MissingInputError, match=f"{tmp_path}: no BERT tokenizer there"):
        read_tokenizer_folder(tmp_path)
