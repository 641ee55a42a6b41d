#!/usr/bin/env python3
"""Measures dspex, DSPy 3.4.1 and DSRs (dspy-rs 0.7.3) against one mock LM server and prints a
markdown table with ratios. Run it through bench/run.sh, which builds and installs what it needs;
bench/README.md explains the method.

Settings (environment variables):
    TOOLS              which tools to measure (default: "dspex dspy dsrs")
    FIRST_RUNS         timed runs of each first-answer measurement (default 5; plus one warm-up)
    SEQUENTIAL_CALLS   calls in each sequential run of dspex, DSRs and raw HTTP (2000; 5 runs each)
    DSPY_SEQUENTIAL_CALLS  the same for DSPy, which is about 10 times slower (500)
    BATCH_CALLS        examples in each batch measurement (20000)
    DSPEX_CONCURRENCY, DSRS_CONCURRENCY, DSPY_THREADS   values tried; the best is reported
                       (default "16 64 256", "16 32 64 256", "1 4 16")
    MODEL              the model name every tool asks the mock for (default gpt-4o-mini: with a
                       name DSPy has no metadata for, it spends 3 ms a call searching for one)
    MOCK_THREADS       threads of the mock server outside the sequential phase (default: one per
                       CPU; the sequential phase runs on one CPU with a one-thread mock)
"""

import itertools
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
MOCK = TARGET / "release" / "examples" / "mock_lm"
DSPEX = TARGET / "release" / "dspex"
DSRS = BENCH / "dsrs" / "target" / "release" / "dsrs-bench"
MEASURE = BENCH / "harness" / "target" / "release" / "measure"
RAW = BENCH / "harness" / "target" / "release" / "raw"
PYTHON = Path(os.environ.get("DSPY_PYTHON", ROOT / ".venv" / "bin" / "python"))
SIGNATURE = BENCH / "qa.sig"

REPLY = "[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]"
ANSWER = "Paris"
QUESTION = "What is the capital of country number {}?"
TOOL_NAMES = {"dspex": "dspex", "dspy": "DSPy 3.4.1", "dsrs": "DSRs 0.7.3"}


def setting(name, default):
    return os.environ.get(name, default)


TOOLS = setting("TOOLS", "dspex dspy dsrs").split()
FIRST_RUNS = int(setting("FIRST_RUNS", "5"))
SEQUENTIAL_CALLS = max(10, int(setting("SEQUENTIAL_CALLS", "2000")))
DSPY_SEQUENTIAL_CALLS = int(setting("DSPY_SEQUENTIAL_CALLS", "500"))
BATCH_CALLS = int(setting("BATCH_CALLS", "20000"))
DSPEX_CONCURRENCY = [int(value) for value in setting("DSPEX_CONCURRENCY", "16 64 256").split()]
DSRS_CONCURRENCY = [int(value) for value in setting("DSRS_CONCURRENCY", "16 32 64 256").split()]
DSPY_THREADS = [int(value) for value in setting("DSPY_THREADS", "1 4 16").split()]
MODEL = setting("MODEL", "gpt-4o-mini")
SEQUENTIAL_REPEATS = 5
STORE_NUMBERS = itertools.count(1)


def fail(message):
    sys.exit(f"bench/run.py: error: {message}")


def log(message):
    print(message, file=sys.stderr, flush=True)


class Finished:
    """One child process: wall seconds from spawn to exit, peak RSS in MB, and its output."""

    def __init__(self, command, seconds, peak_mb, stdout, stderr):
        self.command, self.seconds, self.peak_mb = command, seconds, peak_mb
        self.stdout, self.stderr = stdout, stderr


