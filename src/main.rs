//! The `dspex` binary: parses the command line and hands off to `dspex::cli`.

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    let cli = dspex::cli::Cli::parse();
    dspex::cli::run(cli).into()
}

/// jemalloc, for its cheap frees of memory another thread allocated (see Cargo.toml).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
