//! Compiles the Rust that `dspex codegen --target rust` writes and sends sample JSON through
//! every generated input and output type.
//!
//! The crate in `tests/codegen_rust/` is copied into the target directory, one module per
//! document goes into its `src/generated/`, and `src/cases.rs` lists sample JSON built here
//! from the model: values that must round-trip unchanged (optional fields present and absent,
//! every enum variant and literal) and values that must be rejected (a required field left
//! out, a string that is no variant). The crate is then linted, run and doc-tested with its
//! own target directory, kept between runs so that only the generated code is rebuilt.

mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use dspex::codegen::{rust, Source};
use dspex::schema::{Document, Enum, Field, Record, Signature, Type};
use serde_json::{json, Map, Value};

/// One document to generate, with the module it becomes in the check crate.
struct Case {
    module: String,
    source: Source,
    document: Document,
}

#[test]
fn generated_rust_compiles_and_round_trips_json() {
    let cases = all_cases();
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("codegen-rust-check");
    let crate_dir = scratch.join("crate");
    let target_dir = scratch.join("target");
    let template = support::root().join("tests/codegen_rust");

    // The template's files, with the generated modules and the cases in place of its
    // placeholders.
    let mut files = BTreeMap::new();
    read_tree(&template, Path::new(""), &mut files);
    let mut modules = String::from("//! Written by `tests/codegen_rust.rs`.\n\n");
    let mut samples = Vec::new();
    for case in &cases {
        let code = rust::generate(&case.document, &case.source);
        files.insert(format!("src/generated/{}.rs", case.module).into(), code);
        writeln!(modules, "pub mod {};", case.module).unwrap();
        samples.extend(samples_for(case));
    }
    files.insert("src/generated/mod.rs".into(), modules);
    files.insert("src/cases.rs".into(), cases_source(&samples));
    write_crate(&crate_dir, &files);

    let in_crate = |arguments: &[&str]| cargo(&crate_dir, &target_dir, arguments);
    // Generated code must not add lint warnings to the crate that includes it.
    if in_crate(&["clippy", "--version"]).is_ok() {
        in_crate(&["clippy", "--all-targets", "--", "-D", "warnings"])
            .unwrap_or_else(|e| panic!("{e}"));
    } else {
        eprintln!("clippy is not installed; only rustc's warnings are checked");
    }
    let report = in_crate(&["run", "--quiet"]).unwrap_or_else(|e| panic!("{e}"));
    let expected = format!("checked {} cases, 0 failed", samples.len());
    assert!(
        report.contains(&expected),
        "expected `{expected}`, got:\n{report}"
    );
    // Descriptions must never turn into doctests that do not compile.
    in_crate(&["test", "--doc", "--quiet"]).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn generated_rust_is_rustfmt_clean() {
    if Command::new("rustfmt").arg("--version").output().is_err() {
        eprintln!("rustfmt is not installed; skipped");
        return;
    }
    let directory = support::temp_dir();
    let mut files = Vec::new();
    for case in all_cases() {
        let name = format!("{}.rs", case.module);
        support::write(
            directory.path(),
            &name,
            rust::generate(&case.document, &case.source),
        );
        files.push(directory.path().join(name));
    }
    let output = Command::new("rustfmt")
        .args(["--check", "--edition", "2021"])
        .args(&files)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "rustfmt would change the generated code:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Reads the files under `directory` into `files`, keyed by their path relative to the
/// template.
fn read_tree(directory: &Path, relative: &Path, files: &mut BTreeMap<PathBuf, String>) {
    for entry in std::fs::read_dir(directory.join(relative)).unwrap() {
        let entry = entry.unwrap();
        let name = relative.join(entry.file_name());
        if name == Path::new("target") || name == Path::new("Cargo.lock") {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            read_tree(directory, &name, files);
        } else {
            files.insert(name, std::fs::read_to_string(entry.path()).unwrap());
        }
    }
}

/// Writes the check crate. Only files that changed are written, so that cargo rebuilds only
/// what did, and modules of an earlier run are removed.
fn write_crate(crate_dir: &Path, files: &BTreeMap<PathBuf, String>) {
    for (name, contents) in files {
        let path = crate_dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        if std::fs::read_to_string(&path).ok().as_deref() != Some(contents.as_str()) {
            std::fs::write(&path, contents).unwrap();
        }
    }
    for entry in std::fs::read_dir(crate_dir.join("src/generated")).unwrap() {
        let path = entry.unwrap().path();
        if !files.contains_key(path.strip_prefix(crate_dir).unwrap()) {
            std::fs::remove_file(path).unwrap();
        }
    }
    // Same dependency versions as dspex itself: already downloaded, and no surprise upgrades.
    let lock = crate_dir.join("Cargo.lock");
    let main_lock = support::root().join("Cargo.lock");
    if !lock.exists() && main_lock.exists() {
        std::fs::copy(main_lock, lock).unwrap();
    }
}

/// Runs cargo in the check crate: its stdout, or on failure everything it printed.
fn cargo(crate_dir: &Path, target_dir: &Path, arguments: &[&str]) -> Result<String, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let started = std::time::Instant::now();
    let output = Command::new(cargo)
        .args(arguments)
        .current_dir(crate_dir)
        .env("CARGO_TARGET_DIR", target_dir)
        .output()
        .map_err(|error| error.to_string())?;
    eprintln!(
        "`cargo {}` took {:.1?}",
        arguments.join(" "),
        started.elapsed()
    );
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        return Ok(stdout);
    }
    Err(format!(
        "`cargo {}` failed in {}:\n--- stdout\n{stdout}\n--- stderr\n{}",
        arguments.join(" "),
        crate_dir.display(),
        String::from_utf8_lossy(&output.stderr)
    ))
}

