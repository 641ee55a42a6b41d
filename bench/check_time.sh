#!/usr/bin/env bash
# Whole-process wall time of `dspex check signatures/` with a release build (target: under 5 ms).
#
# Uses hyperfine when installed (`apt-get install -y hyperfine`); otherwise times the runs in a
# shell loop (bash's $EPOCHREALTIME, or `date +%s%N`) and prints the mean and the minimum.
#
#     bench/check_time.sh                  # 50 runs
#     RUNS=200 bench/check_time.sh         # more runs
#     NO_HYPERFINE=1 bench/check_time.sh   # the shell loop even when hyperfine is installed
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
runs="${RUNS:-50}"
binary="${CARGO_TARGET_DIR:-$root/target}/release/dspex"

cargo build --release --quiet --bin dspex
files=$(find signatures -name '*.sig' | wc -l)
if ! "$binary" check signatures/ >/dev/null 2>&1; then
    echo "error: \`dspex check signatures/\` fails; this benchmark times the passing case" >&2
    exit 1
fi
command=("$binary" check signatures/)
echo "timing \`${command[*]}\` ($files files, $runs runs; target: under 5 ms)"

if [ -z "${NO_HYPERFINE:-}" ] && command -v hyperfine >/dev/null 2>&1; then
    export_file="$(mktemp)"
    trap 'rm -f "$export_file"' EXIT
    hyperfine --warmup 5 --runs "$runs" --shell=none --export-json "$export_file" \
        "${command[*]}"
    python3 - "$export_file" <<'PY'
import json, sys
result = json.load(open(sys.argv[1]))["results"][0]
print(f"mean: {result['mean'] * 1e3:.2f} ms  min: {result['min'] * 1e3:.2f} ms  "
      f"median: {result['median'] * 1e3:.2f} ms  (hyperfine)")
PY
    exit 0
fi

# Bash 5's $EPOCHREALTIME reads the clock without forking; each `date +%s%N` reading forks and
# execs, which adds about a millisecond to every sample.
if [ -n "${EPOCHREALTIME:-}" ]; then
    clock='$EPOCHREALTIME'
    now() { now_us=${EPOCHREALTIME/[.,]/}; }
else
    clock='date +%s%N, which inflates each sample by a fork'
    now() { now_us=$(($(date +%s%N) / 1000)); }
fi
for _ in 1 2 3 4 5; do "${command[@]}" >/dev/null 2>&1; done # warm-up
total=0
min=
for _ in $(seq "$runs"); do
    now
    start=$now_us
    "${command[@]}" >/dev/null 2>&1
    now
    elapsed=$((now_us - start))
    total=$((total + elapsed))
    if [ -z "$min" ] || [ "$elapsed" -lt "$min" ]; then
        min=$elapsed
    fi
done
awk -v total="$total" -v runs="$runs" -v min="$min" -v clock="$clock" 'BEGIN {
    printf "mean: %.2f ms  min: %.2f ms  (shell loop, clock: %s)\n", total / runs / 1e3, min / 1e3, clock
}'
