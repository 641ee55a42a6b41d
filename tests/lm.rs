//! The OpenAI and Anthropic clients over real sockets, against the mock servers of
//! `support/mock_lm.rs`: request shapes, usage and cost, retries, timeouts, limits, and errors
//! that name the model and never the key.

#[path = "support/mock_lm.rs"]
mod mock_lm;

use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use dspex::lm::{
    connect, Completion, LmError, Message, ModelSpec, Price, Provider, ProviderKind, Request,
    ResponseFormat, Role, Usage,
};
use mock_lm::{sequence, MockLm, Received, Reply};
use serde_json::{json, Value};

/// The variable holding the test key, and the key.
const KEY_VARIABLE: &str = "DSPEX_LM_TEST_API_KEY";
const KEY: &str = "sk-test-0123456789abcdef";

/// A variable no test sets.
const UNSET_VARIABLE: &str = "DSPEX_LM_TEST_UNSET_VARIABLE";

/// Sets the key variable before any test sends a request (every test calls this first, so no
/// request reads the environment while it changes).
fn set_up() {
    static SET_UP: Once = Once::new();
    SET_UP.call_once(|| {
        std::env::set_var(KEY_VARIABLE, KEY);
        std::env::remove_var(UNSET_VARIABLE);
    });
}

const PRICE: Price = Price {
    input: 0.15,
    output: 0.6,
};

fn spec(provider: ProviderKind, mock: &MockLm) -> ModelSpec {
    ModelSpec {
        name: "fast".to_owned(),
        provider,
        model: match provider {
            ProviderKind::OpenAi => "gpt-4o-mini".to_owned(),
            ProviderKind::Anthropic => "claude-3-5-haiku-latest".to_owned(),
            ProviderKind::Local => unreachable!("the HTTP tests use HTTP providers"),
        },
        base_url: mock.url(),
        api_key_env: Some(KEY_VARIABLE.to_owned()),
        price: Some(PRICE),
        timeout: Duration::from_secs(5),
        max_concurrency: 8,
        requests_per_minute: None,
        temperature: None,
        max_tokens: None,
        seed: None,
        max_retries: 2,
    }
}

fn client(spec: ModelSpec) -> Arc<dyn Provider> {
    connect(spec).unwrap_or_else(|error| panic!("cannot connect: {error}"))
}

fn question() -> Request {
    Request::new(vec![
        Message::new(Role::System, "Answer questions with short factoid answers."),
        Message::new(Role::User, "What is the capital of France?"),
    ])
}

async fn complete(provider: &dyn Provider, request: &Request) -> Completion {
    provider
        .complete(request)
        .await
        .unwrap_or_else(|error| panic!("the completion failed: {error}"))
}

async fn fail(provider: &dyn Provider, request: &Request) -> LmError {
    match provider.complete(request).await {
        Ok(completion) => panic!("expected an error, got {completion:?}"),
        Err(error) => error,
    }
}

/// The only request the mock received.
fn only_request(mock: &MockLm) -> Received {
    let mut requests = mock.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    requests.remove(0)
}

/// A schema as `dspex schema` emits them, with a `$schema` the providers reject.
fn answer_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
        "additionalProperties": false,
    })
}

#[tokio::test]
async fn openai_completion_usage_and_cost() {
    set_up();
    let mock = MockLm::openai(|_| Reply::text("Paris").with_usage(1000, 200));
    let provider = client(spec(ProviderKind::OpenAi, &mock));
    let completion = complete(&*provider, &question()).await;
    assert_eq!(completion.text, "Paris");
    assert_eq!(completion.finish_reason.as_deref(), Some("stop"));
    assert_eq!(
        completion.usage,
        Usage {
            input_tokens: 1000,
            output_tokens: 200
        }
    );
    let cost = PRICE.cost(completion.usage);
    assert!((cost - 0.00027).abs() < 1e-12, "{cost}");

    let received = only_request(&mock);
    assert_eq!(received.method, "POST");
    assert_eq!(received.path, "/v1/chat/completions");
    assert_eq!(
        received.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(received.header("content-type"), Some("application/json"));
    assert_eq!(
        *received.body(),
        json!({
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "Answer questions with short factoid answers."},
                {"role": "user", "content": "What is the capital of France?"},
            ],
        })
    );
}

