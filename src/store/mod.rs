//! The execution store and response cache. Everything the runtime records goes through the
//! [`Store`] trait, so a PostgreSQL backend can take SQLite's place without the runtime changing.
//! The SQLite backend ([`sqlite`]) is the default: one database per project, `.dspex/dspex.db`
//! unless configured otherwise (`crate::config::Config::store_path`).
//!
//! Nothing here ever holds an API key: records carry what the program saw and answered, never
//! the environment or request headers.

pub mod sqlite;

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::lm::{BoxFuture, Completion, Message, Usage};

pub use sqlite::SqliteStore;

/// Opens (creating it and its directory when needed) the SQLite store at `path`.
pub fn open(path: &Path) -> Result<Arc<dyn Store>, StoreError> {
    Ok(Arc::new(SqliteStore::open(path)?))
}

/// Records executions, answers queries about them and caches LM replies.
///
/// Writes are queued and committed in batches by the backend; reads may run concurrently from
/// many tasks. Dropping the last handle waits for queued writes to commit.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Queues `execution` (its `id` is ignored). The future resolves with the id the store gave
    /// it once the record is committed, so it survives the process being killed from then on.
    /// The record is queued when this returns, whether or not the future is polled.
    fn record(&self, execution: Execution) -> BoxFuture<'static, Result<i64, StoreError>>;

    /// The cached completion for `key` (a request hash computed by the caller), if any.
    /// Puts still queued may not be visible yet; [`Store::flush`] makes them so.
    fn cache_get(&self, key: &str) -> Result<Option<Completion>, StoreError>;

    /// Queues `completion` as the cached reply for `key`, replacing any older one. Only fails
    /// when the writer has stopped.
    fn cache_put(&self, key: &str, completion: &Completion) -> Result<(), StoreError>;

    /// Blocks until every write queued before the call is committed, reporting the first error
    /// of those writes. Call it from a blocking context (`spawn_blocking` under tokio).
    fn flush(&self) -> Result<(), StoreError>;

    /// The executions `filter` selects, newest first, without their calls.
    fn list(&self, filter: &Filter) -> Result<Vec<Summary>, StoreError>;

    /// One execution in full: calls with their prompt messages and raw replies, and repairs.
    fn get(&self, id: i64) -> Result<Option<Execution>, StoreError>;

    /// Aggregates per (program, model) over the executions `filter` selects, sorted by program
    /// then model. See [`Stats`] for how percentiles are computed.
    fn stats(&self, filter: &Filter) -> Result<Vec<Stats>, StoreError>;
}

/// How an execution ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Success,
    Failed,
}

impl Status {
    /// The name stored in the database and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Failed => "failed",
        }
    }

    /// The status named `name` (`success` or `failed`), as stored by [`Status::as_str`].
    pub fn parse(name: &str) -> Option<Status> {
        match name {
            "success" => Some(Status::Success),
            "failed" => Some(Status::Failed),
            _ => None,
        }
    }
}

/// One LM call made during an execution (a module may make several).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// `chat` or `json`.
    pub adapter: String,
    pub messages: Vec<Message>,
    /// The raw reply text; `None` when the call itself failed.
    pub raw: Option<String>,
    pub usage: Usage,
    /// USD for this call's tokens at the model's configured prices; `None` without prices,
    /// for a cache hit, or when no reply came.
    #[serde(default)]
    pub cost: Option<f64>,
    pub latency_ms: f64,
    pub cache_hit: bool,
    pub constrained: bool,
    pub error: Option<String>,
}

/// A repair the output parser made, so a user can see what the LM got wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepairRecord {
    /// `answer`, `sources[1]`, `person.age`.
    pub path: String,
    /// Short, human: `parsed "87%" as 0.87`.
    pub description: String,
}

