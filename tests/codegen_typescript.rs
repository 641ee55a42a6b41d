//! Checks the TypeScript and JSON Schema codegen targets with real tools: the TypeScript compiler
//! (the `typescript` pinned in `tests/typescript/package.json`, run with `--strict` and the
//! stricter options of `tests/typescript/tsconfig.json`) and Ajv (draft 2020-12, through
//! `tests/typescript/validate.mjs`). The corpus is a set of hand-built documents plus every
//! `.sig` file in `tests/fixtures/good/` and `signatures/`.
//!
//! For every document, a check file next to the generated one assigns example values built from
//! the model (independently of `codegen::typescript`) to each generated interface: all fields,
//! only the required ones, and `null` for every optional one. It also states, with
//! `@ts-expect-error`, what must not compile: a missing required field, an unknown field and a
//! value of the wrong type. It reads each `<Sig>Schema` constant's titles as literal types,
//! which holds only if the constant is the schema `as const`. The same examples are validated
//! against the plain and strict JSON Schema of each signature side, with the outcome each
//! variant promises.
//!
//! Snapshots of both targets (and of the strict schemas) live in `tests/snapshots/`.

mod support;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

use dspex::codegen::json_schema::{self, Side};
use dspex::codegen::{typescript, Source};
use dspex::schema::{Document, Enum, Field, Record, Signature, Type};
use serde_json::{json, Value};

const SETUP_HELP: &str = "install it with `npm ci --prefix tests/typescript` from the \
     repository root (needs Node.js and npm; node_modules stays out of git), then run \
     `cargo test --test codegen_typescript`";

/// The pinned TypeScript compiler. A missing compiler fails the test: type-checking the
/// generated code is never skipped silently.
fn tsc() -> PathBuf {
    let name = if cfg!(windows) { "tsc.cmd" } else { "tsc" };
    support::installed(
        typescript_dir().join("node_modules/.bin").join(name),
        "the TypeScript compiler for the codegen test",
        SETUP_HELP,
    )
}

fn typescript_dir() -> PathBuf {
    support::root().join("tests/typescript")
}

// ---------------------------------------------------------------------------------------------
// The corpus: hand-built documents covering every type, constraint and awkward name.
// ---------------------------------------------------------------------------------------------

/// The block-form QA of the spec.
fn qa() -> Document {
    Document {
        signatures: vec![Signature::new(
            "QA",
            vec![Field::new("question", Type::string()).with_description("the question to answer")],
            vec![
                Field::new("answer", Type::string())
                    .with_description("often between 1 and 5 words"),
                Field::new("confidence", Type::probability())
                    .with_description("how sure you are, from 0 to 1"),
            ],
        )
        .with_instructions(
            "Answer questions with short factoid answers.\n\
             If the question cannot be answered, say so instead of guessing.",
        )],
        ..Document::default()
    }
}

/// Every type and constraint of the spec's table, at field level and nested.
fn all_types() -> Document {
    let code = Type::String {
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
                Field::new("flag", Type::Boolean),
                Field::new("anything", Type::Json),
                Field::new("code", code.clone()),
                Field::new("maybe_code", Type::optional(code.clone())),
                Field::new("maybe_list", Type::optional(Type::list(Type::string()))),
            ],
            vec![
                Field::new(
                    "tags",
                    Type::List {
                        item: Box::new(code),
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
                    Type::list(Type::map(Type::optional(Type::integer_range(
                        Some(0),
                        Some(9),
                    )))),
                ),
                Field::new(
                    "label",
                    Type::literals(&["yes", "say \"what\"", "ünï", "back\\slash"]),
                ),
                Field::new("labels", Type::list(Type::literals(&["a", "b"]))),
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
                Field::new("maybe_items", Type::list(Type::optional(Type::string()))),
            ],
        )],
        ..Document::default()
    }
}

