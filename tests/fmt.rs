//! `fmt` over every good file: idempotent, keeps every comment, and does not change meaning
//! (the syntax tree without positions, and the checked model, are the same before and after).

use std::path::{Path, PathBuf};

use dspex::syntax::format::format;

fn good_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in [
        "tests/fixtures/good",
        "tests/fixtures/warnings",
        "signatures",
        "examples",
    ] {
        for entry in std::fs::read_dir(root.join(dir)).expect("directory exists") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "sig") {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(files.len() > 30);
    files
}

/// The tree as JSON without what formatting may change: positions and leading colons.
fn shape(source: &str) -> serde_json::Value {
    let parsed = dspex::syntax::parse(source);
    assert!(parsed.diagnostics.is_empty());
    let mut value = serde_json::to_value(&parsed.file).expect("tree serialises");
    strip(&mut value);
    value
}

fn strip(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map)
            if map.len() == 2 && map.contains_key("start") && map.contains_key("end") =>
        {
            // A span (such as the position of `?`): only its presence is meaning.
            *value = serde_json::Value::Bool(true);
        }
        serde_json::Value::Object(map) => {
            map.retain(|k, _| {
                !matches!(
                    k.as_str(),
                    "span" | "keyword_span" | "call_span" | "leading_colon"
                )
            });
            for v in map.values_mut() {
                strip(v);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
        _ => {}
    }
}

fn comments(source: &str) -> Vec<String> {
    source
        .lines()
        .filter_map(|line| {
            let at = line.find("# ").or_else(|| line.find("// "))?;
            Some(line[at..].trim_end().to_string())
        })
        .collect()
}

#[test]
fn formatting_is_idempotent_and_keeps_meaning() {
    for path in good_files() {
        let source = std::fs::read_to_string(&path).expect("readable");
        let once = format(&source).unwrap_or_else(|d| panic!("{}: {d:?}", path.display()));
        let twice = format(&once).expect("formatted output parses");
        assert_eq!(once, twice, "{}: not idempotent", path.display());
        assert_eq!(
            shape(&source),
            shape(&once),
            "{}: tree changed",
            path.display()
        );
        let stem = path.clone();
        let before = dspex::compile_source(&source, &stem).document;
        let after = dspex::compile_source(&once, &stem).document;
        assert_eq!(before, after, "{}: model changed", path.display());
        assert_eq!(
            comments(&source),
            comments(&once),
            "{}: comments changed",
            path.display()
        );
    }
}

#[test]
fn formatting_normalises_layout() {
    let source =
        "signature  question: :string ->answer: :string,confidence: :float\n\n\n\nenum  E {a,b}\n";
    assert_eq!(
        format(source).unwrap(),
        "signature question: string -> answer: string, confidence: float\n\nenum E { a, b }\n"
    );
}

#[test]
fn long_one_line_signatures_wrap_after_commas_and_arrows() {
    let fields: Vec<String> = (0..8)
        .map(|i| format!("input_number_{i}: string"))
        .collect();
    let source = format!("signature {} -> answer: string\n", fields.join(", "));
    let out = format(&source).unwrap();
    assert!(out.lines().all(|l| l.chars().count() <= 100), "{out}");
    assert!(
        out.contains("input_number_7: string ->\n    answer: string\n"),
        "{out}"
    );
    assert_eq!(format(&out).unwrap(), out);
}
