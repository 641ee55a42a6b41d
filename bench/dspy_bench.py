"""The DSPy 3.4.1 side of bench/run.sh.

    python bench/dspy_bench.py first URL                  # one Predict, print the answer
    python bench/dspy_bench.py sequential URL N           # N calls one after another; print seconds
    python bench/dspy_bench.py batch URL N THREADS        # N calls via Predict.batch; print calls/s

URL is the mock's OpenAI-compatible base URL (http://127.0.0.1:PORT/v1). Every call goes through
DSPy's own path (Predict -> ChatAdapter -> dspy.LM with its default engine) with the response
cache off, so each one reaches the server. BENCH_MODEL names the model (default gpt-4o-mini;
the mock answers any name). `sequential` and `batch` first make a few untimed warm-up calls, as
the DSRs side does.
"""

import os
import sys
import time

EXPECTED_ANSWER = "Paris"
# A model DSPy has metadata for: with an unknown name (`openai/qa`) DSPy 3.4.1 scans its whole
# model table twice per call to price it, which triples its per-call time.
MODEL = os.environ.get("BENCH_MODEL", "gpt-4o-mini")
WARM_UP_CALLS = 50


def question(index):
    return f"What is the capital of country number {index}?"


def configure(url):
    import dspy

    lm = dspy.LM(f"openai/{MODEL}", api_base=url, api_key="x", cache=False)
    dspy.configure(lm=lm)
    return dspy, dspy.Predict("question -> answer")


def check(answer):
    if answer != EXPECTED_ANSWER:
        sys.exit(f"error: expected the answer `{EXPECTED_ANSWER}`, got `{answer}`")


def first(url):
    _, predict = configure(url)
    print(predict(question=question(0)).answer, flush=True)


def sequential(url, calls):
    _, predict = configure(url)
    for index in range(WARM_UP_CALLS):
        check(predict(question=question(index)).answer)
    start = time.perf_counter()
    for index in range(calls):
        check(predict(question=question(index)).answer)
    print(f"{time.perf_counter() - start:.6f}")


def batch(url, calls, threads):
    dspy, predict = configure(url)
    for index in range(WARM_UP_CALLS):
        check(predict(question=question(index)).answer)
    examples = [
        dspy.Example(question=question(index)).with_inputs("question") for index in range(calls)
    ]
    start = time.perf_counter()
    results, failed, errors = predict.batch(
        examples,
        num_threads=threads,
        max_errors=0,
        return_failed_examples=True,
        disable_progress_bar=True,
    )
    elapsed = time.perf_counter() - start
    if failed or errors:
        sys.exit(f"error: {len(failed)} calls failed; first error: {errors[0] if errors else '?'}")
    for result in results:
        check(result.answer)
    print(f"{calls / elapsed:.1f}")


def main(argv):
    usage = "usage: dspy_bench.py first URL | sequential URL N | batch URL N THREADS"
    match argv:
        case ["first", url]:
            first(url)
        case ["sequential", url, calls]:
            sequential(url, int(calls))
        case ["batch", url, calls, threads]:
            batch(url, int(calls), int(threads))
        case _:
            sys.exit(usage)


if __name__ == "__main__":
    main(sys.argv[1:])
