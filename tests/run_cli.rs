//! End-to-end tests of `dspex run`, `runs`, `stats` and `init`: the real binary against mock
//! OpenAI-compatible and Anthropic servers on 127.0.0.1, checking exit codes, messages, the
//! cache, `--offline`, what the store holds, and every failure mode of the server.

#[path = "support/mock_lm.rs"]
mod mock_lm;
mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use mock_lm::{sequence, MockLm, Reply};
use serde_json::{json, Value};

const QA_REPLY: &str =
    "[[ ## answer ## ]]\nParis\n\n[[ ## confidence ## ]]\n0.9\n\n[[ ## completed ## ]]";
const SECRET: &str = "sk-test-very-secret-key-0123456789";

/// A project directory with `signatures/qa.sig` copied in and a `dspex.yaml` pointing the
/// `mock` model at `url` with fast retries and timeouts.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(url: &str) -> Project {
        Project::with_model(url, "provider: openai\n    model: gpt-test", "")
    }

    fn with_model(url: &str, model: &str, extra: &str) -> Project {
        let dir = support::temp_dir();
        let qa =
            std::fs::read_to_string(support::root().join("signatures/qa.sig")).expect("qa.sig");
        support::write(dir.path(), "qa.sig", qa);
        let rag =
            std::fs::read_to_string(support::root().join("signatures/rag.sig")).expect("rag.sig");
        support::write(dir.path(), "rag.sig", rag);
        let config = format!(
            "model: mock\nmodels:\n  mock:\n    {model}\n    base_url: {url}\n    \
             api_key_env: DSPEX_TEST_KEY\n    price: {{ input: 1.0, output: 2.0 }}\n    \
             timeout_secs: 2\n    max_retries: 1\n{extra}"
        );
        support::write(dir.path(), "dspex.yaml", config);
        Project { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn dspex(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dspex"));
        command
            .current_dir(self.path())
            .env_remove("DSPEX_MODEL")
            .env_remove("DSPEX_BASE_URL")
            .env_remove("DSPEX_STORE")
            .env_remove("OPENAI_API_KEY")
            .env_remove("ANTHROPIC_API_KEY")
            .env("DSPEX_TEST_KEY", SECRET)
            .env("NO_COLOR", "1");
        command
    }

    fn run(&self, args: &[&str]) -> Result {
        let output = self.dspex().args(args).output().expect("run dspex");
        Result::from(output)
    }

    fn runs_json(&self) -> Vec<Value> {
        let result = self.run(&["runs", "--json", "--last", "100000"]);
        assert_eq!(result.code, 0, "{}", result.stderr);
        serde_json::from_str(&result.stdout).expect("runs --json")
    }

    fn show(&self, id: i64) -> Value {
        let result = self.run(&["runs", "show", &id.to_string(), "--json"]);
        assert_eq!(result.code, 0, "{}", result.stderr);
        serde_json::from_str(&result.stdout).expect("runs show --json")
    }

    /// Every byte the project directory holds (store included), for secret checks.
    fn all_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for entry in walk(self.path()) {
            if entry.file_name().is_some_and(|n| n == "dspex.yaml") {
                continue;
            }
            bytes.extend(std::fs::read(&entry).unwrap_or_default());
        }
        bytes
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

struct Result {
    code: i32,
    stdout: String,
    stderr: String,
}

impl From<Output> for Result {
    fn from(output: Output) -> Result {
        Result {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

const QUESTION: &str = "question=What is the capital of France?";

#[test]
fn run_prints_typed_outputs_and_records_the_execution() {
    let mock = MockLm::openai(|_| Reply::text(QA_REPLY).with_usage(100, 20));
    let project = Project::new(&mock.url());
    let result = project.run(&["run", "qa.sig", "--input", QUESTION]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.stdout, "answer: Paris\nconfidence: 0.9\n");
    assert!(result.stderr.contains("run 1"), "{}", result.stderr);

    let result = project.run(&["run", "qa.sig", "--input", QUESTION, "--json", "--no-cache"]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let outputs: Value = serde_json::from_str(&result.stdout).expect("json");
    assert_eq!(outputs, json!({"answer": "Paris", "confidence": 0.9}));

    let runs = project.runs_json();
    assert_eq!(runs.len(), 2);
    let shown = project.show(1);
    assert_eq!(shown["program"], "qa");
    assert_eq!(shown["signature"], "QA");
    assert_eq!(shown["module"], "predict");
    assert_eq!(shown["model"], "mock");
    assert_eq!(shown["status"], "success");
    assert_eq!(
        shown["inputs"]["question"],
        "What is the capital of France?"
    );
    assert_eq!(shown["usage"]["input_tokens"], 100);
    // 100 tokens at $1/M in, 20 at $2/M out.
    let cost = shown["cost"].as_f64().expect("cost");
    assert!((cost - 0.00014).abs() < 1e-12, "{cost}");
    let call_cost = shown["calls"][0]["cost"].as_f64().expect("cost per call");
    assert!((call_cost - 0.00014).abs() < 1e-12, "{call_cost}");
    let text = project.run(&["runs", "show", "1"]);
    assert!(
        text.stdout.contains("100 in / 20 out, $0.000140"),
        "{}",
        text.stdout
    );
    assert_eq!(shown["calls"][0]["raw"], QA_REPLY);
    assert_eq!(shown["calls"][0]["messages"][0]["role"], "system");
    assert_eq!(shown["source_hash"].as_str().map(str::len), Some(64));

    // The request went out as an OpenAI chat completion with the key from the variable.
    let request = &mock.requests()[0];
    assert_eq!(request.body()["model"], "gpt-test");
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {SECRET}").as_str())
    );

    let stats = project.run(&["stats"]);
    assert_eq!(stats.code, 0, "{}", stats.stderr);
    assert!(stats.stdout.contains("qa"), "{}", stats.stdout);
    assert!(stats.stdout.contains("ERRORS"), "{}", stats.stdout);
    let stats = project.run(&["stats", "--json"]);
    let stats: Value = serde_json::from_str(&stats.stdout).expect("stats --json");
    assert_eq!(stats[0]["count"], 2);
    assert_eq!(stats[0]["error_rate"], 0.0);

    // The key never reaches the store or anything else on disk.
    let bytes = project.all_bytes();
    assert!(
        !contains(&bytes, SECRET.as_bytes()),
        "the API key reached the project directory"
    );
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[test]
fn anthropic_models_work_through_the_messages_api() {
    let mock = MockLm::anthropic(|_| Reply::text(QA_REPLY));
    let project = Project::with_model(
        &mock.url(),
        "provider: anthropic\n    model: claude-test",
        "",
    );
    let result = project.run(&["run", "qa.sig", "--input", QUESTION, "--json"]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(
        serde_json::from_str::<Value>(&result.stdout).expect("json"),
        json!({"answer": "Paris", "confidence": 0.9})
    );
    let request = &mock.requests()[0];
    assert_eq!(request.header("x-api-key"), Some(SECRET));
    assert!(request.body()["system"]
        .as_str()
        .is_some_and(|s| s.starts_with("Your input fields are:")));
}

#[test]
fn without_a_model_the_error_says_how_to_configure_one() {
    let dir = support::temp_dir();
    support::write(dir.path(), "qa.sig", "signature question -> answer\n");
    let output = Command::new(env!("CARGO_BIN_EXE_dspex"))
        .current_dir(dir.path())
        .env_remove("DSPEX_MODEL")
        .args(["run", "qa.sig", "--input", "question=hi"])
        .output()
        .expect("run");
    let result = Result::from(output);
    assert_eq!(result.code, 2);
    assert!(
        result.stderr.contains("no model configured"),
        "{}",
        result.stderr
    );
    assert!(
        result.stderr.contains("--model openai/gpt-4o-mini"),
        "{}",
        result.stderr
    );
    assert!(result.stderr.contains("dspex init"), "{}", result.stderr);
}

#[test]
fn the_cache_answers_repeats_and_offline_fails_on_a_miss() {
    let mock = MockLm::openai(|_| Reply::text(QA_REPLY));
    let project = Project::new(&mock.url());
    assert_eq!(project.run(&["run", "qa.sig", "--input", QUESTION]).code, 0);
    assert_eq!(project.run(&["run", "qa.sig", "--input", QUESTION]).code, 0);
    assert_eq!(mock.hits(), 1, "the second run should come from the cache");
    let offline = project.run(&["run", "qa.sig", "--input", QUESTION, "--offline"]);
    assert_eq!(offline.code, 0, "{}", offline.stderr);
    assert!(offline.stderr.contains("cached"), "{}", offline.stderr);
    assert_eq!(
        project
            .run(&["run", "qa.sig", "--input", QUESTION, "--no-cache"])
            .code,
        0
    );
    assert_eq!(mock.hits(), 2);

    let miss = project.run(&[
        "run",
        "qa.sig",
        "--input",
        "question=Something new",
        "--offline",
    ]);
    assert_eq!(miss.code, 1);
    assert!(
        miss.stderr.contains("offline: no cached reply"),
        "{}",
        miss.stderr
    );
    assert!(miss.stderr.contains("help:"), "{}", miss.stderr);
    assert_eq!(mock.hits(), 2, "--offline must never call the LM");
    let runs = project.runs_json();
    assert_eq!(runs[0]["status"], "failed");
    assert_eq!(runs[1]["cache_hit"], false, "--no-cache");
    assert_eq!(runs[2]["cache_hit"], true, "--offline from the cache");
}

#[test]
fn repaired_values_are_recorded() {
    let mock =
        MockLm::openai(|_| Reply::text("[[ ## Answer ## ]] Paris.\n[[ ## confidence ## ]]\n87%\n"));
    let project = Project::new(&mock.url());
    let result = project.run(&["run", "qa.sig", "--input", QUESTION, "--json"]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let outputs: Value = serde_json::from_str(&result.stdout).expect("json");
    assert_eq!(outputs["confidence"], json!(0.87));
    let shown = project.show(1);
    let repairs = shown["repairs"].as_array().expect("repairs");
    assert!(
        repairs.iter().any(|r| r["path"] == "confidence"),
        "{repairs:?}"
    );
}

#[test]
fn an_unparseable_reply_falls_back_to_json_then_fails_showing_the_reply() {
    let mock = MockLm::openai(|_| Reply::text("I am not sure what you mean."));
    let project = Project::new(&mock.url());
    let result = project.run(&["run", "qa.sig", "--input", QUESTION]);
    assert_eq!(result.code, 1, "{}", result.stderr);
    assert!(
        result.stderr.contains("I am not sure what you mean."),
        "{}",
        result.stderr
    );
    assert!(
        result.stderr.contains("dspex runs show 1"),
        "{}",
        result.stderr
    );
    assert_eq!(mock.hits(), 2, "one chat call and one JSON-adapter retry");
    let second = &mock.requests()[1];
    assert!(
        second.body().get("response_format").is_some(),
        "the retry asks for JSON"
    );
    let failed = project.run(&["runs", "--status", "failed", "--json"]);
    let failed: Vec<Value> = serde_json::from_str(&failed.stdout).expect("json");
    assert_eq!(failed.len(), 1);
    let succeeded = project.run(&["runs", "--status", "success", "--json"]);
    let succeeded: Vec<Value> = serde_json::from_str(&succeeded.stdout).expect("json");
    assert!(succeeded.is_empty(), "{succeeded:?}");
    assert_eq!(project.show(1)["calls"].as_array().map(Vec::len), Some(2));
}

#[test]
fn a_json_reply_is_accepted_by_the_fallback() {
    let mock = MockLm::openai(sequence([
        Reply::text("Sure! The answer is Paris."),
        Reply::text("{\"answer\": \"Paris\", \"confidence\": 0.75}"),
    ]));
    let project = Project::new(&mock.url());
    let result = project.run(&["run", "qa.sig", "--input", QUESTION, "--json"]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(
        serde_json::from_str::<Value>(&result.stdout).expect("json"),
        json!({"answer": "Paris", "confidence": 0.75})
    );
}

#[test]
fn a_server_without_structured_outputs_is_asked_again_in_json_mode() {
    let mock = MockLm::openai(|request| {
        if request.body()["response_format"]["type"] == "json_schema" {
            Reply::status(
                400,
                json!({"error": {"message": "response_format json_schema is not supported"}}),
            )
        } else {
            Reply::text("{\"answer\": \"Paris\", \"confidence\": 0.9}")
        }
    });
    let project = Project::new(&mock.url());
    let result = project.run(&[
        "run",
        "qa.sig",
        "--input",
        QUESTION,
        "--adapter",
        "json",
        "--json",
    ]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(
        serde_json::from_str::<Value>(&result.stdout).expect("json"),
        json!({"answer": "Paris", "confidence": 0.9})
    );
    let requests = mock.requests();
    assert_eq!(requests.len(), 2, "400 is not retried as is");
    let strict = &requests[0].body()["response_format"];
    assert_eq!(strict["type"], "json_schema", "{strict}");
    assert_eq!(strict["json_schema"]["strict"], true, "{strict}");
    assert_eq!(
        requests[1].body()["response_format"],
        json!({"type": "json_object"})
    );
    let calls = project.show(1)["calls"].clone();
    assert_eq!(calls.as_array().map(Vec::len), Some(2), "{calls}");
    assert!(
        calls[0]["error"]
            .as_str()
            .is_some_and(|error| error.contains("HTTP 400")),
        "{calls}"
    );
}

#[test]
fn outputs_strict_mode_cannot_express_are_asked_for_in_json_mode() {
    let mock = MockLm::openai(|_| Reply::text("{\"counts\": {\"cats\": 2, \"dogs\": 1}}"));
    let project = Project::new(&mock.url());
    support::write(
        project.path(),
        "count.sig",
        "signature Count {\n    text: string\n    ->\n    counts: map[integer]\n}\n",
    );
    let result = project.run(&[
        "run",
        "count.sig",
        "--input",
        "text=two cats and a dog",
        "--adapter",
        "json",
        "--json",
    ]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(
        serde_json::from_str::<Value>(&result.stdout).expect("json"),
        json!({"counts": {"cats": 2, "dogs": 1}})
    );
    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].body()["response_format"],
        json!({"type": "json_object"})
    );
}

#[test]
fn the_chat_reply_is_shown_when_the_json_retry_cannot_be_made() {
    let mock = MockLm::openai(sequence([
        Reply::text("I am not sure what you mean."),
        Reply::status(500, json!({"error": {"message": "the engine is on fire"}})),
        Reply::status(500, json!({"error": {"message": "the engine is on fire"}})),
    ]));
    let project = Project::new(&mock.url());
    let result = project.run(&["run", "qa.sig", "--input", QUESTION]);
    assert_eq!(result.code, 1, "{}", result.stderr);
    for expected in [
        "I am not sure what you mean.",
        "the retry with the JSON adapter failed",
        "HTTP 500",
        "answer",
    ] {
        assert!(
            result.stderr.contains(expected),
            "{expected}: {}",
            result.stderr
        );
    }
    assert_eq!(
        mock.hits(),
        3,
        "the chat call, then the JSON call and its one retry"
    );
}

#[test]
fn runs_show_takes_the_store_before_or_after_the_id() {
    let mock = MockLm::openai(|_| Reply::text(QA_REPLY));
    let project = Project::new(&mock.url());
    let store = project.path().join("elsewhere.db");
    let store = store.to_str().expect("utf-8 path");
    let result = project.run(&["run", "qa.sig", "--input", QUESTION, "--store", store]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    for args in [
        ["runs", "show", "1", "--store", store, "--json"],
        ["runs", "--store", store, "show", "1", "--json"],
    ] {
        let shown = project.run(&args);
        assert_eq!(shown.code, 0, "{args:?}: {}", shown.stderr);
        let shown: Value = serde_json::from_str(&shown.stdout).expect("json");
        assert_eq!(shown["outputs"]["answer"], "Paris", "{args:?}");
    }
}

#[test]
fn a_batch_runs_as_many_lines_at_once_as_the_model_allows() {
    let mock =
        MockLm::openai(|_| Reply::delayed(Duration::from_millis(300), Reply::text(QA_REPLY)));
    let project = Project::with_model(
        &mock.url(),
        "provider: openai\n    model: gpt-test\n    max_concurrency: 24",
        "",
    );
    let lines: Vec<String> = (0..24)
        .map(|index| json!({"question": format!("question {index}")}).to_string())
        .collect();
    let batch = write_batch(&project, &lines);
    let result = project.run(&[
        "run",
        "qa.sig",
        "--batch",
        batch.to_str().expect("utf-8 path"),
        "--no-progress",
    ]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.stdout.lines().count(), 24);
    // More than the default of 16: the model's `max_concurrency` sets the batch's width.
    assert!(mock.max_in_flight() > 16, "{}", mock.max_in_flight());
}

/// Runs `qa.sig` against a server answering `reply` and returns the result.
fn run_against(reply: Reply) -> (Result, usize) {
    let mock = MockLm::openai(move |_| reply.clone());
    let project = Project::new(&mock.url());
    let result = project.run(&["run", "qa.sig", "--input", QUESTION]);
    (result, mock.hits())
}

#[test]
fn server_errors_are_retried_then_reported_with_the_status_and_message() {
    let (result, hits) = run_against(Reply::status(
        500,
        json!({"error": {"message": "the engine is on fire"}}),
    ));
    assert_eq!(result.code, 1);
    assert_eq!(hits, 2, "max_retries: 1 means two tries");
    assert!(result.stderr.contains("HTTP 500"), "{}", result.stderr);
    assert!(
        result.stderr.contains("the engine is on fire"),
        "{}",
        result.stderr
    );
    assert!(result.stderr.contains("`mock`"), "{}", result.stderr);
    assert!(!result.stderr.contains(SECRET));
}

#[test]
fn unauthorized_names_the_key_variable_and_never_the_key() {
    let (result, _) = run_against(Reply::status(
        401,
        json!({"error": {"message": format!("Incorrect API key provided: {SECRET}")}}),
    ));
    assert_eq!(result.code, 1);
    assert!(result.stderr.contains("HTTP 401"), "{}", result.stderr);
    assert!(result.stderr.contains("api_key_env"), "{}", result.stderr);
    assert!(!result.stderr.contains(SECRET), "{}", result.stderr);
}

#[test]
fn rate_limits_honour_retry_after() {
    let mock = MockLm::openai(sequence([
        Reply::status(429, json!({"error": {"message": "slow down"}})).with_retry_after("1"),
        Reply::text(QA_REPLY),
    ]));
    let project = Project::new(&mock.url());
    let started = Instant::now();
    let result = project.run(&["run", "qa.sig", "--input", QUESTION]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(mock.hits(), 2);
}

#[test]
fn a_hanging_server_times_out() {
    let mock = MockLm::openai(|_| Reply::Hang);
    let project = Project::with_model(&mock.url(), "provider: openai\n    model: gpt-test", "");
    let started = Instant::now();
    let result = project.run(&["run", "qa.sig", "--input", QUESTION]);
    assert_eq!(result.code, 1);
    assert!(
        result.stderr.contains("no answer within"),
        "{}",
        result.stderr
    );
    assert!(result.stderr.contains("timeout_secs"), "{}", result.stderr);
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[test]
fn garbage_from_the_server_is_a_clear_error() {
    for (reply, expected) in [
        (Reply::NotJson, "not what"),
        (Reply::EmptyChoices, "not what"),
        (Reply::Truncated, "mock"),
        (Reply::Reset, "mock"),
    ] {
        let (result, _) = run_against(reply);
        assert_eq!(result.code, 1, "{}", result.stderr);
        assert!(result.stderr.contains(expected), "{}", result.stderr);
        assert!(!result.stderr.contains("panicked"), "{}", result.stderr);
    }
}

#[test]
fn an_unreachable_server_says_so() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/v1", listener.local_addr().expect("addr"));
    drop(listener);
    let project = Project::new(&url);
    let result = project.run(&["run", "qa.sig", "--input", QUESTION]);
    assert_eq!(result.code, 1);
    assert!(result.stderr.contains("cannot reach"), "{}", result.stderr);
    assert!(
        result.stderr.contains("is the server running"),
        "{}",
        result.stderr
    );
}

#[test]
fn inputs_are_typed_and_checked_before_anything_is_sent() {
    let mock = MockLm::openai(|_| {
        Reply::text("[[ ## answer ## ]]\nA\n\n[[ ## sources ## ]]\n[\"a\"]\n\n[[ ## confidence ## ]]\n0.5\n\n[[ ## completed ## ]]")
    });
    let project = Project::new(&mock.url());
    let result = project.run(&[
        "run",
        "rag.sig",
        "--input",
        "query=q",
        "--input",
        r#"documents=["one","two"]"#,
    ]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let result = project.run(&[
        "run",
        "rag.sig",
        "--input",
        "query=q2",
        "--input",
        "documents=one",
        "--input",
        "documents=two",
    ]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let user = mock.requests()[1].body()["messages"][1]["content"].clone();
    assert!(
        user.as_str()
            .is_some_and(|u| u.contains(r#"["one", "two"]"#)),
        "{user}"
    );

    let unknown = project.run(&["run", "rag.sig", "--input", "qeury=q"]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("unknown input `qeury`"),
        "{}",
        unknown.stderr
    );
    assert!(
        unknown.stderr.contains("did you mean `query`"),
        "{}",
        unknown.stderr
    );
    let missing = project.run(&["run", "rag.sig", "--input", "query=q"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("missing input `documents`"),
        "{}",
        missing.stderr
    );
    let no_program = project.run(&["run", "qa.sig", "--program", "nope", "--input", QUESTION]);
    assert_eq!(no_program.code, 2);
    assert!(
        no_program.stderr.contains("`qa`, `qa_with_reasoning`"),
        "{}",
        no_program.stderr
    );
    assert_eq!(mock.hits(), 2, "bad inputs must not reach the LM");
}

#[test]
fn chain_of_thought_returns_its_reasoning() {
    let mock = MockLm::openai(|_| {
        Reply::text("[[ ## reasoning ## ]]\nFrance's capital is Paris.\n\n[[ ## answer ## ]]\nParis\n\n[[ ## confidence ## ]]\n1.0\n\n[[ ## completed ## ]]")
    });
    let project = Project::new(&mock.url());
    let result = project.run(&[
        "run",
        "qa.sig",
        "--program",
        "qa_with_reasoning",
        "--input",
        QUESTION,
        "--json",
    ]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let outputs: Value = serde_json::from_str(&result.stdout).expect("json");
    assert_eq!(outputs["reasoning"], "France's capital is Paris.");
    assert_eq!(project.show(1)["module"], "chain_of_thought");
}

fn write_batch(project: &Project, lines: &[String]) -> PathBuf {
    let path = project.path().join("batch.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").expect("write batch");
    path
}

#[test]
fn a_batch_keeps_input_order_and_reports_bad_lines() {
    let mock = MockLm::openai(|request| {
        // Later questions answer faster, so completions arrive out of order.
        let text = request.body()["messages"][1]["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let delay = if text.contains("q1") { 60 } else { 5 };
        Reply::delayed(Duration::from_millis(delay), Reply::text(QA_REPLY))
    });
    let project = Project::new(&mock.url());
    let lines = vec![
        json!({"question": "q1"}).to_string(),
        json!({"question": "q2", "answer": "a label, ignored"}).to_string(),
        "{not json".to_owned(),
        json!({"other": 1}).to_string(),
        json!({"question": "q5"}).to_string(),
    ];
    let batch = write_batch(&project, &lines);
    let result = project.run(&[
        "run",
        "qa.sig",
        "--batch",
        batch.to_str().expect("path"),
        "-j",
        "4",
    ]);
    assert_eq!(
        result.code, 1,
        "a bad line makes the batch exit 1: {}",
        result.stderr
    );
    let results: Vec<Value> = result
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSONL"))
        .collect();
    let numbers: Vec<i64> = results
        .iter()
        .map(|r| r["line"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5]);
    let statuses: Vec<&str> = results
        .iter()
        .map(|r| r["status"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        statuses,
        ["success", "success", "invalid", "invalid", "success"]
    );
    let keys = |result: &Value| -> Vec<String> {
        result
            .as_object()
            .map(|object| object.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(keys(&results[0]), ["line", "id", "status", "outputs"]);
    assert_eq!(keys(&results[2]), ["line", "status", "error"]);
    assert_eq!(
        results[0]["outputs"],
        json!({"answer": "Paris", "confidence": 0.9})
    );
    assert!(result.stderr.contains("line 3:"), "{}", result.stderr);
    assert!(
        result.stderr.contains("line 4: missing input `question`"),
        "{}",
        result.stderr
    );
    assert!(
        result.stderr.contains("5 of 5 lines done, 2 failed"),
        "{}",
        result.stderr
    );
    assert_eq!(project.runs_json().len(), 3);
}

/// A full disk under the output: the batch stops with the reason, and what it ran stays recorded.
#[cfg(target_os = "linux")]
#[test]
fn a_batch_whose_output_cannot_be_written_stops_with_the_reason() {
    let mock = MockLm::openai(|_| Reply::text(QA_REPLY));
    let project = Project::new(&mock.url());
    let lines: Vec<String> = (0..300)
        .map(|i| json!({"question": format!("question {i}")}).to_string())
        .collect();
    let batch = write_batch(&project, &lines);
    let result = project.run(&[
        "run",
        "qa.sig",
        "--batch",
        batch.to_str().expect("path"),
        "--output",
        "/dev/full",
    ]);
    assert_eq!(result.code, 2, "{}", result.stderr);
    assert!(
        result.stderr.contains("cannot write `/dev/full`")
            && result.stderr.contains("No space left on device")
            && result.stderr.contains("free some space"),
        "{}",
        result.stderr
    );
    assert!(!result.stderr.contains("panicked"), "{}", result.stderr);
    let recorded = project.runs_json();
    assert!(!recorded.is_empty(), "lines that ran are still recorded");
    assert!(recorded.iter().all(|run| run["status"] == "success"));
}

/// Starts a slow batch, reads results as they are reported, and kills the process.
fn start_batch(project: &Project, count: usize) -> std::process::Child {
    let lines: Vec<String> = (0..count)
        .map(|i| json!({"question": format!("question {i}")}).to_string())
        .collect();
    let batch = write_batch(project, &lines);
    project
        .dspex()
        .args([
            "run",
            "qa.sig",
            "--batch",
            batch.to_str().expect("path"),
            "-j",
            "4",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start batch")
}

#[test]
fn kill_9_mid_batch_loses_nothing_already_reported() {
    let mock = MockLm::openai(|_| Reply::delayed(Duration::from_millis(10), Reply::text(QA_REPLY)));
    let project = Project::new(&mock.url());
    let mut child = start_batch(&project, 2000);
    let stdout = child.stdout.take().expect("stdout");
    let mut reported = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        let value: Value = serde_json::from_str(&line).expect("JSONL");
        reported.push(value["id"].as_i64().expect("id"));
        if reported.len() == 40 {
            break;
        }
    }
    child.kill().expect("kill -9");
    let _ = child.wait();
    assert_eq!(reported.len(), 40);
    let recorded: Vec<i64> = project
        .runs_json()
        .iter()
        .filter_map(|run| run["id"].as_i64())
        .collect();
    for id in &reported {
        assert!(
            recorded.contains(id),
            "run {id} was reported but is not in the store"
        );
    }
    assert!(recorded.len() < 2000, "the batch should have been stopped");
}

#[test]
fn ctrl_c_stops_a_batch_cleanly() {
    let mock = MockLm::openai(|_| Reply::delayed(Duration::from_millis(20), Reply::text(QA_REPLY)));
    let project = Project::new(&mock.url());
    let child = start_batch(&project, 2000);
    std::thread::sleep(Duration::from_millis(700));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(status.success());
    let output = child.wait_with_output().expect("wait");
    let result = Result::from(output);
    assert_eq!(result.code, 130, "{}", result.stderr);
    assert!(result.stderr.contains("(interrupted)"), "{}", result.stderr);
    let written: Vec<Value> = result
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSONL"))
        .collect();
    assert!(
        !written.is_empty() && written.len() < 2000,
        "{} written",
        written.len()
    );
    let recorded = project.runs_json();
    for result in &written {
        let id = result["id"].as_i64().expect("id");
        assert!(
            recorded.iter().any(|run| run["id"] == id),
            "run {id} not recorded"
        );
    }
}

#[test]
fn init_writes_a_config_and_an_example_that_checks() {
    let dir = support::temp_dir();
    let run = |args: &[&str]| {
        Result::from(
            Command::new(env!("CARGO_BIN_EXE_dspex"))
                .current_dir(dir.path())
                .args(args)
                .output()
                .expect("run"),
        )
    };
    let result = run(&["init"]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert!(dir.path().join("dspex.yaml").is_file());
    assert_eq!(run(&["check", "qa.sig"]).code, 0);
    let again = run(&["init"]);
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
}

#[test]
fn an_artifact_saved_by_dspy_gives_the_prompt_dspy_gives() {
    let mock =
        MockLm::openai(|_| Reply::text(format!("[[ ## reasoning ## ]]\nIt is.\n\n{QA_REPLY}")));
    let project = Project::new(&mock.url());
    // Real DSPy builds the program from the generated class, sets instructions and demos
    // (with DSPy's bookkeeping keys), saves it, and formats the request it would send.
    let generated = project.run(&["codegen", "--target", "python", "qa.sig", "-o", "py"]);
    assert_eq!(generated.code, 0, "{}", generated.stderr);
    let script = r#"
import json, sys
sys.path.insert(0, "py")
import dspy, qa
program = dspy.ChainOfThought(qa.QA)
program.predict.signature = program.predict.signature.with_instructions("Answer in one word.\n  Be exact.")
program.predict.demos = [
    dspy.Example(question="Capital of Italy?", reasoning="Rome is.", answer="Rome", confidence=0.99, augmented=True).with_inputs("question"),
    dspy.Example(question="Capital of Spain?", answer="Madrid").with_inputs("question"),
]
program.save("artifact.json")
loaded = dspy.ChainOfThought(qa.QA)
loaded.load("artifact.json")
messages = dspy.ChatAdapter().format(loaded.predict.signature, loaded.predict.demos, {"question": "What is the capital of France?"})
json.dump(messages, open("expected.json", "w"))
"#;
    let python = support::python_interpreter();
    let output = Command::new(&python)
        .current_dir(project.path())
        .args(["-c", script])
        .output()
        .expect("python");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result = project.run(&[
        "run",
        "qa.sig",
        "--program",
        "qa_with_reasoning",
        "--artifact",
        "artifact.json",
        "--input",
        QUESTION,
    ]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(project.path().join("expected.json")).expect("expected"),
    )
    .expect("json");
    assert_eq!(mock.requests()[0].body()["messages"], expected);

    let wrong = project.run(&[
        "run",
        "qa.sig",
        "--program",
        "qa",
        "--artifact",
        "artifact.json",
        "--input",
        QUESTION,
    ]);
    assert_eq!(wrong.code, 2, "{}", wrong.stderr);
    assert!(wrong.stderr.contains("artifact"), "{}", wrong.stderr);
}

#[test]
fn predict_best_of_n_and_multi_chain_comparison_artifacts_saved_by_dspy_load_too() {
    // Every field any of the three asks for; each takes its own and ignores the rest.
    let mock = MockLm::openai(|_| {
        Reply::text(
            "[[ ## reasoning ## ]]\nIt is.\n\n[[ ## rationale ## ]]\nBoth agree.\n\n\
             [[ ## answer ## ]]\nParis\n\n[[ ## confidence ## ]]\n0.9\n\n[[ ## score ## ]]\n4\n\n\
             [[ ## completed ## ]]",
        )
    });
    let project = Project::new(&mock.url());
    support::write(project.path(), "modules.sig", MODULES_SIG);
    for file in ["qa.sig", "modules.sig"] {
        let generated = project.run(&["codegen", "--target", "python", file, "-o", "py"]);
        assert_eq!(generated.code, 0, "{}", generated.stderr);
    }
    // `Predict` saves its state at the top level, `BestOfN` under `module`,
    // `MultiChainComparison` under `predict` (its comparing call, the last request).
    let script = r#"
import json, sys
sys.path.insert(0, "py")
import dspy, qa, modules
question = {"question": "What is the capital of France?"}
program = dspy.Predict(qa.QA)
program.signature = program.signature.with_instructions("Answer in one word.")
program.demos = [dspy.Example(question="Capital of Italy?", answer="Rome", confidence=0.99).with_inputs("question")]
program.save("predict.json")
loaded = dspy.Predict(qa.QA)
loaded.load("predict.json")
json.dump(dspy.ChatAdapter().format(loaded.signature, loaded.demos, question), open("predict-expected.json", "w"))
reward = lambda args, prediction: 1.0
best = dspy.BestOfN(module=dspy.Predict(modules.QA), N=3, reward_fn=reward, threshold=1.0)
best.module.signature = best.module.signature.with_instructions("Score honestly.")
best.module.demos = [dspy.Example(question="Capital of Spain?", answer="Madrid", score=5).with_inputs("question")]
best.save("best.json")
loaded = dspy.BestOfN(module=dspy.Predict(modules.QA), N=3, reward_fn=reward, threshold=1.0)
loaded.load("best.json")
json.dump(dspy.ChatAdapter().format(loaded.module.signature, loaded.module.demos, question), open("best-expected.json", "w"))
mcc = dspy.MultiChainComparison(modules.QA, M=2)
mcc.predict.signature = mcc.predict.signature.with_instructions("Compare the attempts.")
spain = "\u00abI'm trying to Madrid is. I'm not sure but my prediction is 5\u00bb"
mcc.predict.demos = [dspy.Example(question="Capital of Spain?", reasoning_attempt_1=spain, reasoning_attempt_2=spain, rationale="Both say Madrid.", answer="Madrid", score=5).with_inputs("question", "reasoning_attempt_1", "reasoning_attempt_2")]
mcc.save("mcc.json")
loaded = dspy.MultiChainComparison(modules.QA, M=2)
loaded.load("mcc.json")
# What MultiChainComparison.forward makes of two chain-of-thought attempts that reasoned
# "It is." and scored 4 (its last output field).
attempt = "\u00abI'm trying to It is. I'm not sure but my prediction is 4\u00bb"
inputs = {"reasoning_attempt_1": attempt, "reasoning_attempt_2": attempt, **question}
json.dump(dspy.ChatAdapter().format(loaded.predict.signature, loaded.predict.demos, inputs), open("mcc-expected.json", "w"))
"#;
    let output = Command::new(support::python_interpreter())
        .current_dir(project.path())
        .args(["-c", script])
        .output()
        .expect("python");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected = |name: &str| -> Value {
        let text = std::fs::read_to_string(project.path().join(name)).expect("expected messages");
        serde_json::from_str(&text).expect("json")
    };
    for (file, program, artifact, messages) in [
        ("qa.sig", "qa", "predict.json", "predict-expected.json"),
        ("modules.sig", "careful", "best.json", "best-expected.json"),
        ("modules.sig", "compared", "mcc.json", "mcc-expected.json"),
    ] {
        let result = project.run(&[
            "run",
            file,
            "--program",
            program,
            "--artifact",
            artifact,
            "--input",
            QUESTION,
            "--no-cache",
        ]);
        assert_eq!(result.code, 0, "{program}: {}", result.stderr);
        let requests = mock.requests();
        let sent = requests.last().expect("a request");
        assert_eq!(sent.body()["messages"], expected(messages), "{program}");
    }
}

const MODULES_SIG: &str = "signature QA {\n    question: string\n    ->\n    answer: string\n    score: integer(min: 1, max: 5)\n}\n\nprogram careful = best_of_n(QA, n: 3)\nprogram compared = multi_chain_comparison(QA, m: 2)\n";

#[test]
fn best_of_n_keeps_the_first_valid_attempt() {
    let mock = MockLm::openai(sequence([
        // Attempt 1: chat reply out of range, JSON retry out of range too.
        Reply::text("[[ ## answer ## ]]\nParis\n\n[[ ## score ## ]]\n9\n\n[[ ## completed ## ]]"),
        Reply::text("{\"answer\": \"Paris\", \"score\": 9}"),
        // Attempt 2: valid.
        Reply::text("[[ ## answer ## ]]\nParis\n\n[[ ## score ## ]]\n4\n\n[[ ## completed ## ]]"),
    ]));
    let project = Project::new(&mock.url());
    support::write(project.path(), "modules.sig", MODULES_SIG);
    let result = project.run(&[
        "run",
        "modules.sig",
        "--program",
        "careful",
        "--input",
        "question=q",
        "--json",
    ]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(
        serde_json::from_str::<Value>(&result.stdout).expect("json"),
        json!({"answer": "Paris", "score": 4})
    );
    let requests = mock.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(
        requests[2].body()["temperature"],
        json!(1.0),
        "attempts sample at 1.0"
    );
    assert_eq!(project.show(1)["calls"].as_array().map(Vec::len), Some(3));
}

#[test]
fn multi_chain_comparison_compares_its_attempts() {
    let mock = MockLm::openai(|request| {
        let system = request.body()["messages"][0]["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if system.contains("reasoning_attempt_1") {
            Reply::text("[[ ## rationale ## ]]\nBoth say Paris.\n\n[[ ## answer ## ]]\nParis\n\n[[ ## score ## ]]\n5\n\n[[ ## completed ## ]]")
        } else {
            Reply::text("[[ ## reasoning ## ]]\nthink about France\nmore\n\n[[ ## answer ## ]]\nParis\n\n[[ ## score ## ]]\n4\n\n[[ ## completed ## ]]")
        }
    });
    let project = Project::new(&mock.url());
    support::write(project.path(), "modules.sig", MODULES_SIG);
    let result = project.run(&[
        "run",
        "modules.sig",
        "--program",
        "compared",
        "--input",
        "question=q",
        "--json",
    ]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let outputs: Value = serde_json::from_str(&result.stdout).expect("json");
    assert_eq!(outputs["rationale"], "Both say Paris.");
    assert_eq!(outputs["score"], 5);
    let requests = mock.requests();
    assert_eq!(requests.len(), 3, "two attempts and the comparison");
    let comparison = requests[2].body()["messages"][1]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        comparison.contains("[[ ## reasoning_attempt_1 ## ]]\n«I'm trying to think about France I'm not sure but my prediction is 4»"),
        "{comparison}"
    );
    assert_eq!(requests[2].body()["temperature"], json!(0.7));
}
