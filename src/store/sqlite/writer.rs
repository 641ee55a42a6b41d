//! The writer thread: it owns the only write connection, takes everything queued (up to
//! [`MAX_BATCH`] items), writes it in one transaction, commits, and only then answers each
//! record with its id.

use std::collections::HashSet;
use std::sync::mpsc;

use rusqlite::{params, Connection, TransactionBehavior};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use super::rows::{to_json, StoredCall, StoredMessage};
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
const LINGER: std::time::Duration = std::time::Duration::from_millis(10);

/// A record arriving within this long of the previous commit is taken as part of a stream.
const STREAM_GAP: std::time::Duration = std::time::Duration::from_millis(5);

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
    CachePut {
        key: String,
        completion: String,
        created_at: i64,
    },
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
}

impl Writer {
    /// Serves `receiver` until every sender is gone and the queue is empty.
    pub(super) fn run(mut self, receiver: &mpsc::Receiver<Command>) {
        let mut batch = Vec::new();
        let mut last_commit: Option<std::time::Instant> = None;
        while let Ok(first) = receiver.recv() {
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(command) => batch.push(command),
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
            if streaming && !flushing && batch.len() < MAX_BATCH {
                std::thread::sleep(LINGER);
                while batch.len() < MAX_BATCH {
                    match receiver.try_recv() {
                        Ok(command) => batch.push(command),
                        Err(_) => break,
                    }
                }
            }
            let writes = batch
                .iter()
                .any(|command| !matches!(command, Command::Flush(_)));
            // Only flushes: everything before them is committed already.
            let result = if writes {
                let result = self.write(&batch);
                last_commit = Some(std::time::Instant::now());
                result
            } else {
                Ok(Vec::new())
            };
            if let Err(error) = &result {
                // The rolled-back transaction may have held texts the memo lists.
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
                    Command::CachePut { .. } => {}
                }
            }
        }
    }

    /// Writes `batch` in one transaction; the ids of its records, in order.
    fn write(&mut self, batch: &[Command]) -> Result<Vec<i64>, StoreError> {
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
            let mut put_cache = transaction.prepare_cached(PUT_CACHE).map_err(classify)?;
            for command in batch {
                match command {
                    Command::Record(prepared, _) => {
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
                    Command::CachePut {
                        key,
                        completion,
                        created_at,
                    } => {
                        put_cache
                            .execute(params![key, completion, created_at])
                            .map_err(classify)?;
                    }
                    Command::Flush(_) => {}
                }
            }
        }
        transaction.commit().map_err(classify)?;
        Ok(ids)
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
