#!/usr/bin/env bash
# Benchmark: dequantization of large quantized safetensors weights. For each scheme, a
# [11008, 4096] checkpoint (GPTQ 4-bit group 128; block-scaled FP8 128 x 128) is generated, then
# timed in the same run: `weightlens analyze --rank none` (dequantize + statistics, all cores)
# against a vectorized numpy dequantization of the same tensor with the same statistics
# (bench/dequant_numpy.py, float32 dequant, float64 moments). Prints best wall times of $RUNS
# runs, best CPU times, and the ratios numpy / weightlens (> 1: weightlens is faster).
#
# Usage: bench/dequant.sh            (needs python3; numpy is installed into a venv if missing)
#   RUNS=3 (default), VENV=/tmp/weightlens-bench-venv, BIN=<a weightlens binary: skips the build>
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet -p weightlens
fi
bin=${BIN:-target/release/weightlens}

py=python3
if ! python3 -c "import numpy" 2>/dev/null; then
  venv=${VENV:-/tmp/weightlens-bench-venv}
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -c "import numpy" 2>/dev/null || "$venv/bin/pip" install -q numpy
  py=$venv/bin/python
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# best wall time and best CPU time (user + sys, all threads) over $runs runs: "wall cpu"
best() {
  local bw="" bc=""
  for _ in $(seq "$runs"); do
    /usr/bin/time -o "$tmp/time" -f "%e %U %S" "$@" >/dev/null 2>&1
    local w c
    read -r w u s < <(tail -1 "$tmp/time")
    c=$(awk "BEGIN{print $u + $s}")
    if [ -z "$bw" ] || awk "BEGIN{exit !($w < $bw)}"; then bw=$w; fi
    if [ -z "$bc" ] || awk "BEGIN{exit !($c < $bc)}"; then bc=$c; fi
  done
  echo "$bw $bc"
}

# Wall times are those of whole processes (numpy's includes starting Python and importing numpy,
# weightlens' opening the file and writing the table); CPU time is the fairer figure on a busy
# machine. Output: 11008 * 4096 float32 values.
printf '%-10s %9s %9s %8s %9s %9s %8s %11s\n' scheme wl_wall np_wall ratio wl_cpu np_cpu ratio wl_GB/s
for scheme in gptq4 fp8block; do
  d=$tmp/$scheme
  "$py" bench/dequant_numpy.py make "$d" "$scheme"
  read -r ww wc < <(best "$bin" analyze -q --rank none -o "$tmp/$scheme.csv" "$d")
  read -r nw nc < <(REPS=1 best "$py" bench/dequant_numpy.py time "$d" "$scheme")
  awk -v s="$scheme" -v ww="$ww" -v wc="$wc" -v nw="$nw" -v nc="$nc" 'BEGIN{
    printf "%-10s %9.3f %9.3f %7.2fx %9.3f %9.3f %7.2fx %11.2f\n", s, ww, nw, nw / ww, wc, nc, nc / wc, 11008 * 4096 * 4 / ww / 1e9}'
done
