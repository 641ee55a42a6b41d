//! `dspex runs`: the recorded executions, newest first, and `dspex runs show ID`: one execution
//! in full, with the prompt messages each LM call sent and the raw reply it got.
//!
//! The rendering functions are pure functions of a [`Store`], so they are tested without the
//! command line; [`runs`] only resolves the store and prints.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use crate::cli::{ExitStatus, Printer, RunsArgs, RunsCommand, StatusArg};
use crate::commands::CommandError;
use crate::config::{Config, Overrides};
use crate::lm::Role;
use crate::store::{self, Execution, Filter, Status, Store, StoreError, Summary};

/// Runs `dspex runs [--last N] [--program P] [--status S] [--json]` and `dspex runs show ID`.
pub fn runs(args: RunsArgs, printer: &Printer) -> Result<ExitStatus, CommandError> {
    let opened = open_existing(args.store.path.as_deref(), args.config.as_deref(), printer)?;
    let Some(store) = opened else {
        return match args.command {
            Some(RunsCommand::Show { id, .. }) => Err(no_such_execution(id)),
            None => {
                if args.json {
                    print(printer, "[]\n")?;
                }
                Ok(ExitStatus::Success)
            }
        };
    };
    match args.command {
        Some(RunsCommand::Show { id, json }) => {
            match render_run(store.as_ref(), id, json || args.json).map_err(store_error)? {
                Some(text) => print(printer, &text)?,
                None => return Err(no_such_execution(id)),
            }
        }
        None => {
            let filter = Filter {
                last: Some(args.last),
                program: args.program,
                status: args.status.map(|status| match status {
                    StatusArg::Success => Status::Success,
                    StatusArg::Failed => Status::Failed,
                }),
            };
            let text = render_runs(store.as_ref(), &filter, args.json).map_err(store_error)?;
            if text.is_empty() {
                printer.message("no executions match\n");
            }
            print(printer, &text)?;
        }
    }
    Ok(ExitStatus::Success)
}

fn no_such_execution(id: i64) -> CommandError {
    CommandError::usage(
        format!("no execution has id {id}"),
        "`dspex runs` lists the recorded executions and their ids",
    )
}

/// The store the configuration names, or `None` (with a note on stderr) when nothing has been
/// recorded there yet: reading must not create an empty store.
pub(crate) fn open_existing(
    flag: Option<&Path>,
    config: Option<&Path>,
    printer: &Printer,
) -> Result<Option<Arc<dyn Store>>, CommandError> {
    let cwd = std::env::current_dir().map_err(|source| CommandError::Read {
        path: ".".to_owned(),
        source,
    })?;
    let config = Config::load(&cwd, config).map_err(|error| CommandError::Usage {
        message: error.to_string(),
        help: error.help(),
    })?;
    let path = config.store_path(&Overrides {
        store: flag.map(Path::to_path_buf),
        ..Overrides::default()
    });
    if !path.exists() {
        printer.message(&format!(
            "no executions recorded yet (no store at `{}`)\n  help: `dspex run` records one\n",
            super::display(&path)
        ));
        return Ok(None);
    }
    store::open(&path).map(Some).map_err(store_error)
}

/// A store failure as the command reports it.
pub(crate) fn store_error(error: StoreError) -> CommandError {
    CommandError::Usage {
        help: error.help(),
        message: error.to_string(),
    }
}

fn print(printer: &Printer, text: &str) -> Result<(), CommandError> {
    printer.data(text).map_err(|source| CommandError::Write {
        path: "stdout".to_owned(),
        source,
    })
}

/// The executions `filter` selects, newest first: an aligned table, or with `json` a JSON array
/// of [`Summary`] objects. The table is empty (`""`) when nothing matches; the JSON is `[]`.
pub fn render_runs(store: &dyn Store, filter: &Filter, json: bool) -> Result<String, StoreError> {
    let summaries = store.list(filter)?;
    if json {
        return Ok(to_json(&summaries));
    }
    Ok(runs_table(&summaries))
}

