//! The chat and JSON adapters format exactly the messages DSPy 3.4.1 formats: every signature of
//! `signatures/` and of the good fixtures, under each module's predictor signature, with
//! several input sets and demo sets (complete, incomplete, dropped), and with replaced
//! instructions, goes through `dspex codegen --target python` and real DSPy
//! (`python/dspex_format.py`), and the two lists of messages are compared byte for byte.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use dspex::adapter::{self, AdapterKind, PromptSignature, Values};
use dspex::codegen::{python, Source};
use dspex::program::predictor_signature;
use dspex::schema::{Document, Module, Type};
use serde_json::{json, Value};

/// One formatting to compare.
struct Case {
    label: String,
    module: String,
    signature: String,
    wrap: Module,
    adapter: AdapterKind,
    instructions: Option<String>,
    demos: Vec<Values>,
    inputs: Values,
}

/// Sample strings: plain, multi-line, quoted, non-ASCII, with guillemets and edge whitespace.
const TEXTS: &[&str] = &[
    "What is the capital of France?",
    "line one\nline two\n  indented line",
    "She said \"hi\" and 'bye' \\ done",
    "Straße, 東京, emoji 🦀, tab\there",
    "«quoted» text",
    "  leading and trailing spaces  ",
    "",
    "trailing newline\n",
];

const FLOATS: &[f64] = &[0.5, 1.0, 1e-7, 12_345_678.9, -3.25, 0.0, 1e22];
const INTEGERS: &[i64] = &[3, 0, -12, 1_000_000_007];

/// A deterministic value of type `ty`; `seed` picks among the samples, `depth` bounds records
/// that refer to themselves.
fn sample(document: &Document, ty: &Type, seed: usize, depth: usize) -> Value {
    match ty {
        Type::String { .. } | Type::ReasoningChain => json!(TEXTS[seed % TEXTS.len()]),
        Type::Integer { min, max } => {
            let value = INTEGERS[seed % INTEGERS.len()];
            json!(value.clamp(min.unwrap_or(i64::MIN), max.unwrap_or(i64::MAX)))
        }
        Type::Float { min, max } => {
            let value = FLOATS[seed % FLOATS.len()];
            json!(value.clamp(min.unwrap_or(f64::MIN), max.unwrap_or(f64::MAX)))
        }
        Type::Probability { .. } => json!([0.5, 1.0, 0.0, 0.125][seed % 4]),
        Type::Boolean => json!(seed % 2 == 0),
        Type::Json => [
            json!({"k": [1, 2.5, null, true], "s": "x"}),
            json!("plain"),
            json!(7),
            json!(null),
        ][seed % 4]
            .clone(),
        Type::List { item, .. } => {
            let count = if depth > 2 { 0 } else { [2, 1, 0, 3][seed % 4] };
            Value::Array(
                (0..count)
                    .map(|index| sample(document, item, seed + index + 1, depth + 1))
                    .collect(),
            )
        }
        Type::Map { value, .. } => {
            let count = if depth > 2 { 0 } else { [2, 1, 0][seed % 3] };
            Value::Object(
                (0..count)
                    .map(|index| {
                        (
                            format!("key_{index}"),
                            sample(document, value, seed + index + 1, depth + 1),
                        )
                    })
                    .collect(),
            )
        }
        Type::Optional(inner) => {
            if seed % 3 == 1 || depth > 2 {
                Value::Null
            } else {
                sample(document, inner, seed, depth)
            }
        }
        Type::Literals(values) => json!(values[seed % values.len()]),
        Type::Enum(name) => {
            let variants = &document.enumeration(name).expect("enum").variants;
            json!(variants[seed % variants.len()].name)
        }
        Type::Record(name) => {
            let record = document.record(name).expect("record");
            Value::Object(
                record
                    .fields
                    .iter()
                    .enumerate()
                    .map(|(index, field)| {
                        (
                            field.name.clone(),
                            sample(document, &field.ty, seed + index, depth + 1),
                        )
                    })
                    .collect(),
            )
        }
    }
}

fn values_for(document: &Document, fields: &[adapter::PromptField], seed: usize) -> Values {
    fields
        .iter()
        .enumerate()
        .map(|(index, field)| {
            (
                field.name.clone(),
                sample(document, &field.ty, seed + index, 0),
            )
        })
        .collect()
}

/// Demos of every kind DSPy tells apart: complete, missing an output, holding `None`, and one
/// with no output at all (which DSPy drops).
fn demos_for(document: &Document, signature: &PromptSignature, seed: usize) -> Vec<Values> {
    let mut complete = values_for(document, &signature.inputs, seed);
    complete.extend(values_for(document, &signature.outputs, seed + 3));
    let mut partial = values_for(document, &signature.inputs[..1], seed + 1);
    if let Some(first) = signature.outputs.first() {
        partial.insert(first.name.clone(), sample(document, &first.ty, seed + 2, 0));
    }
    let mut with_null = complete.clone();
    if let Some(last) = signature.outputs.last() {
        with_null.insert(last.name.clone(), Value::Null);
    }
    let inputs_only = values_for(document, &signature.inputs, seed + 5);
    vec![complete, partial, with_null, inputs_only]
}

