//! The LM-reply corpus: each fixture in `tests/fixtures/replies/` is a reply, the signature it
//! answers and the adapter that reads it. The outcome must match the fixture's `expect` (`good`:
//! read without repairs, `repaired`: read with at least one, `error`: refused) and its `values`;
//! insta snapshots pin the repairs and the rendered errors. Below the corpus, tests of tricky
//! coercions, command-line inputs and error reporting.

use std::path::Path;

use dspex::adapter::parse::{
    coerce, coerce_input, parse_chat, parse_json, validate_input, FieldError, ParseError, Parsed,
    Problem, Raw,
};
use dspex::schema::{Document, Field, Type};
use serde::Deserialize;
use serde_json::{json, Value};

/// One corpus entry, as written in YAML.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    /// What the entry tests, in one line.
    note: String,
    adapter: Adapter,
    expect: Expect,
    /// Inline `.sig` source...
    sig: Option<String>,
    /// ...or a `.sig` file, relative to the crate root.
    sig_file: Option<String>,
    /// The signature to use; the first in the file when absent.
    signature: Option<String>,
    reply: String,
    /// The values a correct parser reads (absent for `error`).
    values: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Adapter {
    Chat,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Expect {
    Good,
    Repaired,
    Error,
}

/// Reads a fixture and compiles its signature.
fn load(path: &Path) -> (Fixture, Document, Vec<Field>) {
    let text = std::fs::read_to_string(path).expect("fixture is readable");
    let fixture: Fixture = serde_yaml_ng::from_str(&text)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let (source, name) = match (&fixture.sig, &fixture.sig_file) {
        (Some(source), None) => (source.clone(), "inline.sig".to_owned()),
        (None, Some(file)) => {
            let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
            let source = std::fs::read_to_string(&full).expect("sig_file is readable");
            (source, file.clone())
        }
        _ => panic!(
            "{}: give exactly one of `sig` and `sig_file`",
            path.display()
        ),
    };
    let document = dspex::compile_str(&source, &name)
        .unwrap_or_else(|diagnostics| panic!("{}: {diagnostics:?}", path.display()));
    let signature = match &fixture.signature {
        Some(wanted) => document
            .signature(wanted)
            .expect("the named signature exists"),
        None => document.signatures.first().expect("a signature"),
    };
    let outputs = signature.outputs.clone();
    (fixture, document, outputs)
}

fn parse(fixture: &Fixture, document: &Document, outputs: &[Field]) -> Result<Parsed, ParseError> {
    match fixture.adapter {
        Adapter::Chat => parse_chat(document, outputs, &fixture.reply),
        Adapter::Json => parse_json(document, outputs, &fixture.reply),
    }
}

/// Equal as JSON, with numbers compared by value (`1` equals `1.0`).
fn same(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
        }
        _ => left == right,
    }
}

/// The snapshot text: the values and repairs, or the error and its hint.
fn render(fixture: &Fixture, result: &Result<Parsed, ParseError>) -> String {
    let mut text = format!("{}\n", fixture.note);
    match result {
        Ok(parsed) => {
            text.push_str("--- values\n");
            text.push_str(&serde_json::to_string_pretty(&parsed.values).expect("values serialize"));
            text.push_str("\n--- repairs\n");
            if parsed.repairs.is_empty() {
                text.push_str("(none)\n");
            }
            for repair in &parsed.repairs {
                let path = if repair.path.is_empty() {
                    "(reply)"
                } else {
                    &repair.path
                };
                text.push_str(&format!("{path}: {}\n", repair.description));
            }
        }
        Err(error) => {
            text.push_str("--- error\n");
            text.push_str(&error.to_string());
            text.push('\n');
            if let Some(help) = &error.help {
                text.push_str(&format!("help: {help}\n"));
            }
        }
    }
    text
}

