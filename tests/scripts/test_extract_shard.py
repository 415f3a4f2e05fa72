"""The job files of a sharded extraction (docs/scale.md) run here as they would on a cluster: the
slurm array job's script with slurm's variables and a stand-in `srun`, the Kubernetes indexed
job's command with its environment and JOB_COMPLETION_INDEX."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from sparsevl.data.shard_plan import shard_of
from sparsevl.data.vis_db import VisDB

ROOT = Path(__file__).resolve().parents[2]
SBATCH = ROOT / "scripts" / "slurm" / "extract_frames.sbatch"
K8S_JOB = ROOT / "scripts" / "k8s" / "extract-frames.yaml"
K8S_INDEX = ROOT / "scripts" / "k8s" / "vis-db-index.yaml"


@pytest.fixture
def video_list(synth, tmp_path) -> Path:
    for i in range(12):
        synth.write(tmp_path / "videos" / f"clip{i:02d}.mp4", 6)
    listed = tmp_path / "videos.txt"
    listed.write_text("".join(f"videos/clip{i:02d}.mp4\n" for i in range(12)))
    return listed


def run(cmd: list, env: dict, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env={**os.environ, "TQDM_DISABLE": "1", **env},
                          capture_output=True, text=True, timeout=300)


def test_the_slurm_array_job_writes_shards_that_index_as_one_store(video_list, tmp_path):
    fake_srun = tmp_path / "bin" / "srun"
    fake_srun.parent.mkdir()
    fake_srun.write_text('#!/usr/bin/env bash\nexec "$@"\n')  # one task per array element: run it here
    fake_srun.chmod(0o755)
    assert re.search(r"^#SBATCH --array=0-99$", SBATCH.read_text(), re.M)
    out = tmp_path / "vis_db"
    for task in range(3):  # a 3-task array (the file asks for 100; slurm sets the count)
        env = {"PATH": f"{fake_srun.parent}:{os.environ['PATH']}", "SLURM_ARRAY_TASK_ID": str(task),
               "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_CPUS_PER_TASK": "1"}
        r = run(["bash", SBATCH, video_list, out, "--num-frames", "3"], env)
        assert r.returncode == 0, r.stderr
        assert f"shard {task}/3 of {video_list} -> {out}/shard_0000{task} (1 workers)" in r.stdout
    r = run(["sparsevl", "vis-db", "index", out], {})
    assert r.returncode == 0, r.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert [s["shard"] for s in manifest["shards"]] == ["0/3", "1/3", "2/3"] and manifest["videos"] == 12
    for task in range(3):
        with VisDB(out / f"shard_0000{task}") as db:
            assert set(db.video_ids()) == {f"clip{i:02d}" for i in range(12) if shard_of(f"clip{i:02d}", 3) == task}


def test_the_kubernetes_indexed_job_runs_the_same_step(video_list, tmp_path):
    job = yaml.safe_load(K8S_JOB.read_text())
    spec, container = job["spec"], job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert spec["completionMode"] == "Indexed" and spec["completions"] == spec["parallelism"] == int(env["SHARD_COUNT"])
    assert container["workingDir"] == "/sparsevl"  # docker/Dockerfile's WORKDIR, where scripts/ is
    command = container["command"]
    assert command[:2] == ["bash", "scripts/extract_shard.sh"] and command[2:] == ["/data/videos.txt", "/data/vis_db"]
    out = tmp_path / "vis_db"
    for index in (0, spec["completions"] - 1):  # the first and the last pod, with the job's environment
        r = run([*command[:2], video_list, out, "--num-frames", "3"], {**env, "JOB_COMPLETION_INDEX": str(index)})
        assert r.returncode == 0, r.stderr
        assert json.loads((out / f"shard_{index:05d}" / "shard.json").read_text())["count"] == spec["completions"]
    # the index job, before the other 98 shards are there, names what is missing
    index_job = yaml.safe_load(K8S_INDEX.read_text())["spec"]["template"]["spec"]["containers"][0]
    assert index_job["command"] == ["sparsevl", "vis-db", "index", "/data/vis_db"]
    r = run([*index_job["command"][:3], out], {})
    assert r.returncode == 2 and "98 of 100 shards missing: 1/100, 2/100" in r.stderr


def test_the_step_says_what_is_missing(video_list, tmp_path):
    script = ROOT / "scripts" / "extract_shard.sh"
    clean = {k: "" for k in ("SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX", "SHARD_COUNT", "SLURM_ARRAY_TASK_COUNT")}
    r = run(["bash", script, video_list, tmp_path / "out"], clean)
    assert r.returncode == 2 and "no shard index" in r.stderr
    r = run(["bash", script, video_list, tmp_path / "out"], {**clean, "JOB_COMPLETION_INDEX": "1"})
    assert r.returncode == 2 and "no shard count" in r.stderr
    r = run(["bash", script], clean)
    assert r.returncode == 2 and "usage" in r.stderr
