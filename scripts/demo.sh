#!/usr/bin/env bash
# Set up, then run the whole pipeline on synthetic demo data (CPU: about 4 minutes on 2 cores after
# the set-up; the README gives the measured times).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
sparsevl demo --out runs/demo "$@"
