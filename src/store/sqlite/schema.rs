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
    // 2: only failed executions are indexed by status. Nearly every row is a success, and
    // keeping (status, started_at) up to date was a tenth of the cost of recording one;
    // `--status success` reads through `executions_started_at` instead.
    "
    DROP INDEX executions_status;
    CREATE INDEX executions_failed ON executions (started_at) WHERE status = 'failed';
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan SQLite picks for `sql`, as one line.
    fn plan(connection: &Connection, sql: &str) -> String {
        let mut statement = connection
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("explain");
        let details: Vec<String> = statement
            .query_map([], |row| row.get::<_, String>(3))
            .expect("plan")
            .collect::<Result<_, _>>()
            .expect("rows");
        details.join("; ")
    }

    #[test]
    fn a_version_1_store_is_migrated_and_keeps_its_rows() {
        let mut connection = Connection::open_in_memory().expect("open");
        connection.execute_batch(MIGRATIONS[0]).expect("version 1");
        connection
            .pragma_update(None, "user_version", 1)
            .expect("user_version");
        for (started_at, status) in [(1, "success"), (2, "failed"), (3, "success")] {
            connection
                .execute(
                    "INSERT INTO executions (started_at, finished_at, file, program, signature, \
                     module, source_hash, model, provider_model, inputs, status, latency_ms, \
                     input_tokens, output_tokens, cache_hit, calls, repairs) \
                     VALUES (?1, ?1, 'f', 'p', 's', 'predict', 'h', 'm', 'openai/m', '{}', ?2, \
                     1.0, 0, 0, 0, '[]', '[]')",
                    rusqlite::params![started_at, status],
                )
                .expect("insert");
        }
        migrate(&mut connection, "test.db").expect("migrate");
        let version: i64 = connection
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .expect("version");
        assert_eq!(version, SCHEMA_VERSION);
        let failed = "SELECT id FROM executions WHERE status = 'failed' ORDER BY started_at DESC";
        assert!(
            plan(&connection, failed).contains("executions_failed"),
            "{}",
            plan(&connection, failed)
        );
        let ids: Vec<i64> = connection
            .prepare(failed)
            .expect("prepare")
            .query_map([], |row| row.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(ids, [2]);
        let count: i64 = connection
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name = 'executions_status'",
                [],
                |row| row.get(0),
            )
            .expect("count");
        assert_eq!(count, 0);
    }
}
