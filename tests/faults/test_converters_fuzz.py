"""Fault suite of the annotation converters: every converter is fed broken versions of a small
valid input in its published format (malformed JSON, CSV, TSV and jsonl, wrong types, missing
keys, empty files, non-UTF-8 bytes, random bytes), through its command line, in both --on-error
modes, over an OUT that already holds a complete txt_db.

What must hold for every input:
- exit code 0 and a complete txt_db at OUT: every file meta.json lists is there and nothing else,
  every split readable by the trainer's reader with the fields its task needs, the counts right,
  and (skip mode) every dropped record counted in meta.json and listed in problems.log; or
- exit code 1 and one line on stderr, `error: ...`, naming the annotation file (or folder), with
  OUT exactly as it was before the run;
- never a traceback, and no staging folder left beside OUT.

Examples are drawn deterministically (the same ones every run) unless FUZZ_RANDOM is set;
FUZZ_EXAMPLES sets how many per converter (default 40).
"""

from __future__ import annotations

import contextlib
import csv
import errno
import importlib
import io
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparsevl.txt_db import available_splits, load_ans2label, load_split

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "40")),
    deadline=None,
    derandomize="FUZZ_RANDOM" not in os.environ,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ---------------------------------------------------------------------------- valid inputs


def _json(value) -> bytes:
    return json.dumps(value).encode()


def _table(rows: list[list[str]], delimiter: str = ",", end: str = "\n") -> bytes:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator=end).writerows(rows)
    return buf.getvalue().encode()


@dataclass(frozen=True)
class Case:
    """A converter and a small valid input in its published format."""

    module: str
    task: str  # the txt_db task its records are checked against
    files: dict[str, bytes]
    argv: tuple[str, ...] = ()
    delimiters: dict[str, str] = field(default_factory=dict)  # table file -> delimiter (default ",")


ANET_Q = [{"video_name": f"vid{i}", "question": f"is it {i}", "question_id": f"vid{i}_0"} for i in range(3)]
ANET_A = [{"answer": ["yes", "no"][i % 2], "type": i % 9, "question_id": f"vid{i}_0"} for i in range(3)]
ANET_CAPTIONS = {
    f"v_{i}": {"duration": 10.0, "timestamps": [[0, 4.5], [4.5, 10]], "sentences": [f"a {i} .", " then b ."]}
    for i in range(3)
}
DIDEMO = [{"video": f"{i // 2}.mp4", "description": f"moment {i}", "times": [[0, 1]], "annotation_id": i,
           "dl_link": "x"} for i in range(4)]
MSRVTT_DATA = {"videos": [{"video_id": f"video{n}", "id": n} for n in range(4)],
               "sentences": [{"caption": f"caption {k} of {n}", "video_id": f"video{n}", "sen_id": 2 * n + k}
                             for n in range(4) for k in range(2)]}
QA = [{"answer": a, "id": i, "question": q, "video_id": i + 1, "category_id": 3}
      for i, (q, a) in enumerate([("what is a man doing?", "sing"), ("who slices a tomato?", "woman"),
                                  ("how many dogs?", "two")])]
SSV2_LABELS = {"Spinning something": "0", "Putting something on something": "1"}
SSV2 = [{"id": "74225", "label": "spinning cube", "template": "Spinning [something]", "placeholders": ["cube"]},
        {"id": "5", "label": "putting a on b", "template": "Putting [something] on [something]",
         "placeholders": ["a", "b"]}]
TGIF_HEADERS = {
    "frameqa": ["gif_name", "question", "answer", "type", "vid_id", "key", "description"],
    "action": ["gif_name", "question", "a1", "a2", "a3", "a4", "a5", "answer", "vid_id", "key"],
    "count": ["gif_name", "question", "answer", "vid_id", "key"],
}
TGIF_ROWS = {
    "frameqa": [["tumblr_a", "what is placed in the cone ?", "cookie", "0", "FRAMEQA1", "27", "a cookie ."],
                ["tumblr_b", "where is the guy ?", "machine", "3", "FRAMEQA2", "28", 'a "guy" .']],
    "action": [["tumblr_a", "What does the butterfly do ?", "stuff", "hold", "fall", "talk", "flap", "4",
                "ACTION4", "26"],
               ["tumblr_b", "What does the man do ?", "step", "react", "make", "adjust", "sway", "0",
                "ACTION5", "27"]],
    "count": [["tumblr_a", "How many times does the man jump ?", "3", "COUNT1", "5"],
              ["tumblr_b", "How many times does he nod ?", "0", "COUNT2", "6"]],
}