/// Whether the outcome matches the fixture's `expect` and `values`; says how not.
fn check(
    name: &str,
    fixture: &Fixture,
    outputs: &[Field],
    result: &Result<Parsed, ParseError>,
) -> Result<(), String> {
    match (result, fixture.expect) {
        (Err(error), Expect::Error) if error.reply == fixture.reply => Ok(()),
        (Err(_), Expect::Error) => Err(format!("{name}: the error does not carry the reply")),
        (Ok(parsed), Expect::Good | Expect::Repaired) => {
            let read = Value::Object(parsed.values.clone());
            let Some(expected) = &fixture.values else {
                return Err(format!("{name}: `values` missing from the fixture"));
            };
            if !same(&read, expected) {
                return Err(format!("{name}: read {read}\n  expected {expected}"));
            }
            let keys: Vec<&String> = parsed.values.keys().collect();
            let order: Vec<&String> = outputs.iter().map(|f| &f.name).collect();
            if keys != order {
                return Err(format!("{name}: values are not in field order: {keys:?}"));
            }
            if parsed.repairs.is_empty() != (fixture.expect == Expect::Good) {
                return Err(format!(
                    "{name}: expected {:?}, repairs {:?}",
                    fixture.expect, parsed.repairs
                ));
            }
            Ok(())
        }
        (Ok(parsed), Expect::Error) => Err(format!(
            "{name}: expected an error, read {}",
            Value::Object(parsed.values.clone())
        )),
        (Err(error), expect) => Err(format!(
            "{name}: expected {expect:?}, got the error {error}"
        )),
    }
}

#[test]
fn corpus_replies_parse_as_expected() {
    let mut counts = [0usize; 3];
    let mut failures = Vec::new();
    insta::glob!("fixtures/replies/*.yaml", |path| {
        let (fixture, document, outputs) = load(path);
        let result = parse(&fixture, &document, &outputs);
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if let Err(failure) = check(&name, &fixture, &outputs, &result) {
            failures.push(failure);
        }
        counts[fixture.expect as usize] += 1;
        insta::assert_snapshot!("outcome", render(&fixture, &result));
    });
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    let [good, repaired, errors] = counts;
    assert!(good + repaired + errors >= 90, "at least 90 replies");
    assert!(good >= 20 && repaired >= 40 && errors >= 30, "{counts:?}");
}

/// One JSON line per fixture with what dspex reads, for `python/count_dspy_parse.py`.
#[test]
#[ignore = "run by python/count_dspy_parse.py"]
fn report_outcomes() {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/replies");
    let mut paths: Vec<_> = std::fs::read_dir(&directory)
        .expect("corpus directory")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    for path in paths {
        let (fixture, document, outputs) = load(&path);
        let result = parse(&fixture, &document, &outputs);
        let line = match result {
            Ok(parsed) => json!({"values": parsed.values, "repairs": parsed.repairs.len()}),
            Err(error) => json!({"error": error.to_string()}),
        };
        let name = path.file_stem().unwrap_or_default().to_string_lossy();
        println!("DSPEX-OUTCOME {name} {line}");
    }
}

fn document(source: &str) -> Document {
    dspex::compile_str(source, "test.sig").expect("valid signature")
}

fn outputs(document: &Document) -> Vec<Field> {
    document.signatures[0].outputs.clone()
}

#[test]
fn the_error_names_the_field_and_why() {
    let document = document("signature question -> answer, confidence: probability");
    let reply =
        "[[ ## answer ## ]]\nParis\n\n[[ ## confidence ## ]]\nvery high\n\n[[ ## completed ## ]]";
    let error = parse_chat(&document, &outputs(&document), reply).expect_err("not a probability");
    assert_eq!(
        error.to_string(),
        "output field `confidence`: \"very high\" is not a probability"
    );
    assert_eq!(error.reply, reply);
    assert_eq!(error.partial.get("answer"), Some(&json!("Paris")));
    let invalid: Vec<&FieldError> = error.invalid_fields().collect();
    assert_eq!(invalid[0].path, "confidence");
    assert!(error.missing_fields().is_empty());
}

