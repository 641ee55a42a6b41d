//! Parser and checker throughput on a generated ~1 MB `.sig` file.
//!
//! The corpus is built in code (deterministic, no files read), mixes every construct of the
//! language the way real files do (block and one-line signatures, docs, descriptions,
//! constraints, records, enums, programs, comments), and must compile with no diagnostics at all,
//! so the numbers measure the happy path rather than error recovery. Criterion reports MB/s for
//! parse only and for parse + check; plain `parse: NN.N MB/s` and `parse+check: NN.N MB/s` lines
//! printed first give numbers that are easy to copy (target: at least 20 MB/s).
//!
//! Run with `cargo bench --bench parse`.

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};

/// Size the corpus grows to (it stops at the first unit boundary past this).
const CORPUS_BYTES: usize = 1_000_000;

/// The file name the corpus is compiled under; its one unnamed signature is named after it.
const CORPUS_PATH: &str = "benchmark_corpus.sig";

/// Field names drawn on for varied, valid snake_case fields (none is a Python keyword or shadows
/// a DSPy attribute). Non-ASCII names are included because real files have them.
const FIELD_WORDS: [&str; 24] = [
    "headline",
    "context",
    "passage",
    "summary",
    "excerpt",
    "body",
    "author",
    "language",
    "category",
    "score",
    "rationale",
    "evidence",
    "keywords",
    "prénom",
    "straße",
    "поле",
    "deadline",
    "priority",
    "location",
    "quantity",
    "comment",
    "source_url",
    "reviewer",
    "sentiment_label",
];

/// Descriptions of the lengths and shapes found in the example signatures.
const DESCRIPTIONS: [&str; 8] = [
    "the question to answer",
    "often between 1 and 5 words",
    "retrieved passages, most relevant first",
    "a short answer grounded in the passages",
    "how sure you are, from 0 to 1",
    "sentences from the evidence, copied exactly; do not paraphrase",
    "one tweet-length sentence for the queue",
    "e.g. colour, size, material \u{2014} \\\"quoted\\\" words are fine",
];

/// Builds the benchmark corpus: one unnamed roadmap signature, then numbered units until the
/// text is past `CORPUS_BYTES`. Names carry the unit number so nothing is declared twice.
fn corpus() -> String {
    let mut out = String::with_capacity(CORPUS_BYTES + 4096);
    out.push_str(
        "# Generated benchmark corpus: every construct of the language, many times over.\n\
         signature query: :string, documents: list[:string] -> answer: :string, \
         sources: list[:string], confidence: :probability\n\n",
    );
    let mut unit = 0;
    while out.len() < CORPUS_BYTES {
        write_unit(&mut out, unit);
        unit += 1;
    }
    out
}

