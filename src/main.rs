//! The `dspex` binary: parses the command line and hands off to `dspex::cli`.

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    let cli = dspex::cli::Cli::parse();
    dspex::cli::run(cli).into()
}
