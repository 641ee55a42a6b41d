//! The writer thread: it owns the only write connection, takes everything queued (up to
//! [`MAX_BATCH`] items), writes it in one transaction, commits, and only then answers each
//! record with its id.

use std::collections::HashSet;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, TransactionBehavior};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use super::rows::{to_json, StoredCall, StoredMessage};
use super::snapshot::Snapshots;
use super::{classify, INLINE_LIMIT};
use crate::digest::hex;
use crate::recent::Recent;
use crate::store::{Execution, StoreError};

/// The most queued items one transaction takes, bounding how long a record waits for its commit
/// and how much the transaction holds in memory.
pub const MAX_BATCH: usize = 4096;

/// How long the writer waits for more records once several are queued. Commits are the
/// store's main cost (each writes every page it touched, whole, to the WAL): at 2 ms a
/// sequential batch (a record every ~0.1 ms) committed ~20 rows at a time and the writer cost
/// ~8 us more per row than at 10 ms; 25, 50 and 100 ms measured no better. A batch run reports
/// a line only after its record is committed, so this is also how much later a result line can
/// appear; a lone record (a single run) never waits.
const LINGER: Duration = Duration::from_millis(10);

/// A record arriving within this long of the previous commit is taken as part of a stream.
const STREAM_GAP: Duration = Duration::from_millis(5);

/// How long responses to cache may wait while records stream in. Cache keys are hashes, so
/// each entry lands on a random page of the key index, and a commit writes every page it
/// touched: committed with every 10 ms of records, the cache index was rewritten whole each
/// time and cost more than the records. Waiting longer only delays when a repeated request can
/// hit the cache; a killed process loses at most this much of its cache, never a record.
const CACHE_LINGER: Duration = Duration::from_millis(250);

/// Hashes of texts the writer knows are stored, kept so a repeated prompt skips its insert.
/// Cleared when it grows past this.
const MAX_KNOWN_TEXTS: usize = 65_536;

const INSERT_EXECUTION: &str = "INSERT INTO executions (started_at, finished_at, file, program, \
    signature, module, source_hash, model, provider_model, inputs, outputs, status, error, \
    latency_ms, input_tokens, output_tokens, cost, cache_hit, calls, repairs, batch) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, \
    ?20, ?21)";

const INSERT_TEXT: &str = "INSERT OR IGNORE INTO texts (hash, body) VALUES (?1, ?2)";

const PUT_CACHE: &str =
    "INSERT OR REPLACE INTO cache (key, completion, created_at) VALUES (?1, ?2, ?3)";

/// What the writer thread is asked to do, in the order it was asked.
pub(super) enum Command {
    Record(
        Box<PreparedExecution>,
        oneshot::Sender<Result<i64, StoreError>>,
    ),
    CachePut(CacheEntry),
    /// Answered once everything queued before it is committed.
    Flush(mpsc::SyncSender<Result<(), StoreError>>),
}

/// An execution turned into column values on the caller's thread (JSON encoding, hashing), so
/// the writer thread only binds and steps one statement per execution.
pub(super) struct PreparedExecution {
    /// The scalar fields; `calls`, `repairs`, `inputs` and `outputs` are taken out.
    execution: Execution,
    inputs: String,
    outputs: Option<String>,
    calls: String,
    repairs: String,
    /// Long message contents by SHA-256, to store once.
    texts: Vec<([u8; 32], String)>,
}

impl PreparedExecution {
    pub(super) fn new(mut execution: Execution) -> PreparedExecution {
        let mut texts = Vec::new();
        let calls: Vec<StoredCall> = std::mem::take(&mut execution.calls)
            .into_iter()
            .map(|call| {
                let messages = call
                    .messages
                    .into_iter()
                    .map(|message| {
                        if message.content.len() < INLINE_LIMIT {
                            return StoredMessage {
                                role: message.role,
                                content: Some(message.content),
                                text: None,
                            };
                        }
                        let (hash, shown) = text_hash(&message.content);
                        texts.push((hash, message.content));
                        StoredMessage {
                            role: message.role,
                            content: None,
                            text: Some(shown),
                        }
                    })
                    .collect();
                StoredCall {
                    adapter: call.adapter,
                    messages,
                    raw: call.raw,
                    usage: call.usage,
                    cost: call.cost,
                    latency_ms: call.latency_ms,
                    cache_hit: call.cache_hit,
                    constrained: call.constrained,
                    error: call.error,
                }
            })
            .collect();
        let inputs = to_json(&std::mem::take(&mut execution.inputs));
        let outputs = execution.outputs.take().map(|outputs| to_json(&outputs));
        let repairs = to_json(&std::mem::take(&mut execution.repairs));
        PreparedExecution {
            execution,
            inputs,
            outputs,
            calls: to_json(&calls),
            repairs,
            texts,
        }
    }
}

