//! Settings resolved once, before a command runs: `dspex.yaml` (found by walking up from the
//! current directory), then environment variables, then flags. Model names resolve to a
//! [`ModelSpec`]: a name declared under `models:`, or a DSPy-style model string
//! (`openai/gpt-4o-mini`, `anthropic/claude-...`, `ollama/llama3.2`), or a local model
//! (`local/smollm2-135m`, `local:/path/to/model.gguf`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::adapter::AdapterKind;
use crate::lm::{ModelSpec, Price, ProviderKind};

/// The file `dspex` looks for.
pub const CONFIG_FILE: &str = "dspex.yaml";
/// The store, relative to the project root, unless configured otherwise.
pub const DEFAULT_STORE: &str = ".dspex/dspex.db";

const OPENAI_URL: &str = "https://api.openai.com/v1";
const ANTHROPIC_URL: &str = "https://api.anthropic.com/v1";
const OLLAMA_URL: &str = "http://localhost:11434/v1";

/// `dspex.yaml` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The default model: a name under `models`, or a model string.
    pub model: Option<String>,
    /// The store's path, relative to the file.
    pub store: Option<PathBuf>,
    /// Whether LM replies are cached (default true).
    pub cache: Option<bool>,
    /// `chat` (default) or `json`.
    pub adapter: Option<AdapterKind>,
    #[serde(default)]
    pub models: BTreeMap<String, ModelEntry>,
}

/// One named model in `dspex.yaml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// A model-string prefix: `openai`, `anthropic`, `ollama`, `vllm`, `local`, ... (so
    /// `provider: ollama` gets Ollama's local URL and no key, as `ollama/MODEL` does).
    pub provider: Option<String>,
    /// The provider's model id; with no provider, a model string (`openai/gpt-4o-mini`).
    pub model: String,
    pub base_url: Option<String>,
    /// The name of the environment variable holding the API key (never the key itself).
    pub api_key_env: Option<String>,
    /// USD per million tokens.
    pub price: Option<Price>,
    pub timeout_secs: Option<f64>,
    pub max_concurrency: Option<usize>,
    pub requests_per_minute: Option<u32>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    /// Sampling seed (local models; sent to OpenAI-compatible servers).
    pub seed: Option<u64>,
    pub max_retries: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read `{path}`: {message}")]
    Read { path: String, message: String },
    #[error("`{path}` is not a valid dspex.yaml: {message}")]
    Invalid { path: String, message: String },
    #[error("no model configured")]
    NoModel,
    #[error("unknown model `{name}`")]
    UnknownModel { name: String, known: Vec<String> },
    #[error("unknown provider `{provider}` in model string `{name}`")]
    UnknownProvider { name: String, provider: String },
    #[error("model `{name}`: {message}")]
    BadModel { name: String, message: String },
}

impl ConfigError {
    /// What to do about it.
    pub fn help(&self) -> Option<String> {
        match self {
            ConfigError::NoModel => Some(
                "pass `--model local/smollm2-135m` (a small model run in-process, no server or \
                 key), `--model openai/gpt-4o-mini` (or `anthropic/...`, `ollama/llama3.2`, or \
                 any name with `--base-url URL` for an OpenAI-compatible server), set \
                 `DSPEX_MODEL`, or set `model:` in dspex.yaml (`dspex init` writes a commented \
                 one)"
                    .to_owned(),
            ),
            ConfigError::UnknownModel { known, .. } => Some(if known.is_empty() {
                "use a model string such as `openai/gpt-4o-mini`, or declare the name under \
                 `models:` in dspex.yaml"
                    .to_owned()
            } else {
                format!(
                    "dspex.yaml declares {}; or use a model string such as `openai/gpt-4o-mini`",
                    known
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }),
            ConfigError::UnknownProvider { .. } => Some(
                "known providers: `openai`, `anthropic`, `ollama`, `vllm`, `local` (in-process \
                 GGUF models); any OpenAI-compatible server works as `MODEL --base-url URL`"
                    .to_owned(),
            ),
            ConfigError::Invalid { .. } => {
                Some("`dspex init` writes a commented example of every setting".to_owned())
            }
            _ => None,
        }
    }
}

/// The loaded configuration: the file (if any) and where it was found.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub file: ConfigFile,
    /// The directory of `dspex.yaml`, or the current directory without one.
    pub root: PathBuf,
    pub path: Option<PathBuf>,
}

/// Overrides from the command line (highest precedence).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub model: Option<String>,
    pub base_url: Option<String>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    pub seed: Option<u64>,
    pub store: Option<PathBuf>,
    pub concurrency: Option<usize>,
}

