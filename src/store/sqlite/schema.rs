//! The store's tables and the migrations that create them, versioned with `PRAGMA user_version`.

use rusqlite::{Connection, TransactionBehavior};

use super::classify;
use crate::store::StoreError;

/// The schema, one step per release that changed it. `PRAGMA user_version` is how many steps
/// have been applied; a change appends a step and never edits a released one.
const MIGRATIONS: &[&str] = &[
    // 1: executions with their calls, deduplicated message texts, the response cache.
    "
    CREATE TABLE executions (
        id             INTEGER PRIMARY KEY,
        started_at     INTEGER NOT NULL, -- unix milliseconds
        finished_at    INTEGER NOT NULL,
        file           TEXT    NOT NULL,
        program        TEXT    NOT NULL,
        signature      TEXT    NOT NULL,
        module         TEXT    NOT NULL,
        source_hash    TEXT    NOT NULL, -- SHA-256 (hex) of the .sig file
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
        -- JSON array of {adapter, messages, raw, usage, latency_ms, cache_hit, constrained,
        -- error}; each message is {role, content} or, for a long content, {role, text} where
        -- text is the hex SHA-256 of a `texts` row.
        calls          TEXT    NOT NULL,
        repairs        TEXT    NOT NULL, -- JSON array of {path, description}
        batch          TEXT
    );
    CREATE INDEX executions_started_at ON executions (started_at);
    CREATE INDEX executions_program ON executions (program, started_at);
    CREATE INDEX executions_status ON executions (status, started_at);

    CREATE TABLE texts (
        hash BLOB PRIMARY KEY, -- SHA-256 of body
        body TEXT NOT NULL
    );

    CREATE TABLE cache (
        key        TEXT    PRIMARY KEY, -- the request hash the runtime computes
        completion TEXT    NOT NULL,    -- JSON of the completion
        created_at INTEGER NOT NULL     -- unix milliseconds
    );
    ",
];

/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Applies the migrations the database has not seen, all in one transaction.
pub(super) fn migrate(connection: &mut Connection, shown: &str) -> Result<(), StoreError> {
    let classify = |error| classify(shown, error);
    // Usually up to date: check without taking the write lock another process may hold.
    let found: i64 = connection
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(classify)?;
    if found == SCHEMA_VERSION {
        return Ok(());
    }
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
        // Version 0 with tables in it is someone else's database: leave it alone.
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