// ---------------------------------------------------------------------------------------------
// Sample values

/// One JSON text for one generated type.
struct Sample {
    type_path: String,
    about: String,
    json: String,
    accept: bool,
}

/// Samples for every signature of a case. There are enough of them that every enum variant
/// and literal appears in some field; even ones have every optional field, odd ones none.
fn samples_for(case: &Case) -> Vec<Sample> {
    let document = &case.document;
    let mut samples = Vec::new();
    for (signature, names) in document
        .signatures
        .iter()
        .zip(rust::signature_types(document))
    {
        let rounds = choices_needed(document, signature).max(2);
        for (fields, type_name) in [
            (&signature.inputs, &names.input),
            (&signature.outputs, &names.output),
        ] {
            let type_path = format!("{}::{type_name}", case.module);
            for round in 0..rounds {
                let sampler = Sampler {
                    document,
                    round,
                    with_optionals: round % 2 == 0,
                };
                let Some(object) = sampler.object(fields, 0) else {
                    continue;
                };
                let optionals = if sampler.with_optionals {
                    "with"
                } else {
                    "without"
                };
                samples.push(Sample {
                    type_path: type_path.clone(),
                    about: format!("round {round}, {optionals} optional fields"),
                    json: Value::Object(object.clone()).to_string(),
                    accept: true,
                });
                if round > 0 {
                    continue;
                }
                samples.extend(rejections(fields, &object, &type_path));
            }
        }
    }
    samples
}

/// Variations of a valid object that the type must reject: each required field left out,
/// and each enum or literal field given a string that is none of its values.
fn rejections(fields: &[Field], object: &Map<String, Value>, type_path: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for field in fields {
        if !field.ty.is_optional() {
            let mut without = object.clone();
            without.remove(&field.name);
            samples.push(Sample {
                type_path: type_path.to_string(),
                about: format!("required `{}` left out", field.name),
                json: Value::Object(without).to_string(),
                accept: false,
            });
        }
        if matches!(field.ty.required(), Type::Enum(_) | Type::Literals(_)) {
            let mut wrong = object.clone();
            wrong.insert(field.name.clone(), json!("\u{1}none of the values"));
            samples.push(Sample {
                type_path: type_path.to_string(),
                about: format!("`{}` is not one of its values", field.name),
                json: Value::Object(wrong).to_string(),
                accept: false,
            });
        }
    }
    samples
}