/// Records (used before declared, recursive, mutually recursive, empty) and enums.
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
                Field::new("tree", Type::optional(Type::record("Tree"))).with_description("a tree"),
                Field::new("sentiment", Type::enumeration("Sentiment")),
                Field::new("keywords", Type::list(Type::enumeration("Keywords"))),
                Field::new("nothing", Type::record("Empty")),
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
                    Field::new("tone", Type::optional(Type::enumeration("Sentiment"))),
                ],
            )
            .with_docs("A cited source.")],
            support::people_and_trees(),
        ]
        .concat(),
        enums: vec![
            support::sentiment(),
            Enum::new("Keywords", &["class", "None", "match", "поле"]),
        ],
        programs: Vec::new(),
    }
}

/// Names TypeScript treats specially, and text that could break out of a comment or a string.
fn awkward_names() -> Document {
    let awkward = "ends a comment */ and starts one /* \"quoted\" \\ back\\slash \u{2028} é 日本";
    Document {
        signatures: vec![Signature::new(
            "class",
            vec![
                Field::new("type", Type::string()).with_description(awkward),
                Field::new("class", Type::enumeration("string")),
                Field::new("delete", Type::record("Record")),
                Field::new("поле", Type::string()),
                Field::new("_private", Type::Boolean),
            ],
            vec![
                Field::new("enum", Type::map(Type::record("Record"))),
                Field::new("constructor", Type::literals(&["*/", "\u{2028}"])),
                Field::new("größe", Type::record("Größe")).with_description("non-ASCII"),
                Field::new("größen", Type::list(Type::record("Größe"))),
            ],
        )
        .with_instructions(format!("{awkward}\n\n*/ alone"))],
        records: vec![
            Record::new(
                "Record",
                vec![Field::new("values", Type::map(Type::string()))],
            )
            .with_docs(awkward),
            Record::new(
                "Größe",
                vec![Field::new("value", Type::integer_range(Some(0), None))],
            )
            .with_docs("A size; its name needs percent-encoding in a `$ref`."),
        ],
        enums: vec![Enum::new("string", &["a", "b"]).with_docs("*/")],
        programs: Vec::new(),
    }
}

/// Every hand-built document, with the module name its generated file gets.
fn corpus() -> Vec<(&'static str, Document)> {
    vec![
        ("qa", qa()),
        ("all_types", all_types()),
        ("records_and_enums", records_and_enums()),
        ("awkward_names", awkward_names()),
    ]
}

fn source(module: &str) -> Source {
    Source::new(format!("signatures/{module}.sig"), module)
}

// ---------------------------------------------------------------------------------------------
// Example values, built from the model.
// ---------------------------------------------------------------------------------------------

/// Past this depth, examples take the smallest value a type allows (`[]`, `{}`, `null`).
const FULL_DEPTH: usize = 4;
/// Past this depth a record that requires itself has no finite value; `null as never` stands in.
const MAX_DEPTH: usize = 40;

/// Strings that match the patterns of this corpus and of the `.sig` files in the repository,
/// keyed by the pattern as the model holds it (escapes already applied).
const PATTERN_EXAMPLES: &[(&str, &str)] = &[
    (r"^[a-z]\w*$", "text"),
    (r"^[0-9A-Z -]{3,10}$", "75001"),
    (r"^[A-Z]{2}$", "FR"),
    (r"^[A-Z]{3}$", "ABC"),
    (r"^[^@\s]+@[^@\s]+$", "ada@example.com"),
    (r"^\+?[0-9 ()-]{6,20}$", "+33 1 23 45 67"),
    (r"^\d{3}$", "123"),
    ("^[^\n]+$", "text"),
    (r"^https?://[^#]+(#.*)?$", "https://example.com/a#b"),
];

/// Example values of a document's types, written as JSON (which is also TypeScript) and meant
/// to satisfy every constraint.
struct Examples<'a> {
    document: &'a Document,
    /// Set when a string has a pattern without a known example: TypeScript does not care, but
    /// a JSON Schema may reject the value.
    unsure: bool,
}

impl<'a> Examples<'a> {
    fn new(document: &'a Document) -> Self {
        Examples {
            document,
            unsure: false,
        }
    }

