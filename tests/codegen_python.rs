//! Imports the Python that `dspex codegen --target python` writes into real DSPy 3.4.1 and
//! pydantic 2.14.3 (the repository's `.venv`, or the interpreter in `DSPEX_PYTHON`), and checks
//! that DSPy sees exactly what the checked model says: class names, instructions, fields in order
//! with their types, descriptions and constraints (including the constraint text DSPy puts in
//! prompts), records, enums and programs. It also has `dspy.ChatAdapter` format every signature
//! and every program's predictors with sample inputs, which must not raise.
//!
//! `python/dspex_check.py` does the Python side; the expected description is computed here from
//! the model, independently of `codegen::python`. The documents are a hand-built corpus (every
//! row of the spec's table, recursive records, awkward strings) plus every
//! `tests/fixtures/good/*.sig` and `signatures/*.sig`. Set `DSPEX_KEEP_PYTHON=DIR` to keep the
//! generated modules and DSPy's description (with the formatted messages) in `DIR`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use dspex::codegen::{python, Source};
use dspex::schema::{Document, Enum, Field, Module, Program, Record, Signature, Type};
use serde_json::{json, Value};

use dspex::adapter::python::cleandoc;
use support::{python_interpreter, PYTHON_SETUP_HELP as SETUP_HELP};

// ---------------------------------------------------------------------------------------------
// The corpus: hand-built documents covering every row of the spec's table.
// ---------------------------------------------------------------------------------------------

/// The roadmap's three one-line signatures, as the parser will build them.
fn roadmap() -> Document {
    Document {
        signatures: vec![
            Signature::new(
                "Qa",
                vec![Field::new("question", Type::string())],
                vec![
                    Field::new("answer", Type::string()),
                    Field::new("confidence", Type::float()),
                ],
            ),
            Signature::new(
                "Rag",
                vec![
                    Field::new("query", Type::string()),
                    Field::new("documents", Type::list(Type::string())),
                ],
                vec![
                    Field::new("answer", Type::string()),
                    Field::new("sources", Type::list(Type::string())),
                    Field::new("confidence", Type::probability()),
                ],
            ),
            Signature::new(
                "Reasoning",
                vec![
                    Field::new("problem", Type::string()),
                    Field::new("context", Type::string()),
                ],
                vec![
                    Field::new("reasoning", Type::ReasoningChain),
                    Field::new("answer", Type::string()),
                    Field::new("confidence", Type::probability()),
                ],
            ),
        ],
        programs: vec![Program::new("solve", Module::ChainOfThought, "Reasoning")],
        ..Document::default()
    }
}

/// The block-form QA of the spec with every module applied to it.
fn qa_programs() -> Document {
    let qa = support::qa();
    Document {
        signatures: vec![qa],
        programs: vec![
            Program::new("direct", Module::Predict, "QA").with_docs("Predicts directly."),
            Program::new("qa", Module::ChainOfThought, "QA"),
            Program::new("careful", Module::BestOfN { n: 3 }, "QA"),
            Program::new("compare", Module::MultiChainComparison { m: 3 }, "QA"),
            Program::new("compare_two", Module::MultiChainComparison { m: 2 }, "QA"),
        ],
        ..Document::default()
    }
}