/// The largest number of values any enum or literal union reachable from a signature has.
fn choices_needed(document: &Document, signature: &Signature) -> usize {
    let fields = signature.inputs.iter().chain(&signature.outputs);
    let used = document.definitions_used_by(fields.clone());
    let record_fields = used.records.iter().flat_map(|r| &r.fields);
    let mut most = used
        .enums
        .iter()
        .map(|e| e.variants.len())
        .max()
        .unwrap_or(0);
    for field in fields.chain(record_fields) {
        field.ty.walk(&mut |ty| {
            if let Type::Literals(values) = ty {
                most = most.max(values.len());
            }
        });
    }
    most
}

/// Builds JSON values that fit a type and its constraints.
struct Sampler<'a> {
    document: &'a Document,
    /// Picks which enum variant or literal each field gets, and varies numbers and strings.
    round: usize,
    with_optionals: bool,
}

/// Past this many nested records, lists and maps, optional fields are left out and lists
/// and maps are as short as their constraints allow, so that recursive records end and deep
/// lists stay small.
const SHALLOW_AFTER: usize = 3;
/// Past this, a value cannot be built at all (only a record that requires itself).
const GIVE_UP_AFTER: usize = 100;

impl Sampler<'_> {
    fn object(&self, fields: &[Field], depth: usize) -> Option<Map<String, Value>> {
        let mut object = Map::new();
        for field in fields {
            if field.ty.is_optional() && (!self.with_optionals || depth >= SHALLOW_AFTER) {
                continue;
            }
            object.insert(field.name.clone(), self.value(field.ty.required(), depth)?);
        }
        Some(object)
    }

    fn value(&self, ty: &Type, depth: usize) -> Option<Value> {
        let round = self.round;
        Some(match ty {
            Type::String {
                min_length,
                max_length,
                pattern,
            } => Value::String(match pattern {
                Some(pattern) => string_matching(pattern),
                None => sized_string(round, *min_length, *max_length),
            }),
            Type::ReasoningChain => json!("First, read the question.\nThen, answer it."),
            Type::Integer { min, max } => {
                let wanted = 42 + round as i64;
                json!(wanted.clamp(min.unwrap_or(i64::MIN), max.unwrap_or(i64::MAX)))
            }
            Type::Float { min, max } => json!(clamp(0.5 + round as f64, *min, *max)),
            Type::Probability { min, max } => {
                json!(clamp(
                    0.25,
                    Some(min.unwrap_or(0.0)),
                    Some(max.unwrap_or(1.0))
                ))
            }
            Type::Boolean => json!(round % 2 == 0),
            Type::Json => json!({"nested": [1, "two", null, true, 2.5, {"k": []}]}),
            Type::List {
                item,
                min_items,
                max_items,
            } => {
                let count = self.count(depth, *min_items, *max_items);
                let items = (0..count)
                    .map(|_| self.element(item, depth + 1))
                    .collect::<Option<Vec<_>>>()?;
                Value::Array(items)
            }
            Type::Map {
                value,
                min_entries,
                max_entries,
            } => {
                let count = self.count(depth, *min_entries, *max_entries);
                let mut entries = Map::new();
                for index in 0..count {
                    let key = if index == 1 {
                        "clé \"1\"".to_string()
                    } else {
                        format!("key_{index}")
                    };
                    entries.insert(key, self.element(value, depth + 1)?);
                }
                Value::Object(entries)
            }
            Type::Optional(inner) => self.value(inner, depth)?,
            Type::Literals(values) => json!(values[round % values.len()]),
            Type::Enum(name) => {
                let variants = &self.document.enumeration(name)?.variants;
                json!(variants[round % variants.len()].name)
            }
            Type::Record(name) => {
                if depth >= GIVE_UP_AFTER {
                    return None;
                }
                let record = self.document.record(name)?;
                Value::Object(self.object(&record.fields, depth + 1)?)
            }
        })
    }

    /// An element of a list or map: an optional element is `null` in odd rounds.
    fn element(&self, ty: &Type, depth: usize) -> Option<Value> {
        if ty.is_optional() && (!self.with_optionals || depth >= SHALLOW_AFTER) {
            return Some(Value::Null);
        }
        self.value(ty.required(), depth)
    }

    fn count(&self, depth: usize, min: Option<u64>, max: Option<u64>) -> u64 {
        let wanted = if depth >= SHALLOW_AFTER { 0 } else { 2 };
        wanted.clamp(min.unwrap_or(0), max.unwrap_or(u64::MAX))
    }
}

