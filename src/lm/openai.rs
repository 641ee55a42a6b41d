//! OpenAI chat completions (`POST {base_url}/chat/completions`), the protocol that OpenAI and
//! most local servers (Ollama, vLLM, llama.cpp) speak.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::http::{json_error_message, KeyHeader, Malformed, Transport};
use super::{
    BoxFuture, Completion, LmError, Message, ModelSpec, Provider, Request, ResponseFormat, Usage,
};
use crate::recent::Recent;

/// Where requests go when the spec leaves the base URL empty.
pub(crate) const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// The longest structured-output name OpenAI accepts.
const MAX_SCHEMA_NAME_CHARS: usize = 64;

/// A client for one model behind an OpenAI-compatible server.
#[derive(Debug)]
pub(crate) struct OpenAi {
    transport: Transport,
}

impl OpenAi {
    pub(crate) fn new(spec: ModelSpec) -> Result<OpenAi, LmError> {
        Ok(OpenAi {
            transport: Transport::new(
                spec,
                "openai",
                DEFAULT_BASE_URL,
                "chat/completions",
                KeyHeader::Bearer,
                &[],
            )?,
        })
    }
}

impl Provider for OpenAi {
    fn spec(&self) -> &ModelSpec {
        self.transport.spec()
    }

    fn complete<'a>(&'a self, request: &'a Request) -> BoxFuture<'a, Result<Completion, LmError>> {
        Box::pin(async move {
            let body = request_body(self.spec(), request);
            self.transport.post(&body, parse_completion).await
        })
    }
}

/// The JSON body of a chat completion request, borrowing the request's messages (a prompt is
/// serialized once, never copied into a `Value` first). The request's sampling settings win
/// over the spec's defaults.
#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    messages: Messages<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<Value>,
}

fn request_body<'a>(spec: &'a ModelSpec, request: &'a Request) -> Body<'a> {
    let response_format = match &request.response_format {
        ResponseFormat::Text => None,
        ResponseFormat::JsonObject => Some(json!({"type": "json_object"})),
        ResponseFormat::JsonSchema { name, schema } => Some(json!({
            "type": "json_schema",
            "json_schema": {
                "name": schema_name(name),
                "strict": true,
                "schema": without_meta_schema(schema),
            },
        })),
    };
    Body {
        model: &spec.model,
        messages: Messages(&request.messages),
        temperature: request.temperature.or(spec.temperature),
        max_tokens: request.max_tokens.or(spec.max_tokens),
        stop: &request.stop,
        seed: request.seed,
        response_format,
    }
}

/// A request's messages as the body carries them. Every call of a program repeats its system
/// message (and demos) word for word; their JSON-escaped text is kept per thread and reused, so
/// only the final user message is escaped per call.
struct Messages<'a>(&'a [Message]);

/// Contents at least this long are worth remembering.
const MEMO_MIN_BYTES: usize = 256;

/// Escaped contents remembered per thread, most recently used first.
const MEMO_ENTRIES: usize = 8;

thread_local! {
    static ESCAPED: std::cell::RefCell<Recent<Box<RawValue>>> =
        const { std::cell::RefCell::new(Recent::new(MEMO_ENTRIES)) };
}

/// One message with its content already escaped.
#[derive(Serialize)]
struct Escaped<'a> {
    role: super::Role,
    content: &'a RawValue,
}

impl Serialize for Messages<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for message in self.0 {
            if message.content.len() < MEMO_MIN_BYTES {
                seq.serialize_element(message)?;
                continue;
            }
            ESCAPED.with_borrow_mut(|memo| {
                let content = memo
                    .get_or_try_insert(&message.content, || {
                        serde_json::to_string(&message.content).and_then(RawValue::from_string)
                    })
                    .map_err(serde::ser::Error::custom)?;
                seq.serialize_element(&Escaped {
                    role: message.role,
                    content,
                })
            })?;
        }
        seq.end()
    }
}

/// `name` as OpenAI accepts it: ASCII letters, digits, `_` and `-`, at most 64 characters.
fn schema_name(name: &str) -> String {
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(MAX_SCHEMA_NAME_CHARS)
        .collect();
    if name.is_empty() {
        "response".to_owned()
    } else {
        name
    }
}

/// `schema` without its top-level `$schema`, which structured outputs reject.
pub(crate) fn without_meta_schema(schema: &Value) -> Value {
    let mut schema = schema.clone();
    if let Value::Object(object) = &mut schema {
        object.remove("$schema");
    }
    schema
}

