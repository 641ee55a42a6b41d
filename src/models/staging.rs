//! How a download becomes an installed model without ever leaving half a file under a model's
//! name: everything a pull writes goes into its own hidden work directory inside the models
//! directory (`.partial-<pid>-<nanos>`), the model is hashed as it is written, and only a file
//! with the right size, checksum and GGUF header is synced and renamed into place. A pull that
//! is killed leaves only its work directory, which the next pull removes once the process that
//! made it is gone.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use super::{ModelsError, GGUF_MAGIC};
use crate::digest::hex;

/// The prefix of work directories; nothing starting with `.` is ever listed as a model.
const PARTIAL_PREFIX: &str = ".partial-";

/// Where the process that made a work directory cannot be checked (not Linux), a work directory
/// untouched for this long is taken as abandoned.
#[cfg_attr(target_os = "linux", allow(dead_code))]
const ABANDONED_AFTER: Duration = Duration::from_secs(6 * 60 * 60);

/// Writes go to disk in pieces of this size.
const WRITE_BUFFER: usize = 1 << 20;

/// One pull's work directory, removed with everything in it when dropped.
pub(crate) struct PartialDir {
    path: PathBuf,
}

impl PartialDir {
    /// Creates a fresh work directory in `models_dir` (created too if missing).
    pub(crate) fn create(models_dir: &Path) -> Result<PartialDir, ModelsError> {
        std::fs::create_dir_all(models_dir)
            .map_err(|source| ModelsError::io("create", models_dir, source))?;
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos())
            .unwrap_or_default();
        let path = models_dir.join(format!("{PARTIAL_PREFIX}{}-{nanos}", std::process::id()));
        std::fs::create_dir(&path).map_err(|source| ModelsError::io("create", &path, source))?;
        Ok(PartialDir { path })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PartialDir {
    fn drop(&mut self) {
        // Whatever cannot be removed now is removed by the next pull.
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Removes the work directories that pulls killed before they finished left in `models_dir`.
/// Directories of pulls still running (in this process or another) are kept. Best effort:
/// whatever cannot be removed stays for the next time, and is never taken for a model.
pub(crate) fn remove_abandoned(models_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(models_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name
            .to_str()
            .and_then(|name| name.strip_prefix(PARTIAL_PREFIX))
        else {
            continue;
        };
        let pid = rest
            .split('-')
            .next()
            .and_then(|pid| pid.parse::<u32>().ok());
        let path = entry.path();
        if !pid.is_some_and(|pid| still_running(pid, &path)) {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// Whether the pull that made the work directory `path`, in process `pid`, may still be running.
fn still_running(pid: u32, path: &Path) -> bool {
    if pid == std::process::id() {
        return true;
    }
    #[cfg(target_os = "linux")]
    {
        let _ = path;
        Path::new("/proc").join(pid.to_string()).exists()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let newest = walkdir::WalkDir::new(path)
            .into_iter()
            .filter_map(Result::ok)
            .filter_map(|entry| entry.metadata().ok()?.modified().ok())
            .max();
        newest.is_some_and(|modified| modified.elapsed().unwrap_or_default() < ABANDONED_AFTER)
    }
}

/// What an installed file must be.
#[derive(Debug, Clone)]
pub(crate) struct Expected<'a> {
    /// The model's name, for messages.
    pub(crate) name: &'a str,
    pub(crate) size: Option<u64>,
    /// Lowercase hexadecimal.
    pub(crate) sha256: &'a str,
}

/// A model file being written inside a work directory, hashed as it goes.
pub(crate) struct StagedFile {
    path: PathBuf,
    writer: BufWriter<File>,
    hasher: Sha256,
    written: u64,
    /// The first bytes, to check the GGUF header.
    head: Vec<u8>,
}

impl StagedFile {
    pub(crate) fn create(path: PathBuf) -> Result<StagedFile, ModelsError> {
        let file =
            File::create(&path).map_err(|source| ModelsError::io("create", &path, source))?;
        Ok(StagedFile {
            writer: BufWriter::with_capacity(WRITE_BUFFER, file),
            path,
            hasher: Sha256::new(),
            written: 0,
            head: Vec::with_capacity(GGUF_MAGIC.len()),
        })
    }

    /// Appends `bytes`.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<(), ModelsError> {
        self.writer
            .write_all(bytes)
            .map_err(|source| ModelsError::io("write", &self.path, source))?;
        self.hasher.update(bytes);
        let missing = GGUF_MAGIC.len().saturating_sub(self.head.len());
        self.head
            .extend_from_slice(&bytes[..missing.min(bytes.len())]);
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    /// Checks the file against `expected` and that it is a GGUF file, then syncs it to disk and
    /// renames it to `target` (in the parent of the work directory: the same file system, so
    /// the rename is atomic). `source_name` describes where it came from, for messages.
    /// On failure the file stays in the work directory, which is removed with it.
    pub(crate) fn install(
        self,
        expected: &Expected<'_>,
        source_name: &str,
        target: &Path,
    ) -> Result<(), ModelsError> {
        let StagedFile {
            path,
            writer,
            hasher,
            written,
            head,
        } = self;
        let file = writer.into_inner().map_err(|error| {
            ModelsError::io(
                "write",
                &path,
                std::io::Error::new(error.error().kind(), error.error().to_string()),
            )
        })?;
        if let Some(size) = expected.size {
            if written != size {
                return Err(ModelsError::SizeMismatch {
                    name: expected.name.to_owned(),
                    source_name: source_name.to_owned(),
                    expected: size,
                    actual: written,
                });
            }
        }
        let actual = hex(&hasher.finalize());
        if actual != expected.sha256 {
            return Err(ModelsError::ChecksumMismatch {
                name: expected.name.to_owned(),
                source_name: source_name.to_owned(),
                expected: expected.sha256.to_owned(),
                actual,
            });
        }
        if head != GGUF_MAGIC {
            return Err(ModelsError::DownloadNotGguf {
                name: expected.name.to_owned(),
                source_name: source_name.to_owned(),
            });
        }
        file.sync_all()
            .map_err(|source| ModelsError::io("write", &path, source))?;
        drop(file);
        std::fs::rename(&path, target)
            .map_err(|source| ModelsError::io("install", target, source))?;
        sync_directory(target);
        Ok(())
    }
}

/// Makes the rename of `path` durable by syncing its directory (where the platform allows it).
fn sync_directory(path: &Path) {
    if let Some(directory) = path.parent() {
        if let Ok(directory) = File::open(directory) {
            // Not every platform or file system can sync a directory; the rename is done anyway.
            let _ = directory.sync_all();
        }
    }
}

/// The SHA-256 of the file at `path`, in lowercase hexadecimal.
pub(crate) fn sha256_file(path: &Path) -> Result<String, ModelsError> {
    let mut file = File::open(path).map_err(|source| ModelsError::io("read", path, source))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = std::io::Read::read(&mut file, &mut buffer)
            .map_err(|source| ModelsError::io("read", path, source))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex(&hasher.finalize()))
}

/// `bytes` in lowercase hexadecimal.
#[cfg(test)]
mod tests {
    use super::*;

    fn sha256(bytes: &[u8]) -> String {
        crate::digest::sha256_hex(bytes)
    }

    #[test]
    fn a_verified_file_is_renamed_into_place_and_the_work_directory_removed() {
        let models = tempfile::tempdir().expect("temp dir");
        let body = b"GGUF and the rest of a model";
        let target = models.path().join("tiny.gguf");
        {
            let partial = PartialDir::create(models.path()).expect("work directory");
            let mut staged = StagedFile::create(partial.path().join("tiny.gguf")).expect("staged");
            staged.write(&body[..2]).expect("write");
            staged.write(&body[2..]).expect("write");
            let expected = Expected {
                name: "tiny",
                size: Some(body.len() as u64),
                sha256: &sha256(body),
            };
            staged
                .install(&expected, "a test", &target)
                .expect("install");
        }
        assert_eq!(std::fs::read(&target).expect("installed"), body);
        let left: Vec<_> = std::fs::read_dir(models.path())
            .expect("list")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("tiny.gguf")]);
    }

    #[test]
    fn a_bad_file_is_never_installed() {
        let models = tempfile::tempdir().expect("temp dir");
        let target = models.path().join("tiny.gguf");
        let partial = PartialDir::create(models.path()).expect("work directory");
        let install = |body: &[u8], expected: &Expected<'_>| {
            let mut staged = StagedFile::create(partial.path().join("tiny.gguf")).expect("staged");
            staged.write(body).expect("write");
            staged.install(expected, "a test", &target)
        };
        let good = b"GGUF...";
        let error = install(
            b"GGUF..!",
            &Expected {
                name: "tiny",
                size: Some(7),
                sha256: &sha256(good),
            },
        )
        .expect_err("checksum");
        assert!(
            matches!(error, ModelsError::ChecksumMismatch { .. }),
            "{error}"
        );
        let error = install(
            b"GGUF",
            &Expected {
                name: "tiny",
                size: Some(7),
                sha256: &sha256(b"GGUF"),
            },
        )
        .expect_err("size");
        assert!(
            matches!(
                error,
                ModelsError::SizeMismatch {
                    expected: 7,
                    actual: 4,
                    ..
                }
            ),
            "{error}"
        );
        let html = b"<html>";
        let error = install(
            html,
            &Expected {
                name: "tiny",
                size: None,
                sha256: &sha256(html),
            },
        )
        .expect_err("not gguf");
        assert!(
            matches!(error, ModelsError::DownloadNotGguf { .. }),
            "{error}"
        );
        assert!(!target.exists());
    }

    #[test]
    fn abandoned_work_directories_are_removed_and_live_ones_kept() {
        let models = tempfile::tempdir().expect("temp dir");
        let live = PartialDir::create(models.path()).expect("work directory");
        // No process has this id (above Linux's pid_max), so its pull is over.
        let dead = models.path().join(format!("{PARTIAL_PREFIX}4294967295-1"));
        std::fs::create_dir(&dead).expect("dead directory");
        std::fs::write(dead.join("model.gguf"), b"GGUF half").expect("half a file");
        let garbage = models.path().join(format!("{PARTIAL_PREFIX}garbage"));
        std::fs::create_dir(&garbage).expect("garbage directory");
        remove_abandoned(models.path());
        assert!(live.path().exists());
        #[cfg(target_os = "linux")]
        assert!(!dead.exists());
        assert!(!garbage.exists());
    }
}
