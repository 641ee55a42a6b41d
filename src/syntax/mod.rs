//! The syntax layer: bytes to a syntax tree with byte spans. Knows nothing of types, codegen or
//! I/O; every mistake becomes a `Diagnostic`.

pub mod ast;
mod escape;
pub mod format;
mod parser;
mod words;

pub use escape::{unescape, EscapeError};
pub use parser::{parse, Parsed, MAX_TYPE_DEPTH};

use crate::diagnostic::{Diagnostic, Span};

/// Checks that a file is UTF-8. The error points at the first invalid byte, by line, column and
/// byte offset (spec section 5).
pub fn decode(bytes: &[u8]) -> Result<&str, Box<Diagnostic>> {
    std::str::from_utf8(bytes).map_err(|error| {
        let at = error.valid_up_to();
        let len = error.error_len().unwrap_or(bytes.len() - at).max(1);
        let valid = String::from_utf8_lossy(&bytes[..at]);
        let line = valid.matches('\n').count() + 1;
        let column = valid.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        let shown: Vec<String> = bytes[at..(at + len).min(bytes.len())]
            .iter()
            .map(|b| format!("0x{b:02X}"))
            .collect();
        Box::new(
            Diagnostic::error(
                "E0104",
                format!(
                    "file is not valid UTF-8: invalid byte {} at line {line}, column {column} \
                 (byte offset {at})",
                    shown.join(" ")
                ),
                Span::new(at, at + len),
            )
            .with_label("not UTF-8")
            .with_help("save the file as UTF-8 (most editors: \"Save with encoding\" > UTF-8)"),
        )
    })
}
