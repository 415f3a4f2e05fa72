#!/usr/bin/env bash
# Installs the project and its test dependencies into the current Python environment.
# torch is pinned to 2.13.0, the release whose CPU build this project is tested with.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check torch==2.13.0 -e ".[dev]"
