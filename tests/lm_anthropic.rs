//! Anthropic's Messages API end to end through the `dspex` binary: `--model anthropic/...` with
//! `--base-url` at a mock Anthropic server on 127.0.0.1 (or a `dspex.yaml` entry where a setting
//! has no flag, such as `timeout_secs`), and every way the server can fail: rate limits with
//! `Retry-After`, server errors retried then reported, hangs, and bodies that are not JSON. The
//! fake API key must never reach stdout, stderr or the store.

#[path = "support/mock_lm.rs"]
mod mock_lm;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use mock_lm::{sequence, MockLm, Received, Reply, NOT_JSON_BODY};
use serde_json::{json, Value};

const QA_REPLY: &str =
    "[[ ## answer ## ]]\nParis\n\n[[ ## confidence ## ]]\n0.9\n\n[[ ## completed ## ]]";
const SECRET: &str = "sk-ant-test-very-secret-key-0123456789";
const QUESTION: &str = "question=What is the capital of France?";
const MODEL: &str = "anthropic/claude-test";

/// What one `dspex` process did.
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Outcome {
    /// Fails the test if the key shows up in anything the process printed.
    fn assert_no_secret(&self) {
        assert!(
            !self.stdout.contains(SECRET),
            "the key reached stdout: {}",
            self.stdout
        );
        assert!(
            !self.stderr.contains(SECRET),
            "the key reached stderr: {}",
            self.stderr
        );
    }
}

