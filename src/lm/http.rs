//! The HTTP side every provider shares: connection pools (one for the process's `https://`
//! servers, one per `http://` endpoint, see [`plain`]), the API key
//! read from the environment when a request is sent, a timeout per try, retries with backoff, a
//! concurrency limit and a requests-per-minute limit, and errors that name the model and the
//! provider's own message but never the key.

use std::sync::OnceLock;
use std::time::Duration;

use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE,
    USER_AGENT as USER_AGENT_HEADER,
};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::Semaphore;

use super::plain;
use super::rate_limit::RateLimiter;
use super::retry;
use super::{attempts_suffix, error_chain, LmError, ModelSpec};

/// How long an idle pooled connection is kept for the next request.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// How much of a body that is not the expected JSON an error message quotes.
const QUOTED_BODY_CHARS: usize = 200;

/// Sent with every request.
const USER_AGENT: &str = concat!("dspex/", env!("CARGO_PKG_VERSION"));

/// What replaces an API key found in error text.
const REDACTED: &str = "[redacted]";

/// The process's one client for `https://` servers (a cheap handle on a shared pool). Building
/// it can fail while setting up TLS, so the outcome is kept, as text, for every later caller.
static TLS_CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();

/// The process's client for `https://` servers, with TLS trusting the platform's roots.
fn tls_client() -> Result<reqwest::Client, String> {
    TLS_CLIENT.get_or_init(build_tls_client).clone()
}

fn build_tls_client() -> Result<reqwest::Client, String> {
    // reqwest is built with `rustls-no-provider`; some other part of the process may already
    // have installed a provider, which serves as well.
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .no_proxy()
        // A POST answered with a redirect is a misconfigured base URL, not something to follow.
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .build()
        .map_err(|error| format!("cannot set up the HTTP client: {}", error_chain(&error)))
}

/// How requests reach the server.
#[derive(Debug)]
enum Client {
    /// `http://`: hyper's HTTP/1.1 client driven by the calling task ([`plain`]).
    Plain(plain::Pool),
    /// `https://`: reqwest, over TLS.
    Tls(reqwest::Client),
}

/// A whole reply, whichever client fetched it.
struct Reply {
    status: StatusCode,
    retry_after: Option<Duration>,
    body: bytes::Bytes,
}

/// Where a provider puts the API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyHeader {
    /// `Authorization: Bearer KEY` (OpenAI and compatible servers).
    Bearer,
    /// The key alone in the named header (`x-api-key` for Anthropic).
    Named(&'static str),
}

/// A reply that arrived whole but is not what the protocol promises.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Malformed {
    pub(crate) message: String,
    /// Garbage and cut-off JSON are usually a proxy's or server's hiccup: worth another try.
    /// Well-formed JSON of the wrong shape is not.
    pub(crate) retryable: bool,
}

impl Malformed {
    /// Well-formed JSON that lacks what the protocol promises; retrying will not help.
    pub(crate) fn invalid(message: impl Into<String>) -> Malformed {
        Malformed {
            message: message.into(),
            retryable: false,
        }
    }

    /// Why `body` did not decode into the expected reply.
    pub(crate) fn from_json(error: &serde_json::Error, body: &[u8]) -> Malformed {
        use serde_json::error::Category;
        match error.classify() {
            Category::Eof => Malformed {
                message: format!("the JSON body ends early, after {} bytes", body.len()),
                retryable: true,
            },
            Category::Syntax | Category::Io => Malformed {
                message: format!("the body is not JSON: `{}`", quote(body)),
                retryable: true,
            },
            Category::Data => Malformed::invalid(format!("unexpected JSON: {error}")),
        }
    }
}

/// What went wrong in one try.
#[derive(Debug)]
enum Failure {
    /// The server answered with an error status.
    Status {
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    },
    /// No whole answer within the model's timeout.
    Timeout,
    /// No connection, or it broke before the response began.
    Connection(String),
    /// The TLS handshake failed (most often: a certificate not trusted here); no retry helps.
    Tls(String),
    /// The connection broke while the body was arriving.
    CutOff(String),
    /// The reply arrived but does not decode.
    Malformed(Malformed),
    /// Nothing another try could fix.
    Fatal(String),
}

