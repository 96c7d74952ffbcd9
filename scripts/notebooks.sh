#!/usr/bin/env bash
# Executes the notebooks headless on the fixtures model, so that they never rot: a venv in
# notebooks/.venv (created once), the weightlens Python package built into it with
# `maturin develop` on the workspace's target directory (as scripts/python-tests.sh does), then
# `jupyter nbconvert --execute` of every notebook (outputs go to notebooks/.executed/, the
# committed notebooks stay clean).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python-env.sh
venv=notebooks/.venv
python_venv "$venv" jupyter nbconvert ipykernel pandas pyarrow numpy matplotlib seaborn
develop_package "$venv"
for nb in notebooks/*.ipynb; do
    "$venv/bin/jupyter" nbconvert --to notebook --execute --ExecutePreprocessor.timeout=120 \
        --output-dir notebooks/.executed "$nb"
done
