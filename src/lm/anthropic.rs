//! Anthropic's Messages API (`POST {base_url}/messages`). Structured replies are forced tool
//! calls: the model must call a `respond` tool whose input schema is the requested one, and the
//! tool input is the completion.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::http::{KeyHeader, Malformed, Transport};
use super::openai::without_meta_schema;
use super::{
    BoxFuture, Completion, LmError, Message, ModelSpec, Provider, Request, ResponseFormat, Role,
    Usage,
};

/// Where requests go when the spec leaves the base URL empty.
pub(crate) const DEFAULT_BASE_URL: &str = "https://api.anthropic.com/v1";

/// The API version this client speaks.
const API_VERSION: &str = "2023-06-01";

/// The API requires `max_tokens`; this is sent when neither the request nor the spec sets it.
const DEFAULT_MAX_TOKENS: u32 = 1024;

/// The tool a structured reply is forced through.
const TOOL_NAME: &str = "respond";

/// A client for one Anthropic model.
#[derive(Debug)]
pub(crate) struct Anthropic {
    transport: Transport,
}

impl Anthropic {
    pub(crate) fn new(spec: ModelSpec) -> Result<Anthropic, LmError> {
        Ok(Anthropic {
            transport: Transport::new(
                spec,
                "anthropic",
                DEFAULT_BASE_URL,
                "messages",
                KeyHeader::Named("x-api-key"),
                &[("anthropic-version", API_VERSION)],
            )?,
        })
    }
}

impl Provider for Anthropic {
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

/// The JSON body of a Messages request: system messages become the top-level `system` string,
/// and consecutive messages of one role are merged (the API wants the roles to alternate).
fn request_body(spec: &ModelSpec, request: &Request) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), json!(spec.model));
    let max_tokens = request
        .max_tokens
        .or(spec.max_tokens)
        .unwrap_or(DEFAULT_MAX_TOKENS);
    body.insert("max_tokens".into(), json!(max_tokens));
    let system: Vec<&str> = request
        .messages
        .iter()
        .filter(|message| message.role == Role::System)
        .map(|message| message.content.as_str())
        .collect();
    if !system.is_empty() {
        body.insert("system".into(), json!(system.join("\n\n")));
    }
    let messages = merged_turns(&request.messages)
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();
    body.insert("messages".into(), Value::Array(messages));
    if let Some(temperature) = request.temperature.or(spec.temperature) {
        body.insert("temperature".into(), json!(temperature));
    }
    if !request.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(request.stop));
    }
    let tool = match &request.response_format {
        ResponseFormat::Text => None,
        ResponseFormat::JsonObject => Some(json!({
            "name": TOOL_NAME,
            "description": "Give your answer as this tool's input, a JSON object.",
            "input_schema": {"type": "object"},
        })),
        ResponseFormat::JsonSchema { name, schema } => Some(json!({
            "name": TOOL_NAME,
            "description": format!("Give your answer as this tool's input, the `{name}` object."),
            "input_schema": without_meta_schema(schema),
        })),
    };
    if let Some(tool) = tool {
        body.insert("tools".into(), json!([tool]));
        body.insert(
            "tool_choice".into(),
            json!({"type": "tool", "name": TOOL_NAME}),
        );
    }
    Value::Object(body)
}

/// The user and assistant messages, consecutive messages of one role joined by a blank line.
fn merged_turns(messages: &[Message]) -> Vec<(Role, String)> {
    let mut turns: Vec<(Role, String)> = Vec::new();
    for message in messages
        .iter()
        .filter(|message| message.role != Role::System)
    {
        match turns.last_mut() {
            Some((role, content)) if *role == message.role => {
                content.push_str("\n\n");
                content.push_str(&message.content);
            }
            _ => turns.push((message.role, message.content.clone())),
        }
    }
    turns
}

#[derive(Deserialize)]
struct MessageResponse {
    content: Vec<ContentBlock>,
    stop_reason: Option<String>,
    usage: Option<MessageUsage>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ContentBlock {
    Text {
        text: String,
    },
    ToolUse {
        name: String,
        input: Value,
    },
    /// Thinking and other blocks carry no answer.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct MessageUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
}

/// The completion in a Messages response body: the `respond` tool's input as JSON text when the
/// model called it, else its text blocks joined.
fn parse_completion(body: &[u8]) -> Result<Completion, Malformed> {
    let response: MessageResponse =
        serde_json::from_slice(body).map_err(|error| Malformed::from_json(&error, body))?;
    if response.content.is_empty() {
        return Err(Malformed::invalid("the reply has no content blocks"));
    }
    let tool_input = response.content.iter().find_map(|block| match block {
        ContentBlock::ToolUse { name, input } if name == TOOL_NAME => Some(input),
        _ => None,
    });
    let text = match tool_input {
        Some(input) => input.to_string(),
        None => response
            .content
            .iter()
            .filter_map(|block| match block {
                ContentBlock::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect(),
    };
    let usage = response.usage.map_or_else(Usage::default, |usage| Usage {
        input_tokens: usage.input_tokens.unwrap_or_default(),
        output_tokens: usage.output_tokens.unwrap_or_default(),
    });
    Ok(Completion {
        text,
        usage,
        finish_reason: response.stop_reason,
        constrained: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_turns_merge_and_system_is_lifted() {
        let messages = vec![
            Message::new(Role::System, "be brief"),
            Message::new(Role::User, "a"),
            Message::new(Role::User, "b"),
            Message::new(Role::Assistant, "c"),
            Message::new(Role::System, "and exact"),
            Message::new(Role::User, "d"),
        ];
        assert_eq!(
            merged_turns(&messages),
            vec![
                (Role::User, "a\n\nb".to_owned()),
                (Role::Assistant, "c".to_owned()),
                (Role::User, "d".to_owned()),
            ]
        );
    }

    #[test]
    fn text_blocks_join_and_tool_input_wins() {
        let text = br#"{"content":[{"type":"thinking","thinking":"hm"},{"type":"text","text":"Par"},{"type":"text","text":"is"}],"stop_reason":"end_turn","usage":{"input_tokens":9,"output_tokens":2}}"#;
        let completion = parse_completion(text).unwrap();
        assert_eq!(completion.text, "Paris");
        assert_eq!(completion.usage.input_tokens, 9);
        assert_eq!(completion.finish_reason.as_deref(), Some("end_turn"));
        let tool = br#"{"content":[{"type":"text","text":"sure"},{"type":"tool_use","id":"t","name":"respond","input":{"answer":"Paris"}}],"stop_reason":"tool_use"}"#;
        assert_eq!(
            parse_completion(tool).unwrap().text,
            r#"{"answer":"Paris"}"#
        );
    }

    #[test]
    fn empty_content_is_malformed() {
        let error = parse_completion(br#"{"content":[],"stop_reason":"end_turn"}"#).unwrap_err();
        assert!(!error.retryable);
    }
}