def _tgif(task: str) -> Case:
    files = {f"{split}_{task}_question.csv": _table([TGIF_HEADERS[task], *TGIF_ROWS[task]], "\t", "\r\n")
             for split in ("Train", "Test")}
    return Case("txt_db_tools.tgif_qa", "multiple_choice" if task == "action" else "video_qa", files,
                ("--task", task), {name: "\t" for name in files})


COCO = {"images": [{"file_name": f"{n:012d}.jpg", "id": n, "height": 4, "width": 4} for n in (9, 25)],
        "annotations": [{"image_id": 9, "id": 48, "caption": "a bowl of food"},
                        {"image_id": 25, "id": 122, "caption": "a giraffe eating"}]}
CONDENSED = {
    "clips.csv": b"videoid,year,clip_idx,clip_tot,upload_year,title,clip_name,imdbid\n"
                 b"a1,2012.0,1,2,2019,One,Opening Scene,tt1\nb2,2019.0,1,1,2019,Two,Last Scene,tt2\n"
                 b"c3,2001.0,1,1,2019,Three,A Scene,tt3\n",
    "descriptions.csv": b"imdbid,videoid,description\ntt1,a1,A man opens a door.\ntt2,b2,She waves.\n"
                        b"tt3,c3,\"They run, fast.\"\n",
    "split.csv": b"imdbid,split\ntt1,train\ntt2,test\ntt3,val\n",
    "durations.csv": b"videoid,duration\na1,83\nb2,119\n",
}
MSVD_CLIPS = ["-4wsuPCjDBc_5_15", "-7KMZQEsJW4_205_208", "abc_1_2"]
QUERYD = {"video-0-NBRA1aSXk": [["a", "woman", "walks"], ["she", "sits"]], "video-fTcSVQJ2h8g": [["a", "car"]]}
VQA_Q = {"data_subtype": "val2014", "questions": [
    {"image_id": 393225, "question": "Is this a bowl?", "question_id": 393225000},
    {"image_id": 42, "question": "How many dogs?", "question_id": 42000}]}
VQA_A = {"annotations": [
    {"question_type": "is this a", "multiple_choice_answer": "yes", "image_id": 393225, "answer_type": "yes/no",
     "question_id": 393225000, "answers": [{"answer": "yes", "answer_confidence": "yes", "answer_id": 1}] * 3},
    {"question_type": "how many", "multiple_choice_answer": "2", "image_id": 42, "answer_type": "number",
     "question_id": 42000, "answers": [{"answer": "2", "answer_confidence": "maybe", "answer_id": 1}]}]}

