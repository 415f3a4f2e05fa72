#!/usr/bin/env bash
# Starts an interactive shell in the sparsevl image (docker/Dockerfile), ClipBERT's interface:
#
#   source launch_container.sh TXT_DB VIS_DB OUTPUT PRETRAINED [COMMAND ...]
#   bash launch_container.sh   TXT_DB VIS_DB OUTPUT PRETRAINED [COMMAND ...]
#
# Mounts (fixed paths inside the container; the image's SPARSEVL_* variables name them):
#   TXT_DB     -> /txt       read-only   (SPARSEVL_TXT_DB)
#   VIS_DB     -> /vis       read-only   (SPARSEVL_VIS_DB)
#   OUTPUT     -> /storage   read-write  (SPARSEVL_OUTPUT)
#   PRETRAINED -> /pretrain  read-only   (SPARSEVL_PRETRAIN)
#   this source tree -> /sparsevl, the working folder (it comes first on the image's PYTHONPATH,
#   so edits here are used without rebuilding the image; new dependencies need a rebuild)
#
# Environment:
#   CUDA_VISIBLE_DEVICES  GPUs to pass in, e.g. 0,1 (unset: all; set but empty: none, as CUDA
#                         itself reads it: the container then gets no GPU option at all)
#   SPARSEVL_IMAGE        image to run (default: sparsevl:latest)
#   SPARSEVL_ENGINE       docker (default) or podman
# COMMAND defaults to an interactive bash.
#
# Everything runs inside a function so that, when sourced, no variable or shell option leaks into
# the caller's shell and an error returns instead of closing that shell.

_sparsevl_launch_container() {
    unset -f _sparsevl_launch_container  # leave nothing behind in a sourcing shell
    local usage="usage: source launch_container.sh TXT_DB VIS_DB OUTPUT PRETRAINED [COMMAND ...]"
    if [[ $# -lt 4 ]]; then
        echo "launch_container.sh: expected 4 folders, got $# argument(s)" >&2
        echo "$usage" >&2
        return 2
    fi

    local names=(TXT_DB VIS_DB OUTPUT PRETRAINED) dirs=() i path
    for i in 0 1 2 3; do
        path=${*:i+1:1}
        if [[ ! -d $path ]]; then
            echo "launch_container.sh: ${names[i]} (argument $((i + 1))) is not a folder: '$path'" >&2
            [[ ${names[i]} == OUTPUT ]] && echo "  create it first: mkdir -p '$path'" >&2
            echo "$usage" >&2
            return 1
        fi
        path=$(cd "$path" && pwd -P)  # docker needs absolute paths
        if [[ $path == *:* ]]; then
            echo "launch_container.sh: ${names[i]} path contains ':', which docker -v cannot mount: '$path'" >&2
            return 1
        fi
        dirs+=("$path")
    done
    shift 4

    local engine=${SPARSEVL_ENGINE:-docker}
    if [[ $engine != docker && $engine != podman ]]; then
        echo "launch_container.sh: SPARSEVL_ENGINE must be docker or podman, not '$engine'" >&2
        return 2
    fi

    local src
    src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
    local image=${SPARSEVL_IMAGE:-sparsevl:latest}
    local cmd=("$@")
    [[ ${#cmd[@]} -eq 0 ]] && cmd=(bash)

    # Inside the container the chosen GPUs are renumbered from 0, so CUDA_VISIBLE_DEVICES is not
    # passed in as it is: the engine's GPU option selects them and NVIDIA_VISIBLE_DEVICES records
    # the choice. Without GPUs it is "void", so that an engine whose default runtime is NVIDIA's
    # does not hand in every GPU because the CUDA base image sets it to "all".
    local gpus=${CUDA_VISIBLE_DEVICES-all} gpu_args=() gpu
    if [[ -z $gpus ]]; then
        gpu_args=(-e NVIDIA_VISIBLE_DEVICES=void)
    elif [[ $engine == docker ]]; then
        # A list needs docker's inner quotes: --gpus '"device=0,1"' (the comma would split it otherwise).
        if [[ $gpus == all ]]; then gpu_args=(--gpus all); else gpu_args=(--gpus "\"device=$gpus\""); fi
        gpu_args+=(-e NVIDIA_VISIBLE_DEVICES="$gpus")
    else
        # podman selects GPUs by their CDI names (nvidia-ctk cdi generate): nvidia.com/gpu=all or =N.
        local ids
        IFS=, read -ra ids <<<"$gpus"
        for gpu in "${ids[@]}"; do gpu_args+=(--device "nvidia.com/gpu=$gpu"); done
        gpu_args+=(-e NVIDIA_VISIBLE_DEVICES="$gpus")
    fi

    # --user: files written to OUTPUT belong to the caller, not to the image's user. Rootless
    # podman runs the container in a user namespace where that id is not the caller's unless the
    # caller's id is kept (--userns=keep-id); rootful podman and docker need no mapping.
    local user_args=(--user "$(id -u):$(id -g)")
    [[ $engine == podman && $(id -u) != 0 ]] && user_args+=(--userns=keep-id)
    # A terminal only when there is one: `docker run -t` fails when stdin is not a terminal (a
    # COMMAND run from a script or CI).
    local tty_args=(-i)
    [[ -t 0 ]] && tty_args=(-it)

    "$engine" run --rm "${tty_args[@]}" \
        "${gpu_args[@]}" \
        --ipc=host \
        "${user_args[@]}" \
        -e HOME=/tmp \
        -v "${dirs[0]}:/txt:ro" \
        -v "${dirs[1]}:/vis:ro" \
        -v "${dirs[2]}:/storage" \
        -v "${dirs[3]}:/pretrain:ro" \
        -v "$src:/sparsevl" \
        -w /sparsevl \
        "$image" "${cmd[@]}"
}

# `return` works only when sourced; executed, the subshell test fails and we exit instead.
if (return 0 2>/dev/null); then
    _sparsevl_launch_container "$@"
    return $?
else
    _sparsevl_launch_container "$@"
    exit $?
fi
