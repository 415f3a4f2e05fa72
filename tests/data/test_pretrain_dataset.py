"""Pre-training examples: BERT's masking, drawn per item, and ClipBERT's ITM negatives."""

from __future__ import annotations

import numpy as np

from sparsevl.data.pretrain_dataset import IGNORE, MLM_PROBABILITY, PretrainCollator, mask_tokens
from sparsevl.data.tokenizer import bert_tokenizer, build_word_vocab

SPECIAL = {0, 1, 2, 3, 4}  # [PAD] [UNK] [CLS] [SEP] [MASK]
MASK = 4


def test_masking_takes_15_percent_of_the_ordinary_tokens_80_10_10():
    rng = np.random.default_rng(0)
    ids = [2] + list(range(10, 110)) * 200 + [3]
    masked, labels = mask_tokens(ids, SPECIAL, MASK, 1000, rng)
    chosen = [i for i, lab in enumerate(labels) if lab != IGNORE]
    assert labels[0] == labels[-1] == IGNORE and masked[0] == 2 and masked[-1] == 3  # [CLS], [SEP] never
    assert abs(len(chosen) / (len(ids) - 2) - MLM_PROBABILITY) < 0.01
    assert all(labels[i] == ids[i] for i in chosen)
    as_mask = sum(masked[i] == MASK for i in chosen) / len(chosen)
    unchanged = sum(masked[i] == ids[i] for i in chosen) / len(chosen)
    assert abs(as_mask - 0.8) < 0.02 and abs(unchanged - 0.1) < 0.02  # (a random token may equal the original)
    assert all(masked[i] == ids[i] for i in range(len(ids)) if labels[i] == IGNORE)


def test_a_texts_mask_is_its_items_whatever_the_batch():
    texts = ["a red circle moves left", "a blue square", "the green triangle turns around slowly", "x"]
    tokenizer = bert_tokenizer(build_word_vocab(texts))
    collator = PretrainCollator(tokenizer, max_text_len=20, mlm=True)
    items = [{"frames": np.zeros((1, 1, 2, 2, 3), np.uint8), "video_id": f"v{i}", "caption": t, "pair_text": t,
              "itm_label": 1, "mask_seed": [7, 0, 0, i, 2]} for i, t in enumerate(texts)]
    whole = collator(items)
    alone = collator(items[2:3])  # another batch: other padding, other neighbours
    n = int(alone["pair_attention_mask"].sum())
    assert whole["pair_input_ids"][2, :n].tolist() == alone["pair_input_ids"][0, :n].tolist()
    assert whole["mlm_labels"][2, :n].tolist() == alone["mlm_labels"][0, :n].tolist()
    assert (whole["mlm_labels"][whole["pair_attention_mask"] == 0] == IGNORE).all()
    negative = collator([{**items[2], "itm_label": 0}])
    assert (negative["mlm_labels"] == IGNORE).all()  # another video's caption: nothing to predict from this video
    assert whole["input_ids"].tolist() == collator.tokenize(texts)["input_ids"].tolist()  # captions unmasked for ITC


def test_a_captions_time_window_bounds_its_clips(tmp_path):
    from sparsevl.data.clips import ClipReader, ClipSampling
    from sparsevl.data.demo_data import DemoSpec, generate
    from sparsevl.data.extract_frames import extract_frames
    from sparsevl.data.pretrain_dataset import CaptionPairDataset
    from sparsevl.data.vis_db import VisDB

    generate(tmp_path / "demo", DemoSpec(num_videos=2, seed=1), progress=False)
    extract_frames(tmp_path / "demo" / "videos", tmp_path / "vis_db", num_frames=16, max_size=32, workers=0,
                   progress=False)
    store = VisDB(tmp_path / "vis_db")
    video, other = sorted(store.video_ids())
    times = store.meta(video).timestamps
    start, end = times[9], times[12]  # stored frames 9..12
    reader = ClipReader(store, ClipSampling(num_frm=2, n_clips=3, random=True, seed=0), img_size=32)
    assert reader.window_frames(video, start, end) == (9, 4)
    for item in range(20):
        assert all(9 <= i <= 12 for clip in reader.video_clip_indices(video, item, 0, (start, end)) for i in clip)
    between = (times[3] + 0.25 * (times[4] - times[3]), times[3] + 0.3 * (times[4] - times[3]))
    assert reader.window_frames(video, *between) == (3, 1)  # no frame inside: the nearest one
    records = [{"cid": 0, "video_id": video, "caption": "a", "start": start, "end": end},
               {"cid": 1, "video_id": other, "caption": "b"}]
    dataset = CaptionPairDataset(records, reader, itm_neg_prob=0.0, seed=0)
    frames = dataset[0]["frames"]
    expected = reader.read(video, 0, 0, (start, end))
    assert (frames == expected).all() and not (frames == reader.read(video, 0, 0)).all()