impl Config {
    /// Finds `dspex.yaml` from `start` upwards (or reads `explicit`) and parses it.
    pub fn load(start: &Path, explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let path = match explicit {
            Some(path) => Some(path.to_path_buf()),
            None => start
                .ancestors()
                .map(|dir| dir.join(CONFIG_FILE))
                .find(|candidate| candidate.is_file()),
        };
        let Some(path) = path else {
            return Ok(Config {
                file: ConfigFile::default(),
                root: start.to_path_buf(),
                path: None,
            });
        };
        let text = std::fs::read_to_string(&path).map_err(|error| ConfigError::Read {
            path: path.display().to_string(),
            message: error.to_string(),
        })?;
        let file: ConfigFile = if text.trim().is_empty() {
            ConfigFile::default()
        } else {
            serde_yaml_ng::from_str(&text).map_err(|error| ConfigError::Invalid {
                path: path.display().to_string(),
                message: error.to_string(),
            })?
        };
        let root = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| start.to_path_buf());
        Ok(Config {
            file,
            root,
            path: Some(path),
        })
    }

    /// The store path: flag, then `DSPEX_STORE`, then the file's `store:`, then the default,
    /// relative to the project root.
    pub fn store_path(&self, overrides: &Overrides) -> PathBuf {
        if let Some(path) = &overrides.store {
            return path.clone();
        }
        if let Some(path) = env_nonempty("DSPEX_STORE") {
            return PathBuf::from(path);
        }
        let configured = self
            .file
            .store
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STORE));
        if configured.is_absolute() {
            configured
        } else {
            self.root.join(configured)
        }
    }

    /// The adapter to use unless a flag says otherwise.
    pub fn adapter(&self) -> AdapterKind {
        self.file.adapter.unwrap_or(AdapterKind::Chat)
    }

    /// Whether the response cache is on (flags can still turn it off).
    pub fn cache(&self) -> bool {
        self.file.cache.unwrap_or(true)
    }

    /// The model to run: `--model`, then `DSPEX_MODEL`, then the file's `model:`, resolved to
    /// a spec with the other overrides applied.
    pub fn model(&self, overrides: &Overrides) -> Result<ModelSpec, ConfigError> {
        let name = overrides
            .model
            .clone()
            .or_else(|| env_nonempty("DSPEX_MODEL"))
            .or_else(|| self.file.model.clone())
            .ok_or(ConfigError::NoModel)?;
        let base_url = overrides
            .base_url
            .clone()
            .or_else(|| env_nonempty("DSPEX_BASE_URL"));
        let mut spec = self.resolve(&name, base_url.as_deref())?;
        if let Some(temperature) = overrides.temperature {
            spec.temperature = Some(temperature);
        }
        if let Some(max_tokens) = overrides.max_tokens {
            spec.max_tokens = Some(max_tokens);
        }
        if let Some(seed) = overrides.seed {
            spec.seed = Some(seed);
        }
        if let Some(concurrency) = overrides.concurrency {
            spec.max_concurrency = concurrency.max(1);
        }
        Ok(spec)
    }

    fn resolve(&self, name: &str, base_url: Option<&str>) -> Result<ModelSpec, ConfigError> {
        if let Some(entry) = self.file.models.get(name) {
            return from_entry(name, entry, base_url);
        }
        let mut spec = from_model_string(name, name, base_url).map_err(|error| match error {
            ConfigError::BadModel { .. } if !name.contains('/') => ConfigError::UnknownModel {
                name: name.to_owned(),
                known: self.file.models.keys().cloned().collect(),
            },
            other => other,
        })?;
        spec.name = name.to_owned();
        Ok(spec)
    }
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// A spec from a model string: `provider/model`, or a bare model id with a base URL (an
/// OpenAI-compatible server).
fn from_model_string(
    name: &str,
    model: &str,
    base_url: Option<&str>,
) -> Result<ModelSpec, ConfigError> {
    if let Some(path) = model.strip_prefix("local:") {
        return Ok(ModelSpec::local(name, path));
    }
    let (provider, id) = match model.split_once('/') {
        Some(("local", id)) if !id.is_empty() => {
            if id.contains('/') {
                return Err(ConfigError::BadModel {
                    name: name.to_owned(),
                    message: "a local model is `local/NAME` (see `dspex models list`) or \
                              `local:/path/to/model.gguf`"
                        .to_owned(),
                });
            }
            return Ok(ModelSpec::local(name, id));
        }
        Some((provider, id)) if !id.is_empty() => (provider, id),
        _ if base_url.is_some() => ("openai", model),
        _ => {
            return Err(ConfigError::BadModel {
                name: name.to_owned(),
                message: "a model string is `provider/model`".to_owned(),
            })
        }
    };
    let (kind, default_url, key, id) = match provider {
        "openai" => (ProviderKind::OpenAi, OPENAI_URL, Some("OPENAI_API_KEY"), id),
        "anthropic" => (
            ProviderKind::Anthropic,
            ANTHROPIC_URL,
            Some("ANTHROPIC_API_KEY"),
            id,
        ),
        "ollama" | "ollama_chat" => (ProviderKind::OpenAi, OLLAMA_URL, None, id),
        "hosted_vllm" | "vllm" | "llamacpp" | "lm_studio" | "openai_compatible"
        | "openai-compatible" => {
            let Some(_) = base_url else {
                return Err(ConfigError::BadModel {
                    name: name.to_owned(),
                    message: format!("`{provider}/` needs `--base-url` (or `base_url:`)"),
                });
            };
            (ProviderKind::OpenAi, OPENAI_URL, None, id)
        }
        // A server's own model id with a slash (`meta-llama/Llama-3.1-8B`), at a given URL.
        _ if base_url.is_some() => (ProviderKind::OpenAi, OPENAI_URL, None, model),
        other => {
            return Err(ConfigError::UnknownProvider {
                name: name.to_owned(),
                provider: other.to_owned(),
            })
        }
    };
    let custom_url = base_url.is_some_and(|url| url.trim_end_matches('/') != default_url);
    // A local OpenAI-compatible server needs no key: use the variable only when it is set.
    let api_key_env = match key {
        Some(variable) if custom_url && std::env::var_os(variable).is_none() => None,
        other => other.map(str::to_owned),
    };
    Ok(ModelSpec {
        name: name.to_owned(),
        provider: kind,
        model: id.to_owned(),
        base_url: base_url
            .unwrap_or(default_url)
            .trim_end_matches('/')
            .to_owned(),
        api_key_env,
        price: None,
        timeout: Duration::from_secs(60),
        max_concurrency: 16,
        requests_per_minute: None,
        temperature: None,
        max_tokens: None,
        seed: None,
        max_retries: 3,
    })
}

