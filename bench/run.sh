#!/usr/bin/env bash
# The benchmark: every performance row (statistics end to end against a numpy read, a cold-cache
# pass, exact ranks against numpy's float64 SVD, a 7B-class shape set, the real models against
# the seed's Python flow, peak RSS) measured in one invocation, printed as one Markdown table
# (bench/run.py says how each row is measured). Run it on a quiet machine: the caption gives
# the load average.
#
# Usage: bench/run.sh   (env: RUNS=3, BENCH_MIB=2048, BENCH_SLOW=1, BENCH_DIR=a work directory
# to keep the generated inputs in between runs; default a temporary one)
# Creates its own venv (bench/.venv) with numpy, safetensors and gguf from PyPI. The criterion
# micro-benchmarks live in bench/criterion/ (own workspaces, `cargo bench` there).
set -euo pipefail
cd "$(dirname "$0")/.."

# GNU time measures each command's peak RSS (bench/run.py says why).
[ -x /usr/bin/time ] || apt-get install -y --no-install-recommends time >/dev/null
if [ ! -x bench/.venv/bin/python ]; then
  python3 -m venv bench/.venv
  bench/.venv/bin/pip install --quiet numpy safetensors gguf
fi
python3 scripts/fetch-models.py >/dev/null
cargo build --release --quiet -p weightlens

work=${BENCH_DIR:-}
if [ -z "$work" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
bench/.venv/bin/python bench/run.py target/release/weightlens "$work"
