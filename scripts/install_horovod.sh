#!/usr/bin/env bash
# Builds and installs Horovod 0.28.1 (its last release) against the torch already installed.
#
#   bash scripts/install_horovod.sh                   install (reusing a cached wheel if there is one)
#   bash scripts/install_horovod.sh --patch-only DIR  only patch an unpacked horovod-0.28.1 sdist in DIR
#
# Environment:
#   PYTHON                 the interpreter to install into (default: python)
#   SPARSEVL_WHEEL_CACHE   folder for built wheels (default: ~/.cache/sparsevl/wheels)
#   SPARSEVL_HOROVOD_GPU=1 also build the GPU operations with NCCL (needs the CUDA toolkit and
#                          NCCL headers, as in docker/Dockerfile); default: CPU only (Gloo)
#   MAKEFLAGS              passed to make (default: -j<number of cores>)
#
# Why a source build with a patch: 0.28.1 predates current torch and CMake. torch's headers need
# C++17, but Horovod asks CMake for C++14; and CMake 4 rejects the old cmake_minimum_required()
# of Horovod's bundled third-party projects unless CMAKE_POLICY_VERSION_MINIMUM is set.
set -euo pipefail

HOROVOD_VERSION=0.28.1
# The two files that set C++14 (paths inside the sdist).
PATCHED_FILES=(CMakeLists.txt horovod/torch/CMakeLists.txt)
# Used only when no cmake (>= 3.13) is on PATH.
CMAKE_PIP_SPEC="cmake==4.4.4"

log() { echo "[install_horovod] $*"; }
die() {
    echo "[install_horovod] error: $*" >&2
    exit 1
}

# Turn `set(CMAKE_CXX_STANDARD 14)` into 17 in both files; fail if either has no such line.
patch_sources() {
    local dir=$1 file
    [[ -d $dir ]] || die "--patch-only: '$dir' is not a folder"
    for file in "${PATCHED_FILES[@]}"; do
        [[ -f $dir/$file ]] || die "cannot patch: $dir/$file does not exist"
        grep -Eq '^[[:space:]]*set\(CMAKE_CXX_STANDARD 14\)' "$dir/$file" ||
            die "cannot patch: no 'set(CMAKE_CXX_STANDARD 14)' line in $dir/$file (not the horovod $HOROVOD_VERSION sources?)"
        sed -i -E 's/^([[:space:]]*)set\(CMAKE_CXX_STANDARD 14\)/\1set(CMAKE_CXX_STANDARD 17)/' "$dir/$file"
        log "patched $dir/$file: CMAKE_CXX_STANDARD 14 -> 17"
    done
}

