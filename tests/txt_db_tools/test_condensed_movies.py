import pytest

from sparsevl.txt_db import load_split
from sparsevl.problems import BadInputError
from txt_db_tools.condensed_movies import convert


def test_real_metadata(real_ann, tmp_path):
    ann = real_ann("condensed_movies", "clips.csv", "descriptions.csv", "split.csv", "durations.csv")
    meta = convert(ann, tmp_path / "db", on_error="stop", quiet=True)
    splits = {s: load_split(tmp_path / "db", s) for s in ("train", "val", "test")}
    assert {s: len(r) for s, r in splits.items()} == {"train": 24_132, "val": 3_366, "test": 6_593}
    assert meta["metadata"]["descriptions_in"] == 34_091 and meta["metadata"]["dropped"] == 0
    movies = {s: {r["imdbid"] for r in records} for s, records in splits.items()}
    assert not (movies["train"] & movies["val"] or movies["train"] & movies["test"] or movies["val"] & movies["test"])
    first = splits["train"][0]
    assert first["video_id"] == "Sv-BxH3SVS8" and first["title"] == "Les Misérables" and first["duration"] == 211.0
    assert first["caption"] == 'On the eve of the Rebellion, the players sing "One Day More".'
    assert sum("duration" not in r for rs in splits.values() for r in rs) == 67  # not in durations.csv


def _make(tmp_path, descriptions=None, split="imdbid,split\ntt1,train\ntt2,test\ntt3,holdout\n"):
    ann = tmp_path / "ann"
    ann.mkdir(exist_ok=True)
    (ann / "clips.csv").write_text(
        "videoid,year,clip_idx,clip_tot,upload_year,title,clip_name,imdbid\n"
        "a1,2012.0,1,2,2019,One,Opening Scene,tt1\nb2,2019.0,1,1,2019,Two,\"Hello, Goodbye Scene\",tt2\n"
        "c3,2001.0,1,1,2019,Three,Last Scene,tt3\n")
    (ann / "descriptions.csv").write_text(descriptions or (
        "imdbid,videoid,description\ntt1,a1,A man opens a door.\ntt2,b2,\"She says \"\"hello\"\".\"\n"))
    (ann / "split.csv").write_text(split)
    return ann


def test_small_metadata_without_durations(tmp_path):
    meta = convert(_make(tmp_path), tmp_path / "db", on_error="stop", quiet=True)
    assert [r["caption"] for r in load_split(tmp_path / "db", "test")] == ['She says "hello".']
    assert load_split(tmp_path / "db", "train")[0] == {
        "cid": "a1", "video_id": "a1", "caption": "A man opens a door.", "imdbid": "tt1", "title": "One",
        "clip_name": "Opening Scene"}
    assert load_split(tmp_path / "db", "val") == [] and meta["metadata"]["durations_in"] == 0


@pytest.mark.parametrize("row, message", [
    ("tt1,zz,Unknown clip.", "unknown clip: videoid 'zz' is not in clips.csv"),
    ("tt2,a1,Wrong movie.", "movie mismatch: clips.csv puts the clip in 'tt1'"),
    ("tt3,c3,Held out.", "unknown split: split.csv puts in split 'holdout' of movie 'tt3'"),
])
def test_unusable_descriptions(tmp_path, row, message):
    ann = _make(tmp_path, "imdbid,videoid,description\ntt1,a1,A man opens a door.\n" + row + "\n")
    with pytest.raises(BadInputError, match=rf"descriptions\.csv:3: {message}"):
        convert(ann, tmp_path / "db", on_error="stop", quiet=True)
    meta = convert(ann, tmp_path / "db", quiet=True)
    assert meta["metadata"]["dropped"] == 1 and meta["problems"]["count"] == 1
    assert [r["video_id"] for r in load_split(tmp_path / "db", "train")] == ["a1"]


def test_missing_file_is_an_error(tmp_path):
    ann = _make(tmp_path)
    (ann / "split.csv").unlink()
    with pytest.raises(BadInputError, match=r"split\.csv: not found"):
        convert(ann, tmp_path / "db", quiet=True)
