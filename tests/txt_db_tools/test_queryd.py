import pickle

import pytest

from sparsevl.txt_db import load_split
from sparsevl.problems import BadInputError
from sparsevl.problems import ProblemLog
from txt_db_tools.queryd import LINKS_FILE, convert, read_links
from txt_db_tools.sources import SplitLog


def test_real_links_file(real_ann):
    path = real_ann("queryd", LINKS_FILE) / LINKS_FILE
    videos, n_lines = read_links(path, SplitLog(ProblemLog(None, on_error="stop"), "links"))
    assert n_lines == len(videos) == 2926
    assert "video-0-NBRA1aSXk" in videos  # the first line, https://www.youtube.com/watch?v=0-NBRA1aSXk


DESCRIPTIONS = {
    "video-0-NBRA1aSXk": [["a", "woman", "walks", "into", "the", "room"], ["she", "sits", "down"]],
    "video-fTcSVQJ2h8g": [["a", "car", "drives", "away"]],
}


def _make(tmp_path, descriptions=DESCRIPTIONS, name="raw_captions_combined_filtered-v2.pkl", links=True):
    ann = tmp_path / "ann"
    ann.mkdir(exist_ok=True)
    (ann / name).write_bytes(pickle.dumps(descriptions))
    (ann / "train_list.txt").write_text("video-0-NBRA1aSXk\nvideo-fTcSVQJ2h8g\n")
    (ann / "test_list.txt").write_text("video-I6lZBoR5gvs\n")
    if links:
        (ann / LINKS_FILE).write_text("https://www.youtube.com/watch?v=0-NBRA1aSXk\n"
                                      "https://www.youtube.com/watch?v=fTcSVQJ2h8g\n")
    return ann


def test_paragraph_per_video(tmp_path):
    ann = _make(tmp_path)
    with pytest.raises(BadInputError, match=r"test_list\.txt:1: unknown video: 'video-I6lZBoR5gvs' is not in"):
        convert(ann, tmp_path / "db", on_error="stop", quiet=True)
    meta = convert(ann, tmp_path / "db", quiet=True)
    assert load_split(tmp_path / "db", "train") == [
        {"cid": "video-0-NBRA1aSXk", "video_id": "video-0-NBRA1aSXk",
         "caption": "a woman walks into the room she sits down", "num_descriptions": 2},
        {"cid": "video-fTcSVQJ2h8g", "video_id": "video-fTcSVQJ2h8g", "caption": "a car drives away",
         "num_descriptions": 1}]
    assert meta["splits"]["test"]["written"] == 0 and meta["links"]["written"] == 2


def test_without_links_a_video_without_descriptions_is_unusable(tmp_path):
    ann = _make(tmp_path, name="raw_captions_combined_filtered.pkl", links=False)
    meta = convert(ann, tmp_path / "db", quiet=True)
    assert meta["splits"]["test"]["dropped_by_kind"] == {"video without descriptions": 1}
    assert meta["descriptions"]["file"] == "raw_captions_combined_filtered.pkl" and "links" not in meta


def test_bad_pickles(tmp_path):
    ann = _make(tmp_path, descriptions={"video-0-NBRA1aSXk": [["ok"], "not a list", [1, 2]]})
    meta = convert(ann, tmp_path / "db", quiet=True)
    assert meta["descriptions"]["dropped_by_kind"] == {"bad description": 2}
    assert load_split(tmp_path / "db", "train")[0]["caption"] == "ok"
    (ann / "raw_captions_combined_filtered-v2.pkl").write_bytes(pickle.dumps(["a", "list"]))
    with pytest.raises(BadInputError, match=r"-v2\.pkl: expected a dict video -> descriptions, got list"):
        convert(ann, tmp_path / "db", quiet=True)
    (ann / "raw_captions_combined_filtered.pkl").write_bytes(pickle.dumps({}))
    with pytest.raises(BadInputError, match="both of raw_captions_combined_filtered-v2.pkl and"):
        convert(ann, tmp_path / "db", quiet=True)