/// Every type and constraint of the table, at field level and nested.
fn all_types() -> Document {
    let bounded_string = Type::String {
        min_length: Some(1),
        max_length: Some(40),
        pattern: Some(r"^[a-z]\w*$".to_owned()),
    };
    Document {
        signatures: vec![Signature::new(
            "AllTypes",
            vec![
                Field::new("text", Type::string()),
                Field::new("steps", Type::ReasoningChain),
                Field::new("count", Type::integer_range(Some(-3), Some(5))),
                Field::new("score", Type::float_range(Some(-1.5), Some(1e16))),
                Field::new("tiny", Type::float_range(Some(0.00001), None)),
                Field::new("percent", Type::float_range(Some(0.0), Some(100.0))),
                Field::new("flag", Type::Boolean),
                Field::new("anything", Type::Json),
                Field::new("code", bounded_string.clone()),
                Field::new("maybe_code", Type::optional(bounded_string.clone())),
                Field::new("maybe", Type::optional(Type::integer_range(Some(1), None))),
                Field::new("maybe_list", Type::optional(Type::list(Type::string()))),
            ],
            vec![
                Field::new(
                    "tags",
                    Type::List {
                        item: Box::new(bounded_string.clone()),
                        min_items: Some(1),
                        max_items: Some(3),
                    },
                ),
                Field::new(
                    "weights",
                    Type::Map {
                        value: Box::new(Type::probability()),
                        min_entries: Some(1),
                        max_entries: None,
                    },
                ),
                Field::new(
                    "nested",
                    Type::list(Type::Map {
                        value: Box::new(Type::optional(Type::integer_range(Some(0), Some(9)))),
                        min_entries: None,
                        max_entries: Some(2),
                    }),
                ),
                Field::new(
                    "label",
                    Type::literals(&["yes", "no 'way'", "say \"what\"", "ünï"]),
                ),
                Field::new("maybe_label", Type::optional(Type::literals(&["a"]))),
                Field::new(
                    "narrow",
                    Type::Probability {
                        min: Some(0.25),
                        max: Some(0.75),
                    },
                ),
                Field::new("confidence", Type::optional(Type::probability())),
                Field::new("payload", Type::optional(Type::Json)),
            ],
        )],
        ..Document::default()
    }
}

/// Records (used before they are declared, recursive, mutually recursive) and enums.
fn records_and_enums() -> Document {
    Document {
        signatures: vec![Signature::new(
            "Cite",
            vec![
                Field::new("question", Type::string()),
                Field::new("mood", Type::enumeration("Sentiment")),
            ],
            vec![
                Field::new("sources", Type::list(Type::record("Source"))),
                Field::new("tree", Type::optional(Type::record("Tree"))),
                Field::new("sentiment", Type::enumeration("Sentiment")),
                Field::new("keywords", Type::enumeration("Keywords")),
            ],
        )
        .with_instructions("Cite your sources.")],
        records: [
            vec![Record::new(
                "Source",
                vec![
                    Field::new("title", Type::string()),
                    Field::new("url", Type::string()).with_description("a link to the page"),
                    Field::new("author", Type::record("Person")),
                    Field::new(
                        "year",
                        Type::optional(Type::integer_range(Some(1000), Some(3000))),
                    ),
                    Field::new("confidence", Type::optional(Type::probability()))
                        .with_description("how sure"),
                    Field::new("tone", Type::optional(Type::enumeration("Sentiment"))),
                    Field::new(
                        "quotes",
                        Type::list(Type::String {
                            min_length: None,
                            max_length: Some(280),
                            pattern: None,
                        }),
                    ),
                ],
            )
            .with_docs("A cited source.")],
            support::people_and_trees(),
        ]
        .concat(),
        enums: vec![
            support::sentiment(),
            Enum::new(
                "Keywords",
                &[
                    "class",
                    "class_",
                    "None",
                    "match",
                    "поле",
                    "mro",
                    "_sunder_",
                    "__private",
                    "__dunder__",
                    "name",
                    "value",
                    "_x",
                ],
            ),
        ],
        programs: vec![Program::new("cite", Module::Predict, "Cite")],
    }
}

