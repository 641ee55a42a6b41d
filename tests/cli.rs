//! The real binary, run in temporary directories: exit codes, stdout and stderr of each command.

use std::path::Path;
use std::process::{Command, Output, Stdio};

const QA: &str = "/// Answer questions with short factoid answers.\nsignature QA {\n    question: string \"the question to answer\"\n    ->\n    answer: string \"often between 1 and 5 words\"\n    confidence: probability\n}\n\nprogram qa = chain_of_thought(QA)\n";

fn dspex(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dspex"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("dspex runs")
}

fn dspex_stdin(dir: &Path, args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_dspex"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dspex runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("dspex finishes")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Exit code, stdout and stderr in one string for snapshots.
fn transcript(output: &Output) -> String {
    format!(
        "exit: {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    )
}

fn project(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, contents) in files {
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, contents).expect("write");
    }
    dir
}

#[test]
fn check_clean_directory_exits_zero() {
    let dir = project(&[
        ("qa.sig", QA.as_bytes()),
        ("nested/more.sig", b"signature q -> a\n"),
    ]);
    let output = dspex(dir.path(), &["check"]);
    insta::assert_snapshot!(transcript(&output), @r"
    exit: Some(0)
    --- stdout
    --- stderr
    checked 2 files: no problems
    ");
}

#[test]
fn check_reports_every_error_with_location_and_hint() {
    let dir = project(&[(
        "bad.sig",
        b"signature QA {\n    question: strng\n    firstName: string\n    => answer: string\n}\n",
    )]);
    let output = dspex(dir.path(), &["check", "bad.sig"]);
    insta::assert_snapshot!(transcript(&output));
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn check_json_is_machine_readable() {
    let dir = project(&[("bad.sig", b"signature q: strng -> a\n")]);
    let output = dspex(dir.path(), &["check", "--format", "json", "bad.sig"]);
    assert_eq!(output.status.code(), Some(1));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(value["errors"], 1);
    let diagnostic = &value["diagnostics"][0];
    assert_eq!(diagnostic["file"], "bad.sig");
    assert_eq!(diagnostic["line"], 1);
    assert_eq!(diagnostic["column"], 14);
    assert_eq!(diagnostic["end"]["column"], 19);
    assert_eq!(diagnostic["severity"], "error");
    assert_eq!(diagnostic["code"], "E0400");
    assert_eq!(diagnostic["message"], "unknown type `strng`");
    assert_eq!(diagnostic["help"], "did you mean `string`?");
}

#[test]
fn warnings_fail_only_with_deny_warnings() {
    let dir = project(&[("w.sig", b"type Unused { a: string }\nsignature q -> a\n")]);
    let output = dspex(dir.path(), &["check", "w.sig"]);
    assert_eq!(output.status.code(), Some(0), "{}", transcript(&output));
    assert!(text(&output.stderr).contains("W0100"));
    let output = dspex(dir.path(), &["check", "--deny-warnings", "w.sig"]);
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn missing_paths_and_bad_flags_exit_two() {
    let dir = project(&[]);
    let output = dspex(dir.path(), &["check", "nope.sig"]);
    insta::assert_snapshot!(transcript(&output), @r"
    exit: Some(2)
    --- stdout
    --- stderr
    error: `nope.sig` does not exist
      help: give a `.sig` file or a directory that contains some
    ");
    let output = dspex(dir.path(), &["check", "--frobnicate"]);
    assert_eq!(output.status.code(), Some(2));
    let output = dspex(dir.path(), &["codegen", "--target", "cobol", "x.sig"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn non_utf8_file_is_a_diagnostic_with_byte_offset() {
    let dir = project(&[("latin1.sig", b"signature q -> r\xe9ponse\n")]);
    let output = dspex(dir.path(), &["check", "latin1.sig"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("latin1.sig:1:17"), "{stderr}");
    assert!(stderr.contains("byte offset 16"), "{stderr}");
}

#[test]
fn hidden_directories_are_skipped() {
    let dir = project(&[
        ("ok.sig", b"signature q -> a\n"),
        (".cache/broken.sig", b"signature {"),
    ]);
    let output = dspex(dir.path(), &["check", "."]);
    assert_eq!(output.status.code(), Some(0), "{}", transcript(&output));
}

#[test]
fn fmt_check_lists_then_fmt_rewrites() {
    let dir = project(&[
        ("a.sig", b"signature  q: :string->a\n"),
        ("b.sig", b"signature q -> a\n"),
    ]);
    let output = dspex(dir.path(), &["fmt", "--check"]);
    insta::assert_snapshot!(transcript(&output), @r"
    exit: Some(1)
    --- stdout
    --- stderr
    would reformat a.sig
    ");
    assert_eq!(
        std::fs::read(dir.path().join("a.sig")).unwrap(),
        b"signature  q: :string->a\n"
    );
    let output = dspex(dir.path(), &["fmt"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("a.sig")).unwrap(),
        "signature q: string -> a\n"
    );
    assert_eq!(
        dspex(dir.path(), &["fmt", "--check"]).status.code(),
        Some(0)
    );
}

#[test]
fn fmt_reads_stdin_and_refuses_broken_files() {
    let dir = project(&[("broken.sig", b"signature QA {\n  a b\n}\n")]);
    let output = dspex_stdin(dir.path(), &["fmt", "-"], "enum E {a,b}\n");
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(text(&output.stdout), "enum E { a, b }\n");
    let output = dspex(dir.path(), &["fmt", "broken.sig"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("broken.sig:2:5"),
        "{}",
        transcript(&output)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("broken.sig")).unwrap(),
        "signature QA {\n  a b\n}\n"
    );
}

#[test]
fn schema_prints_inputs_and_outputs() {
    let dir = project(&[("qa.sig", QA.as_bytes())]);
    let output = dspex(dir.path(), &["schema", "qa.sig"]);
    assert_eq!(output.status.code(), Some(0), "{}", transcript(&output));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let outputs = &value["QA"]["outputs"];
    assert_eq!(
        outputs["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(outputs["properties"]["confidence"]["minimum"], 0.0);
    assert_eq!(
        outputs["required"],
        serde_json::json!(["answer", "confidence"])
    );

    let output = dspex(
        dir.path(),
        &["schema", "qa.sig", "--signature", "QA", "--strict"],
    );
    assert_eq!(output.status.code(), Some(0));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(value["inputs"]["additionalProperties"], false);

    let output = dspex(dir.path(), &["schema", "qa.sig", "--signature", "Nope"]);
    insta::assert_snapshot!(transcript(&output), @r"
    exit: Some(2)
    --- stdout
    --- stderr
    error: `qa.sig` has no signature `Nope`
      help: its signatures are `QA`
    ");
}

#[test]
fn strict_schema_of_a_map_fails_with_a_reason() {
    let dir = project(&[("m.sig", b"signature q -> counts: map[integer]\n")]);
    let output = dspex(dir.path(), &["schema", "m.sig", "--strict"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("counts"),
        "{}",
        transcript(&output)
    );
}

#[test]
fn codegen_writes_deterministic_files_with_header() {
    let dir = project(&[
        ("qa.sig", QA.as_bytes()),
        ("more/rag-v2.sig", b"signature q -> a\n"),
    ]);
    for target in ["rust", "typescript", "python", "json-schema"] {
        let output = dspex(
            dir.path(),
            &["codegen", "--target", target, "qa.sig", "more", "-o", "out"],
        );
        assert_eq!(
            output.status.code(),
            Some(0),
            "{target}: {}",
            transcript(&output)
        );
    }
    let mut names: Vec<String> = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "qa.py",
            "qa.rs",
            "qa.schema.json",
            "qa.ts",
            "rag_v2.py",
            "rag_v2.rs",
            "rag_v2.schema.json",
            "rag_v2.ts"
        ]
    );
    let python = std::fs::read_to_string(dir.path().join("out/qa.py")).unwrap();
    assert!(
        python.starts_with("# generated by dspex from qa.sig; do not edit\n"),
        "{python}"
    );
    let rust = std::fs::read_to_string(dir.path().join("out/rag_v2.rs")).unwrap();
    assert!(rust.starts_with("// generated by dspex from more/rag-v2.sig; do not edit\n"));
    // Same input, same bytes.
    let first = std::fs::read(dir.path().join("out/qa.ts")).unwrap();
    dspex(dir.path(), &["codegen", "-t", "ts", "qa.sig", "-o", "out"]);
    assert_eq!(first, std::fs::read(dir.path().join("out/qa.ts")).unwrap());
    // One file without `-o` goes to stdout.
    let output = dspex(dir.path(), &["codegen", "-t", "python", "qa.sig"]);
    assert_eq!(text(&output.stdout), python);
}

#[test]
fn codegen_refuses_files_with_errors_and_writes_nothing() {
    let dir = project(&[
        ("ok.sig", b"signature q -> a\n"),
        ("bad.sig", b"signature q -> a: strng\n"),
    ]);
    let output = dspex(
        dir.path(),
        &["codegen", "-t", "rust", "ok.sig", "bad.sig", "-o", "out"],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("bad.sig:1:19"),
        "{}",
        transcript(&output)
    );
    assert!(!dir.path().join("out").exists());
    let output = dspex(dir.path(), &["codegen", "-t", "rust", "ok.sig", "bad.sig"]);
    assert_eq!(output.status.code(), Some(2));
}
