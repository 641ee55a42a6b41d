//! The SQLite [`Store`]: one database file per project, in WAL mode.
//!
//! Writes go through one dedicated writer thread. It takes everything queued (up to
//! [`MAX_BATCH`] items), writes it in one transaction, commits, and only then resolves each
//! record's future with its id. With `synchronous=NORMAL` a commit is in the WAL file before
//! the future resolves, so it survives the process being killed; only a power loss can roll
//! back the last commits. Reads use a small pool of separate connections, which WAL lets run
//! alongside the writer.
//!
//! Message contents of [`INLINE_LIMIT`] bytes or more are stored once in `texts`, keyed by their
//! SHA-256, and referenced from each call by hash: the system prompt a batch repeats ten
//! thousand times costs its bytes once.

use std::collections::HashSet;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use super::{
    CallRecord, Execution, Filter, RepairRecord, Stats, Status, Store, StoreError, Summary,
};
use crate::lm::{BoxFuture, Completion, Message, Role, Usage};

/// The schema, one step per release that changed it. `PRAGMA user_version` is how many have been
/// applied; a new version appends a step and never edits an old one.
const MIGRATIONS: &[&str] = &[
    // 1: executions, their calls, deduplicated texts, the response cache.
    "
    CREATE TABLE executions (
        id             INTEGER PRIMARY KEY,
        started_at     INTEGER NOT NULL, -- unix milliseconds
        finished_at    INTEGER NOT NULL,
        file           TEXT    NOT NULL,
        program        TEXT    NOT NULL,
        signature      TEXT    NOT NULL,
        module         TEXT    NOT NULL,
        source_hash    TEXT    NOT NULL,
        model          TEXT    NOT NULL,
        provider_model TEXT    NOT NULL,
        inputs         TEXT    NOT NULL, -- JSON object
        outputs        TEXT,             -- JSON object
        status         TEXT    NOT NULL, -- 'success' | 'failed'
        error          TEXT,
        latency_ms     REAL    NOT NULL,
        input_tokens   INTEGER NOT NULL,
        output_tokens  INTEGER NOT NULL,
        cost           REAL,             -- USD
        cache_hit      INTEGER NOT NULL,
        repairs        TEXT    NOT NULL, -- JSON array of {path, description}
        batch          TEXT
    );
    CREATE INDEX executions_started_at ON executions (started_at);
    CREATE INDEX executions_program ON executions (program, started_at);
    CREATE INDEX executions_status ON executions (status, started_at);

    CREATE TABLE calls (
        execution_id  INTEGER NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
        position      INTEGER NOT NULL,
        adapter       TEXT    NOT NULL,
        -- JSON array of {role, content} or, for long contents, {role, text: <texts.hash in hex>}
        messages      TEXT    NOT NULL,
        raw           TEXT,
        input_tokens  INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        latency_ms    REAL    NOT NULL,
        cache_hit     INTEGER NOT NULL,
        constrained   INTEGER NOT NULL,
        error         TEXT,
        PRIMARY KEY (execution_id, position)
    );

    CREATE TABLE texts (
        hash BLOB PRIMARY KEY, -- SHA-256 of body
        body TEXT NOT NULL
    );

    CREATE TABLE cache (
        key        TEXT    PRIMARY KEY,
        completion TEXT    NOT NULL, -- JSON of the completion
        created_at INTEGER NOT NULL  -- unix milliseconds
    );
    ",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// How long a statement waits for another process's lock before failing with
/// [`StoreError::Locked`].
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The most queued items one transaction takes, bounding how long a record waits for its commit.
pub const MAX_BATCH: usize = 8192;

/// Message contents at least this long are stored once in `texts` and referenced by hash.
pub const INLINE_LIMIT: usize = 256;

/// Idle read connections kept for reuse; more are opened under load and closed after.
const MAX_IDLE_READERS: usize = 4;

/// Hashes of texts the writer knows are in `texts`, kept so a repeated prompt skips its insert.
/// Cleared when it grows past this.
const MAX_KNOWN_TEXTS: usize = 65_536;

const INSERT_EXECUTION: &str = "INSERT INTO executions (started_at, finished_at, file, program, \
    signature, module, source_hash, model, provider_model, inputs, outputs, status, error, \
    latency_ms, input_tokens, output_tokens, cost, cache_hit, repairs, batch) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)";

const INSERT_CALL: &str = "INSERT INTO calls (execution_id, position, adapter, messages, raw, \
    input_tokens, output_tokens, latency_ms, cache_hit, constrained, error) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

const INSERT_TEXT: &str = "INSERT OR IGNORE INTO texts (hash, body) VALUES (?1, ?2)";

const PUT_CACHE: &str =
    "INSERT OR REPLACE INTO cache (key, completion, created_at) VALUES (?1, ?2, ?3)";

/// The SQLite backend. Cheap to share behind an `Arc`; dropping it waits for queued writes.
pub struct SqliteStore {
    /// The path as messages show it.
    path: String,
    database: std::path::PathBuf,
    busy_timeout: Duration,
    sender: Option<mpsc::Sender<Command>>,
    writer: Option<JoinHandle<()>>,
    readers: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the store at `path`, creating the file and its parent directories when missing and
    /// bringing its schema up to date.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with_timeout(path, DEFAULT_BUSY_TIMEOUT)
    }

    /// [`SqliteStore::open`] with how long to wait for another process's lock.
    pub fn open_with_timeout(
        path: &Path,
        busy_timeout: Duration,
    ) -> Result<SqliteStore, StoreError> {
        let shown = shown_path(path);
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|error| StoreError::Open {
                path: shown.clone(),
                message: format!("cannot create `{}`: {error}", shown_path(parent)),
            })?;
        }
        let mut connection = connect(path, &shown, busy_timeout)?;
        migrate(&mut connection, &shown)?;
        let (sender, receiver) = mpsc::channel();
        let writer = Writer {
            connection,
            path: shown.clone(),
            known_texts: HashSet::new(),
            failure: None,
        };
        let handle = std::thread::Builder::new()
            .name("dspex-store-writer".to_owned())
            .spawn(move || writer.run(&receiver))
            .map_err(|error| StoreError::Open {
                path: shown.clone(),
                message: format!("cannot start the writer thread: {error}"),
            })?;
        Ok(SqliteStore {
            path: shown,
            database: path.to_path_buf(),
            busy_timeout,
            sender: Some(sender),
            writer: Some(handle),
            readers: Mutex::new(Vec::new()),
        })
    }

    fn send(&self, command: Command) -> Result<(), StoreError> {
        match &self.sender {
            Some(sender) => sender.send(command).map_err(|_| StoreError::WriterGone),
            None => Err(StoreError::WriterGone),
        }
    }

    /// Runs `read` on a pooled read connection.
    fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let pooled = self
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let connection = match pooled {
            Some(connection) => connection,
            None => {
                let connection = connect(&self.database, &self.path, self.busy_timeout)?;
                connection
                    .pragma_update(None, "query_only", true)
                    .map_err(|error| classify(&self.path, error))?;
                connection
            }
        };
        let result = read(&connection).map_err(|error| classify(&self.path, error));
        let mut idle = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(connection);
        }
        result
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Closing the channel lets the writer commit what is queued and stop.
        self.sender = None;
        if let Some(writer) = self.writer.take() {
            // A writer that panicked has nothing left to commit.
            let _ = writer.join();
        }
    }
}

