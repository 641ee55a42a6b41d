//! dspex: declarative language-model programs (the DSPy idea) as typed, fast, CI-friendly
//! artifacts. The library is the pipeline `syntax` -> `schema` -> `codegen`; the binary in
//! `main.rs` is a thin command-line layer over it.

// pest_derive without its `std` feature (see Cargo.toml) names `alloc` in generated code.
extern crate alloc;

pub mod adapter;
pub mod cli;
pub mod codegen;
pub mod commands;
pub mod config;
pub mod diagnostic;
pub mod digest;
pub mod lm;
pub mod models;
pub mod program;
pub mod recent;
pub mod report;
pub mod schema;
pub mod store;
pub mod syntax;

use std::path::Path;

use diagnostic::Diagnostic;
use schema::Document;

/// A checked file: the model (complete only without errors) and every diagnostic, in source
/// order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Compiled {
    pub document: Document,
    pub diagnostics: Vec<Diagnostic>,
}

impl Compiled {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Decodes, parses and checks one file's bytes. `path` names an unnamed signature (its stem).
pub fn compile(bytes: &[u8], path: &Path) -> Compiled {
    match syntax::decode(bytes) {
        Ok(source) => compile_source(source, path),
        Err(diagnostic) => Compiled {
            document: Document::default(),
            diagnostics: vec![*diagnostic],
        },
    }
}

/// Parses and checks source text; syntax errors and checker findings come back together.
pub fn compile_source(source: &str, path: &Path) -> Compiled {
    let parsed = syntax::parse(source);
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let checked = schema::check(&parsed.file, &stem);
    let syntax_errors = !parsed.diagnostics.is_empty();
    let mut diagnostics = parsed.diagnostics;
    // After a syntax error, "never used" may only mean the user's line did not parse.
    diagnostics.extend(
        checked
            .diagnostics
            .into_iter()
            .filter(|d| !(syntax_errors && d.code == "W0100")),
    );
    diagnostics.sort_by_key(|d| (d.span.start, d.span.end));
    Compiled {
        document: checked.document,
        diagnostics,
    }
}

/// The checked model of source text, or its diagnostics when any is an error. Convenient for
/// tests and embedders that want a document or nothing.
pub fn compile_str(source: &str, path: &str) -> Result<Document, Vec<Diagnostic>> {
    let compiled = compile_source(source, Path::new(path));
    if compiled.has_errors() {
        Err(compiled.diagnostics)
    } else {
        Ok(compiled.document)
    }
}
