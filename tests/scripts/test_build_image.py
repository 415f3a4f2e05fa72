"""scripts/build_image.sh's choice of builder and its command lines, against stand-in `docker` and
`buildah` executables that record their arguments. The CPU check (`--cpu-test`) itself is run by
CI (.ci/run); tests/test_container.py checks the build arguments it passes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_IMAGE = ROOT / "scripts" / "build_image.sh"


class FakeBuilders:
    """A PATH holding only `dirname` and the stand-ins asked for; `docker info` answers when the
    engine is said to be up."""

    def __init__(self, tmp_path: Path, docker: bool, buildah: bool, engine_up: bool):
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        self.record = tmp_path / "calls"
        (self.bin / "dirname").symlink_to(shutil.which("dirname"))
        info_status = 0 if engine_up else 1
        if docker:
            self._write("docker", f'[ "$1" = info ] && exit {info_status}\n')
        if buildah:
            self._write("buildah", "")
        self.env = {"PATH": str(self.bin), "HOME": str(tmp_path)}

    def _write(self, name: str, prelude: str) -> None:
        script = self.bin / name
        script.write_text(f"#!/bin/sh\n{prelude}printf '%s\\0' {name} \"$@\" >> {self.record}\nprintf '\\n' >> {self.record}\n")
        script.chmod(0o755)

    def calls(self) -> list[list[str]]:
        if not self.record.exists():
            return []
        return [line.split("\0")[:-1] for line in self.record.read_text().split("\n")[:-1]]


def build_image(fakes: FakeBuilders, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/bash", str(BUILD_IMAGE), *args], env={**fakes.env, **env},
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)


def test_uses_docker_when_its_engine_answers(tmp_path):
    fakes = FakeBuilders(tmp_path, docker=True, buildah=True, engine_up=True)
    res = build_image(fakes, "--build-arg", "TORCH_VERSION=2.13.0")
    assert res.returncode == 0, res.stderr
    assert fakes.calls() == [
        ["docker", "build", "-f", "docker/Dockerfile", "-t", "sparsevl:latest", "--build-arg", "TORCH_VERSION=2.13.0", "."],
    ]


def test_uses_buildah_when_no_engine_answers(tmp_path):
    # a docker client without a daemon, as on machines that only have the CLI
    fakes = FakeBuilders(tmp_path, docker=True, buildah=True, engine_up=False)
    res = build_image(fakes, SPARSEVL_IMAGE="me/sparsevl:v1")
    assert res.returncode == 0, res.stderr
    assert fakes.calls() == [
        ["buildah", "bud", "--layers", "--format", "docker", "-f", "docker/Dockerfile", "-t", "me/sparsevl:v1", "."],
    ]
    assert "building with buildah" in res.stdout


def test_builder_can_be_chosen(tmp_path):
    fakes = FakeBuilders(tmp_path, docker=True, buildah=True, engine_up=True)
    res = build_image(fakes, SPARSEVL_BUILDER="buildah")
    assert res.returncode == 0, res.stderr
    assert [call[:2] for call in fakes.calls()] == [["buildah", "bud"]]


@pytest.mark.parametrize(("docker", "builder", "message"), [
    (False, "", "no Docker engine answers and buildah is not installed"),
    (True, "kaniko", "SPARSEVL_BUILDER must be docker or buildah, not 'kaniko'"),
])
def test_no_usable_builder_is_a_clear_error(tmp_path, docker, builder, message):
    fakes = FakeBuilders(tmp_path, docker=docker, buildah=False, engine_up=False)
    res = build_image(fakes, SPARSEVL_BUILDER=builder)
    assert res.returncode != 0
    assert message in res.stderr
    assert fakes.calls() == []


def test_cpu_test_takes_no_other_argument(tmp_path):
    fakes = FakeBuilders(tmp_path, docker=False, buildah=True, engine_up=False)
    res = build_image(fakes, "--cpu-test", "--no-cache")
    assert res.returncode != 0 and "--cpu-test takes no other argument" in res.stderr
    assert fakes.calls() == []


def test_cpu_test_needs_root(tmp_path):
    fakes = FakeBuilders(tmp_path, docker=False, buildah=True, engine_up=False)
    fake_id = fakes.bin / "id"  # a caller with uid 1000
    fake_id.write_text("#!/bin/sh\necho 1000\n")
    fake_id.chmod(0o755)
    res = build_image(fakes, "--cpu-test")
    assert res.returncode != 0 and "--cpu-test needs root" in res.stderr
    assert fakes.calls() == []
