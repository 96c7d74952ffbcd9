#!/usr/bin/env bash
# Runs every hostile case through the weightlens binary under /usr/bin/time -v and prints
# exit code, wall time and peak RSS per case. Fails unless every case exits 1, in under a second,
# with a peak RSS under 200 MB above the baseline (`weightlens ls` on a tiny file).
#
# Cases: every file of fixtures/bad/ and the crafted files of tests/hostile.rs (written by its
# `crafted_cases_are_rejected` test into a temporary directory), including a directory of
# symlinks with loops, and a FIFO. Usage: scripts/hostile-check.sh [path/to/weightlens]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/debug/weightlens}
limit_ms=1000
limit_kb=$((200 * 1024))
[ -x /usr/bin/time ] || { echo "hostile-check: /usr/bin/time is missing (apt-get install time)"; exit 1; }
[ -x "$bin" ] || cargo build -q -p weightlens --bin weightlens

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
WEIGHTLENS_HOSTILE_DIR="$work/cases" cargo test -q --locked -p weightlens --test hostile crafted_cases_are_rejected \
    >/dev/null
# A FIFO given explicitly must be refused, not opened (opening blocks until a writer comes).
mkfifo "$work/cases/fifo.safetensors"

# Prints "exit wall_ms peak_kb" of `weightlens ARGS...`.
measure() {
    local report="$work/time.txt" code=0
    /usr/bin/time -v -o "$report" "$bin" "$@" >/dev/null 2>"$work/stderr.txt" || code=$?
    local wall peak
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; printf "%d", s * 1000 }' "$report")
    peak=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$report")
    echo "$code $wall $peak"
}

read -r _ _ baseline < <(measure ls fixtures/dtypes.safetensors)
echo "baseline: weightlens ls on a tiny file: peak RSS ${baseline} kB"
printf '%-44s %5s %8s %12s\n' case exit wall_ms peak_kB
failed=0
for case in fixtures/bad/* "$work"/cases/*; do
    [ "$(basename "$case")" = EXPECTED.json ] && continue
    read -r code wall peak < <(measure analyze "$case" --out "$work/out/out.csv" -q)
    verdict=ok
    if [ "$code" != 1 ]; then verdict="FAIL: exit $code"; fi
    if [ "$wall" -ge "$limit_ms" ]; then verdict="FAIL: ${wall} ms"; fi
    if [ $((peak - baseline)) -ge "$limit_kb" ]; then verdict="FAIL: $((peak - baseline)) kB over the baseline"; fi
    [ "$verdict" = ok ] || failed=$((failed + 1))
    printf '%-44s %5s %8s %12s  %s\n' "${case#"$work"/}" "$code" "$wall" "$peak" "$verdict"
done
if [ -e "$work/cases/pwned" ]; then
    echo "FAIL: the eval pickle ran"
    failed=$((failed + 1))
fi
[ "$failed" = 0 ] || { echo "hostile-check: $failed case(s) failed"; exit 1; }
echo "hostile-check: all cases exit 1, < ${limit_ms} ms, < 200 MB above the baseline"
