//! The SQLite [`Store`]: one database file per project, in WAL mode.
//!
//! Writes go through one dedicated writer thread ([`writer`]): it takes everything queued,
//! writes it in one transaction, commits, and only then resolves each record's future with its
//! id. With `synchronous=NORMAL` a commit is in the WAL file before the future resolves, so it
//! survives the process being killed; only a power loss can undo the last commits. Cache
//! entries are the exception: while records stream in, they wait up to 250 ms for a commit of
//! their own (the writer's `CACHE_LINGER`). Reads use a small pool of their own connections,
//! which WAL lets run alongside the writer; cache lookups have their own, each reading one
//! snapshot for a while ([`snapshot`]).
//!
//! An execution is one row: its calls are a JSON column, and message contents of
//! [`INLINE_LIMIT`] bytes or more are stored once in `texts`, keyed by their SHA-256, so the
//! system prompt a batch repeats ten thousand times costs its bytes once.

mod rows;
mod schema;
mod snapshot;
mod stats;
mod writer;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension};

use super::{Execution, Filter, Stats, Status, Store, StoreError, Summary};
use crate::lm::{BoxFuture, Completion};
use rows::{parse_status, select_filtered, usage, SUMMARY_COLUMNS};
pub use schema::SCHEMA_VERSION;
use snapshot::Snapshots;
pub use writer::MAX_BATCH;
use writer::{CacheEntry, Command, PreparedExecution, Writer};

/// How long a statement waits for another process's lock before failing with
/// [`StoreError::Locked`].
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Message contents at least this long are stored once in `texts` and referenced by hash.
pub const INLINE_LIMIT: usize = 256;

/// The page size of a new database. Larger than SQLite's 4 KiB default: rows are about 1 KiB
/// and written in bulk, so fewer, larger pages mean fewer B-tree splits and WAL writes.
const PAGE_SIZE: i64 = 16_384;

/// The writer's page cache, in KiB: enough to hold the new pages of a full transaction
/// ([`MAX_BATCH`] rows of about 1 KiB, plus their index entries), so one rarely spills to the
/// WAL before it commits. Not more: pages beyond it are recycled instead of newly allocated,
/// which kept a 20,000-line batch's peak memory at 33 MB instead of 43 (32 MiB cache).
const WRITER_CACHE_KIB: i64 = 8_192;

/// Idle read connections kept for reuse; more are opened under load and closed after.
const MAX_IDLE_READERS: usize = 4;

