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

use std::path::{Path, PathBuf};
use std::process::Command;

use dspex::codegen::{python, Source};
use dspex::schema::{Document, Enum, Field, Module, Program, Record, Signature, Type, Variant};
use serde_json::{json, Value};

const SETUP_HELP: &str = "set up the venv from the repository root with \
     `python3 -m venv .venv && .venv/bin/pip install -r python/requirements.txt` \
     (see the README's testing section), or point `DSPEX_PYTHON` at an interpreter that has \
     dspy==3.4.1 and pydantic==2.14.3; then run `cargo test --test codegen_python`";

/// The interpreter with DSPy: `DSPEX_PYTHON`, else `.venv/bin/python` at the repository root.
/// A missing interpreter fails the test: parity with DSPy is never skipped silently.
fn python_interpreter() -> PathBuf {
    let interpreter = match std::env::var_os("DSPEX_PYTHON") {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"),
    };
    assert!(
        interpreter.exists(),
        "the Python interpreter for the DSPy parity test is missing at `{}`: {SETUP_HELP}",
        interpreter.display()
    );
    interpreter
}

// ---------------------------------------------------------------------------------------------
// The corpus: hand-built documents covering every row of the spec's table.
// ---------------------------------------------------------------------------------------------

fn field(name: &str, ty: Type) -> Field {
    Field {
        name: name.to_owned(),
        ty,
        description: None,
    }
}

fn described(name: &str, ty: Type, description: &str) -> Field {
    Field {
        description: Some(description.to_owned()),
        ..field(name, ty)
    }
}

fn string() -> Type {
    Type::string()
}

fn probability() -> Type {
    Type::Probability {
        min: None,
        max: None,
    }
}

fn float() -> Type {
    Type::Float {
        min: None,
        max: None,
    }
}

fn integer(min: Option<i64>, max: Option<i64>) -> Type {
    Type::Integer { min, max }
}

fn list(item: Type) -> Type {
    Type::List {
        item: Box::new(item),
        min_items: None,
        max_items: None,
    }
}

fn optional(inner: Type) -> Type {
    Type::Optional(Box::new(inner))
}

fn signature(name: &str, inputs: Vec<Field>, outputs: Vec<Field>) -> Signature {
    Signature {
        name: name.to_owned(),
        instructions: None,
        inputs,
        outputs,
    }
}

fn program(name: &str, module: Module, signature: &str) -> Program {
    Program {
        name: name.to_owned(),
        docs: None,
        module,
        signature: signature.to_owned(),
    }
}

/// The roadmap's three one-line signatures, as the parser will build them.
fn roadmap() -> Document {
    Document {
        signatures: vec![
            signature(
                "Qa",
                vec![field("question", string())],
                vec![field("answer", string()), field("confidence", float())],
            ),
            signature(
                "Rag",
                vec![field("query", string()), field("documents", list(string()))],
                vec![
                    field("answer", string()),
                    field("sources", list(string())),
                    field("confidence", probability()),
                ],
            ),
            signature(
                "Reasoning",
                vec![field("problem", string()), field("context", string())],
                vec![
                    field("reasoning", Type::ReasoningChain),
                    field("answer", string()),
                    field("confidence", probability()),
                ],
            ),
        ],
        programs: vec![program("solve", Module::ChainOfThought, "Reasoning")],
        ..Document::default()
    }
}

