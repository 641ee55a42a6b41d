#!/usr/bin/env bash
# Side-by-side benchmark of dspex's `local` provider and llama.cpp itself (llama-cpp-python,
# compiled by pip on this machine): same GGUF, same prompts, same thread count. Prints a markdown
# table with ratios; bench/README.md explains the method.
#
#     bash bench/local.sh                  # SmolLM2-135M-Instruct Q4_1, 2 threads, 3 rounds
#     THREADS=1 ROUNDS=5 bash bench/local.sh
#     MODEL=/path/to/model.gguf bash bench/local.sh
#
# What it installs and builds (all inside the repository):
#   .tools/              cmake and libclang for llama.cpp's build (scripts/build-env)
#   target/release/      dspex and the `local_bench` example
#   bench/.venv-llama/   llama-cpp-python from bench/local-requirements.txt; pip compiles
#                        llama.cpp for this CPU (about 5 minutes on 2 cores, once)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/build-env

threads="${THREADS:-2}"
rounds="${ROUNDS:-3}"

if ! bench/.venv-llama/bin/python -c 'import llama_cpp' >/dev/null 2>&1; then
    echo "bench/local.sh: installing llama-cpp-python into bench/.venv-llama (compiles llama.cpp) ..." >&2
    python3 -m venv bench/.venv-llama
    bench/.venv-llama/bin/pip install --quiet --disable-pip-version-check -r bench/local-requirements.txt
fi

echo "bench/local.sh: building dspex and the local_bench example (release) ..." >&2
cargo build --release --quiet --bin dspex --example local_bench

model="${MODEL:-}"
if [ -z "$model" ]; then
    export DSPEX_HOME="${DSPEX_HOME:-$root/target/dspex-home}"
    ./target/release/dspex models pull smollm2-135m >&2
    model="$(./target/release/dspex models path smollm2-135m)"
fi

python3 bench/local.py "$model" "$threads" "$rounds"