CASES = {
    "activitynet_qa": Case("txt_db_tools.activitynet_qa", "video_qa", {
        "train_q.json": _json(ANET_Q), "train_a.json": _json(ANET_A),
        "val_q.json": _json(ANET_Q[:2]), "val_a.json": _json(ANET_A[:2])}),
    "activitynet_captions": Case("txt_db_tools.activitynet_captions", "retrieval", {
        "val_1.json": _json(ANET_CAPTIONS), "val_2.json": _json(dict(list(ANET_CAPTIONS.items())[:1]))}),
    "didemo": Case("txt_db_tools.didemo", "retrieval", {
        "train_data.json": _json(DIDEMO), "test_data.json": _json(DIDEMO[:2])}),
    "generic": Case("txt_db_tools.generic", "video_qa", {
        "train.csv": b"video,question,answer,answer_type\nclips/a.mp4,what is it?,cat,what\nb,who?,man,\n",
        "val.jsonl": b'{"video": "c.mp4", "question": "how many?", "answer": "2", "qid": 7}\n'
                     b'{"video": "d", "question": "what?", "answer": "cat"}\n'}),
    "msrvtt": Case("txt_db_tools.msrvtt", "retrieval", {
        "MSRVTT_data.json": _json(MSRVTT_DATA),
        "MSRVTT_train.9k.csv": _table([["video_id"], ["video0"], ["video1"], ["video2"]]),
        "MSRVTT_JSFUSION_test.csv": _table([["key", "vid_key", "video_id", "sentence"],
                                            ["ret0", "msr3", "video3", "a test caption"]])}),
    "msrvtt_mc": Case("txt_db_tools.msrvtt_mc", "multiple_choice", {
        "MSR_MC_test.csv": _table([["key", "vid_key", "video_id", "a1", "a2", "a3", "a4", "a5", "answer"],
                                   ["mc0", "msr7010", "video7010", "a", "b", "c", "d", "e", "0"],
                                   ["mc1", "msr7011", "video7011", "f", "g", "h", "i", "j", "4"]], "\t")},
        delimiters={"MSR_MC_test.csv": "\t"}),
    "msrvtt_qa": Case("txt_db_tools.msrvtt_qa", "video_qa", {
        "train_qa.json": _json(QA), "test_qa.json": _json(QA[:1])}),
    "msvd_qa": Case("txt_db_tools.msvd_qa", "video_qa", {
        "train_qa.json": _json(QA),
        "youtube_mapping.txt": b"-4wsuPCjDBc_5_15 vid1\r\n-7KMZQEsJW4_205_208 vid2\r\nabc_1_2 vid3"}),
    "ssv2": Case("txt_db_tools.ssv2", "classification", {
        "something-something-v2-labels.json": _json(SSV2_LABELS),
        "something-something-v2-train.json": _json(SSV2),
        "something-something-v2-validation.json": _json(SSV2[:1]),
        "something-something-v2-test.json": _json([{"id": "1420"}, {"id": "7"}])}),
    "tgif_qa_frameqa": _tgif("frameqa"),
    "tgif_qa_action": _tgif("action"),
    "tgif_qa_count": _tgif("count"),
    "video_list": Case("txt_db_tools.video_list", "classification", {
        "k400_train_list_videos.txt": b"abseiling/a1.mp4 0\nair_drumming/b2.mp4 1\n",
        "k400_val_list_videos.txt": b"abseiling/c3.mp4 0\r\n"}),
    "coco_captions": Case("txt_db_tools.coco_captions", "pretrain", {"captions_val2017.json": _json(COCO)}),
    "cc3m": Case("txt_db_tools.cc3m", "pretrain", {
        "Validation_GCC-1.1.0-Validation.tsv": b"a cat on a mat\thttp://x/a.jpg\ntwo dogs\thttps://x/b.jpg\n",
        "cc3m_training_success_full.tsv": b"a player at a screen\t3_2841214833\nglobes\t4_2703412885\n"},
        delimiters={"Validation_GCC-1.1.0-Validation.tsv": "\t", "cc3m_training_success_full.tsv": "\t"}),
    "webvid": Case("txt_db_tools.webvid", "pretrain", {"results_10M_val.csv": _table([
        ["videoid", "contentUrl", "duration", "page_dir", "name"],
        ["1023443014", "https://x/1.mp4", "PT00H00M30S", "095201_095250", "Disco light leaks"],
        ["4350377", "https://x/2.mp4", "PT00H00M05S", "199401_199450", "Valle de la luna,\r\nchile"]])}),
    "condensed_movies": Case("txt_db_tools.condensed_movies", "retrieval", CONDENSED),
    "msvd_ret": Case("txt_db_tools.msvd_ret", "retrieval", {
        "train_list.txt": "\n".join(MSVD_CLIPS[:2]).encode(), "test_list.txt": MSVD_CLIPS[2].encode() + b"\n",
        "raw-captions.pkl": pickle.dumps({c: [["a", "clip"], ["of", c]] for c in MSVD_CLIPS})}),
    "vatex": Case("txt_db_tools.vatex", "retrieval", {
        "vatex_training_v1.0.json": _json([{"videoID": "Ptf_2VRj-V0_000122_000132", "enCap": ["A man cuts."],
                                            "chCap": ["一个男人在切。"]}]),
        "vatex_public_test_english_v1.1.json": _json([{"videoID": "abc_000001_000011", "enCap": ["A dog."]}])}),
    "vatex_zh": Case("txt_db_tools.vatex", "retrieval", {
        "vatex_training_v1.0.json": json.dumps([{"videoID": "Ptf_2VRj-V0_000122_000132", "enCap": ["A man."],
                                                 "chCap": ["一个男人在切，１２。", "两个孩子。"]}],
                                               ensure_ascii=False).encode()}, ("--language", "zh")),
    "queryd": Case("txt_db_tools.queryd", "retrieval", {
        "raw_captions_combined_filtered-v2.pkl": pickle.dumps(QUERYD),
        "train_list.txt": b"video-0-NBRA1aSXk\n", "test_list.txt": b"video-fTcSVQJ2h8g\n",
        "relevant-video-links-v2.txt": b"https://www.youtube.com/watch?v=0-NBRA1aSXk\n"
                                       b"https://www.youtube.com/watch?v=fTcSVQJ2h8g\n"}),
    "howto100m": Case("txt_db_tools.howto100m", "pretrain", {"caption.json": _json({
        "nVbIUDjzWY4": {"start": [0.0, 4.5], "end": [4.5, 9.1], "text": ["sure yummy", "going make pancakes"]},
        "5UQBoBmPWgQ": {"start": [12], "end": [20], "text": ["cut wood"]}})}),
    "visual_genome": Case("txt_db_tools.visual_genome", "pretrain", {"region_descriptions.json": _json([
        {"regions": [{"region_id": 1382, "width": 82, "height": 139, "image_id": 1, "phrase": "a green clock",
                      "y": 57, "x": 421}], "id": 1},
        {"regions": [{"region_id": 4091, "width": 40, "height": 38, "image_id": 2, "phrase": "a white car",
                      "y": 320, "x": 318}], "id": 2}])}),
    "vqa_v2": Case("txt_db_tools.vqa_v2", "video_qa", {
        "v2_OpenEnded_mscoco_train2014_questions.json": _json(VQA_Q),
        "v2_mscoco_train2014_annotations.json": _json(VQA_A)}),
}


