//! `dspex run`: one execution from `--input`/`--inputs`, or a concurrent batch from
//! `--batch FILE.jsonl`; every execution is recorded in the store before it is reported.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::{display, load_valid, CommandError};
use crate::adapter::parse;
use crate::adapter::{PromptField, Values};
use crate::cli::{ExitStatus, Printer, RunArgs};
use crate::config::{Config, Overrides};
use crate::lm;
use crate::program::{Artifact, CacheMode, Finished, RunError, Runtime, Target};
use crate::schema::{Document, Module};
use crate::store::{self, Execution, Status, Store, StoreError};

pub fn run(args: RunArgs, printer: &Printer) -> Result<ExitStatus, CommandError> {
    let Some(file) = load_valid(&args.file, printer)? else {
        return Ok(ExitStatus::Failure);
    };
    let document = Arc::new(file.compiled.document);
    let (name, signature, module) = choose(&document, &args, &file.path)?;
    let Some(signature) = document.signature(&signature).cloned() else {
        return Err(CommandError::usage(
            format!("no signature `{signature}` in `{}`", file.path),
            "check the program's signature name",
        ));
    };
    let artifact = match &args.artifact {
        Some(path) => Some(Artifact::load(path, module).map_err(|e| usage_error(&e, None))?),
        None => None,
    };
    let target = Target::new(
        document.clone(),
        &name,
        &signature,
        module,
        artifact.as_ref().zip(args.artifact.as_deref()),
        &file.path,
        file.text.as_bytes(),
    )
    .map_err(|error| usage_error(&error, None))?;

    let cwd = std::env::current_dir().map_err(|source| CommandError::Read {
        path: ".".to_owned(),
        source,
    })?;
    let config = Config::load(&cwd, args.config.as_deref())
        .map_err(|error| usage_error(&error, error.help()))?;
    let overrides = Overrides {
        model: args.model.clone(),
        base_url: args.base_url.clone(),
        temperature: args.temperature,
        max_tokens: args.max_tokens,
        seed: args.seed,
        store: args.store.path.clone(),
        concurrency: args.concurrency,
    };
    let spec = config
        .model(&overrides)
        .map_err(|error| usage_error(&error, error.help()))?;
    let cache = if args.offline {
        CacheMode::Offline
    } else if args.no_cache || !config.cache() {
        CacheMode::Off
    } else {
        CacheMode::On
    };
    let adapter = args
        .adapter
        .map(Into::into)
        .unwrap_or_else(|| config.adapter());
    let store_path = config.store_path(&overrides);
    let store = store::open(&store_path).map_err(|error| {
        usage_error(
            &error,
            Some(format!(
                "choose another path with `--store PATH` (now `{}`)",
                store_path.display()
            )),
        )
    })?;

    // Inputs are checked before anything is sent.
    let single_inputs = if args.batch.is_none() {
        Some(single_inputs(&args, &document, &target)?)
    } else {
        None
    };

    // One execution needs no worker threads (without them a `dspex run` makes 302 system calls
    // instead of 402 and starts one thread instead of three); a batch runs on every core.
    let mut builder = if args.batch.is_none() {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let tokio = builder
        .enable_all()
        .build()
        .map_err(|source| CommandError::Read {
            path: "the async runtime".to_owned(),
            source,
        })?;
    // A batch runs as many lines at once as the model takes requests: `--concurrency`, else
    // the model's `max_concurrency` (16 unless configured).
    let concurrency = spec.max_concurrency;
    let provider = lm::connect(spec).map_err(|error| usage_error(&error, error.help()))?;
    let runtime = Arc::new(Runtime {
        provider,
        store: Some(store.clone()),
        cache,
        adapter,
    });
    let target = Arc::new(target);
    let status = match (single_inputs, &args.batch) {
        (Some(inputs), _) => tokio.block_on(run_once(&runtime, &target, inputs, &args, printer)),
        (None, Some(batch)) => tokio.block_on(super::batch::run_batch(
            runtime.clone(),
            target.clone(),
            document.clone(),
            batch,
            concurrency,
            &args,
            printer,
        )),
        (None, None) => Ok(ExitStatus::Error),
    };
    // Everything queued is committed before the process ends.
    let flushed = store.flush();
    let status = status?;
    if let Err(error) = flushed {
        printer.message(&format!("error: {error}\n"));
        return Ok(ExitStatus::Failure);
    }
    Ok(status)
}

/// Which program runs: `--program`, `--signature` (under `predict`), the file's first program,
/// or its only signature.
fn choose(
    document: &Document,
    args: &RunArgs,
    path: &str,
) -> Result<(String, String, Module), CommandError> {
    if let Some(name) = &args.program {
        return match document.program(name) {
            Some(program) => Ok((
                program.name.clone(),
                program.signature.clone(),
                program.module,
            )),
            None => Err(CommandError::usage(
                format!("no program `{name}` in `{path}`"),
                names_help(
                    "programs",
                    document.programs.iter().map(|p| p.name.as_str()),
                ),
            )),
        };
    }
    if let Some(name) = &args.signature {
        return match document.signature(name) {
            Some(signature) => Ok((
                signature.name.clone(),
                signature.name.clone(),
                Module::Predict,
            )),
            None => Err(CommandError::usage(
                format!("no signature `{name}` in `{path}`"),
                names_help(
                    "signatures",
                    document.signatures.iter().map(|s| s.name.as_str()),
                ),
            )),
        };
    }
    if let Some(program) = document.programs.first() {
        return Ok((
            program.name.clone(),
            program.signature.clone(),
            program.module,
        ));
    }
    match document.signatures.as_slice() {
        [only] => Ok((only.name.clone(), only.name.clone(), Module::Predict)),
        [] => Err(CommandError::usage(
            format!("`{path}` declares no signature to run"),
            "add a `signature` (see `dspex init`), or run another file",
        )),
        several => Err(CommandError::usage(
            format!(
                "`{path}` declares {} signatures and no program",
                several.len()
            ),
            format!(
                "choose one with `--signature NAME`: {}",
                several
                    .iter()
                    .map(|s| format!("`{}`", s.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

fn names_help<'a>(what: &str, names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<String> = names.map(|n| format!("`{n}`")).collect();
    if names.is_empty() {
        format!("the file declares no {what}")
    } else {
        format!("the file declares {what} {}", names.join(", "))
    }
}

pub(crate) fn usage_error(error: &dyn std::fmt::Display, help: Option<String>) -> CommandError {
    CommandError::Usage {
        message: error.to_string(),
        help,
    }
}

/// The inputs of a single run, from `--inputs FILE.json` and `--input k=v` (later wins; a
/// repeated `--input` for a list field appends).
fn single_inputs(
    args: &RunArgs,
    document: &Document,
    target: &Target,
) -> Result<Values, CommandError> {
    let fields = target.input_fields();
    let mut values = Values::new();
    if let Some(path) = &args.inputs {
        let text = std::fs::read_to_string(path).map_err(|source| CommandError::Read {
            path: display(path),
            source,
        })?;
        let object: Map<String, Value> = serde_json::from_str(&text).map_err(|error| {
            CommandError::usage(
                format!("`{}` is not a JSON object: {error}", display(path)),
                "write the inputs as one object, e.g. {\"question\": \"...\"}",
            )
        })?;
        values = check_object(document, &fields, object)
            .map_err(|message| CommandError::usage(message, inputs_help(&fields)))?;
    }
    let mut texts: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for pair in &args.input {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(CommandError::usage(
                format!("`--input {pair}` has no `=`"),
                "write `--input name=value`",
            ));
        };
        texts.entry(key.trim()).or_default().push(value);
    }
    for (key, given) in texts {
        let Some(field) = fields.iter().find(|f| f.name == key) else {
            return Err(unknown_input(key, &fields));
        };
        let value = input_from_texts(document, field, &given)
            .map_err(|message| CommandError::usage(message, inputs_help(&fields)))?;
        values.insert(key.to_owned(), value);
    }
    complete_inputs(&fields, values)
        .map_err(|message| CommandError::usage(message, inputs_help(&fields)))
}

/// One field's value from the texts of its `--input` flags.
fn input_from_texts(
    document: &Document,
    field: &PromptField,
    given: &[&str],
) -> Result<Value, String> {
    let schema_field = field.to_field();
    let is_list = matches!(field.ty.required(), crate::schema::Type::List { .. });
    if given.len() > 1 {
        if !is_list {
            return Err(format!(
                "`--input {}` is given {} times but is not a list",
                field.name,
                given.len()
            ));
        }
        let items: Vec<Value> = given
            .iter()
            .map(|text| Value::String((*text).to_owned()))
            .collect();
        return parse::validate_input(document, &schema_field, &Value::Array(items))
            .map_err(|error| format!("input `{}`: {error}", field.name));
    }
    parse::coerce_input(document, &schema_field, given[0])
        .map_err(|error| format!("input `{}`: {error}", field.name))
}

/// Checks a JSON object of inputs against the fields (unknown keys are errors).
pub(crate) fn check_object(
    document: &Document,
    fields: &[PromptField],
    object: Map<String, Value>,
) -> Result<Values, String> {
    if let Some(key) = object
        .keys()
        .find(|key| !fields.iter().any(|field| field.name == **key))
    {
        return Err(unknown_input(key, fields).to_string());
    }
    take_inputs(document, fields, object)
}

/// The inputs in `object`, validated and in the fields' order; keys that are not inputs are
/// left alone, a missing optional input is `null`, a missing required one an error.
pub(crate) fn take_inputs(
    document: &Document,
    fields: &[PromptField],
    mut object: Map<String, Value>,
) -> Result<Values, String> {
    let mut values = Values::with_capacity(fields.len());
    let mut absent = Vec::new();
    for field in fields {
        let value = match object.remove(&field.name) {
            Some(value) => parse::validate_input(document, &field.to_field(), &value)
                .map_err(|error| format!("input `{}`: {error}", field.name))?,
            None => {
                absent.push(field.name.as_str());
                Value::Null
            }
        };
        values.insert(field.name.clone(), value);
    }
    check_required(fields, |name| !absent.contains(&name))?;
    Ok(values)
}

/// Orders the inputs as the fields are; a missing optional input is `null`, a missing
/// required one an error.
fn complete_inputs(fields: &[PromptField], mut values: Values) -> Result<Values, String> {
    check_required(fields, |name| values.contains_key(name))?;
    let mut ordered = Values::with_capacity(fields.len());
    for field in fields {
        let value = values.remove(&field.name).unwrap_or(Value::Null);
        ordered.insert(field.name.clone(), value);
    }
    Ok(ordered)
}

/// An error naming the required fields that are not `given`.
fn check_required(fields: &[PromptField], given: impl Fn(&str) -> bool) -> Result<(), String> {
    let missing: Vec<String> = fields
        .iter()
        .filter(|field| !field.ty.is_optional() && !given(&field.name))
        .map(|field| format!("`{}`", field.name))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "missing input{} {}",
        if missing.len() == 1 { "" } else { "s" },
        missing.join(", ")
    ))
}

fn unknown_input(key: &str, fields: &[PromptField]) -> CommandError {
    let nearest = fields
        .iter()
        .map(|f| (strsim::levenshtein(key, &f.name), &f.name))
        .min()
        .filter(|(distance, _)| *distance <= 3)
        .map(|(_, name)| format!("did you mean `{name}`? "))
        .unwrap_or_default();
    CommandError::usage(
        format!("unknown input `{key}`"),
        format!("{nearest}{}", inputs_help(fields)),
    )
}

fn inputs_help(fields: &[PromptField]) -> String {
    let names: Vec<String> = fields
        .iter()
        .map(|f| {
            format!(
                "`{}` ({}{})",
                f.name,
                crate::adapter::pydantic::annotation_name(&f.ty),
                if f.ty.is_optional() { ", optional" } else { "" }
            )
        })
        .collect();
    format!("the inputs are {}", names.join(", "))
}

async fn run_once(
    runtime: &Arc<Runtime>,
    target: &Arc<Target>,
    inputs: Values,
    args: &RunArgs,
    printer: &Printer,
) -> Result<ExitStatus, CommandError> {
    let interrupted = tokio::signal::ctrl_c();
    let finished = tokio::select! {
        finished = runtime.execute(target, inputs, None) => finished,
        _ = interrupted => {
            printer.message("interrupted: nothing was recorded for the unfinished run\n");
            return Ok(ExitStatus::Interrupted);
        }
    };
    let id = record(runtime.store.as_ref(), finished.execution.clone()).await;
    report(&finished, id, args.json, printer)
}

/// Records an execution and waits until it is committed; the id, or `None` (with a warning)
/// when the store failed.
pub(crate) async fn record(store: Option<&Arc<dyn Store>>, execution: Execution) -> Option<i64> {
    recorded(store?.record(execution).await)
}

/// The id of a committed record; a failed one is a warning (the run itself is not undone).
pub(crate) fn recorded(outcome: Result<i64, StoreError>) -> Option<i64> {
    match outcome {
        Ok(id) => Some(id),
        Err(error) => {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "warning: the execution was not recorded: {error}");
            None
        }
    }
}

/// Prints a single run's outputs (stdout) and its summary or error (stderr).
fn report(
    finished: &Finished,
    id: Option<i64>,
    json: bool,
    printer: &Printer,
) -> Result<ExitStatus, CommandError> {
    let execution = &finished.execution;
    let write_error = |source| CommandError::Write {
        path: "stdout".to_owned(),
        source,
    };
    if let (Some(error), Status::Failed) = (&finished.error, execution.status) {
        printer.message(&failure_text(error, id));
        if json {
            let body = json!({"id": id, "status": "failed", "error": error.to_string()});
            printer.data(&format!("{body}\n")).map_err(write_error)?;
        }
        return Ok(ExitStatus::Failure);
    }
    let outputs = execution.outputs.clone().unwrap_or(Value::Null);
    if json {
        printer.data(&format!("{outputs}\n")).map_err(write_error)?;
    } else {
        printer.data(&readable(&outputs)).map_err(write_error)?;
    }
    printer.message(&summary_line(execution, id));
    Ok(ExitStatus::Success)
}

/// `name: value` lines; multi-line text and structured values indented under the name.
pub(crate) fn readable(outputs: &Value) -> String {
    let mut text = String::new();
    if let Value::Object(map) = outputs {
        for (name, value) in map {
            let shown = match value {
                Value::String(s) => s.clone(),
                Value::Array(_) | Value::Object(_) => {
                    serde_json::to_string_pretty(value).unwrap_or_default()
                }
                other => other.to_string(),
            };
            if shown.contains('\n') {
                text.push_str(&format!("{name}:\n"));
                for line in shown.lines() {
                    text.push_str(&format!("  {line}\n"));
                }
            } else {
                text.push_str(&format!("{name}: {shown}\n"));
            }
        }
    }
    text
}

fn summary_line(execution: &crate::store::Execution, id: Option<i64>) -> String {
    let mut parts = Vec::new();
    if let Some(id) = id {
        parts.push(format!("run {id}"));
    }
    parts.push(execution.program.clone());
    parts.push(execution.model.clone());
    parts.push(format!("{:.0} ms", execution.latency_ms));
    if execution.cache_hit {
        parts.push("cached".to_owned());
    } else {
        parts.push(format!(
            "{} in / {} out tokens",
            execution.usage.input_tokens, execution.usage.output_tokens
        ));
    }
    if let Some(cost) = execution.cost {
        parts.push(format!("${cost:.6}"));
    }
    if !execution.repairs.is_empty() {
        parts.push(format!("{} repaired", execution.repairs.len()));
    }
    format!("{}\n", parts.join(" · "))
}

/// The error, its hint, and for a reply that could not be parsed, the reply itself.
pub(crate) fn failure_text(error: &RunError, id: Option<i64>) -> String {
    let mut text = format!("error: {error}\n");
    if let Some(raw) = error.raw_reply() {
        text.push_str("  the LM replied:\n");
        let shown: String = raw.chars().take(4000).collect();
        for line in shown.lines() {
            text.push_str(&format!("  │ {line}\n"));
        }
        if shown.len() < raw.len() {
            text.push_str("  │ …\n");
        }
    }
    if let Some(help) = error.help() {
        text.push_str(&format!("  help: {help}\n"));
    }
    if let Some(id) = id {
        text.push_str(&format!("  recorded as run {id}: `dspex runs show {id}`\n"));
    }
    text
}

/// Whether a progress bar should be drawn.
pub(crate) fn show_progress(args: &RunArgs) -> bool {
    !args.no_progress && std::io::stderr().is_terminal()
}

/// The lines of a JSONL file: each with its number; reading stops at an I/O error.
pub(crate) fn read_lines(path: &Path) -> Result<Vec<(usize, String)>, CommandError> {
    let file = std::fs::File::open(path).map_err(|source| CommandError::Read {
        path: display(path),
        source,
    })?;
    let mut lines = Vec::new();
    for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| CommandError::Read {
            path: display(path),
            source,
        })?;
        if !line.trim().is_empty() {
            lines.push((index + 1, line));
        }
    }
    Ok(lines)
}