/// The `dspex runs` table of `summaries`, in the order given.
pub fn runs_table(summaries: &[Summary]) -> String {
    if summaries.is_empty() {
        return String::new();
    }
    let mut table = Table::new(&[
        ("ID", Align::Right),
        ("STARTED (UTC)", Align::Left),
        ("PROGRAM", Align::Left),
        ("MODEL", Align::Left),
        ("STATUS", Align::Left),
        ("LATENCY", Align::Right),
        ("TOKENS IN", Align::Right),
        ("TOKENS OUT", Align::Right),
        ("COST", Align::Right),
        ("CACHE", Align::Left),
        ("ERROR", Align::Left),
    ]);
    for summary in summaries {
        table.row(vec![
            summary.id.to_string(),
            timestamp(summary.started_at, false),
            summary.program.clone(),
            summary.model.clone(),
            summary.status.as_str().to_owned(),
            latency(summary.latency_ms),
            summary.usage.input_tokens.to_string(),
            summary.usage.output_tokens.to_string(),
            cost(summary.cost),
            if summary.cache_hit { "hit" } else { "" }.to_owned(),
            summary.error.as_deref().map(one_line).unwrap_or_default(),
        ]);
    }
    table.render()
}

/// One execution in full, or `None` when no execution has `id`. Human: a header, inputs,
/// outputs, error and repairs, then each call's prompt messages and raw reply. With `json`: the
/// whole [`Execution`] as JSON.
pub fn render_run(store: &dyn Store, id: i64, json: bool) -> Result<Option<String>, StoreError> {
    let Some(execution) = store.get(id)? else {
        return Ok(None);
    };
    if json {
        return Ok(Some(to_json(&execution)));
    }
    Ok(Some(execution_text(&execution)))
}

/// The human view of one execution (see [`render_run`]).
pub fn execution_text(execution: &Execution) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "execution {}  {}",
        execution.id,
        execution.status.as_str()
    );
    let mut fields = vec![
        ("started", timestamp(execution.started_at, true)),
        ("finished", timestamp(execution.finished_at, true)),
        (
            "program",
            format!(
                "{} ({} of `{}`)",
                execution.program, execution.module, execution.signature
            ),
        ),
        (
            "file",
            format!(
                "{} (sha256 {})",
                execution.file,
                execution
                    .source_hash
                    .get(..12)
                    .unwrap_or(&execution.source_hash)
            ),
        ),
        ("model", model(&execution.model, &execution.provider_model)),
        ("latency", latency(execution.latency_ms)),
        ("tokens", tokens(execution.usage)),
        ("cost", cost(execution.cost)),
        (
            "cache",
            if execution.cache_hit { "hit" } else { "miss" }.to_owned(),
        ),
    ];
    if let Some(batch) = &execution.batch {
        fields.push(("batch", batch.clone()));
    }
    for (name, value) in fields {
        let _ = writeln!(out, "  {name:<9} {value}");
    }

    section(&mut out, "inputs", &pretty_json(&execution.inputs));
    if let Some(outputs) = &execution.outputs {
        section(&mut out, "outputs", &pretty_json(outputs));
    }
    if let Some(error) = &execution.error {
        section(&mut out, "error", error);
    }
    if !execution.repairs.is_empty() {
        let repairs: Vec<String> = execution
            .repairs
            .iter()
            .map(|repair| format!("{}: {}", repair.path, repair.description))
            .collect();
        section(&mut out, "repairs", &repairs.join("\n"));
    }

    let count = execution.calls.len();
    for (index, call) in execution.calls.iter().enumerate() {
        let mut title = format!(
            "call {} of {count}: {} adapter, {}, {}",
            index + 1,
            call.adapter,
            latency(call.latency_ms),
            tokens(call.usage)
        );
        if let Some(usd) = call.cost {
            let _ = write!(title, ", {}", cost(Some(usd)));
        }
        if call.cache_hit {
            title.push_str(", cache hit");
        }
        if call.constrained {
            title.push_str(", constrained");
        }
        let _ = writeln!(out, "\n{title}");
        for message in &call.messages {
            let role = match message.role {
                Role::System => "system",
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            subsection(&mut out, role, &message.content);
        }
        match &call.raw {
            Some(raw) => subsection(&mut out, "reply", raw),
            None => subsection(&mut out, "reply", "(none)"),
        }
        if let Some(error) = &call.error {
            subsection(&mut out, "error", error);
        }
    }
    out
}

/// `title`, then `body` indented by two spaces, after a blank line.
fn section(out: &mut String, title: &str, body: &str) {
    let _ = writeln!(out, "\n{title}");
    indent(out, body, "  ");
}

/// A `--- title ---` rule, then `body` indented by four spaces.
fn subsection(out: &mut String, title: &str, body: &str) {
    let _ = writeln!(out, "  --- {title} ---");
    indent(out, body, "    ");
}

fn indent(out: &mut String, body: &str, prefix: &str) {
    for line in body.lines() {
        if line.is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "{prefix}{line}");
        }
    }
}

fn pretty_json(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// Pretty JSON of plain data, with a final newline.
pub(crate) fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default() + "\n"
}

