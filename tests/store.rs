//! The SQLite execution store: schema migrations, round trips of every field, filters,
//! percentiles, the response cache, the errors a user sees for bad files, and durability of
//! recorded executions against `kill -9`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use dspex::lm::{Completion, Message, Role, Usage};
use dspex::store::{
    self, CallRecord, Execution, Filter, RepairRecord, SqliteStore, Status, Store, StoreError,
};
use serde_json::json;

/// Set (to a store path) when this test binary runs as the child of the durability test.
const CHILD_ENV: &str = "DSPEX_STORE_DURABILITY_CHILD";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime")
}

/// A realistic execution: a long system prompt shared by every execution, a short user message
/// and a short reply.
fn execution(program: &str, started_at: i64, latency_ms: f64, status: Status) -> Execution {
    let system = format!(
        "Your input fields are:\n1. `question` (str): the question to answer\n\
         Your output fields are:\n1. `answer` (str): often between 1 and 5 words\n{}",
        "All interactions will be structured in the following way. ".repeat(24)
    );
    Execution {
        id: 0,
        started_at,
        finished_at: started_at + latency_ms as i64,
        file: "signatures/qa.sig".to_owned(),
        program: program.to_owned(),
        signature: "QA".to_owned(),
        module: "chain_of_thought".to_owned(),
        source_hash: "ab".repeat(32),
        model: "fast".to_owned(),
        provider_model: "gpt-4o-mini".to_owned(),
        inputs: json!({"question": format!("What is the capital of France? ({started_at})")}),
        outputs: (status == Status::Success)
            .then(|| json!({"answer": "Paris", "confidence": 0.87})),
        status,
        error: (status == Status::Failed).then(|| "the reply has no `answer` field".to_owned()),
        latency_ms,
        usage: Usage {
            input_tokens: 412,
            output_tokens: 23,
        },
        cost: Some(0.000_123),
        cache_hit: false,
        calls: vec![CallRecord {
            adapter: "chat".to_owned(),
            messages: vec![
                Message::new(Role::System, system),
                Message::new(
                    Role::User,
                    format!("[[ ## question ## ]]\nWhat is the capital of France? ({started_at})"),
                ),
            ],
            raw: Some("[[ ## answer ## ]]\nParis\n\n[[ ## confidence ## ]]\n87%".to_owned()),
            usage: Usage {
                input_tokens: 412,
                output_tokens: 23,
            },
            cost: Some(0.000_123),
            latency_ms,
            cache_hit: false,
            constrained: false,
            error: None,
        }],
        repairs: vec![RepairRecord {
            path: "confidence".to_owned(),
            description: "parsed \"87%\" as 0.87".to_owned(),
        }],
        batch: Some("batch-1".to_owned()),
    }
}

fn open(path: &Path) -> Arc<dyn Store> {
    match store::open(path) {
        Ok(store) => store,
        Err(error) => panic!("cannot open the store: {error}"),
    }
}

fn record(store: &dyn Store, execution: Execution) -> i64 {
    runtime()
        .block_on(store.record(execution))
        .expect("the record is committed")
}

fn store_path(directory: &tempfile::TempDir) -> PathBuf {
    directory.path().join(".dspex").join("dspex.db")
}

fn user_version(path: &Path) -> i64 {
    let connection = rusqlite::Connection::open(path).expect("open with rusqlite");
    connection
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .expect("user_version")
}

#[test]
fn migrates_an_empty_directory_and_reopens() {
    let directory = tempfile::tempdir().expect("tempdir");
    let path = store_path(&directory);
    let first = open(&path);
    let id = record(&*first, execution("qa", 1_000, 10.0, Status::Success));
    drop(first);
    assert!(path.exists(), "the store and its directory are created");
    assert_eq!(user_version(&path), store::sqlite::SCHEMA_VERSION);

    let connection = rusqlite::Connection::open(&path).expect("open with rusqlite");
    let mode: String = connection
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .expect("journal_mode");
    assert_eq!(mode, "wal");
    drop(connection);

    let second = open(&path);
    assert!(second.get(id).expect("get").is_some());
    let next = record(&*second, execution("qa", 2_000, 10.0, Status::Success));
    assert!(next > id);
    assert_eq!(user_version(&path), store::sqlite::SCHEMA_VERSION);
}

