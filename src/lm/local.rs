//! The `local/` provider: a GGUF model run in-process by llama.cpp (through `llama-cpp-2`).
//!
//! One worker thread per provider owns the loaded model and its context; requests queue on a
//! channel and are decoded one after another, so a batch shares one copy of the weights. The
//! worker keeps the tokens of the previous prompt in the KV cache and decodes only what differs,
//! which makes DSPy-style prompts (the same system message and demos every time) cheap after the
//! first. The chat template and tokenizer come from the GGUF's own metadata.
//!
//! When a request carries a grammar (the adapter's GBNF for the signature), sampling is
//! constrained by llama.cpp's grammar sampler: the token the unconstrained sampler picks is kept
//! when the grammar accepts it, and only otherwise is the whole vocabulary filtered (the same
//! shortcut llama.cpp's own tools take), so typed decoding costs little over free decoding.

use std::ffi::{c_char, c_void, CStr};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Mutex, OnceLock};

use llama_cpp_2::context::params::{KvCacheType, LlamaContextParams};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use llama_cpp_2::token::LlamaToken;
use tokio::sync::oneshot;

use super::{BoxFuture, Completion, LmError, ModelSpec, Provider, Request, Usage};
use crate::models;

/// Tokens generated when neither the request nor the model's settings say.
pub const DEFAULT_MAX_TOKENS: u32 = 1024;
/// The smallest context the worker allocates; it grows (up to the model's training context)
/// when a prompt needs more.
const MIN_CONTEXT: u32 = 1024;
/// The repetition penalty on the last generated tokens (Ollama's and llama-cpp-python's
/// default): without it greedy decoding of small models falls into loops (`#\n\n#\n\n...`)
/// until the token limit. Deterministic, so temperature 0 stays repeatable.
const REPEAT_PENALTY: f32 = 1.1;
const REPEAT_LAST_N: i32 = 64;
/// Prompt tokens decoded per llama.cpp batch.
const BATCH: usize = 512;

/// The in-process provider. Cheap to create: the worker thread starts, and the model loads (and
/// is pulled if needed), on the first request, so cached or offline runs never touch it.
pub struct Local {
    spec: ModelSpec,
    threads: i32,
    worker: Mutex<Option<mpsc::Sender<Job>>>,
}

enum Job {
    /// Load the model now (a server's warm start; benchmarks).
    Load(oneshot::Sender<Result<(), LmError>>),
    Complete {
        request: Box<Request>,
        reply: oneshot::Sender<Result<Completion, LmError>>,
    },
}

impl Local {
    pub fn new(spec: ModelSpec) -> Local {
        let threads = std::env::var("DSPEX_THREADS")
            .ok()
            .and_then(|value| value.parse::<i32>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(2, |n| n.get().min(8) as i32)
            });
        Local {
            spec,
            threads,
            worker: Mutex::new(None),
        }
    }

    fn sender(&self) -> Result<mpsc::Sender<Job>, LmError> {
        let mut worker = self
            .worker
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some(sender) = worker.as_ref() {
            return Ok(sender.clone());
        }
        let (sender, receiver) = mpsc::channel();
        let spec = self.spec.clone();
        let threads = self.threads;
        std::thread::Builder::new()
            .name("dspex-local-model".to_owned())
            .spawn(move || serve(spec, threads, receiver))
            .map_err(|error| self.error(format!("cannot start the model thread: {error}")))?;
        *worker = Some(sender.clone());
        Ok(sender)
    }

    /// Loads the model (pulling it first if needed) without waiting for a request, and reports
    /// whether that worked.
    pub async fn preload(&self) -> Result<(), LmError> {
        let (reply, answer) = oneshot::channel();
        self.sender()?
            .send(Job::Load(reply))
            .map_err(|_| self.error("the model thread has stopped".to_owned()))?;
        answer
            .await
            .map_err(|_| self.error("the model thread stopped while loading".to_owned()))?
    }

    fn error(&self, message: String) -> LmError {
        LmError::Other {
            model: self.spec.name.clone(),
            message,
        }
    }
}

impl Provider for Local {
    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn constrains_output(&self) -> bool {
        true
    }

    fn complete<'a>(&'a self, request: &'a Request) -> BoxFuture<'a, Result<Completion, LmError>> {
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            let job = Job::Complete {
                request: Box::new(request.clone()),
                reply,
            };
            self.sender()?
                .send(job)
                .map_err(|_| self.error("the model thread has stopped".to_owned()))?;
            answer
                .await
                .map_err(|_| self.error("the model thread stopped mid-request".to_owned()))?
        })
    }
}