/// A directory with `qa.sig` and, when `config` is given, a `dspex.yaml`.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        let dir = support::temp_dir();
        let qa =
            std::fs::read_to_string(support::root().join("signatures/qa.sig")).expect("qa.sig");
        support::write(dir.path(), "qa.sig", qa);
        Project { dir }
    }

    /// With a `dspex.yaml` whose default model `claude` is the mock at `url`.
    fn with_config(url: &str, settings: &str) -> Project {
        let project = Project::new();
        support::write(
            project.path(),
            "dspex.yaml",
            format!(
                "model: claude\nmodels:\n  claude:\n    provider: anthropic\n    \
                 model: claude-test\n    base_url: {url}\n    \
                 api_key_env: ANTHROPIC_API_KEY\n{settings}"
            ),
        );
        project
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `dspex ARGS` with the fake key in `ANTHROPIC_API_KEY` and nothing else configured.
    fn run(&self, args: &[&str]) -> Outcome {
        let started = Instant::now();
        let output: Output = Command::new(env!("CARGO_BIN_EXE_dspex"))
            .current_dir(self.path())
            .env_remove("DSPEX_MODEL")
            .env_remove("DSPEX_BASE_URL")
            .env_remove("DSPEX_STORE")
            .env_remove("OPENAI_API_KEY")
            .env("ANTHROPIC_API_KEY", SECRET)
            .env("NO_COLOR", "1")
            .args(args)
            .output()
            .expect("run dspex");
        let outcome = Outcome {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            elapsed: started.elapsed(),
        };
        outcome.assert_no_secret();
        outcome
    }

    /// `dspex run qa.sig` against `url` as `anthropic/claude-test`, plus `extra` arguments.
    fn run_qa(&self, url: &str, extra: &[&str]) -> Outcome {
        let mut args = vec![
            "run",
            "qa.sig",
            "--input",
            QUESTION,
            "--model",
            MODEL,
            "--base-url",
            url,
        ];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    /// The recorded executions, newest first.
    fn runs(&self) -> Vec<Value> {
        let result = self.run(&["runs", "--json"]);
        assert_eq!(result.code, 0, "{}", result.stderr);
        serde_json::from_str(&result.stdout).expect("runs --json")
    }

    /// Fails the test if the key is in any file under the project (the store included).
    fn assert_no_secret_on_disk(&self) {
        for file in walk(self.path()) {
            let bytes = std::fs::read(&file).unwrap_or_default();
            assert!(
                !bytes
                    .windows(SECRET.len())
                    .any(|window| window == SECRET.as_bytes()),
                "the key reached {}",
                file.display()
            );
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Checks that `request` is a Messages call for `claude-test` carrying the key as Anthropic
/// wants it.
fn assert_messages_request(request: &Received) {
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/messages");
    assert_eq!(request.model(), Some("claude-test"));
    assert_eq!(request.header("x-api-key"), Some(SECRET));
    assert_eq!(request.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(
        request.header("authorization"),
        None,
        "Anthropic takes the key in x-api-key only"
    );
}

/// An Anthropic error body.
fn anthropic_error(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

#[test]
fn a_reply_through_the_messages_api_with_the_flags_sampling_settings() {
    let mock = MockLm::anthropic(|_| Reply::text(QA_REPLY).with_usage(12, 3));
    let project = Project::new();
    let result = project.run_qa(
        &mock.url(),
        &["--temperature", "0.2", "--max-tokens", "50", "--json"],
    );
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(
        serde_json::from_str::<Value>(&result.stdout).expect("json"),
        json!({"answer": "Paris", "confidence": 0.9})
    );
    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_messages_request(request);
    assert_eq!(request.body()["temperature"], json!(0.2));
    assert_eq!(request.body()["max_tokens"], json!(50));
    assert!(request.body()["system"]
        .as_str()
        .is_some_and(|system| system.starts_with("Your input fields are:")));
    assert_eq!(request.body()["messages"][0]["role"], "user");
    let runs = project.runs();
    assert_eq!(runs[0]["model"], MODEL);
    assert_eq!(runs[0]["usage"]["input_tokens"], 12);
    project.assert_no_secret_on_disk();
}

#[test]
fn without_flags_max_tokens_defaults_to_1024() {
    let mock = MockLm::anthropic(|_| Reply::text(QA_REPLY));
    let project = Project::new();
    let result = project.run_qa(&mock.url(), &[]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let request = &mock.requests()[0];
    assert_eq!(request.body()["max_tokens"], json!(1024));
    assert!(request.body().get("temperature").is_none());
}

#[test]
fn a_429_with_retry_after_is_waited_out_then_succeeds() {
    let mock = MockLm::anthropic(sequence([
        Reply::status(429, anthropic_error("rate_limit_error", "slow down")).with_retry_after("2"),
        Reply::text(QA_REPLY),
    ]));
    let project = Project::new();
    let result = project.run_qa(&mock.url(), &[]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.stdout, "answer: Paris\nconfidence: 0.9\n");
    // Backoff alone would wait at most 250 ms before the first retry.
    assert!(
        result.elapsed >= Duration::from_secs(2),
        "Retry-After: 2 was not honoured ({:?})",
        result.elapsed
    );
    assert_eq!(mock.hits(), 2);
    for request in mock.requests() {
        assert_messages_request(&request);
    }
    let runs = project.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "success");
}

#[test]
fn a_429_after_the_last_retry_is_reported_with_a_hint() {
    let mock = MockLm::anthropic(|_| {
        Reply::status(429, anthropic_error("rate_limit_error", "slow down")).with_retry_after("0")
    });
    let project = Project::with_config(&mock.url(), "    max_retries: 1\n");
    let result = project.run(&["run", "qa.sig", "--input", QUESTION]);
    assert_eq!(result.code, 1, "{}", result.stderr);
    assert_eq!(mock.hits(), 2, "max_retries: 1 means two tries");
    assert!(
        result
            .stderr
            .contains("model `claude`: anthropic answered HTTP 429: slow down (rate_limit_error)"),
        "{}",
        result.stderr
    );
    assert!(
        result.stderr.contains("requests_per_minute"),
        "{}",
        result.stderr
    );
}

#[test]
fn a_500_is_retried_then_reported_with_the_status_and_the_providers_message() {
    // The server echoes the key back; it must be scrubbed from everything dspex prints.
    let message = format!("the engine is on fire; you sent x-api-key {SECRET}");
    let mock =
        MockLm::anthropic(move |_| Reply::status(500, anthropic_error("api_error", &message)));
    let project = Project::new();
    let result = project.run_qa(&mock.url(), &[]);
    assert_eq!(result.code, 1, "{}", result.stderr);
    assert_eq!(mock.hits(), 4, "the default max_retries is 3: four tries");
    for request in mock.requests() {
        assert_messages_request(&request);
    }
    assert!(
        result
            .stderr
            .contains(&format!("model `{MODEL}`: anthropic answered HTTP 500")),
        "{}",
        result.stderr
    );
    assert!(
        result.stderr.contains("the engine is on fire"),
        "{}",
        result.stderr
    );
    assert!(result.stderr.contains("[redacted]"), "{}", result.stderr);
    assert!(result.stdout.is_empty(), "{}", result.stdout);
    let runs = project.runs();
    assert_eq!(runs[0]["status"], "failed");
    assert!(
        runs[0]["error"]
            .as_str()
            .is_some_and(|error| error.contains("HTTP 500")),
        "{}",
        runs[0]
    );
    project.assert_no_secret_on_disk();
}

#[test]
fn an_overloaded_529_is_retried() {
    let mock = MockLm::anthropic(sequence([
        Reply::status(529, anthropic_error("overloaded_error", "Overloaded")),
        Reply::text(QA_REPLY),
    ]));
    let project = Project::new();
    let result = project.run_qa(&mock.url(), &[]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(mock.hits(), 2);
}

#[test]
fn a_400_is_not_retried() {
    let mock = MockLm::anthropic(|_| {
        Reply::status(
            400,
            anthropic_error("invalid_request_error", "max_tokens: too large"),
        )
    });
    let project = Project::new();
    let result = project.run_qa(&mock.url(), &[]);
    assert_eq!(result.code, 1, "{}", result.stderr);
    assert_eq!(mock.hits(), 1, "a client error is final");
    assert!(
        result
            .stderr
            .contains("HTTP 400: max_tokens: too large (invalid_request_error)"),
        "{}",
        result.stderr
    );
}

#[test]
fn a_rejected_key_names_the_variable_and_never_the_key() {
    let mock = MockLm::anthropic(|_| {
        Reply::status(
            401,
            anthropic_error(
                "authentication_error",
                &format!("invalid x-api-key {SECRET}"),
            ),
        )
    });
    let project = Project::new();
    let result = project.run_qa(&mock.url(), &[]);
    assert_eq!(result.code, 1, "{}", result.stderr);
    assert_eq!(mock.hits(), 1);
    assert!(result.stderr.contains("HTTP 401"), "{}", result.stderr);
    assert!(result.stderr.contains("api_key_env"), "{}", result.stderr);
    project.assert_no_secret_on_disk();
}

#[test]
fn a_hanging_server_times_out_after_timeout_secs() {
    let mock = MockLm::anthropic(|_| Reply::Hang);
    let project = Project::with_config(&mock.url(), "    timeout_secs: 1\n    max_retries: 1\n");
    let result = project.run(&["run", "qa.sig", "--input", QUESTION]);
    assert_eq!(result.code, 1, "{}", result.stderr);
    assert!(
        result
            .stderr
            .contains("model `claude`: no answer within 1s (2 attempts)"),
        "{}",
        result.stderr
    );
    assert!(result.stderr.contains("timeout_secs"), "{}", result.stderr);
    assert_eq!(mock.hits(), 2, "a timeout is retried");
    assert!(
        result.elapsed >= Duration::from_secs(2),
        "two tries of 1 s each: {:?}",
        result.elapsed
    );
    assert!(
        result.elapsed < Duration::from_secs(10),
        "the timeout was not enforced: {:?}",
        result.elapsed
    );
    assert_eq!(project.runs()[0]["status"], "failed");
}

#[test]
fn a_body_that_is_not_json_is_a_clear_error() {
    let mock = MockLm::anthropic(|_| Reply::NotJson);
    let project = Project::with_config(&mock.url(), "    max_retries: 1\n");
    let result = project.run(&["run", "qa.sig", "--input", QUESTION]);
    assert_eq!(result.code, 1, "{}", result.stderr);
    assert!(
        result.stderr.contains(
            "model `claude`: the reply is not what anthropic sends: the body is not JSON"
        ),
        "{}",
        result.stderr
    );
    // The start of what came back is quoted.
    assert!(
        result.stderr.contains("<!DOCTYPE html>"),
        "{}",
        result.stderr
    );
    assert!(NOT_JSON_BODY.starts_with("<!DOCTYPE html>"));
    let hits = mock.hits();
    assert!((1..=2).contains(&hits), "{hits} requests");
    if hits > 1 {
        assert!(
            result.stderr.contains(&format!("({hits} attempts)")),
            "{}",
            result.stderr
        );
    }
    assert!(!result.stderr.contains("panicked"), "{}", result.stderr);
}

#[test]
fn other_garbage_from_the_server_is_a_clear_error() {
    for (reply, expected) in [
        (Reply::EmptyChoices, "no content blocks"),
        (
            Reply::raw(200, "application/json", "{\"content\": 3}"),
            "unexpected JSON",
        ),
        (Reply::Truncated, "the reply is not what anthropic sends"),
        (Reply::Reset, "model `claude`"),
    ] {
        let mock = MockLm::anthropic(move |_| reply.clone());
        let project = Project::with_config(&mock.url(), "    max_retries: 0\n");
        let result = project.run(&["run", "qa.sig", "--input", QUESTION]);
        assert_eq!(result.code, 1, "{}", result.stderr);
        assert!(result.stderr.contains(expected), "{}", result.stderr);
        assert!(!result.stderr.contains("panicked"), "{}", result.stderr);
        assert_eq!(mock.hits(), 1, "max_retries: 0");
    }
}

#[test]
fn a_missing_key_is_named_before_anything_is_sent() {
    let mock = MockLm::anthropic(|_| Reply::text(QA_REPLY));
    let project = Project::with_config(&mock.url(), "");
    let output = Command::new(env!("CARGO_BIN_EXE_dspex"))
        .current_dir(project.path())
        .env_remove("DSPEX_MODEL")
        .env_remove("DSPEX_BASE_URL")
        .env_remove("DSPEX_STORE")
        .env_remove("ANTHROPIC_API_KEY")
        .env("NO_COLOR", "1")
        .args(["run", "qa.sig", "--input", QUESTION])
        .output()
        .expect("run dspex");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the environment variable `ANTHROPIC_API_KEY`"),
        "{stderr}"
    );
    assert_eq!(mock.hits(), 0);
}

#[test]
fn the_json_adapter_forces_the_respond_tool() {
    let mock =
        MockLm::anthropic(|_| Reply::tool_input(json!({"answer": "Paris", "confidence": 0.8})));
    let project = Project::new();
    let result = project.run_qa(&mock.url(), &["--adapter", "json", "--json"]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(
        serde_json::from_str::<Value>(&result.stdout).expect("json"),
        json!({"answer": "Paris", "confidence": 0.8})
    );
    let request = &mock.requests()[0];
    assert_messages_request(request);
    assert_eq!(
        request.body()["tool_choice"],
        json!({"type": "tool", "name": "respond"})
    );
    let schema = &request.body()["tools"][0]["input_schema"];
    assert_eq!(schema["type"], "object");
    assert!(schema["properties"].get("answer").is_some(), "{schema}");
}
