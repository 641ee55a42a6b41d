//! Configuration and command-line coverage through the real `dspex` binary: where `dspex.yaml`
//! is found (walking up, `--config`), the precedence file < environment < flags checked by what
//! a mock OpenAI-compatible server on 127.0.0.1 received and where the store was written, bad
//! files and unknown models, the default base URLs of named providers, `runs` and `stats`
//! filters, and `--inputs`/`--signature`.

#[path = "support/mock_lm.rs"]
mod mock_lm;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mock_lm::{MockLm, Received, Reply};
use serde_json::{json, Value};

const QA_REPLY: &str =
    "[[ ## answer ## ]]\nParis\n\n[[ ## confidence ## ]]\n0.9\n\n[[ ## completed ## ]]";
const RAG_REPLY: &str = "[[ ## answer ## ]]\nA\n\n[[ ## sources ## ]]\n[\"a\"]\n\n\
     [[ ## confidence ## ]]\n0.5\n\n[[ ## completed ## ]]";
const SUMMARY_REPLY: &str =
    "[[ ## summary ## ]]\nCats sleep.\n\n[[ ## words ## ]]\n2\n\n[[ ## completed ## ]]";
const SECRET: &str = "sk-config-test-secret-0123456789";
const QUESTION: &str = "question=What is the capital of France?";

/// Two signatures and no program: `dspex run` must be told which with `--signature`.
const MULTI_SIG: &str =
    "signature Translate {\n    text: string\n    language: string\n    ->\n    \
     translation: string\n}\n\nsignature Summarize {\n    text: string\n    ->\n    \
     summary: string\n    words: integer\n}\n";

/// What one `dspex` process did.
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

