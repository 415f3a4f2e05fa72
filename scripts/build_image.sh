#!/usr/bin/env bash
# Builds the sparsevl image from docker/Dockerfile: with `docker build` when a Docker engine
# answers, else with buildah (no daemon needed).
#
#   bash scripts/build_image.sh [BUILDER_OPTION ...]   the CUDA image (BUILDER_OPTIONs, such as
#                                                      --build-arg NAME=VALUE, go to the builder)
#   bash scripts/build_image.sh --cpu-test             build the CPU image and check it (below)
#
# --cpu-test builds the same Dockerfile for the CPU: on a local Debian 12 base (mmdebstrap), with
# the CPU torch wheel that the host's pip finds, with buildah. Then it runs, in the image,
# `horovodrun --check-build` and tests/test_container.py; through launch_container.sh (podman, no
# GPU), `sparsevl demo` on 40 videos and a 2-process `horovodrun` training on the demo's data; and
# on the host, the test that checks launch_container.sh's mounts and the owner of the files it
# writes. It prints each step's wall time and stops with a non-zero exit status at the first
# failure. It needs root: it installs buildah, podman, runc and mmdebstrap with apt when they are
# missing, and runs buildah and podman rootful.
#
# Environment:
#   SPARSEVL_IMAGE         the image's tag (default: sparsevl:latest; with --cpu-test: sparsevl:cpu-test)
#   SPARSEVL_BUILDER       docker or buildah (default: docker when `docker info` answers, else buildah)
#   SPARSEVL_CPU_TEST_DIR  --cpu-test's working folder: wheelhouse, container storage and the
#                          launched runs (runs/, default: /var/tmp/sparsevl-cpu-test). Kept between
#                          runs, so that the next build reuses the base image and the cached layers
#                          (Horovod's build above all).
#   SPARSEVL_STORAGE_DRIVER  --cpu-test's storage driver: overlay or vfs (default: overlay when the
#                          kernel mounts it in that folder, else vfs)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DOCKERFILE=docker/Dockerfile
BASE_IMAGE=localhost/sparsevl-base:bookworm
# Where the build and the checks see the host's folders (under /tmp: a mount point left behind in
# the image is then an empty folder in /tmp).
WHEELS_MOUNT=/tmp/host-wheels
CA_MOUNT=/tmp/host-ca
PACKAGES=(buildah podman runc mmdebstrap)

log() { echo "[build_image] $*"; }
die() {
    echo "[build_image] error: $*" >&2
    exit 1
}

# --- building -----------------------------------------------------------------------------------

choose_builder() {
    local builder=${SPARSEVL_BUILDER:-}
    if [[ -z $builder ]]; then
        if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
            builder=docker
        elif command -v buildah >/dev/null; then
            builder=buildah
        else
            die "no Docker engine answers and buildah is not installed (apt-get install buildah)"
        fi
    fi
    [[ $builder == docker || $builder == buildah ]] || die "SPARSEVL_BUILDER must be docker or buildah, not '$builder'"
    echo "$builder"
}

# build BUILDER TAG [BUILDER_OPTION ...]
build() {
    local builder=$1 tag=$2
    shift 2
    if [[ $builder == docker ]]; then
        docker build -f "$DOCKERFILE" -t "$tag" "$@" .
    else
        # --layers: keep every step's layer as a cache (buildah's default is to squash them);
        # --format docker: the OCI format cannot record the Dockerfile's SHELL.
        buildah bud --layers --format docker -f "$DOCKERFILE" -t "$tag" "$@" .
    fi
}

# --- the CPU check ------------------------------------------------------------------------------

STEP_TIMES=()
CURRENT_STEP=""

# step NAME COMMAND...: runs one timed step; under `set -e` a failure ends the script, and the
# EXIT trap then names the step and lists the times so far.
step() {
    local name=$1 start=$SECONDS
    shift
    CURRENT_STEP=$name
    log "=== $name"
    "$@"
    STEP_TIMES+=("$(printf '%6ds  %s' $((SECONDS - start)) "$name")")
    log "=== $name: done in $((SECONDS - start)) s"
    CURRENT_STEP=""
}

