//! `dspex run --batch FILE.jsonl`: every line runs concurrently (at most `--concurrency` at
//! once), results are written as JSONL in input order, each only after its execution is
//! committed to the store, so a killed process loses nothing it already reported. Ctrl-C stops
//! cleanly: finished results are kept, written and recorded.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, Semaphore};

use super::run::{check_object, read_lines, record, show_progress};
use super::{display, CommandError};
use crate::adapter::PromptField;
use crate::cli::{ExitStatus, Printer, RunArgs};
use crate::program::{Runtime, Target};
use crate::schema::Document;
use crate::store::Status;

/// Lines in flight when `--concurrency` is not given.
const DEFAULT_CONCURRENCY: usize = 16;

/// One line's outcome, ready to write.
struct LineResult {
    /// Position among the input lines (0-based), for ordering.
    index: usize,
    json: Value,
    failed: bool,
}

pub(crate) async fn run_batch(
    runtime: Arc<Runtime>,
    target: Arc<Target>,
    document: Arc<Document>,
    path: &Path,
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
    let concurrency = args.concurrency.unwrap_or(DEFAULT_CONCURRENCY).max(1);
    let batch_id = format!(
        "{}-{}",
        display(path),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default()
    );
    let fields = target.input_fields();
    let stop = Arc::new(AtomicBool::new(false));
    let (sender, receiver) = mpsc::unbounded_channel::<LineResult>();

    let producer = {
        let stop = stop.clone();
        let runtime = runtime.clone();
        let target = target.clone();
        let sender = sender.clone();
        let batch_id: Arc<str> = batch_id.into();
        tokio::spawn(async move {
            let permits = Arc::new(Semaphore::new(concurrency));
            let mut tasks = tokio::task::JoinSet::new();
            for (index, (number, text)) in lines.into_iter().enumerate() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let inputs = match line_inputs(&document, &fields, &text) {
                    Ok(inputs) => inputs,
                    Err(message) => {
                        let _ = sender.send(LineResult {
                            index,
                            json: json!({"line": number, "status": "invalid", "error": message}),
                            failed: true,
                        });
                        continue;
                    }
                };
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                let runtime = runtime.clone();
                let target = target.clone();
                let sender = sender.clone();
                let batch_id = batch_id.clone();
                tasks.spawn(async move {
                    let finished = runtime.execute(&target, inputs, Some(&batch_id)).await;
                    // The LM is done with this line: the next one may start while this one's
                    // record commits (it is reported only once committed).
                    drop(permit);
                    let failed = finished.execution.status == Status::Failed;
                    // What the result line shows, taken before the execution goes to the store.
                    let shown = match &finished.error {
                        Some(error) if failed => Err(error.to_string()),
                        _ => Ok(finished.execution.outputs.clone()),
                    };
                    let id = record(runtime.store.as_ref(), finished.execution).await;
                    let json = match shown {
                        Err(error) => json!({
                            "line": number, "id": id, "status": "failed", "error": error,
                        }),
                        Ok(outputs) => json!({
                            "line": number, "id": id, "status": "success", "outputs": outputs,
                        }),
                    };
                    let _ = sender.send(LineResult {
                        index,
                        json,
                        failed,
                    });
                });
                // Reap finished tasks as we go so the set stays small.
                while tasks.try_join_next().is_some() {}
            }
            tasks
        })
    };
    drop(sender);

    // Results are gathered on a worker thread, not the thread that waits for the batch: each
    // one would otherwise wake that thread from its sleep (one futex call per line).
    let collector = tokio::spawn(collect(
        receiver,
        producer,
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

/// Writes results in input order as they arrive, until every line is done or Ctrl-C; returns
/// how many lines are done, how many failed, and whether the batch was interrupted.
async fn collect(
    mut receiver: mpsc::UnboundedReceiver<LineResult>,
    producer: tokio::task::JoinHandle<tokio::task::JoinSet<()>>,
    collector: Collector,
) -> Result<(usize, usize, bool), CommandError> {
    let Collector {
        mut output,
        output_name,
        progress,
        printer,
        stop,
    } = collector;
    let write_error = |source| CommandError::Write {
        path: output_name.clone(),
        source,
    };
    let mut pending: BTreeMap<usize, LineResult> = BTreeMap::new();
    let mut next = 0usize;
    let mut failures = 0usize;
    let mut done = 0usize;
    let mut interrupted = false;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            received = receiver.recv() => {
                let Some(result) = received else { break };
                done += 1;
                if result.failed {
                    failures += 1;
                    if let Some(message) = result.json.get("error").and_then(Value::as_str) {
                        let line = result.json.get("line").cloned().unwrap_or(Value::Null);
                        let text = format!("line {line}: {message}\n");
                        match &progress {
                            Some(bar) => bar.println(text.trim_end()),
                            None => printer.message(&text),
                        }
                    }
                }
                if let Some(bar) = &progress {
                    bar.inc(1);
                }
                pending.insert(result.index, result);
                while let Some(result) = pending.remove(&next) {
                    writeln!(output, "{}", result.json).map_err(write_error)?;
                    next += 1;
                }
                if receiver.is_empty() {
                    output.flush().map_err(write_error)?;
                }
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
        // Unfinished lines are abandoned; everything finished is written, in input order.
        if let Ok(mut tasks) = producer.await {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        while let Ok(result) = receiver.try_recv() {
            done += 1;
            failures += usize::from(result.failed);
            pending.insert(result.index, result);
        }
    } else if let Ok(mut tasks) = producer.await {
        while tasks.join_next().await.is_some() {}
    }
    for (_, result) in std::mem::take(&mut pending) {
        writeln!(output, "{}", result.json).map_err(write_error)?;
    }
    output.flush().map_err(write_error)?;
    Ok((done, failures, interrupted))
}

/// One line's inputs: a JSON object; keys that are not inputs (labels, ids) are ignored.
fn line_inputs(
    document: &Document,
    fields: &[PromptField],
    text: &str,
) -> Result<crate::adapter::Values, String> {
    let object: Map<String, Value> = serde_json::from_str(text)
        .map_err(|error| format!("not a JSON object of inputs: {error}"))?;
    let inputs: Map<String, Value> = object
        .into_iter()
        .filter(|(key, _)| fields.iter().any(|f| f.name == *key))
        .collect();
    check_object(document, fields, inputs)
}
