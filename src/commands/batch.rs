//! `dspex run --batch FILE.jsonl`: every line runs concurrently (at most `--concurrency` at
//! once), results are written as JSONL in input order, each only after its execution is
//! committed to the store, so a killed process loses nothing it already reported. Ctrl-C stops
//! cleanly: finished results are kept, written and recorded.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::run::{read_lines, recorded, show_progress, take_inputs};
use super::{display, CommandError};
use crate::adapter::PromptField;
use crate::cli::{ExitStatus, Printer, RunArgs};
use crate::lm::BoxFuture;
use crate::program::{Runtime, Target};
use crate::schema::Document;
use crate::store::{Status, StoreError};

/// How long written result lines may wait in the output buffer: one write per line was ~3% of
/// a sequential batch's time, and results already arrive in bursts (one per store commit).
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(5);

/// One finished line, sent to the collector; its record may still be committing.
struct LineResult {
    /// Position among the input lines (0-based), for ordering.
    index: usize,
    /// The line number in the file.
    number: usize,
    outcome: Outcome,
}

enum Outcome {
    /// The line is not a valid set of inputs.
    Invalid(String),
    /// The line ran: its outputs or error, and the store's id once the record is committed.
    Ran {
        shown: Result<Option<Value>, String>,
        record: Option<BoxFuture<'static, Result<i64, StoreError>>>,
    },
}

impl LineResult {
    /// The error to show for a failed line.
    fn error(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Invalid(message)
            | Outcome::Ran {
                shown: Err(message),
                ..
            } => Some(message),
            Outcome::Ran { shown: Ok(_), .. } => None,
        }
    }
}

/// What every worker shares: the lines not yet taken and what runs them.
struct Work {
    lines: Mutex<std::iter::Enumerate<std::vec::IntoIter<(usize, String)>>>,
    runtime: Arc<Runtime>,
    target: Arc<Target>,
    document: Arc<Document>,
    fields: Vec<PromptField>,
    batch_id: String,
    /// Set on Ctrl-C: no further lines start.
    stop: Arc<AtomicBool>,
}