#[test]
fn an_empty_file_becomes_a_store() {
    let directory = tempfile::tempdir().expect("tempdir");
    let path = directory.path().join("dspex.db");
    std::fs::write(&path, "").expect("write");
    let store = open(&path);
    let id = record(&*store, execution("qa", 1, 1.0, Status::Success));
    assert!(store.get(id).expect("get").is_some());
}

#[test]
fn two_stores_on_one_file_share_it() {
    // As two dspex processes would: each has its own writer; the busy timeout serializes them.
    let directory = tempfile::tempdir().expect("tempdir");
    let path = store_path(&directory);
    let first = open(&path);
    let second = open(&path);
    let runtime = runtime();
    let mut pending = Vec::new();
    for index in 0..500 {
        let store = if index % 2 == 0 { &first } else { &second };
        pending.push(store.record(execution("qa", index, 1.0, Status::Success)));
    }
    let mut ids: Vec<i64> = pending
        .into_iter()
        .map(|future| runtime.block_on(future).expect("committed"))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 500, "every record has its own id");
    assert_eq!(first.list(&Filter::default()).expect("list").len(), 500);
}

#[test]
fn a_newer_schema_is_refused() {
    let directory = tempfile::tempdir().expect("tempdir");
    let path = store_path(&directory);
    drop(open(&path));
    let connection = rusqlite::Connection::open(&path).expect("open with rusqlite");
    connection
        .pragma_update(None, "user_version", store::sqlite::SCHEMA_VERSION + 1)
        .expect("set user_version");
    drop(connection);
    match store::open(&path) {
        Err(StoreError::TooNew { found, known, .. }) => {
            assert_eq!(found, store::sqlite::SCHEMA_VERSION + 1);
            assert_eq!(known, store::sqlite::SCHEMA_VERSION);
        }
        other => panic!("expected TooNew, got {other:?}"),
    }
}

#[test]
fn record_and_get_round_trip_every_field() {
    let directory = tempfile::tempdir().expect("tempdir");
    let store = open(&store_path(&directory));
    let mut original = execution("qa", 1_700_000_000_123, 812.5, Status::Success);
    original.calls.push(CallRecord {
        adapter: "json".to_owned(),
        messages: vec![
            Message::new(Role::System, "short system prompt"),
            Message::new(Role::User, "é".repeat(300)),
            Message::new(Role::Assistant, "an earlier turn"),
        ],
        raw: None,
        usage: Usage {
            input_tokens: u64::from(u32::MAX) + 7,
            output_tokens: 0,
        },
        cost: None,
        latency_ms: 0.25,
        cache_hit: true,
        constrained: true,
        error: Some("model `fast`: no answer within 30s (3 attempts)".to_owned()),
    });
    original.cache_hit = true;
    let id = record(&*store, original.clone());
    assert!(id > 0);
    let found = store.get(id).expect("get").expect("the execution exists");
    original.id = id;
    assert_eq!(found, original);

    // The optional fields empty.
    let mut bare = execution("qa", 5, 1.0, Status::Failed);
    bare.cost = None;
    bare.batch = None;
    bare.calls.clear();
    bare.repairs.clear();
    bare.inputs = json!({});
    let id = record(&*store, bare.clone());
    bare.id = id;
    assert_eq!(store.get(id).expect("get"), Some(bare));
    assert_eq!(store.get(id + 1000).expect("get"), None);
}