/// The rustls error somewhere in `error`'s chain. The connector carries it inside `io::Error`s
/// (one in another), whose `source()` skips the error they wrap, so those are opened instead.
fn tls_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        current = match error
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => error.source(),
        };
    }
    None
}

impl Failure {
    fn from_send(error: &reqwest::Error) -> Failure {
        if error.is_timeout() {
            Failure::Timeout
        } else if error.is_builder() {
            Failure::Fatal(error_chain(error))
        } else if tls_error(error).is_some() {
            Failure::Tls(error_chain(error))
        } else {
            Failure::Connection(error_chain(error))
        }
    }

    fn from_body(error: &reqwest::Error) -> Failure {
        if error.is_timeout() {
            Failure::Timeout
        } else {
            Failure::CutOff(error_chain(error))
        }
    }

    fn is_retryable(&self) -> bool {
        match self {
            Failure::Status { status, .. } => retry::is_retryable_status(*status),
            Failure::Timeout | Failure::Connection(_) | Failure::CutOff(_) => true,
            Failure::Malformed(malformed) => malformed.retryable,
            Failure::Tls(_) | Failure::Fatal(_) => false,
        }
    }
}

/// Sends one provider's requests: the endpoint, the headers, the limits and the retry policy.
#[derive(Debug)]
pub(crate) struct Transport {
    spec: ModelSpec,
    provider: &'static str,
    client: Client,
    /// The endpoint, parsed once.
    url: reqwest::Url,
    key_header: KeyHeader,
    /// Sent with every request (content type, protocol version).
    headers: HeaderMap,
    permits: Semaphore,
    rate_limiter: Option<RateLimiter>,
}

