#!/usr/bin/env bash
# Creates .venv with the pinned, tested versions (torch 2.13.0 CPU build from this machine's disk).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "install.sh: creating .venv (pinned versions from constraints.txt; torch 2.13.0 CPU build)"
python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade "pip>=24"
echo "install.sh: installing albert-edge and albert-edge-runtime with their pins (a few minutes, quiet)"
.venv/bin/pip install --quiet -c constraints.txt -e "./runtime[serve,score,parquet,ray]" -e ".[test]"
echo "install.sh: done; try .venv/bin/albert-edge-run predict \"这个产品很好\""