fn model(name: &str, provider_model: &str) -> String {
    if name == provider_model {
        name.to_owned()
    } else {
        format!("{name} ({provider_model})")
    }
}

fn tokens(usage: crate::lm::Usage) -> String {
    format!("{} in / {} out", usage.input_tokens, usage.output_tokens)
}

/// The first line of `text`, cut to 60 characters.
fn one_line(text: &str) -> String {
    const WIDTH: usize = 60;
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() > WIDTH || text.lines().nth(1).is_some() {
        let cut: String = line.chars().take(WIDTH - 1).collect();
        format!("{cut}…")
    } else {
        line.to_owned()
    }
}

/// Milliseconds with one decimal: `812.4 ms`.
pub(crate) fn latency(milliseconds: f64) -> String {
    format!("{milliseconds:.1} ms")
}

/// USD with six decimals (`$0.000123`), `-` when unknown.
pub(crate) fn cost(usd: Option<f64>) -> String {
    match usd {
        Some(usd) => format!("${usd:.6}"),
        None => "-".to_owned(),
    }
}

/// Unix milliseconds as ISO-8601 UTC: `2025-10-09T08:53:20Z`, with `.123` before the `Z` when
/// `millis` is set.
pub(crate) fn timestamp(unix_ms: i64, millis: bool) -> String {
    let seconds = unix_ms.div_euclid(1000);
    let milliseconds = unix_ms.rem_euclid(1000);
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let mut text = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    );
    if millis {
        let _ = write!(text, ".{milliseconds:03}");
    }
    text.push('Z');
    text
}

/// The proleptic Gregorian (year, month, day) of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

