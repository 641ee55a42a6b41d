//! One file per command. Each is `fn name(args, printer) -> Result<ExitStatus, CommandError>`:
//! findings in the user's files are an exit status, `CommandError` is for usage and I/O.

pub mod batch;
pub mod check;
pub mod codegen;
pub mod fmt;
pub mod init;
pub mod models;
pub mod run;
pub mod runs;
pub mod schema;
pub mod stats;

use std::path::{Path, PathBuf};

use crate::cli::Printer;
use crate::report::{self, LineIndex};
use crate::Compiled;

/// Usage and I/O errors: the command could not do its job (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write `{path}`: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("`{path}` does not exist")]
    Missing { path: String },
    #[error("{message}")]
    Usage {
        message: String,
        help: Option<String>,
    },
}

impl CommandError {
    /// What the user can do about it.
    pub fn help(&self) -> Option<String> {
        match self {
            CommandError::Read { .. } => Some("check the path and its permissions".to_string()),
            CommandError::Write { source, .. } => Some(
                match source.kind() {
                    std::io::ErrorKind::StorageFull => "free some space on that disk",
                    _ => "check that the directory exists and is writable",
                }
                .to_string(),
            ),
            CommandError::Missing { .. } => {
                Some("give a `.sig` file or a directory that contains some".to_string())
            }
            CommandError::Usage { help, .. } => help.clone(),
        }
    }

    pub(crate) fn usage(message: impl Into<String>, help: impl Into<String>) -> Self {
        CommandError::Usage {
            message: message.into(),
            help: Some(help.into()),
        }
    }
}

/// The `.sig` files named by `paths`: files as given, directories searched recursively (hidden
/// directories, `target` and `node_modules` skipped), sorted for stable output.
pub(crate) fn sig_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CommandError> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = walkdir::WalkDir::new(path)
                .sort_by_file_name()
                .into_iter()
                .filter_entry(|e| e.depth() == 0 || !is_skipped_dir(e))
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_file())
                .map(walkdir::DirEntry::into_path)
                .filter(|p| p.extension().is_some_and(|x| x == "sig"))
                .collect();
            files.append(&mut found);
        } else if path.exists() {
            files.push(path.clone());
        } else {
            return Err(CommandError::Missing {
                path: display(path),
            });
        }
    }
    Ok(files)
}

fn is_skipped_dir(entry: &walkdir::DirEntry) -> bool {
    let name = entry.file_name().to_string_lossy();
    entry.file_type().is_dir()
        && (name.starts_with('.') || name == "target" || name == "node_modules")
}

/// A path as messages and generated headers show it: as given, with `/` separators.
pub(crate) fn display(path: &Path) -> String {
    let text = path.to_string_lossy().replace('\\', "/");
    text.strip_prefix("./").map(str::to_string).unwrap_or(text)
}

/// One file read and checked, with the text diagnostics are drawn against.
pub(crate) struct LoadedFile {
    pub path: String,
    /// The file as text (invalid UTF-8 replaced, only for showing where it is).
    pub text: String,
    pub compiled: Compiled,
}

pub(crate) fn load(path: &Path) -> Result<LoadedFile, CommandError> {
    let bytes = std::fs::read(path).map_err(|source| CommandError::Read {
        path: display(path),
        source,
    })?;
    let mut compiled = crate::compile(&bytes, path);
    let text = String::from_utf8_lossy(&bytes).into_owned();
    // In the lossy text the first bad byte became U+FFFD; underline that character.
    for diagnostic in &mut compiled.diagnostics {
        if diagnostic.code == "E0104" {
            diagnostic.span.end = diagnostic.span.start + char::REPLACEMENT_CHARACTER.len_utf8();
        }
    }
    Ok(LoadedFile {
        path: display(path),
        text,
        compiled,
    })
}

/// Prints a file's diagnostics for a person; returns (errors, warnings).
pub(crate) fn print_diagnostics(file: &LoadedFile, printer: &Printer) -> (usize, usize) {
    let mut counts = (0, 0);
    for diagnostic in &file.compiled.diagnostics {
        if diagnostic.is_error() {
            counts.0 += 1;
        } else {
            counts.1 += 1;
        }
        let mut text = report::render(diagnostic, &file.path, &file.text, printer.style());
        text.push('\n');
        printer.message(&text);
    }
    counts
}

/// Loads one file for a command that needs a valid document; prints its diagnostics.
/// `Ok(None)` means the file has errors (exit 1).
pub(crate) fn load_valid(
    path: &Path,
    printer: &Printer,
) -> Result<Option<LoadedFile>, CommandError> {
    let file = load(path)?;
    let (errors, _) = print_diagnostics(&file, printer);
    if errors > 0 {
        printer.message(&format!(
            "error: `{}` has {} error{}; fix {} first (`dspex check {}`)\n",
            file.path,
            errors,
            plural(errors),
            if errors == 1 { "it" } else { "them" },
            file.path
        ));
        return Ok(None);
    }
    Ok(Some(file))
}

pub(crate) fn plural(count: usize) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
}

/// `LineIndex` for JSON output.
pub(crate) fn line_index(file: &LoadedFile) -> LineIndex<'_> {
    LineIndex::new(&file.text)
}