/// The worker: loads the model, then answers jobs until every sender is gone. A model that
/// fails to load fails every job with the same error.
fn serve(spec: ModelSpec, threads: i32, jobs: mpsc::Receiver<Job>) {
    let fail = |message: String| LmError::Other {
        model: spec.name.clone(),
        message,
    };
    let loaded = backend().and_then(|backend| {
        let path = weights_path(&spec)?;
        let model = load(backend, &path)?;
        Ok((backend, path, model))
    });
    let (backend, path, model) = match loaded {
        Ok(loaded) => loaded,
        Err(message) => {
            refuse_all(jobs, &fail(message));
            return;
        }
    };
    let mut engine = match Engine::new(backend, &model, &path, threads) {
        Ok(engine) => engine,
        Err(message) => {
            refuse_all(jobs, &fail(message));
            return;
        }
    };
    for job in jobs {
        // A caller that has gone (Ctrl-C, a timeout) is told nothing.
        match job {
            Job::Load(reply) => {
                let _ = reply.send(Ok(()));
            }
            Job::Complete { reply, .. } if reply.is_closed() => {}
            Job::Complete { request, reply } => {
                let result = engine.complete(&request, &reply).map_err(&fail);
                let _ = reply.send(result);
            }
        }
    }
}

/// Fails every job with `error` (the model could not be loaded).
fn refuse_all(jobs: mpsc::Receiver<Job>, error: &LmError) {
    for job in jobs {
        match job {
            Job::Load(reply) => {
                let _ = reply.send(Err(error.clone()));
            }
            Job::Complete { reply, .. } => {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }
}

/// The path of the weights (a GGUF path, or a model name pulled first when not installed).
fn weights_path(spec: &ModelSpec) -> Result<PathBuf, String> {
    models::resolve(&spec.model).map_err(|error| match error.help() {
        Some(help) => format!("{error} ({help})"),
        None => error.to_string(),
    })
}

/// llama.cpp's process-wide initialisation, done once. Its log goes to [`LOG`] instead of
/// stderr, so a failure can quote what llama.cpp said.
fn backend() -> Result<&'static LlamaBackend, String> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            let backend = LlamaBackend::init()
                .map_err(|error| format!("cannot initialise llama.cpp: {error}"))?;
            // SAFETY: `capture_log` has the signature llama.cpp expects and stays valid for the
            // life of the process; it ignores `user_data`.
            unsafe { llama_cpp_sys_2::llama_log_set(Some(capture_log), std::ptr::null_mut()) };
            Ok(backend)
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The last lines llama.cpp logged at warning level or above.
static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

unsafe extern "C" fn capture_log(level: u32, text: *const c_char, _user_data: *mut c_void) {
    if text.is_null() || level < llama_cpp_sys_2::GGML_LOG_LEVEL_WARN {
        return;
    }
    // SAFETY: llama.cpp passes a NUL-terminated string that lives for the call.
    let line = unsafe { CStr::from_ptr(text) }.to_string_lossy();
    let line = line.trim();
    if line.is_empty() {
        return;
    }
    let mut log = LOG.lock().unwrap_or_else(|poison| poison.into_inner());
    if log.len() >= 8 {
        log.remove(0);
    }
    log.push(line.to_owned());
}

/// What llama.cpp last complained about, for an error message; clears it.
fn llama_said() -> String {
    let mut log = LOG.lock().unwrap_or_else(|poison| poison.into_inner());
    let said = log.join("; ");
    log.clear();
    if said.is_empty() {
        String::new()
    } else {
        format!(" (llama.cpp: {said})")
    }
}

fn load(backend: &LlamaBackend, path: &Path) -> Result<LlamaModel, String> {
    llama_said();
    LlamaModel::load_from_file(backend, path, &LlamaModelParams::default()).map_err(|error| {
        format!(
            "cannot load `{}`: {error}{}; is it a complete GGUF model file? `dspex models pull \
             NAME` downloads a known model again",
            path.display(),
            llama_said()
        )
    })
}

/// A loaded model with its chat template, and a context that grows on demand.
struct Engine<'m> {
    backend: &'static LlamaBackend,
    model: &'m LlamaModel,
    template: LlamaChatTemplate,
    path: &'m Path,
    threads: i32,
    context: Option<Context<'m>>,
}

/// A context and the tokens its KV cache holds for sequence 0.
struct Context<'m> {
    inner: LlamaContext<'m>,
    size: u32,
    cached: Vec<LlamaToken>,
    /// The batch index of the logits to sample from.
    last: i32,
}