/// One unit: a record type, two enums, a block signature using them, a one-line block
/// signature, a continued signature, and programs over them, with comments in between.
fn write_unit(out: &mut String, unit: usize) {
    let word = |offset: usize| FIELD_WORDS[(unit + offset) % FIELD_WORDS.len()];
    let description = |offset: usize| DESCRIPTIONS[(unit + offset) % DESCRIPTIONS.len()];
    let n = unit % 9 + 1;

    // Writing to a `String` cannot fail.
    let _ = write!(
        out,
        "\
# ---------------------------------------------------------------------------------------------
# Unit {unit}: retrieval with citations, a verdict and a triage step.
# ---------------------------------------------------------------------------------------------

/// A cited source, as it appears in unit {unit}.
type Source{unit} {{
    title: string(min: 1, max: 200)
    url: string(pattern: \"^https?://[^\\s]+$\")    \"a link to the page\"
    {w0}: string?                                  // optional, often missing
    page_number: integer(min: 1)?
}}

/// Where a claim stands after reading the evidence.
enum Verdict{unit} {{ supported, refuted, not_enough_info }}

/// How urgent the follow-up is.
enum Urgency{unit} {{
    low        \"can wait a week\",
    normal     \"answer within a day\",
    /// someone cannot work until this is fixed
    critical,
}}

/// Answer the question using only the passages given. Cite every passage you
/// relied on; if the passages do not contain the answer, say so.
/// Unit {unit} variant {n}.
signature CitedAnswer{unit} {{
    question: string                 \"{d0}\"
    passages: list[string](min: 1)   \"{d1}\"
    /// {d2}
    {w1}: string(max: 280)
    as_of_year: integer(min: 1900, max: 2100),
    locale: \"fr-FR\" | \"de-DE\" | \"en-GB\"
    ->
    answer: string                   \"{d3}\"
    sources: list[Source{unit}](max: 10)    \"the passages the answer relies on\"
    verdict: Verdict{unit}
    urgency: Urgency{unit}?
    tags: list[string(max: 40)](max: 5)
    scores: map[float(min: -1, max: 1)]
    raw_specs: json                  # any technical data table
    confidence: probability
}}

signature Rewrite{unit} {{ text: string -> rewritten: string \"{d4}\", changed: bool }}

/// Judge an answer against a reference; a continued block of short fields.
signature Judge{unit} {{
    question, answer: string, reference: string?
    -> correct: boolean, {w2}: int(min: 0, max: {max}), notes: list[list[string]]?
}}

// Programs: every module, with and without arguments.
program answer_{unit} = chain_of_thought(CitedAnswer{unit})
program careful_answer_{unit} = best_of_n(CitedAnswer{unit}, n: {n})
program rewrite_{unit} = predict(Rewrite{unit})
program judge_{unit} = multi_chain_comparison(Judge{unit}, m: {n})
program judge_plain_{unit} = multi_chain_comparison(Judge{unit})

",
        w0 = word(0),
        w1 = word(7),
        w2 = word(13),
        d0 = description(0),
        d1 = description(2),
        d2 = description(4),
        d3 = description(5),
        d4 = description(7),
        max = 10 + unit % 90,
    );
}

/// Parses and checks the corpus once and panics on any diagnostic, so a grammar or checker
/// change that makes the corpus invalid cannot silently turn this into an error-path benchmark.
fn assert_clean(source: &str) {
    let parsed = dspex::syntax::parse(source);
    assert!(
        parsed.diagnostics.is_empty(),
        "benchmark corpus has syntax errors: {:#?}",
        &parsed.diagnostics[..parsed.diagnostics.len().min(5)]
    );
    let compiled = dspex::compile(source.as_bytes(), Path::new(CORPUS_PATH));
    assert!(
        compiled.diagnostics.is_empty(),
        "benchmark corpus has {} diagnostics, the first: {:#?}",
        compiled.diagnostics.len(),
        &compiled.diagnostics[..compiled.diagnostics.len().min(5)]
    );
}

/// Quick timed loops over parse only and parse + check, printed as copyable lines.
fn print_throughput(source: &str) {
    let megabytes = source.len() as f64 / 1e6;
    println!("corpus: {megabytes:.2} MB");
    let path = Path::new(CORPUS_PATH);
    let parse = seconds_per_run(|| {
        black_box(dspex::syntax::parse(black_box(source)));
    });
    let parse_and_check = seconds_per_run(|| {
        black_box(dspex::compile(black_box(source.as_bytes()), path));
    });
    for (name, seconds) in [("parse", parse), ("parse+check", parse_and_check)] {
        println!(
            "{name}: {:.1} MB/s ({:.1} ms per run)",
            megabytes / seconds,
            seconds * 1e3
        );
    }
}

/// Mean wall time of `run` over at least 3 runs and 2 seconds, after one warm-up run.
fn seconds_per_run(mut run: impl FnMut()) -> f64 {
    run();
    let mut runs = 0u32;
    let started = Instant::now();
    while runs < 3 || started.elapsed() < Duration::from_secs(2) {
        run();
        runs += 1;
    }
    started.elapsed().as_secs_f64() / f64::from(runs)
}

fn benchmarks(criterion: &mut Criterion) {
    let source = corpus();
    assert_clean(&source);
    print_throughput(&source);

    let mut group = criterion.benchmark_group("sig");
    group.throughput(Throughput::Bytes(source.len() as u64));
    // Each iteration takes tens of milliseconds: flat sampling keeps 10 samples inside the
    // measurement time instead of criterion's growing 1, 2, ... 10-iteration samples.
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function("parse", |bencher| {
        bencher.iter(|| dspex::syntax::parse(black_box(&source)))
    });
    group.bench_function("parse+check", |bencher| {
        bencher.iter(|| dspex::compile(black_box(source.as_bytes()), Path::new(CORPUS_PATH)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = benchmarks
}
criterion_main!(benches);
