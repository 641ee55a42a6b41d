//! The `local` provider with a real model: SmolLM2-135M-Instruct (Q4_1 GGUF), which
//! `scripts/test` pulls into `target/dspex-home` and names in `DSPEX_TEST_GGUF`.
//!
//! Library tests share one provider, so one model is loaded and requests queue on its worker
//! thread, as they do in a batch. CLI tests run the binary one at a time (a lock), so two
//! processes never decode at once on the 2 cores.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, OnceLock};

use dspex::adapter::{AdapterKind, Values};
use dspex::lm::local::Local;
use dspex::lm::{Message, ModelSpec, Provider, Request, Role};
use dspex::program::{CacheMode, Runtime, Target};
use dspex::schema::{Document, Module, Type};
use serde_json::{json, Value};

fn gguf() -> PathBuf {
    support::test_gguf()
}

fn spec(model: &str) -> ModelSpec {
    ModelSpec::local("local-test", model)
}

/// The one provider the library tests share.
fn provider() -> Arc<Local> {
    static PROVIDER: OnceLock<Arc<Local>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(Local::new(spec(&gguf().display().to_string()))))
        .clone()
}

fn request(text: &str, max_tokens: u32) -> Request {
    let mut request = Request::new(vec![Message::new(Role::User, text)]);
    request.temperature = Some(0.0);
    request.max_tokens = Some(max_tokens);
    request
}

/// A plausible input value of type `ty`.
fn sample(document: &Document, ty: &Type) -> Value {
    match ty {
        Type::String { .. } | Type::ReasoningChain => {
            json!("My order #1234 arrived damaged and I would like a refund, please.")
        }
        Type::Integer { min, .. } => json!(min.unwrap_or(3)),
        Type::Float { min, .. } => json!(min.unwrap_or(2.5)),
        Type::Probability { .. } => json!(0.5),
        Type::Boolean => json!(true),
        Type::Json => json!({"note": "x"}),
        Type::List { item, .. } => json!([sample(document, item), sample(document, item)]),
        Type::Map { value, .. } => json!({"first": sample(document, value)}),
        Type::Optional(inner) => sample(document, inner),
        Type::Literals(values) => json!(values[0]),
        Type::Enum(name) => json!(document.enumeration(name).expect("enum").variants[0].name),
        Type::Record(name) => Value::Object(
            document
                .record(name)
                .expect("record")
                .fields
                .iter()
                .map(|field| (field.name.clone(), sample(document, &field.ty)))
                .collect(),
        ),
    }
}

fn runtime(adapter: AdapterKind) -> Runtime {
    Runtime {
        provider: provider(),
        store: None,
        cache: CacheMode::Off,
        adapter,
    }
}

/// Runs every signature of every file in `signatures/` under `predict` with `adapter` and
/// checks each reply was decoded under the grammar and parsed into valid typed outputs.
async fn every_signature_is_answered_with_valid_types(adapter: AdapterKind) {
    let runtime = runtime(adapter);
    let mut ran = 0;
    for file in support::sig_files()
        .into_iter()
        .filter(|file| file.relative.starts_with("signatures/"))
    {
        let document = Arc::new(file.document);
        for signature in &document.signatures {
            let target = Target::new(
                document.clone(),
                &signature.name,
                signature,
                Module::Predict,
                None,
                &file.relative,
                b"",
            )
            .expect("target");
            let inputs: Values = target
                .input_fields()
                .iter()
                .map(|field| (field.name.clone(), sample(&document, &field.ty)))
                .collect();
            let finished = runtime.execute(&target, inputs, None).await;
            let execution = &finished.execution;
            assert!(
                finished.error.is_none(),
                "{} {}: {:?}\nreply: {:?}",
                file.relative,
                signature.name,
                finished.error.as_ref().map(ToString::to_string),
                execution.calls.last().and_then(|call| call.raw.clone())
            );
            assert_eq!(execution.calls.len(), 1, "no fallback call was needed");
            assert!(execution.calls[0].constrained);
            assert_eq!(execution.calls[0].adapter, adapter.name());
            let outputs = execution.outputs.as_ref().expect("outputs");
            for field in &signature.outputs {
                assert!(
                    outputs.get(&field.name).is_some(),
                    "{}: output `{}` missing from {outputs}",
                    signature.name,
                    field.name
                );
            }
            ran += 1;
        }
    }
    assert!(ran >= 10, "only {ran} signatures ran");
}

#[tokio::test]
async fn every_signature_gets_valid_typed_outputs_through_the_chat_adapter() {
    every_signature_is_answered_with_valid_types(AdapterKind::Chat).await;
}

#[tokio::test]
async fn every_signature_gets_valid_typed_outputs_through_the_json_adapter() {
    every_signature_is_answered_with_valid_types(AdapterKind::Json).await;
}