#[test]
fn long_texts_are_stored_once() {
    let directory = tempfile::tempdir().expect("tempdir");
    let path = store_path(&directory);
    let store = open(&path);
    let runtime = runtime();
    let pending: Vec<_> = (0..50)
        .map(|index| store.record(execution("qa", index, 1.0, Status::Success)))
        .collect();
    for future in pending {
        runtime.block_on(future).expect("committed");
    }
    let connection = rusqlite::Connection::open(&path).expect("open with rusqlite");
    let texts: i64 = connection
        .query_row("SELECT count(*) FROM texts", [], |row| row.get(0))
        .expect("count texts");
    assert_eq!(texts, 1, "the shared system prompt is stored once");
}

#[test]
fn list_filters_and_orders_newest_first() {
    let directory = tempfile::tempdir().expect("tempdir");
    let store = open(&store_path(&directory));
    let runtime = runtime();
    let plan = [
        ("qa", 100, Status::Success),
        ("summarize", 300, Status::Failed),
        ("qa", 200, Status::Failed),
        ("qa", 400, Status::Success),
        ("summarize", 500, Status::Success),
    ];
    let pending: Vec<_> = plan
        .iter()
        .map(|(program, started_at, status)| {
            store.record(execution(program, *started_at, 5.0, *status))
        })
        .collect();
    let ids: Vec<i64> = pending
        .into_iter()
        .map(|future| runtime.block_on(future).expect("committed"))
        .collect();

    let started = |filter: Filter| -> Vec<i64> {
        store
            .list(&filter)
            .expect("list")
            .iter()
            .map(|summary| summary.started_at)
            .collect()
    };
    assert_eq!(started(Filter::default()), [500, 400, 300, 200, 100]);
    assert_eq!(
        started(Filter {
            last: Some(2),
            ..Filter::default()
        }),
        [500, 400]
    );
    assert_eq!(
        started(Filter {
            program: Some("qa".to_owned()),
            ..Filter::default()
        }),
        [400, 200, 100]
    );
    assert_eq!(
        started(Filter {
            status: Some(Status::Failed),
            ..Filter::default()
        }),
        [300, 200]
    );
    assert_eq!(
        started(Filter {
            last: Some(1),
            program: Some("qa".to_owned()),
            status: Some(Status::Failed),
        }),
        [200]
    );
    assert!(started(Filter {
        program: Some("missing".to_owned()),
        ..Filter::default()
    })
    .is_empty());

    let summaries = store.list(&Filter::default()).expect("list");
    let failed = summaries
        .iter()
        .find(|summary| summary.started_at == 300)
        .expect("the failed summary");
    assert_eq!(failed.id, ids[1]);
    assert_eq!(failed.program, "summarize");
    assert_eq!(failed.model, "fast");
    assert_eq!(failed.status, Status::Failed);
    assert_eq!(failed.latency_ms, 5.0);
    assert_eq!(failed.usage.input_tokens, 412);
    assert_eq!(failed.cost, Some(0.000_123));
    assert!(!failed.cache_hit);
    assert_eq!(
        failed.error.as_deref(),
        Some("the reply has no `answer` field")
    );
}

