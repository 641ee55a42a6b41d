//! A standalone mock language-model server for benchmarks: it answers every chat completion
//! with one fixed reply, as fast as it can, on keep-alive connections.
//!
//! ```text
//! cargo run --release --example mock_lm -- --port 0 --reply "Paris"
//! cargo run --release --example mock_lm -- --reply-file reply.txt --anthropic
//! ```
//!
//! The first line on stdout is `listening on http://127.0.0.1:PORT/v1`; the server then runs
//! until it is killed.

#[path = "../tests/support/mock_lm.rs"]
mod mock_lm;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mock_lm::{MockLm, Options, Protocol, Reply};

/// Serve every chat completion with one fixed reply.
#[derive(Debug, Parser)]
struct Arguments {
    /// The port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The reply text.
    #[arg(
        long,
        conflicts_with = "reply_file",
        required_unless_present = "reply_file"
    )]
    reply: Option<String>,
    /// A file holding the reply text.
    #[arg(long)]
    reply_file: Option<PathBuf>,
    /// Speak Anthropic Messages (`POST /v1/messages`) instead of OpenAI chat completions.
    #[arg(long)]
    anthropic: bool,
    /// The reply is JSON: Anthropic gets it as the forced `respond` tool call's input.
    #[arg(long)]
    tool_input: bool,
    /// Wait this long before each reply, to stand in for a model's latency.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Server threads; defaults to the number of CPUs.
    #[arg(long)]
    threads: Option<usize>,
}

fn main() -> ExitCode {
    let arguments = Arguments::parse();
    match serve(arguments) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(arguments: Arguments) -> Result<(), String> {
    let text = match (&arguments.reply, &arguments.reply_file) {
        (Some(text), _) => text.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read `{}`: {error}", path.display()))?,
        (None, None) => return Err("give `--reply TEXT` or `--reply-file FILE`".to_owned()),
    };
    let mut reply = if arguments.tool_input {
        let input = serde_json::from_str(&text)
            .map_err(|error| format!("`--tool-input` needs a JSON reply: {error}"))?;
        Reply::tool_input(input)
    } else {
        Reply::text(text)
    };
    if arguments.latency_ms > 0 {
        reply = Reply::delayed(Duration::from_millis(arguments.latency_ms), reply);
    }
    let protocol = if arguments.anthropic {
        Protocol::Anthropic
    } else {
        Protocol::OpenAi
    };
    let threads = arguments.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let options = Options {
        port: arguments.port,
        threads,
        record: false,
    };
    let mock = MockLm::start(protocol, move |_| reply.clone(), options)
        .map_err(|error| format!("cannot listen on 127.0.0.1:{}: {error}", arguments.port))?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {}", mock.url())
        .and_then(|()| stdout.flush())
        .map_err(|error| format!("cannot write to stdout: {error}"))?;
    drop(stdout);
    loop {
        std::thread::park();
    }
}