fn cases(module: &str, document: &Document) -> Vec<Case> {
    let mut cases = Vec::new();
    for signature in &document.signatures {
        let wraps = [
            Module::Predict,
            Module::ChainOfThought,
            Module::MultiChainComparison { m: 2 },
        ];
        for (wrap_index, wrap) in wraps.into_iter().enumerate() {
            let prompt = predictor_signature(wrap, signature);
            for (variant, adapter) in [AdapterKind::Chat, AdapterKind::Json, AdapterKind::Chat]
                .into_iter()
                .enumerate()
            {
                let seed = wrap_index * 7 + variant * 3;
                let demos = if variant == 0 {
                    Vec::new()
                } else {
                    demos_for(document, &prompt, seed)
                };
                let instructions = (variant == 2).then(|| {
                    "    Replaced instructions.\n\n      Indented line\n\twith a tab.".to_owned()
                });
                cases.push(Case {
                    label: format!(
                        "{module}.{} {} {} #{variant}",
                        signature.name,
                        wrap.name(),
                        adapter.name()
                    ),
                    module: module.to_owned(),
                    signature: signature.name.clone(),
                    wrap,
                    adapter,
                    instructions,
                    demos,
                    inputs: values_for(document, &prompt.inputs, seed + 11),
                });
            }
        }
    }
    cases
}

fn wrap_name(wrap: Module) -> (&'static str, u32) {
    match wrap {
        Module::ChainOfThought => ("chain_of_thought", 0),
        Module::MultiChainComparison { m } => ("multi_chain_comparison", m),
        Module::Predict | Module::BestOfN { .. } => ("predict", 0),
    }
}

#[test]
fn messages_match_dspy_byte_for_byte() {
    let directory = support::temp_dir();
    let mut all_cases = Vec::new();
    let mut documents = Vec::new();
    for file in support::sig_files() {
        if file.document.signatures.is_empty() {
            continue;
        }
        let code = python::generate(
            &file.document,
            &Source::new(file.relative.clone(), &file.module),
        );
        support::write(directory.path(), &format!("{}.py", file.module), &code);
        all_cases.extend(cases(&file.module, &file.document));
        documents.push((file.module.clone(), file.document));
    }
    let spec = json!({
        "dir": directory.path(),
        "cases": all_cases.iter().map(|case| {
            let (wrap, m) = wrap_name(case.wrap);
            json!({
                "module": case.module,
                "signature": case.signature,
                "wrap": wrap,
                "m": m,
                "adapter": case.adapter.name(),
                "instructions": case.instructions,
                "demos": case.demos,
                "inputs": case.inputs,
            })
        }).collect::<Vec<_>>(),
    });
    let mut child = Command::new(support::python_interpreter())
        .arg(support::root().join("python/dspex_format.py"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| {
            panic!(
                "cannot start Python: {error}; {}",
                support::PYTHON_SETUP_HELP
            )
        });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(spec.to_string().as_bytes())
        .expect("write cases");
    let output = child.wait_with_output().expect("python output");
    assert!(
        output.status.success(),
        "dspex_format.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&output.stdout).expect("JSON from Python");
    assert_eq!(results.len(), all_cases.len());

    let mut failures = Vec::new();
    for (case, result) in all_cases.iter().zip(&results) {
        let document = &documents
            .iter()
            .find(|(module, _)| *module == case.module)
            .expect("document")
            .1;
        let signature = document.signature(&case.signature).expect("signature");
        let mut prompt = predictor_signature(case.wrap, signature);
        if let Some(instructions) = &case.instructions {
            prompt = prompt.with_instructions(instructions);
        }
        let ours = adapter::format(case.adapter, document, &prompt, &case.demos, &case.inputs);
        let ours = serde_json::to_value(&ours).expect("messages as JSON");
        match result.get("messages") {
            Some(theirs) if *theirs == ours => {}
            Some(theirs) => failures.push(first_difference(&case.label, theirs, &ours)),
            None => failures.push(format!("{}: DSPy failed: {}", case.label, result["error"])),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from DSPy:\n\n{}",
        failures.len(),
        all_cases.len(),
        failures
            .iter()
            .take(8)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n\n")
    );
    assert!(all_cases.len() > 300, "only {} cases", all_cases.len());
}

/// The first message that differs, with both texts around the first differing byte.
fn first_difference(label: &str, theirs: &Value, ours: &Value) -> String {
    let empty = Vec::new();
    let theirs = theirs.as_array().unwrap_or(&empty);
    let ours = ours.as_array().unwrap_or(&empty);
    if theirs.len() != ours.len() {
        return format!(
            "{label}: DSPy formats {} messages, dspex {}\nDSPy: {theirs:#?}\ndspex: {ours:#?}",
            theirs.len(),
            ours.len()
        );
    }
    for (index, (a, b)) in theirs.iter().zip(ours).enumerate() {
        if a != b {
            let a = a["content"].as_str().unwrap_or_default();
            let b = b["content"].as_str().unwrap_or_default();
            let at = a
                .char_indices()
                .zip(b.chars())
                .find(|((_, x), y)| x != y)
                .map(|((i, _), _)| i)
                .unwrap_or(a.len().min(b.len()));
            let start = a[..at]
                .char_indices()
                .rev()
                .nth(150)
                .map(|(i, _)| i)
                .unwrap_or(0);
            return format!(
                "{label}: message {index} differs at byte {at}\n--- DSPy:\n{}\n--- dspex:\n{}",
                &a[start..(at + 200).min(a.len())].escape_debug(),
                b.get(start..(at + 200).min(b.len()))
                    .unwrap_or(b)
                    .escape_debug()
            );
        }
    }
    format!("{label}: roles differ")
}
