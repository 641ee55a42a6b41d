//! Running a program: format the prompt, ask the LM (or the cache), parse the reply into typed
//! outputs, and describe everything that happened as one [`Execution`] for the store. The
//! runtime holds no CLI state, so a server can share one across requests.

use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;

use super::artifact::Artifact;
use super::signature::predictor_signature;
use crate::adapter::parse::{self, ParseError};
use crate::adapter::{self, AdapterKind, PromptField, PromptSignature, Template, Values};
use crate::codegen::json_schema::{self, Side};
use crate::digest::{sha256_hex, sha256_json_hex};
use crate::lm::{Completion, LmError, Provider, ProviderKind, Request, ResponseFormat, Usage};
use crate::schema::{Document, Field, Module, Signature};
use crate::store::{CallRecord, Execution, RepairRecord, Status, Store, StoreError};

/// How the response cache is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMode {
    /// Neither read nor written.
    Off,
    /// Read first; replies from the LM are written.
    On,
    /// Only read: a miss is an error, the LM is never called.
    Offline,
}

/// Why an execution failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Lm(#[from] LmError),
    #[error("{0}")]
    Parse(Box<ParseError>),
    #[error("offline: no cached reply for this request to model `{model}`")]
    Offline { model: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RunError {
    /// What to do about it.
    pub fn help(&self) -> Option<String> {
        match self {
            RunError::Lm(error) => error.help(),
            RunError::Parse(error) => error.help.clone(),
            RunError::Offline { .. } => Some(
                "run once without `--offline` to fill the cache (same inputs, model, and \
                 settings), or drop `--offline`"
                    .to_owned(),
            ),
            RunError::Store(_) => None,
        }
    }

    /// The raw LM reply, when the failure is about it.
    pub fn raw_reply(&self) -> Option<&str> {
        match self {
            RunError::Parse(error) => Some(&error.reply),
            _ => None,
        }
    }
}

/// What runs: a signature of a document under a module, with an optional artifact.
#[derive(Debug, Clone)]
pub struct Target {
    pub document: Arc<Document>,
    /// The program's name, or the signature's when it runs under `predict`.
    pub name: String,
    pub signature: String,
    pub module: Module,
    /// The file as given, and the SHA-256 of its bytes.
    pub file: String,
    pub source_hash: String,
    /// The predictor: its signature (module fields added, artifact applied) and demos.
    pub(crate) predictor: Predictor,
}

/// One predictor: the signature it sends and its demos, with what its calls share, built on
/// the first call under each adapter and reused by every later one. The fields are private and
/// set once, so what is cached can never go stale.
#[derive(Debug, Clone)]
pub(crate) struct Predictor {
    prompt: PromptSignature,
    demos: Vec<Values>,
    /// By adapter: chat, json.
    shapes: [OnceLock<Shape>; 2],
}

/// What every call of one predictor shares under one adapter.
#[derive(Debug, Clone)]
struct Shape {
    template: Template,
    /// The output fields, as the parser checks them.
    fields: Vec<Field>,
    /// Structured outputs for the JSON adapter; `Text` for chat.
    response_format: ResponseFormat,
    /// The grammar, for a provider that constrains its output; made on its first use.
    grammar: OnceLock<String>,
}

impl Predictor {
    fn new(prompt: PromptSignature, demos: Vec<Values>) -> Predictor {
        Predictor {
            prompt,
            demos,
            shapes: Default::default(),
        }
    }

    fn shape(&self, adapter: AdapterKind, document: &Document) -> &Shape {
        let index = match adapter {
            AdapterKind::Chat => 0,
            AdapterKind::Json => 1,
        };
        self.shapes[index].get_or_init(|| Shape {
            template: Template::new(adapter, document, &self.prompt, &self.demos),
            fields: self.prompt.output_fields(),
            response_format: match adapter {
                AdapterKind::Chat => ResponseFormat::Text,
                AdapterKind::Json => response_format(document, &self.prompt),
            },
            grammar: OnceLock::new(),
        })
    }
}

impl Target {
    /// `module` over `signature` of `document`, with `artifact`'s instructions and demos.
    pub fn new(
        document: Arc<Document>,
        name: &str,
        signature: &Signature,
        module: Module,
        artifact: Option<(&Artifact, &std::path::Path)>,
        file: &str,
        source: &[u8],
    ) -> Result<Target, super::artifact::ArtifactError> {
        let mut prompt = predictor_signature(module, signature);
        let mut demos = Vec::new();
        if let Some((artifact, path)) = artifact {
            prompt = artifact.apply(prompt, path, module)?;
            demos = artifact.demos();
        }
        Ok(Target {
            name: name.to_owned(),
            signature: signature.name.clone(),
            module,
            file: file.to_owned(),
            source_hash: sha256_hex(source),
            predictor: Predictor::new(prompt, demos),
            document,
        })
    }

    /// The input fields the caller must give (a comparison's attempts are made here).
    pub fn input_fields(&self) -> Vec<PromptField> {
        self.predictor
            .prompt
            .inputs
            .iter()
            .filter(|f| {
                !(matches!(self.module, Module::MultiChainComparison { .. })
                    && f.name.starts_with("reasoning_attempt_"))
            })
            .cloned()
            .collect()
    }
}

/// Shared by every execution of a command (or a server).
pub struct Runtime {
    pub provider: Arc<dyn Provider>,
    pub store: Option<Arc<dyn Store>>,
    pub cache: CacheMode,
    pub adapter: AdapterKind,
}

/// An execution's record and, when it failed, the error with its details.
pub struct Finished {
    pub execution: Execution,
    pub error: Option<RunError>,
}

/// What one execution accumulates.
#[derive(Default)]
struct Trace {
    calls: Vec<CallRecord>,
    repairs: Vec<RepairRecord>,
    usage: Usage,
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

impl Runtime {
    /// Runs `target` on `inputs` and describes the execution; never fails itself.
    pub async fn execute(&self, target: &Target, inputs: Values, batch: Option<&str>) -> Finished {
        let started_at = now_millis();
        let clock = Instant::now();
        let mut trace = Trace::default();
        let result = match target.module {
            Module::Predict | Module::ChainOfThought => {
                self.predict(target, &target.predictor, &inputs, 0, None, &mut trace)
                    .await
            }
            Module::BestOfN { n } => self.best_of_n(target, &inputs, n, &mut trace).await,
            Module::MultiChainComparison { m } => {
                self.compare(target, &inputs, m, &mut trace).await
            }
        };
        let spec = self.provider.spec();
        let cost = spec.price.map(|price| price.cost(trace.usage));
        let (outputs, status, error) = match result {
            Ok(outputs) => (Some(Value::Object(outputs)), Status::Success, None),
            Err(error) => (None, Status::Failed, Some(error)),
        };
        let cache_hit = !trace.calls.is_empty() && trace.calls.iter().all(|c| c.cache_hit);
        let execution = Execution {
            id: 0,
            started_at,
            finished_at: now_millis(),
            file: target.file.clone(),
            program: target.name.clone(),
            signature: target.signature.clone(),
            module: target.module.name().to_owned(),
            source_hash: target.source_hash.clone(),
            model: spec.name.clone(),
            provider_model: format!("{}/{}", spec.provider.name(), spec.model),
            inputs: Value::Object(inputs),
            outputs,
            status,
            error: error.as_ref().map(ToString::to_string),
            latency_ms: clock.elapsed().as_secs_f64() * 1000.0,
            usage: trace.usage,
            cost,
            cache_hit,
            calls: trace.calls,
            repairs: trace.repairs,
            batch: batch.map(str::to_owned),
        };
        Finished { execution, error }
    }

    /// One predictor call with the configured adapter; when a chat reply cannot be parsed, one
    /// more call with the JSON adapter (as DSPy's `ChatAdapter` falls back).
    #[allow(clippy::too_many_arguments)]
    async fn predict(
        &self,
        target: &Target,
        predictor: &Predictor,
        inputs: &Values,
        rollout: u32,
        temperature: Option<f64>,
        trace: &mut Trace,
    ) -> Result<Values, RunError> {
        let first = self
            .call(
                target,
                predictor,
                inputs,
                self.adapter,
                rollout,
                temperature,
                trace,
            )
            .await;
        match first {
            Err(RunError::Parse(chat_error)) if self.adapter == AdapterKind::Chat => {
                let fallback = self
                    .call(
                        target,
                        predictor,
                        inputs,
                        AdapterKind::Json,
                        rollout,
                        temperature,
                        trace,
                    )
                    .await;
                match fallback {
                    // The chat reply's problems say which field was missing or wrong; the
                    // JSON retry's own failure adds little, and both calls are recorded.
                    Err(RunError::Parse(_)) => Err(RunError::Parse(chat_error)),
                    // The retry could not be made (the LM failed, or `--offline` has no reply
                    // for it): the chat reply is still what went wrong, with the raw text.
                    Err(error @ (RunError::Lm(_) | RunError::Offline { .. })) => {
                        let mut chat_error = chat_error;
                        let retry = format!("the retry with the JSON adapter failed: {error}");
                        chat_error.help = Some(match chat_error.help.take() {
                            Some(help) => format!("{help}; {retry}"),
                            None => retry,
                        });
                        Err(RunError::Parse(chat_error))
                    }
                    other => other,
                }
            }
            other => other,
        }
    }

    /// One LM call through `adapter`. An OpenAI-compatible server that rejects the strict
    /// schema of structured outputs (HTTP 400 or 422: many local servers have no such mode) is
    /// asked again in JSON mode, as DSPy's `JSONAdapter` does; both calls are recorded.
    #[allow(clippy::too_many_arguments)]
    async fn call(
        &self,
        target: &Target,
        predictor: &Predictor,
        inputs: &Values,
        adapter: AdapterKind,
        rollout: u32,
        temperature: Option<f64>,
        trace: &mut Trace,
    ) -> Result<Values, RunError> {
        let shape = predictor.shape(adapter, &target.document);
        let structured = matches!(shape.response_format, ResponseFormat::JsonSchema { .. })
            && self.provider.spec().provider == ProviderKind::OpenAi;
        let first = self
            .exchange(
                target,
                predictor,
                inputs,
                adapter,
                shape.response_format.clone(),
                rollout,
                temperature,
                trace,
            )
            .await;
        match first {
            Err(RunError::Lm(LmError::Status {
                status: 400 | 422, ..
            })) if structured => {
                self.exchange(
                    target,
                    predictor,
                    inputs,
                    adapter,
                    ResponseFormat::JsonObject,
                    rollout,
                    temperature,
                    trace,
                )
                .await
            }
            other => other,
        }
    }

    /// Sends one request (or answers it from the cache), records the call and parses the reply.
    #[allow(clippy::too_many_arguments)]
    async fn exchange(
        &self,
        target: &Target,
        predictor: &Predictor,
        inputs: &Values,
        adapter: AdapterKind,
        response_format: ResponseFormat,
        rollout: u32,
        temperature: Option<f64>,
        trace: &mut Trace,
    ) -> Result<Values, RunError> {
        let spec = self.provider.spec();
        let shape = predictor.shape(adapter, &target.document);
        let mut request = Request::new(shape.template.messages(&predictor.prompt, inputs));
        request.temperature = temperature.or(spec.temperature);
        request.max_tokens = spec.max_tokens;
        request.seed = spec.seed;
        request.response_format = response_format;
        if self.provider.constrains_output() {
            let grammar = shape.grammar.get_or_init(|| {
                adapter::grammar::gbnf(adapter, &target.document, &predictor.prompt)
            });
            request.grammar = Some(grammar.clone());
        }
        let key = match self.cache {
            CacheMode::Off => None,
            CacheMode::On | CacheMode::Offline => {
                cache_key(self.provider.as_ref(), &request, rollout)
            }
        };
        let clock = Instant::now();
        let cached = match (&key, &self.store) {
            (Some(key), Some(store)) => store.cache_get(key)?,
            _ => None,
        };
        let cache_hit = cached.is_some();
        let completion: Result<Completion, RunError> = match cached {
            Some(completion) => Ok(completion),
            None if self.cache == CacheMode::Offline => Err(RunError::Offline {
                model: spec.name.clone(),
            }),
            None => self
                .provider
                .complete(&request)
                .await
                .map_err(RunError::from),
        };
        let latency_ms = clock.elapsed().as_secs_f64() * 1000.0;
        let mut record = CallRecord {
            adapter: adapter.name().to_owned(),
            messages: request.messages,
            raw: None,
            usage: Usage::default(),
            cost: None,
            latency_ms,
            cache_hit,
            constrained: false,
            error: None,
        };
        let completion = match completion {
            Ok(completion) => completion,
            Err(error) => {
                record.error = Some(error.to_string());
                trace.calls.push(record);
                return Err(error);
            }
        };
        if let (false, CacheMode::On, Some(key), Some(store)) =
            (cache_hit, self.cache, &key, &self.store)
        {
            store.cache_put(key, &completion)?;
        }
        record.raw = Some(completion.text.clone());
        record.constrained = completion.constrained;
        if !cache_hit {
            record.usage = completion.usage;
            record.cost = spec.price.map(|price| price.cost(completion.usage));
            trace.usage += completion.usage;
        }
        let fields = &shape.fields;
        let parsed = match adapter {
            AdapterKind::Chat => parse::parse_chat(&target.document, fields, &completion.text),
            AdapterKind::Json => parse::parse_json(&target.document, fields, &completion.text),
        };
        match parsed {
            Ok(parsed) => {
                trace
                    .repairs
                    .extend(parsed.repairs.into_iter().map(|repair| RepairRecord {
                        path: repair.path,
                        description: repair.description,
                    }));
                trace.calls.push(record);
                Ok(parsed.values)
            }
            Err(error) => {
                record.error = Some(error.to_string());
                trace.calls.push(record);
                Err(RunError::Parse(Box::new(error)))
            }
        }
    }

    /// `best_of_n`: up to `n` attempts at temperature 1.0 (each its own cache entry, as DSPy's
    /// rollout ids), keeping the first whose reply parses and validates.
    async fn best_of_n(
        &self,
        target: &Target,
        inputs: &Values,
        n: u32,
        trace: &mut Trace,
    ) -> Result<Values, RunError> {
        let mut last_error = None;
        for rollout in 0..n.max(1) {
            match self
                .predict(target, &target.predictor, inputs, rollout, Some(1.0), trace)
                .await
            {
                Ok(outputs) => return Ok(outputs),
                Err(error @ (RunError::Parse(_) | RunError::Lm(_))) => last_error = Some(error),
                Err(other) => return Err(other),
            }
        }
        Err(last_error.unwrap_or(RunError::Offline {
            model: self.provider.spec().name.clone(),
        }))
    }

    /// `multi_chain_comparison`: `m` chain-of-thought attempts (temperature 1.0, one rollout
    /// each), then one comparing call at DSPy's temperature 0.7 over the attempts, written as
    /// DSPy's `MultiChainComparison.forward` writes them.
    async fn compare(
        &self,
        target: &Target,
        inputs: &Values,
        m: u32,
        trace: &mut Trace,
    ) -> Result<Values, RunError> {
        let signature = target
            .document
            .signature(&target.signature)
            .cloned()
            .unwrap_or_else(|| Signature::new(target.signature.clone(), Vec::new(), Vec::new()));
        let attempt_predictor = Predictor::new(
            predictor_signature(Module::ChainOfThought, &signature),
            Vec::new(),
        );
        let last_output = signature
            .outputs
            .last()
            .map(|f| f.name.clone())
            .unwrap_or_default();
        let mut comparison_inputs = inputs.clone();
        for index in 1..=m {
            let attempt = self
                .predict(
                    target,
                    &attempt_predictor,
                    inputs,
                    index - 1,
                    Some(1.0),
                    trace,
                )
                .await?;
            let rationale = attempt
                .get("rationale")
                .or_else(|| attempt.get("reasoning"))
                .map(first_line)
                .unwrap_or_default();
            let answer = attempt
                .get(&last_output)
                .map(first_line)
                .unwrap_or_default();
            comparison_inputs.insert(
                format!("reasoning_attempt_{index}"),
                Value::String(format!(
                    "«I'm trying to {rationale} I'm not sure but my prediction is {answer}»"
                )),
            );
        }
        self.predict(
            target,
            &target.predictor,
            &comparison_inputs,
            0,
            Some(0.7),
            trace,
        )
        .await
    }
}

/// `str(value).strip().split("\n")[0].strip()`.
fn first_line(value: &Value) -> String {
    let text = adapter::python::str_of(value);
    let stripped = adapter::python::strip(&text);
    let line = stripped.split('\n').next().unwrap_or_default();
    adapter::python::strip(line).to_owned()
}

/// Structured outputs with the strict schema of the outputs; JSON mode when the outputs have
/// a type strict mode cannot express (maps, `json`), as DSPy's `JSONAdapter` does.
fn response_format(document: &Document, prompt: &PromptSignature) -> ResponseFormat {
    let outputs = prompt.output_fields();
    let signature = Signature::new("DSPyProgramOutputs", Vec::new(), outputs);
    match json_schema::signature_schema(document, &signature, Side::Outputs, true) {
        Ok(schema) => ResponseFormat::JsonSchema {
            name: "DSPyProgramOutputs".to_owned(),
            schema,
        },
        Err(_) => ResponseFormat::JsonObject,
    }
}

/// The cache key: a SHA-256 over the provider, base URL, model, the whole request and the
/// rollout, never over credentials (the spec holds only the key's variable name, and that is
/// left out too). The hashed text is the JSON of [`KeyMaterial`], hashed as it is serialized.
/// `None` if the request cannot be serialized (it always can: its maps have string keys); such
/// a request is neither looked up nor cached.
pub fn cache_key(provider: &dyn Provider, request: &Request, rollout: u32) -> Option<String> {
    let spec = provider.spec();
    let material = KeyMaterial {
        provider: spec.provider,
        base_url: &spec.base_url,
        model: &spec.model,
        request,
        rollout,
    };
    sha256_json_hex(&material).ok()
}

/// What a cache key covers, in the order it is hashed. Keys stored by earlier versions hashed
/// the same text (built as a `serde_json::Value` then), so their entries still hit.
#[derive(Serialize)]
struct KeyMaterial<'a> {
    provider: ProviderKind,
    base_url: &'a str,
    model: &'a str,
    request: &'a Request,
    rollout: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lm::{Message, Role};

    /// The key text as versions before the streamed hash built it; stored entries keyed that
    /// way must still hit.
    fn key_as_built_before(
        provider: ProviderKind,
        base_url: &str,
        model: &str,
        request: &Request,
        rollout: u32,
    ) -> String {
        let material = serde_json::json!({
            "provider": provider,
            "base_url": base_url,
            "model": model,
            "request": request,
            "rollout": rollout,
        });
        sha256_hex(material.to_string().as_bytes())
    }

    #[test]
    fn cache_keys_are_unchanged_by_hashing_while_serializing() {
        let messages = vec![
            Message::new(
                Role::System,
                "Your input fields are:\n1. `q` (str) \"quoted\" \u{e9}",
            ),
            Message::new(Role::User, "[[ ## q ## ]]\nWhat is 2+2?\t\\"),
        ];
        let mut plain = Request::new(messages.clone());
        plain.temperature = Some(0.7);
        let mut schema = Request::new(messages);
        schema.max_tokens = Some(512);
        schema.seed = Some(42);
        schema.stop = vec!["\n\n".to_owned()];
        schema.grammar = Some("root ::= \"a\"".to_owned());
        schema.response_format = ResponseFormat::JsonSchema {
            name: "qa".to_owned(),
            schema: serde_json::json!({
                "type": "object",
                "properties": {"z": {"type": "number"}, "a": {"type": "string"}},
                "required": ["z", "a"],
                "additionalProperties": false,
            }),
        };
        let json_mode = Request {
            response_format: ResponseFormat::JsonObject,
            temperature: Some(1e-7),
            ..plain.clone()
        };
        for (request, rollout) in [(&plain, 0), (&schema, 3), (&json_mode, 1)] {
            for provider in [ProviderKind::OpenAi, ProviderKind::Anthropic] {
                let material = KeyMaterial {
                    provider,
                    base_url: "http://127.0.0.1:8080/v1",
                    model: "gpt-4o-mini",
                    request,
                    rollout,
                };
                assert_eq!(
                    sha256_json_hex(&material).unwrap(),
                    key_as_built_before(
                        provider,
                        "http://127.0.0.1:8080/v1",
                        "gpt-4o-mini",
                        request,
                        rollout
                    ),
                    "{request:?}"
                );
            }
        }
    }
}