    fn value(&mut self, ty: &Type, depth: usize) -> String {
        let small = depth > FULL_DEPTH;
        if depth > MAX_DEPTH {
            return "null as never".to_owned();
        }
        match ty {
            Type::String {
                min_length,
                max_length,
                pattern,
            } => {
                let text = match pattern {
                    Some(pattern) => self.pattern_example(pattern),
                    None => sized(*min_length, *max_length),
                };
                json_string(&text)
            }
            Type::ReasoningChain => json_string("step by step"),
            Type::Integer { min, max } => clamp(3, *min, *max).to_string(),
            Type::Float { min, max } => clamp(0.5, *min, *max).to_string(),
            Type::Probability { min, max } => {
                let (min, max) = (min.unwrap_or(0.0), max.unwrap_or(1.0));
                clamp(0.5, Some(min), Some(max)).to_string()
            }
            Type::Boolean => "true".to_owned(),
            Type::Json => r#"{"any": [1, "json", null]}"#.to_owned(),
            Type::List {
                item,
                min_items,
                max_items,
            } => {
                let count = count(small, *min_items, *max_items);
                let items: Vec<String> = (0..count).map(|_| self.value(item, depth + 1)).collect();
                format!("[{}]", items.join(", "))
            }
            Type::Map {
                value,
                min_entries,
                max_entries,
            } => {
                let count = count(small, *min_entries, *max_entries);
                let members: Vec<(String, String)> = (0..count)
                    .map(|index| (format!("key{index}"), self.value(value, depth + 1)))
                    .collect();
                object(&members)
            }
            Type::Optional(_) if small => "null".to_owned(),
            Type::Optional(inner) => self.value(inner, depth),
            Type::Literals(literals) => json_string(&literals[literals.len() - 1]),
            Type::Enum(name) => {
                let declared = self.document.enumeration(name).expect("a declared enum");
                json_string(&declared.variants[0].name)
            }
            Type::Record(name) => {
                let declared = self.document.record(name).expect("a declared record");
                let members = self.members(&declared.fields, depth + 1, !small);
                object(&members)
            }
        }
    }

    fn pattern_example(&mut self, pattern: &str) -> String {
        match PATTERN_EXAMPLES.iter().find(|(known, _)| *known == pattern) {
            Some((_, example)) => (*example).to_owned(),
            None => {
                self.unsure = true;
                "text".to_owned()
            }
        }
    }

    /// `(key, value)` for every field, or only the required ones.
    fn members(
        &mut self,
        fields: &[Field],
        depth: usize,
        with_optional: bool,
    ) -> Vec<(String, String)> {
        fields
            .iter()
            .filter(|field| with_optional || !field.ty.is_optional())
            .map(|field| (field.name.clone(), self.value(&field.ty, depth)))
            .collect()
    }
}

/// "text", repeated or cut to fit the length constraints.
fn sized(min: Option<u64>, max: Option<u64>) -> String {
    let length = clamp(4, min, max);
    "text".chars().cycle().take(length as usize).collect()
}

fn clamp<N: PartialOrd + Copy>(value: N, min: Option<N>, max: Option<N>) -> N {
    match (min, max) {
        (Some(min), _) if value < min => min,
        (_, Some(max)) if value > max => max,
        _ => value,
    }
}

/// How many items or entries an example has: one where allowed, the minimum when small.
fn count(small: bool, min: Option<u64>, max: Option<u64>) -> u64 {
    let wanted = if small { 0 } else { 1 };
    clamp(wanted, min, max)
}

/// An object literal; keys are always quoted, so any field name works.
fn object(members: &[(String, String)]) -> String {
    let members: Vec<String> = members
        .iter()
        .map(|(key, value)| format!("{}: {value}", json_string(key)))
        .collect();
    format!("{{{}}}", members.join(", "))
}

/// A value `ty` does not accept, if there is one (`json` accepts everything).
fn wrong_value(ty: &Type) -> Option<String> {
    match ty {
        Type::String { .. } | Type::ReasoningChain => Some("1".to_owned()),
        Type::Integer { .. } | Type::Float { .. } | Type::Probability { .. } | Type::Boolean => {
            Some(json_string("text"))
        }
        Type::Json => None,
        Type::List { .. } | Type::Map { .. } | Type::Record(_) => Some("5".to_owned()),
        Type::Optional(inner) => wrong_value(inner),
        Type::Literals(_) | Type::Enum(_) => Some(json_string("\u{0}not one of them")),
    }
}