#[tokio::test]
async fn openai_sampling_settings_and_defaults() {
    set_up();
    let mock = MockLm::openai(|_| Reply::text("Paris"));
    let provider = client(ModelSpec {
        temperature: Some(0.7),
        max_tokens: Some(256),
        ..spec(ProviderKind::OpenAi, &mock)
    });
    let request = Request {
        temperature: Some(0.0),
        stop: vec!["\n\n".to_owned()],
        seed: Some(7),
        ..question()
    };
    let completion = complete(&*provider, &request).await;
    // Without usage numbers in the script the mock counts roughly: a quarter of the characters.
    assert_eq!(
        completion.usage,
        Usage {
            input_tokens: 11 + 8,
            output_tokens: 2
        }
    );
    let body = only_request(&mock).body().clone();
    assert_eq!(
        body["temperature"],
        json!(0.0),
        "the request's setting wins"
    );
    assert_eq!(body["max_tokens"], json!(256), "the spec's default applies");
    assert_eq!(body["stop"], json!(["\n\n"]));
    assert_eq!(body["seed"], json!(7));
    assert!(body.get("response_format").is_none());
}

#[tokio::test]
async fn openai_structured_output_formats() {
    set_up();
    let mock = MockLm::openai(|_| Reply::tool_input(json!({"answer": "Paris"})));
    let provider = client(spec(ProviderKind::OpenAi, &mock));

    let schema_request = Request {
        response_format: ResponseFormat::JsonSchema {
            name: "QA output".to_owned(),
            schema: answer_schema(),
        },
        ..question()
    };
    let completion = complete(&*provider, &schema_request).await;
    assert_eq!(completion.text, r#"{"answer":"Paris"}"#);
    let object_request = Request {
        response_format: ResponseFormat::JsonObject,
        ..question()
    };
    complete(&*provider, &object_request).await;

    let requests = mock.requests();
    let mut expected_schema = answer_schema();
    expected_schema
        .as_object_mut()
        .map(|schema| schema.remove("$schema"));
    assert_eq!(
        requests[0].body()["response_format"],
        json!({
            "type": "json_schema",
            "json_schema": {"name": "QA_output", "strict": true, "schema": expected_schema},
        })
    );
    assert_eq!(
        requests[1].body()["response_format"],
        json!({"type": "json_object"})
    );
}

#[tokio::test]
async fn anthropic_completion_and_request_shape() {
    set_up();
    let mock = MockLm::anthropic(|_| {
        Reply::text("Paris")
            .with_usage(40, 2)
            .with_finish_reason("end_turn")
    });
    let provider = client(spec(ProviderKind::Anthropic, &mock));
    let request = Request::new(vec![
        Message::new(Role::System, "Be brief."),
        Message::new(Role::User, "Here is an example."),
        Message::new(Role::User, "What is the capital of France?"),
        Message::new(Role::System, "Answer in English."),
    ]);
    let completion = complete(&*provider, &request).await;
    assert_eq!(completion.text, "Paris");
    assert_eq!(completion.finish_reason.as_deref(), Some("end_turn"));
    assert_eq!(
        completion.usage,
        Usage {
            input_tokens: 40,
            output_tokens: 2
        }
    );
    assert!((PRICE.cost(completion.usage) - 0.0000072).abs() < 1e-12);

    let received = only_request(&mock);
    assert_eq!(received.path, "/v1/messages");
    assert_eq!(received.header("x-api-key"), Some(KEY));
    assert_eq!(received.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(received.header("authorization"), None);
    assert_eq!(
        *received.body(),
        json!({
            "model": "claude-3-5-haiku-latest",
            "max_tokens": 1024,
            "system": "Be brief.\n\nAnswer in English.",
            "messages": [
                {"role": "user", "content": "Here is an example.\n\nWhat is the capital of France?"},
            ],
        })
    );
}

#[tokio::test]
async fn anthropic_structured_output_is_a_forced_tool_call() {
    set_up();
    let mock = MockLm::anthropic(|_| Reply::tool_input(json!({"answer": "Paris"})));
    let provider = client(spec(ProviderKind::Anthropic, &mock));
    let request = Request {
        response_format: ResponseFormat::JsonSchema {
            name: "QAOutput".to_owned(),
            schema: answer_schema(),
        },
        max_tokens: Some(100),
        temperature: Some(0.2),
        stop: vec!["END".to_owned()],
        ..question()
    };
    let completion = complete(&*provider, &request).await;
    assert_eq!(completion.text, r#"{"answer":"Paris"}"#);
    assert_eq!(completion.finish_reason.as_deref(), Some("tool_use"));

    let body = only_request(&mock).body().clone();
    let mut expected_schema = answer_schema();
    expected_schema
        .as_object_mut()
        .map(|schema| schema.remove("$schema"));
    assert_eq!(body["tools"][0]["name"], "respond");
    assert!(body["tools"][0]["description"].as_str().is_some());
    assert_eq!(body["tools"][0]["input_schema"], expected_schema);
    assert_eq!(
        body["tool_choice"],
        json!({"type": "tool", "name": "respond"})
    );
    assert_eq!(body["max_tokens"], json!(100));
    assert_eq!(body["temperature"], json!(0.2));
    assert_eq!(body["stop_sequences"], json!(["END"]));

    let object = Request {
        response_format: ResponseFormat::JsonObject,
        ..question()
    };
    complete(&*provider, &object).await;
    let body = mock.requests()[1].body().clone();
    assert_eq!(body["tools"][0]["input_schema"], json!({"type": "object"}));
}

#[tokio::test]
async fn server_errors_are_retried_until_success() {
    set_up();
    let mock = MockLm::openai(sequence([
        Reply::status(500, json!({"error": {"message": "boom"}})),
        Reply::status(503, json!({"error": {"message": "busy"}})),
        Reply::text("Paris"),
    ]));
    let provider = client(spec(ProviderKind::OpenAi, &mock));
    assert_eq!(complete(&*provider, &question()).await.text, "Paris");
    assert_eq!(mock.hits(), 3);
    // All three on one kept-alive connection.
    assert_eq!(mock.connections(), 1);
}

#[tokio::test]
async fn connections_the_server_closed_while_idle_are_replaced_without_a_retry() {
    set_up();
    let mock = MockLm::openai(|_| Reply::then_close(Reply::text("Paris")));
    // No retries: a request lost on a closed connection would be an error here.
    let provider = client(ModelSpec {
        max_retries: 0,
        ..spec(ProviderKind::OpenAi, &mock)
    });
    for done in 1..=3 {
        assert_eq!(complete(&*provider, &question()).await.text, "Paris");
        // The server has closed the connection (on a busy machine a fixed sleep was sometimes
        // not long enough for its thread to get there), and the client has been idle since:
        // its runtime has seen the close, as it would have after any real idle time. (A close
        // racing with the next request is a different case, left to the retry policy.)
        let deadline = Instant::now() + Duration::from_secs(10);
        while mock.closed() < done && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert_eq!(mock.closed(), done, "the mock did not close the connection");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(mock.hits(), 3);
    assert_eq!(mock.connections(), 3);
}

#[tokio::test]
async fn servers_announcing_a_close_after_each_reply_are_served_back_to_back() {
    set_up();
    let mock = MockLm::openai(|_| Reply::closing(Reply::text("Paris")));
    let provider = client(ModelSpec {
        max_retries: 0,
        ..spec(ProviderKind::OpenAi, &mock)
    });
    // Back to back: the next call must not wait for the close to show.
    for _ in 0..3 {
        assert_eq!(complete(&*provider, &question()).await.text, "Paris");
    }
    assert_eq!(mock.hits(), 3);
    assert_eq!(mock.connections(), 3);
}

#[tokio::test]
async fn concurrent_calls_share_a_few_kept_alive_connections() {
    set_up();
    let mock = MockLm::openai(|_| Reply::delayed(Duration::from_millis(5), Reply::text("ok")));
    let provider = client(ModelSpec {
        max_concurrency: 4,
        ..spec(ProviderKind::OpenAi, &mock)
    });
    for _round in 0..3 {
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let provider = Arc::clone(&provider);
                tokio::spawn(async move { provider.complete(&question()).await })
            })
            .collect();
        for task in tasks {
            let outcome = task
                .await
                .unwrap_or_else(|error| panic!("a task failed: {error}"));
            assert_eq!(
                outcome.map(|completion| completion.text).ok().as_deref(),
                Some("ok")
            );
        }
    }
    assert_eq!(mock.hits(), 24);
    // At most four at a time, each on a connection kept from the rounds before.
    assert!(
        mock.connections() <= 4,
        "{} connections",
        mock.connections()
    );
}

#[tokio::test]
async fn the_last_status_is_reported_after_the_retries() {
    set_up();
    let mock = MockLm::openai(sequence([
        Reply::status(500, json!({"error": {"message": "boom"}})),
        Reply::status(502, json!({"error": {"message": "bad gateway upstream"}})),
    ]));
    let provider = client(ModelSpec {
        max_retries: 1,
        ..spec(ProviderKind::OpenAi, &mock)
    });
    let error = fail(&*provider, &question()).await;
    assert_eq!(
        error,
        LmError::Status {
            model: "fast".to_owned(),
            provider: "openai",
            status: 502,
            message: "bad gateway upstream".to_owned(),
            attempts: 2,
        }
    );
    assert_eq!(mock.hits(), 2);
}

#[tokio::test]
async fn anthropic_overloaded_is_retried() {
    set_up();
    let overloaded =
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
    let mock = MockLm::anthropic(sequence([
        Reply::status(529, overloaded),
        Reply::text("Paris"),
    ]));
    let provider = client(spec(ProviderKind::Anthropic, &mock));
    assert_eq!(complete(&*provider, &question()).await.text, "Paris");
    assert_eq!(mock.hits(), 2);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    set_up();
    let rate_limited = json!({"error": {"message": "Rate limit reached", "type": "requests"}});
    let mock = MockLm::openai(sequence([
        Reply::status(429, rate_limited).with_retry_after("1"),
        Reply::text("Paris"),
    ]));
    let provider = client(spec(ProviderKind::OpenAi, &mock));
    let start = Instant::now();
    assert_eq!(complete(&*provider, &question()).await.text, "Paris");
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    assert_eq!(mock.hits(), 2);
}

#[tokio::test]
async fn rate_limiting_reports_status_and_help() {
    set_up();
    let mock = MockLm::openai(|_| {
        Reply::status(429, json!({"error": {"message": "Rate limit reached"}}))
            .with_retry_after("0")
    });
    let provider = client(spec(ProviderKind::OpenAi, &mock));
    let error = fail(&*provider, &question()).await;
    assert!(
        matches!(
            error,
            LmError::Status {
                status: 429,
                attempts: 3,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error
        .help()
        .is_some_and(|help| help.contains("requests_per_minute")));
}

#[tokio::test]
async fn a_hang_times_out_on_every_try() {
    set_up();
    let mock = MockLm::openai(|_| Reply::Hang);
    let timeout = Duration::from_millis(300);
    let provider = client(ModelSpec {
        timeout,
        max_retries: 1,
        ..spec(ProviderKind::OpenAi, &mock)
    });
    let start = Instant::now();
    let error = fail(&*provider, &question()).await;
    let elapsed = start.elapsed();
    assert_eq!(
        error,
        LmError::Timeout {
            model: "fast".to_owned(),
            timeout,
            attempts: 2
        }
    );
    assert!(elapsed >= timeout * 2, "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    assert_eq!(mock.hits(), 2);
    assert!(error.to_string().contains("model `fast`"), "{error}");
    assert!(error.help().is_some_and(|help| help.contains("timeout")));
}

#[tokio::test]
async fn a_slow_reply_within_the_timeout_is_fine() {
    set_up();
    let mock = MockLm::openai(|_| Reply::delayed(Duration::from_millis(200), Reply::text("Paris")));
    let provider = client(ModelSpec {
        timeout: Duration::from_secs(2),
        ..spec(ProviderKind::OpenAi, &mock)
    });
    assert_eq!(complete(&*provider, &question()).await.text, "Paris");
    assert_eq!(mock.hits(), 1);
}

#[tokio::test]
async fn resets_and_truncated_bodies_are_retried() {
    set_up();
    for provider_kind in [ProviderKind::OpenAi, ProviderKind::Anthropic] {
        let replies = [Reply::Reset, Reply::Truncated, Reply::text("Paris")];
        let mock = match provider_kind {
            ProviderKind::OpenAi => MockLm::openai(sequence(replies)),
            ProviderKind::Anthropic => MockLm::anthropic(sequence(replies)),
            ProviderKind::Local => unreachable!("the HTTP tests use HTTP providers"),
        };
        let provider = client(spec(provider_kind, &mock));
        assert_eq!(complete(&*provider, &question()).await.text, "Paris");
        assert_eq!(mock.hits(), 3, "{provider_kind:?}");
    }
}

#[tokio::test]
async fn truncated_bodies_fail_after_the_retries() {
    set_up();
    let mock = MockLm::openai(|_| Reply::Truncated);
    let provider = client(ModelSpec {
        max_retries: 1,
        ..spec(ProviderKind::OpenAi, &mock)
    });
    let error = fail(&*provider, &question()).await;
    assert!(matches!(error, LmError::Protocol { .. }), "{error:?}");
    assert!(error.to_string().contains("model `fast`"), "{error}");
    assert_eq!(mock.hits(), 2);
}

#[tokio::test]
async fn non_json_bodies_are_retried_then_a_protocol_error() {
    set_up();
    let mock = MockLm::openai(|_| Reply::NotJson);
    let provider = client(ModelSpec {
        max_retries: 1,
        ..spec(ProviderKind::OpenAi, &mock)
    });
    let error = fail(&*provider, &question()).await;
    let LmError::Protocol {
        model,
        provider: provider_name,
        message,
    } = &error
    else {
        panic!("expected a protocol error, got {error:?}");
    };
    assert_eq!(model, "fast");
    assert_eq!(*provider_name, "openai");
    assert!(message.contains("not JSON"), "{message}");
    assert!(message.contains("<!DOCTYPE html>"), "{message}");
    assert_eq!(mock.hits(), 2);
}

#[tokio::test]
async fn a_complete_body_whose_json_stops_short_is_retried_then_reported() {
    set_up();
    for kind in [ProviderKind::OpenAi, ProviderKind::Anthropic] {
        // The whole body arrives (its Content-Length is right), but the JSON in it is cut off.
        let short = |_: &Received| {
            Reply::raw(
                200,
                "application/json",
                "{\"id\": \"x\", \"choices\": [{\"message\": {\"content\": \"Par",
            )
        };
        let mock = match kind {
            ProviderKind::Anthropic => MockLm::anthropic(short),
            _ => MockLm::openai(short),
        };
        let provider = client(ModelSpec {
            max_retries: 1,
            ..spec(kind, &mock)
        });
        let error = fail(&*provider, &question()).await;
        assert!(matches!(error, LmError::Protocol { .. }), "{error:?}");
        let text = error.to_string();
        assert!(text.contains("the JSON body ends early"), "{text}");
        assert!(text.contains("(2 attempts)"), "{text}");
        assert_eq!(mock.hits(), 2, "a cut-off body is worth another try");
    }
}

#[tokio::test]
async fn empty_choices_and_null_content_are_protocol_errors_without_retries() {
    set_up();
    for (reply, expected) in [
        (Reply::EmptyChoices, "no choices"),
        (Reply::NullContent, "null"),
    ] {
        let mock = MockLm::openai(move |_| reply.clone());
        let provider = client(spec(ProviderKind::OpenAi, &mock));
        let error = fail(&*provider, &question()).await;
        assert!(matches!(error, LmError::Protocol { .. }), "{error:?}");
        let text = error.to_string();
        assert!(text.contains("model `fast`"), "{text}");
        assert!(text.contains(expected), "{text}");
        assert_eq!(mock.hits(), 1);
    }
    let mock = MockLm::anthropic(|_| Reply::EmptyChoices);
    let provider = client(spec(ProviderKind::Anthropic, &mock));
    let error = fail(&*provider, &question()).await;
    assert!(
        matches!(
            error,
            LmError::Protocol {
                provider: "anthropic",
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn unauthorized_is_reported_with_the_providers_message_and_help() {
    set_up();
    let mock = MockLm::openai(|_| {
        Reply::status(
            401,
            json!({"error": {"message": "Incorrect API key provided: sk-test-***cdef.", "type": "invalid_request_error", "code": "invalid_api_key"}}),
        )
    });
    let provider = client(spec(ProviderKind::OpenAi, &mock));
    let error = fail(&*provider, &question()).await;
    assert!(
        matches!(
            error,
            LmError::Status {
                status: 401,
                attempts: 1,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "model `fast`: openai answered HTTP 401: Incorrect API key provided: sk-test-***cdef. (invalid_request_error)"
    );
    assert!(error
        .help()
        .is_some_and(|help| help.contains("api_key_env")));
    assert_eq!(mock.hits(), 1, "a 401 is not retried");

    let mock = MockLm::anthropic(|_| {
        Reply::status(
            401,
            json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}),
        )
    });
    let provider = client(spec(ProviderKind::Anthropic, &mock));
    let error = fail(&*provider, &question()).await;
    assert_eq!(
        error.to_string(),
        "model `fast`: anthropic answered HTTP 401: invalid x-api-key (authentication_error)"
    );
}

/// Every text a user could see of `error`.
fn all_text(error: &LmError) -> String {
    format!("{error}\n{error:?}\n{}", error.help().unwrap_or_default())
}

#[tokio::test]
async fn the_key_never_appears_in_errors() {
    set_up();
    // Servers that echo the request's credentials back.
    let echo_status = |status: u16| {
        move |received: &Received| {
            let authorization = received.header("authorization").unwrap_or_default();
            let api_key = received.header("x-api-key").unwrap_or_default();
            Reply::status(
                status,
                json!({"error": {"message": format!("rejected {authorization} / {api_key}"), "headers": received.headers}}),
            )
        }
    };
    let echo_html = |received: &Received| {
        Reply::raw(
            200,
            "text/html",
            format!("<pre>{:?}</pre>", received.headers),
        )
    };
    let echo_plain_status = |received: &Received| {
        Reply::raw(
            502,
            "text/plain",
            format!("upstream said no to {:?}", received.headers),
        )
    };
    for provider_kind in [ProviderKind::OpenAi, ProviderKind::Anthropic] {
        let start = |script: Box<dyn Fn(&Received) -> Reply + Send + Sync>| match provider_kind {
            ProviderKind::OpenAi => MockLm::openai(script),
            ProviderKind::Anthropic => MockLm::anthropic(script),
            ProviderKind::Local => unreachable!("the HTTP tests use HTTP providers"),
        };
        let mocks = [
            start(Box::new(echo_status(401))),
            start(Box::new(echo_status(500))),
            start(Box::new(echo_html)),
            start(Box::new(echo_plain_status)),
        ];
        for mock in &mocks {
            let provider = client(ModelSpec {
                max_retries: 1,
                ..spec(provider_kind, mock)
            });
            let error = fail(&*provider, &question()).await;
            let text = all_text(&error);
            assert!(!text.contains(KEY), "the key leaked: {text}");
            assert!(!text.contains("0123456789abcdef"), "the key leaked: {text}");
            assert!(mock.hits() >= 1);
            let echoed = mock.requests()[0]
                .headers
                .iter()
                .any(|(_, value)| value.contains(KEY));
            assert!(echoed, "the mock should have received the key");
        }
    }
}

#[tokio::test]
async fn a_missing_key_variable_is_reported_before_sending() {
    set_up();
    let mock = MockLm::openai(|_| Reply::text("Paris"));
    let provider = client(ModelSpec {
        api_key_env: Some(UNSET_VARIABLE.to_owned()),
        ..spec(ProviderKind::OpenAi, &mock)
    });
    let error = fail(&*provider, &question()).await;
    assert_eq!(
        error,
        LmError::MissingKey {
            model: "fast".to_owned(),
            variable: UNSET_VARIABLE.to_owned()
        }
    );
    assert!(error.help().is_some());
    assert_eq!(mock.hits(), 0);
}

#[tokio::test]
async fn local_servers_get_no_auth_header() {
    set_up();
    let mock = MockLm::openai(|_| Reply::text("Paris"));
    let provider = client(ModelSpec {
        api_key_env: None,
        ..spec(ProviderKind::OpenAi, &mock)
    });
    complete(&*provider, &question()).await;
    assert_eq!(only_request(&mock).header("authorization"), None);
}

#[tokio::test]
async fn an_unreachable_server_is_a_connection_error() {
    set_up();
    // A port that was free a moment ago: nothing listens there now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|error| panic!("cannot find a free port: {error}"));
    let provider = client(ModelSpec {
        name: "local".to_owned(),
        provider: ProviderKind::OpenAi,
        model: "llama3".to_owned(),
        base_url: format!("http://127.0.0.1:{port}/v1/"),
        api_key_env: None,
        price: None,
        timeout: Duration::from_secs(2),
        max_concurrency: 1,
        requests_per_minute: None,
        temperature: None,
        max_tokens: None,
        seed: None,
        max_retries: 1,
    });
    let error = fail(&*provider, &question()).await;
    let LmError::Connection {
        model,
        url,
        attempts,
        ..
    } = &error
    else {
        panic!("expected a connection error, got {error:?}");
    };
    assert_eq!(model, "local");
    assert_eq!(url, &format!("http://127.0.0.1:{port}/v1/chat/completions"));
    assert_eq!(*attempts, 2);
    assert!(error.help().is_some_and(|help| help.contains("base_url")));
}

#[test]
fn a_base_url_without_a_scheme_is_refused() {
    let mock = MockLm::openai(|_| Reply::text("Paris"));
    let spec = ModelSpec {
        base_url: "localhost:11434/v1".to_owned(),
        ..spec(ProviderKind::OpenAi, &mock)
    };
    let error = match connect(spec) {
        Ok(_) => panic!("a base URL without http:// should be refused"),
        Err(error) => error,
    };
    assert_eq!(
        error.to_string(),
        "model `fast`: the base URL `localhost:11434/v1` is not an http:// or https:// URL"
    );
}

#[tokio::test]
async fn the_concurrency_limit_holds() {
    set_up();
    let mock = MockLm::openai(|_| Reply::delayed(Duration::from_millis(100), Reply::text("ok")));
    let provider = client(ModelSpec {
        max_concurrency: 3,
        ..spec(ProviderKind::OpenAi, &mock)
    });
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let provider = Arc::clone(&provider);
            tokio::spawn(async move { provider.complete(&question()).await })
        })
        .collect();
    for task in tasks {
        let outcome = task
            .await
            .unwrap_or_else(|error| panic!("a task failed: {error}"));
        assert!(outcome.is_ok(), "{outcome:?}");
    }
    assert_eq!(mock.hits(), 12);
    assert_eq!(mock.max_in_flight(), 3);
}

#[tokio::test]
async fn requests_per_minute_spaces_requests() {
    set_up();
    let mock = MockLm::openai(|_| Reply::text("ok"));
    let provider = client(ModelSpec {
        requests_per_minute: Some(600),
        ..spec(ProviderKind::OpenAi, &mock)
    });
    let start = Instant::now();
    for _ in 0..4 {
        complete(&*provider, &question()).await;
    }
    let elapsed = start.elapsed();
    // The first at once, then one every 100 ms.
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[test]
fn the_mock_serves_synchronous_callers_too() {
    use std::io::{Read, Write};
    let mock = MockLm::openai(|_| Reply::text("Paris"));
    let mut stream = std::net::TcpStream::connect(mock.address())
        .unwrap_or_else(|error| panic!("cannot connect: {error}"));
    let body = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
    // Chunked, and closing the connection after the answer.
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .unwrap_or_else(|error| panic!("cannot write: {error}"));
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .unwrap_or_else(|error| panic!("cannot read: {error}"));
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.contains("connection: close"), "{response}");
    assert!(response.contains(r#""content":"Paris""#), "{response}");
    assert_eq!(mock.requests()[0].body()["messages"][0]["content"], "hi");
}