impl Store for SqliteStore {
    fn record(&self, execution: Execution) -> BoxFuture<'static, Result<i64, StoreError>> {
        let (sender, receiver) = oneshot::channel();
        let queued = self.send(Command::Record(
            Box::new(PreparedExecution::new(execution)),
            sender,
        ));
        Box::pin(async move {
            queued?;
            receiver.await.map_err(|_| StoreError::WriterGone)?
        })
    }

    fn cache_get(&self, key: &str) -> Result<Option<Completion>, StoreError> {
        let text: Option<String> = self.read(|connection| {
            connection
                .prepare_cached("SELECT completion FROM cache WHERE key = ?1")?
                .query_row([key], |row| row.get(0))
                .optional()
        })?;
        text.map(|text| {
            serde_json::from_str(&text)
                .map_err(|error| StoreError::Malformed(format!("cache entry `{key}`: {error}")))
        })
        .transpose()
    }

    fn cache_put(&self, key: &str, completion: &Completion) -> Result<(), StoreError> {
        let completion = serde_json::to_string(completion)
            .map_err(|error| StoreError::Malformed(format!("cache entry `{key}`: {error}")))?;
        self.send(Command::CachePut {
            key: key.to_owned(),
            completion,
            created_at: now_ms(),
        })
    }

    fn flush(&self) -> Result<(), StoreError> {
        let (sender, receiver) = mpsc::sync_channel(1);
        self.send(Command::Flush(sender))?;
        receiver.recv().map_err(|_| StoreError::WriterGone)?
    }

    fn list(&self, filter: &Filter) -> Result<Vec<Summary>, StoreError> {
        let (sql, parameters) = select_filtered(
            "id, started_at, program, model, status, latency_ms, input_tokens, output_tokens, \
             cost, cache_hit, error",
            filter,
        );
        let rows = self.read(|connection| {
            let mut statement = connection.prepare_cached(&sql)?;
            let rows = statement.query_map(rusqlite::params_from_iter(parameters), |row| {
                Ok((
                    Summary {
                        id: row.get(0)?,
                        started_at: row.get(1)?,
                        program: row.get(2)?,
                        model: row.get(3)?,
                        status: Status::Success,
                        latency_ms: row.get(5)?,
                        usage: usage(row.get(6)?, row.get(7)?),
                        cost: row.get(8)?,
                        cache_hit: row.get(9)?,
                        error: row.get(10)?,
                    },
                    row.get::<_, String>(4)?,
                ))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        rows.into_iter()
            .map(|(mut summary, status)| {
                summary.status = parse_status(summary.id, &status)?;
                Ok(summary)
            })
            .collect()
    }

    fn get(&self, id: i64) -> Result<Option<Execution>, StoreError> {
        let found = self.read(|connection| {
            // One read transaction, so the execution, its calls and texts are one snapshot.
            let transaction = connection.unchecked_transaction()?;
            let Some(row) = read_execution(&transaction, id)? else {
                return Ok(None);
            };
            let calls = read_calls(&transaction, id)?;
            let mut texts = Vec::new();
            for call in &calls {
                for message in &call.messages {
                    if let Some(hash) = &message.text {
                        let body: Option<String> = transaction
                            .prepare_cached("SELECT body FROM texts WHERE hash = ?1")?
                            .query_row([decode_hex(hash).unwrap_or_default()], |row| row.get(0))
                            .optional()?;
                        texts.push((hash.clone(), body));
                    }
                }
            }
            Ok(Some((row, calls, texts)))
        })?;
        let Some((row, calls, texts)) = found else {
            return Ok(None);
        };
        row.into_execution(id, calls, &texts).map(Some)
    }

    fn stats(&self, filter: &Filter) -> Result<Vec<Stats>, StoreError> {
        let (inner, parameters) = select_filtered(
            "program, model, status, latency_ms, input_tokens, output_tokens, cost",
            filter,
        );
        let sql = format!("SELECT * FROM ({inner}) ORDER BY program, model");
        let groups = self.read(|connection| {
            let mut statement = connection.prepare_cached(&sql)?;
            let mut rows = statement.query(rusqlite::params_from_iter(parameters))?;
            let mut groups: Vec<Group> = Vec::new();
            while let Some(row) = rows.next()? {
                let program = row.get_ref(0)?.as_str()?;
                let model = row.get_ref(1)?.as_str()?;
                let same = groups
                    .last()
                    .is_some_and(|group| group.program == program && group.model == model);
                if !same {
                    groups.push(Group::new(program, model));
                }
                if let Some(group) = groups.last_mut() {
                    group.add(
                        row.get_ref(2)?.as_str()? == Status::Failed.as_str(),
                        row.get(3)?,
                        usage(row.get(4)?, row.get(5)?),
                        row.get(6)?,
                    );
                }
            }
            Ok(groups)
        })?;
        Ok(groups.into_iter().map(Group::finish).collect())
    }
}

/// Opens one connection with the store's settings. Classifies every failure for the user.
fn connect(path: &Path, shown: &str, busy_timeout: Duration) -> Result<Connection, StoreError> {
    let classify = |error| classify(shown, error);
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags).map_err(classify)?;
    connection.busy_timeout(busy_timeout).map_err(classify)?;
    // The first statement reads the header: this is where a file that is not a database fails.
    connection
        .pragma_update_and_check(None, "journal_mode", "wal", |row| row.get::<_, String>(0))
        .map_err(classify)?;
    connection
        .pragma_update(None, "synchronous", "NORMAL")
        .map_err(classify)?;
    connection.set_prepared_statement_cache_capacity(32);
    Ok(connection)
}

/// Applies the migrations the database has not seen, all in one transaction.
fn migrate(connection: &mut Connection, shown: &str) -> Result<(), StoreError> {
    let classify = |error| classify(shown, error);
    // Immediate: two processes opening a new store at once migrate one after the other, and the
    // second sees the version the first wrote.
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(classify)?;
    let found: i64 = transaction
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(classify)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: shown.to_owned(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    let applied = usize::try_from(found).unwrap_or(0);
    if applied == MIGRATIONS.len() {
        return Ok(());
    }
    if found == 0 {
        // A version 0 file with tables in it is someone else's database.
        let tables: i64 = transaction
            .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
            .map_err(classify)?;
        if tables > 0 {
            return Err(StoreError::Open {
                path: shown.to_owned(),
                message: "it is an SQLite database, but not one dspex wrote".to_owned(),
            });
        }
    }
    for migration in &MIGRATIONS[applied..] {
        transaction.execute_batch(migration).map_err(classify)?;
    }
    transaction
        .pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(classify)?;
    transaction.commit().map_err(classify)
}

/// Turns an SQLite failure into the error a user can act on.
fn classify(path: &str, error: rusqlite::Error) -> StoreError {
    let path = path.to_owned();
    match error.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => StoreError::NotADatabase { path },
        Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
            path,
            message: error.to_string(),
        },
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Locked { path },
        Some(
            ErrorCode::CannotOpen
            | ErrorCode::PermissionDenied
            | ErrorCode::ReadOnly
            | ErrorCode::DiskFull
            | ErrorCode::SystemIoFailure,
        ) => StoreError::Open {
            path,
            message: error.to_string(),
        },
        _ => StoreError::Database(error.to_string()),
    }
}

/// What the writer thread is asked to do.
enum Command {
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

/// An execution turned into column values on the caller's thread, so the writer thread only
/// binds and steps statements.
struct PreparedExecution {
    /// The scalar fields; `calls` and `repairs` are moved out.
    execution: Execution,
    inputs: String,
    outputs: Option<String>,
    repairs: String,
    calls: Vec<PreparedCall>,
    /// Long message contents, by SHA-256.
    texts: Vec<([u8; 32], String)>,
}

struct PreparedCall {
    call: CallRecord,
    /// JSON of [`StoredMessage`]s.
    messages: String,
}

/// A message as `calls.messages` holds it: the content itself, or the hash of a `texts` row.
#[derive(Serialize, Deserialize)]
struct StoredMessage<'a> {
    role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    content: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
}

impl PreparedExecution {
    fn new(mut execution: Execution) -> PreparedExecution {
        let mut texts = Vec::new();
        let calls = std::mem::take(&mut execution.calls)
            .into_iter()
            .map(|mut call| {
                let messages = std::mem::take(&mut call.messages);
                let mut stored = Vec::with_capacity(messages.len());
                for message in messages {
                    if message.content.len() >= INLINE_LIMIT {
                        let hash: [u8; 32] = Sha256::digest(message.content.as_bytes()).into();
                        stored.push(StoredMessage {
                            role: message.role,
                            content: None,
                            text: Some(encode_hex(&hash)),
                        });
                        texts.push((hash, message.content));
                    } else {
                        stored.push(StoredMessage {
                            role: message.role,
                            content: Some(message.content.into()),
                            text: None,
                        });
                    }
                }
                PreparedCall {
                    call,
                    messages: to_json(&stored),
                }
            })
            .collect();
        let repairs = to_json(&std::mem::take(&mut execution.repairs));
        PreparedExecution {
            inputs: to_json(&execution.inputs),
            outputs: execution.outputs.take().as_ref().map(to_json),
            repairs,
            calls,
            texts,
            execution,
        }
    }
}

/// JSON text of a value whose serialization cannot fail (plain data, string keys).
fn to_json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

/// The writer thread's state.
struct Writer {
    connection: Connection,
    path: String,
    known_texts: HashSet<[u8; 32]>,
    /// The first failure since the last flush, reported to it.
    failure: Option<StoreError>,
}

impl Writer {
    fn run(mut self, receiver: &mpsc::Receiver<Command>) {
        let mut batch = Vec::new();
        while let Ok(first) = receiver.recv() {
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(command) => batch.push(command),
                    Err(_) => break,
                }
            }
            let result = self.write(&batch);
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
                            (Ok(_), Some(id)) => Ok(*id),
                            (Err(error), _) => Err(error.clone()),
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
        let path = self.path.clone();
        let classify = |error| classify(&path, error);
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
            let mut insert_call = transaction.prepare_cached(INSERT_CALL).map_err(classify)?;
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
                                prepared.repairs,
                                execution.batch,
                            ])
                            .map_err(classify)?;
                        for (position, prepared_call) in prepared.calls.iter().enumerate() {
                            let call = &prepared_call.call;
                            insert_call
                                .execute(params![
                                    id,
                                    position as i64,
                                    call.adapter,
                                    prepared_call.messages,
                                    call.raw,
                                    tokens(call.usage.input_tokens),
                                    tokens(call.usage.output_tokens),
                                    call.latency_ms,
                                    call.cache_hit,
                                    call.constrained,
                                    call.error,
                                ])
                                .map_err(classify)?;
                        }
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

