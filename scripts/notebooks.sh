#!/usr/bin/env bash
# Executes the notebooks headless on the table of the fixtures model, so that they never rot:
# a venv in notebooks/.venv (created once), the table data/outputs/params.parquet from
# fixtures/llama-tiny, then `jupyter nbconvert --execute` of every notebook (outputs go to
# notebooks/.executed/, the committed notebooks stay clean).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=notebooks/.venv
if [ ! -x "$venv/bin/jupyter" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        jupyter nbconvert ipykernel pandas pyarrow matplotlib seaborn
fi
cargo build -p weightlens --locked --quiet
bin="${CARGO_TARGET_DIR:-target}/debug/weightlens"
mkdir -p data/outputs
"$bin" analyze fixtures/llama-tiny --out data/outputs/params.parquet --quiet
for nb in notebooks/*.ipynb; do
    "$venv/bin/jupyter" nbconvert --to notebook --execute --ExecutePreprocessor.timeout=120 \
        --output-dir notebooks/.executed "$nb"
done
