//! Throughput of the SQLite execution store's writer, with realistic records: a ~1.5 KB system
//! prompt identical across executions, a ~200 B user message and a ~100 B reply, as a
//! `--batch` run of one program produces them.
//!
//! Plain lines printed first give numbers that are easy to copy (target: at least 40,000
//! executions/s on 2 cores):
//! - `batched`: 10,000 records queued at once, then awaited (the writer's best case);
//! - `concurrent`: 256 tasks on a 2-thread runtime, each awaiting its record before the next,
//!   as the runtime's batch workers do;
//! - `one commit each`: every record awaited before the next is queued, so each gets its own
//!   transaction. This is the reference the batching is compared with;
//! - `cpu per execution`: CPU time (Linux `schedstat`) of the batched runs, in all threads and in
//!   the writer thread alone. Unlike wall time it holds up on a busy machine, and the writer's
//!   share bounds the store's throughput: it is the one thread that cannot be parallelized;
//! - `database`: the main file's size per execution (pages not yet checkpointed are in the WAL).
//!
//! Criterion then measures a 10,000-record batch and a cache hit. Run with
//! `cargo bench --bench store`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use dspex::lm::{Completion, Message, Role, Usage};
use dspex::store::{self, CallRecord, Execution, RepairRecord, Status, Store};
use serde_json::json;

/// Executions per measured batch.
const BATCH: usize = 10_000;

/// Concurrent recording tasks in the `concurrent` measurement.
const TASKS: usize = 256;

/// The system prompt every execution shares (~1.5 KB).
fn system_prompt() -> String {
    let mut prompt = String::from(
        "Your input fields are:\n1. `question` (str): the question to answer\n2. `context` \
         (list[str]): retrieved passages, most relevant first\nYour output fields are:\n1. \
         `answer` (str): often between 1 and 5 words\n2. `confidence` (float): how sure you \
         are, from 0 to 1\nAll interactions will be structured in the following way, with the \
         appropriate values filled in.\n\n",
    );
    while prompt.len() < 1_500 {
        prompt.push_str(
            "[[ ## question ## ]]\n{question}\n\n[[ ## answer ## ]]\n{answer}\n\n\
             [[ ## completed ## ]]\n",
        );
    }
    prompt
}

/// One execution as a batch line records it; `index` makes its input and reply unique.
fn execution(system: &str, index: usize) -> Execution {
    let question = format!(
        "Which river flows through the city where the 1900 Summer Olympics were held, and how \
         long is it in kilometres? (line {index:>6})"
    );
    let user = format!(
        "[[ ## question ## ]]\n{question}\n\nRespond with the corresponding output fields, \
         starting with `[[ ## answer ## ]]`."
    );
    let raw = format!(
        "[[ ## answer ## ]]\nThe Seine, 777 km ({index})\n\n[[ ## confidence ## ]]\n0.9\n\n\
         [[ ## completed ## ]]"
    );
    let usage = Usage {
        input_tokens: 431,
        output_tokens: 28,
    };
    Execution {
        id: 0,
        started_at: 1_760_000_000_000 + index as i64,
        finished_at: 1_760_000_000_800 + index as i64,
        file: "signatures/qa.sig".to_owned(),
        program: "qa".to_owned(),
        signature: "QA".to_owned(),
        module: "predict".to_owned(),
        source_hash: "5f".repeat(32),
        model: "fast".to_owned(),
        provider_model: "gpt-4o-mini".to_owned(),
        inputs: json!({ "question": question }),
        outputs: Some(
            json!({ "answer": format!("The Seine, 777 km ({index})"), "confidence": 0.9 }),
        ),
        status: Status::Success,
        error: None,
        latency_ms: 812.4,
        usage,
        cost: Some(0.000_081_45),
        cache_hit: false,
        calls: vec![CallRecord {
            adapter: "chat".to_owned(),
            messages: vec![
                Message::new(Role::System, system),
                Message::new(Role::User, user),
            ],
            raw: Some(raw),
            usage,
            cost: Some(0.000_081_45),
            latency_ms: 811.9,
            cache_hit: false,
            constrained: false,
            error: None,
        }],
        repairs: vec![RepairRecord {
            path: "confidence".to_owned(),
            description: "parsed \"90%\" as 0.9".to_owned(),
        }],
        batch: Some("bench".to_owned()),
    }
}

/// Records `BATCH` executions queued at once, then waits for all of them.
fn record_batch(
    store: &Arc<dyn Store>,
    runtime: &tokio::runtime::Runtime,
    records: Vec<Execution>,
) {
    let pending: Vec<_> = records
        .into_iter()
        .map(|execution| store.record(execution))
        .collect();
    runtime.block_on(async {
        for future in pending {
            black_box(future.await.expect("committed"));
        }
    });
}