/// The SQLite backend. Share it behind an `Arc`; dropping it waits for queued writes.
pub struct SqliteStore {
    /// The path as messages show it.
    shown: String,
    path: PathBuf,
    busy_timeout: Duration,
    sender: Option<mpsc::Sender<Command>>,
    writer: Option<JoinHandle<()>>,
    readers: Mutex<Vec<Connection>>,
    /// Connections for cache lookups ([`snapshot`]).
    snapshots: Arc<Snapshots>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SqliteStore")
            .field("path", &self.shown)
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
        schema::migrate(&mut connection, &shown)?;
        connection
            .pragma_update(None, "cache_size", -WRITER_CACHE_KIB)
            .map_err(|error| classify(&shown, error))?;
        let snapshots = Arc::new(Snapshots::default());
        let writer = Writer {
            connection,
            path: shown.clone(),
            known_texts: HashSet::new(),
            failure: None,
            snapshots: Arc::clone(&snapshots),
        };
        let (sender, receiver) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("dspex-store-writer".to_owned())
            .spawn(move || writer.run(&receiver))
            .map_err(|error| StoreError::Open {
                path: shown.clone(),
                message: format!("cannot start the writer thread: {error}"),
            })?;
        Ok(SqliteStore {
            shown,
            path: path.to_path_buf(),
            busy_timeout,
            sender: Some(sender),
            writer: Some(handle),
            readers: Mutex::new(Vec::new()),
            snapshots,
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
            None => self.read_connection()?,
        };
        let result = read(&connection).map_err(|error| classify(&self.shown, error));
        let mut idle = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(connection);
        }
        result
    }

    fn read_connection(&self) -> Result<Connection, StoreError> {
        let connection = connect(&self.path, &self.shown, self.busy_timeout)?;
        connection
            .pragma_update(None, "query_only", true)
            .map_err(|error| classify(&self.shown, error))?;
        Ok(connection)
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
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let prepared = Box::new(PreparedExecution::new(execution));
        let queued = self.send(Command::Record(prepared, sender));
        Box::pin(async move {
            queued?;
            receiver.await.map_err(|_| StoreError::WriterGone)?
        })
    }

    fn cache_get(&self, key: &str) -> Result<Option<Completion>, StoreError> {
        let text: Option<String> = self.snapshots.read(
            || self.read_connection(),
            |connection| {
                connection
                    .prepare_cached("SELECT completion FROM cache WHERE key = ?1")?
                    .query_row([key], |row| row.get(0))
                    .optional()
            },
            |error| classify(&self.shown, error),
        )?;
        text.map(|text| {
            serde_json::from_str(&text)
                .map_err(|error| StoreError::Malformed(format!("cache entry `{key}`: {error}")))
        })
        .transpose()
    }

    fn cache_put(&self, key: &str, completion: &Completion) -> Result<(), StoreError> {
        self.send(Command::CachePut(CacheEntry {
            key: key.to_owned(),
            completion: rows::to_json(completion),
            created_at: now_ms(),
        }))
    }

    fn flush(&self) -> Result<(), StoreError> {
        let (sender, receiver) = mpsc::sync_channel(1);
        self.send(Command::Flush(sender))?;
        receiver.recv().map_err(|_| StoreError::WriterGone)?
    }

    fn list(&self, filter: &Filter) -> Result<Vec<Summary>, StoreError> {
        let (sql, parameters) = select_filtered(SUMMARY_COLUMNS, filter);
        let rows = self.read(|connection| {
            let mut statement = connection.prepare_cached(&sql)?;
            let rows =
                statement.query_map(rusqlite::params_from_iter(parameters), rows::summary)?;
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
        match self.read(|connection| rows::read_execution(connection, id))? {
            Some((row, texts)) => row.into_execution(id, &texts).map(Some),
            None => Ok(None),
        }
    }

    fn stats(&self, filter: &Filter) -> Result<Vec<Stats>, StoreError> {
        let (inner, parameters) = select_filtered(
            "program, model, status, latency_ms, input_tokens, output_tokens, cost",
            filter,
        );
        // Grouped rows arrive together, so each group is aggregated in one pass.
        let sql = format!("SELECT * FROM ({inner}) ORDER BY program, model");
        let groups = self.read(|connection| {
            let mut statement = connection.prepare_cached(&sql)?;
            let mut rows = statement.query(rusqlite::params_from_iter(parameters))?;
            let mut groups: Vec<stats::Group> = Vec::new();
            while let Some(row) = rows.next()? {
                let program = row.get_ref(0)?.as_str()?;
                let model = row.get_ref(1)?.as_str()?;
                let same = groups
                    .last()
                    .is_some_and(|group| group.program == program && group.model == model);
                if !same {
                    groups.push(stats::Group::new(program, model));
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
        Ok(groups.into_iter().map(stats::Group::finish).collect())
    }
}

/// Opens one connection with the store's settings. Classifies every failure for the user.
fn connect(path: &Path, shown: &str, busy_timeout: Duration) -> Result<Connection, StoreError> {
    let classify = |error| classify(shown, error);
    // Not SQLITE_OPEN_URI: a path is a path, even one that starts with `file:`.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags).map_err(classify)?;
    connection.busy_timeout(busy_timeout).map_err(classify)?;
    // Only takes effect on a new, empty database (before WAL mode writes its header).
    connection
        .pragma_update(None, "page_size", PAGE_SIZE)
        .map_err(classify)?;
    // The first statement that reads the file: where one that is not a database fails.
    connection
        .pragma_update_and_check(None, "journal_mode", "wal", |row| row.get::<_, String>(0))
        .map_err(classify)?;
    connection
        .pragma_update(None, "synchronous", "NORMAL")
        .map_err(classify)?;
    Ok(connection)
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
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => StoreError::Open {
            path,
            message: error.to_string(),
        },
        _ => StoreError::Database(error.to_string()),
    }
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