/// The block-form QA of the spec with every module applied to it.
fn qa_programs() -> Document {
    let mut qa = signature(
        "QA",
        vec![described("question", string(), "the question to answer")],
        vec![
            described("answer", string(), "often between 1 and 5 words"),
            field("confidence", probability()),
        ],
    );
    qa.instructions = Some("Answer questions with short factoid answers.".to_owned());
    Document {
        signatures: vec![qa],
        programs: vec![
            Program {
                docs: Some("Predicts directly.".to_owned()),
                ..program("direct", Module::Predict, "QA")
            },
            program("qa", Module::ChainOfThought, "QA"),
            program("careful", Module::BestOfN { n: 3 }, "QA"),
            program("compare", Module::MultiChainComparison { m: 3 }, "QA"),
            program("compare_two", Module::MultiChainComparison { m: 2 }, "QA"),
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
        signatures: vec![signature(
            "AllTypes",
            vec![
                field("text", string()),
                field("steps", Type::ReasoningChain),
                field("count", integer(Some(-3), Some(5))),
                field(
                    "score",
                    Type::Float {
                        min: Some(-1.5),
                        max: Some(1e16),
                    },
                ),
                field(
                    "tiny",
                    Type::Float {
                        min: Some(0.00001),
                        max: None,
                    },
                ),
                field(
                    "percent",
                    Type::Float {
                        min: Some(0.0),
                        max: Some(100.0),
                    },
                ),
                field("flag", Type::Boolean),
                field("anything", Type::Json),
                field("code", bounded_string.clone()),
                field("maybe_code", optional(bounded_string.clone())),
                field("maybe", optional(integer(Some(1), None))),
                field("maybe_list", optional(list(string()))),
            ],
            vec![
                field(
                    "tags",
                    Type::List {
                        item: Box::new(bounded_string.clone()),
                        min_items: Some(1),
                        max_items: Some(3),
                    },
                ),
                field(
                    "weights",
                    Type::Map {
                        value: Box::new(probability()),
                        min_entries: Some(1),
                        max_entries: None,
                    },
                ),
                field(
                    "nested",
                    list(Type::Map {
                        value: Box::new(optional(integer(Some(0), Some(9)))),
                        min_entries: None,
                        max_entries: Some(2),
                    }),
                ),
                field(
                    "label",
                    Type::Literals(vec![
                        "yes".to_owned(),
                        "no 'way'".to_owned(),
                        "say \"what\"".to_owned(),
                        "ünï".to_owned(),
                    ]),
                ),
                field(
                    "maybe_label",
                    optional(Type::Literals(vec!["a".to_owned()])),
                ),
                field(
                    "narrow",
                    Type::Probability {
                        min: Some(0.25),
                        max: Some(0.75),
                    },
                ),
                field("confidence", optional(probability())),
                field("payload", optional(Type::Json)),
            ],
        )],
        ..Document::default()
    }
}

/// Records (used before they are declared, recursive, mutually recursive) and enums.
fn records_and_enums() -> Document {
    Document {
        signatures: vec![Signature {
            instructions: Some("Cite your sources.".to_owned()),
            ..signature(
                "Cite",
                vec![
                    field("question", string()),
                    field("mood", Type::Enum("Sentiment".to_owned())),
                ],
                vec![
                    field("sources", list(Type::Record("Source".to_owned()))),
                    field("tree", optional(Type::Record("Tree".to_owned()))),
                    field("sentiment", Type::Enum("Sentiment".to_owned())),
                    field("keywords", Type::Enum("Keywords".to_owned())),
                ],
            )
        }],
        records: vec![
            Record {
                name: "Source".to_owned(),
                docs: Some("A cited source.".to_owned()),
                fields: vec![
                    field("title", string()),
                    described("url", string(), "a link to the page"),
                    field("author", Type::Record("Person".to_owned())),
                    field("year", optional(integer(Some(1000), Some(3000)))),
                    Field {
                        description: Some("how sure".to_owned()),
                        ..field("confidence", optional(probability()))
                    },
                    field("tone", optional(Type::Enum("Sentiment".to_owned()))),
                    field(
                        "quotes",
                        list(Type::String {
                            min_length: None,
                            max_length: Some(280),
                            pattern: None,
                        }),
                    ),
                ],
            },
            Record {
                name: "Person".to_owned(),
                docs: Some("Someone.\n\n  Indented second paragraph.".to_owned()),
                fields: vec![
                    field("prénom", string()),
                    field("straße", optional(string())),
                ],
            },
            Record {
                name: "Tree".to_owned(),
                docs: None,
                fields: vec![
                    field("label", string()),
                    field("children", list(Type::Record("Tree".to_owned()))),
                    field("owner", optional(Type::Record("Owner".to_owned()))),
                ],
            },
            Record {
                name: "Owner".to_owned(),
                docs: None,
                fields: vec![
                    field("trees", list(Type::Record("Tree".to_owned()))),
                    field(
                        "poles",
                        Type::Map {
                            value: Box::new(Type::Record("Owner".to_owned())),
                            min_entries: None,
                            max_entries: None,
                        },
                    ),
                ],
            },
            Record {
                name: "Empty".to_owned(),
                docs: None,
                fields: vec![],
            },
        ],
        enums: vec![
            Enum {
                name: "Sentiment".to_owned(),
                docs: Some("How it feels.".to_owned()),
                variants: ["positive", "negative", "neutral"]
                    .iter()
                    .map(|name| Variant {
                        name: (*name).to_owned(),
                        description: Some(format!("feels {name}")),
                    })
                    .collect(),
            },
            Enum {
                name: "Keywords".to_owned(),
                docs: None,
                variants: [
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
                ]
                .iter()
                .map(|name| Variant {
                    name: (*name).to_owned(),
                    description: None,
                })
                .collect(),
            },
        ],
        programs: vec![program("cite", Module::Predict, "Cite")],
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
            Signature {
                instructions: Some(awkward.to_owned()),
                ..signature(
                    "Awkward",
                    vec![described("поле", string(), awkward)],
                    vec![
                        described(
                            "ответ",
                            Type::String {
                                min_length: None,
                                max_length: None,
                                pattern: Some(awkward.to_owned()),
                            },
                            "\"",
                        ),
                        field("reasoning", string()),
                    ],
                )
            },
            Signature {
                instructions: Some(
                    "\n  First line after a blank one.\n\tTabbed.\n      Deeper.\n\n".to_owned(),
                ),
                ..signature(
                    "Indented",
                    vec![field("a", string())],
                    vec![field("b", string())],
                )
            },
            Signature {
                instructions: Some(String::new()),
                ..signature(
                    "EmptyInstructions",
                    vec![field("a", string())],
                    vec![field("b", string())],
                )
            },
        ],
        programs: vec![
            Program {
                docs: Some("Docs with \"\"\" quotes\nand lines.".to_owned()),
                ..program("awkward_cot", Module::ChainOfThought, "Awkward")
            },
            program(
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
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths: Vec<PathBuf> = ["tests/fixtures/good", "signatures"]
        .iter()
        .flat_map(|directory| {
            std::fs::read_dir(root.join(directory))
                .unwrap_or_else(|error| panic!("{directory}: {error}"))
                .map(|entry| entry.map(|entry| entry.path()))
                .collect::<Result<Vec<_>, _>>()
                .unwrap_or_else(|error| panic!("{directory}: {error}"))
        })
        .filter(|path| path.extension().is_some_and(|extension| extension == "sig"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no fixtures found");
    paths
        .iter()
        .map(|path| {
            let relative = path.strip_prefix(root).unwrap_or(path);
            let label = relative
                .with_extension("")
                .to_string_lossy()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "_");
            (label, compile(path))
        })
        .collect()
}

/// Compiles one `.sig` file, which must have no errors.
fn compile(path: &Path) -> Document {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    dspex::compile_str(&text, &path.to_string_lossy())
        .unwrap_or_else(|errors| panic!("{} does not compile: {errors:#?}", path.display()))
}

/// Fields and declarations named like the builtins and modules the generated code uses.
fn shadowing_names() -> Document {
    let map = |value: Type| Type::Map {
        value: Box::new(value),
        min_entries: None,
        max_entries: None,
    };
    Document {
        signatures: vec![signature(
            "Shadows",
            vec![
                field("list", list(string())),
                field("dict", map(integer(Some(1), None))),
                field("str", string()),
                field(
                    "float",
                    Type::Float {
                        min: Some(0.0),
                        max: None,
                    },
                ),
                field("dspy", optional(Type::Boolean)),
                field("typing", Type::Json),
                field(
                    "pydantic",
                    list(Type::String {
                        min_length: Some(1),
                        max_length: None,
                        pattern: None,
                    }),
                ),
                field("person", Type::Record("person".to_owned())),
            ],
            vec![
                field("bool", Type::Boolean),
                field("int", integer(None, Some(3))),
                field("enum", Type::Enum("enum".to_owned())),
                field("shape", Type::Record("str".to_owned())),
            ],
        )],
        records: vec![
            Record {
                name: "person".to_owned(),
                docs: None,
                fields: vec![
                    field("str", optional(string())),
                    field("pydantic", optional(probability())),
                    field("list", list(map(string()))),
                ],
            },
            Record {
                name: "str".to_owned(),
                docs: Some("A record named like a builtin.".to_owned()),
                fields: vec![field("person", Type::Record("person".to_owned()))],
            },
        ],
        enums: vec![Enum {
            name: "enum".to_owned(),
            docs: None,
            variants: vec![Variant {
                name: "str".to_owned(),
                description: None,
            }],
        }],
        programs: vec![
            program("dspy", Module::ChainOfThought, "Shadows"),
            program("typing", Module::BestOfN { n: 2 }, "Shadows"),
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

/// Python 3.11's `inspect.cleandoc`, which DSPy applies to a signature's docstring.
fn cleandoc(doc: &str) -> String {
    let mut lines: Vec<String> = expand_tabs(doc).split('\n').map(str::to_owned).collect();
    let margin = lines
        .iter()
        .skip(1)
        .filter(|line| !line.trim_start().is_empty())
        .map(|line| line.chars().count() - line.trim_start().chars().count())
        .min();
    if let Some(first) = lines.first_mut() {
        *first = first.trim_start().to_owned();
    }
    if let Some(margin) = margin {
        for line in lines.iter_mut().skip(1) {
            *line = line.chars().skip(margin).collect();
        }
    }
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    while lines.first().is_some_and(String::is_empty) {
        lines.remove(0);
    }
    lines.join("\n")
}

/// Python's `str.expandtabs()` (tab size 8, columns restart after `\n` and `\r`).
fn expand_tabs(text: &str) -> String {
    let mut out = String::new();
    let mut column = 0;
    for character in text.chars() {
        match character {
            '\t' => {
                let spaces = 8 - column % 8;
                out.push_str(&" ".repeat(spaces));
                column += spaces;
            }
            '\n' | '\r' => {
                out.push(character);
                column = 0;
            }
            other => {
                out.push(other);
                column += 1;
            }
        }
    }
    out
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
    let added = |name: &str, description: &str| described(name, string(), description);
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
    let directory = tempfile::tempdir().unwrap_or_else(|error| panic!("temp dir: {error}"));
    let keep = std::env::var_os("DSPEX_KEEP_PYTHON").map(PathBuf::from);
    let mut modules = Vec::new();
    for (label, document) in documents {
        let module = format!("dspex_case_{label}");
        let source = Source {
            path: format!("{label}.sig"),
            module: module.clone(),
        };
        let code = python::generate(document, &source);
        let path = directory.path().join(format!("{module}.py"));
        std::fs::write(&path, &code).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        modules.push((module, code));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/dspex_check.py");
    let output = Command::new(&python)
        .arg(&script)
        .arg(directory.path())
        .args(modules.iter().map(|(module, _)| module))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|error| panic!("running `{}`: {error}; {SETUP_HELP}", python.display()));
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
    let write = |name: &str, contents: &[u8]| {
        let path = directory.join(name);
        std::fs::write(&path, contents)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    };
    std::fs::create_dir_all(directory)
        .unwrap_or_else(|error| panic!("{}: {error}", directory.display()));
    for (module, code) in modules {
        write(&format!("{module}.py"), code.as_bytes());
    }
    write("description.json", description);
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
