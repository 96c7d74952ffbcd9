#!/usr/bin/env bash
# Benchmark: dequantization of every quantized safetensors scheme, weightlens against the library
# that writes it, in one run on one core. Times the first quantized weight of each fixtures/quant/
# checkpoint with `cargo bench --bench quant` (bench/criterion/dequant; weightlens' decode_f32, best of
# 50) and with bench/quant_torch.py (the library's own CPU dequantization, or the labelled torch
# formula where the library has none that runs on a CPU; best of 50), both pinned to the same core,
# and prints GB/s of f32 output and the ratio weightlens / library.
#
# Usage: bench/quant.sh       (builds bench/.venv-quant with PyPI's torch and the libraries: large,
#   for this bench only, never CI)   CORE=1 (default: the last core), VENV=bench/.venv-quant
set -euo pipefail
cd "$(dirname "$0")/.."
core=${CORE:-$(($(nproc) - 1))}
venv=${VENV:-bench/.venv-quant}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q torch safetensors numpy compressed-tensors transformers bitsandbytes "mlx[cpu]"
  # autoawq pins an old torch: its pure-torch dequantize_gemm works with the current one.
  "$venv/bin/pip" install -q --no-deps autoawq
  "$venv/bin/pip" install -q accelerate datasets
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd bench/criterion/dequant && taskset -c "$core" cargo bench --bench quant -- --warm-up-time 1 --measurement-time 2 \
  2>/dev/null) | awk '/^fixture /{t=1; next} t && NF==3' >"$tmp/weightlens"
taskset -c "$core" "$venv/bin/python" bench/quant_torch.py 2>/dev/null | awk 'NR>1 && NF>=3' >"$tmp/library"
printf '%-28s %-24s %10s %10s %8s  %s\n' fixture scheme weightlens library ratio "library timed"
awk 'NR==FNR { w[$1]=$3; next }
     { lib=$3; label=""; for (i=4; i<=NF; i++) label=label (i>4?" ":"") $i
       ratio = (lib+0 > 0) ? sprintf("%.1fx", w[$1]/lib) : "-"
       printf "%-28s %-24s %10.2f %10s %8s  %s\n", $1, $2, w[$1], lib, ratio, label }' "$tmp/weightlens" "$tmp/library"