#[test]
fn missing_fields_are_listed_together() {
    let document = document("signature q -> a, b: integer, c: float?");
    let error =
        parse_chat(&document, &outputs(&document), "[[ ## c ## ]]\n1.5").expect_err("missing");
    assert_eq!(error.missing_fields(), ["a", "b"]);
    assert_eq!(error.to_string(), "missing output fields `a`, `b`");
}

#[test]
fn the_first_section_wins_as_in_dspy() {
    let document = document("signature q -> answer");
    let reply = "[[ ## answer ## ]]\nfirst\n[[ ## answer ## ]]\nsecond";
    let parsed = parse_chat(&document, &outputs(&document), reply).expect("readable");
    assert_eq!(parsed.values["answer"], json!("first"));
}

#[test]
fn percentages_mean_hundredths_only_for_probabilities() {
    let document = Document::default();
    let (value, repairs) = coerce(
        &document,
        &Type::probability(),
        Raw::Text("87%"),
        "confidence",
    )
    .expect("a probability");
    assert_eq!(value, json!(0.87));
    assert_eq!(repairs[0].description, "read \"87%\" as 0.87");

    let error =
        coerce(&document, &Type::float(), Raw::Text("87%"), "growth").expect_err("ambiguous");
    assert!(matches!(error.problem, Problem::Percentage { .. }));
    assert_eq!(
        error.help.as_deref(),
        Some("write 87 or 0.87 without `%`, whichever the field means")
    );
}

#[test]
fn whole_floats_are_integers_and_fractions_are_not() {
    let document = Document::default();
    let integer = Type::integer();
    for (raw, expected) in [
        (Raw::Text("3.0"), Some(3)),
        (Raw::Json(&json!(3.0)), Some(3)),
        (Raw::Text("-7"), Some(-7)),
        (Raw::Text("3.5"), None),
        (Raw::Json(&json!(3.5)), None),
        (Raw::Text("1e3"), Some(1000)),
        (Raw::Text("99999999999999999999"), None),
        (Raw::Json(&json!(true)), None),
    ] {
        let result = coerce(&document, &integer, raw, "n").map(|(value, _)| value);
        assert_eq!(result.ok(), expected.map(|e: i64| json!(e)), "{raw:?}");
    }
}

#[test]
fn enums_match_loosely_but_never_guess() {
    let document =
        document("enum Sentiment { positive, negative, neutral }\nsignature t -> s: Sentiment");
    let ty = Type::enumeration("Sentiment");
    for written in [
        "positive",
        "Positive.",
        "\"positive\"",
        "'positive'",
        "Literal['positive']",
        "Sentiment.POSITIVE",
        "POSITIVE",
        "**positive**",
        "`positive`",
    ] {
        let (value, _) = coerce(&document, &ty, Raw::Text(written), "s").expect(written);
        assert_eq!(value, json!("positive"), "{written}");
    }
    for written in [
        "maybe",
        "positive or negative",
        "mostly positive",
        "",
        "Mood.POSITIVE",
    ] {
        assert!(
            coerce(&document, &ty, Raw::Text(written), "s").is_err(),
            "{written} is refused"
        );
    }
    let error = coerce(&document, &ty, Raw::Text("positive or negative"), "s").expect_err("two");
    assert_eq!(
        error.problem.to_string(),
        "\"positive or negative\" names more than one of `positive`, `negative`, `neutral`; it must be exactly one"
    );
}

#[test]
fn a_literal_named_none_is_not_null() {
    let document = Document::default();
    let ty = Type::optional(Type::literals(&["none", "some"]));
    let (value, _) = coerce(&document, &ty, Raw::Text("none"), "choice").expect("a literal");
    assert_eq!(value, json!("none"));
    let (value, _) = coerce(&document, &ty, Raw::Text("None"), "choice").expect("null");
    assert_eq!(value, Value::Null);
}