# ---------------------------------------------------------------------------- broken inputs

# field names of the formats and of txt_db records: a mutation that adds a key picks these often,
# so that a source field clashing with a record field is tried
FIELD_NAMES = sorted({
    "qid", "cid", "video_id", "question", "answer", "answer_type", "options", "caption", "label",
    "type", "question_id", "video_name", "id", "sen_id", "sentences", "timestamps", "template",
    "video", "description", "annotation_id", "count", "label_text", "key", "vid_key", "path",
})
TEXT = st.text(st.characters(codec="utf-8"), max_size=8) | st.sampled_from(
    ["", " ", "-1", "1" * 5000, "9" * 25, "3.5", "vid", "msr", "video1", "\t", '"', "\r\n", "a\nb", "[x]",
     "/", "a/", "/b.mp4", "..", ".mp4"])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(FIELD_NAMES) | TEXT, inner, max_size=3),
    max_leaves=6,
)
# numbers the formats hold (ids, labels, counts, type codes) are replaced by these
ODD_NUMBERS = st.sampled_from([b"9" * 25, b"1" * 5000, b"-1", b"0", b"007", b"1.5", b"1e3", "\u0661".encode()])
BAD_BYTES = st.sampled_from([b"\x80", b"\xff", b"\xc3", b"\xe9", b"\xed\xa0\x80", b"\x00", b"\xef\xbb\xbf"])


class _PlainUnpickler(pickle.Unpickler):
    """The harness's own reader of a pickle it has broken: plain data only, never a class."""

    def find_class(self, module, name):
        raise ValueError(f"a class in the pickle: {module}.{name}")


def _plain_pickle(content: bytes):
    try:
        return _PlainUnpickler(io.BytesIO(content)).load()
    except Exception as e:  # noqa: BLE001: a broken pickle fails in many ways; then its bytes are broken
        raise ValueError(f"not a pickle: {e}") from None


def _kind(name: str) -> str:
    suffix = Path(name).suffix
    return {".json": "json", ".jsonl": "jsonl", ".csv": "table", ".tsv": "table", ".pkl": "pickle"}.get(suffix, "lines")


def _mutate_json_value(data, value):
    """`value` with one node deleted, replaced, added to or emptied."""
    if isinstance(value, (dict, list)) and value and data.draw(st.booleans()):
        keys = list(value) if isinstance(value, dict) else list(range(len(value)))
        key = data.draw(st.sampled_from(keys))
        action = data.draw(st.sampled_from(["descend", "delete", "duplicate"]))
        value = dict(value) if isinstance(value, dict) else list(value)
        if action == "descend":
            value[key] = _mutate_json_value(data, value[key])
        elif action == "delete":
            del value[key]
        elif isinstance(value, list):
            value.insert(key, value[key])
        else:
            value[data.draw(st.sampled_from(FIELD_NAMES))] = value[key]
        return value
    action = data.draw(st.sampled_from(["replace", "add key", "empty"]))
    if action == "replace" or not isinstance(value, (dict, list)):
        return data.draw(JSON_VALUES)
    if action == "add key" and isinstance(value, dict):
        return {**value, data.draw(st.sampled_from(FIELD_NAMES) | TEXT): data.draw(JSON_VALUES)}
    return type(value)()


def _mutate_table(data, content: bytes, delimiter: str) -> bytes:
    rows = list(csv.reader(io.StringIO(content.decode(), newline=""), delimiter=delimiter))
    if not rows:
        raise ValueError("no rows")
    r = data.draw(st.integers(0, len(rows) - 1))
    action = data.draw(st.sampled_from(["cell", "drop cell", "add cell", "drop row", "duplicate row"]))
    if action == "drop row":
        del rows[r]
    elif action == "duplicate row":
        rows.insert(r, list(rows[r]))
    elif action == "add cell":
        rows[r].append(data.draw(TEXT))
    elif rows[r]:
        c = data.draw(st.integers(0, len(rows[r]) - 1))
        if action == "drop cell":
            del rows[r][c]
        else:
            rows[r][c] = data.draw(TEXT)
    if data.draw(st.booleans()):  # written with quoting, or joined raw (broken quoting)
        return _table(rows, delimiter)
    return "\n".join(delimiter.join(row) for row in rows).encode("utf-8", "surrogatepass")


