#!/usr/bin/env bash
# Runs a command and keeps what backs a number in the docs: the command, the machine, the load
# before and after, the wall and CPU time, and the whole output, in docs/logs/NAME.txt.
#
#   bash scripts/record_run.sh NAME COMMAND [ARG ...]
#   bash scripts/record_run.sh demo_qa_seed42 sparsevl demo --out runs/demo
set -euo pipefail
[[ $# -ge 2 ]] || { echo "usage: $0 NAME COMMAND [ARG ...]" >&2; exit 2; }
name=$1
shift
cd "$(dirname "$0")/.."
log=docs/logs/$name.txt
mkdir -p docs/logs
{
    echo "# command: $*"
    echo "# date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "# machine: $(uname -m), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
    echo "# python $(python -c 'import sys; print(sys.version.split()[0])'), torch $(python -c 'import torch; print(torch.__version__)'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$log"
status=0
/usr/bin/time -f "# wall %e s, user %U s, system %S s, max RSS %M KB" -a -o "$log.time" "$@" 2>&1 | tee -a "$log" || status=$?
cat "$log.time" >> "$log" && rm -f "$log.time"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg); exit status $status" >> "$log"
echo "kept: $log"
exit "$status"