#[test]
fn constraints_are_checked_not_clamped() {
    let document = Document::default();
    let bounded = Type::integer_range(Some(1), Some(5));
    let error = coerce(&document, &bounded, Raw::Text("7"), "urgency").expect_err("too high");
    assert_eq!(error.to_string(), "`urgency`: 7 is more than the maximum 5");
    let pattern = Type::String {
        min_length: None,
        max_length: Some(3),
        pattern: Some("^[A-Z]+$".into()),
    };
    assert!(coerce(&document, &pattern, Raw::Text("ABC"), "code").is_ok());
    let error = coerce(&document, &pattern, Raw::Text("abc"), "code").expect_err("lowercase");
    assert_eq!(
        error.problem.to_string(),
        "\"abc\" does not match the pattern `^[A-Z]+$`"
    );
    let error = coerce(&document, &pattern, Raw::Text("ABCD"), "code").expect_err("long");
    assert_eq!(
        error.problem.to_string(),
        "has 4 characters, more than the maximum 3"
    );
    let probability = Type::probability();
    let error =
        coerce(&document, &probability, Raw::Json(&json!(-0.1)), "p").expect_err("negative");
    assert_eq!(error.problem.to_string(), "-0.1 is less than the minimum 0");
}

#[test]
fn list_items_report_their_index() {
    let document = Document::default();
    let ty = Type::list(Type::integer());
    let error = coerce(&document, &ty, Raw::Text("[1, 2, \"x\"]"), "numbers").expect_err("x");
    assert_eq!(error.path, "numbers[2]");
}

#[test]
fn json_fields_take_any_json_or_keep_text() {
    let document = Document::default();
    let (value, repairs) = coerce(
        &document,
        &Type::Json,
        Raw::Text("[1, {\"a\": null}]"),
        "data",
    )
    .expect("json");
    assert_eq!(value, json!([1, {"a": null}]));
    assert!(repairs.is_empty());
    let (value, repairs) =
        coerce(&document, &Type::Json, Raw::Text("hello, world"), "data").expect("text");
    assert_eq!(value, json!("hello, world"));
    assert_eq!(repairs.len(), 1);
}

#[test]
fn deep_nesting_is_refused_without_crashing() {
    let document = document("signature q -> data: json, items: list[json]");
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let reply = format!("{{\"data\": {deep}, \"items\": []}}");
    assert!(parse_json(&document, &outputs(&document), &reply).is_err());
    let reply = format!("[[ ## data ## ]]\n{deep}\n[[ ## items ## ]]\n{deep}");
    let error = parse_chat(&document, &outputs(&document), &reply).expect_err("items unreadable");
    assert_eq!(
        error.invalid_fields().next().map(|e| e.path.as_str()),
        Some("items")
    );
    // A `json` field keeps text it cannot read as JSON.
    assert!(error.partial["data"].is_string());
}

#[test]
fn random_replies_never_panic() {
    let source = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("signatures/product_listing.sig"),
    )
    .expect("signature file");
    let document = dspex::compile_str(&source, "product_listing.sig").expect("valid");
    let outputs = outputs(&document);
    let pieces = [
        "[[ ## title ## ]]",
        "[[ ## tags ## ]]",
        "[[## seller ##]]",
        "[[ ## completed ## ]]",
        "{",
        "}",
        "[",
        "]",
        "(",
        ")",
        "\"",
        "'",
        ":",
        ",",
        "\n",
        " ",
        "- ",
        "1. ",
        "```",
        "json",
        "\\u",
        "d83d",
        "True",
        "None",
        "null",
        "87%",
        "0.5",
        "-",
        ".",
        "e9",
        "é",
        "«",
        "»",
        "//",
        "/*",
        "*/",
        "prénom",
        "type",
        "used",
        "N/A",
        "\\",
        "0x",
        "_",
        "$",
    ];
    let mut random = fastrand::Rng::with_seed(7);
    for _ in 0..3000 {
        let length = random.usize(0..40);
        let reply: String = (0..length)
            .map(|_| pieces[random.usize(0..pieces.len())])
            .collect();
        let _ = parse_chat(&document, &outputs, &reply);
        let _ = parse_json(&document, &outputs, &reply);
    }
}