impl<'m> Engine<'m> {
    fn new(
        backend: &'static LlamaBackend,
        model: &'m LlamaModel,
        path: &'m Path,
        threads: i32,
    ) -> Result<Engine<'m>, String> {
        let template = model.chat_template(None).map_err(|_| {
            format!(
                "`{}` has no chat template in its metadata (`tokenizer.chat_template`); dspex \
                 needs an instruction-tuned (chat) model",
                path.display()
            )
        })?;
        Ok(Engine {
            backend,
            model,
            template,
            path,
            threads,
            context: None,
        })
    }

    /// The prompt text for `request`'s messages, by the model's chat template.
    fn prompt(&self, request: &Request) -> Result<String, String> {
        let messages = request
            .messages
            .iter()
            .map(|message| {
                LlamaChatMessage::new(message.role.name().to_owned(), message.content.clone())
                    .map_err(|_| "a message contains a NUL character".to_owned())
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.model
            .apply_chat_template(&self.template, &messages, true)
            .map_err(|error| {
                format!(
                    "the chat template of `{}` cannot be applied: {error}",
                    self.path.display()
                )
            })
    }

    /// A context of at least `needed` tokens, keeping the current one when it is big enough.
    fn context(&mut self, needed: u32) -> Result<&mut Context<'m>, String> {
        let big_enough = self.context.as_ref().is_some_and(|c| c.size >= needed);
        if !big_enough {
            self.context = None;
            let size = needed
                .next_power_of_two()
                .max(MIN_CONTEXT)
                .min(self.model.n_ctx_train().max(needed));
            // An 8-bit KV cache halves its memory (12 MB of a 1,024-token context for
            // SmolLM2-135M) at no measurable cost in speed (bench/local.sh).
            let params = LlamaContextParams::default()
                .with_n_ctx(NonZeroU32::new(size))
                .with_n_batch(BATCH as u32)
                .with_n_ubatch(BATCH as u32)
                .with_type_k(KvCacheType::Q8_0)
                .with_type_v(KvCacheType::Q8_0)
                .with_n_threads(self.threads)
                .with_n_threads_batch(self.threads);
            let inner = self
                .model
                .new_context(self.backend, params)
                .map_err(|error| {
                    format!(
                        "cannot create a context of {size} tokens: {error}{}",
                        llama_said()
                    )
                })?;
            self.context = Some(Context {
                inner,
                size,
                cached: Vec::new(),
                last: 0,
            });
        }
        self.context.as_mut().ok_or_else(|| "no context".to_owned())
    }

    fn complete(
        &mut self,
        request: &Request,
        reply: &oneshot::Sender<Result<Completion, LmError>>,
    ) -> Result<Completion, String> {
        let prompt = self.prompt(request)?;
        let vocab = self.model.vocab();
        let tokens = vocab.tokenize(prompt.as_bytes(), true, true);
        let trained = self.model.n_ctx_train();
        let prompt_tokens = tokens.len() as u32;
        if prompt_tokens >= trained {
            return Err(format!(
                "the prompt is {prompt_tokens} tokens but the model's context holds {trained}; \
                 shorten the inputs or use fewer demos"
            ));
        }
        let max_tokens = request
            .max_tokens
            .unwrap_or(DEFAULT_MAX_TOKENS)
            .min(trained - prompt_tokens);
        let grammar = match &request.grammar {
            Some(gbnf) => Some(LlamaSampler::grammar(self.model, gbnf, "root").map_err(
                |error| {
                    format!(
                        "the output grammar is not valid GBNF: {error}{}",
                        llama_said()
                    )
                },
            )?),
            None => None,
        };
        let temperature = request.temperature.unwrap_or(0.0);
        let penalties = || {
            LlamaSampler::penalties(
                self.model.n_vocab(),
                REPEAT_LAST_N,
                REPEAT_PENALTY,
                0.0,
                0.0,
            )
        };
        let mut sampler = if temperature <= 0.0 {
            LlamaSampler::chain_simple([penalties(), LlamaSampler::greedy()])
        } else {
            let seed = request
                .seed
                .map_or_else(|| fastrand::u32(..), |seed| seed as u32);
            LlamaSampler::chain_simple([
                penalties(),
                LlamaSampler::temp(temperature as f32),
                LlamaSampler::dist(seed),
            ])
        };
        let model = self.model;
        let eog = |token: LlamaToken| model.vocab().is_eog(token);
        let piece = |token: LlamaToken| model.vocab().token_to_piece(token, false, None);
        let context = self.context(prompt_tokens + max_tokens)?;
        context.feed(&tokens)?;

        let mut generated: Vec<u8> = Vec::new();
        let mut output_tokens = 0u64;
        let mut finish = "length";
        let mut grammar = grammar;
        while output_tokens < u64::from(max_tokens) {
            if reply.is_closed() {
                return Err("cancelled".to_owned());
            }
            let token = context.sample(&mut sampler, grammar.as_mut(), eog)?;
            if eog(token) {
                finish = "stop";
                break;
            }
            output_tokens += 1;
            generated.extend_from_slice(&piece(token));
            if let Some(end) = stop_at(&generated, &request.stop) {
                generated.truncate(end);
                finish = "stop";
                break;
            }
            context.feed_one(token)?;
        }
        let text = String::from_utf8_lossy(&generated).into_owned();
        Ok(Completion {
            text,
            usage: Usage {
                input_tokens: u64::from(prompt_tokens),
                output_tokens,
            },
            finish_reason: Some(finish.to_owned()),
            constrained: grammar.is_some(),
        })
    }
}

