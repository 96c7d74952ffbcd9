#!/usr/bin/env bash
# Benchmark: weightlens against the seed's Python flow (numpy f64 SVD + statistics per tensor),
# measured in the same invocation on the same machine: wall time, peak RSS, and the ratio.
#
# Usage: bench/compare_python.sh [MODEL...]   (default: the real models in data/models/)
# Creates its own venv (bench/.venv) with numpy, safetensors and gguf from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}

if [ ! -x bench/.venv/bin/python ]; then
  python3 -m venv bench/.venv
  bench/.venv/bin/pip install --quiet numpy safetensors gguf
fi
python3 scripts/fetch-models.py >/dev/null
cargo build --release --quiet
bin=target/release/weightlens

models=("$@")
if [ ${#models[@]} -eq 0 ]; then
  models=(data/models/all-MiniLM-L6-v2/model.safetensors data/models/gemma-3-270m-q4_k_m/gemma-3-270m-q4_k_m.gguf)
fi

# best wall time (s) and peak RSS (MB) over $runs runs of a command
measure() {
  local best_t="" best_m=""
  for _ in $(seq "$runs"); do
    local out
    # -o: time's own report must not go where the command's stderr is discarded
    /usr/bin/time -o "$tmp/time" -f "%e %M" "$@" >/dev/null 2>&1
    out=$(tail -1 "$tmp/time")
    local t=${out% *} m=${out#* }
    if [ -z "$best_t" ] || awk "BEGIN{exit !($t < $best_t)}"; then best_t=$t; best_m=$m; fi
  done
  echo "$best_t $((best_m / 1024))"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed "s/^ //"), runs=$runs (best)"
printf "%-40s %10s %10s %12s %12s %8s %8s\n" model python_s wl_s python_MB wl_MB speedup mem
for m in "${models[@]}"; do
  read -r pt pm < <(measure bench/.venv/bin/python bench/python_flow.py "$m")
  read -r wt wm < <(measure "$bin" analyze "$m" --rank exact --out "$tmp/out.csv" -q)
  printf "%-40s %10s %10s %12s %12s %7.1fx %7.1fx\n" "$(basename "$m")" "$pt" "$wt" "$pm" "$wm" \
    "$(awk "BEGIN{print $pt/$wt}")" "$(awk "BEGIN{print $pm/$wm}")"
done

# The synthetic large case: one BF16 matrix per LLM shape, Python timed on each (one run: the
# 4096x11008 SVD alone takes minutes).
if [ "${LARGE:-1}" = 1 ]; then
  bench/.venv/bin/python bench/make_large.py "$tmp/large"
  for f in square rect; do
    read -r pt pm < <(runs=1 measure bench/.venv/bin/python bench/python_flow.py "$tmp/large/$f.safetensors")
    read -r wt wm < <(measure "$bin" analyze "$tmp/large/$f.safetensors" --rank exact --out "$tmp/out.csv" -q)
    printf "%-40s %10s %10s %12s %12s %7.1fx %7.1fx\n" "synthetic-$f (BF16)" "$pt" "$wt" "$pm" "$wm" \
      "$(awk "BEGIN{print $pt/$wt}")" "$(awk "BEGIN{print $pm/$wm}")"
  done
fi