/// A JSON string literal, with U+2028 escaped: tsc counts it as a line break, which would move
/// an error away from its `@ts-expect-error` line.
fn json_string(text: &str) -> String {
    Value::String(text.to_owned())
        .to_string()
        .replace('\u{2028}', "\\u2028")
}

/// One example object for an interface or a schema, and who must accept it.
struct Sample {
    kind: &'static str,
    text: String,
    /// Whether the value meets every constraint (see [`Examples::unsure`]).
    sure: bool,
    typescript: bool,
    /// The non-strict JSON Schema.
    plain: bool,
    strict: bool,
}

/// The samples of an object with `fields`: three that must be accepted and up to three that
/// must be rejected. `open` objects (the sides of a signature) accept unknown keys in the
/// non-strict schema.
fn samples(document: &Document, fields: &[Field], open: bool) -> Vec<Sample> {
    let mut examples = Examples::new(document);
    let full = examples.members(fields, 1, true);
    let full_sure = !std::mem::take(&mut examples.unsure);
    let required = examples.members(fields, 1, false);
    let required_sure = !std::mem::take(&mut examples.unsure);
    let nulls: Vec<(String, String)> = fields
        .iter()
        .zip(&full)
        .map(|(field, (key, value))| {
            let value = if field.ty.is_optional() {
                "null"
            } else {
                value
            };
            (key.clone(), value.to_owned())
        })
        .collect();
    let has_optional = fields.iter().any(|field| field.ty.is_optional());
    let mut samples = vec![
        Sample {
            kind: "full",
            text: object(&full),
            sure: full_sure,
            typescript: true,
            plain: true,
            strict: true,
        },
        Sample {
            kind: "required",
            text: object(&required),
            sure: required_sure,
            typescript: true,
            plain: true,
            strict: !has_optional,
        },
        Sample {
            kind: "nulls",
            text: object(&nulls),
            sure: full_sure,
            typescript: true,
            plain: true,
            strict: true,
        },
    ];
    let rejected = |kind, members: &[(String, String)], plain| Sample {
        kind,
        text: object(members),
        sure: true,
        typescript: false,
        plain,
        strict: false,
    };
    if let Some(index) = fields.iter().position(|field| !field.ty.is_optional()) {
        let mut missing = full.clone();
        missing.remove(index);
        samples.push(rejected("missing", &missing, false));
    }
    let mut unknown = full.clone();
    unknown.push(("not_a_field".to_owned(), "1".to_owned()));
    samples.push(rejected("unknown", &unknown, open));
    if let Some((index, value)) = fields
        .iter()
        .enumerate()
        .find_map(|(index, field)| Some((index, wrong_value(&field.ty)?)))
    {
        let mut wrong = full;
        wrong[index].1 = value;
        samples.push(rejected("wrong", &wrong, false));
    }
    samples
}

/// The name the generator gives a declared type, for plain PascalCase names (the renaming of
/// reserved words has its own unit test).
fn plain_type_name(name: &str) -> Option<&str> {
    let mut chars = name.chars();
    let plain = chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    plain.then_some(name)
}

/// The check file for one generated module: assignments that must compile, and ones that must
/// not (`@ts-expect-error` fails the compilation when the next line has no error).
fn check_file(module: &str, document: &Document) -> String {
    let mut checks = format!("import * as generated from \"./{module}\";\n");
    let mut interfaces: Vec<(String, &[Field])> = Vec::new();
    for signature in &document.signatures {
        interfaces.push((format!("{}Input", signature.name), &signature.inputs));
        interfaces.push((format!("{}Output", signature.name), &signature.outputs));
    }
    for record in &document.records {
        if let Some(name) = plain_type_name(&record.name) {
            interfaces.push((name.to_owned(), &record.fields));
        }
    }
    for (index, (interface, fields)) in interfaces.iter().enumerate() {
        checks.push('\n');
        for sample in samples(document, fields, false) {
            if !sample.typescript {
                writeln!(checks, "// @ts-expect-error {}", sample.kind).unwrap();
            }
            writeln!(
                checks,
                "export const check{index}_{}: generated.{interface} = {};",
                sample.kind, sample.text
            )
            .unwrap();
        }
    }
    checks.push('\n');
    for signature in &document.signatures {
        let name = &signature.name;
        for (side, title) in [("inputs", "Inputs"), ("outputs", "Outputs")] {
            writeln!(
                checks,
                "export const {name}{title}Title: \"{name}{title}\" = \
                 generated.{name}Schema.{side}.title;"
            )
            .unwrap();
        }
    }
    checks
}

