#!/usr/bin/env bash
# The Python package's tests: a venv in python/.venv (created once), the package built into it
# with `maturin develop` on the workspace's target directory (the engine and its dependencies
# are already compiled there by the cargo steps, so only the extension itself is built), the
# CLI binary the results are compared with, then pytest on python/tests.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python-env.sh
venv=python/.venv
python_venv "$venv" numpy pyarrow pytest pandas tqdm
cargo build -p weightlens --locked --quiet
start=$(date +%s)
develop_package "$venv"
echo "python-tests: maturin develop took $(( $(date +%s) - start )) s"
export WEIGHTLENS_BIN="$CARGO_TARGET_DIR/debug/weightlens"
"$venv/bin/python" -m pytest -q python/tests "$@"
