#!/usr/bin/env bash
# Side-by-side benchmark: dspex vs DSPy 3.4.1 vs DSRs (dspy-rs 0.7.3), all three against the same
# local mock LM server in one run. Prints a markdown table with ratios; bench/README.md explains
# the method.
#
#     bash bench/run.sh                         # everything
#     TOOLS='dspy dsrs' bash bench/run.sh       # leave a tool out
#     BATCH_CALLS=5000 bash bench/run.sh        # quicker; other knobs at the top of bench/run.py
#
# What it installs and builds (all inside the repository):
#   .venv/                 created from python/requirements.txt (DSPy 3.4.1 from PyPI) only when it
#                          has no dspy 3.4.1; the same venv scripts/test makes
#   target/release/        dspex and the `mock_lm` example (release)
#   bench/harness/target/  `measure` (times a process, reads its peak memory) and `raw` (the bare
#                          HTTP round trip); reqwest, tokio and libc from crates.io
#   bench/dsrs/target/     the DSRs bench crate: dspy-rs 0.7.3 and its dependencies (rig-core,
#                          arrow, parquet, foyer, ...) from crates.io. It is its own workspace and
#                          never enters dspex's build.
#
# How long: the first DSRs build takes 15-35 minutes on 2 cores (about 400 crates, arrow and
# parquet among them), the harness about 2; later runs skip both. The measurements take about
# 10 minutes, most of it DSPy's batches (1-2 minutes per thread count at 20,000 calls).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/build-env
tools="${TOOLS:-dspex dspy dsrs}"

for command in cargo python3; do
    if ! command -v "$command" >/dev/null 2>&1; then
        echo "bench/run.sh: error: \`$command\` is not installed" >&2
        exit 2
    fi
done

if [[ " $tools " == *" dspy "* ]] && ! .venv/bin/python -c \
    'import dspy, sys; sys.exit(dspy.__version__ != "3.4.1")' >/dev/null 2>&1; then
    echo "bench/run.sh: installing DSPy 3.4.1 into .venv (python/requirements.txt)" >&2
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -r python/requirements.txt
    sha256sum python/requirements.txt | cut -d' ' -f1 > .venv/.requirements.sha256
fi

echo "bench/run.sh: building the mock LM server and dspex (release) ..." >&2
if [[ " $tools " == *" dspex "* ]]; then
    cargo build --release --quiet --bin dspex --example mock_lm
else
    cargo build --release --quiet --example mock_lm
fi
echo "bench/run.sh: building bench/harness ..." >&2
cargo build --release --quiet --locked --manifest-path bench/harness/Cargo.toml
if [[ " $tools " == *" dsrs "* ]]; then
    echo "bench/run.sh: building bench/dsrs (dspy-rs 0.7.3; the first build is long) ..." >&2
    cargo build --release --quiet --locked --manifest-path bench/dsrs/Cargo.toml
fi

exec python3 bench/run.py