/// `TASKS` tasks record `BATCH` executions between them, each awaiting its record first.
fn record_concurrently(
    store: &Arc<dyn Store>,
    runtime: &tokio::runtime::Runtime,
    system: &Arc<str>,
) {
    runtime.block_on(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let store = Arc::clone(store);
                let system = Arc::clone(system);
                tokio::spawn(async move {
                    for index in (task..BATCH).step_by(TASKS) {
                        let id = store.record(execution(&system, index)).await;
                        black_box(id.expect("committed"));
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task");
        }
    });
}

fn open(directory: &tempfile::TempDir) -> Arc<dyn Store> {
    store::open(&directory.path().join(".dspex").join("dspex.db")).expect("open the store")
}

/// Quick timed runs, printed as copyable lines with the ratio to one commit per record.
fn print_throughput(system: &str) {
    let current = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let shared: Arc<str> = Arc::from(system);

    let directory = tempfile::tempdir().expect("tempdir");
    let store = open(&directory);
    // Warm up: the first batch creates the tables' first pages.
    record_batch(
        &store,
        &current,
        (0..BATCH).map(|i| execution(system, i)).collect(),
    );
    let mut batched = f64::MAX;
    let mut concurrent = f64::MAX;
    // CPU time summed over the batched runs.
    let mut cpu = Some((0, 0));
    for _ in 0..5 {
        let records: Vec<Execution> = (0..BATCH).map(|i| execution(system, i)).collect();
        let before = cpu_nanos();
        let started = Instant::now();
        record_batch(&store, &current, records);
        batched = batched.min(started.elapsed().as_secs_f64());
        cpu = cpu
            .zip(before.zip(cpu_nanos()))
            .map(|(sum, (before, after))| (sum.0 + after.0 - before.0, sum.1 + after.1 - before.1));

        let started = Instant::now();
        record_concurrently(&store, &multi, &shared);
        concurrent = concurrent.min(started.elapsed().as_secs_f64());
    }

    let reference_directory = tempfile::tempdir().expect("tempdir");
    let reference = open(&reference_directory);
    let count = 2_000;
    let records: Vec<Execution> = (0..count).map(|i| execution(system, i)).collect();
    let started = Instant::now();
    current.block_on(async {
        for execution in records {
            black_box(reference.record(execution).await.expect("committed"));
        }
    });
    let one_each = count as f64 / started.elapsed().as_secs_f64();

    let batched = BATCH as f64 / batched;
    let concurrent = BATCH as f64 / concurrent;
    println!(
        "record batched: {batched:.0} executions/s ({:.1}x one commit each)",
        batched / one_each
    );
    println!(
        "record concurrent ({TASKS} tasks): {concurrent:.0} executions/s ({:.1}x one commit each)",
        concurrent / one_each
    );
    println!("record one commit each: {one_each:.0} executions/s");
    if let Some((process, writer)) = cpu {
        let per_execution = |nanos: u64| nanos as f64 / 1e3 / (5 * BATCH) as f64;
        let (process, writer) = (per_execution(process), per_execution(writer));
        println!(
            "cpu per execution (batched): {process:.1} us in all threads, {writer:.1} us in the \
             writer thread (a writer with a core to itself: {:.0} executions/s)",
            1e6 / writer
        );
    }
    let bytes = std::fs::metadata(directory.path().join(".dspex").join("dspex.db"))
        .map(|metadata| metadata.len())
        .unwrap_or(0);
    let recorded = BATCH * 11;
    println!(
        "database: {:.0} bytes per execution ({recorded} executions)",
        bytes as f64 / recorded as f64
    );
}

/// CPU nanoseconds used so far by all of this process's threads and by the store's writer
/// threads, from `/proc/self/task/*/schedstat` (Linux only; `None` elsewhere). Wall time on a
/// busy machine says little; CPU time per execution does.
fn cpu_nanos() -> Option<(u64, u64)> {
    let mut all = 0;
    let mut writer = 0;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let task = task.ok()?.path();
        let Ok(schedstat) = std::fs::read_to_string(task.join("schedstat")) else {
            continue; // the thread has just exited
        };
        let nanos: u64 = schedstat.split_whitespace().next()?.parse().ok()?;
        all += nanos;
        let name = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        if name.starts_with("dspex-store") {
            writer += nanos;
        }
    }
    Some((all, writer))
}

fn benchmarks(criterion: &mut Criterion) {
    let system = system_prompt();
    print_throughput(&system);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let directory = tempfile::tempdir().expect("tempdir");
    let store = open(&directory);

    let mut group = criterion.benchmark_group("store");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function("record_10k", |bencher| {
        bencher.iter_batched(
            || {
                (0..BATCH)
                    .map(|i| execution(&system, i))
                    .collect::<Vec<_>>()
            },
            |records| record_batch(&store, &runtime, records),
            criterion::BatchSize::PerIteration,
        )
    });
    group.finish();

    let completion = Completion {
        text: "[[ ## answer ## ]]\nThe Seine".to_owned(),
        usage: Usage::default(),
        finish_reason: Some("stop".to_owned()),
        constrained: false,
    };
    for index in 0..1_000 {
        store
            .cache_put(&format!("{index:064x}"), &completion)
            .expect("queued");
    }
    store.flush().expect("flush");
    let mut group = criterion.benchmark_group("cache");
    group.throughput(Throughput::Elements(1));
    group.bench_function("get_hit", |bencher| {
        let key = format!("{:064x}", 500);
        bencher.iter(|| black_box(store.cache_get(black_box(&key)).expect("cache_get")))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = benchmarks
}
criterion_main!(benches);
