#!/usr/bin/env bash
# Benchmark and agreement check: weightlens `analyze --spectral` against WeightWatcher 0.7.7
# (bench/spectral_vs_weightwatcher.py says what is measured), in one invocation.
#
# Usage: bench/spectral_vs_weightwatcher.sh   (env: RUNS=best-of count, SIDE=random matrix side,
#        WW_VENV=venv path, default bench/.venv-ww)
# Creates its own venv with weightwatcher==0.7.7, torch (CPU use), transformers and safetensors
# from PyPI (torch is large: several GB with its CUDA dependencies).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${WW_VENV:-bench/.venv-ww}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet weightwatcher==0.7.7 torch transformers safetensors
fi
python3 scripts/fetch-models.py >/dev/null
cargo build --release --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$venv/bin/python" bench/spectral_vs_weightwatcher.py target/release/weightlens \
  data/models/all-MiniLM-L6-v2 "$work" --runs "${RUNS:-1}" --side "${SIDE:-4096}"
