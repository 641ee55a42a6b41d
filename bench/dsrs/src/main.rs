//! The DSRs (dspy-rs 0.7.3) side of `bench/run.sh`.
//!
//! ```text
//! dsrs-bench first URL                  # one Predict, print the answer
//! dsrs-bench sequential URL N           # N Predict calls one after another; print seconds
//! dsrs-bench batch URL N CONCURRENCY    # N calls via Module::batch, CONCURRENCY in flight; calls/s
//! ```
//!
//! URL is the mock's OpenAI-compatible base URL (`http://127.0.0.1:PORT/v1`). Every call goes
//! through DSRs's real path: `Predict::forward` -> `ChatAdapter` (format, then parse the
//! `[[ ## answer ## ]]` reply) -> `LM::call` -> rig-core's OpenAI chat-completions client. The
//! LM is built with `cache(false)` (also DSRs's default), so every call reaches the server.
//! `BENCH_MODEL` names the model in the requests (default `gpt-4o-mini`; the mock answers any).
//! `sequential` and `batch` first make a few untimed warm-up calls. It runs on the multi-thread
//! runtime `#[tokio::main]` gives, as DSRs's examples do.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use dspy_rs::{
    ChatAdapter, Example, LM, Module, Predict, Prediction, Predictor, Signature, configure,
};

/// The reply every call must parse to (the mock's text is `[[ ## answer ## ]]\nParis\n\n...`).
const EXPECTED_ANSWER: &str = "Paris";

/// Untimed calls before `sequential` and `batch` start the clock.
const WARM_UP_CALLS: usize = 50;

#[Signature]
struct QA {
    #[input]
    pub question: String,

    #[output]
    pub answer: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    match run(&arguments).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(arguments: &[String]) -> Result<()> {
    let words: Vec<&str> = arguments.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["first", url] => {
            configure_lm(url).await?;
            let answer = predict(&Predict::new(QA::new()), 0).await?;
            println!("{answer}");
        }
        ["sequential", url, calls] => {
            let calls = parse_count(calls)?;
            configure_lm(url).await?;
            let predictor = Predict::new(QA::new());
            for index in 0..WARM_UP_CALLS {
                check(predict(&predictor, index).await?)?;
            }
            let start = Instant::now();
            for index in 0..calls {
                check(predict(&predictor, index).await?)?;
            }
            println!("{:.6}", start.elapsed().as_secs_f64());
        }
        ["batch", url, calls, concurrency] => {
            let calls = parse_count(calls)?;
            let concurrency = parse_count(concurrency)?.max(1);
            configure_lm(url).await?;
            let module = QaModule {
                predictor: Predict::new(QA::new()),
            };
            for index in 0..WARM_UP_CALLS {
                check(predict(&module.predictor, index).await?)?;
            }
            let examples = (0..calls).map(example).collect();
            let start = Instant::now();
            let predictions = module.batch(examples, concurrency, false).await?;
            let seconds = start.elapsed().as_secs_f64();
            for prediction in &predictions {
                check(answer_of(prediction)?)?;
            }
            println!("{:.1}", calls as f64 / seconds);
        }
        _ => bail!("usage: dsrs-bench first URL | sequential URL N | batch URL N CONCURRENCY"),
    }
    Ok(())
}

fn parse_count(text: &str) -> Result<usize> {
    text.parse()
        .with_context(|| format!("`{text}` is not a count of calls"))
}

/// Points DSRs's global LM at the mock through its OpenAI-compatible client (base URL + key).
async fn configure_lm(url: &str) -> Result<()> {
    let lm = LM::builder()
        .base_url(url.to_owned())
        .api_key("x".to_owned())
        .model(std::env::var("BENCH_MODEL").unwrap_or_else(|_| "gpt-4o-mini".to_owned()))
        .cache(false)
        .build()
        .await?;
    configure(lm, ChatAdapter);
    Ok(())
}

/// One QA prediction; the question differs per call, as in the other tools' runs.
async fn predict(predictor: &Predict, index: usize) -> Result<String> {
    answer_of(&predictor.forward(example(index)).await?)
}

fn example(index: usize) -> Example {
    let mut example = Example::new(Default::default(), vec!["question".to_owned()], vec![]);
    example
        .data
        .insert("question".to_owned(), question(index).into());
    example
}

fn answer_of(prediction: &Prediction) -> Result<String> {
    match prediction
        .data
        .get("answer")
        .and_then(|value| value.as_str())
    {
        Some(answer) => Ok(answer.to_owned()),
        None => bail!(
            "the prediction has no string `answer`: {:?}",
            prediction.data
        ),
    }
}

fn question(index: usize) -> String {
    format!("What is the capital of country number {index}?")
}

fn check(answer: String) -> Result<()> {
    if answer == EXPECTED_ANSWER {
        Ok(())
    } else {
        bail!("expected the answer `{EXPECTED_ANSWER}`, got `{answer}`")
    }
}

/// A one-predictor module, so a batch goes through DSRs's own `Module::batch` (all calls
/// polled from one task with `buffer_unordered(max_concurrency)`). `Predictor::batch` does the
/// same with a fixed 32 in flight.
struct QaModule {
    predictor: Predict,
}

impl Module for QaModule {
    async fn forward(&self, inputs: Example) -> Result<Prediction> {
        self.predictor.forward(inputs).await
    }
}
