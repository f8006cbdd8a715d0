#!/usr/bin/env bash
# Creates .venv with the pinned, tested versions (torch 2.13.0 CPU build from this machine's disk).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade "pip>=24"
.venv/bin/pip install --quiet -c constraints.txt -e "./runtime[serve,score,parquet,ray]" -e ".[test]"
