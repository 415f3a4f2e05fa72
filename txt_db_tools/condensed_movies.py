"""CondensedMovies (published metadata) -> txt_db for text-to-video retrieval of movie clips.

    python -m txt_db_tools.condensed_movies --ann-dir DIR --out TXT_DB [--on-error skip|stop]

DIR holds the csv files of m-bain/CondensedMovies (data/metadata/), each with a header line:
- `descriptions.csv`: imdbid, videoid, description: one description per clip;
- `clips.csv`: videoid, year, clip_idx, clip_tot, upload_year, title, clip_name, imdbid;
- `split.csv`: imdbid, split (train, val or test): the split of each movie;
- `durations.csv` (optional): videoid, duration in seconds.

The split is the movie's (split.csv), so no movie has clips in two splits. One record per
description, in file order: {cid: videoid, video_id: videoid (the YouTube id the clip's video file
is named by), caption: description (as published), imdbid, title, clip_name, duration (seconds,
when durations.csv gives it)}. A description of a clip that clips.csv does not list, or lists under
another movie, or of a movie that split.csv does not place in train, val or test, is unusable; an id
given twice in a file drops every row of it. The problems of all four files are counted together
under `metadata` in meta.json.
"""

from __future__ import annotations

from pathlib import Path

from sparsevl.problems import BadInputError, ProblemLog
from txt_db_tools.common import Converter, Options, Shared, SplitInput, each_split
from txt_db_tools.sources import (
    SplitLog,
    brief,
    keep_unique,
    keep_valid,
    line_number,
    read_csv_rows,
    split_counts,
)

SPLITS = ("train", "val", "test")
FILES = {"descriptions": "descriptions.csv", "clips": "clips.csv", "split": "split.csv"}
DURATIONS = "durations.csv"


def _table(path: Path, columns: tuple[str, ...], key: str, log: SplitLog, check=None) -> tuple[dict, int]:
    """The usable rows of a csv by `key`, and the number of rows."""
    rows, n_rows = read_csv_rows(path, columns, log)
    usable = keep_valid(rows, dict.fromkeys(columns, str), path, log, line_number, check=check)
    unique, _ = keep_unique(usable, key, path, log, line_number)
    return {k: row for k, (_, row) in unique.items()}, n_rows


def _duration_problem(row: dict) -> str | None:
    try:
        seconds = float(row["duration"])
    except ValueError:
        seconds = -1.0
    return None if 0 <= seconds < float("inf") else f"bad duration: {brief(row['duration'])} is not seconds"


def read_shared(ann_dir: Path, problems: ProblemLog, _: Options) -> Shared:
    """Every file, read once: the records of each split, and their counts as `metadata`."""
    paths = {role: ann_dir / name for role, name in FILES.items()}
    for role, path in paths.items():
        if not path.is_file():
            raise BadInputError(f"{path}: not found; CondensedMovies needs it ({', '.join(FILES.values())})")
    log = SplitLog(problems, "metadata")
    movies, n_movies = _table(paths["split"], ("imdbid", "split"), "imdbid", log)
    clips, n_clips = _table(paths["clips"], ("videoid", "imdbid"), "videoid", log)
    durations, n_durations = {}, 0
    if (ann_dir / DURATIONS).is_file():
        durations, n_durations = _table(ann_dir / DURATIONS, ("videoid", "duration"), "videoid", log,
                                        _duration_problem)

    def description_problem(row: dict) -> str | None:
        clip = clips.get(row["videoid"])
        if clip is None:
            return f"unknown clip: videoid {brief(row['videoid'])} is not in {FILES['clips']}"
        if clip["imdbid"] != row["imdbid"]:
            return f"movie mismatch: {FILES['clips']} puts the clip in {brief(clip['imdbid'])}"
        movie = movies.get(row["imdbid"])
        if movie is None or movie["split"].strip() not in SPLITS:
            placed = "does not list" if movie is None else f"puts in split {brief(movie['split'])} of"
            return f"unknown split: {FILES['split']} {placed} movie {brief(row['imdbid'])}"
        return None

    descriptions, n_descriptions = _table(paths["descriptions"], ("imdbid", "videoid", "description"), "videoid",
                                          log, description_problem)
    by_split: dict[str, list[dict]] = {split: [] for split in SPLITS}
    for videoid, row in descriptions.items():  # file order
        clip = clips[videoid]
        record = {"cid": videoid, "video_id": videoid, "caption": row["description"], "imdbid": row["imdbid"],
                  "title": clip.get("title", ""), "clip_name": clip.get("clip_name", "")}
        if videoid in durations:
            record["duration"] = float(durations[videoid]["duration"])
        by_split[movies[row["imdbid"]]["split"].strip()].append(record)
    counts = split_counts(log, len(descriptions), descriptions=n_descriptions, clips=n_clips, movies=n_movies,
                          durations=n_durations)
    files = tuple(paths.values()) + ((ann_dir / DURATIONS,) if n_durations else ())
    return Shared(by_split, files, {"metadata": counts})


def read_split(split: SplitInput) -> tuple[list[dict], dict]:
    records = split.shared[split.name]
    counts = split_counts(split.log, len(records), descriptions=len(records))
    counts["movies"] = len({r["imdbid"] for r in records})
    return records, counts


CONVERTER = Converter(
    module="txt_db_tools.condensed_movies",
    doc=__doc__,
    dataset="CondensedMovies",
    task="retrieval",
    files=each_split(SPLITS, descriptions=FILES["descriptions"]),
    read_split=read_split,
    read_shared=read_shared,
    meta={"protocol": "text-to-video retrieval: one description per clip, split by movie (split.csv)"},
)
convert = CONVERTER.convert
main = CONVERTER.main

if __name__ == "__main__":
    raise SystemExit(main())