def measure(command, cwd=None):
    """Runs `command` to its end under bench/harness's `measure` spawner, which times it and reads
    its peak RSS (see src/bin/measure.rs for why not from here); fails the benchmark when the
    command exits non-zero."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(mode="r") as result:
        subprocess.run([str(MEASURE), result.name, *map(str, command)], stdout=out, stderr=err,
                       stdin=subprocess.DEVNULL, cwd=cwd, env=CHILD_ENV, check=False)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
        fields = result.read().split()
    if len(fields) != 3:
        fail(f"`measure` could not run `{' '.join(map(str, command))}`:\n{stderr.strip()}")
    seconds, peak_kb, code = float(fields[0]), int(fields[1]), int(fields[2])
    if code != 0:
        fail(f"`{' '.join(map(str, command))}` exited with {code}:\n{stderr.strip()}")
    return Finished(command, seconds, peak_kb / 1024, stdout, stderr)


# LITELLM_LOCAL_MODEL_COST_MAP: DSPy 3.4.1 otherwise downloads a model price list on its first
# call (waiting up to 5 s without a network); with it, DSPy reads the copy it ships.
CHILD_ENV = dict(os.environ, OPENAI_API_KEY="x", NO_PROXY="127.0.0.1,localhost",
                 no_proxy="127.0.0.1,localhost", LITELLM_LOCAL_MODEL_COST_MAP="True",
                 BENCH_MODEL=MODEL)
for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    CHILD_ENV.pop(proxy, None)


def start_mock(threads=None):
    command = [str(MOCK), "--port", "0", "--reply", REPLY]
    threads = threads or os.environ.get("MOCK_THREADS")
    if threads:
        command += ["--threads", str(threads)]
    mock = subprocess.Popen(command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    line = mock.stdout.readline()
    found = re.match(r"listening on (http://\S+)", line)
    if not found:
        mock.kill()
        fail(f"the mock printed {line!r}, not `listening on URL`")
    return mock, found.group(1)


def check_tools():
    missing = []
    wanted = {
        "mock": (MOCK, "cargo build --release --example mock_lm"),
        "harness": (MEASURE, "cargo build --release --manifest-path bench/harness/Cargo.toml"),
        "dspex": (DSPEX, "cargo build --release --bin dspex"),
        "dsrs": (DSRS, "cargo build --release --manifest-path bench/dsrs/Cargo.toml"),
        "dspy": (PYTHON,
                 "python3 -m venv .venv && .venv/bin/pip install -r python/requirements.txt"),
    }
    for name in ["mock", "harness", *TOOLS]:
        if name not in wanted:
            fail(f"unknown tool `{name}` in TOOLS\nhelp: TOOLS takes dspex, dspy and dsrs")
        path, build = wanted[name]
        if not path.exists():
            missing.append(f"  {path} is missing\n  help: `{build}` (bench/run.sh does this)")
    if missing:
        fail("a tool is missing:\n" + "\n".join(missing))
    if "dspex" in TOOLS:
        probe = subprocess.run([str(DSPEX), "run", "--help"], capture_output=True, text=True)
        if probe.returncode != 0 or "--batch" not in probe.stdout:
            fail(f"`{DSPEX} run --help` fails: this dspex has no `run` command with `--batch`\n"
                 "help: leave dspex out with `TOOLS='dspy dsrs' bash bench/run.sh`")
    if "dspy" in TOOLS:
        probe = subprocess.run([str(PYTHON), "-c", "import dspy; print(dspy.__version__)"],
                               capture_output=True, text=True)
        if probe.returncode != 0 or probe.stdout.strip() != "3.4.1":
            found = probe.stdout.strip() or (probe.stderr.strip().splitlines() or ["?"])[-1]
            fail(f"`{PYTHON}` has no dspy 3.4.1 (got {found})")


def write_inputs(directory, count):
    """`count` lines of `{"question": ...}`, the same questions the other tools ask."""
    path = directory / f"inputs-{count}.jsonl"
    with path.open("w") as file:
        for index in range(count):
            file.write(json.dumps({"question": QUESTION.format(index)}) + "\n")
    return path


class Bench:
    def __init__(self, url, scratch):
        self.url, self.scratch = url, scratch

    # Commands -------------------------------------------------------------------------------

    def fresh_store(self):
        return self.scratch / f"store-{next(STORE_NUMBERS)}.db"

    def dspex(self, *arguments, store, cache=False):
        """A dspex run; without its response cache unless `cache`, as DSPy and DSRs run here."""
        return [str(DSPEX), "run", str(SIGNATURE), "--model", f"openai/{MODEL}",
                "--base-url", self.url, *([] if cache else ["--no-cache"]), "--store", str(store),
                *arguments]

    def first_command(self, tool):
        if tool == "dspex":
            store = self.scratch / "first.db"
            return self.dspex("--input", f"question={QUESTION.format(0)}", store=store)
        if tool == "dspy":
            return [str(PYTHON), str(BENCH / "dspy_bench.py"), "first", self.url]
        return [str(DSRS), "first", self.url]

    # Measurements ---------------------------------------------------------------------------

    def raw_seconds_per_call(self):
        run = measure([str(RAW), self.url, str(SEQUENTIAL_CALLS)])
        return float(run.stdout.split()[0]) / SEQUENTIAL_CALLS

    def first_answer(self, tool):
        """One whole-process run to the first answer."""
        run = measure(self.first_command(tool), cwd=self.scratch)
        if ANSWER not in run.stdout:
            fail(f"{TOOL_NAMES[tool]} answered {run.stdout.strip()!r}, not {ANSWER!r}")
        return run

    def sequential_seconds_per_call(self, tool):
        """One sequential run, in seconds per call; dspex's is a pair of runs, see below."""
        if tool == "dspex":
            return self.dspex_sequential_walls()
        calls = DSPY_SEQUENTIAL_CALLS if tool == "dspy" else SEQUENTIAL_CALLS
        command = [str(PYTHON), str(BENCH / "dspy_bench.py")] if tool == "dspy" else [str(DSRS)]
        run = measure([*command, "sequential", self.url, str(calls)], cwd=self.scratch)
        return float(run.stdout.split()[0]) / calls

    def dspex_sequential_walls(self):
        """dspex has no in-process timer: whole-process `--batch` runs at concurrency 1 of
        SEQUENTIAL_CALLS examples and of a tenth as many. The slope between them cancels process
        start, store opening and first-call costs."""
        walls = {}
        for calls in (SEQUENTIAL_CALLS // 10, SEQUENTIAL_CALLS):
            inputs = self.scratch / f"inputs-{calls}.jsonl"
            if not inputs.exists():
                write_inputs(self.scratch, calls)
            output = self.scratch / "sequential.jsonl"
            run = measure(self.dspex("--batch", str(inputs), "--concurrency", "1", "--no-progress",
                                     "--output", str(output), store=self.fresh_store()),
                          cwd=self.scratch)
            check_batch_output(output, calls)
            walls[calls] = run.seconds
        return walls

    def dspex_batch(self, concurrency, cache=False):
        """One whole-process dspex batch of BATCH_CALLS: calls/s and peak MB."""
        inputs = self.scratch / f"inputs-{BATCH_CALLS}.jsonl"
        if not inputs.exists():
            write_inputs(self.scratch, BATCH_CALLS)
        store = self.fresh_store()
        output = self.scratch / "batch.jsonl"
        run = measure(self.dspex("--batch", str(inputs), "--concurrency", str(concurrency),
                                 "--no-progress", "--output", str(output), store=store,
                                 cache=cache),
                      cwd=self.scratch)
        check_batch_output(output, BATCH_CALLS)
        recorded = count_executions(store)
        if recorded != BATCH_CALLS:
            fail(f"dspex recorded {recorded} of {BATCH_CALLS} executions in {store}")
        if cache and (cached := count_cache_entries(store)) != BATCH_CALLS:
            fail(f"dspex cached {cached} of {BATCH_CALLS} replies in {store}")
        rate = BATCH_CALLS / run.seconds
        log(f"  dspex --concurrency {concurrency}{' (cache on)' if cache else ''}: "
            f"{rate:,.0f} calls/s, {run.peak_mb:.1f} MB, {recorded} executions recorded")
        return rate, run.peak_mb

    def batch(self, tool):
        """The best calls/s over the concurrencies tried, that concurrency and the peak MB."""
        results = []
        if tool == "dspex":
            for concurrency in DSPEX_CONCURRENCY:
                rate, peak_mb = self.dspex_batch(concurrency)
                results.append((rate, concurrency, peak_mb))
        else:
            values = DSPY_THREADS if tool == "dspy" else DSRS_CONCURRENCY
            command = ([str(PYTHON), str(BENCH / "dspy_bench.py")] if tool == "dspy"
                       else [str(DSRS)])
            for concurrency in values:
                run = measure([*command, "batch", self.url, str(BATCH_CALLS), str(concurrency)],
                              cwd=self.scratch)
                rate = float(run.stdout.split()[0])
                log(f"  {TOOL_NAMES[tool]} at {concurrency}: {rate:,.0f} calls/s, "
                    f"{run.peak_mb:.1f} MB")
                results.append((rate, concurrency, run.peak_mb))
        return max(results)


def check_batch_output(path, calls):
    lines = path.read_text().splitlines()
    answered = sum(1 for line in lines if ANSWER in line)
    if len(lines) != calls or answered != calls:
        fail(f"dspex wrote {len(lines)} result lines ({answered} with {ANSWER!r}) for {calls} "
             f"inputs; see {path}")


def count_rows(store, table):
    """Rows in one of the store's tables."""
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as connection:
            return connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    except sqlite3.Error as error:
        fail(f"cannot count the rows of `{table}` in dspex's store {store}: {error}")


def count_executions(store):
    return count_rows(store, "executions")


def count_cache_entries(store):
    return count_rows(store, "cache")


# Report ---------------------------------------------------------------------------------------

def milliseconds(seconds):
    return f"{seconds * 1e3:.3f} ms" if seconds < 0.01 else f"{seconds * 1e3:.1f} ms"


def better(dspex_value, other_value, higher_is_better=False):
    """How many times better dspex is: above 1 means dspex wins."""
    if dspex_value is None or other_value is None:
        return "—"
    if higher_is_better:
        dspex_value, other_value = other_value, dspex_value
    if dspex_value <= 0 or other_value <= 0:
        return "—"
    return f"{other_value / dspex_value:,.1f}×"


def report(results, raw_samples):
    columns = ["dspex", "dspy", "dsrs"]

    def value(tool, key):
        return results.get(tool, {}).get(key)

    rows = [
        ("first answer: wall time (median)", "first_seconds", milliseconds, False, "< 10 ms"),
        ("first answer: wall time (fastest)", "first_min", milliseconds, False, "< 10 ms"),
        ("first answer: peak memory", "first_mb", lambda mb: f"{mb:.1f} MB", False, "< 15 MB"),
        ("per-call overhead, sequential", "overhead", lambda s: f"{s * 1e3:.3f} ms", False,
         "< 0.03 ms"),
        (f"batch of {BATCH_CALLS:,}: throughput", "batch_rate",
         lambda rate: f"{rate:,.0f} calls/s", True, "≥ 40,000 calls/s, recorded"),
        (f"batch of {BATCH_CALLS:,}: peak memory", "batch_mb", lambda mb: f"{mb:.1f} MB", False,
         ""),
    ]
    header = ["metric", *(TOOL_NAMES[tool] for tool in columns), "dspex vs DSPy", "dspex vs DSRs",
              "target"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, key, show, higher, target in rows:
        cells = [label]
        for tool in columns:
            measured = value(tool, key)
            cell = "—" if measured is None else show(measured)
            if key == "batch_rate" and measured is not None:
                unit = "threads" if tool == "dspy" else "concurrency"
                cell += f" ({unit} {results[tool]['batch_concurrency']})"
            cells.append(cell)
        cells.append(better(value("dspex", key), value("dspy", key), higher))
        cells.append(better(value("dspex", key), value("dsrs", key), higher))
        cells.append(target)
        lines.append("| " + " | ".join(cells) + " |")
    print("\n".join(lines))
    print()
    if raw_samples:
        print(f"Raw HTTP round trip (hyper HTTP/1.1, keep-alive, one CPU): median "
              f"{statistics.median(raw_samples) * 1e3:.4f} ms per call, from "
              f"{min(raw_samples) * 1e3:.4f} to {max(raw_samples) * 1e3:.4f} ms. Per-call overhead "
              f"= a tool's fastest of {SEQUENTIAL_REPEATS} sequential runs minus the fastest raw "
              "run, per call (the fastest run is the one least disturbed by other work).")
    sequential_per_call = ", ".join(
        f"{TOOL_NAMES[tool]} {results[tool]['per_call'] * 1e3:.4f} ms"
        for tool in columns if tool in results)
    print(f"Sequential time per call before subtracting the raw round trip: "
          f"{sequential_per_call}.")
    print("Ratios are how many times better dspex is (above 1: dspex wins). First answer: "
          f"{FIRST_RUNS} whole-process runs after a warm-up, the tools taking turns. dspex's "
          "batch throughput is "
          "whole-process (start, store, every execution recorded, exit); DSPy's and DSRs's are "
          "timed inside the process after configuration and warm-up calls, and record nothing.")
    if "cached_rate" in results.get("dspex", {}):
        print(f"dspex with its response cache on (its default; every lookup misses, every reply "
              f"is stored), same concurrency: {results['dspex']['cached_rate']:,.0f} calls/s.")
    print(f"Machine: {os.cpu_count()} CPUs; the mock server shares them with the client. "
          "Sequential runs: the client and a one-thread mock on one CPU.")


def main():
    check_tools()
    load_at_start = os.getloadavg()[0]
    if load_at_start > 0.5:
        log(f"warning: the 1-minute load average is {load_at_start:.1f}: other work on this "
            "machine slows every tool down and makes the numbers noisy")
    scratch = Path(tempfile.mkdtemp(prefix="dspex-bench-"))
    mock, url = start_mock()
    try:
        log(f"mock LM at {url}; scratch files in {scratch}")
        bench = Bench(url, scratch)
        results = {tool: {} for tool in TOOLS}
        names = ", ".join(TOOL_NAMES[tool] for tool in TOOLS)
        # The tools take turns within each measurement, so a burst of other work on the machine
        # lands on all of them rather than on whichever ran then.
        log(f"first answer: {names} in turn, one warm-up and {FIRST_RUNS} runs each ...")
        runs = {tool: [] for tool in TOOLS}
        for round_number in range(FIRST_RUNS + 1):
            for tool in TOOLS:
                run = bench.first_answer(tool)
                if round_number > 0:
                    runs[tool].append(run)
        for tool in TOOLS:
            seconds = [run.seconds for run in runs[tool]]
            results[tool].update(
                first_seconds=statistics.median(seconds), first_min=min(seconds),
                first_mb=statistics.median(run.peak_mb for run in runs[tool]))
            log(f"  {TOOL_NAMES[tool]}: median {results[tool]['first_seconds'] * 1e3:.2f} ms, "
                f"fastest {min(seconds) * 1e3:.2f} ms, {results[tool]['first_mb']:.1f} MB")

        # Sequential calls run on one CPU, with a one-thread mock of their own: in this kind of
        # VM a wake-up on the other CPU costs 0.1-0.2 ms, so a round trip took 0.08 or 0.4 ms
        # depending on where the scheduler put the two threads. On one CPU the round trip is
        # steady, and what a tool adds to it is the work it does per call.
        all_cpus = os.sched_getaffinity(0)
        cpu = min(all_cpus)
        log(f"sequential calls on CPU {cpu}: raw round trips, {names} in turn, "
            f"{SEQUENTIAL_REPEATS} rounds ...")
        os.sched_setaffinity(0, {cpu})
        pinned_mock, pinned_url = start_mock(threads=1)
        try:
            pinned = Bench(pinned_url, scratch)
            raw_samples = []
            sequential = {tool: [] for tool in TOOLS}
            for _ in range(SEQUENTIAL_REPEATS):
                raw_samples.append(pinned.raw_seconds_per_call())
                for tool in TOOLS:
                    sequential[tool].append(pinned.sequential_seconds_per_call(tool))
        finally:
            pinned_mock.kill()
            pinned_mock.wait()
            os.sched_setaffinity(0, all_cpus)
        raw = min(raw_samples)
        for tool in TOOLS:
            if tool == "dspex":
                short, long = SEQUENTIAL_CALLS // 10, SEQUENTIAL_CALLS
                per_call = (min(walls[long] for walls in sequential[tool])
                            - min(walls[short] for walls in sequential[tool])) / (long - short)
            else:
                per_call = min(sequential[tool])
            results[tool].update(per_call=per_call, overhead=per_call - raw)
            log(f"  {TOOL_NAMES[tool]}: {per_call * 1e3:.4f} ms per call, "
                f"{(per_call - raw) * 1e3:.4f} ms overhead (raw {raw * 1e3:.4f} ms)")

        for tool in TOOLS:
            log(f"{TOOL_NAMES[tool]}: batch of {BATCH_CALLS:,} ...")
            rate, concurrency, batch_mb = bench.batch(tool)
            results[tool].update(batch_rate=rate, batch_concurrency=concurrency,
                                 batch_mb=batch_mb)
            if tool == "dspex":
                # What a user gets by default: the same batch with the response cache on (every
                # lookup a miss, every reply stored).
                cached_rate, _ = bench.dspex_batch(concurrency, cache=True)
                results[tool].update(cached_rate=cached_rate)
    finally:
        mock.kill()
        mock.wait()
    report(results, raw_samples)
    print(f"Load average (1 min) at the start and at the end: {load_at_start:.2f}, "
          f"{os.getloadavg()[0]:.2f}.")
    if not os.environ.get("KEEP_SCRATCH"):
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