/// Strings that need escaping everywhere a string is written, and instructions that DSPy's
/// `inspect.cleandoc` changes.
fn awkward_strings() -> Document {
    let awkward =
        "quotes \" ' \"\"\" and \\backslash\\ \\d tab\there\r\nnew line \u{1} \u{2028} é 日本 \
                   e\u{301} \u{200b} end\"";
    Document {
        signatures: vec![
            Signature::new(
                "Awkward",
                vec![Field::new("поле", Type::string()).with_description(awkward)],
                vec![
                    Field::new(
                        "ответ",
                        Type::String {
                            min_length: None,
                            max_length: None,
                            pattern: Some(awkward.to_owned()),
                        },
                    )
                    .with_description("\""),
                    Field::new("reasoning", Type::string()),
                ],
            )
            .with_instructions(awkward),
            Signature::new(
                "Indented",
                vec![Field::new("a", Type::string())],
                vec![Field::new("b", Type::string())],
            )
            .with_instructions("\n  First line after a blank one.\n\tTabbed.\n      Deeper.\n\n"),
            Signature::new(
                "EmptyInstructions",
                vec![Field::new("a", Type::string())],
                vec![Field::new("b", Type::string())],
            )
            .with_instructions(""),
        ],
        programs: vec![
            Program::new("awkward_cot", Module::ChainOfThought, "Awkward")
                .with_docs("Docs with \"\"\" quotes\nand lines."),
            Program::new(
                "awkward_compare",
                Module::MultiChainComparison { m: 1 },
                "Awkward",
            ),
        ],
        ..Document::default()
    }
}

/// Every good fixture and every example signature, compiled by the real front end.
fn fixtures() -> Vec<(String, Document)> {
    support::sig_files()
        .into_iter()
        .map(|file| (file.module, file.document))
        .collect()
}

/// Fields and declarations named like the builtins and modules the generated code uses.
fn shadowing_names() -> Document {
    Document {
        signatures: vec![Signature::new(
            "Shadows",
            vec![
                Field::new("list", Type::list(Type::string())),
                Field::new("dict", Type::map(Type::integer_range(Some(1), None))),
                Field::new("str", Type::string()),
                Field::new("float", Type::float_range(Some(0.0), None)),
                Field::new("dspy", Type::optional(Type::Boolean)),
                Field::new("typing", Type::Json),
                Field::new(
                    "pydantic",
                    Type::list(Type::String {
                        min_length: Some(1),
                        max_length: None,
                        pattern: None,
                    }),
                ),
                Field::new("person", Type::record("person")),
            ],
            vec![
                Field::new("bool", Type::Boolean),
                Field::new("int", Type::integer_range(None, Some(3))),
                Field::new("enum", Type::enumeration("enum")),
                Field::new("shape", Type::record("str")),
            ],
        )],
        records: vec![
            Record::new(
                "person",
                vec![
                    Field::new("str", Type::optional(Type::string())),
                    Field::new("pydantic", Type::optional(Type::probability())),
                    Field::new("list", Type::list(Type::map(Type::string()))),
                ],
            ),
            Record::new("str", vec![Field::new("person", Type::record("person"))])
                .with_docs("A record named like a builtin."),
        ],
        enums: vec![Enum::new("enum", &["str"])],
        programs: vec![
            Program::new("dspy", Module::ChainOfThought, "Shadows"),
            Program::new("typing", Module::BestOfN { n: 2 }, "Shadows"),
        ],
    }
}

fn corpus() -> Vec<(String, Document)> {
    vec![
        ("roadmap".to_owned(), roadmap()),
        ("qa_programs".to_owned(), qa_programs()),
        ("all_types".to_owned(), all_types()),
        ("records_and_enums".to_owned(), records_and_enums()),
        ("awkward_strings".to_owned(), awkward_strings()),
        ("shadowing_names".to_owned(), shadowing_names()),
        ("empty".to_owned(), Document::default()),
    ]
}

// ---------------------------------------------------------------------------------------------
// What DSPy must see, computed from the model.
// ---------------------------------------------------------------------------------------------

/// Python's `repr` of a float (`0.0`, `1e-05`, `1e+16`); cross-checked against the floats Python
/// reads back from the generated code.
fn python_float(value: f64) -> String {
    python::float_repr(value)
}