fn clamp(value: f64, min: Option<f64>, max: Option<f64>) -> f64 {
    value.clamp(min.unwrap_or(f64::MIN), max.unwrap_or(f64::MAX))
}

/// Text of a length that fits, with characters JSON has to escape when there is room.
fn sized_string(round: usize, min: Option<u64>, max: Option<u64>) -> String {
    let text = format!("café \"{round}\" \\ ok\n");
    let length = (text.chars().count() as u64).clamp(min.unwrap_or(0), max.unwrap_or(u64::MAX));
    text.chars()
        .chain(std::iter::repeat('x'))
        .take(length as usize)
        .collect()
}

/// A string the regular expression matches: the shortest repetitions, the first
/// alternative, a letter or digit from each class where it has one.
fn string_matching(pattern: &str) -> String {
    use regex_syntax::hir::{Class, Hir, HirKind};

    fn walk(hir: &Hir, out: &mut String) {
        match hir.kind() {
            HirKind::Empty | HirKind::Look(_) => {}
            HirKind::Literal(literal) => out.push_str(&String::from_utf8_lossy(&literal.0)),
            HirKind::Class(Class::Unicode(class)) => {
                let contains = |c: char| {
                    class
                        .ranges()
                        .iter()
                        .any(|r| r.start() <= c && c <= r.end())
                };
                let nice = ('a'..='z')
                    .chain('A'..='Z')
                    .chain('0'..='9')
                    .find(|&c| contains(c));
                if let Some(c) = nice.or_else(|| class.ranges().first().map(|r| r.start())) {
                    out.push(c);
                }
            }
            HirKind::Class(Class::Bytes(class)) => {
                if let Some(range) = class.ranges().first() {
                    out.push(char::from(range.start()));
                }
            }
            HirKind::Repetition(repetition) => {
                for _ in 0..repetition.min {
                    walk(&repetition.sub, out);
                }
            }
            HirKind::Capture(capture) => walk(&capture.sub, out),
            HirKind::Concat(parts) => parts.iter().for_each(|part| walk(part, out)),
            HirKind::Alternation(choices) => walk(&choices[0], out),
        }
    }

    let hir = regex_syntax::parse(pattern).unwrap();
    let mut text = String::new();
    walk(&hir, &mut text);
    text
}

/// `src/cases.rs` of the check crate.
fn cases_source(samples: &[Sample]) -> String {
    let mut source = String::from(
        "//! Written by `tests/codegen_rust.rs`.\n\nuse crate::Case;\n\n\
         pub fn cases() -> Vec<Case> {\n    vec![\n",
    );
    for sample in samples {
        let check = if sample.accept {
            "round_trip"
        } else {
            "rejects"
        };
        writeln!(
            source,
            "        Case {{\n            type_name: {:?},\n            about: {:?},\n            \
             json: {:?},\n            check: crate::{check}::<codegen_rust_check::generated::{}>,\n        }},",
            sample.type_path, sample.about, sample.json, sample.type_path
        )
        .unwrap();
    }
    source.push_str("    ]\n}\n");
    source
}

// ---------------------------------------------------------------------------------------------
// Documents

fn all_cases() -> Vec<Case> {
    let mut cases = hand_built_cases();
    cases.extend(fixture_cases());
    cases
}

/// Every good fixture and every file in `signatures/`; each must compile.
fn fixture_cases() -> Vec<Case> {
    support::sig_files()
        .into_iter()
        .map(|file| case(&file.module, &file.relative, file.document))
        .collect()
}

fn case(module: &str, path: &str, document: Document) -> Case {
    Case {
        module: module.to_string(),
        source: Source::new(path, module),
        document,
    }
}

/// `list[item]` with bounds on its length.
fn bounded_list(item: Type, min_items: Option<u64>, max_items: Option<u64>) -> Type {
    Type::List {
        item: Box::new(item),
        min_items,
        max_items,
    }
}

