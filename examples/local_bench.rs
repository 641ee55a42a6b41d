//! dspex's side of `bench/local.sh`: the `local` provider (the same code `dspex run --model
//! local:...` runs) on one GGUF file, measured the way `bench/local_llama_cpp.py` measures
//! llama-cpp-python. Prints one JSON object:
//!
//! - `load_s`: loading the model (weights, chat template, no context yet);
//! - `prompt_tokens`, `prompt_tok_s`: a fresh prompt decoded with `max_tokens = 1` (the first
//!   call also allocates the context, so the best of `REPEATS` distinct prompts is reported);
//! - `decode_tokens`, `decode_tok_s`: greedy decoding of the story prompt; the prompt itself is
//!   decoded by an earlier `max_tokens = 1` call and then reused from the KV cache, so the time is
//!   the generation alone;
//! - `typed_tok_s` and `free_tok_s`: generation under the chat adapter's grammar for a signature
//!   with one long string output (at least 400 characters, so the reply is long enough to time),
//!   and the same prompt without it; the grammar is compiled inside the timed call, as in a run;
//! - `peak_rss_mb`: the process's peak resident memory (VmHWM) at the end.
//!
//! Usage: `local_bench MODEL.gguf` (threads from `DSPEX_THREADS`, default: all cores).

use std::sync::Arc;
use std::time::{Duration, Instant};

use dspex::adapter::{self, grammar, AdapterKind, PromptSignature, Values};
use dspex::lm::local::Local;
use dspex::lm::{Message, ModelSpec, Provider, Request, Role};
use dspex::schema::Document;
use serde_json::json;

/// Distinct prompts for the prompt-speed measurement; the fastest counts.
const REPEATS: usize = 3;
/// Tokens generated per decode measurement.
const DECODE_TOKENS: u32 = 200;

const STORY: &str = "Write a long, detailed story about a lighthouse keeper who finds a message \
                     in a bottle. Describe the sea, the weather and every room of the lighthouse.";

const STORY_SIG: &str = r#"
/// Write the story the prompt asks for.
signature Story {
    prompt: string "what to write about"
    ->
    story: string(min: 400, max: 1200) "the story, several paragraphs long"
}
"#;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(message) = run().await {
        eprintln!("local_bench: {message}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: local_bench MODEL.gguf")?;
    let model = std::fs::canonicalize(&path)
        .map_err(|error| format!("{path}: {error}"))?
        .display()
        .to_string();
    let local = Arc::new(Local::new(spec(&model)));

    let clock = Instant::now();
    local.preload().await.map_err(|e| e.to_string())?;
    let load = clock.elapsed();

    // Prompt speed: distinct long prompts (nothing reused from the KV cache).
    let mut best_prompt = Duration::MAX;
    let mut prompt_tokens = 0;
    for i in 0..REPEATS {
        let text = format!("{i}. {}", long_prompt());
        let request = request(vec![Message::new(Role::User, text)], 1, None);
        let clock = Instant::now();
        let done = local.complete(&request).await.map_err(|e| e.to_string())?;
        best_prompt = best_prompt.min(clock.elapsed());
        prompt_tokens = done.usage.input_tokens;
    }

    let story = vec![Message::new(Role::User, STORY)];
    let (decode_tokens, decode_time) = decode(&local, story, None).await?;

    // Typed against free decoding, on the DSPy chat prompt of a one-string signature.
    let document = story_document()?;
    let signature = document
        .signatures
        .first()
        .ok_or("the story signature did not parse")?;
    let prompt = PromptSignature::of(signature);
    let mut inputs = Values::new();
    inputs.insert("prompt".to_owned(), json!(STORY));
    let messages = adapter::format(AdapterKind::Chat, &document, &prompt, &[], &inputs);
    let gbnf = grammar::gbnf(AdapterKind::Chat, &document, &prompt);
    let (free_tokens, free_time) = decode(&local, messages.clone(), None).await?;
    let (typed_tokens, typed_time) = decode(&local, messages, Some(gbnf)).await?;

    let rate = |tokens: u64, time: Duration| tokens as f64 / time.as_secs_f64();
    let result = json!({
        "tool": "dspex",
        "threads": std::env::var("DSPEX_THREADS").ok(),
        "load_s": load.as_secs_f64(),
        "prompt_tokens": prompt_tokens,
        "prompt_tok_s": rate(prompt_tokens, best_prompt),
        "decode_tokens": decode_tokens,
        "decode_tok_s": rate(decode_tokens, decode_time),
        "free_tokens": free_tokens,
        "free_tok_s": rate(free_tokens, free_time),
        "typed_tokens": typed_tokens,
        "typed_tok_s": rate(typed_tokens, typed_time),
        "peak_rss_mb": peak_rss_mb(),
    });
    println!("{result}");
    Ok(())
}

/// Generates up to [`DECODE_TOKENS`] greedily after `messages`, whose prompt is decoded first by
/// a one-token call, so the measured call decodes only its own tokens.
async fn decode(
    local: &Local,
    messages: Vec<Message>,
    gbnf: Option<String>,
) -> Result<(u64, Duration), String> {
    let warm = request(messages.clone(), 1, None);
    local.complete(&warm).await.map_err(|e| e.to_string())?;
    let measured = request(messages, DECODE_TOKENS, gbnf);
    let clock = Instant::now();
    let done = local.complete(&measured).await.map_err(|e| e.to_string())?;
    let time = clock.elapsed();
    if done.usage.output_tokens < 16 {
        return Err(format!(
            "only {} tokens generated; the measurement needs a longer reply",
            done.usage.output_tokens
        ));
    }
    Ok((done.usage.output_tokens, time))
}

fn request(messages: Vec<Message>, max_tokens: u32, gbnf: Option<String>) -> Request {
    let mut request = Request::new(messages);
    request.temperature = Some(0.0);
    request.max_tokens = Some(max_tokens);
    request.grammar = gbnf;
    request
}

fn spec(model: &str) -> ModelSpec {
    ModelSpec::local("bench", model)
}

/// About 400 tokens of plain prose.
fn long_prompt() -> String {
    let sentence = "The committee reviewed the quarterly figures, noted the rise in shipping \
                    costs, and asked the regional offices for a revised forecast. ";
    let mut text = String::from("Summarise the following notes in one sentence.\n\n");
    for _ in 0..16 {
        text.push_str(sentence);
    }
    text
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn story_document() -> Result<Document, String> {
    dspex::compile_str(STORY_SIG, "story.sig").map_err(|error| format!("{error:?}"))
}