report_times() {
    local status=$1 line
    [[ ${#STEP_TIMES[@]} -gt 0 ]] && log "wall time per step:"
    for line in "${STEP_TIMES[@]}"; do log "$line"; done
    if [[ $status -ne 0 ]]; then
        log "FAILED (exit status $status) in step: ${CURRENT_STEP:-before the first step}"
    else
        log "all steps passed in $SECONDS s"
    fi
}

install_missing_packages() {
    local missing=() pkg
    for pkg in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        log "already installed: ${PACKAGES[*]}"
        return
    fi
    log "installing with apt: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Whether the kernel mounts overlay file systems in folder DIR (not, for instance, inside some
# containers or on some network file systems).
overlay_works() {
    local probe status=1
    probe=$(mktemp -d -p "$1")
    mkdir "$probe/lower" "$probe/upper" "$probe/work" "$probe/merged"
    if mount -t overlay overlay -o "lowerdir=$probe/lower,upperdir=$probe/upper,workdir=$probe/work" \
        "$probe/merged" 2>/dev/null; then
        umount "$probe/merged"
        status=0
    fi
    rm -rf "$probe"
    return $status
}

# A storage and a configuration of its own for buildah and podman (through the CONTAINERS_*
# variables, which both read), so that podman, started by launch_container.sh, sees the images
# buildah built without any option, and nothing clashes with the machine's own images.
configure_containers() {
    local dir=$1 driver=${SPARSEVL_STORAGE_DRIVER:-}
    mkdir -p "$dir"
    # overlay shares the layers; vfs, which works on any file system, copies the whole file system
    # for every layer and every container: for this image about 40 GB per build, and minutes per
    # container (docs/distributed.md).
    if [[ -z $driver ]]; then
        driver=vfs
        overlay_works "$dir" && driver=overlay
    fi
    log "container storage: $dir/storage-$driver ($driver driver)"
    # A folder per driver: podman's database records the driver and refuses another one.
    cat >"$dir/storage.conf" <<EOF
[storage]
driver = "$driver"
graphroot = "$dir/storage-$driver"
runroot = "/run/sparsevl-cpu-test-$driver"
EOF
    # runc: crun 1.8 (Debian 12's) refuses hosts whose cgroups are in hybrid mode. The limits:
    # podman's defaults for root (over a million open files and processes) are above the hard
    # limits of hosts that do not give root CAP_SYS_RESOURCE (VMs, containers), and the runtime
    # then fails to start the container.
    cat >"$dir/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]

[engine]
runtime = "runc"
EOF
    export CONTAINERS_STORAGE_CONF=$dir/storage.conf CONTAINERS_CONF=$dir/containers.conf
}

# A Debian 12 root file system (mmdebstrap) committed as an image: the CPU image's base.
make_base_image() {
    if buildah inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then
        log "reusing $BASE_IMAGE"
        return
    fi
    local tarball ctr mnt
    tarball=$(mktemp --suffix=.tar)
    mmdebstrap --quiet --variant=minbase bookworm "$tarball"
    ctr=$(buildah from scratch)
    mnt=$(buildah mount "$ctr")
    tar -xf "$tarball" -C "$mnt"
    rm -f "$tarball"
    buildah umount "$ctr" >/dev/null
    buildah commit --quiet --rm "$ctr" "$BASE_IMAGE" >/dev/null
    log "made $BASE_IMAGE"
}

# The host's pip fetches the CPU torch wheel (and what it depends on) and the host's pytest
# into WHEELS, which the build and the checks mount: nothing CUDA is downloaded.
fill_wheelhouse() {
    local wheels=$1 torch_version pytest_version
    torch_version=$(sed -n 's/^ARG TORCH_VERSION=//p' "$DOCKERFILE")
    [[ -n $torch_version ]] || die "no 'ARG TORCH_VERSION=' line in $DOCKERFILE"
    pytest_version=$(python -c 'import pytest; print(pytest.__version__)' 2>/dev/null) ||
        die "pytest is not installed on the host: bash scripts/setup.sh"
    mkdir -p "$wheels"
    python -m pip download --quiet --only-binary :all: -d "$wheels" "torch==$torch_version+cpu" ||
        die "the host's pip cannot find torch $torch_version+cpu (add PyTorch's CPU index: PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu)"
    python -m pip download --quiet --only-binary :all: -d "$wheels" "pytest==$pytest_version"
    echo "$pytest_version" >"$wheels/pytest.version"
    log "wheelhouse $wheels: $(find "$wheels" -name '*.whl' | wc -l) wheels, $(du -sh "$wheels" | cut -f1)"
}

# The CA bundle the host's pip trusts (PIP_CERT or pip's `cert` setting), empty when none is set:
# behind a TLS-intercepting proxy, pip inside the build needs it too.
host_pip_cert() {
    local cert=${PIP_CERT:-}
    [[ -n $cert ]] || cert=$(python -m pip config get global.cert 2>/dev/null || true)
    [[ -n $cert ]] && readlink -f "$cert"
    return 0
}

build_cpu_image() {
    local tag=$1 wheels=$2 cert options
    options=(
        --isolation chroot --network host
        --build-arg BASE_IMAGE="$BASE_IMAGE"
        --build-arg TORCH_WHEELS="$WHEELS_MOUNT"
        --build-arg HOROVOD_GPU=0
        -v "$wheels:$WHEELS_MOUNT:ro"
    )
    cert=$(host_pip_cert)
    if [[ -n $cert ]]; then
        [[ -f $cert ]] || die "pip's CA bundle $cert is not a file"
        options+=(-v "$(dirname "$cert"):$CA_MOUNT:ro" --build-arg PIP_CERT="$CA_MOUNT/$(basename "$cert")")
        log "pip in the build trusts the host's CA bundle $cert"
    fi
    build buildah "$tag" "${options[@]}"
    # Each rebuild leaves the previous image and its layers behind, untagged; with vfs every
    # layer is a full copy of the file system, so they would soon fill the disk.
    buildah rmi --prune >/dev/null || true
}

# in_image COMMAND...: runs COMMAND in a new container of the image as it is (its own copy of the
# sources, its user), with the wheelhouse mounted.
in_image() {
    podman run --rm -v "$WHEELS:$WHEELS_MOUNT:ro" "$TAG" "$@"
}

container_tests_in_image() {
    # pytest from the wheelhouse into /tmp of this container only: the image stays as users get it.
    in_image bash -c "pip install --quiet --no-cache-dir --no-index --find-links $WHEELS_MOUNT \
        --target /tmp/pytest pytest==$(cat "$WHEELS/pytest.version") \
        && PYTHONPATH=/tmp/pytest:\$PYTHONPATH python -m pytest -q -p no:cacheprovider tests/test_container.py"
}

# launch ARGUMENT...: launch_container.sh as a user runs it (podman, no GPU), from the check's
# folder, so that the relative folders are those of docs/distributed.md; printed first.
launch() {
    log "+ (in $CHECK_DIR) SPARSEVL_ENGINE=podman SPARSEVL_IMAGE=$TAG CUDA_VISIBLE_DEVICES= bash launch_container.sh $*"
    (cd "$CHECK_DIR" && SPARSEVL_ENGINE=podman SPARSEVL_IMAGE=$TAG CUDA_VISIBLE_DEVICES='' \
        bash "$ROOT/launch_container.sh" "$@")
}

launch_test_on_host() {
    SPARSEVL_TEST_IMAGE=$TAG python -m pytest -q -p no:cacheprovider \
        tests/test_container.py::test_launch_runs_the_image_with_podman
}

cpu_test() {
    [[ $(id -u) == 0 ]] || die "--cpu-test needs root (apt, rootful buildah and podman)"
    local dir=${SPARSEVL_CPU_TEST_DIR:-/var/tmp/sparsevl-cpu-test}
    TAG=${SPARSEVL_IMAGE:-sparsevl:cpu-test}
    WHEELS=$dir/wheels
    trap 'report_times $?' EXIT

    step "install buildah, podman, runc, mmdebstrap" install_missing_packages
    configure_containers "$dir"
    step "Debian 12 base image" make_base_image
    step "wheelhouse" fill_wheelhouse "$WHEELS"
    step "build $TAG from $DOCKERFILE" build_cpu_image "$TAG" "$WHEELS"
    step "in the image: horovodrun --check-build" in_image horovodrun --check-build
    step "in the image: tests/test_container.py" container_tests_in_image

    # The demo and a 2-process training as a user runs them (docs/distributed.md), in fresh
    # folders: OUTPUT gets the demo's data, then is mounted again with its stores as TXT_DB and VIS_DB.
    CHECK_DIR=$dir
    rm -rf "$dir/runs"
    mkdir -p "$dir/runs/container" "$dir/runs/empty"
    step "launch_container.sh: sparsevl demo (40 videos, 2 steps)" \
        launch runs/empty runs/empty runs/container runs/empty \
        sparsevl demo --out /storage/demo --num-videos 40 --max_steps 2
    step "launch_container.sh: horovodrun -np 2 training (4 steps)" \
        launch runs/container/demo/txt_db runs/container/demo/vis_db runs/container runs/empty \
        horovodrun -np 2 -H localhost:2 --gloo sparsevl train --config configs/container/demo_qa.json --max_steps 4
    step "on the host: launch_container.sh mounts and file owner" launch_test_on_host
}

if [[ ${1:-} == --cpu-test ]]; then
    [[ $# -eq 1 ]] || die "--cpu-test takes no other argument"
    cpu_test
else
    builder=$(choose_builder)
    log "building with $builder"
    build "$builder" "${SPARSEVL_IMAGE:-sparsevl:latest}" "$@"
fi