#[test]
fn stats_percentiles_are_nearest_rank() {
    let directory = tempfile::tempdir().expect("tempdir");
    let store = open(&store_path(&directory));
    let runtime = runtime();
    let mut pending = Vec::new();
    // qa: latencies 1..=100 ms, every tenth failed, no cost on the odd ones.
    for latency in 1..=100 {
        let status = if latency % 10 == 0 {
            Status::Failed
        } else {
            Status::Success
        };
        let mut record = execution("qa", i64::from(latency), f64::from(latency), status);
        if latency % 2 == 1 {
            record.cost = None;
        }
        pending.push(store.record(record));
    }
    // summarize on another model: three executions, none priced.
    for latency in [30.0, 10.0, 20.0] {
        let mut record = execution("summarize", 1_000, latency, Status::Success);
        record.model = "slow".to_owned();
        record.cost = None;
        pending.push(store.record(record));
    }
    for future in pending {
        runtime.block_on(future).expect("committed");
    }

    let stats = store.stats(&Filter::default()).expect("stats");
    assert_eq!(stats.len(), 2);
    let qa = &stats[0];
    assert_eq!((qa.program.as_str(), qa.model.as_str()), ("qa", "fast"));
    assert_eq!((qa.count, qa.failed), (100, 10));
    assert!((qa.error_rate - 0.1).abs() < 1e-12, "{}", qa.error_rate);
    assert_eq!((qa.p50_ms, qa.p95_ms, qa.p99_ms), (50.0, 95.0, 99.0));
    assert_eq!(qa.usage.input_tokens, 41_200);
    assert_eq!(qa.usage.output_tokens, 2_300);
    let cost = qa.cost.expect("half the executions had a cost");
    assert!((cost - 50.0 * 0.000_123).abs() < 1e-12, "{cost}");

    let summarize = &stats[1];
    assert_eq!(
        (summarize.program.as_str(), summarize.model.as_str()),
        ("summarize", "slow")
    );
    assert_eq!((summarize.count, summarize.failed), (3, 0));
    assert_eq!(summarize.error_rate, 0.0);
    // Ranks ceil(0.5 * 3) = 2, ceil(0.95 * 3) = 3, ceil(0.99 * 3) = 3.
    assert_eq!(
        (summarize.p50_ms, summarize.p95_ms, summarize.p99_ms),
        (20.0, 30.0, 30.0)
    );
    assert_eq!(summarize.cost, None);

    let only_qa = store
        .stats(&Filter {
            program: Some("qa".to_owned()),
            status: Some(Status::Failed),
            last: None,
        })
        .expect("stats");
    assert_eq!(only_qa.len(), 1);
    assert_eq!((only_qa[0].count, only_qa[0].failed), (10, 10));
    assert_eq!(only_qa[0].p50_ms, 50.0);
    assert!(store
        .stats(&Filter {
            program: Some("missing".to_owned()),
            ..Filter::default()
        })
        .expect("stats")
        .is_empty());
}

#[test]
fn cache_put_then_get() {
    let directory = tempfile::tempdir().expect("tempdir");
    let path = store_path(&directory);
    let store = open(&path);
    let completion = Completion {
        text: "{\"answer\": \"Paris\"}".to_owned(),
        usage: Usage {
            input_tokens: 10,
            output_tokens: 4,
        },
        finish_reason: Some("stop".to_owned()),
        constrained: true,
    };
    assert_eq!(store.cache_get("key-1").expect("cache_get"), None);
    store.cache_put("key-1", &completion).expect("queued");
    store.flush().expect("flush");
    assert_eq!(
        store.cache_get("key-1").expect("cache_get"),
        Some(completion.clone())
    );

    let replacement = Completion {
        text: "Lyon".to_owned(),
        finish_reason: None,
        constrained: false,
        ..completion
    };
    store.cache_put("key-1", &replacement).expect("queued");
    drop(store);
    // Dropping the store commits what was queued.
    let store = open(&path);
    assert_eq!(
        store.cache_get("key-1").expect("cache_get"),
        Some(replacement)
    );
    assert_eq!(store.cache_get("key-2").expect("cache_get"), None);
}

#[test]
fn cache_get_from_many_threads() {
    let directory = tempfile::tempdir().expect("tempdir");
    let store = open(&store_path(&directory));
    let completion = Completion {
        text: "Paris".to_owned(),
        usage: Usage::default(),
        finish_reason: None,
        constrained: false,
    };
    for index in 0..20 {
        store
            .cache_put(&format!("key-{index}"), &completion)
            .expect("queued");
    }
    store.flush().expect("flush");
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for index in 0..20 {
                    let found = store.cache_get(&format!("key-{index}")).expect("cache_get");
                    assert_eq!(found.as_ref(), Some(&completion));
                }
            });
        }
    });
}

