//! The execution store and response cache. Everything the runtime records goes through the
//! [`Store`] trait, so a PostgreSQL backend can take SQLite's place without the runtime changing.
//! The SQLite backend (`sqlite.rs`) is the default: one database per project.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::lm::{Completion, Message, Usage};

/// How an execution ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Success,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Failed => "failed",
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

/// Which executions `list` returns, newest first.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub last: Option<usize>,
    pub program: Option<String>,
    pub status: Option<Status>,
}

/// One row of `list`: an execution without its calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub id: i64,
    pub started_at: i64,
    pub program: String,
    pub model: String,
    pub status: Status,
    pub latency_ms: f64,
    pub usage: Usage,
    pub cost: Option<f64>,
    pub cache_hit: bool,
    pub error: Option<String>,
}

/// Aggregates per program and model for `dspex stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub program: String,
    pub model: String,
    pub count: u64,
    pub failed: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub usage: Usage,
    pub cost: Option<f64>,
}

/// A cached LM reply with what it cost the first time.
pub type CachedCompletion = Completion;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store at `{path}` cannot be opened: {message}")]
    Open { path: String, message: String },
    #[error("the store at `{path}` was written by a newer dspex (schema version {found}, this dspex knows {known})")]
    TooNew {
        path: String,
        found: i64,
        known: i64,
    },
    #[error("store error: {0}")]
    Database(String),
    #[error("the store's writer has stopped")]
    WriterGone,
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> StoreError {
        StoreError::Database(error.to_string())
    }
}
