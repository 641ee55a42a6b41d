//! Language-model providers behind one trait: the request a program sends, the completion it gets
//! back, token usage and cost. The HTTP clients (OpenAI-compatible chat completions, Anthropic
//! Messages) and the in-process llama.cpp model (`local`) live in their own files; nothing here
//! knows about signatures or prompts.

mod anthropic;
mod http;
pub mod local;
mod openai;
mod plain;
mod rate_limit;
mod retry;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Who speaks a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    /// The role as chat APIs and chat templates spell it.
    pub fn name(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One chat message, as DSPy's adapters produce them (`{"role": ..., "content": ...}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn new(role: Role, content: impl Into<String>) -> Message {
        Message {
            role,
            content: content.into(),
        }
    }
}

/// What shape the reply must take.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    /// Free text (the chat adapter).
    #[default]
    Text,
    /// Any JSON object (OpenAI's JSON mode).
    JsonObject,
    /// A JSON object matching `schema` (OpenAI structured outputs with `strict: true`; a forced
    /// tool call for Anthropic).
    JsonSchema {
        name: String,
        schema: serde_json::Value,
    },
}

/// One completion request. The model and provider come from the [`ModelSpec`] of the provider
/// that receives it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Request {
    pub messages: Vec<Message>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    /// Sequences at which generation stops (not part of the reply).
    pub stop: Vec<String>,
    pub seed: Option<u64>,
    pub response_format: ResponseFormat,
    /// A GBNF grammar the reply must follow, for providers that constrain decoding
    /// ([`Provider::constrains_output`]); HTTP providers never see one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grammar: Option<String>,
}

impl Request {
    pub fn new(messages: Vec<Message>) -> Request {
        Request {
            messages,
            temperature: None,
            max_tokens: None,
            stop: Vec::new(),
            seed: None,
            response_format: ResponseFormat::Text,
            grammar: None,
        }
    }
}

/// Tokens a call consumed, as the provider reported them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
    }
}

/// What a provider answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// The reply text (for a forced tool call: the tool input as JSON text).
    pub text: String,
    pub usage: Usage,
    /// The provider's reason for stopping (`stop`, `length`, `end_turn`, `max_tokens`, ...).
    pub finish_reason: Option<String>,
    /// Whether decoding was constrained to the requested structure (local models).
    #[serde(default)]
    pub constrained: bool,
}

/// Which wire protocol a model speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// OpenAI chat completions, and every server that speaks it (Ollama, vLLM, llama.cpp, ...).
    #[serde(alias = "openai-compatible", alias = "ollama", alias = "vllm")]
    OpenAi,
    Anthropic,
    /// A GGUF model run in-process by llama.cpp.
    Local,
}

impl ProviderKind {
    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Local => "local",
        }
    }

    /// The provider's public API, used when a spec's `base_url` is empty (none for `local`).
    pub fn default_base_url(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => openai::DEFAULT_BASE_URL,
            ProviderKind::Anthropic => anthropic::DEFAULT_BASE_URL,
            ProviderKind::Local => "",
        }
    }
}

/// USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Price {
    pub input: f64,
    pub output: f64,
}

impl Price {
    /// The cost of `usage` in USD.
    pub fn cost(self, usage: Usage) -> f64 {
        (usage.input_tokens as f64 * self.input + usage.output_tokens as f64 * self.output)
            / 1_000_000.0
    }
}

/// A fully resolved model: everything a provider needs to send requests. Built by `config`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    /// What the user called it (`fast`, `openai/gpt-4o-mini`); recorded in the store.
    pub name: String,
    pub provider: ProviderKind,
    /// The provider's model id (`gpt-4o-mini`); for `local`, a model name (`smollm2-135m`) or
    /// the path of a GGUF file.
    pub model: String,
    /// Without a trailing slash; `https://api.openai.com/v1`, `http://127.0.0.1:11434/v1`.
    pub base_url: String,
    /// The *name* of the environment variable that holds the key; the key itself is read when a
    /// request is sent and never stored anywhere else.
    pub api_key_env: Option<String>,
    pub price: Option<Price>,
    /// Per request, covering connect, send and the whole body.
    pub timeout: Duration,
    /// How many requests may be in flight at once.
    pub max_concurrency: usize,
    pub requests_per_minute: Option<u32>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    /// Sampling seed, so runs at temperature > 0 repeat (local models; sent to providers that
    /// take one).
    pub seed: Option<u64>,
    /// Retries after the first try on 429, 5xx, timeouts and connection resets.
    pub max_retries: u32,
}