/// A text table whose columns are as wide as their widest cell, two spaces apart, with no
/// trailing spaces.
pub(crate) struct Table {
    columns: Vec<(String, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(columns: &[(&str, Align)]) -> Table {
        Table {
            columns: columns
                .iter()
                .map(|(name, align)| ((*name).to_owned(), *align))
                .collect(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub(crate) fn render(&self) -> String {
        let width = |text: &str| text.chars().count();
        let widths: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .map(|(index, (name, _))| {
                self.rows
                    .iter()
                    .filter_map(|row| row.get(index))
                    .map(|cell| width(cell))
                    .chain([width(name)])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let header: Vec<String> = self.columns.iter().map(|(name, _)| name.clone()).collect();
        let mut out = String::new();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (index, ((_, align), column_width)) in self.columns.iter().zip(&widths).enumerate()
            {
                let cell = row.get(index).map(String::as_str).unwrap_or_default();
                if index > 0 {
                    line.push_str("  ");
                }
                let padding = " ".repeat(column_width.saturating_sub(width(cell)));
                match align {
                    Align::Left => {
                        line.push_str(cell);
                        line.push_str(&padding);
                    }
                    Align::Right => {
                        line.push_str(&padding);
                        line.push_str(cell);
                    }
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_iso_8601_utc() {
        assert_eq!(timestamp(0, false), "1970-01-01T00:00:00Z");
        assert_eq!(
            timestamp(1_700_000_000_123, true),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(timestamp(951_782_400_000, false), "2000-02-29T00:00:00Z");
        assert_eq!(timestamp(-1, true), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn numbers_are_formatted_for_people() {
        assert_eq!(latency(812.44), "812.4 ms");
        assert_eq!(cost(Some(0.000_123)), "$0.000123");
        assert_eq!(cost(None), "-");
        assert_eq!(one_line("first\nsecond"), "first…");
    }

    #[test]
    fn tables_align_and_trim() {
        let mut table = Table::new(&[("ID", Align::Right), ("NAME", Align::Left)]);
        table.row(vec!["7".to_owned(), "qa".to_owned()]);
        table.row(vec!["1234".to_owned(), "".to_owned()]);
        assert_eq!(table.render(), "  ID  NAME\n   7  qa\n1234\n");
    }
}

#[cfg(test)]
mod store_tests {
    use super::*;
    use crate::lm::{Message, Usage};
    use crate::store::{CallRecord, RepairRecord};
    use serde_json::json;

    fn execution(program: &str, started_at: i64, status: Status) -> Execution {
        Execution {
            id: 0,
            started_at,
            finished_at: started_at + 812,
            file: "signatures/qa.sig".to_owned(),
            program: program.to_owned(),
            signature: "QA".to_owned(),
            module: "chain_of_thought".to_owned(),
            source_hash: "5f".repeat(32),
            model: "fast".to_owned(),
            provider_model: "gpt-4o-mini".to_owned(),
            inputs: json!({"question": "What is the capital of France?"}),
            outputs: (status == Status::Success).then(|| json!({"answer": "Paris"})),
            status,
            error: (status == Status::Failed)
                .then(|| "the reply has no `answer` field\nraw: Paris?".to_owned()),
            latency_ms: 812.44,
            usage: Usage {
                input_tokens: 412,
                output_tokens: 23,
            },
            cost: (status == Status::Success).then_some(0.000_123),
            cache_hit: false,
            calls: vec![CallRecord {
                adapter: "chat".to_owned(),
                messages: vec![
                    Message::new(Role::System, "Answer questions.\n\nBe brief."),
                    Message::new(Role::User, "[[ ## question ## ]]\nWhat is the capital?"),
                ],
                raw: Some("[[ ## answer ## ]]\nParis".to_owned()),
                usage: Usage {
                    input_tokens: 412,
                    output_tokens: 23,
                },
                cost: None,
                latency_ms: 811.96,
                cache_hit: false,
                constrained: true,
                error: None,
            }],
            repairs: vec![RepairRecord {
                path: "confidence".to_owned(),
                description: "parsed \"87%\" as 0.87".to_owned(),
            }],
            batch: None,
        }
    }

    fn store_with_two() -> (tempfile::TempDir, Arc<dyn Store>, i64, i64) {
        let directory = tempfile::tempdir().expect("tempdir");
        let store = store::open(&directory.path().join("dspex.db")).expect("open");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let first = runtime
            .block_on(store.record(execution("qa", 1_700_000_000_123, Status::Success)))
            .expect("recorded");
        let second = runtime
            .block_on(store.record(execution("summarize", 1_700_000_060_000, Status::Failed)))
            .expect("recorded");
        (directory, store, first, second)
    }

    #[test]
    fn runs_renders_a_table_and_json() {
        let (_directory, store, first, second) = store_with_two();
        let table = render_runs(store.as_ref(), &Filter::default(), false).expect("render");
        assert_eq!(
            table,
            format!(
                "\
ID  STARTED (UTC)         PROGRAM    MODEL  STATUS    LATENCY  TOKENS IN  TOKENS OUT       COST  CACHE  ERROR
 {second}  2023-11-14T22:14:20Z  summarize  fast   failed   812.4 ms        412          23          -         the reply has no `answer` field…
 {first}  2023-11-14T22:13:20Z  qa         fast   success  812.4 ms        412          23  $0.000123
"
            )
        );
        let filter = Filter {
            program: Some("missing".to_owned()),
            ..Filter::default()
        };
        assert_eq!(
            render_runs(store.as_ref(), &filter, false).expect("render"),
            ""
        );
        assert_eq!(
            render_runs(store.as_ref(), &filter, true).expect("render"),
            "[]\n"
        );

        let json = render_runs(store.as_ref(), &Filter::default(), true).expect("render");
        let parsed: Vec<Summary> = serde_json::from_str(&json).expect("a JSON array of summaries");
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].id, second);
    }

    #[test]
    fn show_renders_one_execution() {
        let (_directory, store, first, _) = store_with_two();
        let text = render_run(store.as_ref(), first, false)
            .expect("render")
            .expect("found");
        assert_eq!(
            text,
            format!(
                "\
execution {first}  success
  started   2023-11-14T22:13:20.123Z
  finished  2023-11-14T22:13:20.935Z
  program   qa (chain_of_thought of `QA`)
  file      signatures/qa.sig (sha256 5f5f5f5f5f5f)
  model     fast (gpt-4o-mini)
  latency   812.4 ms
  tokens    412 in / 23 out
  cost      $0.000123
  cache     miss

inputs
  {{
    \"question\": \"What is the capital of France?\"
  }}

outputs
  {{
    \"answer\": \"Paris\"
  }}

repairs
  confidence: parsed \"87%\" as 0.87

call 1 of 1: chat adapter, 812.0 ms, 412 in / 23 out, constrained
  --- system ---
    Answer questions.

    Be brief.
  --- user ---
    [[ ## question ## ]]
    What is the capital?
  --- reply ---
    [[ ## answer ## ]]
    Paris
"
            )
        );
        let json = render_run(store.as_ref(), first, true)
            .expect("render")
            .expect("found");
        let parsed: Execution = serde_json::from_str(&json).expect("an execution");
        assert_eq!(parsed.id, first);
        assert_eq!(parsed.calls[0].messages.len(), 2);
        assert_eq!(
            render_run(store.as_ref(), first + 100, false).expect("render"),
            None
        );
    }
}