impl Transport {
    /// A transport posting to `{base_url}/{path}`, or `{default_base_url}/{path}` when the spec
    /// leaves the base URL empty. Fails when that is not an HTTP(S) URL.
    pub(crate) fn new(
        spec: ModelSpec,
        provider: &'static str,
        default_base_url: &str,
        path: &str,
        key_header: KeyHeader,
        extra_headers: &[(&'static str, &'static str)],
    ) -> Result<Transport, LmError> {
        let base_url = match spec.base_url.trim() {
            "" => default_base_url,
            base_url => base_url,
        };
        let url = format!("{}/{path}", base_url.trim_end_matches('/'));
        let url = match reqwest::Url::parse(&url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => url,
            Ok(_) | Err(_) => {
                return Err(LmError::Other {
                    model: spec.name.clone(),
                    message: format!("the base URL `{base_url}` is not an http:// or https:// URL"),
                })
            }
        };
        let client = if url.scheme() == "http" {
            plain::Pool::new(&url, POOL_IDLE_TIMEOUT).map(Client::Plain)
        } else {
            tls_client().map(Client::Tls)
        };
        let client = client.map_err(|message| LmError::Other {
            model: spec.name.clone(),
            message,
        })?;
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if matches!(client, Client::Plain(_)) {
            // reqwest adds its own.
            headers.insert(USER_AGENT_HEADER, HeaderValue::from_static(USER_AGENT));
        }
        for (name, value) in extra_headers {
            headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        let permits = spec.max_concurrency.clamp(1, Semaphore::MAX_PERMITS);
        Ok(Transport {
            rate_limiter: RateLimiter::per_minute(spec.requests_per_minute),
            permits: Semaphore::new(permits),
            spec,
            provider,
            client,
            url,
            key_header,
            headers,
        })
    }

    pub(crate) fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// Posts `body` and decodes the reply with `parse`, retrying what is worth retrying as the
    /// spec allows.
    pub(crate) async fn post<T>(
        &self,
        body: &impl serde::Serialize,
        parse: fn(&[u8]) -> Result<T, Malformed>,
    ) -> Result<T, LmError> {
        let key = self.key()?;
        let authorization = self.authorization(key.as_deref())?;
        let body = serde_json::to_vec(body)
            .map(bytes::Bytes::from)
            .map_err(|error| LmError::Other {
                model: self.spec.name.clone(),
                message: format!("cannot encode the request: {error}"),
            })?;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let failure = match self.attempt(&body, authorization.as_ref(), parse).await {
                Ok(value) => return Ok(value),
                Err(failure) => failure,
            };
            if attempts > self.spec.max_retries || !failure.is_retryable() {
                return Err(self.error(failure, attempts, key.as_deref()));
            }
            let wait = match &failure {
                Failure::Status {
                    retry_after: Some(wait),
                    ..
                } => *wait,
                _ => retry::backoff(attempts - 1),
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// One try: waits for a concurrency permit and a rate-limit slot, then sends, reads and
    /// decodes within the timeout.
    async fn attempt<T>(
        &self,
        body: &bytes::Bytes,
        authorization: Option<&(HeaderName, HeaderValue)>,
        parse: fn(&[u8]) -> Result<T, Malformed>,
    ) -> Result<T, Failure> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_closed| Failure::Fatal("the concurrency limit was shut".to_owned()))?;
        if let Some(rate_limiter) = &self.rate_limiter {
            rate_limiter.wait().await;
        }
        let exchange = async {
            let reply = match &self.client {
                Client::Plain(pool) => self.send_plain(pool, body, authorization).await?,
                Client::Tls(client) => self.send_tls(client, body, authorization).await?,
            };
            if !reply.status.is_success() {
                return Err(Failure::Status {
                    status: reply.status.as_u16(),
                    message: error_message(&reply.body, reply.status),
                    retry_after: reply.retry_after,
                });
            }
            parse(&reply.body).map_err(Failure::Malformed)
        };
        tokio::time::timeout(self.spec.timeout, exchange)
            .await
            .unwrap_or(Err(Failure::Timeout))
    }

    async fn send_plain(
        &self,
        pool: &plain::Pool,
        body: &bytes::Bytes,
        authorization: Option<&(HeaderName, HeaderValue)>,
    ) -> Result<Reply, Failure> {
        let reply = pool
            .post(&self.headers, authorization, body.clone())
            .await
            .map_err(|error| match error {
                plain::Error::Connection(message) => Failure::Connection(message),
                plain::Error::CutOff(message) => Failure::CutOff(message),
            })?;
        Ok(Reply {
            status: reply.status,
            retry_after: retry_after(reply.status, &reply.headers),
            body: reply.body,
        })
    }

    async fn send_tls(
        &self,
        client: &reqwest::Client,
        body: &bytes::Bytes,
        authorization: Option<&(HeaderName, HeaderValue)>,
    ) -> Result<Reply, Failure> {
        let mut request = client
            .post(self.url.clone())
            .timeout(self.spec.timeout)
            .headers(self.headers.clone())
            .body(body.clone());
        if let Some((name, value)) = authorization {
            request = request.header(name, value);
        }
        let response = request
            .send()
            .await
            .map_err(|error| Failure::from_send(&error))?;
        let status = response.status();
        let retry_after = retry_after(status, response.headers());
        let body = response
            .bytes()
            .await
            .map_err(|error| Failure::from_body(&error))?;
        Ok(Reply {
            status,
            retry_after,
            body,
        })
    }

    /// The API key, read now from the variable the spec names; `None` when the spec names none
    /// (a local server).
    fn key(&self) -> Result<Option<String>, LmError> {
        let Some(variable) = &self.spec.api_key_env else {
            return Ok(None);
        };
        match std::env::var(variable) {
            Ok(key) if !key.trim().is_empty() => Ok(Some(key.trim().to_owned())),
            Ok(_) | Err(std::env::VarError::NotPresent) => Err(LmError::MissingKey {
                model: self.spec.name.clone(),
                variable: variable.clone(),
            }),
            Err(std::env::VarError::NotUnicode(_)) => Err(LmError::Other {
                model: self.spec.name.clone(),
                message: format!(
                    "the environment variable `{variable}` that should hold its API key is not valid UTF-8"
                ),
            }),
        }
    }

    /// The header carrying `key`, marked sensitive so it is never logged.
    fn authorization(
        &self,
        key: Option<&str>,
    ) -> Result<Option<(HeaderName, HeaderValue)>, LmError> {
        let Some(key) = key else {
            return Ok(None);
        };
        let (name, value) = match self.key_header {
            KeyHeader::Bearer => (
                AUTHORIZATION,
                HeaderValue::from_str(&format!("Bearer {key}")),
            ),
            KeyHeader::Named(name) => (HeaderName::from_static(name), HeaderValue::from_str(key)),
        };
        let mut value = value.map_err(|_invalid| LmError::Other {
            model: self.spec.name.clone(),
            message: format!(
                "the API key in `{}` has characters an HTTP header cannot carry",
                self.spec.api_key_env.as_deref().unwrap_or_default()
            ),
        })?;
        value.set_sensitive(true);
        Ok(Some((name, value)))
    }

    /// The error to report for the last try's `failure`, with `key` scrubbed from all text.
    fn error(&self, failure: Failure, attempts: u32, key: Option<&str>) -> LmError {
        let model = self.spec.name.clone();
        let provider = self.provider;
        match failure {
            Failure::Status {
                status, message, ..
            } => LmError::Status {
                model,
                provider,
                status,
                message: redact(&message, key),
                attempts,
            },
            Failure::Timeout => LmError::Timeout {
                model,
                timeout: self.spec.timeout,
                attempts,
            },
            Failure::Connection(message) => LmError::Connection {
                model,
                url: self.url.to_string(),
                message: redact(&message, key),
                attempts,
            },
            Failure::Tls(message) => LmError::Tls {
                model,
                url: self.url.to_string(),
                message: redact(&message, key),
            },
            Failure::CutOff(message) => LmError::Protocol {
                model,
                provider,
                message: redact(
                    &format!(
                        "the connection broke before the whole reply arrived: {message}{}",
                        attempts_suffix(attempts)
                    ),
                    key,
                ),
            },
            Failure::Malformed(malformed) => LmError::Protocol {
                model,
                provider,
                message: redact(
                    &format!("{}{}", malformed.message, attempts_suffix(attempts)),
                    key,
                ),
            },
            Failure::Fatal(message) => LmError::Other {
                model,
                message: redact(&message, key),
            },
        }
    }
}

/// The provider's own explanation in an error body, or the start of the body, or the status's
/// reason phrase.
fn error_message(body: &[u8], status: StatusCode) -> String {
    let json = serde_json::from_slice::<Value>(body).ok();
    if let Some(message) = json.as_ref().and_then(json_error_message) {
        return message;
    }
    let says_nothing = match &json {
        Some(Value::Object(object)) => object.is_empty(),
        Some(Value::Array(array)) => array.is_empty(),
        Some(Value::Null) => true,
        _ => false,
    };
    let quoted = quote(body);
    if quoted.is_empty() || says_nothing {
        status.canonical_reason().unwrap_or("no message").to_owned()
    } else {
        quoted
    }
}

/// The message of an error object: OpenAI's `{"error": {"message", "type"}}`, Anthropic's
/// `{"type": "error", "error": {"type", "message"}}`, and the `{"error": "..."}`,
/// `{"message": "..."}` and `{"detail": "..."}` of other OpenAI-compatible servers.
pub(crate) fn json_error_message(value: &Value) -> Option<String> {
    match value.get("error") {
        Some(Value::Object(error)) => {
            let message = error.get("message").and_then(Value::as_str);
            let kind = error.get("type").and_then(Value::as_str);
            match (message, kind) {
                (Some(message), Some(kind)) if !message.contains(kind) => {
                    Some(format!("{message} ({kind})"))
                }
                (Some(message), _) => Some(message.to_owned()),
                (None, Some(kind)) => Some(kind.to_owned()),
                (None, None) => None,
            }
        }
        Some(Value::String(message)) => Some(message.clone()),
        _ => ["message", "detail"]
            .iter()
            .find_map(|field| value.get(field).and_then(Value::as_str))
            .map(str::to_owned),
    }
}

/// The start of `body` as one line of text.
fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut words = text.split_whitespace();
    let mut quoted = words.next().unwrap_or_default().to_owned();
    for word in words {
        quoted.push(' ');
        quoted.push_str(word);
        if quoted.chars().count() > QUOTED_BODY_CHARS {
            break;
        }
    }
    match quoted.char_indices().nth(QUOTED_BODY_CHARS) {
        Some((end, _)) => format!("{}…", &quoted[..end]),
        None => quoted,
    }
}