/// The `executions` row of `get`, with JSON columns still text.
struct ExecutionRow {
    started_at: i64,
    finished_at: i64,
    file: String,
    program: String,
    signature: String,
    module: String,
    source_hash: String,
    model: String,
    provider_model: String,
    inputs: String,
    outputs: Option<String>,
    status: String,
    error: Option<String>,
    latency_ms: f64,
    usage: Usage,
    cost: Option<f64>,
    cache_hit: bool,
    repairs: String,
    batch: Option<String>,
}

/// A `calls` row with its messages decoded but long contents not yet looked up.
struct CallRow {
    call: CallRecord,
    messages: Vec<StoredMessage<'static>>,
}

fn read_execution(connection: &Connection, id: i64) -> rusqlite::Result<Option<ExecutionRow>> {
    connection
        .prepare_cached(
            "SELECT started_at, finished_at, file, program, signature, module, source_hash, \
             model, provider_model, inputs, outputs, status, error, latency_ms, input_tokens, \
             output_tokens, cost, cache_hit, repairs, batch FROM executions WHERE id = ?1",
        )?
        .query_row([id], |row| {
            Ok(ExecutionRow {
                started_at: row.get(0)?,
                finished_at: row.get(1)?,
                file: row.get(2)?,
                program: row.get(3)?,
                signature: row.get(4)?,
                module: row.get(5)?,
                source_hash: row.get(6)?,
                model: row.get(7)?,
                provider_model: row.get(8)?,
                inputs: row.get(9)?,
                outputs: row.get(10)?,
                status: row.get(11)?,
                error: row.get(12)?,
                latency_ms: row.get(13)?,
                usage: usage(row.get(14)?, row.get(15)?),
                cost: row.get(16)?,
                cache_hit: row.get(17)?,
                repairs: row.get(18)?,
                batch: row.get(19)?,
            })
        })
        .optional()
}

