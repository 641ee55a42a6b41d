//! Runs one command and writes `SECONDS PEAK_KB EXIT_CODE` to a file: the wall time from just
//! before the spawn to the reap, and the child's peak resident set (`ru_maxrss` from `wait4`).
//!
//! ```text
//! measure RESULT_FILE COMMAND [ARGUMENTS...]
//! ```
//!
//! Why not measure from the Python runner: Linux carries the spawning process's peak RSS into
//! the child's `ru_maxrss` across `exec`, so a child of a 20 MB Python process never reports less
//! than 20 MB. This spawner stays around 2 MB, below every tool measured. The child inherits
//! standard input, output and error.

use std::process::{Command, ExitCode};
use std::time::Instant;

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let [result_file, program, rest @ ..] = arguments.as_slice() else {
        eprintln!("usage: measure RESULT_FILE COMMAND [ARGUMENTS...]");
        return ExitCode::from(2);
    };
    let start = Instant::now();
    let child = match Command::new(program).args(rest).spawn() {
        Ok(child) => child,
        Err(error) => {
            eprintln!("error: cannot run `{program}`: {error}");
            return ExitCode::from(2);
        }
    };
    let mut status = 0;
    // SAFETY: an all-zero `rusage` is valid, and `wait4` only writes into the two locals.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let seconds = start.elapsed().as_secs_f64();
    if reaped != pid {
        eprintln!("error: wait4 failed: {}", std::io::Error::last_os_error());
        return ExitCode::from(2);
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    let line = format!("{seconds:.6} {} {code}\n", usage.ru_maxrss);
    if let Err(error) = std::fs::write(result_file, line) {
        eprintln!("error: cannot write `{result_file}`: {error}");
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}