/// Long texts hashed recently on this thread, most recent first: a program's system message is
/// the same in every execution, and this skips hashing it again.
const HASHED_ENTRIES: usize = 8;

thread_local! {
    static HASHED: std::cell::RefCell<Recent<([u8; 32], String)>> =
        const { std::cell::RefCell::new(Recent::new(HASHED_ENTRIES)) };
}

/// The SHA-256 of `text` and its hex form.
fn text_hash(text: &str) -> ([u8; 32], String) {
    HASHED.with_borrow_mut(|hashed| {
        let (hash, shown) = hashed.get_or_insert_with(text, || {
            let hash: [u8; 32] = Sha256::digest(text.as_bytes()).into();
            (hash, hex(&hash))
        });
        (*hash, shown.clone())
    })
}

/// The writer thread's state.
pub(super) struct Writer {
    pub(super) connection: Connection,
    /// The store's path as messages show it.
    pub(super) path: String,
    /// Hashes of texts in the database or in the open transaction.
    pub(super) known_texts: HashSet<[u8; 32]>,
    /// The first failure since the last flush, reported to it.
    pub(super) failure: Option<StoreError>,
    /// The cache lookups' connections: told of commits of cache entries, and their idle
    /// snapshots ended once old.
    pub(super) snapshots: Arc<Snapshots>,
}

impl Writer {
    /// Serves `receiver` until every sender is gone and the queue is empty.
    pub(super) fn run(mut self, receiver: &mpsc::Receiver<Command>) {
        let mut batch = Vec::new();
        let mut cache = PendingCache::default();
        let mut last_commit: Option<Instant> = None;
        loop {
            let first = match cache.due_in() {
                None => receiver
                    .recv()
                    .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
                Some(wait) => receiver.recv_timeout(wait),
            };
            let first = match first {
                Ok(command) => command,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    // Cache entries waited long enough and nothing else came: write them alone.
                    self.commit(&mut batch, &mut cache, true);
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.commit(&mut batch, &mut cache, true);
                    return;
                }
            };
            queue(first, &mut batch, &mut cache);
            while batch.len() + cache.entries.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(command) => queue(command, &mut batch, &mut cache),
                    Err(_) => break,
                }
            }
            // Under a stream of records (a batch run: several queued, or one arriving soon
            // after the last commit, as at concurrency 1), wait a moment for more, so one
            // commit covers many of them; a lone record (a single run) is committed at once.
            // The writer sleeps rather than waiting on the channel: a sender then finds no
            // receiver to wake, which saved a futex wake and a context switch per record.
            // A flush means someone is waiting for everything (the end of a run): no lingering.
            let flushing = batch
                .iter()
                .any(|command| matches!(command, Command::Flush(_)));
            let streaming =
                batch.len() > 1 || last_commit.is_some_and(|commit| commit.elapsed() < STREAM_GAP);
            if streaming && !flushing && batch.len() + cache.entries.len() < MAX_BATCH {
                std::thread::sleep(LINGER);
                while batch.len() + cache.entries.len() < MAX_BATCH {
                    match receiver.try_recv() {
                        Ok(command) => queue(command, &mut batch, &mut cache),
                        Err(_) => break,
                    }
                }
            }
            // Cache entries ride along with records only now and then while records stream in
            // (see [`CACHE_LINGER`]); otherwise with the next commit.
            let with_cache = !streaming || flushing || cache.is_due();
            if batch.is_empty() && !with_cache {
                continue;
            }
            if self.commit(&mut batch, &mut cache, with_cache) {
                last_commit = Some(Instant::now());
            }
        }
    }

    /// Writes `batch` (and `cache`'s entries when `with_cache`) in one transaction, then answers
    /// every command in `batch`; true if something was written.
    fn commit(
        &mut self,
        batch: &mut Vec<Command>,
        cache: &mut PendingCache,
        with_cache: bool,
    ) -> bool {
        let entries = if with_cache { cache.take() } else { Vec::new() };
        let writes = !entries.is_empty()
            || batch
                .iter()
                .any(|command| !matches!(command, Command::Flush(_)));
        // Only flushes: everything before them is committed already.
        let result = if writes {
            // Old idle snapshots would keep the checkpoint that may follow this commit from
            // copying the log back and starting it over.
            self.snapshots.end_stale();
            self.write(batch, &entries)
        } else {
            Ok(Vec::new())
        };
        if result.is_ok() && !entries.is_empty() {
            // Before any command is answered: a flush returns with the entries visible.
            self.snapshots.cache_committed();
        }
        if let Err(error) = &result {
            // The rolled-back transaction may have held texts the memo lists. Its cache
            // entries are dropped: a cache only saves calls, and the error is reported.
            self.known_texts.clear();
            self.failure.get_or_insert_with(|| error.clone());
        }
        let mut ids = result.as_deref().unwrap_or_default().iter();
        for command in batch.drain(..) {
            match command {
                Command::Record(_, sender) => {
                    let answer = match (&result, ids.next()) {
                        (Err(error), _) => Err(error.clone()),
                        (Ok(_), Some(id)) => Ok(*id),
                        (Ok(_), None) => Err(StoreError::WriterGone),
                    };
                    // The caller may have stopped waiting; the record is committed anyway.
                    let _ = sender.send(answer);
                }
                Command::Flush(sender) => {
                    let _ = sender.send(self.failure.take().map_or(Ok(()), Err));
                }
                Command::CachePut(_) => {}
            }
        }
        writes
    }

    /// Writes the records of `batch` and `cache` in one transaction; the records' ids, in order.
    fn write(&mut self, batch: &[Command], cache: &[CacheEntry]) -> Result<Vec<i64>, StoreError> {
        let path = &self.path;
        let classify = |error| classify(path, error);
        if self.known_texts.len() > MAX_KNOWN_TEXTS {
            self.known_texts.clear();
        }
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(classify)?;
        let mut ids = Vec::with_capacity(batch.len());
        {
            let mut insert_execution = transaction
                .prepare_cached(INSERT_EXECUTION)
                .map_err(classify)?;
            let mut insert_text = transaction.prepare_cached(INSERT_TEXT).map_err(classify)?;
            for command in batch {
                let Command::Record(prepared, _) = command else {
                    continue;
                };
                for (hash, body) in &prepared.texts {
                    if self.known_texts.insert(*hash) {
                        insert_text
                            .execute(params![&hash[..], body])
                            .map_err(classify)?;
                    }
                }
                let execution = &prepared.execution;
                let id = insert_execution
                    .insert(params![
                        execution.started_at,
                        execution.finished_at,
                        execution.file,
                        execution.program,
                        execution.signature,
                        execution.module,
                        execution.source_hash,
                        execution.model,
                        execution.provider_model,
                        prepared.inputs,
                        prepared.outputs,
                        execution.status.as_str(),
                        execution.error,
                        execution.latency_ms,
                        tokens(execution.usage.input_tokens),
                        tokens(execution.usage.output_tokens),
                        execution.cost,
                        execution.cache_hit,
                        prepared.calls,
                        prepared.repairs,
                        execution.batch,
                    ])
                    .map_err(classify)?;
                ids.push(id);
            }
            if !cache.is_empty() {
                let mut put_cache = transaction.prepare_cached(PUT_CACHE).map_err(classify)?;
                for entry in cache {
                    put_cache
                        .execute(params![entry.key, entry.completion, entry.created_at])
                        .map_err(classify)?;
                }
            }
        }
        transaction.commit().map_err(classify)?;
        Ok(ids)
    }
}

