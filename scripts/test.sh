#!/usr/bin/env bash
# The project's test command: fetch the real test models (sha256-verified, cached in
# data/models/), then run every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 scripts/fetch-models.py
cargo test --workspace --locked "$@"