def _mutate_lines(data, content: bytes, kind: str) -> bytes:
    lines = content.split(b"\n")
    i = data.draw(st.integers(0, len(lines) - 1))
    if kind == "jsonl" and data.draw(st.booleans()):
        try:
            lines[i] = json.dumps(_mutate_json_value(data, json.loads(lines[i]))).encode()
            return b"\n".join(lines)
        except ValueError:
            pass
    action = data.draw(st.sampled_from(["replace", "delete", "duplicate", "split"]))
    if action == "delete":
        del lines[i]
    elif action == "duplicate":
        lines.insert(i, lines[i])
    elif action == "split":
        lines[i] = lines[i].replace(b" ", b"  x ", 1) + b" extra"
    else:
        lines[i] = data.draw(TEXT).encode("utf-8", "surrogatepass")
    return b"\n".join(lines)


def _mutate_bytes(data, content: bytes) -> bytes:
    action = data.draw(st.sampled_from(["empty", "random", "truncate", "bad byte", "splice", "number"]))
    numbers = list(re.finditer(rb"[0-9]+", content))
    if action == "number" and numbers:
        m = data.draw(st.sampled_from(numbers))
        return content[: m.start()] + data.draw(ODD_NUMBERS) + content[m.end():]
    if action == "empty":
        return data.draw(st.sampled_from([b"", b"\n", b" \r\n"]))
    if action == "random":
        return data.draw(st.binary(max_size=120))
    at = data.draw(st.integers(0, len(content)))
    if action == "truncate":
        return content[:at]
    if action == "bad byte":
        return content[:at] + data.draw(BAD_BYTES) + content[at:]
    end = data.draw(st.integers(at, len(content)))
    chunk = data.draw(st.text(alphabet='{}[]",:\t\n\r 0123456789abc\\', max_size=6))
    return content[:at] + chunk.encode() + content[end:]


def mutate(data, case: Case, name: str, content: bytes) -> bytes:
    """`content` broken one way: in its structure (JSON nodes, table cells, lines) or its bytes."""
    kind = _kind(name)
    if data.draw(st.booleans(), label="structural"):
        try:  # content an earlier mutation broke may no longer parse: then its bytes are broken
            if kind == "json":
                return json.dumps(_mutate_json_value(data, json.loads(content))).encode("utf-8", "surrogatepass")
            if kind == "pickle":  # plain data, as the caption pickles hold
                return pickle.dumps(_mutate_json_value(data, _plain_pickle(content)))
            if kind == "table":
                return _mutate_table(data, content, case.delimiters.get(name, ","))
            return _mutate_lines(data, content, kind)
        except (ValueError, IndexError, csv.Error):
            pass
    return _mutate_bytes(data, content)


# ---------------------------------------------------------------------------- every field, every odd value

ODD_JSON = [None, -1, 2**64 - 1, 1.5, "", "/", "1" * 5000, {}]
ODD_TEXT = ["", "/", "-1", "1" * 5000, "9" * 25, "\u0661", '"']
DELETE = object()


def _first_record_paths(value, limit: int = 12) -> list[tuple]:
    """Paths to the nodes of a JSON file a converter reads, breadth first: through the first
    element of each list and every key of each object, the first `limit` of them."""
    paths, queue = [], [((), value)]
    while queue and len(paths) < limit:
        path, node = queue.pop(0)
        children = list(node.items()) if isinstance(node, dict) else list(enumerate(node[:1])) if isinstance(
            node, list) else []
        for key, child in children:
            paths.append((*path, key))
            queue.append(((*path, key), child))
    return paths[:limit]


def _set_path(value, path, new):
    value = json.loads(json.dumps(value))
    node = value
    for key in path[:-1]:
        node = node[key]
    if new is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = new
    return value


def _odd_label(new) -> str:
    return "deleted" if new is DELETE else repr(new)[:12]


def _odd_json(value):
    """(where, value broken there) for each field of the first record of a JSON value."""
    for path in _first_record_paths(value):
        for new in [*ODD_JSON, DELETE]:
            yield f"{list(path)}={_odd_label(new)}", _set_path(value, path, new)


def _odd_cells(rows: list[list[str]], row: int):
    """(where, rows broken there) for each cell of `rows[row]`."""
    for c in range(len(rows[row])):
        for new in [*ODD_TEXT, DELETE]:
            broken = [list(r) for r in rows]
            if new is DELETE:
                del broken[row][c]
            else:
                broken[row][c] = new
            yield f"[{row}][{c}]={_odd_label(new)}", broken