/// Queues `command`: cache entries wait in `cache`, everything else in `batch`.
fn queue(command: Command, batch: &mut Vec<Command>, cache: &mut PendingCache) {
    match command {
        Command::CachePut(entry) => cache.push(entry),
        command => batch.push(command),
    }
}

/// One response to cache: its key, the completion's JSON, when (unix milliseconds).
pub(super) struct CacheEntry {
    pub(super) key: String,
    pub(super) completion: String,
    pub(super) created_at: i64,
}

/// Cache entries waiting for a commit to ride along with.
#[derive(Default)]
struct PendingCache {
    entries: Vec<CacheEntry>,
    /// When the oldest entry arrived.
    since: Option<Instant>,
}

impl PendingCache {
    fn push(&mut self, entry: CacheEntry) {
        self.since.get_or_insert_with(Instant::now);
        self.entries.push(entry);
    }

    /// Whether the entries have waited [`CACHE_LINGER`] or fill a transaction.
    fn is_due(&self) -> bool {
        self.entries.len() >= MAX_BATCH
            || self
                .since
                .is_some_and(|since| since.elapsed() >= CACHE_LINGER)
    }

    /// How long until the entries are due; `None` when there are none.
    fn due_in(&self) -> Option<Duration> {
        self.since
            .map(|since| CACHE_LINGER.saturating_sub(since.elapsed()))
    }

    /// The entries, sorted by key: neighbouring keys share index pages, so inserting in key
    /// order touches each page once.
    fn take(&mut self) -> Vec<CacheEntry> {
        self.since = None;
        let mut entries = std::mem::take(&mut self.entries);
        entries.sort_unstable_by(|left, right| left.key.cmp(&right.key));
        entries
    }
}

/// A token count as SQLite stores it (a signed 64-bit integer).
fn tokens(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_hashes_are_the_texts_own() {
        let texts: Vec<String> = (0..HASHED_ENTRIES * 2)
            .map(|index| format!("system prompt {index} {}", "x".repeat(300)))
            .collect();
        for round in 0..3 {
            for text in texts.iter().chain(texts.iter().take(2)) {
                let expected: [u8; 32] = Sha256::digest(text.as_bytes()).into();
                assert_eq!(text_hash(text), (expected, hex(&expected)), "round {round}");
            }
        }
    }
}