#[tokio::test]
async fn enums_numbers_probabilities_lists_and_records_come_back_typed() {
    let source = r#"
        enum Priority { low, medium, high }
        type Item { name: string(max: 40), quantity: integer(min: 1, max: 99) }
        signature Order {
            request: string
            ->
            priority: Priority
            total: float(min: 0, max: 1000)
            confidence: probability
            tags: list[string(max: 20)](min: 1, max: 3)
            items: list[Item](max: 2)
            urgent: bool
            note: string?
        }
    "#;
    let document = Arc::new(dspex::compile_str(source, "order.sig").expect("order.sig"));
    let signature = &document.signatures[0];
    for adapter in [AdapterKind::Chat, AdapterKind::Json] {
        let target = Target::new(
            document.clone(),
            "Order",
            signature,
            Module::Predict,
            None,
            "order.sig",
            source.as_bytes(),
        )
        .expect("target");
        let mut inputs = Values::new();
        inputs.insert(
            "request".to_owned(),
            json!("Two boxes of pens and one stapler, needed by Friday."),
        );
        let finished = runtime(adapter).execute(&target, inputs, None).await;
        assert!(
            finished.error.is_none(),
            "{adapter:?}: {:?}",
            finished.error.as_ref().map(ToString::to_string)
        );
        let outputs = finished.execution.outputs.expect("outputs");
        assert!(["low", "medium", "high"].contains(&outputs["priority"].as_str().expect("enum")));
        let total = outputs["total"].as_f64().expect("float");
        assert!((0.0..=1000.0).contains(&total), "{total}");
        let confidence = outputs["confidence"].as_f64().expect("probability");
        assert!((0.0..=1.0).contains(&confidence), "{confidence}");
        let tags = outputs["tags"].as_array().expect("list");
        assert!((1..=3).contains(&tags.len()), "{tags:?}");
        for item in outputs["items"].as_array().expect("list of records") {
            let quantity = item["quantity"].as_i64().expect("integer");
            assert!((1..=99).contains(&quantity), "{quantity}");
            assert!(item["name"].is_string());
        }
        assert!(outputs["urgent"].is_boolean());
        assert!(outputs["note"].is_null() || outputs["note"].is_string());
    }
}

#[tokio::test]
async fn greedy_decoding_is_stable() {
    let prompt = "Name three colours of the rainbow.";
    let first = provider()
        .complete(&request(prompt, 40))
        .await
        .expect("first");
    // Something else in between: the KV cache then holds another prompt.
    provider()
        .complete(&request("Say hello.", 5))
        .await
        .expect("in between");
    let second = provider()
        .complete(&request(prompt, 40))
        .await
        .expect("second");
    assert_eq!(first.text, second.text);
    assert!(!first.text.is_empty());
    // A fresh load of the model gives the same text too.
    let fresh = Local::new(spec(&gguf().display().to_string()));
    let third = fresh.complete(&request(prompt, 40)).await.expect("fresh");
    assert_eq!(first.text, third.text);
}

#[tokio::test]
async fn a_seed_makes_sampling_repeatable() {
    let sampled = |seed: u64| {
        let mut request = request("Write a short poem about the sea.", 40);
        request.temperature = Some(1.0);
        request.seed = Some(seed);
        async move { provider().complete(&request).await.expect("sampled").text }
    };
    let first = sampled(7).await;
    assert_eq!(first, sampled(7).await);
    let others = [sampled(8).await, sampled(9).await, sampled(10).await];
    assert!(
        others.iter().any(|other| *other != first),
        "three other seeds all gave {first:?}"
    );
}

#[tokio::test]
async fn max_tokens_and_stop_sequences_are_respected() {
    let long = provider()
        .complete(&request("Count from one to fifty in words.", 6))
        .await
        .expect("max tokens");
    assert_eq!(long.usage.output_tokens, 6);
    assert_eq!(long.finish_reason.as_deref(), Some("length"));

    let full = provider()
        .complete(&request(
            "Count from one to ten in words, comma separated.",
            60,
        ))
        .await
        .expect("full");
    let cut_at = full
        .text
        .char_indices()
        .nth(8)
        .map_or(0, |(index, _)| index);
    let stop = full.text[cut_at..].chars().take(3).collect::<String>();
    assert!(!stop.is_empty(), "the reply is too short: {:?}", full.text);
    let mut stopped = request("Count from one to ten in words, comma separated.", 60);
    stopped.stop = vec![stop.clone()];
    let stopped = provider().complete(&stopped).await.expect("stopped");
    assert_eq!(stopped.finish_reason.as_deref(), Some("stop"));
    assert!(
        !stopped.text.contains(&stop),
        "{:?} contains {stop:?}",
        stopped.text
    );
    assert!(full.text.starts_with(&stopped.text));
}