/// Everything recorded about one execution of a program or signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    /// Assigned by the store; 0 before it is written.
    pub id: i64,
    /// Unix milliseconds.
    pub started_at: i64,
    pub finished_at: i64,
    /// The source file as given on the command line.
    pub file: String,
    /// The program name, or the signature name when a signature runs under `predict`.
    pub program: String,
    pub signature: String,
    /// `predict`, `chain_of_thought`, ...
    pub module: String,
    /// SHA-256 (hex) of the `.sig` file's bytes.
    pub source_hash: String,
    /// The model as the user named it, and the provider id it resolved to.
    pub model: String,
    pub provider_model: String,
    pub inputs: Value,
    pub outputs: Option<Value>,
    pub status: Status,
    pub error: Option<String>,
    pub latency_ms: f64,
    pub usage: Usage,
    /// USD; `None` when the model has no configured price.
    pub cost: Option<f64>,
    /// Every LM call was answered from the cache.
    pub cache_hit: bool,
    pub calls: Vec<CallRecord>,
    pub repairs: Vec<RepairRecord>,
    /// Groups the lines of one `--batch` run.
    pub batch: Option<String>,
}

/// Which executions `list` and `stats` consider. Every field narrows; the default is all.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only the newest this many (after the other filters).
    pub last: Option<usize>,
    pub program: Option<String>,
    pub status: Option<Status>,
}

/// One row of `list`: an execution without its calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub id: i64,
    /// Unix milliseconds.
    pub started_at: i64,
    pub program: String,
    pub model: String,
    pub status: Status,
    pub latency_ms: f64,
    pub usage: Usage,
    /// USD; `None` when the model has no configured price.
    pub cost: Option<f64>,
    pub cache_hit: bool,
    pub error: Option<String>,
}

/// Aggregates per program and model for `dspex stats`.
///
/// Latency percentiles use the nearest-rank method over every selected execution, failed ones
/// included: `pN` is the smallest recorded latency with at least N% of executions at or below
/// it, so it is always a latency that actually happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub program: String,
    pub model: String,
    pub count: u64,
    pub failed: u64,
    /// `failed / count`, 0 to 1.
    pub error_rate: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// Summed over the executions.
    pub usage: Usage,
    /// Summed over the executions that had a cost; `None` when none had one.
    pub cost: Option<f64>,
}

/// A cached LM reply with what it cost the first time.
pub type CachedCompletion = Completion;

/// Why the store could not do what was asked. Messages never contain record contents.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    #[error("the store at `{path}` cannot be opened: {message}")]
    Open { path: String, message: String },
    #[error("`{path}` is not a dspex store (it is not an SQLite database)")]
    NotADatabase { path: String },
    #[error("the store at `{path}` is corrupt: {message}")]
    Corrupt { path: String, message: String },
    #[error("the store at `{path}` is locked by another process")]
    Locked { path: String },
    #[error("the store at `{path}` was written by a newer dspex (schema version {found}, this dspex knows {known})")]
    TooNew {
        path: String,
        found: i64,
        known: i64,
    },
    #[error("the store holds a malformed record: {0}")]
    Malformed(String),
    #[error("store error: {0}")]
    Database(String),
    #[error("the store's writer has stopped")]
    WriterGone,
}

impl StoreError {
    /// What the user can do about it, when that is known.
    pub fn help(&self) -> Option<String> {
        match self {
            StoreError::Open { .. } => Some(
                "check that the directory can be created and written, or choose another path"
                    .to_owned(),
            ),
            StoreError::NotADatabase { path } => Some(format!(
                "move `{path}` away (dspex creates a new store there), or choose another path"
            )),
            StoreError::Corrupt { path, .. } => Some(format!(
                "move `{path}` away to start an empty store; `sqlite3 {path} .recover` may save \
                 its records"
            )),
            StoreError::Locked { .. } => Some(
                "wait for the other dspex (or `sqlite3` shell) using the store to finish, then retry"
                    .to_owned(),
            ),
            StoreError::TooNew { path, .. } => Some(format!(
                "upgrade dspex to read it, or move `{path}` away to start an empty store"
            )),
            StoreError::Malformed(_) | StoreError::Database(_) | StoreError::WriterGone => None,
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> StoreError {
        StoreError::Database(error.to_string())
    }
}