/// Whether strict mode can express `fields`: no `map` or `json` in them or in the records they
/// use.
fn strict_expressible(document: &Document, fields: &[Field]) -> bool {
    let definitions = document.definitions_used_by(fields);
    let mut types: Vec<&Type> = fields.iter().map(|field| &field.ty).collect();
    for record in definitions.records {
        types.extend(record.fields.iter().map(|field| &field.ty));
    }
    let mut expressible = true;
    for ty in types {
        ty.walk(&mut |ty| {
            if matches!(ty, Type::Map { .. } | Type::Json) {
                expressible = false;
            }
        });
    }
    expressible
}

/// Validation cases for every signature side's plain and strict schema: `{name, schema, value,
/// valid}`, for `tests/typescript/validate.mjs`.
fn schema_cases(module: &str, document: &Document) -> Vec<Value> {
    let mut cases = Vec::new();
    for signature in &document.signatures {
        for (side, fields) in [
            (Side::Inputs, &signature.inputs),
            (Side::Outputs, &signature.outputs),
        ] {
            for strict in [false, true] {
                let schema = json_schema::signature_schema(document, signature, side, strict);
                let schema = match schema {
                    Ok(schema) => schema,
                    Err(error) => {
                        assert!(
                            strict && !strict_expressible(document, fields),
                            "{module}: unexpected strict error: {error}"
                        );
                        continue;
                    }
                };
                assert!(
                    !strict || strict_expressible(document, fields),
                    "{module}: a strict schema for a map or json field"
                );
                for sample in samples(document, fields, true) {
                    let valid = if strict { sample.strict } else { sample.plain };
                    let Ok(value) = serde_json::from_str::<Value>(&sample.text) else {
                        continue; // a `null as never` stand-in
                    };
                    if valid && !sample.sure {
                        continue;
                    }
                    let variant = if strict { "strict" } else { "plain" };
                    cases.push(json!({
                        "name": format!(
                            "{module}: {} {side:?} ({variant}), {} example",
                            signature.name, sample.kind
                        ),
                        "schema": schema,
                        "value": value,
                        "valid": valid,
                    }));
                }
            }
        }
    }
    cases
}

// ---------------------------------------------------------------------------------------------
// Running the tools.
// ---------------------------------------------------------------------------------------------