pub(crate) async fn run_batch(
    runtime: Arc<Runtime>,
    target: Arc<Target>,
    document: Arc<Document>,
    path: &Path,
    concurrency: usize,
    args: &RunArgs,
    printer: &Printer,
) -> Result<ExitStatus, CommandError> {
    let lines = read_lines(path)?;
    let total = lines.len();
    let output: Box<dyn Write + Send> = match &args.output {
        Some(out) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(out).map_err(|source| CommandError::Write {
                path: display(out),
                source,
            })?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let output_name = args
        .output
        .as_deref()
        .map(display)
        .unwrap_or_else(|| "stdout".to_owned());
    let progress = if show_progress(args) {
        let bar = indicatif::ProgressBar::new(total as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} {pos}/{len} [{bar:30}] {per_sec} eta {eta} {msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        Some(bar)
    } else {
        None
    };
    let concurrency = concurrency.max(1);
    let batch_id = format!(
        "{}-{}",
        display(path),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default()
    );
    let stop = Arc::new(AtomicBool::new(false));
    let work = Arc::new(Work {
        lines: Mutex::new(lines.into_iter().enumerate()),
        runtime,
        fields: target.input_fields(),
        target,
        document,
        batch_id,
        stop: stop.clone(),
    });
    // `--concurrency` workers, each taking the next line when it is done with one: a line
    // costs no task of its own, and a worker goes on while its last record commits.
    let (sender, receiver) = mpsc::unbounded_channel::<LineResult>();
    let mut workers = JoinSet::new();
    for _ in 0..concurrency.min(total) {
        workers.spawn(run_lines(work.clone(), sender.clone()));
    }
    drop(sender);

    // Results are gathered on a worker thread, not the thread that waits for the batch: each
    // one would otherwise wake that thread from its sleep (one futex call per line).
    let collector = tokio::spawn(collect(
        receiver,
        workers,
        Collector {
            output,
            output_name,
            progress: progress.clone(),
            printer: printer.clone(),
            stop,
        },
    ));
    let (done, failures, interrupted) = match collector.await {
        Ok(outcome) => outcome?,
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    };
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    let summary = format!(
        "{done} of {total} line{} done, {failures} failed{}\n",
        if total == 1 { "" } else { "s" },
        if interrupted { " (interrupted)" } else { "" }
    );
    printer.message(&summary);
    Ok(if interrupted {
        ExitStatus::Interrupted
    } else if failures > 0 {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}

/// One worker: runs lines until none are left, Ctrl-C, or the collector is gone.
async fn run_lines(work: Arc<Work>, sender: mpsc::UnboundedSender<LineResult>) {
    loop {
        if work.stop.load(Ordering::Relaxed) {
            return;
        }
        let next = work
            .lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .next();
        let Some((index, (number, text))) = next else {
            return;
        };
        let outcome = match line_inputs(&work.document, &work.fields, &text) {
            Err(message) => Outcome::Invalid(message),
            Ok(inputs) => {
                let finished = work
                    .runtime
                    .execute(&work.target, inputs, Some(&work.batch_id))
                    .await;
                // What the result line shows, taken before the execution goes to the store.
                let shown = match &finished.error {
                    Some(error) if finished.execution.status == Status::Failed => {
                        Err(error.to_string())
                    }
                    _ => Ok(finished.execution.outputs.clone()),
                };
                let record = work
                    .runtime
                    .store
                    .as_ref()
                    .map(|store| store.record(finished.execution));
                Outcome::Ran { shown, record }
            }
        };
        let result = LineResult {
            index,
            number,
            outcome,
        };
        if sender.send(result).is_err() {
            return;
        }
    }
}

/// What the collector owns: where results go and how progress shows.
struct Collector {
    output: Box<dyn Write + Send>,
    /// The output as messages name it.
    output_name: String,
    progress: Option<indicatif::ProgressBar>,
    printer: Printer,
    /// Set on Ctrl-C: no further lines start.
    stop: Arc<AtomicBool>,
}

/// Writes results in input order, each once its record is committed, until every line is done
/// or Ctrl-C; returns how many lines are done, how many failed, and whether the batch was
/// interrupted.
async fn collect(
    mut receiver: mpsc::UnboundedReceiver<LineResult>,
    mut workers: JoinSet<()>,
    collector: Collector,
) -> Result<(usize, usize, bool), CommandError> {
    let Collector {
        mut output,
        output_name,
        progress,
        printer,
        stop,
    } = collector;
    let mut writer = Ordered {
        output: &mut *output,
        output_name: &output_name,
        progress: progress.as_ref(),
        pending: BTreeMap::new(),
        next: 0,
        done: 0,
    };
    let mut failures = 0usize;
    let mut interrupted = false;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    // Armed when a line is written and nothing is waiting to be flushed yet.
    let flush_timer = tokio::time::sleep(FLUSH_EVERY);
    tokio::pin!(flush_timer);
    let mut unflushed = false;
    loop {
        tokio::select! {
            received = receiver.recv() => {
                let Some(result) = received else { break };
                if let Some(message) = result.error() {
                    failures += 1;
                    let text = format!("line {}: {message}\n", result.number);
                    match &progress {
                        Some(bar) => bar.println(text.trim_end()),
                        None => printer.message(&text),
                    }
                }
                writer.pending.insert(result.index, result);
                if writer.write_ready().await? && !unflushed {
                    unflushed = true;
                    flush_timer.as_mut().reset(tokio::time::Instant::now() + FLUSH_EVERY);
                }
            }
            () = &mut flush_timer, if unflushed => {
                writer.flush()?;
                unflushed = false;
            }
            _ = &mut ctrl_c, if !interrupted => {
                interrupted = true;
                stop.store(true, Ordering::Relaxed);
                if let Some(bar) = &progress {
                    bar.set_message("interrupted: finishing");
                }
                break;
            }
        }
    }
    if interrupted {
        // Lines still running are abandoned; every finished one is written, in input order.
        workers.abort_all();
        while workers.join_next().await.is_some() {}
        while let Ok(result) = receiver.try_recv() {
            failures += usize::from(result.error().is_some());
            writer.pending.insert(result.index, result);
        }
    } else {
        while workers.join_next().await.is_some() {}
    }
    writer.write_all().await?;
    writer.flush()?;
    Ok((writer.done, failures, interrupted))
}

/// One line of the output, its keys in this order: `{"line", "id", "status", "outputs"}` for a
/// success, `"error"` in place of `"outputs"` for a failure, and no `"id"` for an invalid line.
#[derive(serde::Serialize)]
struct ResultLine<'a> {
    line: usize,
    /// `Some(None)` (`"id": null`) when the run was not recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<Option<i64>>,
    status: &'static str,
    /// The outputs, `null` included (a success whose outputs are absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    outputs: Option<&'a Option<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

/// Result lines waiting for the ones before them.
struct Ordered<'a> {
    output: &'a mut (dyn Write + Send),
    output_name: &'a str,
    progress: Option<&'a indicatif::ProgressBar>,
    pending: BTreeMap<usize, LineResult>,
    /// The index of the next line to write.
    next: usize,
    /// Lines written.
    done: usize,
}

impl Ordered<'_> {
    /// Writes every pending line whose predecessors are written; whether it wrote any.
    async fn write_ready(&mut self) -> Result<bool, CommandError> {
        let mut wrote = false;
        while let Some(result) = self.pending.remove(&self.next) {
            self.write(result).await?;
            self.next += 1;
            wrote = true;
        }
        Ok(wrote)
    }

    /// Writes every pending line, in order, gaps (abandoned lines) and all.
    async fn write_all(&mut self) -> Result<(), CommandError> {
        for (_, result) in std::mem::take(&mut self.pending) {
            self.write(result).await?;
        }
        Ok(())
    }

    /// Writes one line once its record is committed.
    async fn write(&mut self, result: LineResult) -> Result<(), CommandError> {
        match result.outcome {
            Outcome::Invalid(message) => self.emit(&ResultLine {
                line: result.number,
                id: None,
                status: "invalid",
                outputs: None,
                error: Some(&message),
            })?,
            Outcome::Ran { shown, record } => {
                let id = match record {
                    Some(record) => recorded(record.await),
                    None => None,
                };
                self.emit(&ResultLine {
                    line: result.number,
                    id: Some(id),
                    status: if shown.is_ok() { "success" } else { "failed" },
                    outputs: shown.as_ref().ok(),
                    error: shown.as_ref().err().map(String::as_str),
                })?;
            }
        }
        self.done += 1;
        if let Some(bar) = self.progress {
            bar.inc(1);
        }
        Ok(())
    }

    fn emit(&mut self, line: &ResultLine) -> Result<(), CommandError> {
        serde_json::to_writer(&mut *self.output, line)
            .map_err(std::io::Error::from)
            .and_then(|()| self.output.write_all(b"\n"))
            .map_err(|source| self.write_error(source))
    }

    fn flush(&mut self) -> Result<(), CommandError> {
        self.output
            .flush()
            .map_err(|source| self.write_error(source))
    }

    fn write_error(&self, source: std::io::Error) -> CommandError {
        CommandError::Write {
            path: self.output_name.to_owned(),
            source,
        }
    }
}

/// One line's inputs: a JSON object; keys that are not inputs (labels, ids) are ignored.
fn line_inputs(
    document: &Document,
    fields: &[PromptField],
    text: &str,
) -> Result<crate::adapter::Values, String> {
    let object: Map<String, Value> = serde_json::from_str(text)
        .map_err(|error| format!("not a JSON object of inputs: {error}"))?;
    take_inputs(document, fields, object)
}