#[tokio::test]
async fn a_prompt_longer_than_the_context_is_a_clear_error() {
    let huge = "word ".repeat(20_000);
    let error = provider()
        .complete(&request(&huge, 5))
        .await
        .expect_err("too long");
    let message = error.to_string();
    assert!(
        message.contains("tokens but the model's context holds 8192"),
        "{message}"
    );
    // The provider still answers afterwards.
    provider()
        .complete(&request("Say hi.", 3))
        .await
        .expect("after");
}

// ---- The command line ----

/// One `dspex` process at a time.
fn cli_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poison| poison.into_inner())
}

fn dspex(dir: &std::path::Path, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dspex"));
    command
        .current_dir(dir)
        .args(args)
        .env_remove("DSPEX_MODEL")
        .env_remove("DSPEX_STORE")
        .env("DSPEX_HOME", dir.join("home"))
        .env("NO_COLOR", "1");
    command.output().expect("run dspex")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_cli_runs_a_program_on_a_local_file_and_records_that_it_was_constrained() {
    let _one = cli_lock();
    let dir = support::temp_dir();
    let qa = std::fs::read_to_string(support::root().join("signatures/qa.sig")).expect("qa.sig");
    support::write(dir.path(), "qa.sig", qa);
    let model = format!("local:{}", gguf().display());
    let output = dspex(
        dir.path(),
        &[
            "run",
            "qa.sig",
            "--model",
            &model,
            "--input",
            "question=What is the capital of France?",
            "--json",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let outputs: Value = serde_json::from_slice(&output.stdout).expect("--json");
    assert!(outputs["answer"].is_string());
    let confidence = outputs["confidence"].as_f64().expect("probability");
    assert!((0.0..=1.0).contains(&confidence));

    let shown = dspex(dir.path(), &["runs", "show", "1", "--json"]);
    assert_eq!(shown.status.code(), Some(0), "{}", text(&shown.stderr));
    let shown: Value = serde_json::from_slice(&shown.stdout).expect("runs show --json");
    assert_eq!(shown["calls"][0]["constrained"], json!(true), "{shown}");
    assert!(shown["provider_model"]
        .as_str()
        .is_some_and(|model| model.starts_with("local/")));
}

#[test]
fn a_batch_shares_one_loaded_model() {
    let _one = cli_lock();
    let dir = support::temp_dir();
    support::write(
        dir.path(),
        "sentiment.sig",
        "signature Sentiment { text: string -> sentiment: \"positive\" | \"negative\" }\n",
    );
    let lines: String = [
        "I love it",
        "Terrible service",
        "Great value",
        "Broken on arrival",
        "Works fine",
        "Never again",
    ]
    .iter()
    .map(|text| format!("{}\n", json!({ "text": text })))
    .collect();
    support::write(dir.path(), "in.jsonl", lines);
    let model = format!("local:{}", gguf().display());
    let output = dspex(
        dir.path(),
        &[
            "run",
            "sentiment.sig",
            "--model",
            &model,
            "--batch",
            "in.jsonl",
            "--concurrency",
            "4",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let results: Vec<Value> = text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(results.len(), 6);
    for result in &results {
        assert_eq!(result["status"], json!("success"), "{result}");
        let sentiment = result["outputs"]["sentiment"].as_str().expect("literal");
        assert!(["positive", "negative"].contains(&sentiment), "{sentiment}");
    }
}

#[test]
fn a_missing_model_file_is_a_clear_error() {
    let _one = cli_lock();
    let dir = support::temp_dir();
    support::write(dir.path(), "qa.sig", "signature question -> answer\n");
    let missing = dir.path().join("nowhere.gguf");
    let model = format!("local:{}", missing.display());
    let output = dspex(
        dir.path(),
        &["run", "qa.sig", "--model", &model, "--input", "question=hi"],
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("nowhere.gguf"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_corrupt_or_truncated_model_file_is_a_clear_error() {
    let _one = cli_lock();
    let dir = support::temp_dir();
    support::write(dir.path(), "qa.sig", "signature question -> answer\n");
    let real = std::fs::read(gguf()).expect("the test model");
    let cases: [(&str, Vec<u8>); 3] = [
        ("garbage.gguf", b"this is not a model at all".repeat(100)),
        ("magic_only.gguf", {
            let mut bytes = b"GGUF".to_vec();
            bytes.extend(std::iter::repeat_n(0xAB, 4096));
            bytes
        }),
        ("truncated.gguf", real[..real.len() / 3].to_vec()),
    ];
    for (name, bytes) in cases {
        support::write(dir.path(), name, bytes);
        let model = format!("local:{}", dir.path().join(name).display());
        let output = dspex(
            dir.path(),
            &["run", "qa.sig", "--model", &model, "--input", "question=hi"],
        );
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{name}: {stderr}");
        assert!(stderr.contains(name), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
}