def odd_field_inputs(case: Case):
    """(label, files) for each field of the first record of each file replaced by each odd value,
    or deleted."""
    for name, content in case.files.items():
        kind = _kind(name)
        if kind == "pickle":
            for where, value in _odd_json(_plain_pickle(content)):
                yield f"{name}{where}", {**case.files, name: pickle.dumps(value)}
            continue
        text = content.decode()
        if kind == "json":
            broken = ((where, json.dumps(v)) for where, v in _odd_json(json.loads(text)))
        elif kind == "jsonl":
            first, rest = text.split("\n", 1)
            broken = ((where, json.dumps(v) + "\n" + rest) for where, v in _odd_json(json.loads(first)))
        elif kind == "table":
            delimiter = case.delimiters.get(name, ",")
            rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
            broken = ((where, "\n".join(delimiter.join(r) for r in b) + "\n") for where, b in _odd_cells(rows, 1))
        else:
            rows = [line.split(" ") for line in text.splitlines()]
            broken = ((where, "\n".join(" ".join(r) for r in b) + "\n") for where, b in _odd_cells(rows, 0))
        for where, new_text in broken:
            yield f"{name}{where}", {**case.files, name: new_text.encode("utf-8", "surrogatepass")}


# ---------------------------------------------------------------------------- running and checking


def run_main(module: str, argv: list[str]) -> tuple[int, str, str]:
    """The converter's command line in this process: (exit code, stdout, stderr). Any exception
    that escapes it fails the test with its traceback."""
    main = importlib.import_module(module).main
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    except BaseException:  # noqa: BLE001: any escape is the failure this suite looks for
        pytest.fail(f"{module} {' '.join(argv)} raised instead of reporting:\n{traceback.format_exc()}")
    return code, out.getvalue(), err.getvalue()


def snapshot(folder: Path) -> dict[str, bytes] | None:
    if not folder.exists():
        return None
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def check_record(task: str, split: str, r: dict) -> None:
    assert isinstance(r.get("video_id"), str) and r["video_id"], r
    if task == "video_qa":
        assert isinstance(r["qid"], (str, int)) and not isinstance(r["qid"], bool), r
        assert isinstance(r["question"], str) and isinstance(r["answer"], str), r
        assert isinstance(r.get("answer_type", ""), str), r
    elif task == "multiple_choice":
        assert isinstance(r["options"], list) and all(isinstance(o, str) for o in r["options"]), r
        assert isinstance(r["answer"], int) and 0 <= r["answer"] < len(r["options"]), r
    elif task in ("retrieval", "pretrain"):
        assert isinstance(r["cid"], (str, int)) and isinstance(r["caption"], str) and r["caption"].strip(), r
    elif task == "classification" and "label" in r:
        assert isinstance(r["label"], int) and not isinstance(r["label"], bool) and r["label"] >= 0, r


def _dropped(meta: dict) -> int:
    """Dropped source records over the splits and any shared file meta.json counts."""
    counted = list(meta["splits"].values()) + [v for v in meta.values() if isinstance(v, dict) and "dropped" in v]
    return sum(c["dropped"] for c in counted)


def check_complete_txt_db(case: Case, out: Path, mode: str, stdout: str) -> None:
    meta = json.loads((out / "meta.json").read_text())
    assert meta["converter"] == case.module and meta["on_error"] == mode
    listed = set(meta["files"]) | {"meta.json"} | ({"problems.log"} if "problems" in meta else set())
    assert {p.name for p in out.iterdir()} == listed
    assert available_splits(out) == sorted(meta["splits"])
    for split, counts in meta["splits"].items():
        records = load_split(out, split)
        assert len(records) == counts["written"]
        ids = [r.get("qid", r.get("cid", r["video_id"])) for r in records]
        assert len(set(map(repr, ids))) == len(ids), f"{split}: ids not unique"
        for r in records:
            check_record(case.task, split, r)
    if meta["task"] == "video_qa":
        assert load_ans2label(out)
    n_problems = meta.get("problems", {}).get("count", 0)
    assert n_problems == _dropped(meta)
    if mode == "stop":
        assert n_problems == 0
    if n_problems:
        assert len((out / "problems.log").read_text(encoding="utf-8").splitlines()) == n_problems
    assert stdout.startswith(f"wrote {out}\n")