impl Context<'_> {
    /// Puts `tokens` in the KV cache, reusing the longest prefix already there, and decodes
    /// the rest; the last token's logits are ready to sample.
    fn feed(&mut self, tokens: &[LlamaToken]) -> Result<(), String> {
        let mut common = self
            .cached
            .iter()
            .zip(tokens)
            .take_while(|(a, b)| a == b)
            .count();
        // The last prompt token is always decoded again, for its logits.
        if common == tokens.len() {
            common -= 1;
        }
        if common < self.cached.len()
            && !self
                .inner
                .clear_kv_cache_seq(Some(0), Some(common as u32), None)
                .unwrap_or(false)
        {
            self.inner.clear_kv_cache();
            common = 0;
        }
        self.cached.truncate(common);
        let rest = &tokens[common..];
        let mut batch = LlamaBatch::new(BATCH, 1);
        for (chunk_index, chunk) in rest.chunks(BATCH).enumerate() {
            batch.clear();
            let last_chunk = (chunk_index + 1) * BATCH >= rest.len();
            for (i, &token) in chunk.iter().enumerate() {
                let pos = (common + chunk_index * BATCH + i) as i32;
                let logits = last_chunk && i + 1 == chunk.len();
                batch
                    .add(token, pos, &[0], logits)
                    .map_err(|error| format!("batch: {error}"))?;
            }
            self.inner
                .decode(&mut batch)
                .map_err(|error| format!("llama.cpp could not decode the prompt: {error}"))?;
        }
        self.cached.extend_from_slice(rest);
        self.last = batch.n_tokens() - 1;
        Ok(())
    }

    /// Decodes one generated token after the cached ones.
    fn feed_one(&mut self, token: LlamaToken) -> Result<(), String> {
        let mut batch = LlamaBatch::new(1, 1);
        batch
            .add(token, self.cached.len() as i32, &[0], true)
            .map_err(|error| format!("batch: {error}"))?;
        self.inner
            .decode(&mut batch)
            .map_err(|error| format!("llama.cpp could not decode: {error}"))?;
        self.cached.push(token);
        self.last = 0;
        Ok(())
    }

    /// The next token. With a grammar, the sampler's own choice is kept when the grammar allows
    /// it; otherwise the whole vocabulary is filtered by the grammar and sampled again.
    /// The end-of-generation token is never fed to the grammar: it ends decoding, and llama.cpp
    /// aborts when a grammar that is not complete accepts it.
    fn sample(
        &mut self,
        sampler: &mut LlamaSampler,
        grammar: Option<&mut LlamaSampler>,
        eog: impl Fn(LlamaToken) -> bool,
    ) -> Result<LlamaToken, String> {
        let mut candidates = self.inner.token_data_array_ith(self.last);
        candidates.apply_sampler(sampler);
        let mut token = candidates
            .selected_token()
            .ok_or_else(|| "the sampler chose no token".to_owned())?;
        if let Some(grammar) = grammar {
            let mut single =
                LlamaTokenDataArray::new(vec![LlamaTokenData::new(token, 1.0, 0.0)], false);
            single.apply_sampler(grammar);
            if !single
                .data
                .first()
                .is_some_and(|d| d.logit() > f32::NEG_INFINITY)
            {
                let mut allowed = self.inner.token_data_array_ith(self.last);
                allowed.apply_sampler(grammar);
                allowed.apply_sampler(sampler);
                token = allowed
                    .selected_token()
                    .ok_or_else(|| "the grammar allows no token here".to_owned())?;
            }
            if !eog(token) {
                grammar
                    .try_accept(token)
                    .map_err(|error| format!("the grammar rejected a token it allowed: {error}"))?;
            }
        }
        sampler.accept(token);
        Ok(token)
    }
}

/// Where the first stop sequence in `text` starts, if one occurs.
fn stop_at(text: &[u8], stops: &[String]) -> Option<usize> {
    stops
        .iter()
        .filter(|stop| !stop.is_empty())
        .filter_map(|stop| {
            text.windows(stop.len())
                .position(|window| window == stop.as_bytes())
        })
        .min()
}