/// A batch's pattern: records stream in (so the writer lingers and keeps cache entries back
/// for a later commit) with a cache entry per record, and lookups run alongside.
#[test]
fn cache_entries_held_back_while_records_stream_are_seen_after_a_flush() {
    let directory = tempfile::tempdir().expect("tempdir");
    let path = store_path(&directory);
    let store = open(&path);
    let runtime = runtime();
    let completion = |index: usize| Completion {
        text: format!("answer {index}"),
        usage: Usage::default(),
        finish_reason: Some("stop".to_owned()),
        constrained: false,
    };
    let mut pending = Vec::new();
    for index in 0..200 {
        let key = format!("key-{index}");
        // A lookup first, as the runtime does: it begins the snapshot later lookups reuse.
        assert_eq!(store.cache_get(&key).expect("cache_get"), None);
        store.cache_put(&key, &completion(index)).expect("queued");
        let started_at = 1_700_000_000_000 + index as i64;
        pending.push(store.record(execution("qa", started_at, 5.0, Status::Success)));
    }
    runtime.block_on(async {
        for record in pending {
            record.await.expect("recorded");
        }
    });
    store.flush().expect("flush");
    for index in 0..200 {
        assert_eq!(
            store.cache_get(&format!("key-{index}")).expect("cache_get"),
            Some(completion(index)),
            "key-{index}"
        );
    }
    drop(store);
    // And they are in the file for the next process.
    let store = open(&path);
    assert_eq!(
        store.cache_get("key-199").expect("cache_get"),
        Some(completion(199))
    );
}

/// Cache lookups read one snapshot for up to 100 ms (see SNAPSHOT_AGE in src/store/sqlite.rs):
/// an entry another process caches is seen once that has passed.
#[test]
fn entries_another_process_caches_are_seen_within_a_snapshot_age() {
    let directory = tempfile::tempdir().expect("tempdir");
    let path = store_path(&directory);
    let reader = open(&path);
    let other = open(&path);
    let completion = Completion {
        text: "Paris".to_owned(),
        usage: Usage::default(),
        finish_reason: None,
        constrained: false,
    };
    assert_eq!(reader.cache_get("shared").expect("cache_get"), None);
    other.cache_put("shared", &completion).expect("queued");
    other.flush().expect("flush");
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(
        reader.cache_get("shared").expect("cache_get"),
        Some(completion)
    );
}

