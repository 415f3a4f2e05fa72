#!/usr/bin/env bash
# One shard of a frame extraction split over many machines: the step each task of a slurm array
# job (scripts/slurm/extract_frames.sbatch) or each pod of a Kubernetes indexed job
# (scripts/k8s/extract-frames.yaml) runs. docs/scale.md has the whole procedure.
#
#   bash scripts/extract_shard.sh VIDEO_LIST OUT_DIR [more extract-frames options, e.g. --fps 2]
#
# Writes shard I of N into OUT_DIR/shard_IIIII (a vis_db); when every shard is done,
# `sparsevl vis-db index OUT_DIR` checks them and writes the manifest that makes OUT_DIR one store.
#   I: SLURM_ARRAY_TASK_ID (slurm) or JOB_COMPLETION_INDEX (Kubernetes)
#   N: SHARD_COUNT if set, else SLURM_ARRAY_TASK_COUNT
#   decoding processes: WORKERS if set, else SLURM_CPUS_PER_TASK, else the number of cores
# Re-running a task resumes its shard (videos already stored are skipped).
set -euo pipefail

die() {
    echo "extract_shard.sh: $*" >&2
    exit 2
}

[[ $# -ge 2 ]] || die "usage: $0 VIDEO_LIST OUT_DIR [extract-frames options ...]"
video_list=$1
out_dir=$2
shift 2
index=${SLURM_ARRAY_TASK_ID:-${JOB_COMPLETION_INDEX:-}}
count=${SHARD_COUNT:-${SLURM_ARRAY_TASK_COUNT:-}}
[[ -n $index ]] || die "no shard index: set SLURM_ARRAY_TASK_ID (slurm array) or JOB_COMPLETION_INDEX (Kubernetes indexed job)"
[[ -n $count ]] || die "no shard count: set SHARD_COUNT (or run in a slurm array, which sets SLURM_ARRAY_TASK_COUNT)"
workers=${WORKERS:-${SLURM_CPUS_PER_TASK:-$(nproc)}}
shard_dir=$out_dir/shard_$(printf '%05d' "$index")

echo "extract_shard.sh: shard $index/$count of $video_list -> $shard_dir ($workers workers) on $(hostname)"
exec sparsevl extract-frames --video-list "$video_list" "$shard_dir" --shard "$index/$count" --workers "$workers" "$@"