/// Constraint keywords of a type itself, in pydantic's metadata order, with Python's values.
fn constraints(ty: &Type) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let json_string = |text: &str| serde_json::to_string(text).unwrap_or_default();
    match ty {
        Type::String {
            min_length,
            max_length,
            pattern,
        } => {
            out.extend(min_length.map(|n| ("min_length", n.to_string())));
            out.extend(max_length.map(|n| ("max_length", n.to_string())));
            out.extend(pattern.as_deref().map(|p| ("pattern", json_string(p))));
        }
        Type::Integer { min, max } => {
            out.extend(min.map(|n| ("ge", n.to_string())));
            out.extend(max.map(|n| ("le", n.to_string())));
        }
        Type::Float { min, max } => {
            out.extend(min.map(|n| ("ge", python_float(n))));
            out.extend(max.map(|n| ("le", python_float(n))));
        }
        Type::Probability { min, max } => {
            out.push(("ge", python_float(min.unwrap_or(0.0).max(0.0))));
            out.push(("le", python_float(max.unwrap_or(1.0).min(1.0))));
        }
        Type::List {
            min_items: min,
            max_items: max,
            ..
        }
        | Type::Map {
            min_entries: min,
            max_entries: max,
            ..
        } => {
            out.extend(min.map(|n| ("min_length", n.to_string())));
            out.extend(max.map(|n| ("max_length", n.to_string())));
        }
        _ => {}
    }
    out
}

fn constraint_texts(ty: &Type) -> Vec<String> {
    constraints(ty)
        .into_iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect()
}

/// The canonical annotation `dspex_check.py` prints; `field_level` types give their
/// constraints to the field instead of `Annotated`.
fn annotation(ty: &Type, field_level: bool) -> String {
    let base = match ty {
        Type::Optional(inner) => {
            let inner_field_level = field_level && !inner.is_optional();
            return format!("Optional[{}]", annotation(inner, inner_field_level));
        }
        Type::String { .. } | Type::ReasoningChain => "str".to_owned(),
        Type::Integer { .. } => "int".to_owned(),
        Type::Float { .. } | Type::Probability { .. } => "float".to_owned(),
        Type::Boolean => "bool".to_owned(),
        Type::Json => "Any".to_owned(),
        Type::List { item, .. } => format!("list[{}]", annotation(item, false)),
        Type::Map { value, .. } => format!("dict[str, {}]", annotation(value, false)),
        Type::Literals(values) => {
            let values: Vec<String> = values
                .iter()
                .map(|v| serde_json::to_string(v).unwrap_or_default())
                .collect();
            format!("Literal[{}]", values.join(", "))
        }
        Type::Record(name) => format!("model:{name}"),
        Type::Enum(name) => format!("enum:{name}"),
    };
    let texts = constraint_texts(ty);
    if field_level || texts.is_empty() {
        base
    } else {
        format!("Annotated[{base}, {}]", texts.join(", "))
    }
}

/// The text DSPy's `InputField`/`OutputField` derive from the constraint keywords, in keyword
/// order; this is what the native chat adapter must print after `Constraints: `.
fn dspy_constraint_text(ty: &Type) -> Value {
    let texts: Vec<String> = constraints(ty.required())
        .into_iter()
        .filter_map(|(key, value)| {
            let label = match key {
                "ge" => "greater than or equal to: ",
                "le" => "less than or equal to: ",
                "min_length" => "minimum length: ",
                "max_length" => "maximum length: ",
                _ => return None,
            };
            Some(format!("{label}{value}"))
        })
        .collect();
    if texts.is_empty() {
        Value::Null
    } else {
        Value::String(texts.join(", "))
    }
}

fn default_of(ty: &Type) -> Value {
    if ty.is_optional() {
        json!("None")
    } else {
        Value::Null
    }
}