fn read_calls(connection: &Connection, id: i64) -> rusqlite::Result<Vec<CallRow>> {
    let mut statement = connection.prepare_cached(
        "SELECT adapter, messages, raw, input_tokens, output_tokens, latency_ms, cache_hit, \
         constrained, error FROM calls WHERE execution_id = ?1 ORDER BY position",
    )?;
    let rows = statement.query_map([id], |row| {
        let messages: String = row.get(1)?;
        let messages: Vec<StoredMessage<'static>> =
            serde_json::from_str::<Vec<StoredMessage<'_>>>(&messages)
                .map(|messages| {
                    messages
                        .into_iter()
                        .map(StoredMessage::into_owned)
                        .collect()
                })
                .map_err(|error| {
                    rusqlite::Error::FromSqlConversionFailure(
                        1,
                        rusqlite::types::Type::Text,
                        Box::new(error),
                    )
                })?;
        Ok(CallRow {
            call: CallRecord {
                adapter: row.get(0)?,
                messages: Vec::new(),
                raw: row.get(2)?,
                usage: usage(row.get(3)?, row.get(4)?),
                latency_ms: row.get(5)?,
                cache_hit: row.get(6)?,
                constrained: row.get(7)?,
                error: row.get(8)?,
            },
            messages,
        })
    })?;
    rows.collect()
}

