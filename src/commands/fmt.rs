//! `dspex fmt`: rewrite `.sig` files in the canonical layout, or check that they are.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{display, sig_files, CommandError};
use crate::cli::{ExitStatus, FmtArgs, Printer};
use crate::report;
use crate::syntax::{decode, format::format};

pub fn fmt(args: FmtArgs, printer: &Printer) -> Result<ExitStatus, CommandError> {
    if args.paths.iter().any(|p| p == Path::new("-")) {
        if args.paths.len() > 1 {
            return Err(CommandError::usage(
                "`-` (standard input) cannot be combined with other paths",
                "run `dspex fmt -` on its own",
            ));
        }
        return stdin(args.check, printer);
    }
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths
    };
    let mut unformatted = 0;
    let mut broken = 0;
    for path in sig_files(&paths)? {
        let shown = display(&path);
        let bytes = std::fs::read(&path).map_err(|source| CommandError::Read {
            path: shown.clone(),
            source,
        })?;
        let Some(formatted) = formatted(&bytes, &shown, printer) else {
            broken += 1;
            continue;
        };
        if formatted.as_bytes() == bytes {
            continue;
        }
        unformatted += 1;
        if args.check {
            printer.message(&format!("would reformat {shown}\n"));
        } else {
            std::fs::write(&path, formatted).map_err(|source| CommandError::Write {
                path: shown.clone(),
                source,
            })?;
            printer.message(&format!("formatted {shown}\n"));
        }
    }
    if broken > 0 {
        printer.message(&format!(
            "error: {broken} file{} not formatted because of syntax errors\n",
            super::plural(broken)
        ));
    }
    Ok(if broken > 0 || (args.check && unformatted > 0) {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}

fn stdin(check: bool, printer: &Printer) -> Result<ExitStatus, CommandError> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .map_err(|source| CommandError::Read {
            path: "<stdin>".to_string(),
            source,
        })?;
    let Some(formatted) = formatted(&bytes, "<stdin>", printer) else {
        return Ok(ExitStatus::Failure);
    };
    if check {
        if formatted.as_bytes() != bytes {
            printer.message("would reformat <stdin>\n");
            return Ok(ExitStatus::Failure);
        }
        return Ok(ExitStatus::Success);
    }
    printer
        .data(&formatted)
        .map_err(|source| CommandError::Write {
            path: "stdout".to_string(),
            source,
        })?;
    Ok(ExitStatus::Success)
}

/// The canonical text, or `None` after printing why the file cannot be formatted.
fn formatted(bytes: &[u8], shown: &str, printer: &Printer) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let diagnostics = match decode(bytes) {
        Ok(source) => match format(source) {
            Ok(out) => return Some(out),
            Err(diagnostics) => diagnostics,
        },
        Err(mut diagnostic) => {
            diagnostic.span.end = diagnostic.span.start + char::REPLACEMENT_CHARACTER.len_utf8();
            vec![*diagnostic]
        }
    };
    for diagnostic in &diagnostics {
        let mut rendered = report::render(diagnostic, shown, &text, printer.style());
        rendered.push('\n');
        printer.message(&rendered);
    }
    None
}