fn expected_signature_field(field: &Field) -> Value {
    json!({
        "name": field.name,
        "annotation": annotation(&field.ty, true),
        "desc": field.description.clone().unwrap_or_else(|| format!("${{{}}}", field.name)),
        "constraints": dspy_constraint_text(&field.ty),
        "metadata": constraint_texts(field.ty.required()),
        "required": !field.ty.is_optional(),
        "default": default_of(&field.ty),
    })
}

fn field_list(fields: &[Field]) -> String {
    fields
        .iter()
        .map(|field| format!("`{}`", field.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn expected_signature(signature: &Signature) -> Value {
    let default = format!(
        "Given the fields {}, produce the fields {}.",
        field_list(&signature.inputs),
        field_list(&signature.outputs)
    );
    let doc = signature.instructions.clone().unwrap_or(default);
    json!({
        "name": signature.name,
        "doc": doc,
        "instructions": cleandoc(&doc),
        "inputs": signature.inputs.iter().map(expected_signature_field).collect::<Vec<_>>(),
        "outputs": signature.outputs.iter().map(expected_signature_field).collect::<Vec<_>>(),
        "format": {},
    })
}

fn expected_record(record: &Record) -> Value {
    let fields: Vec<Value> = record
        .fields
        .iter()
        .map(|field| {
            json!({
                "name": field.name,
                "annotation": annotation(&field.ty, true),
                "description": field.description,
                "metadata": constraint_texts(field.ty.required()),
                "required": !field.ty.is_optional(),
                "default": default_of(&field.ty),
            })
        })
        .collect();
    json!({
        "name": record.name,
        "doc": record.docs,
        "complete": true,
        "fields": fields,
    })
}

/// An enum as DSPy sees it: its members' values are the variants, in order (the attribute
/// names are Python's business: `class` is written `class_`).
fn expected_enum(enumeration: &Enum) -> Value {
    let values: Vec<&str> = enumeration
        .variants
        .iter()
        .map(|variant| variant.name.as_str())
        .collect();
    json!({"name": enumeration.name, "doc": enumeration.docs, "values": values})
}

/// DSPy's predictors for a program and the fields of each one's signature. DSPy rewrites the
/// signature for `ChainOfThought` (a `reasoning` output first; a signature's own `reasoning`
/// output keeps its type and description but moves there) and `MultiChainComparison` (an input
/// per attempt after the others, a `rationale` output first).
fn expected_program(document: &Document, program: &Program) -> Value {
    let Some(signature) = document.signature(&program.signature) else {
        panic!("program `{}` names a missing signature", program.name);
    };
    let added = |name: &str, description: &str| {
        Field::new(name, Type::string()).with_description(description)
    };
    let first_output = |first: Field| -> Vec<Field> {
        let own = signature
            .outputs
            .iter()
            .find(|field| field.name == first.name);
        std::iter::once(own.cloned().unwrap_or(first.clone()))
            .chain(
                signature
                    .outputs
                    .iter()
                    .filter(|field| field.name != first.name)
                    .cloned(),
            )
            .collect()
    };
    let predictor = |path: &str, inputs: Vec<Field>, outputs: Vec<Field>| {
        json!({
            "path": path,
            "instructions": expected_signature(signature)["instructions"],
            "inputs": inputs.iter().map(expected_signature_field).collect::<Vec<_>>(),
            "outputs": outputs.iter().map(expected_signature_field).collect::<Vec<_>>(),
            "format": {},
        })
    };
    let inputs = signature.inputs.clone();
    let outputs = signature.outputs.clone();
    let (class, parameters, predictor) = match program.module {
        Module::Predict => ("Predict", json!({}), predictor("self", inputs, outputs)),
        Module::ChainOfThought => (
            "ChainOfThought",
            json!({}),
            predictor(
                "predict",
                inputs,
                first_output(added("reasoning", "${reasoning}")),
            ),
        ),
        Module::BestOfN { n } => (
            "BestOfN",
            json!({"N": n, "threshold": 1.0, "module": "Predict"}),
            predictor("module", inputs, outputs),
        ),
        Module::MultiChainComparison { m } => {
            let attempts = (1..=m).map(|index| {
                added(
                    &format!("reasoning_attempt_{index}"),
                    "${reasoning attempt}",
                )
            });
            (
                "MultiChainComparison",
                json!({"M": m}),
                predictor(
                    "predict",
                    inputs.into_iter().chain(attempts).collect(),
                    first_output(added("rationale", "${corrected reasoning}")),
                ),
            )
        }
    };
    json!({
        "name": program.name,
        "class": class,
        "parameters": parameters,
        "predictors": [predictor],
    })
}

fn expected_module(document: &Document) -> Value {
    json!({
        "warnings": [],
        "enums": document.enums.iter().map(expected_enum).collect::<Vec<_>>(),
        "records": document.records.iter().map(expected_record).collect::<Vec<_>>(),
        "signatures": document.signatures.iter().map(expected_signature).collect::<Vec<_>>(),
        "programs": document
            .programs
            .iter()
            .map(|program| expected_program(document, program))
            .collect::<Vec<_>>(),
    })
}

/// The part of `actual` that `expected` describes: object keys `expected` names, arrays element
/// by element. The module's classes and programs are matched by name: Python defines records in
/// dependency order, and a module's dictionary keeps a name where it was first bound (`import
/// typing` binds `typing` before a program called `typing` is assigned). An expected empty
/// object `{}` under `format` asks only that formatting worked.
fn project(actual: &Value, expected: &Value) -> Value {
    match (actual, expected) {
        (Value::Object(actual), Value::Object(expected)) => expected
            .iter()
            .map(|(key, expected_value)| {
                let actual_value = actual.get(key).cloned().unwrap_or(Value::Null);
                let value = if key == "format" {
                    match actual_value.get("error") {
                        Some(error) => json!({"error": error}),
                        None => json!({}),
                    }
                } else if ["enums", "records", "signatures", "programs"].contains(&key.as_str()) {
                    project(&by_name(&actual_value, expected_value), expected_value)
                } else {
                    project(&actual_value, expected_value)
                };
                (key.clone(), value)
            })
            .collect(),
        (Value::Array(actual), Value::Array(expected)) if actual.len() == expected.len() => {
            Value::Array(
                actual
                    .iter()
                    .zip(expected)
                    .map(|(actual, expected)| project(actual, expected))
                    .collect(),
            )
        }
        (actual, _) => actual.clone(),
    }
}

/// `actual`'s elements reordered to follow the names in `expected` (unmatched ones last).
fn by_name(actual: &Value, expected: &Value) -> Value {
    let (Some(actual), Some(expected)) = (actual.as_array(), expected.as_array()) else {
        return actual.clone();
    };
    let mut remaining = actual.clone();
    let mut ordered = Vec::new();
    for wanted in expected {
        if let Some(index) = remaining
            .iter()
            .position(|item| item.get("name") == wanted.get("name"))
        {
            ordered.push(remaining.remove(index));
        }
    }
    ordered.extend(remaining);
    Value::Array(ordered)
}

// ---------------------------------------------------------------------------------------------
// Running DSPy.
// ---------------------------------------------------------------------------------------------

/// Writes each document's module, runs `dspex_check.py` over all of them and returns its JSON.
/// With `DSPEX_KEEP_PYTHON=DIR` the modules and the JSON are also left in `DIR` to look at.
fn describe_in_dspy(documents: &[(String, Document)]) -> (Value, Vec<(String, String)>) {
    let python = python_interpreter();
    let directory = support::temp_dir();
    let keep = std::env::var_os("DSPEX_KEEP_PYTHON").map(PathBuf::from);
    let mut modules = Vec::new();
    for (label, document) in documents {
        let module = format!("dspex_case_{label}");
        let source = Source::new(format!("{label}.sig"), &module);
        let code = python::generate(document, &source);
        support::write(directory.path(), &format!("{module}.py"), &code);
        modules.push((module, code));
    }
    let script = support::root().join("python/dspex_check.py");
    let output = support::run(
        Command::new(&python)
            .arg(&script)
            .arg(directory.path())
            .args(modules.iter().map(|(module, _)| module))
            .env("PYTHONDONTWRITEBYTECODE", "1"),
        SETUP_HELP,
    );
    assert!(
        output.status.success(),
        "`{} {}` failed ({}); is DSPy installed there? {SETUP_HELP}\nstderr:\n{}",
        python.display(),
        script.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    if let Some(keep) = &keep {
        keep_output(keep, &modules, &output.stdout);
    }
    let description: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "dspex_check.py printed no JSON ({error}):\n{}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    (description, modules)
}

fn keep_output(directory: &Path, modules: &[(String, String)], description: &[u8]) {
    std::fs::create_dir_all(directory)
        .unwrap_or_else(|error| panic!("{}: {error}", directory.display()));
    for (module, code) in modules {
        support::write(directory, &format!("{module}.py"), code);
    }
    support::write(directory, "description.json", description);
}

/// One line per place where `actual` differs from `expected`, named by its JSON path.
fn differ(expected: &Value, actual: &Value, path: &str, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(expected), Value::Object(actual)) => {
            for (key, expected_value) in expected {
                let actual_value = actual.get(key).unwrap_or(&Value::Null);
                let name = expected_value
                    .get("name")
                    .and_then(Value::as_str)
                    .map_or_else(|| key.clone(), |name| format!("{key}({name})"));
                differ(expected_value, actual_value, &format!("{path}.{name}"), out);
            }
        }
        (Value::Array(expected), Value::Array(actual)) if expected.len() == actual.len() => {
            for (index, (expected, actual)) in expected.iter().zip(actual).enumerate() {
                let name = expected
                    .get("name")
                    .and_then(Value::as_str)
                    .map_or_else(|| index.to_string(), str::to_owned);
                differ(expected, actual, &format!("{path}[{name}]"), out);
            }
        }
        _ if expected == actual => {}
        _ => out.push(format!(
            "  {path}:\n    expected {}\n    DSPy has {}",
            compact(expected),
            compact(actual)
        )),
    }
}

fn compact(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Checks every document against DSPy and reports all mismatches at once.
fn assert_dspy_sees_the_model(documents: &[(String, Document)]) {
    let (description, modules) = describe_in_dspy(documents);
    assert_eq!(
        description["versions"],
        json!({"dspy": "3.4.1", "pydantic": "2.14.3"}),
        "parity is defined against dspy==3.4.1 and pydantic==2.14.3: {SETUP_HELP}"
    );
    let mut failures = Vec::new();
    for ((_, document), (module, code)) in documents.iter().zip(&modules) {
        let actual = &description["modules"][module];
        if let Some(error) = actual.get("import_error") {
            failures.push(format!(
                "module `{module}` does not import:\n{}\n--- generated code ---\n{code}",
                error.as_str().unwrap_or_default()
            ));
            continue;
        }
        let expected = expected_module(document);
        let projected = project(actual, &expected);
        let mut differences = Vec::new();
        differ(&expected, &projected, module, &mut differences);
        if !differences.is_empty() {
            failures.push(format!(
                "module `{module}`: DSPy sees something else than the model says:\n{}\n\
                 --- generated code ---\n{code}",
                differences.join("\n")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn generated_python_is_what_dspy_sees() {
    assert_dspy_sees_the_model(&corpus());
}

#[test]
fn every_good_fixture_is_what_dspy_sees() {
    assert_dspy_sees_the_model(&fixtures());
}

#[test]
fn cleandoc_matches_python() {
    assert_eq!(cleandoc("  a\n    b\n      c\n\n"), "a\nb\n  c");
    assert_eq!(cleandoc("\n\n x"), "x");
    assert_eq!(cleandoc("a\tb"), "a       b");
}