if [[ ${1:-} == --patch-only ]]; then
    [[ $# -eq 2 ]] || die "usage: $0 --patch-only DIR"
    patch_sources "$2"
    exit 0
elif [[ $# -ne 0 ]]; then
    die "usage: $0 [--patch-only DIR]"
fi

PYTHON=${PYTHON:-python}
PIP=("$PYTHON" -m pip --disable-pip-version-check)
want_gpu=${SPARSEVL_HOROVOD_GPU:-0}

# Already installed (with NCCL if asked for)? Then there is nothing to do.
check_import='import horovod.torch as hvd'
if [[ $want_gpu == 1 ]]; then
    check_import+='; assert hvd.nccl_built(), "horovod was built without NCCL"'
fi
if "$PYTHON" -c "$check_import" 2>/dev/null; then
    log "horovod.torch already imports in $("$PYTHON" -c 'import sys; print(sys.prefix)'); nothing to do"
    exit 0
fi

torch_version=$("$PYTHON" -c 'import torch; print(torch.__version__)' 2>/dev/null) ||
    die "torch is not installed in $PYTHON; install the project first (bash scripts/setup.sh)"
variant=cpu
[[ $want_gpu == 1 ]] && variant=nccl
# A wheel is only good for the torch it was built against (C++ ABI), so the cache is keyed by it.
cache_root=${SPARSEVL_WHEEL_CACHE:-$HOME/.cache/sparsevl/wheels}
cache_dir=$cache_root/horovod-$HOROVOD_VERSION-torch$torch_version-$variant
shopt -s nullglob
cached=("$cache_dir"/horovod-"$HOROVOD_VERSION"-*.whl)
shopt -u nullglob

if [[ ${#cached[@]} -eq 0 ]]; then
    log "no cached wheel in $cache_dir: building horovod $HOROVOD_VERSION against torch $torch_version ($variant)"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT

    # Build prerequisites (--no-build-isolation below builds against these).
    "$PYTHON" -c 'import numpy' 2>/dev/null || {
        log "installing numpy"
        "${PIP[@]}" install numpy
    }
    # setup.py needs `packaging`; setuptools >= 70.1 builds wheels without the `wheel` package.
    "${PIP[@]}" install "setuptools>=70.1" packaging
    cmake_ver=$(cmake --version 2>/dev/null | head -n1 | grep -Eo '[0-9]+\.[0-9]+(\.[0-9]+)?' || true)
    # sort -V puts the smaller version first: 3.13 first means cmake_ver >= 3.13.
    if [[ -z $cmake_ver || $(printf '%s\n' 3.13 "$cmake_ver" | sort -V | head -n1) != 3.13 ]]; then
        log "no cmake >= 3.13 on PATH: installing $CMAKE_PIP_SPEC"
        "${PIP[@]}" install "$CMAKE_PIP_SPEC"
        # The interpreter's bin folder holds the new cmake; it may not be on PATH yet.
        PATH="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
        export PATH
    fi
    log "using $(cmake --version | head -n1)"

    log "downloading the horovod $HOROVOD_VERSION sdist"
    "${PIP[@]}" download --no-deps --no-binary :all: -d "$work" "horovod==$HOROVOD_VERSION"
    tar -xzf "$work/horovod-$HOROVOD_VERSION.tar.gz" -C "$work"
    src=$work/horovod-$HOROVOD_VERSION
    patch_sources "$src"

    build_env=(
        CMAKE_POLICY_VERSION_MINIMUM=3.5
        HOROVOD_WITH_PYTORCH=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1
        HOROVOD_WITHOUT_TENSORFLOW=1 HOROVOD_WITHOUT_MXNET=1
        # Horovod runs make -j8 unless MAKEFLAGS is set: each compile of the torch bindings can
        # take 1-2 GB, too much for a small machine or a Docker build, so use one job per core.
        MAKEFLAGS="${MAKEFLAGS:--j$(nproc)}"
    )
    [[ $want_gpu == 1 ]] && build_env+=(HOROVOD_GPU_OPERATIONS=NCCL)
    log "building the wheel (several minutes): ${build_env[*]}"
    # Build into the work folder and move the wheel into the cache only once it is complete.
    env "${build_env[@]}" "${PIP[@]}" wheel --no-deps --no-build-isolation -w "$work/dist" "$src"
    mkdir -p "$cache_dir"
    mv "$work"/dist/horovod-"$HOROVOD_VERSION"-*.whl "$cache_dir"/
    cached=("$cache_dir"/horovod-"$HOROVOD_VERSION"-*.whl)
    log "cached ${cached[0]}"
else
    log "using the cached wheel ${cached[0]}"
fi

log "installing ${cached[0]}"
# A horovod that is installed but fails the check above (say, built without NCCL) has the same
# version, so pip would keep it: remove it first (a no-op when there is none).
"${PIP[@]}" uninstall --yes --quiet horovod 2>/dev/null || true
"${PIP[@]}" install "${cached[0]}"
"$PYTHON" -c "$check_import" || die "horovod installed but '$check_import' fails"
log "done: horovod $HOROVOD_VERSION ($variant) installed; try: horovodrun -np 2 -H localhost:2 --gloo python -c 'import horovod.torch as hvd; hvd.init(); print(hvd.rank(), hvd.size())'"