impl StoredMessage<'_> {
    fn into_owned(self) -> StoredMessage<'static> {
        StoredMessage {
            role: self.role,
            content: self.content.map(|content| content.into_owned().into()),
            text: self.text,
        }
    }
}

impl ExecutionRow {
    fn into_execution(
        self,
        id: i64,
        calls: Vec<CallRow>,
        texts: &[(String, Option<String>)],
    ) -> Result<Execution, StoreError> {
        let malformed = |what: &str, error: serde_json::Error| {
            StoreError::Malformed(format!("execution {id}: {what}: {error}"))
        };
        let calls = calls
            .into_iter()
            .map(|row| {
                let mut call = row.call;
                call.messages = row
                    .messages
                    .into_iter()
                    .map(|message| {
                        let content = match (message.content, message.text) {
                            (Some(content), _) => content.into_owned(),
                            (None, Some(hash)) => texts
                                .iter()
                                .find(|(known, _)| *known == hash)
                                .and_then(|(_, body)| body.clone())
                                .ok_or_else(|| {
                                    StoreError::Malformed(format!(
                                        "execution {id}: message text `{hash}` is missing"
                                    ))
                                })?,
                            (None, None) => String::new(),
                        };
                        Ok(Message {
                            role: message.role,
                            content,
                        })
                    })
                    .collect::<Result<_, StoreError>>()?;
                Ok(call)
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Execution {
            id,
            started_at: self.started_at,
            finished_at: self.finished_at,
            file: self.file,
            program: self.program,
            signature: self.signature,
            module: self.module,
            source_hash: self.source_hash,
            model: self.model,
            provider_model: self.provider_model,
            inputs: serde_json::from_str(&self.inputs)
                .map_err(|error| malformed("inputs", error))?,
            outputs: self
                .outputs
                .map(|outputs| serde_json::from_str(&outputs))
                .transpose()
                .map_err(|error| malformed("outputs", error))?,
            status: parse_status(id, &self.status)?,
            error: self.error,
            latency_ms: self.latency_ms,
            usage: self.usage,
            cost: self.cost,
            cache_hit: self.cache_hit,
            calls,
            repairs: serde_json::from_str::<Vec<RepairRecord>>(&self.repairs)
                .map_err(|error| malformed("repairs", error))?,
            batch: self.batch,
        })
    }
}

/// Running aggregates of one (program, model) for `stats`.
struct Group {
    program: String,
    model: String,
    failed: u64,
    latencies: Vec<f64>,
    usage: Usage,
    cost: Option<f64>,
}

impl Group {
    fn new(program: &str, model: &str) -> Group {
        Group {
            program: program.to_owned(),
            model: model.to_owned(),
            failed: 0,
            latencies: Vec::new(),
            usage: Usage::default(),
            cost: None,
        }
    }

