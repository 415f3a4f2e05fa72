#!/usr/bin/env bash
# Set up, then run the default test suite (tests marked `slow` are left out; add `-m slow` for them).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
python -m pytest -q "$@"