/// Writes every module and its check file into a fresh directory and type-checks them all in
/// one compiler run; on failure, the message has the compiler's output and the files it read.
fn type_check(modules: &[(String, Document)]) {
    let compiler = tsc();
    let directory = support::temp_dir();
    let mut written = Vec::new();
    for (module, document) in modules {
        let generated = typescript::generate(document, &source(module));
        let checks = check_file(module, document);
        for (name, text) in [
            (format!("{module}.ts"), generated),
            (format!("{module}.check.ts"), checks),
        ] {
            support::write(directory.path(), &name, &text);
            written.push((name, text));
        }
    }
    let base = typescript_dir().join("tsconfig.json");
    let config = json!({"extends": base.to_string_lossy(), "include": ["*.ts"]});
    support::write(directory.path(), "tsconfig.json", config.to_string());

    let output = support::run(
        Command::new(&compiler)
            .arg("--project")
            .arg(directory.path())
            .args(["--strict", "--noEmit", "--pretty", "false"]),
        SETUP_HELP,
    );
    if !output.status.success() {
        let mut report = String::new();
        for (name, text) in &written {
            writeln!(report, "==== {name}\n{text}").unwrap();
        }
        panic!(
            "tsc rejected the generated TypeScript ({}):\n{}{}\n{report}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
    }
}

/// Validates the examples against the schemas with Ajv (draft 2020-12, strict mode on).
fn validate_examples(modules: &[(String, Document)]) {
    let validator = typescript_dir().join("validate.mjs");
    support::installed(
        typescript_dir().join("node_modules/ajv/package.json"),
        "Ajv for the JSON Schema check",
        SETUP_HELP,
    );
    let cases: Vec<Value> = modules
        .iter()
        .flat_map(|(module, document)| schema_cases(module, document))
        .collect();
    assert!(!cases.is_empty(), "no JSON Schema cases");
    let directory = support::temp_dir();
    support::write(
        directory.path(),
        "cases.json",
        Value::Array(cases).to_string(),
    );
    let output = support::run(
        Command::new("node")
            .arg(&validator)
            .arg(directory.path().join("cases.json")),
        SETUP_HELP,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the JSON Schemas disagree with the examples ({}):\n{stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
    );
    print!("{stdout}");
}

fn hand_built_modules() -> Vec<(String, Document)> {
    corpus()
        .into_iter()
        .map(|(module, document)| (module.to_owned(), document))
        .collect()
}

/// Every `.sig` file of [`support::SIG_DIRECTORIES`], compiled, as `(module, document)`.
fn sig_file_modules() -> Vec<(String, Document)> {
    support::sig_files()
        .into_iter()
        .map(|file| (file.module, file.document))
        .collect()
}

#[test]
fn generated_typescript_type_checks() {
    type_check(&hand_built_modules());
}

#[test]
fn generated_typescript_of_every_sig_file_type_checks() {
    type_check(&sig_file_modules());
}

#[test]
fn examples_validate_against_the_generated_json_schemas() {
    validate_examples(&hand_built_modules());
}

#[test]
fn examples_of_every_sig_file_validate_against_its_json_schemas() {
    validate_examples(&sig_file_modules());
}

#[test]
fn a_wrong_example_fails_the_check() {
    // The harness itself: an assignment that must fail makes the compiler fail, so a passing
    // run means something.
    let document = qa();
    let mut checks = check_file("qa", &document);
    checks.push_str("export const wrong: generated.QAInput = {\"question\": 1};\n");
    let compiler = tsc();
    let directory = support::temp_dir();
    support::write(
        directory.path(),
        "qa.ts",
        typescript::generate(&document, &source("qa")),
    );
    support::write(directory.path(), "qa.check.ts", &checks);
    let output = support::run(
        Command::new(&compiler).current_dir(directory.path()).args([
            "--strict",
            "--noEmit",
            "qa.check.ts",
        ]),
        SETUP_HELP,
    );
    assert!(
        !output.status.success(),
        "tsc accepted a string field set to 1"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("qa.check.ts"), "{stdout}");
}

#[test]
fn sig_file_snapshots() {
    for (directory, prefix) in support::SIG_DIRECTORIES {
        let base = support::root().join(directory);
        insta::glob!(base, "*.sig", |path| {
            let stem = path.file_stem().expect("a file stem").to_string_lossy();
            let source = Source::new(format!("{directory}/{stem}.sig"), stem);
            let document = support::compile(path);
            insta::assert_snapshot!(
                format!("{prefix}_typescript"),
                typescript::generate(&document, &source)
            );
            insta::assert_snapshot!(
                format!("{prefix}_json_schema"),
                json_schema::generate(&document, &source)
            );
            let strict = match json_schema::document_schemas(&document, true) {
                Ok(schemas) => format!("{schemas:#}"),
                Err(error) => format!("error: {error}\nhelp: {}", error.help()),
            };
            insta::assert_snapshot!(format!("{prefix}_strict_json_schema"), strict);
        });
    }
}

#[test]
fn typescript_and_json_schema_snapshots() {
    for (module, document) in corpus() {
        insta::assert_snapshot!(
            format!("typescript_{module}"),
            typescript::generate(&document, &source(module))
        );
        insta::assert_snapshot!(
            format!("json_schema_{module}"),
            json_schema::generate(&document, &source(module))
        );
    }
}