    fn add(&mut self, failed: bool, latency_ms: f64, usage: Usage, cost: Option<f64>) {
        self.failed += u64::from(failed);
        self.latencies.push(latency_ms);
        self.usage += usage;
        if let Some(cost) = cost {
            *self.cost.get_or_insert(0.0) += cost;
        }
    }

    fn finish(mut self) -> Stats {
        self.latencies.sort_by(f64::total_cmp);
        Stats {
            count: self.latencies.len() as u64,
            failed: self.failed,
            p50_ms: nearest_rank(&self.latencies, 50),
            p95_ms: nearest_rank(&self.latencies, 95),
            p99_ms: nearest_rank(&self.latencies, 99),
            usage: self.usage,
            cost: self.cost,
            program: self.program,
            model: self.model,
        }
    }
}

/// The `percent`th percentile of `sorted` by the nearest-rank method: the value at 1-based rank
/// `ceil(percent / 100 * n)`. 0 for no values.
pub(crate) fn nearest_rank(sorted: &[f64], percent: usize) -> f64 {
    let rank = (percent * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied().unwrap_or(0.0)
}

/// `SELECT columns FROM executions` narrowed by `filter`, newest first, with its parameters.
/// Built per filter rather than with `(?1 IS NULL OR ...)` so SQLite can use the indexes.
fn select_filtered(columns: &str, filter: &Filter) -> (String, Vec<SqlValue>) {
    let mut conditions = Vec::new();
    let mut parameters = Vec::new();
    if let Some(program) = &filter.program {
        parameters.push(SqlValue::Text(program.clone()));
        conditions.push(format!("program = ?{}", parameters.len()));
    }
    if let Some(status) = filter.status {
        parameters.push(SqlValue::Text(status.as_str().to_owned()));
        conditions.push(format!("status = ?{}", parameters.len()));
    }
    let mut sql = format!("SELECT {columns} FROM executions");
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    sql.push_str(" ORDER BY started_at DESC, id DESC");
    if let Some(last) = filter.last {
        parameters.push(SqlValue::Integer(i64::try_from(last).unwrap_or(i64::MAX)));
        sql.push_str(&format!(" LIMIT ?{}", parameters.len()));
    }
    (sql, parameters)
}

fn parse_status(id: i64, name: &str) -> Result<Status, StoreError> {
    Status::parse(name)
        .ok_or_else(|| StoreError::Malformed(format!("execution {id}: unknown status `{name}`")))
}

fn usage(input_tokens: i64, output_tokens: i64) -> Usage {
    Usage {
        input_tokens: u64::try_from(input_tokens).unwrap_or(0),
        output_tokens: u64::try_from(output_tokens).unwrap_or(0),
    }
}

/// A token count as SQLite stores it (a signed 64-bit integer).
fn tokens(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

/// A path as messages show it, with `/` separators.
fn shown_path(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    text
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|start| u8::from_str_radix(text.get(start..start + 2)?, 16).ok())
        .collect()
}
