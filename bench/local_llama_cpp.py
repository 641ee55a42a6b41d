"""llama-cpp-python's side of bench/local.sh, measured as examples/local_bench.rs measures dspex.

Prints one JSON object: load_s, prompt_tokens, prompt_tok_s, decode_tokens, decode_tok_s,
peak_rss_mb. Usage: python bench/local_llama_cpp.py MODEL.gguf THREADS
"""

import json
import sys
import time

from llama_cpp import Llama

REPEATS = 3
DECODE_TOKENS = 200
STORY = (
    "Write a long, detailed story about a lighthouse keeper who finds a message in a bottle. "
    "Describe the sea, the weather and every room of the lighthouse."
)


def long_prompt():
    sentence = (
        "The committee reviewed the quarterly figures, noted the rise in shipping costs, and "
        "asked the regional offices for a revised forecast. "
    )
    return "Summarise the following notes in one sentence.\n\n" + sentence * 16


def chat(llm, text, max_tokens):
    return llm.create_chat_completion(
        messages=[{"role": "user", "content": text}],
        max_tokens=max_tokens,
        temperature=0.0,
        top_k=1,
    )


def peak_rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return None


def main():
    path, threads = sys.argv[1], int(sys.argv[2])
    clock = time.perf_counter()
    llm = Llama(model_path=path, n_threads=threads, n_threads_batch=threads, n_ctx=1024,
                verbose=False)
    load = time.perf_counter() - clock

    best_prompt, prompt_tokens = float("inf"), 0
    for i in range(REPEATS):
        clock = time.perf_counter()
        done = chat(llm, f"{i}. {long_prompt()}", 1)
        best_prompt = min(best_prompt, time.perf_counter() - clock)
        prompt_tokens = done["usage"]["prompt_tokens"]

    chat(llm, STORY, 1)  # the prompt, so the measured call reuses it from the KV cache
    clock = time.perf_counter()
    done = chat(llm, STORY, DECODE_TOKENS)
    decode = time.perf_counter() - clock
    decode_tokens = done["usage"]["completion_tokens"]

    print(json.dumps({
        "tool": "llama-cpp-python",
        "threads": threads,
        "load_s": load,
        "prompt_tokens": prompt_tokens,
        "prompt_tok_s": prompt_tokens / best_prompt,
        "decode_tokens": decode_tokens,
        "decode_tok_s": decode_tokens / decode,
        "peak_rss_mb": peak_rss_mb(),
    }))


if __name__ == "__main__":
    main()