#[test]
fn command_line_inputs_are_strict() {
    let document = document(
        "enum Tone { formal, casual }\n\
         type Doc { title: string, pages: integer? }\n\
         signature n: integer(min: 1), documents: list[string], tone: Tone, doc: Doc, note: string?, \
         ratio: probability, flag: boolean, data: json -> out",
    );
    let inputs = &document.signatures[0].inputs;
    let field = |name: &str| {
        inputs
            .iter()
            .find(|f| f.name == name)
            .expect("field")
            .clone()
    };
    assert_eq!(coerce_input(&document, &field("n"), "3"), Ok(json!(3)));
    assert!(coerce_input(&document, &field("n"), "3.0").is_err());
    assert!(coerce_input(&document, &field("n"), "0").is_err());
    assert_eq!(
        coerce_input(&document, &field("documents"), r#"["a","b"]"#),
        Ok(json!(["a", "b"]))
    );
    let error = coerce_input(&document, &field("documents"), "a, b").expect_err("not JSON");
    assert!(error
        .help
        .as_deref()
        .is_some_and(|h| h.contains("JSON array")));
    let error = coerce_input(&document, &field("tone"), "Formal").expect_err("exact");
    assert_eq!(error.help.as_deref(), Some("did you mean `formal`?"));
    assert_eq!(
        coerce_input(&document, &field("doc"), r#"{"title": "T"}"#),
        Ok(json!({"title": "T", "pages": null}))
    );
    let error = coerce_input(&document, &field("doc"), r#"{"Title": "T"}"#).expect_err("key");
    assert_eq!(error.help.as_deref(), Some("did you mean `title`?"));
    assert_eq!(
        coerce_input(&document, &field("note"), "null"),
        Ok(Value::Null)
    );
    assert_eq!(coerce_input(&document, &field("note"), ""), Ok(json!("")));
    assert!(coerce_input(&document, &field("ratio"), "1.5").is_err());
    assert!(coerce_input(&document, &field("ratio"), "NaN").is_err());
    assert_eq!(
        coerce_input(&document, &field("flag"), "TRUE"),
        Ok(json!(true))
    );
    assert!(coerce_input(&document, &field("flag"), "yes").is_err());
    assert_eq!(
        coerce_input(&document, &field("data"), "{\"a\":1}"),
        Ok(json!({"a": 1}))
    );
    assert_eq!(
        coerce_input(&document, &field("data"), "plain"),
        Ok(json!("plain"))
    );
}

#[test]
fn json_inputs_are_validated() {
    let document = document(
        "type Doc { title: string, pages: integer(min: 1)? }\n\
         signature docs: list[Doc](max: 2) -> out",
    );
    let field = document.signatures[0].inputs[0].clone();
    assert_eq!(
        validate_input(&document, &field, &json!([{"pages": 2.0, "title": "A"}])),
        Ok(json!([{"title": "A", "pages": 2}]))
    );
    let error = validate_input(&document, &field, &json!([{"title": "A", "pages": 0}]))
        .expect_err("below minimum");
    assert_eq!(error.path, "docs[0].pages");
    let error = validate_input(&document, &field, &json!([{"title": 3}])).expect_err("number");
    assert_eq!(error.to_string(), "`docs[0].title`: 3 is not a string");
    assert!(validate_input(
        &document,
        &field,
        &json!([{"title": "A"}, {"title": "B"}, {"title": "C"}])
    )
    .is_err());
    assert!(validate_input(&document, &field, &json!("A")).is_err());
}
