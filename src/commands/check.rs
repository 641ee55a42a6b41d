//! `dspex check`: report every mistake in every file.

use std::path::PathBuf;

use super::{line_index, load, plural, print_diagnostics, sig_files, CommandError};
use crate::cli::{CheckArgs, ExitStatus, OutputFormat, Printer};
use crate::report;

pub fn check(args: CheckArgs, printer: &Printer) -> Result<ExitStatus, CommandError> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths
    };
    let files = sig_files(&paths)?;
    let mut errors = 0;
    let mut warnings = 0;
    let mut json = Vec::new();
    for path in &files {
        let file = load(path)?;
        match args.format {
            OutputFormat::Human => {
                let (e, w) = print_diagnostics(&file, printer);
                errors += e;
                warnings += w;
            }
            OutputFormat::Json => {
                let index = line_index(&file);
                for diagnostic in &file.compiled.diagnostics {
                    if diagnostic.is_error() {
                        errors += 1;
                    } else {
                        warnings += 1;
                    }
                    json.push(report::to_json(diagnostic, &file.path, &index));
                }
            }
        }
    }
    let failed = errors > 0 || (args.deny_warnings && warnings > 0);
    match args.format {
        OutputFormat::Json => {
            let document = serde_json::json!({
                "files": files.len(),
                "errors": errors,
                "warnings": warnings,
                "diagnostics": json,
            });
            let text = serde_json::to_string_pretty(&document).unwrap_or_default() + "\n";
            printer.data(&text).map_err(|source| CommandError::Write {
                path: "stdout".to_string(),
                source,
            })?;
        }
        OutputFormat::Human => {
            let files_word = format!("{} file{}", files.len(), plural(files.len()));
            let summary = if errors == 0 && warnings == 0 {
                format!("checked {files_word}: no problems\n")
            } else {
                format!(
                    "checked {files_word}: {errors} error{}, {warnings} warning{}{}\n",
                    plural(errors),
                    plural(warnings),
                    if !failed && warnings > 0 {
                        " (warnings fail the run only with --deny-warnings)"
                    } else {
                        ""
                    }
                )
            };
            printer.message(&summary);
        }
    }
    Ok(if failed {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}
