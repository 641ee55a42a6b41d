//! The printer: data to stdout, diagnostics and messages to stderr, colours decided once.

use std::io::{IsTerminal, Write};

use super::ColorChoice;
use crate::commands::CommandError;
use crate::report::Style;

/// Where and how a command writes.
#[derive(Debug, Clone)]
pub struct Printer {
    style: Style,
}

impl Printer {
    pub fn new(color: ColorChoice) -> Printer {
        let terminal = std::io::stderr().is_terminal();
        let color = match color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => terminal && std::env::var_os("NO_COLOR").is_none(),
        };
        Printer {
            style: Style {
                color,
                unicode: true,
                width: if terminal { 120 } else { 100 },
            },
        }
    }

    /// How diagnostics should be drawn on stderr.
    pub fn style(&self) -> Style {
        self.style
    }

    /// Data: the command's result, on stdout.
    pub fn data(&self, text: &str) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()
    }

    /// Anything for the person: diagnostics, progress, summaries, on stderr.
    pub fn message(&self, text: &str) {
        let mut err = std::io::stderr().lock();
        // Nothing useful can be done when stderr is gone.
        let _ = err.write_all(text.as_bytes());
    }

    /// A command error with its hint, on stderr.
    pub fn error(&self, error: &CommandError) {
        let mut text = format!("error: {error}\n");
        if let Some(help) = error.help() {
            text.push_str(&format!("  help: {help}\n"));
        }
        self.message(&text);
    }
}
