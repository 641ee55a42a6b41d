//! Connections for cache lookups, each reading one snapshot of the database for a while.
//!
//! A read transaction sees the database as it was when it began. Beginning a new one after the
//! writer has committed makes SQLite drop the connection's page cache, and in a batch the writer
//! commits every 10 ms: each lookup read the cache's key index from the file again. A lookup
//! connection here keeps its read transaction open for up to [`SNAPSHOT_AGE`] instead, and
//! renews it at once when this store's writer commits cache entries (so what this process cached
//! is seen as soon as it is committed). An open read transaction also keeps SQLite from
//! checkpointing past its snapshot, so the writer ends those of idle connections once they are
//! [`SNAPSHOT_AGE`] old ([`Snapshots::end_stale`]), and the write-ahead log cannot grow behind
//! a connection nobody uses.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::store::StoreError;

/// How long a lookup connection may read one snapshot: an entry another process cached can go
/// unseen (and be asked of the LM again) for at most this long.
pub(super) const SNAPSHOT_AGE: Duration = Duration::from_millis(100);

/// Idle lookup connections kept for reuse; more are opened under load and closed after.
const MAX_IDLE: usize = 4;

/// The lookup connections, shared by the store and its writer.
#[derive(Default)]
pub(super) struct Snapshots {
    idle: Mutex<Vec<Snapshot>>,
    /// How many times the writer has committed cache entries.
    cache_commits: AtomicU64,
}

/// A read connection and the read transaction it holds open, if any.
struct Snapshot {
    connection: Connection,
    /// When the read transaction began; `None` outside one.
    since: Option<Instant>,
    /// [`Snapshots::cache_commits`] when it began.
    cache_commits: u64,
}

impl Snapshots {
    /// Runs `read` on an idle connection (or one from `open`) inside a read transaction begun at
    /// most [`SNAPSHOT_AGE`] ago and after this store's last commit of cache entries. A
    /// connection that fails is closed, which ends its transaction.
    pub(super) fn read<T>(
        &self,
        open: impl FnOnce() -> Result<Connection, StoreError>,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
        classify: impl FnOnce(rusqlite::Error) -> StoreError,
    ) -> Result<T, StoreError> {
        let pooled = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut snapshot = match pooled {
            Some(snapshot) => snapshot,
            None => Snapshot {
                connection: open()?,
                since: None,
                cache_commits: 0,
            },
        };
        let cache_commits = self.cache_commits.load(Ordering::Acquire);
        let value = snapshot
            .renew(cache_commits)
            .and_then(|()| read(&snapshot.connection))
            .map_err(classify)?;
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            idle.push(snapshot);
        }
        Ok(value)
    }

    /// Called by the writer after it committed cache entries, before it answers anyone: later
    /// lookups begin a new snapshot.
    pub(super) fn cache_committed(&self) {
        self.cache_commits.fetch_add(1, Ordering::Release);
    }

    /// Called by the writer before each commit: ends the read transactions of idle connections
    /// begun [`SNAPSHOT_AGE`] ago or more. Skipped when a lookup holds the list.
    pub(super) fn end_stale(&self) {
        let Ok(mut idle) = self.idle.try_lock() else {
            return;
        };
        // A connection whose transaction cannot be ended is closed.
        idle.retain_mut(|snapshot| {
            let stale = snapshot
                .since
                .is_some_and(|since| since.elapsed() >= SNAPSHOT_AGE);
            !stale || snapshot.end().is_ok()
        });
    }
}

impl Snapshot {
    /// Begins a new read transaction unless the open one is fresh: younger than
    /// [`SNAPSHOT_AGE`] and begun after the writer's latest commit of cache entries
    /// (`cache_commits`). The snapshot itself is taken by the first read after `BEGIN`.
    fn renew(&mut self, cache_commits: u64) -> rusqlite::Result<()> {
        let fresh = self.cache_commits == cache_commits
            && self
                .since
                .is_some_and(|since| since.elapsed() < SNAPSHOT_AGE);
        if fresh {
            return Ok(());
        }
        self.end()?;
        self.connection.execute_batch("BEGIN")?;
        self.since = Some(Instant::now());
        self.cache_commits = cache_commits;
        Ok(())
    }

    fn end(&mut self) -> rusqlite::Result<()> {
        if self.since.take().is_some() {
            self.connection.execute_batch("COMMIT")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(path: &std::path::Path) -> Result<Connection, StoreError> {
        let shown = path.display().to_string();
        let connection =
            Connection::open(path).map_err(|error| super::super::classify(&shown, error))?;
        connection
            .pragma_update(None, "journal_mode", "wal")
            .map_err(|error| super::super::classify(&shown, error))?;
        Ok(connection)
    }

    fn read(snapshots: &Snapshots, path: &std::path::Path) -> i64 {
        snapshots
            .read(
                || open(path),
                count,
                |error| super::super::classify("s.db", error),
            )
            .expect("read")
    }

    fn count(connection: &Connection) -> rusqlite::Result<i64> {
        connection.query_row("SELECT count(*) FROM t", [], |row| row.get(0))
    }

    #[test]
    fn a_snapshot_is_kept_until_cache_entries_are_committed_or_it_is_old() {
        let directory = tempfile::tempdir().expect("tempdir");
        let path = directory.path().join("s.db");
        let writer = open(&path).expect("open");
        writer.execute_batch("CREATE TABLE t (x)").expect("create");
        let snapshots = Snapshots::default();
        let read = |snapshots: &Snapshots| read(snapshots, &path);
        assert_eq!(read(&snapshots), 0);
        writer
            .execute("INSERT INTO t VALUES (1)", [])
            .expect("insert");
        // The same snapshot: the row is not seen yet.
        assert_eq!(read(&snapshots), 0);
        snapshots.cache_committed();
        assert_eq!(read(&snapshots), 1);
        writer
            .execute("INSERT INTO t VALUES (2)", [])
            .expect("insert");
        assert_eq!(read(&snapshots), 1);
        std::thread::sleep(SNAPSHOT_AGE);
        assert_eq!(read(&snapshots), 2);
    }

    #[test]
    fn idle_snapshots_are_ended_once_old_so_checkpoints_can_reset_the_log() {
        let directory = tempfile::tempdir().expect("tempdir");
        let path = directory.path().join("s.db");
        let writer = open(&path).expect("open");
        writer.execute_batch("CREATE TABLE t (x)").expect("create");
        let snapshots = Snapshots::default();
        read(&snapshots, &path);
        writer
            .execute("INSERT INTO t VALUES (1)", [])
            .expect("insert");
        // While the idle connection holds its snapshot, a checkpoint cannot copy the new frame.
        let busy = |writer: &Connection| -> (i64, i64, i64) {
            writer
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })
                .expect("checkpoint")
        };
        let (_, logged, copied) = busy(&writer);
        assert!(copied < logged, "{copied} of {logged} frames copied");
        snapshots.end_stale();
        let (_, logged, copied) = busy(&writer);
        assert!(
            copied < logged,
            "a fresh snapshot is kept: {copied} of {logged}"
        );
        std::thread::sleep(SNAPSHOT_AGE);
        snapshots.end_stale();
        let (_, logged, copied) = busy(&writer);
        assert_eq!(copied, logged, "every frame copied once the snapshot ended");
    }
}
