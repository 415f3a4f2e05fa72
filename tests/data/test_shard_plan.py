"""Which videos a shard takes: by a hash of the id alone, so stable when the list changes; which
shard a store is, recorded and enforced."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest

from sparsevl.cli import main
from sparsevl.data.extract_frames import extract_frames
from sparsevl.data.shard_plan import Shard, ShardError, read_shard, read_video_list, shard_of
from sparsevl.data.vis_db import VisDB


def test_parse_and_errors():
    assert Shard.parse("3/16") == Shard(3, 16) and str(Shard(3, 16)) == "3/16" and Shard.parse(" 0 / 1 ") == Shard(0, 1)
    for bad, says in (("4/4", "I must be in 0 .. 3"), ("1", "expected I/N"), ("-1/4", "expected I/N"), ("0/0", "0 .. -1")):
        with pytest.raises(ShardError, match=says):
            Shard.parse(bad)


def test_a_videos_shard_depends_on_its_id_alone():
    ids = [f"video{i:05d}" for i in range(2000)]
    paths = [Path(f"/data/{v}.mp4") for v in ids]
    shards = [Shard(i, 4).select(paths) for i in range(4)]
    assert sorted(p for s in shards for p in s) == sorted(paths)  # every video in exactly one shard
    assert all(400 < len(s) < 600 for s in shards)  # and about a quarter in each
    # more videos, elsewhere in the list and in another order: none of the old ones moves
    grown = paths + [Path(f"/other/new{i}.webm") for i in range(500)]
    random.Random(0).shuffle(grown)
    for i in range(4):
        assert set(shards[i]) == set(Shard(i, 4).select(grown)) & set(paths)
    # the assignment is a fixed function of the id (a changed hash would move every shard's videos)
    assert [shard_of(v, 4) for v in ("a", "v_demo00000", "video00001")] == [
        int.from_bytes(hashlib.sha1(v.encode()).digest()[:8], "big") % 4 for v in ("a", "v_demo00000", "video00001")]


def test_video_list_paths_are_relative_to_the_list(tmp_path):
    (tmp_path / "lists").mkdir()
    listed = tmp_path / "lists" / "videos.txt"
    listed.write_text("# Kinetics subset\n\nclips/a.mp4\n  /abs/b.webm  \n")
    assert read_video_list(listed) == [tmp_path / "lists" / "clips" / "a.mp4", Path("/abs/b.webm")]


def test_extracting_a_shard_of_a_list_records_it_and_refuses_another(synth, tmp_path, capsys):
    videos = [synth.write(tmp_path / "videos" / f"clip{i}.mp4", 6) for i in range(12)]
    listed = tmp_path / "videos.txt"
    listed.write_text("".join(f"videos/{v.name}\n" for v in videos))
    store = tmp_path / "shard1"
    assert main(["extract-frames", "--video-list", str(listed), str(store), "--shard", "1/3",
                 "--num-frames", "2", "--workers", "0"]) == 0
    expected = {v.stem for v in videos if shard_of(v.stem, 3) == 1}
    assert 0 < len(expected) < 12
    assert f"shard 1/3 of {listed}: vis_db {store}: stored {len(expected)}" in capsys.readouterr().out
    with VisDB(store) as db:
        assert set(db.video_ids()) == expected
    assert read_shard(store) == Shard(1, 3)
    assert json.loads((store / "shard.json").read_text())["assignment"] == "sha1(video id) mod count"
    # resuming the same shard is fine; another shard or no shard into the same store is not
    extract_frames(None, store, videos=videos, shard=Shard(1, 3), num_frames=2, workers=0, progress=False)
    assert main(["extract-frames", "--video-list", str(listed), str(store), "--shard", "2/3", "--num-frames", "2"]) == 2
    assert "is shard 1/3, not --shard 2/3" in capsys.readouterr().err
    with pytest.raises(ShardError, match="is shard 1/3, not all the videos"):
        extract_frames(tmp_path / "videos", store, num_frames=2, workers=0, progress=False)
    # one of VIDEO_DIR and --video-list
    assert main(["extract-frames", str(tmp_path / "videos"), str(store), "--video-list", str(listed)]) == 2
    assert "give VIDEO_DIR or --video-list FILE" in capsys.readouterr().err