impl From<Output> for Outcome {
    fn from(output: Output) -> Outcome {
        Outcome {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Outcome {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|error| panic!("stdout is not JSON ({error}): {}", self.stdout))
    }

    fn assert_ok(&self) {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
    }
}

/// `dspex` in `dir`, with none of the settings the environment could leak in, and the test key
/// in `DSPEX_TEST_KEY`.
fn dspex(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dspex"));
    command
        .current_dir(dir)
        .env_remove("DSPEX_MODEL")
        .env_remove("DSPEX_BASE_URL")
        .env_remove("DSPEX_STORE")
        .env_remove("OPENAI_API_KEY")
        .env_remove("ANTHROPIC_API_KEY")
        .env("DSPEX_TEST_KEY", SECRET)
        .env("NO_COLOR", "1");
    command
}

fn run_in(dir: &Path, args: &[&str]) -> Outcome {
    Outcome::from(dspex(dir).args(args).output().expect("run dspex"))
}

fn run_with_env(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Outcome {
    let mut command = dspex(dir);
    for (name, value) in env {
        command.env(name, value);
    }
    Outcome::from(command.args(args).output().expect("run dspex"))
}

/// A model entry of `dspex.yaml` (indented under `models:`) at `url`, with fast timeouts and
/// one retry; `extra` adds lines (each `    key: value\n`).
fn entry(name: &str, model: &str, url: &str, extra: &str) -> String {
    format!(
        "  {name}:\n    provider: openai\n    model: {model}\n    base_url: {url}\n    \
         api_key_env: DSPEX_TEST_KEY\n    price: {{ input: 1.0, output: 2.0 }}\n    \
         timeout_secs: 2\n    max_retries: 1\n{extra}"
    )
}

/// A project directory with `qa.sig` and `rag.sig`, and `config` as its `dspex.yaml`.
fn project(config: &str) -> tempfile::TempDir {
    let dir = support::temp_dir();
    for name in ["qa.sig", "rag.sig"] {
        let text = std::fs::read_to_string(support::root().join("signatures").join(name))
            .unwrap_or_else(|error| panic!("cannot read signatures/{name}: {error}"));
        support::write(dir.path(), name, text);
    }
    support::write(dir.path(), "dspex.yaml", config);
    dir
}

/// The `dspex.yaml` of a project whose default model `mock` is served at `url`.
fn mock_config(url: &str) -> String {
    format!(
        "model: mock\nmodels:\n{}",
        entry("mock", "gpt-test", url, "")
    )
}

/// The executions recorded in the store at `store`.
fn runs_in_store(dir: &Path, store: &Path) -> Vec<Value> {
    let result = run_in(
        dir,
        &[
            "runs",
            "--json",
            "--last",
            "1000",
            "--store",
            store.to_str().expect("UTF-8 path"),
        ],
    );
    result.assert_ok();
    serde_json::from_value(result.json()).expect("an array of runs")
}

fn ids(runs: &Value) -> Vec<i64> {
    runs.as_array()
        .expect("an array")
        .iter()
        .map(|run| run["id"].as_i64().expect("id"))
        .collect()
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize()
        .unwrap_or_else(|error| panic!("cannot canonicalize {}: {error}", path.display()))
}

/// The one request `mock` received, which must be a chat completion.
fn only_request(mock: &MockLm) -> Received {
    let requests = mock.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let request = requests.into_iter().next().expect("one request");
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/chat/completions");
    request
}

#[test]
fn dspex_yaml_is_found_by_walking_up_from_a_subdirectory() {
    let mock = MockLm::openai(|_| Reply::text(QA_REPLY));
    let dir = project(&mock_config(&mock.url()));
    let nested = dir.path().join("a/b/c");
    std::fs::create_dir_all(&nested).expect("mkdir");

    let result = run_in(&nested, &["run", "../../../qa.sig", "--input", QUESTION]);
    result.assert_ok();
    assert_eq!(result.stdout, "answer: Paris\nconfidence: 0.9\n");
    let request = only_request(&mock);
    assert_eq!(request.model(), Some("gpt-test"));
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {SECRET}").as_str())
    );

    // The store sits next to the dspex.yaml that was found, not in the current directory.
    assert!(dir.path().join(".dspex/dspex.db").is_file());
    assert!(!nested.join(".dspex").exists());
    // `runs` and `stats` from the subdirectory find the same store.
    let runs = run_in(&nested, &["runs", "--json"]);
    runs.assert_ok();
    assert_eq!(ids(&runs.json()), [1]);
    assert_eq!(runs.json()[0]["model"], "mock");
    let stats = run_in(&nested, &["stats", "--json"]);
    stats.assert_ok();
    assert_eq!(stats.json()[0]["count"], 1);
}

#[test]
fn the_nearest_dspex_yaml_wins() {
    let outer = MockLm::openai(|_| Reply::text(QA_REPLY));
    let inner = MockLm::openai(|_| Reply::text(QA_REPLY));
    let dir = project(&mock_config(&outer.url()));
    let middle = dir.path().join("a");
    let nested = middle.join("b");
    std::fs::create_dir_all(&nested).expect("mkdir");
    support::write(
        &middle,
        "dspex.yaml",
        format!(
            "model: near\nmodels:\n{}",
            entry("near", "gpt-near", &inner.url(), "")
        ),
    );
    let result = run_in(&nested, &["run", "../../qa.sig", "--input", QUESTION]);
    result.assert_ok();
    assert_eq!(outer.hits(), 0, "the outer dspex.yaml must not be used");
    assert_eq!(only_request(&inner).model(), Some("gpt-near"));
    assert!(middle.join(".dspex/dspex.db").is_file());
    assert!(!dir.path().join(".dspex").exists());
}

#[test]
fn config_names_a_yaml_elsewhere_and_its_store_is_relative_to_it() {
    let here = MockLm::openai(|_| Reply::text(QA_REPLY));
    let there = MockLm::openai(|_| Reply::text(QA_REPLY));
    let dir = project(&mock_config(&here.url()));
    let elsewhere = support::temp_dir();
    let config = elsewhere.path().join("settings.yaml");
    std::fs::write(
        &config,
        format!(
            "model: remote\nstore: runs/elsewhere.db\nmodels:\n{}",
            entry("remote", "gpt-elsewhere", &there.url(), "")
        ),
    )
    .expect("write config");
    let config = config.to_str().expect("UTF-8 path");

    let result = run_in(
        dir.path(),
        &["run", "qa.sig", "--input", QUESTION, "--config", config],
    );
    result.assert_ok();
    assert_eq!(here.hits(), 0, "the project's dspex.yaml must not be used");
    assert_eq!(only_request(&there).model(), Some("gpt-elsewhere"));
    let store = elsewhere.path().join("runs/elsewhere.db");
    assert!(store.is_file(), "the store is relative to the named file");
    assert!(!dir.path().join(".dspex").exists());

    // `runs` and `stats` take `--config` too, and then read that store.
    let runs = run_in(dir.path(), &["runs", "--json", "--config", config]);
    runs.assert_ok();
    assert_eq!(ids(&runs.json()), [1]);
    assert_eq!(runs.json()[0]["model"], "remote");
    let stats = run_in(dir.path(), &["stats", "--json", "--config", config]);
    stats.assert_ok();
    assert_eq!(stats.json()[0]["model"], "remote");
    // Without it they read the project's (empty) store.
    let local = run_in(dir.path(), &["runs", "--json"]);
    local.assert_ok();
    assert_eq!(local.json(), json!([]));

    let missing = run_in(
        dir.path(),
        &[
            "run",
            "qa.sig",
            "--input",
            QUESTION,
            "--config",
            "no-such.yaml",
        ],
    );
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(
        missing.stderr.contains("cannot read `no-such.yaml`"),
        "{}",
        missing.stderr
    );
    assert_eq!(here.hits() + there.hits(), 1);
}

#[test]
fn precedence_is_file_then_environment_then_flags() {
    let file_mock = MockLm::openai(|_| Reply::text(QA_REPLY));
    let env_mock = MockLm::openai(|_| Reply::text(QA_REPLY));
    let flag_mock = MockLm::openai(|_| Reply::text(QA_REPLY));
    let models = [
        entry(
            "first",
            "gpt-first",
            &file_mock.url(),
            "    temperature: 0.3\n    max_tokens: 111\n",
        ),
        entry(
            "second",
            "gpt-second",
            &file_mock.url(),
            "    temperature: 0.5\n    max_tokens: 222\n",
        ),
        entry(
            "third",
            "gpt-third",
            &file_mock.url(),
            "    temperature: 0.1\n    max_tokens: 333\n",
        ),
    ];
    let dir = project(&format!(
        "model: first\nstore: file-store/dspex.db\nmodels:\n{}",
        models.concat()
    ));
    let file_store = dir.path().join("file-store/dspex.db");
    let env_store = dir.path().join("env-store.db");
    let flag_store = dir.path().join("flag-store.db");
    let env_store_text = env_store.to_str().expect("UTF-8 path");
    let flag_store_text = flag_store.to_str().expect("UTF-8 path");

    // The file alone: its model, base URL, sampling settings and store.
    let result = run_in(dir.path(), &["run", "qa.sig", "--input", "question=one"]);
    result.assert_ok();
    let request = only_request(&file_mock);
    assert_eq!(request.model(), Some("gpt-first"));
    assert_eq!(request.body()["temperature"], json!(0.3));
    assert_eq!(request.body()["max_tokens"], json!(111));
    assert!(file_store.is_file());

    // DSPEX_MODEL picks another declared model; its settings come with it.
    let result = run_with_env(
        dir.path(),
        &[("DSPEX_MODEL", "second")],
        &["run", "qa.sig", "--input", "question=two"],
    );
    result.assert_ok();
    let requests = file_mock.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].model(), Some("gpt-second"));
    assert_eq!(requests[1].body()["temperature"], json!(0.5));
    assert_eq!(requests[1].body()["max_tokens"], json!(222));

    // DSPEX_BASE_URL and DSPEX_STORE override the file's base URL and store.
    let env_url = env_mock.url();
    let environment = [
        ("DSPEX_MODEL", "second"),
        ("DSPEX_BASE_URL", env_url.as_str()),
        ("DSPEX_STORE", env_store_text),
    ];
    let result = run_with_env(
        dir.path(),
        &environment,
        &["run", "qa.sig", "--input", "question=three"],
    );
    result.assert_ok();
    assert_eq!(file_mock.hits(), 2, "DSPEX_BASE_URL beats `base_url:`");
    let request = only_request(&env_mock);
    assert_eq!(request.model(), Some("gpt-second"));
    assert_eq!(request.body()["temperature"], json!(0.5));
    assert!(env_store.is_file(), "DSPEX_STORE beats `store:`");

    // Flags beat the environment (and the file) for every setting.
    let result = run_with_env(
        dir.path(),
        &environment,
        &[
            "run",
            "qa.sig",
            "--input",
            "question=four",
            "--model",
            "third",
            "--base-url",
            &flag_mock.url(),
            "--store",
            flag_store_text,
            "--temperature",
            "0.9",
            "--max-tokens",
            "77",
        ],
    );
    result.assert_ok();
    assert_eq!(file_mock.hits(), 2);
    assert_eq!(env_mock.hits(), 1);
    let request = only_request(&flag_mock);
    assert_eq!(request.model(), Some("gpt-third"));
    assert_eq!(request.body()["temperature"], json!(0.9));
    assert_eq!(request.body()["max_tokens"], json!(77));
    assert!(flag_store.is_file(), "--store beats DSPEX_STORE");

    // Each store holds exactly the runs that were sent to it.
    let models_in = |store: &Path| -> Vec<String> {
        runs_in_store(dir.path(), store)
            .iter()
            .map(|run| run["model"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(models_in(&file_store), ["second", "first"]);
    assert_eq!(models_in(&env_store), ["second"]);
    assert_eq!(models_in(&flag_store), ["third"]);
    // `runs` resolves the store the same way: DSPEX_STORE over `store:`, `--store` over both.
    let runs = run_with_env(
        dir.path(),
        &[("DSPEX_STORE", env_store_text)],
        &["runs", "--json"],
    );
    runs.assert_ok();
    assert_eq!(ids(&runs.json()), [1]);
    assert_eq!(runs.json()[0]["model"], "second");
    let runs = run_with_env(
        dir.path(),
        &[("DSPEX_STORE", env_store_text)],
        &["runs", "--json", "--store", flag_store_text],
    );
    runs.assert_ok();
    assert_eq!(runs.json()[0]["model"], "third");
    assert!(
        !dir.path().join(".dspex").exists(),
        "the default store is unused"
    );
}

#[test]
fn a_model_string_flag_overrides_the_files_model() {
    let file_mock = MockLm::openai(|_| Reply::text(QA_REPLY));
    let flag_mock = MockLm::openai(|_| Reply::text(QA_REPLY));
    let dir = project(&mock_config(&file_mock.url()));
    let result = run_in(
        dir.path(),
        &[
            "run",
            "qa.sig",
            "--input",
            QUESTION,
            "--model",
            "openai/gpt-from-flag",
            "--base-url",
            &flag_mock.url(),
        ],
    );
    result.assert_ok();
    assert_eq!(file_mock.hits(), 0);
    let request = only_request(&flag_mock);
    assert_eq!(request.model(), Some("gpt-from-flag"));
    // A custom URL with `OPENAI_API_KEY` unset: a local server, sent no key.
    assert_eq!(request.header("authorization"), None);
    let runs = run_in(dir.path(), &["runs", "--json"]);
    assert_eq!(runs.json()[0]["model"], "openai/gpt-from-flag");
}

#[test]
fn a_malformed_dspex_yaml_is_a_usage_error_naming_the_file() {
    let mock = MockLm::openai(|_| Reply::text(QA_REPLY));
    let dir = project("model: mock\nmodels:\n  mock: [unclosed\n");
    let expected_path = canonical(dir.path()).join("dspex.yaml");
    let expected_path = expected_path.display().to_string();
    let result = run_in(dir.path(), &["run", "qa.sig", "--input", QUESTION]);
    assert_eq!(result.code, 2, "{}", result.stderr);
    assert!(
        result
            .stderr
            .contains(&format!("`{expected_path}` is not a valid dspex.yaml")),
        "{}",
        result.stderr
    );
    assert!(result.stderr.contains("dspex init"), "{}", result.stderr);
    assert!(!result.stderr.contains("panicked"), "{}", result.stderr);

    // Found from a subdirectory, the message names the parent's file.
    let nested = dir.path().join("sub");
    std::fs::create_dir_all(&nested).expect("mkdir");
    let result = run_in(&nested, &["run", "../qa.sig", "--input", QUESTION]);
    assert_eq!(result.code, 2, "{}", result.stderr);
    assert!(result.stderr.contains(&expected_path), "{}", result.stderr);

    // `runs` and `stats` read the same file and fail the same way.
    for command in ["runs", "stats"] {
        let result = run_in(dir.path(), &[command, "--json"]);
        assert_eq!(result.code, 2, "{command}: {}", result.stderr);
        assert!(
            result.stderr.contains("is not a valid dspex.yaml"),
            "{command}: {}",
            result.stderr
        );
    }

    // A misspelt setting is caught too, and named.
    support::write(
        dir.path(),
        "dspex.yaml",
        format!(
            "modle: mock\nmodels:\n{}",
            entry("mock", "gpt", &mock.url(), "")
        ),
    );
    let result = run_in(dir.path(), &["run", "qa.sig", "--input", QUESTION]);
    assert_eq!(result.code, 2, "{}", result.stderr);
    assert!(result.stderr.contains(&expected_path), "{}", result.stderr);
    assert!(result.stderr.contains("modle"), "{}", result.stderr);
    assert_eq!(mock.hits(), 0);
}

#[test]
fn unknown_models_and_providers_are_usage_errors_that_say_what_exists() {
    let mock = MockLm::openai(|_| Reply::text(QA_REPLY));
    let dir = project(&mock_config(&mock.url()));

    let provider = run_in(
        dir.path(),
        &["run", "qa.sig", "--input", QUESTION, "--model", "nope/x"],
    );
    assert_eq!(provider.code, 2, "{}", provider.stderr);
    assert!(
        provider
            .stderr
            .contains("unknown provider `nope` in model string `nope/x`"),
        "{}",
        provider.stderr
    );
    for known in ["`openai`", "`anthropic`", "`ollama`"] {
        assert!(provider.stderr.contains(known), "{}", provider.stderr);
    }

    let name = run_in(
        dir.path(),
        &["run", "qa.sig", "--input", QUESTION, "--model", "gpt-4o"],
    );
    assert_eq!(name.code, 2, "{}", name.stderr);
    assert!(
        name.stderr.contains("unknown model `gpt-4o`"),
        "{}",
        name.stderr
    );
    assert!(
        name.stderr.contains("dspex.yaml declares `mock`"),
        "{}",
        name.stderr
    );

    let from_env = run_with_env(
        dir.path(),
        &[("DSPEX_MODEL", "missing-model")],
        &["run", "qa.sig", "--input", QUESTION],
    );
    assert_eq!(from_env.code, 2, "{}", from_env.stderr);
    assert!(
        from_env.stderr.contains("unknown model `missing-model`"),
        "{}",
        from_env.stderr
    );
    assert_eq!(mock.hits(), 0, "nothing is sent for an unknown model");
    assert!(!dir.path().join(".dspex").exists(), "nothing is recorded");
}

#[test]
fn a_named_ollama_model_without_a_base_url_goes_to_the_local_ollama() {
    let dir = project(
        "model: llama\nmodels:\n  llama:\n    provider: ollama\n    model: llama3.2\n    \
         timeout_secs: 2\n    max_retries: 0\n",
    );
    let result = run_in(dir.path(), &["run", "qa.sig", "--input", QUESTION]);
    // Nothing listens on Ollama's port here, so the call fails, naming where it went.
    assert_eq!(result.code, 1, "{}", result.stderr);
    assert!(
        result.stderr.contains("localhost:11434") || result.stderr.contains("127.0.0.1:11434"),
        "the request must go to Ollama's default URL: {}",
        result.stderr
    );
    assert!(
        !result.stderr.contains("api.openai.com"),
        "{}",
        result.stderr
    );
    assert!(
        !result.stderr.contains("OPENAI_API_KEY"),
        "Ollama needs no key: {}",
        result.stderr
    );
}

#[test]
fn a_named_ollama_model_with_a_base_url_sends_its_id_without_a_key() {
    let mock = MockLm::openai(|_| Reply::text(QA_REPLY));
    let dir = project(&format!(
        "model: llama\nmodels:\n  llama:\n    provider: ollama\n    model: llama3.2\n    \
         base_url: {}\n    max_retries: 0\n",
        mock.url()
    ));
    let result = run_in(dir.path(), &["run", "qa.sig", "--input", QUESTION]);
    result.assert_ok();
    let request = only_request(&mock);
    assert_eq!(request.model(), Some("llama3.2"));
    assert_eq!(request.header("authorization"), None);
}

#[test]
fn a_vllm_model_needs_a_base_url() {
    let mock = MockLm::openai(|_| Reply::text(QA_REPLY));
    let dir = project("model: qwen\nmodels:\n  qwen:\n    provider: vllm\n    model: qwen2\n");
    let result = run_in(dir.path(), &["run", "qa.sig", "--input", QUESTION]);
    assert_eq!(result.code, 2, "{}", result.stderr);
    assert!(result.stderr.contains("`qwen`"), "{}", result.stderr);
    assert!(
        result.stderr.contains("needs `--base-url`"),
        "{}",
        result.stderr
    );
    assert!(
        !result.stderr.contains("api.openai.com") && !result.stderr.contains("OPENAI_API_KEY"),
        "{}",
        result.stderr
    );

    // The same as a model string.
    let result = run_in(
        dir.path(),
        &[
            "run",
            "qa.sig",
            "--input",
            QUESTION,
            "--model",
            "vllm/qwen2",
        ],
    );
    assert_eq!(result.code, 2, "{}", result.stderr);
    assert!(
        result.stderr.contains("needs `--base-url`"),
        "{}",
        result.stderr
    );

    // Given one, it sends the entry's model id there, with no key.
    let result = run_in(
        dir.path(),
        &[
            "run",
            "qa.sig",
            "--input",
            QUESTION,
            "--base-url",
            &mock.url(),
        ],
    );
    result.assert_ok();
    let request = only_request(&mock);
    assert_eq!(request.model(), Some("qwen2"));
    assert_eq!(request.header("authorization"), None);
}

/// Answers `rag.sig` and `qa.sig` prompts, and fails (500) any whose body mentions `explode`.
fn two_programs_script(request: &Received) -> Reply {
    let body = request.body().to_string();
    if body.contains("explode") {
        Reply::status(500, json!({"error": {"message": "boom"}}))
    } else if body.contains("documents") {
        Reply::text(RAG_REPLY).with_usage(10, 5)
    } else {
        Reply::text(QA_REPLY).with_usage(10, 5)
    }
}

#[test]
fn runs_and_stats_filter_by_program_and_count() {
    let mock = MockLm::openai(two_programs_script);
    let dir = project(&mock_config(&mock.url()));
    let rag = |query: &str| {
        let query = format!("query={query}");
        run_in(
            dir.path(),
            &[
                "run",
                "rag.sig",
                "--input",
                &query,
                "--input",
                r#"documents=["d"]"#,
            ],
        )
    };
    let qa = |question: &str| {
        let question = format!("question={question}");
        run_in(dir.path(), &["run", "qa.sig", "--input", &question])
    };
    qa("one").assert_ok(); // 1
    qa("two").assert_ok(); // 2
    rag("three").assert_ok(); // 3
    assert_eq!(qa("explode").code, 1); // 4, failed
    rag("five").assert_ok(); // 5

    let list = |args: &[&str]| {
        let mut all = vec!["runs", "--json"];
        all.extend_from_slice(args);
        let result = run_in(dir.path(), &all);
        result.assert_ok();
        result.json()
    };
    let qa_runs = list(&["--program", "qa"]);
    assert_eq!(ids(&qa_runs), [4, 2, 1], "newest first");
    assert!(qa_runs
        .as_array()
        .expect("array")
        .iter()
        .all(|run| run["program"] == "qa"));
    assert_eq!(qa_runs[0]["status"], "failed");
    assert!(
        qa_runs[0]["error"]
            .as_str()
            .is_some_and(|error| error.contains("HTTP 500")),
        "{}",
        qa_runs[0]
    );
    let rag_runs = list(&["--program", "Rag"]);
    assert_eq!(ids(&rag_runs), [5, 3]);
    assert!(rag_runs
        .as_array()
        .expect("array")
        .iter()
        .all(|run| run["program"] == "Rag" && run["status"] == "success"));
    assert_eq!(ids(&list(&["--last", "2"])), [5, 4]);
    assert_eq!(ids(&list(&["--last", "1", "--program", "qa"])), [4]);
    assert_eq!(ids(&list(&["--last", "100"])), [5, 4, 3, 2, 1]);
    assert_eq!(
        ids(&list(&["--program", "qa", "--status", "success"])),
        [2, 1]
    );
    assert_eq!(list(&["--program", "nope"]), json!([]));

    let table = run_in(dir.path(), &["runs", "--last", "2"]);
    table.assert_ok();
    assert_eq!(table.stdout.lines().count(), 3, "a header and two rows");

    let stats = run_in(dir.path(), &["stats", "--json"]);
    stats.assert_ok();
    let stats = stats.json();
    let rows = stats.as_array().expect("array");
    assert_eq!(rows.len(), 2, "{stats}");
    let row = |program: &str| {
        rows.iter()
            .find(|row| row["program"] == program)
            .unwrap_or_else(|| panic!("no stats for {program}: {stats}"))
            .clone()
    };
    let qa_stats = row("qa");
    assert_eq!(qa_stats["model"], "mock");
    assert_eq!(qa_stats["count"], 3);
    assert_eq!(qa_stats["failed"], 1);
    assert_eq!(qa_stats["usage"]["input_tokens"], 20);
    assert_eq!(qa_stats["usage"]["output_tokens"], 10);
    // 20 tokens at $1/M in, 10 at $2/M out.
    let cost = qa_stats["cost"].as_f64().expect("cost");
    assert!((cost - 0.00004).abs() < 1e-12, "{cost}");
    let rag_stats = row("Rag");
    assert_eq!(rag_stats["count"], 2);
    assert_eq!(rag_stats["failed"], 0);

    let only_rag = run_in(dir.path(), &["stats", "--json", "--program", "Rag"]);
    only_rag.assert_ok();
    let only_rag = only_rag.json();
    assert_eq!(only_rag.as_array().map(Vec::len), Some(1), "{only_rag}");
    assert_eq!(only_rag[0]["program"], "Rag");
    assert_eq!(only_rag[0]["count"], 2);
    let none = run_in(dir.path(), &["stats", "--json", "--program", "nope"]);
    none.assert_ok();
    assert_eq!(none.json(), json!([]));

    let table = run_in(dir.path(), &["stats", "--program", "qa"]);
    table.assert_ok();
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", table.stdout);
    assert!(lines[1].starts_with("qa "), "{}", table.stdout);
    assert_eq!(mock.hits(), 6, "four successes and a failure tried twice");
}

#[test]
fn runs_and_stats_without_a_store_say_so() {
    let dir = project(&mock_config("http://127.0.0.1:9/v1"));
    let runs = run_in(dir.path(), &["runs", "--json"]);
    runs.assert_ok();
    assert_eq!(runs.json(), json!([]));
    assert!(
        runs.stderr.contains("no executions recorded yet"),
        "{}",
        runs.stderr
    );
    let stats = run_in(dir.path(), &["stats", "--json"]);
    stats.assert_ok();
    assert_eq!(stats.json(), json!([]));
    assert!(
        !dir.path().join(".dspex").exists(),
        "reading creates no store"
    );
}

#[test]
fn inputs_come_from_a_json_file_and_signature_picks_one_of_several() {
    let mock = MockLm::openai(|request| {
        let body = request.body().to_string();
        if body.contains("translation") {
            Reply::text("[[ ## translation ## ]]\nLes chats dorment.\n\n[[ ## completed ## ]]")
        } else {
            Reply::text(SUMMARY_REPLY)
        }
    });
    let dir = project(&mock_config(&mock.url()));
    support::write(dir.path(), "multi.sig", MULTI_SIG);
    support::write(
        dir.path(),
        "inputs.json",
        json!({"text": "Cats sleep most of the day.", "language": "French"}).to_string(),
    );
    support::write(
        dir.path(),
        "summary.json",
        json!({"text": "Cats sleep most of the day."}).to_string(),
    );

    // Two signatures and no program: which one must be said.
    let ambiguous = run_in(
        dir.path(),
        &["run", "multi.sig", "--inputs", "summary.json"],
    );
    assert_eq!(ambiguous.code, 2, "{}", ambiguous.stderr);
    assert!(
        ambiguous
            .stderr
            .contains("declares 2 signatures and no program"),
        "{}",
        ambiguous.stderr
    );
    assert!(
        ambiguous
            .stderr
            .contains("choose one with `--signature NAME`: `Translate`, `Summarize`"),
        "{}",
        ambiguous.stderr
    );

    let summary = run_in(
        dir.path(),
        &[
            "run",
            "multi.sig",
            "--signature",
            "Summarize",
            "--inputs",
            "summary.json",
            "--json",
        ],
    );
    summary.assert_ok();
    assert_eq!(
        summary.json(),
        json!({"summary": "Cats sleep.", "words": 2})
    );
    let request = only_request(&mock);
    let user = request.body()["messages"][1]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        user.contains("[[ ## text ## ]]\nCats sleep most of the day."),
        "{user}"
    );
    let system = request.body()["messages"][0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        system.contains("`summary`") && !system.contains("`translation`"),
        "{system}"
    );

    // `--input` after `--inputs` wins for its field.
    let translated = run_in(
        dir.path(),
        &[
            "run",
            "multi.sig",
            "-s",
            "Translate",
            "--inputs",
            "inputs.json",
            "--input",
            "language=German",
        ],
    );
    translated.assert_ok();
    assert_eq!(translated.stdout, "translation: Les chats dorment.\n");
    let user = mock.requests()[1].body()["messages"][1]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(user.contains("[[ ## language ## ]]\nGerman"), "{user}");
    assert!(!user.contains("French"), "{user}");

    let runs = run_in(dir.path(), &["runs", "--json"]);
    let runs = runs.json();
    assert_eq!(runs[0]["program"], "Translate");
    assert_eq!(runs[1]["program"], "Summarize");
    let shown = run_in(dir.path(), &["runs", "show", "1", "--json"]);
    shown.assert_ok();
    let shown = shown.json();
    assert_eq!(shown["signature"], "Summarize");
    assert_eq!(shown["module"], "predict");
    assert_eq!(shown["inputs"]["text"], "Cats sleep most of the day.");

    // Mistakes are usage errors, found before anything is sent.
    let unknown_signature = run_in(
        dir.path(),
        &[
            "run",
            "multi.sig",
            "--signature",
            "Nope",
            "--inputs",
            "summary.json",
        ],
    );
    assert_eq!(unknown_signature.code, 2, "{}", unknown_signature.stderr);
    assert!(
        unknown_signature
            .stderr
            .contains("no signature `Nope` in `multi.sig`"),
        "{}",
        unknown_signature.stderr
    );
    assert!(
        unknown_signature
            .stderr
            .contains("`Translate`, `Summarize`"),
        "{}",
        unknown_signature.stderr
    );
    let extra_key = run_in(
        dir.path(),
        &[
            "run",
            "multi.sig",
            "-s",
            "Summarize",
            "--inputs",
            "inputs.json",
        ],
    );
    assert_eq!(extra_key.code, 2, "{}", extra_key.stderr);
    assert!(
        extra_key.stderr.contains("unknown input `language`"),
        "{}",
        extra_key.stderr
    );
    let missing_key = run_in(
        dir.path(),
        &[
            "run",
            "multi.sig",
            "-s",
            "Translate",
            "--inputs",
            "summary.json",
        ],
    );
    assert_eq!(missing_key.code, 2, "{}", missing_key.stderr);
    assert!(
        missing_key.stderr.contains("missing input `language`"),
        "{}",
        missing_key.stderr
    );
    support::write(dir.path(), "list.json", "[1, 2]");
    let not_object = run_in(
        dir.path(),
        &[
            "run",
            "multi.sig",
            "-s",
            "Summarize",
            "--inputs",
            "list.json",
        ],
    );
    assert_eq!(not_object.code, 2, "{}", not_object.stderr);
    assert!(
        not_object
            .stderr
            .contains("`list.json` is not a JSON object"),
        "{}",
        not_object.stderr
    );
    let absent = run_in(
        dir.path(),
        &[
            "run",
            "multi.sig",
            "-s",
            "Summarize",
            "--inputs",
            "absent.json",
        ],
    );
    assert_eq!(absent.code, 2, "{}", absent.stderr);
    assert!(absent.stderr.contains("absent.json"), "{}", absent.stderr);
    let both = run_in(
        dir.path(),
        &[
            "run",
            "qa.sig",
            "--program",
            "qa",
            "--signature",
            "QA",
            "--input",
            QUESTION,
        ],
    );
    assert_eq!(
        both.code, 2,
        "--program and --signature conflict: {}",
        both.stderr
    );
    assert_eq!(mock.hits(), 2, "bad invocations must not reach the LM");
}
