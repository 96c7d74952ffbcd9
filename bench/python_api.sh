#!/usr/bin/env bash
# Benchmark of the Python package against its baselines, measured in the same run on the same
# machine (release builds): `weightlens.analyze` against the CLI's whole process, and reading
# every tensor with `weightlens.open(...).get()` against `safetensors.safe_open(...,
# framework="numpy")`. See bench/python_api.py.
#
# Usage: bench/python_api.sh [MODEL.safetensors]   (default: the real MiniLM of data/models/)
# Creates its own venv (bench/.venv-py) with the package built by `maturin develop --release`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python-env.sh
venv=bench/.venv-py
python_venv "$venv" numpy pyarrow safetensors
python3 scripts/fetch-models.py >/dev/null
cargo build --release --locked --quiet -p weightlens
develop_package "$venv" --release
model=${1:-data/models/all-MiniLM-L6-v2/model.safetensors}
"$venv/bin/python" bench/python_api.py --cli "$CARGO_TARGET_DIR/release/weightlens" "$model"
