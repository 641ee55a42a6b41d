//! The fixture corpora: the syntax tree and model of every good file, and the rendered
//! diagnostics of every bad, warning and multi-error file, pinned with insta snapshots.

use std::path::Path;

use dspex::report::{self, Style};

/// Reads a fixture and compiles it under the path shown in diagnostics.
fn compile(path: &Path) -> (String, String, dspex::Compiled) {
    let bytes = std::fs::read(path).expect("fixture is readable");
    let shown = path
        .strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/");
    let mut compiled = dspex::compile(&bytes, Path::new(&shown));
    for diagnostic in &mut compiled.diagnostics {
        if diagnostic.code == "E0104" {
            diagnostic.span.end = diagnostic.span.start + char::REPLACEMENT_CHARACTER.len_utf8();
        }
    }
    (
        shown,
        String::from_utf8_lossy(&bytes).into_owned(),
        compiled,
    )
}

fn rendered(shown: &str, text: &str, compiled: &dspex::Compiled) -> String {
    compiled
        .diagnostics
        .iter()
        .map(|d| report::render(d, shown, text, Style::plain()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn good_files_parse_into_trees_and_models() {
    insta::glob!("fixtures/good/*.sig", |path| {
        let (shown, text, compiled) = compile(path);
        assert!(
            compiled.diagnostics.is_empty(),
            "{shown} should be clean:\n{}",
            rendered(&shown, &text, &compiled)
        );
        let source = std::str::from_utf8(text.as_bytes()).expect("good files are UTF-8");
        let parsed = dspex::syntax::parse(source);
        insta::assert_json_snapshot!("tree", parsed.file);
        insta::assert_json_snapshot!("model", compiled.document);
    });
}

#[test]
fn shipped_signatures_and_examples_are_clean() {
    for dir in ["signatures", "examples"] {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let mut count = 0;
        for entry in std::fs::read_dir(&root).expect("directory exists") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "sig") {
                let (shown, text, compiled) = compile(&path);
                assert!(
                    compiled.diagnostics.is_empty(),
                    "{shown}:\n{}",
                    rendered(&shown, &text, &compiled)
                );
                assert!(!compiled.document.is_empty(), "{shown} declares something");
                count += 1;
            }
        }
        assert!(count > 0, "{dir} has .sig files");
    }
}

#[test]
fn bad_files_report_errors() {
    let mut codes = std::collections::BTreeSet::new();
    insta::glob!("fixtures/bad/*.sig", |path| {
        let (shown, text, compiled) = compile(path);
        assert!(compiled.has_errors(), "{shown} should have an error");
        for diagnostic in &compiled.diagnostics {
            codes.insert((diagnostic.code, diagnostic.message.clone()));
            // Every error says what to do, or names exactly what it expected.
            assert!(
                diagnostic.help.is_some() || diagnostic.message.starts_with("expected"),
                "{shown}: `{}` has no hint",
                diagnostic.message
            );
        }
        insta::assert_snapshot!("diagnostics", rendered(&shown, &text, &compiled));
    });
    assert!(
        codes.len() >= 40,
        "at least 40 distinct mistakes, found {}",
        codes.len()
    );
}

#[test]
fn warning_files_warn_without_errors() {
    insta::glob!("fixtures/warnings/*.sig", |path| {
        let (shown, text, compiled) = compile(path);
        assert!(!compiled.has_errors(), "{shown} has no errors");
        assert!(!compiled.diagnostics.is_empty(), "{shown} warns");
        insta::assert_snapshot!("warnings", rendered(&shown, &text, &compiled));
    });
}

#[test]
fn multi_error_files_report_every_error() {
    insta::glob!("fixtures/multi/*.sig", |path| {
        let (shown, text, compiled) = compile(path);
        let errors = compiled.diagnostics.iter().filter(|d| d.is_error()).count();
        assert!(
            errors >= 5,
            "{shown}: expected at least 5 errors, got {errors}"
        );
        insta::assert_snapshot!("diagnostics", rendered(&shown, &text, &compiled));
    });
}

#[test]
fn rust_and_python_codegen_of_good_files() {
    use dspex::codegen::{generate, Source, Target};
    insta::glob!("fixtures/good/*.sig", |path| {
        let (shown, _, compiled) = compile(path);
        let stem = path.file_stem().unwrap_or_default().to_string_lossy();
        let source = Source {
            path: shown,
            module: stem.replace(['-', '.'], "_"),
        };
        let rust = generate(Target::Rust, &compiled.document, &source);
        let python = generate(Target::Python, &compiled.document, &source);
        // Deterministic: the same document gives the same bytes.
        assert_eq!(rust, generate(Target::Rust, &compiled.document, &source));
        insta::assert_snapshot!("rust", rust.contents);
        insta::assert_snapshot!("python", python.contents);
    });
}
