"""Sample frames of every video of a folder (or a list file) into a vis_db (`sparsevl extract-frames`),
or of one shard of them (`shard_plan`). Image files are stored as 1-frame videos (`image_io`).

Worker processes decode videos in parallel (one video per task, a bounded number in flight); the
main process is the only LMDB writer and writes each finished video in one transaction. Videos
already in the store are skipped without decoding, so an interrupted run is resumed by running the
same command again. Bad videos are reported (VIS_DB/extract_errors.log and the end summary) and
skipped, or stop the run with --on-error stop.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import multiprocessing as mp
import os
import queue
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from tqdm import tqdm

from sparsevl.data.image_io import IMAGE_EXTENSIONS, is_image, sample_image
from sparsevl.data.video_io import (
    DEFAULT_FPS,
    DEFAULT_MAX_SIZE,
    DEFAULT_QUALITY,
    VideoError,
    find_videos,
    sample_video,
)
from sparsevl.data.shard_plan import Shard, claim_store
from sparsevl.data.vis_db import RESERVED_IDS, SettingsMismatch, StoreSettings, VisDBWriter
from sparsevl.problems import MissingInputError, ProblemLog, UserError

LOG_NAME = "extract_errors.log"
# Seconds one video may take to decode before it counts as hanging: far above what a long
# high-resolution video needs at the default sampling.
DEFAULT_VIDEO_TIMEOUT = 1800.0
POLL_SECONDS = 0.2  # how often running decodes are checked against the timeout


def default_workers() -> int:
    return min(4, os.cpu_count() or 1)


@dataclasses.dataclass
class ExtractSummary:
    vis_db: Path
    stored: int  # videos written by this run
    skipped_existing: int  # already in the store, not decoded again
    failed: int  # reported to `problems` and skipped
    seconds: float
    problems: ProblemLog

    def __str__(self) -> str:
        head = (
            f"vis_db {self.vis_db}: stored {self.stored}, already present {self.skipped_existing}, "
            f"failed {self.failed} ({self.seconds:.1f} s)"
        )
        return head if not self.failed else head + "\n" + self.problems.summary()


def extract_frames(
    video_dir: str | os.PathLike | None,
    vis_db: str | os.PathLike,
    *,
    fps: float | None = None,
    num_frames: int | None = None,
    max_size: int | None = DEFAULT_MAX_SIZE,
    workers: int | None = None,
    quality: int = DEFAULT_QUALITY,
    on_error: str = "skip",
    progress: bool = True,
    video_timeout: float | None = DEFAULT_VIDEO_TIMEOUT,
    videos: list[Path] | None = None,
    shard: Shard | None = None,
) -> ExtractSummary:
    """Sample every video in `video_dir` (or the files `videos`, e.g. of a list file) into the
    vis_db at `vis_db` (created if missing); with `shard`, only that shard's videos.

    Neither fps nor num_frames: fps=DEFAULT_FPS. workers=0 decodes in this process (no crash
    isolation, no timeout; handy for debugging). A video whose decoding takes longer than
    `video_timeout` seconds (a decoder that hangs) is reported and skipped; None: no limit.
    Raises SettingsMismatch if the store was made with other settings, BadInputError on the first
    bad video when on_error="stop".
    """
    start = time.monotonic()
    check_options(fps, num_frames, max_size, quality)
    if fps is None and num_frames is None:
        fps = DEFAULT_FPS
    workers = default_workers() if workers is None else max(0, int(workers))
    vis_db = Path(vis_db)
    if videos is None and not (video_dir and Path(video_dir).is_dir()):
        raise MissingInputError(f"video folder not found: {video_dir}")

    settings = StoreSettings(
        fps=float(fps) if fps is not None else None,
        num_frames=num_frames,
        max_size=max_size or None,
        quality=int(quality),
    )
    writer = VisDBWriter(vis_db, settings)  # checks the settings before anything else happens
    try:
        claim_store(vis_db, shard)  # records the shard, or refuses a store of another one
        log_path = vis_db / LOG_NAME
        log_path.unlink(missing_ok=True)  # the log describes the latest run only
        problems = ProblemLog(log_path, on_error=on_error)
        paths = find_inputs(video_dir) if videos is None else list(videos)
        todo, skipped = _plan(shard.select(paths) if shard else paths, writer, problems)
        bar = tqdm(
            total=len(todo) + skipped, initial=skipped, unit="video", desc="extract-frames",
            disable=not progress, dynamic_ncols=True,
        )
        stored = 0
        task = _Task(settings, threads=1 if workers > 1 else 0)
        try:
            # closing(): on an early exit (stop mode, Ctrl-C) the pool is shut down right away.
            with contextlib.closing(_run(task, todo, workers, video_timeout)) as outcomes:
                for path, outcome in outcomes:
                    if isinstance(outcome, str):
                        problems.report(path, outcome)  # raises in stop mode
                        if progress:
                            bar.write(f"skipped {path.name}: {outcome}", file=sys.stderr)
                    else:
                        writer.put_video(path.stem, outcome["jpegs"], outcome["meta"])
                        stored += 1
                    bar.update(1)
        finally:
            bar.close()
    finally:
        writer.close()
    return ExtractSummary(
        vis_db=vis_db,
        stored=stored,
        skipped_existing=skipped,
        failed=len(problems),
        seconds=time.monotonic() - start,
        problems=problems,
    )


def find_inputs(video_dir: str | os.PathLike) -> list[Path]:
    """The files `extract-frames` reads in a folder, sorted by name: videos and images by their
    extension, and files without an extension that are images (CC3M's downloader names its
    images `<row>_<crc32>`)."""
    folder = Path(video_dir)
    images = [
        p for p in folder.iterdir()
        if p.is_file() and (p.suffix.lower() in IMAGE_EXTENSIONS or (not p.suffix and is_image(p)))
    ]
    return sorted(find_videos(folder) + images)


class OptionError(UserError, ValueError):
    """Sampling options that cannot be used together or at all."""


def check_options(fps, num_frames, max_size, quality) -> None:
    if fps is not None and num_frames is not None:
        raise OptionError("give fps or num_frames, not both")
    if fps is not None and not fps > 0:
        raise OptionError(f"fps must be > 0, not {fps}")
    if num_frames is not None and num_frames < 1:
        raise OptionError(f"num_frames must be >= 1, not {num_frames}")
    if max_size is not None and max_size < 0:
        raise OptionError(f"max_size must be >= 0 (0 = keep the source size), not {max_size}")
    if not 1 <= quality <= 100:
        raise OptionError(f"quality must be in 1..100, not {quality}")


def _plan(paths: list[Path], writer: VisDBWriter, problems: ProblemLog) -> tuple[list[Path], int]:
    """Videos to decode, and how many are already stored. Unusable names are reported here."""
    todo: list[Path] = []
    seen: dict[str, Path] = {}
    skipped = 0
    for path in paths:
        vid = path.stem
        if vid in seen:
            problems.report(path, f"duplicate video id: {vid!r} is also {seen[vid].name}; skipped")
            continue
        seen[vid] = path
        if vid in RESERVED_IDS:
            problems.report(path, f"reserved name: video id {vid!r} is reserved in vis_db; rename")
            continue
        try:
            vid.encode("utf-8")
        except UnicodeEncodeError:
            problems.report(path, "bad name: the file name is not valid UTF-8; rename")
            continue
        if writer.has(vid):
            skipped += 1
        else:
            todo.append(path)
    return todo, skipped


@dataclasses.dataclass(frozen=True)
class _Task:
    """What a worker runs for one video; picklable. Returns a dict or a problem string."""

    settings: StoreSettings
    threads: int = 0

    def __call__(self, path: Path) -> dict | str:
        if _STARTED is not None:  # the main process times each decode from here
            _STARTED.put((str(path), time.monotonic()))
        s = self.settings
        try:
            if is_image(path):
                video = sample_image(path, max_size=s.max_size, quality=s.quality)
            else:
                video = sample_video(
                    path, fps=s.fps, num_frames=s.num_frames, max_size=s.max_size,
                    quality=s.quality, threads=self.threads,
                )
        except VideoError as e:
            return str(e)
        except Exception as e:  # a bug or an odd file must not take the whole run down
            return f"unexpected error: {type(e).__name__}: {e}"
        return {"jpegs": video.jpegs, "meta": video.meta(s.fps)}


def _run(task: Callable, paths: list[Path], workers: int, timeout: float | None = None) -> Iterator[tuple[Path, dict | str]]:
    """(path, outcome) for every path, in completion order."""
    if workers == 0:
        for path in paths:
            yield path, task(path)
        return
    suspects: list[Path] = []  # in flight when a worker died: which one killed it is unknown
    pending = deque(paths)
    while pending:
        yield from _pool_pass(task, pending, workers, suspects, timeout)
    # Retry each suspect alone: a video that kills its worker again is the culprit.
    for suspect in suspects:
        crashed: list[Path] = []
        yield from _pool_pass(task, deque([suspect]), 1, crashed, timeout)
        if crashed:
            yield suspect, "worker crashed: the decoding process died on this file"


def _pool_pass(task, pending: deque, workers: int, suspects: list, timeout: float | None) -> Iterator:
    """Run tasks from `pending` until it is empty or the pool breaks (in-flight -> suspects), or
    a video exceeds `timeout` (reported; its pool is killed and the others go back to `pending`)."""
    context = mp.get_context("spawn")
    started = context.Queue()  # (path, time) from each worker as it starts a video
    pool = cf.ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init, initargs=(os.getpid(), started))
    inflight: dict[cf.Future, Path] = {}
    start_times: dict[str, float] = {}
    try:
        while pending or inflight:
            # Bounded: results (JPEG lists) wait in memory only for the few tasks in flight.
            while pending and len(inflight) < 2 * workers:
                path = pending.popleft()
                inflight[pool.submit(task, path)] = path
            done, _ = cf.wait(inflight, timeout=POLL_SECONDS if timeout else None, return_when=cf.FIRST_COMPLETED)
            broken = False
            for fut in done:
                path = inflight.pop(fut)
                try:
                    outcome = fut.result()
                except BrokenProcessPool:
                    suspects.append(path)
                    broken = True
                    continue
                yield path, outcome
            if broken:
                suspects.extend(inflight.values())
                inflight.clear()
                return
            if timeout and (late := _late(inflight, started, start_times, timeout)):
                for fut in late:
                    yield inflight.pop(fut), f"timeout: decoding took longer than {timeout:g} s (a hanging decoder?)"
                pending.extendleft(reversed(list(inflight.values())))  # started again in a new pool
                inflight.clear()
                _kill_workers(pool)
                return
    finally:
        # Normal end: workers are idle. Early exit (stop mode, Ctrl-C): drop queued tasks.
        pool.shutdown(wait=not inflight, cancel_futures=True)


def _late(inflight: dict, started, start_times: dict[str, float], timeout: float) -> list:
    """The futures whose video has been decoding for longer than `timeout` (timed from when its
    worker started it, so neither queueing nor a worker's start-up counts)."""
    while True:
        try:
            path, when = started.get_nowait()
        except queue.Empty:
            break
        start_times[path] = when
    now = time.monotonic()
    return [fut for fut, path in inflight.items() if now - start_times.get(str(path), now) > timeout]


def _kill_workers(pool: cf.ProcessPoolExecutor) -> None:
    # the executor has no public way to stop a task that never returns: end its processes
    for process in list((pool._processes or {}).values()):
        process.kill()


# In a decoding worker: where it announces each video it starts (set by `_worker_init`).
_STARTED = None


def _worker_init(parent_pid: int, started) -> None:
    import cv2

    global _STARTED
    _STARTED = started

    cv2.setNumThreads(1)  # parallelism comes from the processes
    # Ctrl-C goes to the whole process group; the main process handles it and stops the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    # If the main process is killed (SIGKILL gives it no chance to stop us), exit instead of
    # waiting forever for work: with the spawn start method our parent is the main process.
    def watch():
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()
