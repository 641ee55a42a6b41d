//! Plumbing shared by the codegen tests: the `.sig` files that must compile, scratch
//! directories, and the external tools the tests run, which fail the test with how to install
//! them when missing (a check that needs a tool is never skipped silently).

// Each test crate compiles its own copy of this module and uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dspex::schema::{Document, Enum, Field, Record, Signature, Type, Variant};

/// The directories of `.sig` files that must compile, relative to the repository root, with
/// the prefix that names from them get (the two share file names).
pub const SIG_DIRECTORIES: &[(&str, &str)] = &[
    ("tests/fixtures/good", "fixture"),
    ("signatures", "signature"),
];

/// The repository root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// One `.sig` file of [`SIG_DIRECTORIES`], compiled.
pub struct SigFile {
    /// The path from the repository root (`signatures/qa.sig`).
    pub relative: String,
    /// A name unique among the files that every target accepts as a module name: the
    /// directory's prefix and the file stem in lowercase ASCII letters, digits and `_`
    /// (`signature_summarize_article_v2`).
    pub module: String,
    pub document: Document,
}

/// Every `.sig` file of [`SIG_DIRECTORIES`], compiled, in path order. A file that does not
/// compile fails the test.
pub fn sig_files() -> Vec<SigFile> {
    let mut paths: Vec<(PathBuf, &str)> = Vec::new();
    for (directory, prefix) in SIG_DIRECTORIES {
        let entries = std::fs::read_dir(root().join(directory))
            .unwrap_or_else(|error| panic!("cannot list {directory}: {error}"));
        for entry in entries {
            let path = entry
                .unwrap_or_else(|error| panic!("cannot list {directory}: {error}"))
                .path();
            if path.extension().is_some_and(|extension| extension == "sig") {
                paths.push((path, prefix));
            }
        }
    }
    paths.sort();
    assert!(!paths.is_empty(), "no .sig files found");
    paths
        .into_iter()
        .map(|(path, prefix)| {
            let relative = path.strip_prefix(root()).unwrap_or(&path);
            let stem = path.file_stem().unwrap_or_default().to_string_lossy();
            SigFile {
                relative: relative.to_string_lossy().into_owned(),
                module: format!("{prefix}_{}", module_name(&stem)),
                document: compile(&path),
            }
        })
        .collect()
}

/// `name` in lowercase ASCII letters, digits and `_`.
fn module_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Compiles one `.sig` file, which must have no errors.
pub fn compile(path: &Path) -> Document {
    let source = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    dspex::compile_str(&source, &path.to_string_lossy()).unwrap_or_else(|diagnostics| {
        panic!("{} does not compile: {diagnostics:#?}", path.display())
    })
}

/// The block-form QA signature of the spec.
pub fn qa() -> Signature {
    Signature::new(
        "QA",
        vec![Field::new("question", Type::string()).with_description("the question to answer")],
        vec![
            Field::new("answer", Type::string()).with_description("often between 1 and 5 words"),
            Field::new("confidence", Type::probability()),
        ],
    )
    .with_instructions("Answer questions with short factoid answers.")
}

/// The records that the hand-built corpora put after their own `Source` record (which uses
/// `Person` before it is declared): `Person`, with non-ASCII field names and docs with an
/// indented paragraph, `Tree` and `Owner`, recursive and mutually recursive, and `Empty`.
pub fn people_and_trees() -> Vec<Record> {
    vec![
        Record::new(
            "Person",
            vec![
                Field::new("prénom", Type::string()),
                Field::new("straße", Type::optional(Type::string())),
            ],
        )
        .with_docs("Someone.\n\n  Indented second paragraph."),
        Record::new(
            "Tree",
            vec![
                Field::new("label", Type::string()),
                Field::new("children", Type::list(Type::record("Tree"))),
                Field::new("owner", Type::optional(Type::record("Owner"))),
            ],
        ),
        Record::new(
            "Owner",
            vec![
                Field::new("trees", Type::list(Type::record("Tree"))),
                Field::new("poles", Type::map(Type::record("Owner"))),
            ],
        ),
        Record::new("Empty", vec![]),
    ]
}

/// An enum with docs and a description on every variant.
pub fn sentiment() -> Enum {
    Enum {
        variants: ["positive", "negative", "neutral"]
            .iter()
            .map(|name| Variant::new(*name).with_description(format!("feels {name}")))
            .collect(),
        ..Enum::new("Sentiment", &[]).with_docs("How it feels.")
    }
}

/// A fresh directory, removed when the value is dropped.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir()
        .unwrap_or_else(|error| panic!("cannot create a temporary directory: {error}"))
}

/// Writes `contents` to `name` in `directory`.
pub fn write(directory: &Path, name: &str, contents: impl AsRef<[u8]>) {
    let path = directory.join(name);
    std::fs::write(&path, contents)
        .unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
}

/// `path`, which must exist: `what` is missing otherwise, and `setup_help` says how to get it.
pub fn installed(path: PathBuf, what: &str, setup_help: &str) -> PathBuf {
    assert!(
        path.exists(),
        "{what} is missing at `{}`: {setup_help}",
        path.display()
    );
    path
}

/// Runs `command` to completion; a program that cannot be started fails the test with
/// `setup_help`.
pub fn run(command: &mut Command, setup_help: &str) -> Output {
    command.output().unwrap_or_else(|error| {
        panic!(
            "cannot run `{}`: {error}; {setup_help}",
            Path::new(command.get_program()).display()
        )
    })
}

/// How to get the Python interpreter with DSPy that parity tests run.
pub const PYTHON_SETUP_HELP: &str = "run `bash scripts/test`, which creates `.venv` with \
     python/requirements.txt (see the README's testing section), or point `DSPEX_PYTHON` at an \
     interpreter that has dspy==3.4.1 and pydantic==2.14.3";

/// The interpreter with DSPy: `DSPEX_PYTHON`, else `.venv/bin/python` at the repository root.
/// A missing interpreter fails the test: parity with DSPy is never skipped silently.
pub fn python_interpreter() -> PathBuf {
    let interpreter = match std::env::var_os("DSPEX_PYTHON") {
        Some(path) => PathBuf::from(path),
        None => root().join(".venv/bin/python"),
    };
    installed(
        interpreter,
        "the Python interpreter with DSPy",
        PYTHON_SETUP_HELP,
    )
}

/// The GGUF model the local-model tests run: `DSPEX_TEST_GGUF`, or SmolLM2-135M as
/// `scripts/test` pulls it into `target/dspex-home`. Missing, it fails the test with what to do.
#[allow(dead_code)]
pub fn test_gguf() -> PathBuf {
    if let Some(path) = std::env::var_os("DSPEX_TEST_GGUF") {
        // The CLI tests run dspex in other directories, so a relative path is made absolute.
        return std::path::absolute(PathBuf::from(path)).expect("DSPEX_TEST_GGUF is a usable path");
    }
    let pulled = root().join("target/dspex-home/models/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        pulled.is_file(),
        "the local-model tests need SmolLM2-135M: run `bash scripts/test` (it pulls the model \
         into target/dspex-home), or set DSPEX_TEST_GGUF to a GGUF file"
    );
    pulled
}
