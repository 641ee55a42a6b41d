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
    /// Run a program against a language model and print its typed outputs.
    Run(Box<RunArgs>),
    /// List recorded executions, or show one with `runs show ID`.
    Runs(RunsArgs),
    /// Count, error rate, latency percentiles, tokens and cost per program and model.
    Stats(StatsArgs),
    /// Write a commented starter `dspex.yaml` and an example signature.
    Init(InitArgs),
    /// List, pull and locate local models (GGUF files for `local/` models).
    Models(ModelsArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The `.sig` file.
    pub file: PathBuf,

    /// The program to run (default: the file's first program, else its only signature).
    #[arg(long, short = 'p', conflicts_with = "signature")]
    pub program: Option<String>,

    /// Run this signature under `predict`.
    #[arg(long, short = 's')]
    pub signature: Option<String>,

    /// An input as `name=value`; repeat the flag for more inputs, or for the items of a list.
    #[arg(long, short = 'i', value_name = "NAME=VALUE")]
    pub input: Vec<String>,

    /// A JSON file with an object of inputs.
    #[arg(long, value_name = "FILE.json")]
    pub inputs: Option<PathBuf>,

    /// Run every line (a JSON object of inputs) of a JSONL file; results are JSONL in input order.
    #[arg(long, value_name = "FILE.jsonl", conflicts_with_all = ["input", "inputs"])]
    pub batch: Option<PathBuf>,

    /// Where batch results go (default: stdout).
    #[arg(long, short = 'o', requires = "batch")]
    pub output: Option<PathBuf>,

    /// Executions in flight at once (batch), and the model's request limit [default: the
    /// model's `max_concurrency`, 16 unless configured].
    #[arg(long, short = 'j')]
    pub concurrency: Option<usize>,

    /// No progress bar (there is none when stderr is not a terminal).
    #[arg(long)]
    pub no_progress: bool,

    /// Print the outputs as one JSON object.
    #[arg(long)]
    pub json: bool,

    /// The model: a name from dspex.yaml or a model string (`openai/gpt-4o-mini`).
    #[arg(long, short = 'm')]
    pub model: Option<String>,

    /// Base URL of an OpenAI-compatible or Anthropic server.
    #[arg(long)]
    pub base_url: Option<String>,

    #[arg(long)]
    pub temperature: Option<f64>,

    #[arg(long)]
    pub max_tokens: Option<u32>,

    /// Sampling seed: runs at temperature > 0 repeat (local models; sent to OpenAI-compatible
    /// servers).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// `chat` (DSPy's ChatAdapter prompts) or `json` (structured outputs).
    #[arg(long, value_enum)]
    pub adapter: Option<AdapterArg>,

    /// Instructions and demos saved by DSPy's `save()` (or by `dspex optimize`).
    #[arg(long, value_name = "FILE.json")]
    pub artifact: Option<PathBuf>,

    #[command(flatten)]
    pub store: StoreArgs,

    /// Do not read or write the response cache.
    #[arg(long, conflicts_with = "offline")]
    pub no_cache: bool,

    /// Answer only from the response cache; a miss is an error.
    #[arg(long)]
    pub offline: bool,

    /// The configuration file (default: `dspex.yaml` here or in a parent directory).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AdapterArg {
    Chat,
    Json,
}

impl From<AdapterArg> for crate::adapter::AdapterKind {
    fn from(arg: AdapterArg) -> Self {
        match arg {
            AdapterArg::Chat => crate::adapter::AdapterKind::Chat,
            AdapterArg::Json => crate::adapter::AdapterKind::Json,
        }
    }
}

#[derive(Debug, Args, Clone)]
pub struct StoreArgs {
    // `global`: `dspex runs show ID --store PATH` works as well as `runs --store PATH show ID`.
    /// The execution store (default: `.dspex/dspex.db` next to dspex.yaml, or here).
    #[arg(long = "store", value_name = "PATH", global = true)]
    pub path: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    #[command(subcommand)]
    pub command: Option<RunsCommand>,

    /// Only the last N executions.
    #[arg(long, default_value_t = 20)]
    pub last: usize,

    /// Only this program.
    #[arg(long)]
    pub program: Option<String>,

    /// Only executions with this status.
    #[arg(long, value_enum)]
    pub status: Option<StatusArg>,

    /// JSON instead of a table.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub store: StoreArgs,

    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// One execution with its prompt messages and the raw LM reply.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    Success,
    Failed,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Only this program.
    #[arg(long)]
    pub program: Option<String>,

    /// JSON instead of a table.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub store: StoreArgs,

    #[arg(long)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The directory to write into (default: here).
    #[arg(default_value = ".")]
    pub directory: PathBuf,

    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    pub command: ModelsCommand,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Known models and installed GGUF files, with sizes.
    List {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Download a model and verify its SHA-256 (nothing is done if a verified copy is installed).
    Pull(ModelsPullArgs),
    /// Print the path of an installed model's file.
    Path {
        /// A known model or the name of an installed file.
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct ModelsPullArgs {
    /// A known model (`dspex models list`), or the name to install a `--url` download under.
    #[arg(default_value = crate::models::DEFAULT_MODEL)]
    pub name: String,

    /// Download this GGUF file instead; it is installed as `NAME.gguf`. For a known model, a
    /// mirror of its file.
    #[arg(long)]
    pub url: Option<String>,

    /// The file's SHA-256 (64 hexadecimal digits); required with `--url` for a new name.
    #[arg(long, requires = "url", value_name = "HEX")]
    pub sha256: Option<String>,

    /// Download again even if a verified copy is installed.
    #[arg(long)]
    pub force: bool,

    /// No progress bar (there is none when stderr is not a terminal).
    #[arg(long)]
    pub no_progress: bool,
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
    /// 130: stopped by Ctrl-C (finished work is kept).
    Interrupted,
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        std::process::ExitCode::from(match status {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Error => 2,
            ExitStatus::Interrupted => 130,
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
        Command::Run(args) => commands::run::run(*args, &printer),
        Command::Runs(args) => commands::runs::runs(args, &printer),
        Command::Stats(args) => commands::stats::stats(args, &printer),
        Command::Init(args) => commands::init::init(args, &printer),
        Command::Models(args) => commands::models::models(args, &printer),
    };
    match result {
        Ok(status) => status,
        Err(error) => {
            printer.error(&error);
            ExitStatus::Error
        }
    }
}