def convert_case(case: Case, files: dict[str, bytes], mode: str, previous: Path | None) -> None:
    """Run the converter on `files` over OUT (a copy of `previous`, or absent); check the outcome."""
    root = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        ann, out = root / "ann", root / "db"
        ann.mkdir()
        for name, content in files.items():
            (ann / name).write_bytes(content)
        if previous is not None:
            shutil.copytree(previous, out)
        before = snapshot(out)
        argv = ["--ann-dir", str(ann), "--out", str(out), "--on-error", mode, *case.argv]
        code, stdout, stderr = run_main(case.module, argv)
        if code == 0:
            check_complete_txt_db(case, out, mode, stdout)
        else:
            assert code == 1, (code, stderr)
            assert stderr.startswith("error: ") and stderr.endswith("\n") and stderr.count("\n") == 1, stderr
            assert str(ann) in stderr, f"the error names no annotation file: {stderr}"
            assert snapshot(out) == before, "a failed run changed OUT"
        assert sorted(p.name for p in root.iterdir()) == (["ann", "db"] if out.exists() else ["ann"])
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module", autouse=True)
def no_fsync():
    """This suite checks what is written and what is left, not durability on power loss: without
    fsync a conversion takes milliseconds instead of tens of them on this kind of file system."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "fsync", lambda fd: None)
        yield


@pytest.fixture(scope="module")
def previous_db(tmp_path_factory):
    """A complete txt_db per case, converted from its valid input: the OUT every broken run must
    leave as it is when it fails."""
    made = {}

    def make(name: str) -> Path:
        if name not in made:
            case = CASES[name]
            ann = tmp_path_factory.mktemp(f"{name}_ann")
            for file, content in case.files.items():
                (ann / file).write_bytes(content)
            out = tmp_path_factory.mktemp(f"{name}_db") / "db"
            code, _, stderr = run_main(case.module, ["--ann-dir", str(ann), "--out", str(out), "--on-error",
                                                     "stop", *case.argv])
            assert code == 0, stderr
            made[name] = out
        return made[name]

    return make


# ---------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("name", list(CASES))
def test_valid_input_converts_cleanly(name, previous_db):
    """The starting point of the fuzzing is a clean conversion of every case."""
    out = previous_db(name)
    meta = json.loads((out / "meta.json").read_text())
    assert "problems" not in meta and all(s["written"] > 0 for s in meta["splits"].values())
    check_complete_txt_db(CASES[name], out, "stop", f"wrote {out}\n")


@pytest.mark.parametrize("name", list(CASES))
@FUZZ
@given(data=st.data())
def test_broken_input_is_converted_or_refused(name, previous_db, data):
    case = CASES[name]
    files = dict(case.files)
    for _ in range(data.draw(st.integers(1, 2), label="mutations")):
        target = data.draw(st.sampled_from(sorted(files)), label="file")
        files[target] = mutate(data, case, target, files[target])
    mode = data.draw(st.sampled_from(["skip", "stop"]), label="mode")
    over_previous = data.draw(st.booleans(), label="over a previous txt_db")
    convert_case(case, files, mode, previous_db(name) if over_previous else None)


@pytest.mark.parametrize("name", list(CASES))
def test_every_field_with_odd_values(name):
    """Each field of a first record replaced by a wrong type, an empty or huge value, a path, a
    negative or non-ASCII number, or deleted: converted with the record skipped, or refused."""
    case = CASES[name]
    for label, files in odd_field_inputs(case):
        try:
            convert_case(case, files, "skip", None)
        except BaseException as e:
            raise AssertionError(f"{name}: {label}") from e


def _broken_whole(content: bytes, kind: str) -> dict[str, bytes]:
    middle = len(content) // 2
    broken = {
        "empty": b"",
        "blank": b"\n \r\n",
        "truncated": content[:middle],
        "random bytes": bytes(range(256)) * 2,
    }
    if kind != "pickle":
        broken["UTF-16"] = content.decode().encode("utf-16")
    return broken


@pytest.mark.parametrize("name", list(CASES))
def test_every_file_empty_truncated_or_undecodable(name):
    case = CASES[name]
    for file, content in case.files.items():
        for how, broken in _broken_whole(content, _kind(file)).items():
            for mode in ("skip", "stop"):
                try:
                    convert_case(case, {**case.files, file: broken}, mode, None)
                except BaseException as e:
                    raise AssertionError(f"{name}: {file} {how}, {mode}") from e
        if _kind(file) == "pickle":
            continue
        # one byte that is not UTF-8 in the middle of a line: refused, naming the file and line
        line_end = content.find(b"\n", len(content) // 3)
        at = line_end if line_end > 0 else len(content) // 2  # the end of a line, or a one-line file's middle
        line = content.count(b"\n", 0, at) + 1
        files = {**case.files, file: content[:at] + b"\xff" + content[at:]}
        root = Path(tempfile.mkdtemp(prefix="fuzz-"))
        try:
            (root / "ann").mkdir()
            for f, c in files.items():
                (root / "ann" / f).write_bytes(c)
            argv = ["--ann-dir", str(root / "ann"), "--out", str(root / "db"), *case.argv]
            code, _, stderr = run_main(case.module, argv)
            assert code == 1 and stderr.startswith(f"error: {root / 'ann' / file}:{line}: not UTF-8 text"), (
                file, stderr)
            assert not (root / "db").exists()
        finally:
            shutil.rmtree(root, ignore_errors=True)


def test_huge_file_converts_in_seconds(tmp_path):
    """100,000 questions (two 5 MB JSON files), one of them bad: every other one converted, the
    bad one counted, in seconds (the conversion is linear in the records: about 2 s here on an
    idle core)."""
    n = 100_000
    questions = [{"video_name": f"v{i % 5000}", "question": f"what is shown in clip {i}", "question_id": f"q{i}"}
                 for i in range(n)]
    answers = [{"answer": f"thing {i % 3000}", "type": i % 9, "question_id": f"q{i}"} for i in range(n)]
    answers[n // 2]["type"] = "Free"
    ann = tmp_path / "ann"
    ann.mkdir()
    (ann / "train_q.json").write_bytes(_json(questions))
    (ann / "train_a.json").write_bytes(_json(answers))
    assert (ann / "train_q.json").stat().st_size > 5_000_000
    started = time.perf_counter()
    argv = ["--ann-dir", str(ann), "--out", str(tmp_path / "db")]
    code, stdout, stderr = run_main("txt_db_tools.activitynet_qa", argv)
    seconds = time.perf_counter() - started
    assert code == 0, stderr
    meta = json.loads((tmp_path / "db" / "meta.json").read_text())
    assert meta["splits"]["train"]["written"] == n - 1 and meta["problems"]["count"] == 2  # the answer, its question
    assert len(load_split(tmp_path / "db", "train")) == n - 1 and len(load_ans2label(tmp_path / "db")) == 1000
    assert seconds < 60, f"{seconds:.1f} s for {n} questions"


def _ann_and_previous(tmp_path, name: str, previous_db) -> tuple[Path, Path, dict]:
    case = CASES[name]
    ann = tmp_path / "ann"
    ann.mkdir()
    for file, content in case.files.items():
        (ann / file).write_bytes(content)
    out = tmp_path / "db"
    shutil.copytree(previous_db(name), out)
    return ann, out, snapshot(out)


def test_disk_full_while_writing_keeps_the_previous_txt_db(tmp_path, previous_db, monkeypatch):
    import txt_db_tools.output as output

    ann, out, before = _ann_and_previous(tmp_path, "activitynet_qa", previous_db)
    written = []

    def write_jsonl_until_full(path, records):
        if written:  # the second split: half of it, then the disk is full
            Path(path).write_text('{"qid": "half"')
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        written.append(path)
        return output_write_jsonl(path, records)

    output_write_jsonl = output.write_jsonl
    monkeypatch.setattr(output, "write_jsonl", write_jsonl_until_full)
    code, _, stderr = run_main("txt_db_tools.activitynet_qa", ["--ann-dir", str(ann), "--out", str(out)])
    assert code == 1 and stderr.startswith("error: [Errno 28] No space left on device: ") and stderr.count("\n") == 1
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ann", "db"]


KILLED_RUN = """
import os, sys
import txt_db_tools.output as output
write = output.write_json_atomic
def write_then_die(path, obj):
    if str(path).endswith("meta.json"):  # everything else written: killed at the last moment
        os._exit(137)
    return write(path, obj)
output.write_json_atomic = write_then_die
from txt_db_tools.activitynet_qa import main
main(sys.argv[1:])
"""


def test_killed_run_leaves_the_previous_txt_db_and_only_a_hidden_partial_folder(tmp_path, previous_db):
    ann, out, before = _ann_and_previous(tmp_path, "activitynet_qa", previous_db)
    (ann / "train_q.json").write_bytes(_json(ANET_Q[:1]))  # a different conversion from the previous one
    argv = ["--ann-dir", str(ann), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    r = subprocess.run([sys.executable, "-c", KILLED_RUN, *argv], capture_output=True, text=True, env=env)
    assert r.returncode == 137, r.stderr
    assert snapshot(out) == before  # the trainer still reads the previous, complete txt_db
    partial = [p.name for p in tmp_path.iterdir() if p.name not in ("ann", "db")]
    assert len(partial) == 1 and partial[0].startswith(".db.") and partial[0].endswith(".partial")
    code, _, stderr = run_main("txt_db_tools.activitynet_qa", argv)  # run again: it completes
    assert code == 0, stderr
    assert len(load_split(out, "train")) == 1
