//! The command line: argument definitions, resolved settings, exit statuses and the printer that
//! every command writes through (data to stdout, everything else to stderr).

mod printer;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use printer::Printer;

use crate::commands;

/// dspex: declarative language-model programs as typed, fast, CI-friendly artifacts.
#[derive(Debug, Parser)]
#[command(name = "dspex", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// When to use colours in diagnostics.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check `.sig` files and report every mistake.
    Check(CheckArgs),
    /// Rewrite `.sig` files in the canonical layout.
    Fmt(FmtArgs),
    /// Print the JSON Schema of a file's signatures.
    Schema(SchemaArgs),
    /// Generate typed code from `.sig` files.
    Codegen(CodegenArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Files or directories (searched recursively for `*.sig`); default: the current directory.
    pub paths: Vec<PathBuf>,

    /// Output format for diagnostics.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,

    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Human,
    Json,
}

#[derive(Debug, Args)]
pub struct FmtArgs {
    /// Files or directories; `-` reads standard input and writes standard output.
    pub paths: Vec<PathBuf>,

    /// Change nothing; list unformatted files and exit 1 if there are any.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// The `.sig` file.
    pub file: PathBuf,

    /// Only this signature: prints `{"inputs": ..., "outputs": ...}`.
    #[arg(long, short = 's')]
    pub signature: Option<String>,

    /// The variant OpenAI structured outputs accept: every property required,
    /// `additionalProperties: false`, optional fields as a union with null.
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Args)]
pub struct CodegenArgs {
    /// The language to generate.
    #[arg(long, short = 't', value_enum)]
    pub target: TargetArg,

    /// `.sig` files or directories.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,

    /// Directory to write into (created if missing); without it, one file's code goes to stdout.
    #[arg(long = "out-dir", short = 'o')]
    pub out_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TargetArg {
    Rust,
    #[value(alias = "ts")]
    Typescript,
    #[value(alias = "py")]
    Python,
    JsonSchema,
}

/// How a command ended; the process exit code. Documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: done, nothing wrong.
    Success,
    /// 1: the inputs have errors (diagnostics, unformatted files).
    Failure,
    /// 2: usage or I/O error.
    Error,
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        std::process::ExitCode::from(match status {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Error => 2,
        })
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitStatus {
    let printer = Printer::new(cli.color);
    let result = match cli.command {
        Command::Check(args) => commands::check::check(args, &printer),
        Command::Fmt(args) => commands::fmt::fmt(args, &printer),
        Command::Schema(args) => commands::schema::schema(args, &printer),
        Command::Codegen(args) => commands::codegen::codegen(args, &printer),
    };
    match result {
        Ok(status) => status,
        Err(error) => {
            printer.error(&error);
            ExitStatus::Error
        }
    }
}