fn from_entry(
    name: &str,
    entry: &ModelEntry,
    base_url: Option<&str>,
) -> Result<ModelSpec, ConfigError> {
    let base_url = base_url.or(entry.base_url.as_deref());
    let mut spec = match &entry.provider {
        Some(provider) => {
            let prefixed = format!("{provider}/{}", entry.model);
            from_model_string(name, &prefixed, base_url)?
        }
        None => from_model_string(name, &entry.model, base_url)?,
    };
    if entry.api_key_env.is_some() {
        spec.api_key_env = entry.api_key_env.clone();
    }
    spec.price = entry.price;
    if let Some(seconds) = entry.timeout_secs {
        if !(seconds.is_finite() && seconds > 0.0) {
            return Err(ConfigError::BadModel {
                name: name.to_owned(),
                message: format!("`timeout_secs` must be a positive number, not {seconds}"),
            });
        }
        spec.timeout = Duration::from_secs_f64(seconds);
    }
    if let Some(concurrency) = entry.max_concurrency {
        spec.max_concurrency = concurrency.max(1);
    }
    spec.requests_per_minute = entry.requests_per_minute;
    spec.temperature = entry.temperature;
    spec.max_tokens = entry.max_tokens;
    spec.seed = entry.seed;
    if let Some(retries) = entry.max_retries {
        spec.max_retries = retries;
    }
    Ok(spec)
}

/// The commented starter file `dspex init` writes.
pub const STARTER: &str = r#"# dspex.yaml: project settings for `dspex run`, `runs` and `stats`.
# Precedence: command-line flags, then environment variables (DSPEX_MODEL, DSPEX_BASE_URL,
# DSPEX_STORE), then this file.

# The model `dspex run` uses: a name declared under `models:` below, or a model string such as
# `openai/gpt-4o-mini`, `anthropic/claude-3-5-haiku-latest` or `ollama/llama3.2`.
model: fast

# Where executions and cached replies are recorded (relative to this file).
store: .dspex/dspex.db

# Cache LM replies (keyed by the exact request, never by credentials). `--no-cache` skips it,
# `--offline` answers only from it.
cache: true

# `chat` (DSPy's ChatAdapter prompts, the default) or `json` (structured outputs).
adapter: chat

