//! How records map to rows: the JSON shape of the `calls` column, reading an execution back
//! (with its long message texts), and the filtered `SELECT` that `list` and `stats` share.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use crate::lm::{Message, Role, Usage};
use crate::store::{CallRecord, Execution, Filter, RepairRecord, Status, StoreError, Summary};

/// One element of the `calls` column.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct StoredCall {
    pub adapter: String,
    pub messages: Vec<StoredMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    pub usage: Usage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    pub latency_ms: f64,
    pub cache_hit: bool,
    pub constrained: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A message as the `calls` column holds it: the content itself, or the hex SHA-256 of the
/// `texts` row that holds it.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct StoredMessage {
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// The columns of `executions` a [`Summary`] is read from, in [`summary`]'s order.
pub(super) const SUMMARY_COLUMNS: &str = "id, started_at, program, model, status, latency_ms, \
    input_tokens, output_tokens, cost, cache_hit, error";

/// A [`Summary`] from a row of [`SUMMARY_COLUMNS`]; the status comes back as text to check.
pub(super) fn summary(row: &Row<'_>) -> rusqlite::Result<(Summary, String)> {
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
        row.get(4)?,
    ))
}

/// The `executions` row of `get`, with its JSON columns still text.
pub(super) struct ExecutionRow {
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
    calls: String,
    repairs: String,
    batch: Option<String>,
}

/// The long message texts of one execution: (hex hash, body).
pub(super) type Texts = Vec<(String, String)>;

/// Reads execution `id` and the bodies of its long message texts, as one snapshot.
pub(super) fn read_execution(
    connection: &Connection,
    id: i64,
) -> rusqlite::Result<Option<(ExecutionRow, Texts)>> {
    let transaction = connection.unchecked_transaction()?;
    let row = transaction
        .prepare_cached(
            "SELECT started_at, finished_at, file, program, signature, module, source_hash, \
             model, provider_model, inputs, outputs, status, error, latency_ms, input_tokens, \
             output_tokens, cost, cache_hit, calls, repairs, batch FROM executions WHERE id = ?1",
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
                calls: row.get(18)?,
                repairs: row.get(19)?,
                batch: row.get(20)?,
            })
        })
        .optional()?;
    let Some(row) = row else {
        return Ok(None);
    };
    // The hashes are found again when decoding; a malformed `calls` fails there.
    let hashes: Vec<String> = serde_json::from_str::<Vec<StoredCall>>(&row.calls)
        .map(|calls| {
            calls
                .into_iter()
                .flat_map(|call| call.messages)
                .filter_map(|message| message.text)
                .collect()
        })
        .unwrap_or_default();
    let mut texts = Vec::new();
    let mut select = transaction.prepare_cached("SELECT body FROM texts WHERE hash = ?1")?;
    for hash in hashes {
        let Some(key) = decode_hex(&hash) else {
            continue;
        };
        if let Some(body) = select
            .query_row([key], |row| row.get::<_, String>(0))
            .optional()?
        {
            texts.push((hash, body));
        }
    }
    Ok(Some((row, texts)))
}

impl ExecutionRow {
    /// The record, with each long message's text put back from `texts` (hash, body).
    pub(super) fn into_execution(
        self,
        id: i64,
        texts: &[(String, String)],
    ) -> Result<Execution, StoreError> {
        let malformed = |what: &str, error: serde_json::Error| {
            StoreError::Malformed(format!("execution {id}: {what}: {error}"))
        };
        let stored: Vec<StoredCall> =
            serde_json::from_str(&self.calls).map_err(|error| malformed("calls", error))?;
        let calls = stored
            .into_iter()
            .map(|call| {
                let messages = call
                    .messages
                    .into_iter()
                    .map(|message| {
                        let content = match (message.content, message.text) {
                            (Some(content), _) => content,
                            (None, Some(hash)) => texts
                                .iter()
                                .find(|(known, _)| *known == hash)
                                .map(|(_, body)| body.clone())
                                .ok_or_else(|| {
                                    StoreError::Malformed(format!(
                                        "execution {id}: the text `{hash}` of a message is missing"
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
                Ok(CallRecord {
                    adapter: call.adapter,
                    messages,
                    raw: call.raw,
                    usage: call.usage,
                    cost: call.cost,
                    latency_ms: call.latency_ms,
                    cache_hit: call.cache_hit,
                    constrained: call.constrained,
                    error: call.error,
                })
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

/// `SELECT columns FROM executions` narrowed by `filter`, newest first, with its parameters.
/// Built per filter rather than with `(?1 IS NULL OR ...)` so SQLite can use the indexes.
pub(super) fn select_filtered(columns: &str, filter: &Filter) -> (String, Vec<SqlValue>) {
    let mut conditions = Vec::new();
    let mut parameters = Vec::new();
    if let Some(program) = &filter.program {
        parameters.push(SqlValue::Text(program.clone()));
        conditions.push(format!("program = ?{}", parameters.len()));
    }
    if let Some(status) = filter.status {
        // A literal, not a parameter: only `status = 'failed'` written out matches the partial
        // index `executions_failed`. `as_str` is one of two fixed words.
        conditions.push(format!("status = '{}'", status.as_str()));
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

/// The status stored as `name`.
pub(super) fn parse_status(id: i64, name: &str) -> Result<Status, StoreError> {
    Status::parse(name)
        .ok_or_else(|| StoreError::Malformed(format!("execution {id}: unknown status `{name}`")))
}

/// Token counts as read back (SQLite integers are signed).
pub(super) fn usage(input_tokens: i64, output_tokens: i64) -> Usage {
    Usage {
        input_tokens: u64::try_from(input_tokens).unwrap_or(0),
        output_tokens: u64::try_from(output_tokens).unwrap_or(0),
    }
}

/// JSON text of plain data (string keys, finite numbers), whose encoding cannot fail.
pub(super) fn to_json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
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
