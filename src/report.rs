//! Rendering diagnostics for people (miette's graphical report: `file:line:col`, the source line
//! with the span underlined, a help line) and for tools (JSON with 1-based lines and columns).

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};
use serde::Serialize;

use crate::diagnostic::{Diagnostic, Severity};

/// Line and column lookups for one source text. Lines and columns are 1-based; a column counts
/// characters, not bytes.
pub struct LineIndex<'s> {
    source: &'s str,
    line_starts: Vec<usize>,
}

/// A 1-based position in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl<'s> LineIndex<'s> {
    pub fn new(source: &'s str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(source.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex {
            source,
            line_starts,
        }
    }

    pub fn position(&self, offset: usize) -> Position {
        let offset = floor_char_boundary(self.source, offset.min(self.source.len()));
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self.line_starts[line - 1];
        Position {
            line,
            column: self.source[start..offset].chars().count() + 1,
        }
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// How diagnostics are drawn for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// ANSI colours (only on a terminal).
    pub color: bool,
    /// Unicode box drawing; ASCII otherwise.
    pub unicode: bool,
    pub width: usize,
}

impl Style {
    /// Plain, deterministic output for snapshots and pipes.
    pub fn plain() -> Style {
        Style {
            color: false,
            unicode: true,
            width: 100,
        }
    }
}

/// Renders one diagnostic about `path` (as the user should see it) with miette.
pub fn render(diagnostic: &Diagnostic, path: &str, source: &str, style: Style) -> String {
    let theme = match (style.unicode, style.color) {
        (true, true) => GraphicalTheme::unicode(),
        (true, false) => GraphicalTheme::unicode_nocolor(),
        (false, true) => GraphicalTheme::ascii(),
        (false, false) => GraphicalTheme::none(),
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(style.width)
        .with_links(false);
    let report = Rendered {
        diagnostic,
        source: NamedSource::new(path, source.to_string()),
    };
    let mut out = String::new();
    if handler.render_report(&mut out, &report).is_err() {
        // Rendering into a String cannot fail; keep a plain line just in case.
        let at = LineIndex::new(source).position(diagnostic.span.start);
        out = format!(
            "{}[{}]: {} at {path}:{}:{}\n",
            severity_word(diagnostic.severity),
            diagnostic.code,
            diagnostic.message,
            at.line,
            at.column
        );
    }
    out
}

fn severity_word(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// Adapts a `Diagnostic` to miette.
struct Rendered<'a> {
    diagnostic: &'a Diagnostic,
    source: NamedSource<String>,
}

impl fmt::Debug for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}[{}]: {}",
            severity_word(self.diagnostic.severity),
            self.diagnostic.code,
            self.diagnostic.message
        )
    }
}

impl std::error::Error for Rendered<'_> {}

impl miette::Diagnostic for Rendered<'_> {
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diagnostic
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let primary = LabeledSpan::new_primary_with_span(
            Some(
                self.diagnostic
                    .label
                    .clone()
                    .unwrap_or_else(|| "here".to_string()),
            ),
            to_miette(self.diagnostic.span),
        );
        let related = self
            .diagnostic
            .related
            .iter()
            .map(|r| LabeledSpan::new_with_span(Some(r.message.clone()), to_miette(r.span)));
        Some(Box::new(std::iter::once(primary).chain(related)))
    }
}

fn to_miette(span: crate::diagnostic::Span) -> SourceSpan {
    SourceSpan::new(span.start.into(), span.len())
}

/// One diagnostic as `dspex check --format json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonDiagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end: Position,
    /// Byte offsets of the span, for tools that prefer them.
    pub offset: usize,
    pub length: usize,
    pub severity: Severity,
    pub code: &'static str,
    pub message: String,
    pub label: Option<String>,
    pub help: Option<String>,
    pub related: Vec<JsonRelated>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonRelated {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Converts a diagnostic to its JSON form.
pub fn to_json(diagnostic: &Diagnostic, path: &str, index: &LineIndex) -> JsonDiagnostic {
    let start = index.position(diagnostic.span.start);
    JsonDiagnostic {
        file: path.to_string(),
        line: start.line,
        column: start.column,
        end: index.position(diagnostic.span.end),
        offset: diagnostic.span.start,
        length: diagnostic.span.len(),
        severity: diagnostic.severity,
        code: diagnostic.code,
        message: diagnostic.message.clone(),
        label: diagnostic.label.clone(),
        help: diagnostic.help.clone(),
        related: diagnostic
            .related
            .iter()
            .map(|r| {
                let at = index.position(r.span.start);
                JsonRelated {
                    line: at.line,
                    column: at.column,
                    message: r.message.clone(),
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let index = LineIndex::new("ab\nçd e\n");
        assert_eq!(index.position(0), Position { line: 1, column: 1 });
        assert_eq!(index.position(3), Position { line: 2, column: 1 });
        // `ç` is two bytes but one column.
        assert_eq!(index.position(5), Position { line: 2, column: 2 });
        assert_eq!(index.position(9), Position { line: 3, column: 1 });
    }
}