impl ModelSpec {
    /// A model run in-process: `model` is a name (`smollm2-135m`) or the path of a GGUF file.
    pub fn local(name: &str, model: &str) -> ModelSpec {
        ModelSpec {
            name: name.to_owned(),
            provider: ProviderKind::Local,
            model: model.to_owned(),
            base_url: String::new(),
            api_key_env: None,
            price: None,
            // Not enforced for local models (README); kept for the record.
            timeout: Duration::from_secs(600),
            max_concurrency: 16,
            requests_per_minute: None,
            temperature: None,
            max_tokens: None,
            seed: None,
            max_retries: 0,
        }
    }
}

/// Why a call failed after every retry. Messages never contain an API key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LmError {
    #[error("model `{model}`: {provider} answered HTTP {status}: {message}")]
    Status {
        model: String,
        provider: &'static str,
        status: u16,
        message: String,
        attempts: u32,
    },
    #[error("model `{model}`: no answer within {timeout:?}{}", attempts_suffix(*attempts))]
    Timeout {
        model: String,
        timeout: Duration,
        attempts: u32,
    },
    #[error("model `{model}`: cannot reach {url}: {message}{}", attempts_suffix(*attempts))]
    Connection {
        model: String,
        url: String,
        message: String,
        attempts: u32,
    },
    #[error("model `{model}`: the TLS connection to {url} failed: {message}")]
    Tls {
        model: String,
        url: String,
        message: String,
    },
    #[error("model `{model}`: the reply is not what {provider} sends: {message}")]
    Protocol {
        model: String,
        provider: &'static str,
        message: String,
    },
    #[error("model `{model}`: the environment variable `{variable}` that should hold its API key is not set")]
    MissingKey { model: String, variable: String },
    #[error("model `{model}`: {message}")]
    Other { model: String, message: String },
}

/// ` (N attempts)` after a message when there was more than one.
pub(crate) fn attempts_suffix(attempts: u32) -> String {
    if attempts > 1 {
        format!(" ({attempts} attempts)")
    } else {
        String::new()
    }
}

impl LmError {
    /// A hint a user can act on, when there is one.
    pub fn help(&self) -> Option<String> {
        match self {
            LmError::Status {
                status: 401 | 403, ..
            }
            | LmError::MissingKey { .. } => {
                Some("check the API key variable named by `api_key_env` in dspex.yaml".to_owned())
            }
            LmError::Status { status: 404, .. } => {
                Some("check the model id and the base URL (it usually ends in `/v1`)".to_owned())
            }
            LmError::Status { status: 429, .. } => Some(
                "the provider is rate limiting: lower `--concurrency` or `requests_per_minute`"
                    .to_owned(),
            ),
            LmError::Timeout { .. } => {
                Some("raise `timeout_secs` for this model in dspex.yaml".to_owned())
            }
            LmError::Connection { .. } => {
                Some("is the server running? check `base_url` or `--base-url`".to_owned())
            }
            LmError::Tls { .. } => Some(
                "if the server's certificate comes from your own certificate authority, point \
                 SSL_CERT_FILE (or SSL_CERT_DIR) at its PEM file; otherwise check `base_url`"
                    .to_owned(),
            ),
            _ => None,
        }
    }
}

/// A boxed future, so providers can sit behind `dyn Provider`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Something that completes chat requests: an HTTP client, or a model in-process.
pub trait Provider: Send + Sync {
    /// The resolved model this provider sends to.
    fn spec(&self) -> &ModelSpec;

    /// Whether the provider decodes under a request's [`Request::grammar`], so the caller should
    /// compute one.
    fn constrains_output(&self) -> bool {
        false
    }

    /// Sends `request`, retrying transient failures as the spec allows.
    fn complete<'a>(&'a self, request: &'a Request) -> BoxFuture<'a, Result<Completion, LmError>>;
}

/// The client for `spec`, chosen by its protocol. `https://` clients share one connection pool;
/// an `http://` client pools its own endpoint's connections. Each keeps its own concurrency and
/// rate limits. An empty `base_url` means the provider's public API.
///
/// Fails when the base URL is not an HTTP(S) URL, or when the process cannot set up HTTP at all
/// (TLS initialisation).
pub fn connect(spec: ModelSpec) -> Result<Arc<dyn Provider>, LmError> {
    if spec.provider == ProviderKind::Local {
        return Ok(Arc::new(local::Local::new(spec)));
    }
    Ok(match spec.provider {
        ProviderKind::OpenAi => Arc::new(openai::OpenAi::new(spec)?),
        ProviderKind::Anthropic => Arc::new(anthropic::Anthropic::new(spec)?),
        ProviderKind::Local => Arc::new(local::Local::new(spec)),
    })
}

/// An error and its causes, one line. The causes carry the reasons (the operating system's,
/// hyper's); a top-level message with causes says less (reqwest's repeats the URL, hyper's is
/// a category such as `connection error`), so it is dropped.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cause = error.source();
    while let Some(source) = cause {
        let text = source.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        cause = source.source();
    }
    if parts.is_empty() {
        error.to_string()
    } else {
        parts.join(": ")
    }
}