#[test]
fn a_file_that_is_not_a_database_is_reported() {
    let directory = tempfile::tempdir().expect("tempdir");
    let path = directory.path().join("dspex.db");
    std::fs::write(&path, "name,age\nAda,36\n".repeat(100)).expect("write");
    let error = store::open(&path).expect_err("not a database");
    assert!(
        matches!(error, StoreError::NotADatabase { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("is not a dspex store"),
        "{error}"
    );
    assert!(error.help().is_some());
}

#[test]
fn another_sqlite_database_is_not_taken_over() {
    let directory = tempfile::tempdir().expect("tempdir");
    let path = directory.path().join("other.db");
    let connection = rusqlite::Connection::open(&path).expect("open with rusqlite");
    connection
        .execute_batch("CREATE TABLE people (name TEXT)")
        .expect("create");
    drop(connection);
    let error = store::open(&path).expect_err("someone else's database");
    assert!(matches!(error, StoreError::Open { .. }), "{error:?}");
}

#[test]
fn a_corrupt_database_is_reported() {
    let directory = tempfile::tempdir().expect("tempdir");
    let path = directory.path().join("dspex.db");
    {
        let store = open(&path);
        for index in 0..200 {
            record(&*store, execution("qa", index, 1.0, Status::Success));
        }
    }
    // Keep the header, overwrite the pages after it.
    let mut bytes = std::fs::read(&path).expect("read");
    assert!(bytes.len() > 8192, "{}", bytes.len());
    for byte in &mut bytes[100..] {
        *byte = 0x5a;
    }
    std::fs::write(&path, bytes).expect("write");
    let error = match store::open(&path) {
        Err(error) => error,
        Ok(store) => store
            .list(&Filter::default())
            .expect_err("the corrupt pages are noticed"),
    };
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error:?}");
    assert!(error.help().is_some());
}

#[test]
fn a_path_that_cannot_be_created_is_reported() {
    let directory = tempfile::tempdir().expect("tempdir");
    let blocker = directory.path().join("file");
    std::fs::write(&blocker, "not a directory").expect("write");
    let error = store::open(&blocker.join("dspex.db")).expect_err("the parent is a file");
    assert!(matches!(error, StoreError::Open { .. }), "{error:?}");
    assert!(error.to_string().contains("cannot be opened"), "{error}");

    // A directory where the database file should be.
    let error = store::open(directory.path()).expect_err("a directory");
    assert!(matches!(error, StoreError::Open { .. }), "{error:?}");
}

#[test]
fn a_locked_database_is_reported() {
    let directory = tempfile::tempdir().expect("tempdir");
    let path = directory.path().join("dspex.db");
    drop(open(&path));
    let holder = rusqlite::Connection::open(&path).expect("open with rusqlite");
    holder
        .execute_batch("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE;")
        .expect("lock");
    let error = SqliteStore::open_with_timeout(&path, Duration::from_millis(50))
        .expect_err("the database is locked");
    assert!(matches!(error, StoreError::Locked { .. }), "{error:?}");
    assert!(error.help().is_some());
    holder.execute_batch("COMMIT").expect("unlock");
}

#[test]
fn records_fail_while_another_process_holds_the_write_lock() {
    let directory = tempfile::tempdir().expect("tempdir");
    let path = directory.path().join("dspex.db");
    let store = SqliteStore::open_with_timeout(&path, Duration::from_millis(50)).expect("open");
    let holder = rusqlite::Connection::open(&path).expect("open with rusqlite");
    holder.execute_batch("BEGIN IMMEDIATE").expect("lock");
    let error = runtime()
        .block_on(store.record(execution("qa", 1, 1.0, Status::Success)))
        .expect_err("the write lock is held");
    assert!(matches!(error, StoreError::Locked { .. }), "{error:?}");
    assert_eq!(
        store.flush(),
        Err(StoreError::Locked {
            path: store_display(&path)
        })
    );
    holder.execute_batch("COMMIT").expect("unlock");
    // The writer recovers once the lock is released.
    let id = runtime()
        .block_on(store.record(execution("qa", 2, 1.0, Status::Success)))
        .expect("committed");
    assert!(store.get(id).expect("get").is_some());
    assert_eq!(store.flush(), Ok(()));
}

fn store_display(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

/// The durability test's child: records executions from several tasks and prints each id once
/// its future resolves. Does nothing unless run by `recorded_ids_survive_kill_9`.
#[test]
fn durability_child() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let store = open(Path::new(&path));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for task in 0..8_i64 {
            let store = Arc::clone(&store);
            tasks.push(tokio::spawn(async move {
                for index in 0.. {
                    let record = execution("qa", task * 1_000_000 + index, 1.0, Status::Success);
                    let id = store.record(record).await.expect("committed");
                    let mut stdout = std::io::stdout().lock();
                    writeln!(stdout, "id {id}").expect("stdout");
                    stdout.flush().expect("stdout");
                }
            }));
        }
        for task in tasks {
            task.await.expect("task");
        }
    });
}

#[test]
fn recorded_ids_survive_kill_9() {
    const WANTED: usize = 2_000;
    let directory = tempfile::tempdir().expect("tempdir");
    let path = store_path(&directory);
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "--exact",
            "durability_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the child");
    let stdout = child.stdout.take().expect("the child's stdout");
    let mut ids = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("a line");
        if let Some(id) = line.strip_prefix("id ") {
            ids.push(id.parse::<i64>().expect("an id"));
            if ids.len() == WANTED {
                break;
            }
        }
    }
    // SIGKILL while the child is still recording: no destructor, no final commit.
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    assert_eq!(ids.len(), WANTED, "the child printed too few ids");

    let store = open(&path);
    let mut missing = Vec::new();
    for id in &ids {
        if store.get(*id).expect("get").is_none() {
            missing.push(*id);
        }
    }
    assert!(
        missing.is_empty(),
        "ids printed but not stored: {missing:?}"
    );
    let stored = store.list(&Filter::default()).expect("list").len();
    assert!(stored >= WANTED, "{stored}");
}
