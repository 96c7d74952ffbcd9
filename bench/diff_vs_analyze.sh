#!/usr/bin/env bash
# Benchmark: `weightlens diff A B --rank none` against analyzing both sides
# (`weightlens analyze A B --rank none`), in the same invocation on the same machine: best wall
# time and peak RSS of each, and the ratio diff / analyze (issue 16's budget: <= 1.5).
#
# Usage: bench/diff_vs_analyze.sh [A B]
#   default: the gemma-3-270m Q4_K_M GGUF from data/models/ against a copy of itself (every
#   tensor matched, all dequantized on both sides), then the fixture pair llama_k256 vs Q4_K_M.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
cargo build --release --quiet -p weightlens
bin=target/release/weightlens

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# best wall time (s) and peak RSS (MB) over $runs runs of a command
measure() {
  local best_t="" best_m=""
  for _ in $(seq "$runs"); do
    /usr/bin/time -o "$tmp/time" -f "%e %M" "$@" >/dev/null 2>&1 || true
    local out
    out=$(tail -1 "$tmp/time")
    local t=${out% *} m=${out#* }
    if [ -z "$best_t" ] || awk "BEGIN{exit !($t < $best_t)}"; then best_t=$t; best_m=$m; fi
  done
  echo "$best_t $((best_m / 1024))"
}

pairs=()
if [ $# -eq 2 ]; then
  pairs+=("$1|$2")
else
  python3 scripts/fetch-models.py >/dev/null 2>&1 || true
  g=data/models/gemma-3-270m-q4_k_m/gemma-3-270m-q4_k_m.gguf
  if [ -f "$g" ]; then
    # A second path, so that analyze sees two models (as diff does).
    cp "$g" "$tmp/copy.gguf"
    pairs+=("$g|$tmp/copy.gguf")
  fi
  pairs+=("fixtures/diff/models/llama_k256|fixtures/diff/gguf/llama_k256.Q4_K_M.gguf")
fi

echo "machine: $(nproc) cores, runs=$runs (best)"
printf "%-60s %10s %8s %10s %8s %7s\n" "pair" "analyze s" "MB" "diff s" "MB" "ratio"
for p in "${pairs[@]}"; do
  a=${p%|*} b=${p#*|}
  read -r ta ma < <(measure "$bin" -q analyze "$a" "$b" --rank none -o "$tmp/an/params.csv")
  read -r td md < <(measure "$bin" -q diff "$a" "$b" --rank none -o "$tmp/df/diff.csv")
  ratio=$(awk "BEGIN{printf \"%.2f\", $td / ($ta > 0 ? $ta : 0.001)}")
  printf "%-60s %10s %8s %10s %8s %7s\n" "$(basename "$a") vs $(basename "$b")" "$ta" "$ma" "$td" "$md" "$ratio"
done
