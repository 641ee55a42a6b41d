"""Runs examples/local_bench.rs (dspex) and bench/local_llama_cpp.py (llama-cpp-python) in
alternation, each in a fresh process, and prints the medians side by side with ratios.

Usage: python3 bench/local.py MODEL.gguf THREADS ROUNDS (bench/local.sh builds what it needs).
"""

import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(command, env):
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"bench/local.py: {' '.join(command)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    model, threads, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    env = dict(os.environ, DSPEX_THREADS=threads)
    dspex_cmd = [os.path.join(ROOT, "target/release/examples/local_bench"), model]
    llama_cmd = [os.path.join(ROOT, "bench/.venv-llama/bin/python"),
                 os.path.join(ROOT, "bench/local_llama_cpp.py"), model, threads]
    dspex, llama = [], []
    for i in range(rounds):
        print(f"bench/local.py: round {i + 1} of {rounds}", file=sys.stderr)
        dspex.append(run(dspex_cmd, env))
        llama.append(run(llama_cmd, env))

    def median(results, key):
        return statistics.median(r[key] for r in results)

    rows = [
        ("load (s)", "load_s", False),
        ("prompt tokens/s", "prompt_tok_s", True),
        ("decode tokens/s (greedy)", "decode_tok_s", True),
        ("peak memory (MB)", "peak_rss_mb", False),
    ]
    print(f"model `{os.path.basename(model)}`, {threads} threads, median of {rounds} fresh processes "
          f"each; prompt {dspex[0]['prompt_tokens']} tokens, decode up to 200 tokens")
    print()
    print("| metric | dspex | llama-cpp-python | dspex / llama.cpp |")
    print("| --- | --- | --- | --- |")
    for label, key, _ in rows:
        ours, theirs = median(dspex, key), median(llama, key)
        print(f"| {label} | {ours:.3g} | {theirs:.3g} | {ours / theirs:.2f}x |")
    free, typed = median(dspex, "free_tok_s"), median(dspex, "typed_tok_s")
    print()
    print(f"typed decoding (chat-adapter grammar of a one-string signature): {typed:.3g} tokens/s "
          f"against {free:.3g} free on the same prompt: {typed / free:.2f}x")


if __name__ == "__main__":
    main()