models:
  fast:
    provider: openai            # openai, anthropic, ollama, vllm (+ base_url), local
    model: gpt-4o-mini
    base_url: https://api.openai.com/v1
    api_key_env: OPENAI_API_KEY # the NAME of the variable holding the key, never the key
    price: { input: 0.15, output: 0.60 }   # USD per million tokens, for `dspex stats`
    timeout_secs: 60
    max_concurrency: 16
    requests_per_minute: 500
    temperature: 0.0
    max_tokens: 1024
    max_retries: 3

  claude:
    provider: anthropic
    model: claude-3-5-haiku-latest
    api_key_env: ANTHROPIC_API_KEY
    price: { input: 0.80, output: 4.00 }

  local:
    model: ollama/llama3.2      # Ollama on http://localhost:11434/v1, no key needed
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_strings_resolve_without_a_file() {
        let config = Config::default();
        let spec = config
            .resolve("anthropic/claude-3-5-haiku-latest", None)
            .expect("anthropic");
        assert_eq!(spec.provider, ProviderKind::Anthropic);
        assert_eq!(spec.base_url, ANTHROPIC_URL);
        assert_eq!(spec.api_key_env.as_deref(), Some("ANTHROPIC_API_KEY"));
        let spec = config.resolve("ollama/llama3.2", None).expect("ollama");
        assert_eq!(spec.base_url, OLLAMA_URL);
        assert_eq!(spec.api_key_env, None);
        assert!(matches!(
            config.resolve("gpt-4o", None),
            Err(ConfigError::UnknownModel { .. })
        ));
        assert!(matches!(
            config.resolve("nope/x", None),
            Err(ConfigError::UnknownProvider { .. })
        ));
        let spec = config
            .resolve("my-model", Some("http://127.0.0.1:9/v1/"))
            .expect("bare id with a base URL");
        assert_eq!(spec.base_url, "http://127.0.0.1:9/v1");
        assert_eq!(spec.model, "my-model");
        let spec = config
            .resolve("meta-llama/Llama-3.1-8B", Some("http://127.0.0.1:9/v1"))
            .expect("a server's own id with a slash");
        assert_eq!(spec.provider, ProviderKind::OpenAi);
        assert_eq!(spec.model, "meta-llama/Llama-3.1-8B");
        assert_eq!(spec.api_key_env, None);
        let spec = config
            .resolve(
                "openai/meta-llama/Llama-3.1-8B",
                Some("http://127.0.0.1:9/v1"),
            )
            .expect("the same with the openai/ prefix");
        assert_eq!(spec.model, "meta-llama/Llama-3.1-8B");
    }

    fn with_models(yaml: &str) -> Config {
        Config {
            file: serde_yaml_ng::from_str(yaml).expect("test yaml parses"),
            ..Config::default()
        }
    }

    #[test]
    fn a_named_models_provider_is_a_model_string_prefix() {
        let config = with_models(
            "models:\n  o: { provider: ollama, model: llama3.2 }\n  \
             v: { provider: vllm, model: qwen }\n  \
             w: { provider: vllm, model: qwen, base_url: 'http://127.0.0.1:8000/v1' }\n  \
             a: { provider: anthropic, model: claude-3-5-haiku-latest }\n  \
             x: { provider: nope, model: m }\n",
        );
        let ollama = config.resolve("o", None).expect("ollama");
        assert_eq!(ollama.base_url, OLLAMA_URL);
        assert_eq!(ollama.api_key_env, None);
        assert_eq!(ollama.model, "llama3.2");
        assert!(matches!(
            config.resolve("v", None),
            Err(ConfigError::BadModel { message, .. }) if message.contains("--base-url")
        ));
        let vllm = config.resolve("w", None).expect("vllm with a URL");
        assert_eq!(vllm.base_url, "http://127.0.0.1:8000/v1");
        assert_eq!(vllm.api_key_env, None);
        assert_eq!(
            config.resolve("a", None).expect("anthropic").provider,
            ProviderKind::Anthropic
        );
        assert!(matches!(
            config.resolve("x", None),
            Err(ConfigError::UnknownProvider { provider, .. }) if provider == "nope"
        ));
    }

    #[test]
    fn the_starter_file_parses() {
        let file: ConfigFile = serde_yaml_ng::from_str(STARTER).expect("starter parses");
        assert_eq!(file.model.as_deref(), Some("fast"));
        let config = Config {
            file,
            ..Config::default()
        };
        let spec = config.resolve("fast", None).expect("fast");
        assert_eq!(spec.price.map(|p| p.output), Some(0.6));
        assert_eq!(spec.timeout, Duration::from_secs(60));
        assert_eq!(
            config.resolve("local", None).expect("local").model,
            "llama3.2"
        );
    }
}