/// `text` with `key` and any bearer token replaced by `[redacted]`: servers sometimes echo the
/// request's headers back in their error bodies.
pub(crate) fn redact(text: &str, key: Option<&str>) -> String {
    let mut text = match key {
        Some(key) if !key.is_empty() => text.replace(key, REDACTED),
        _ => text.to_owned(),
    };
    for scheme in ["Bearer ", "bearer ", "BEARER "] {
        let mut searched = 0;
        while let Some(found) = text[searched..].find(scheme) {
            let token_start = searched + found + scheme.len();
            let token_end = text[token_start..]
                .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | '}' | ']'))
                .map_or(text.len(), |end| token_start + end);
            let token = &text[token_start..token_end];
            if token.is_empty() || token == REDACTED {
                searched = token_end;
            } else {
                text.replace_range(token_start..token_end, REDACTED);
                searched = token_start + REDACTED.len();
            }
        }
    }
    text
}

/// How long a failed reply asks us to wait; a successful one is not searched for the headers.
fn retry_after(status: StatusCode, headers: &HeaderMap) -> Option<Duration> {
    if status.is_success() {
        None
    } else {
        retry::retry_after(headers)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn provider_error_messages() {
        let openai = json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}});
        assert_eq!(
            json_error_message(&openai).as_deref(),
            Some("Incorrect API key provided (invalid_request_error)")
        );
        let anthropic = json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}});
        assert_eq!(
            json_error_message(&anthropic).as_deref(),
            Some("invalid x-api-key (authentication_error)")
        );
        assert_eq!(
            json_error_message(&json!({"error": "model not found"})).as_deref(),
            Some("model not found")
        );
        assert_eq!(
            json_error_message(&json!({"detail": "Not Found"})).as_deref(),
            Some("Not Found")
        );
        assert_eq!(json_error_message(&json!({"ok": true})), None);
    }

    #[test]
    fn error_message_falls_back_to_the_body_then_the_reason() {
        let html = b"<html>\n  <body>Bad   gateway</body>\n</html>";
        assert_eq!(
            error_message(html, StatusCode::BAD_GATEWAY),
            "<html> <body>Bad gateway</body> </html>"
        );
        assert_eq!(error_message(b"", StatusCode::BAD_GATEWAY), "Bad Gateway");
        assert_eq!(
            error_message(b" {} ", StatusCode::BAD_GATEWAY),
            "Bad Gateway"
        );
        let long = "x".repeat(1000);
        let quoted = error_message(long.as_bytes(), StatusCode::BAD_GATEWAY);
        assert_eq!(quoted.chars().count(), QUOTED_BODY_CHARS + 1);
    }

    #[test]
    fn redaction_removes_the_key_and_bearer_tokens() {
        let key = "sk-secret-123";
        let text = "bad key sk-secret-123; you sent {\"authorization\": \"Bearer sk-secret-123\"}";
        let redacted = redact(text, Some(key));
        assert!(!redacted.contains(key), "{redacted}");
        assert_eq!(
            redact("Authorization: Bearer abc.def, then", None),
            "Authorization: Bearer [redacted], then"
        );
        assert_eq!(redact("Bearer ", None), "Bearer ");
        assert_eq!(redact("no secrets", Some("")), "no secrets");
    }
}