fn patterned(pattern: &str, min_length: Option<u64>, max_length: Option<u64>) -> Type {
    Type::String {
        min_length,
        max_length,
        pattern: Some(pattern.to_string()),
    }
}

/// Documents that exercise what fixtures may not: odd names, collisions, shadowing, and
/// text that must not escape its comment.
fn hand_built_cases() -> Vec<Case> {
    let qa = support::qa();

    let everything = Signature::new(
        "Everything",
        vec![
            Field::new("text", Type::string()),
            Field::new("steps", Type::ReasoningChain),
            Field::new("count", Type::integer_range(Some(1), Some(5))),
            Field::new("ratio", Type::float_range(Some(-1.0), None)),
            Field::new("flag", Type::Boolean),
            Field::new("blob", Type::Json),
            Field::new("maybe_blob", Type::optional(Type::Json)),
            Field::new("code", patterned(r"^[A-Z]{3}-\d{2,}$", None, None)),
            Field::new("line", patterned("^[^\n]+$", Some(1), Some(100))),
            Field::new(
                "tweet",
                Type::String {
                    min_length: None,
                    max_length: Some(5),
                    pattern: None,
                },
            ),
        ],
        vec![
            Field::new(
                "tags",
                bounded_list(patterned("^[a-z]+$", None, Some(40)), Some(1), Some(3)),
            ),
            Field::new("scores", Type::map(Type::integer_range(Some(0), Some(100)))),
            Field::new(
                "grid",
                bounded_list(
                    bounded_list(Type::float_range(Some(0.0), None), Some(1), None),
                    None,
                    Some(10),
                ),
            ),
            Field::new(
                "maybe_count",
                Type::optional(Type::integer()),
            ),
            Field::new("maybe_items", Type::list(Type::optional(Type::string()))),
            Field::new("nullable_values", Type::map(Type::optional(Type::Boolean))),
            Field::new("exact", Type::float_range(Some(2.0), Some(2.0))),
            Field::new("decision", Type::literals(&["allow", "review", "block"])),
            Field::new(
                "odd_literals",
                Type::list(Type::literals(&[
                    "N/A",
                    "n-a",
                    "1",
                    "",
                    "Self",
                    "variant 0",
                    "ünïcode",
                    "a\"b\\c",
                ])),
            ),
            Field::new(
                "maybe_level",
                Type::optional(Type::literals(&["low", "high"])),
            ),
            Field::new("by_rule", Type::map(Type::literals(&["pass", "fail"]))),
            Field::new("sentiment", Type::enumeration("Sentiment")),
            Field::new(
                "languages",
                bounded_list(Type::enumeration("Language"), Some(1), None),
            ),
            Field::new("answer", Type::record("Answer")),
            Field::new("maybe_answer", Type::optional(Type::record("Answer"))),
        ],
    )
    .with_instructions(
        "Do everything.\n\n```\nthis is not Rust\n```\n    indented, not code either\n~~~\nnor this\n~~~",
    );

    let mut sentiment = Enum::new("Sentiment", &["positive", "negative", "neutral"])
        .with_docs("The overall tone of a text.");
    sentiment.variants[0].description = Some("happy \u{202e}reversed".to_string());
    let answer = Record::new(
        "Answer",
        vec![
            Field::new("text", Type::string()).with_description("the answer text"),
            Field::new("kind", Type::literals(&["fact", "opinion"])),
            Field::new("sources", Type::list(Type::record("Source"))),
            Field::new("note", Type::optional(Type::string())),
        ],
    )
    .with_docs("An answer and where it came from.\r\nWith a CRLF line.");

    let everything_document = Document {
        signatures: vec![everything],
        records: vec![
            answer,
            Record::new(
                "Source",
                vec![
                    Field::new("title", Type::string()),
                    Field::new("url", Type::string()).with_description("a link\rwith a bare CR"),
                ],
            ),
        ],
        enums: vec![
            sentiment,
            Enum::new(
                "Language",
                &["english", "french", "not_sure", "NotSure", "URL"],
            ),
        ],
        ..Document::default()
    };

    let recursive = Document {
        signatures: vec![Signature::new(
            "OrgChart",
            vec![Field::new("text", Type::string())],
            vec![
                Field::new("ceo", Type::record("Employee")),
                Field::new("teams", Type::list(Type::record("Team"))),
            ],
        )],
        records: vec![
            Record::new(
                "Employee",
                vec![
                    Field::new("name", Type::string()),
                    Field::new("manager", Type::optional(Type::record("Employee"))),
                    Field::new("reports", Type::list(Type::record("Employee"))),
                    Field::new("reports_by_name", Type::map(Type::record("Employee"))),
                    Field::new("team", Type::optional(Type::record("Team"))),
                ],
            ),
            Record::new(
                "Team",
                vec![
                    Field::new("lead", Type::optional(Type::record("Employee"))),
                    Field::new("size", Type::integer_range(Some(1), None)),
                ],
            ),
        ],
        ..Document::default()
    };

    let names = Document {
        signatures: vec![
            Signature::new(
                "Keywords",
                vec![
                    Field::new("type", Type::string()),
                    Field::new("self", Type::string()),
                    Field::new("self_", Type::optional(Type::string())),
                    Field::new("super", Type::string()),
                    Field::new("crate", Type::string()),
                    Field::new("Self", Type::string()),
                    Field::new("gen", Type::string()),
                    Field::new("async", Type::optional(Type::integer())),
                    Field::new("_", Type::string()),
                    Field::new("enum", Type::list(Type::string())),
                ],
                vec![
                    Field::new("program", Type::string()),
                    Field::new("match", Type::literals(&["a", "b"])),
                ],
            ),
            Signature::new(
                "Fiche",
                vec![
                    Field::new("prénom", Type::string()),
                    Field::new("straße", Type::optional(Type::string())),
                ],
                vec![
                    Field::new("поле", Type::string()),
                    Field::new("名前", Type::string()),
                    Field::new("e\u{301}te\u{301}", Type::string()),
                    Field::new("émission_2", Type::integer_range(Some(0), None)),
                    Field::new("ville", Type::record("Ville")),
                ],
            ),
            // Its `Input` name is taken by a record.
            Signature::new(
                "Clash",
                vec![Field::new("kind", Type::literals(&["x", "y"]))],
                vec![Field::new("out", Type::record("ClashInput"))],
            ),
            // Not names Rust accepts as they are.
            Signature::new(
                "2fa",
                vec![Field::new("code", Type::string())],
                vec![Field::new("ok", Type::Boolean)],
            ),
            Signature::new(
                "Self",
                vec![Field::new("a", Type::string())],
                vec![Field::new("b", Type::string())],
            ),
        ],
        records: vec![
            Record::new(
                "Ville",
                vec![
                    Field::new("nom", Type::string()),
                    Field::new("département", Type::optional(Type::string())),
                ],
            ),
            Record::new("ClashInput", vec![Field::new("text", Type::string())]),
            Record::new("ClashInput2Kind", vec![Field::new("text", Type::string())]),
            // Records that shadow what generated code refers to.
            Record::new("String", vec![Field::new("value", Type::string())]),
            Record::new(
                "Option",
                vec![Field::new("value", Type::optional(Type::string()))],
            ),
            Record::new(
                "Vec",
                vec![Field::new("items", Type::list(Type::record("String")))],
            ),
            Record::new(
                "Box",
                vec![Field::new("inner", Type::optional(Type::record("Box")))],
            ),
            Record::new("bool", vec![Field::new("flag", Type::Boolean)]),
            Record::new("std", vec![Field::new("map", Type::map(Type::string()))]),
            Record::new("serde", vec![Field::new("json", Type::Json)]),
            Record::new("URL", vec![Field::new("href", Type::string())]),
        ],
        enums: vec![Enum::new("i64", &["one", "two"])],
        ..Document::default()
    };

    vec![
        case(
            "hand_qa",
            "hand/qa.sig",
            Document {
                signatures: vec![qa],
                ..Document::default()
            },
        ),
        case(
            "hand_everything",
            "hand/everything.sig",
            everything_document,
        ),
        case("hand_recursive", "hand/recursive.sig", recursive),
        case("hand_names", "hand/names\u{202e}.sig", names),
        case("hand_empty", "hand/empty.sig", Document::default()),
    ]
}