#[derive(Deserialize)]
struct ChatCompletion {
    #[serde(default)]
    choices: Vec<Choice>,
    usage: Option<ChatUsage>,
    /// Some proxies answer 200 with an error object.
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Choice {
    message: Option<ChoiceMessage>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    content: Option<String>,
    refusal: Option<String>,
}

#[derive(Deserialize)]
struct ChatUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

/// The completion in a chat completion response body.
fn parse_completion(body: &[u8]) -> Result<Completion, Malformed> {
    let response: ChatCompletion =
        serde_json::from_slice(body).map_err(|error| Malformed::from_json(&error, body))?;
    let Some(choice) = response.choices.into_iter().next() else {
        return Err(Malformed::invalid(
            match response.error.as_ref().and_then(json_error_message) {
                Some(message) => format!("the reply has no choices but an error: {message}"),
                None => "the reply has no choices".to_owned(),
            },
        ));
    };
    let (content, refusal) = match choice.message {
        Some(message) => (message.content, message.refusal),
        None => (None, None),
    };
    let Some(text) = content else {
        return Err(Malformed::invalid(match refusal {
            Some(refusal) => format!("the model refused: {refusal}"),
            None => "the reply's `choices[0].message.content` is null".to_owned(),
        }));
    };
    let usage = response.usage.map_or_else(Usage::default, |usage| Usage {
        input_tokens: usage.prompt_tokens.unwrap_or_default(),
        output_tokens: usage.completion_tokens.unwrap_or_default(),
    });
    Ok(Completion {
        text,
        usage,
        finish_reason: choice.finish_reason,
        constrained: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_sanitised() {
        assert_eq!(schema_name("QA output"), "QA_output");
        assert_eq!(schema_name("résumé-v2"), "r_sum_-v2");
        assert_eq!(schema_name(""), "response");
        assert_eq!(schema_name(&"n".repeat(100)).len(), MAX_SCHEMA_NAME_CHARS);
    }

    #[test]
    fn remembered_contents_are_encoded_as_fresh_ones_are() {
        let system = format!(
            "Your input fields are:\n1. `q` \"quoted\" \\ {}",
            "é\t".repeat(200)
        );
        let messages = |user: &str| {
            vec![
                Message::new(super::super::Role::System, system.clone()),
                Message::new(super::super::Role::User, user.to_owned()),
                Message::new(
                    super::super::Role::User,
                    format!("{user}{}", "x".repeat(300)),
                ),
            ]
        };
        for round in 0..3 {
            let user = format!("question {round}");
            let sent = messages(&user);
            let encoded = serde_json::to_string(&Messages(&sent)).unwrap();
            assert_eq!(
                encoded,
                serde_json::to_string(&sent).unwrap(),
                "round {round}"
            );
        }
        // More long contents than the memo keeps: still encoded right.
        for round in 0..(MEMO_ENTRIES * 2) {
            let sent = vec![Message::new(
                super::super::Role::System,
                format!("{round} {}", "y".repeat(300)),
            )];
            let encoded = serde_json::to_string(&Messages(&sent)).unwrap();
            assert_eq!(encoded, serde_json::to_string(&sent).unwrap());
        }
    }

    #[test]
    fn completions_parse() {
        let body = br#"{"choices":[{"message":{"role":"assistant","content":"Paris"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":3}}"#;
        let completion = parse_completion(body).unwrap();
        assert_eq!(completion.text, "Paris");
        assert_eq!(completion.finish_reason.as_deref(), Some("stop"));
        assert_eq!(
            completion.usage,
            Usage {
                input_tokens: 12,
                output_tokens: 3
            }
        );
    }

    #[test]
    fn malformed_completions() {
        let empty = parse_completion(br#"{"choices":[]}"#).unwrap_err();
        assert!(!empty.retryable);
        let null = parse_completion(br#"{"choices":[{"message":{"content":null}}]}"#).unwrap_err();
        assert!(null.message.contains("null"), "{}", null.message);
        let refused =
            parse_completion(br#"{"choices":[{"message":{"content":null,"refusal":"no"}}]}"#)
                .unwrap_err();
        assert_eq!(refused.message, "the model refused: no");
        let truncated = parse_completion(br#"{"choices":[{"mess"#).unwrap_err();
        assert!(truncated.retryable);
        let html = parse_completion(b"<html>oops</html>").unwrap_err();
        assert!(html.retryable);
        assert!(
            html.message.contains("<html>oops</html>"),
            "{}",
            html.message
        );
    }
}
