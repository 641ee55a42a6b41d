//! A mock language-model server for tests and benchmarks: a real HTTP/1.1 server with keep-alive
//! on 127.0.0.1 that speaks OpenAI chat completions or Anthropic Messages, answering each request
//! as a script says, including the ways real servers fail (error statuses, hangs, resets,
//! truncated and non-JSON bodies).
//!
//! The server runs on its own thread with its own tokio runtime, so synchronous tests that spawn
//! the `dspex` binary and async tests alike can use it; it stops when the [`MockLm`] is dropped.
//!
//! ```ignore
//! let mock = MockLm::openai(sequence([Reply::status(500, json!({})), Reply::text("Paris")]));
//! // point a client at mock.url() ...
//! assert_eq!(mock.hits(), 2);
//! assert_eq!(mock.requests()[0].body()["model"], "gpt-4o-mini");
//! ```

// Each test crate (and the `mock_lm` example) compiles its own copy and uses only part of it.
#![allow(dead_code)]

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::oneshot;

/// The most header bytes a request may have before the connection is dropped.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Connections the kernel queues before the server accepts them.
const LISTEN_BACKLOG: u32 = 1024;

/// The body of [`Reply::NotJson`]: what a misconfigured proxy or web server sends.
pub const NOT_JSON_BODY: &str =
    "<!DOCTYPE html><html><head><title>Welcome</title></head><body>It works!</body></html>";

/// Which wire protocol the mock speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `POST /v1/chat/completions`.
    OpenAi,
    /// `POST /v1/messages`.
    Anthropic,
}

impl Protocol {
    /// The path the protocol's completions are posted to.
    pub fn completion_path(self) -> &'static str {
        match self {
            Protocol::OpenAi => "/v1/chat/completions",
            Protocol::Anthropic => "/v1/messages",
        }
    }
}

/// One request the mock received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// The request target (`/v1/chat/completions`).
    pub path: String,
    /// Names in lowercase, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body as received (chunked bodies decoded).
    pub raw_body: Vec<u8>,
    /// [`Received::body`], parsed on first use: the benchmark server never needs it.
    parsed_body: OnceLock<Value>,
}

impl Received {
    /// The body parsed as JSON; `Null` when it is empty or not JSON.
    pub fn body(&self) -> &Value {
        self.parsed_body
            .get_or_init(|| serde_json::from_slice(&self.raw_body).unwrap_or(Value::Null))
    }

    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The `model` the body asks for.
    pub fn model(&self) -> Option<&str> {
        self.body().get("model").and_then(Value::as_str)
    }
}

/// How the mock answers one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A well-formed completion of `content`. Usage defaults to [`rough_tokens`] of the
    /// request's messages and of `content`; the finish reason to `stop` (`end_turn`).
    Text {
        content: String,
        usage: Option<(u64, u64)>,
        finish_reason: Option<String>,
    },
    /// A structured answer: Anthropic's forced `respond` tool call with this input, or, for
    /// OpenAI, this JSON as the message content.
    ToolInput(Value),
    /// An error status with a JSON body, and `Retry-After` when set.
    Status {
        code: u16,
        body: Value,
        retry_after: Option<String>,
    },
    /// Any status, content type and body, sent as is.
    Raw {
        code: u16,
        content_type: String,
        body: String,
    },
    /// Read the request and never answer (the connection stays open until the client leaves).
    Hang,
    /// Close the connection without answering, with a TCP reset (`SO_LINGER` 0).
    Reset,
    /// A 200 whose `Content-Length` promises the whole completion, then half of it and a close.
    Truncated,
    /// A 200 with an HTML body.
    NotJson,
    /// A 200 completion with no choices (Anthropic: no content blocks).
    EmptyChoices,
    /// A 200 completion whose content is `null`.
    NullContent,
    /// The reply, after a pause.
    Delayed(Duration, Box<Reply>),
    /// The reply, sent as if the connection stayed open, then a close: a server that drops
    /// idle connections.
    ThenClose(Box<Reply>),
    /// The reply with `connection: close`, then a close.
    Closing(Box<Reply>),
}

impl Reply {
    /// A well-formed completion of `content`.
    pub fn text(content: impl Into<String>) -> Reply {
        Reply::Text {
            content: content.into(),
            usage: None,
            finish_reason: None,
        }
    }

    /// A structured answer (see [`Reply::ToolInput`]).
    pub fn tool_input(input: Value) -> Reply {
        Reply::ToolInput(input)
    }

    /// An error status with a JSON body.
    pub fn status(code: u16, body: Value) -> Reply {
        Reply::Status {
            code,
            body,
            retry_after: None,
        }
    }

    /// Any status, content type and body.
    pub fn raw(code: u16, content_type: &str, body: impl Into<String>) -> Reply {
        Reply::Raw {
            code,
            content_type: content_type.to_owned(),
            body: body.into(),
        }
    }

    /// `reply` after `delay`.
    pub fn delayed(delay: Duration, reply: Reply) -> Reply {
        Reply::Delayed(delay, Box::new(reply))
    }

    /// `reply`, then the connection closed without notice.
    pub fn then_close(reply: Reply) -> Reply {
        Reply::ThenClose(Box::new(reply))
    }

    /// `reply`, announcing with `connection: close` that the connection closes after it.
    pub fn closing(reply: Reply) -> Reply {
        Reply::Closing(Box::new(reply))
    }

    /// This status reply with a `Retry-After` header (`"2"`, or an HTTP-date).
    pub fn with_retry_after(self, value: &str) -> Reply {
        match self {
            Reply::Status { code, body, .. } => Reply::Status {
                code,
                body,
                retry_after: Some(value.to_owned()),
            },
            Reply::Delayed(delay, reply) => Reply::delayed(delay, reply.with_retry_after(value)),
            other => other,
        }
    }

    /// This text reply with the given token counts.
    pub fn with_usage(self, input_tokens: u64, output_tokens: u64) -> Reply {
        match self {
            Reply::Text {
                content,
                finish_reason,
                ..
            } => Reply::Text {
                content,
                usage: Some((input_tokens, output_tokens)),
                finish_reason,
            },
            Reply::Delayed(delay, reply) => {
                Reply::delayed(delay, reply.with_usage(input_tokens, output_tokens))
            }
            other => other,
        }
    }

    /// This text reply with the given finish reason (`length`, `max_tokens`, ...).
    pub fn with_finish_reason(self, reason: &str) -> Reply {
        match self {
            Reply::Text { content, usage, .. } => Reply::Text {
                content,
                usage,
                finish_reason: Some(reason.to_owned()),
            },
            Reply::Delayed(delay, reply) => Reply::delayed(delay, reply.with_finish_reason(reason)),
            other => other,
        }
    }
}

/// A script that plays `replies` in order, then repeats the last one.
pub fn sequence(
    replies: impl IntoIterator<Item = Reply>,
) -> impl Fn(&Received) -> Reply + Send + Sync + 'static {
    let replies: Vec<Reply> = replies.into_iter().collect();
    assert!(!replies.is_empty(), "a sequence needs at least one reply");
    let next = AtomicUsize::new(0);
    move |_| {
        let index = next.fetch_add(1, Ordering::SeqCst).min(replies.len() - 1);
        replies[index].clone()
    }
}

/// A rough token count: a quarter of the characters, at least 1 for non-empty text.
pub fn rough_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

/// How to run a mock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// 0 for any free port.
    pub port: u16,
    /// Runtime worker threads; 1 runs everything on the server's own thread.
    pub threads: usize,
    /// Whether to keep every request for [`MockLm::requests`] (off for long benchmarks).
    pub record: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            port: 0,
            threads: 1,
            record: true,
        }
    }
}

type Script = dyn Fn(&Received) -> Reply + Send + Sync;

/// What the server's tasks share with the test.
struct State {
    protocol: Protocol,
    script: Box<Script>,
    record: bool,
    requests: Mutex<Vec<Received>>,
    hits: AtomicUsize,
    connections: AtomicUsize,
    /// Connections closed by the server (after a reply that ends them, or a fault).
    closed: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl State {
    /// Counts a request in flight until the returned guard drops.
    fn enter(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(self)
    }
}

struct InFlight<'a>(&'a State);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A running mock server; dropping it stops the server.
pub struct MockLm {
    address: SocketAddr,
    state: Arc<State>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl MockLm {
    /// An OpenAI-compatible mock on a free port, answering as `script` says.
    pub fn openai(script: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> MockLm {
        MockLm::start(Protocol::OpenAi, script, Options::default())
            .unwrap_or_else(|error| panic!("cannot start the mock OpenAI server: {error}"))
    }

    /// An Anthropic Messages mock on a free port, answering as `script` says.
    pub fn anthropic(script: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> MockLm {
        MockLm::start(Protocol::Anthropic, script, Options::default())
            .unwrap_or_else(|error| panic!("cannot start the mock Anthropic server: {error}"))
    }

    /// A mock speaking `protocol`, set up as `options` say.
    pub fn start(
        protocol: Protocol,
        script: impl Fn(&Received) -> Reply + Send + Sync + 'static,
        options: Options,
    ) -> io::Result<MockLm> {
        let runtime = if options.threads <= 1 {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
        } else {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(options.threads)
                .enable_all()
                .build()?
        };
        // A backlog as deep as real servers use (std's is 128): a client opening hundreds of
        // connections at once would otherwise see SYNs dropped and wait a second to resend.
        let listener = {
            let _context = runtime.enter();
            let socket = TcpSocket::new_v4()?;
            socket.set_reuseaddr(true)?;
            socket.bind(SocketAddr::from((Ipv4Addr::LOCALHOST, options.port)))?;
            socket.listen(LISTEN_BACKLOG)?
        };
        let address = listener.local_addr()?;
        let state = Arc::new(State {
            protocol,
            script: Box::new(script),
            record: options.record,
            requests: Mutex::new(Vec::new()),
            hits: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            closed: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let (shutdown, stopped) = oneshot::channel();
        let server_state = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name(format!("mock-lm-{}", address.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::select! {
                        () = accept_loop(listener, server_state) => {}
                        _ = stopped => {}
                    }
                });
                // Dropping the runtime here cancels every connection still open.
            })?;
        Ok(MockLm {
            address,
            state,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The base URL clients use: `http://127.0.0.1:PORT/v1`.
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.address)
    }

    /// The address the server listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Every request received so far, in arrival order (empty when recording is off).
    pub fn requests(&self) -> Vec<Received> {
        self.state
            .requests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// How many requests arrived, on any path.
    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    /// How many connections clients opened (fewer than [`MockLm::hits`] when they keep them
    /// alive).
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// How many connections the server has closed after a reply or a fault.
    pub fn closed(&self) -> usize {
        self.state.closed.load(Ordering::SeqCst)
    }

    /// The most requests that were ever waiting for their reply at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }
}

impl Drop for MockLm {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _already_stopped = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _panicked = thread.join();
        }
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                state.connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve_connection(stream, Arc::clone(&state)));
            }
            // Out of file descriptors, or a connection reset before it was accepted.
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

/// What to do on the socket after a request.
enum Action {
    Send { bytes: Vec<u8>, close: bool },
    Hang,
    Reset,
    Delayed(Duration, Box<Action>),
}

/// Serves the requests of one connection until the client closes it or a reply ends it.
async fn serve_connection(mut stream: TcpStream, state: Arc<State>) {
    let _nodelay = stream.set_nodelay(true);
    let mut buffer = Vec::with_capacity(16 * 1024);
    loop {
        let (received, keep_alive) = match read_request(&mut stream, &mut buffer).await {
            Ok(Some(request)) => request,
            Ok(None) | Err(_) => return,
        };
        state.hits.fetch_add(1, Ordering::SeqCst);
        let _in_flight = state.enter();
        let action = answer(&state, &received, keep_alive);
        if state.record {
            state
                .requests
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(received);
        }
        if !perform(&mut stream, action).await {
            drop(stream);
            state.closed.fetch_add(1, Ordering::SeqCst);
            return;
        }
    }
}

/// Carries out `action`; false when the connection is finished.
async fn perform(stream: &mut TcpStream, mut action: Action) -> bool {
    loop {
        match action {
            Action::Delayed(delay, inner) => {
                tokio::time::sleep(delay).await;
                action = *inner;
            }
            Action::Send { bytes, close } => {
                if stream.write_all(&bytes).await.is_err() {
                    return false;
                }
                if close {
                    let _closed = stream.shutdown().await;
                    return false;
                }
                return true;
            }
            Action::Hang => {
                // Wait, reading and discarding, until the client gives up.
                let mut scratch = [0u8; 1024];
                while matches!(stream.read(&mut scratch).await, Ok(read) if read > 0) {}
                return false;
            }
            Action::Reset => {
                let _linger = stream.set_zero_linger();
                return false;
            }
        }
    }
}

/// The answer to one request: the script's reply on the completion path, a model list on
/// `GET /v1/models`, and 404 elsewhere.
fn answer(state: &State, received: &Received, keep_alive: bool) -> Action {
    let path = received.path.split('?').next().unwrap_or_default();
    if received.method == "POST" && path == state.protocol.completion_path() {
        let reply = (state.script)(received);
        render(state.protocol, received, reply, keep_alive)
    } else if received.method == "GET" && path == "/v1/models" {
        let models = json!({"object": "list", "data": [{"id": "mock", "object": "model"}]});
        json_response(200, &models, &[], keep_alive)
    } else {
        let error = json!({"error": {
            "message": format!("no route for {} {}", received.method, received.path),
            "type": "not_found_error",
        }});
        json_response(404, &error, &[], keep_alive)
    }
}

/// The bytes and socket behaviour of `reply` in `protocol`.
fn render(protocol: Protocol, received: &Received, reply: Reply, keep_alive: bool) -> Action {
    let summary = PromptSummary::of(received);
    let ok = |body: String| Action::Send {
        bytes: response(200, "application/json", &[], body.as_bytes(), keep_alive),
        close: !keep_alive,
    };
    match reply {
        Reply::Text {
            content,
            usage,
            finish_reason,
        } => {
            let usage = usage.unwrap_or_else(|| (summary.prompt_tokens(), rough_tokens(&content)));
            let finish_reason = finish_reason.as_deref();
            ok(completion(
                protocol,
                summary.model(),
                Content::Text(&content),
                usage,
                finish_reason,
            ))
        }
        Reply::ToolInput(input) => {
            let text = input.to_string();
            let usage = (summary.prompt_tokens(), rough_tokens(&text));
            let content = match protocol {
                Protocol::OpenAi => Content::Text(&text),
                Protocol::Anthropic => Content::Tool(&text),
            };
            ok(completion(protocol, summary.model(), content, usage, None))
        }
        Reply::Status {
            code,
            body,
            retry_after,
        } => {
            let headers: Vec<(&str, &str)> = retry_after
                .as_deref()
                .map(|value| ("retry-after", value))
                .into_iter()
                .collect();
            json_response(code, &body, &headers, keep_alive)
        }
        Reply::Raw {
            code,
            content_type,
            body,
        } => Action::Send {
            bytes: response(code, &content_type, &[], body.as_bytes(), keep_alive),
            close: !keep_alive,
        },
        Reply::Hang => Action::Hang,
        Reply::Reset => Action::Reset,
        Reply::Truncated => {
            let usage = (summary.prompt_tokens(), 1);
            let whole = completion(
                protocol,
                summary.model(),
                Content::Text("cut off"),
                usage,
                None,
            );
            let mut bytes = response(200, "application/json", &[], whole.as_bytes(), true);
            bytes.truncate(bytes.len() - whole.len() / 2);
            Action::Send { bytes, close: true }
        }
        Reply::NotJson => Action::Send {
            bytes: response(200, "text/html", &[], NOT_JSON_BODY.as_bytes(), keep_alive),
            close: !keep_alive,
        },
        Reply::EmptyChoices => ok(completion(
            protocol,
            summary.model(),
            Content::Empty,
            (0, 0),
            None,
        )),
        Reply::NullContent => {
            let usage = (summary.prompt_tokens(), 0);
            ok(completion(
                protocol,
                summary.model(),
                Content::Null,
                usage,
                None,
            ))
        }
        Reply::Delayed(delay, reply) => Action::Delayed(
            delay,
            Box::new(render(protocol, received, *reply, keep_alive)),
        ),
        Reply::Closing(reply) => render(protocol, received, *reply, false),
        Reply::ThenClose(reply) => match render(protocol, received, *reply, keep_alive) {
            Action::Send { bytes, .. } => Action::Send { bytes, close: true },
            other => other,
        },
    }
}

/// What a completion body carries.
#[derive(Clone, Copy)]
enum Content<'a> {
    Text(&'a str),
    /// Anthropic's `respond` tool call with this JSON input.
    Tool(&'a str),
    /// `null` content.
    Null,
    /// No choices (Anthropic: no content blocks).
    Empty,
}

/// A completion body in `protocol`. Written out by hand rather than through `serde_json::Value`:
/// this is the benchmark server's hot path.
fn completion(
    protocol: Protocol,
    model: &str,
    content: Content<'_>,
    (input_tokens, output_tokens): (u64, u64),
    finish_reason: Option<&str>,
) -> String {
    let model = json_string(model);
    let mut body = String::with_capacity(320);
    match protocol {
        Protocol::OpenAi => {
            let finish_reason = json_string(finish_reason.unwrap_or("stop"));
            body.push_str(
                r#"{"id":"chatcmpl-mock","object":"chat.completion","created":1700000000,"model":"#,
            );
            body.push_str(&model);
            body.push_str(r#","choices":["#);
            let message = match content {
                Content::Text(text) | Content::Tool(text) => Some(json_string(text)),
                Content::Null => Some("null".to_owned()),
                Content::Empty => None,
            };
            if let Some(message) = message {
                body.push_str(r#"{"index":0,"message":{"role":"assistant","content":"#);
                body.push_str(&message);
                body.push_str(r#"},"logprobs":null,"finish_reason":"#);
                body.push_str(&finish_reason);
                body.push('}');
            }
            body.push_str(&format!(
                r#"],"usage":{{"prompt_tokens":{input_tokens},"completion_tokens":{output_tokens},"total_tokens":{}}}}}"#,
                input_tokens + output_tokens
            ));
        }
        Protocol::Anthropic => {
            let default_reason = match content {
                Content::Tool(_) => "tool_use",
                _ => "end_turn",
            };
            let finish_reason = json_string(finish_reason.unwrap_or(default_reason));
            body.push_str(r#"{"id":"msg_mock","type":"message","role":"assistant","model":"#);
            body.push_str(&model);
            body.push_str(r#","content":"#);
            match content {
                Content::Text(text) => {
                    body.push_str(r#"[{"type":"text","text":"#);
                    body.push_str(&json_string(text));
                    body.push_str("}]");
                }
                Content::Tool(input) => {
                    body.push_str(
                        r#"[{"type":"tool_use","id":"toolu_mock","name":"respond","input":"#,
                    );
                    body.push_str(input);
                    body.push_str("}]");
                }
                Content::Null => body.push_str("null"),
                Content::Empty => body.push_str("[]"),
            }
            body.push_str(r#","stop_reason":"#);
            body.push_str(&finish_reason);
            body.push_str(&format!(
                r#","stop_sequence":null,"usage":{{"input_tokens":{input_tokens},"output_tokens":{output_tokens}}}}}"#
            ));
        }
    }
    body
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

/// What a reply needs from a request body: the model to echo and the prompt's size. Read with
/// a borrowing parse that builds no JSON tree, since the benchmark server does this per request.
#[derive(Default, Deserialize)]
#[serde(default)]
struct PromptSummary<'a> {
    #[serde(borrow)]
    model: Option<std::borrow::Cow<'a, str>>,
    system: Option<TextLength>,
    messages: Vec<MessageLength>,
}

impl PromptSummary<'_> {
    fn of(received: &Received) -> PromptSummary<'_> {
        serde_json::from_slice(&received.raw_body).unwrap_or_default()
    }

    fn model(&self) -> &str {
        self.model.as_deref().unwrap_or("mock")
    }

    /// [`rough_tokens`] of the system prompt and of each message.
    fn prompt_tokens(&self) -> u64 {
        let system = self.system.as_ref().map_or(0, TextLength::rough_tokens);
        let messages: u64 = self
            .messages
            .iter()
            .filter_map(|message| message.content.as_ref())
            .map(TextLength::rough_tokens)
            .sum();
        system + messages
    }
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct MessageLength {
    content: Option<TextLength>,
}

/// The characters of a content value: a string, or the `text` of each of its parts.
#[derive(Default)]
struct TextLength(u64);

impl TextLength {
    fn rough_tokens(&self) -> u64 {
        self.0.div_ceil(4)
    }
}

impl<'de> Deserialize<'de> for TextLength {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<TextLength, D::Error> {
        deserializer.deserialize_any(TextLengthVisitor)
    }
}

struct TextLengthVisitor;

impl<'de> Visitor<'de> for TextLengthVisitor {
    type Value = TextLength;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("message content")
    }

    fn visit_str<E>(self, text: &str) -> Result<TextLength, E> {
        Ok(TextLength(text.chars().count() as u64))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut parts: A) -> Result<TextLength, A::Error> {
        let mut total = 0;
        while let Some(TextLength(length)) = parts.next_element()? {
            total += length;
        }
        Ok(TextLength(total))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut part: A) -> Result<TextLength, A::Error> {
        let mut total = 0;
        while let Some(key) = part.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "text" {
                total += part.next_value::<TextLength>()?.0;
            } else {
                part.next_value::<IgnoredAny>()?;
            }
        }
        Ok(TextLength(total))
    }

    fn visit_unit<E>(self) -> Result<TextLength, E> {
        Ok(TextLength(0))
    }

    fn visit_bool<E>(self, _: bool) -> Result<TextLength, E> {
        Ok(TextLength(0))
    }

    fn visit_i64<E>(self, _: i64) -> Result<TextLength, E> {
        Ok(TextLength(0))
    }

    fn visit_u64<E>(self, _: u64) -> Result<TextLength, E> {
        Ok(TextLength(0))
    }

    fn visit_f64<E>(self, _: f64) -> Result<TextLength, E> {
        Ok(TextLength(0))
    }
}

fn json_response(code: u16, body: &Value, headers: &[(&str, &str)], keep_alive: bool) -> Action {
    Action::Send {
        bytes: response(
            code,
            "application/json",
            headers,
            body.to_string().as_bytes(),
            keep_alive,
        ),
        close: !keep_alive,
    }
}

/// A whole HTTP/1.1 response.
fn response(
    code: u16,
    content_type: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    keep_alive: bool,
) -> Vec<u8> {
    use std::io::Write;
    let mut bytes = Vec::with_capacity(body.len() + 160);
    // Writing to a Vec cannot fail.
    let _ = write!(
        bytes,
        "HTTP/1.1 {code} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n",
        reason_phrase(code),
        body.len()
    );
    for (name, value) in headers {
        let _ = write!(bytes, "{name}: {value}\r\n");
    }
    if !keep_alive {
        bytes.extend_from_slice(b"connection: close\r\n");
    }
    bytes.extend_from_slice(b"\r\n");
    bytes.extend_from_slice(body);
    bytes
}

fn reason_phrase(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        529 => "Overloaded",
        _ => "Status",
    }
}

/// Reads one request from `stream`, keeping bytes of the next (pipelined) one in `buffer`.
/// `None` when the client closed the connection between requests.
async fn read_request(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
) -> io::Result<Option<(Received, bool)>> {
    let mut searched = 0;
    let head_end = loop {
        if let Some(found) = find(&buffer[searched..], b"\r\n\r\n") {
            break searched + found + 4;
        }
        searched = buffer.len().saturating_sub(3);
        if buffer.len() > MAX_HEAD_BYTES {
            return Err(invalid("the request head is too long"));
        }
        if read_more(stream, buffer).await? == 0 {
            return if buffer.is_empty() {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
    };
    let head = parse_head(&buffer[..head_end - 4])?;
    if head.expect_continue {
        stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
    }
    let body = if head.chunked {
        buffer.drain(..head_end);
        read_chunked(stream, buffer).await?
    } else {
        let end = head_end + head.content_length;
        fill(stream, buffer, end).await?;
        let body = buffer[head_end..end].to_vec();
        buffer.drain(..end);
        body
    };
    let Head {
        method,
        path,
        headers,
        keep_alive,
        ..
    } = head;
    Ok(Some((
        Received {
            method,
            path,
            headers,
            raw_body: body,
            parsed_body: OnceLock::new(),
        },
        keep_alive,
    )))
}

/// A request's line and headers, and what they say about its body and connection.
struct Head {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    keep_alive: bool,
    chunked: bool,
    content_length: usize,
    expect_continue: bool,
}

/// Parses the request line and headers (without the blank line that ends them).
fn parse_head(head: &[u8]) -> io::Result<Head> {
    let mut lines = head
        .split(|byte| *byte == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    let mut request_line = lines.next().unwrap_or_default().split(|byte| *byte == b' ');
    let method = text(request_line.next().unwrap_or_default())?.to_owned();
    let path = text(request_line.next().unwrap_or_default())?.to_owned();
    let version = request_line.next().unwrap_or_default();
    let mut parsed = Head {
        method,
        path,
        headers: Vec::with_capacity(8),
        keep_alive: version != b"HTTP/1.0",
        chunked: false,
        content_length: 0,
        expect_continue: false,
    };
    for line in lines {
        let colon = line
            .iter()
            .position(|byte| *byte == b':')
            .ok_or_else(|| invalid("a header line has no colon"))?;
        let name = text(&line[..colon])?.trim().to_ascii_lowercase();
        let value = text(&line[colon + 1..])?.trim();
        match name.as_str() {
            "content-length" => {
                parsed.content_length = value
                    .parse()
                    .map_err(|_| invalid("the content length is not a number"))?;
            }
            "transfer-encoding" => {
                parsed.chunked = value.to_ascii_lowercase().contains("chunked");
            }
            "connection" => {
                let value = value.to_ascii_lowercase();
                if value.contains("close") {
                    parsed.keep_alive = false;
                } else if value.contains("keep-alive") {
                    parsed.keep_alive = true;
                }
            }
            "expect" => parsed.expect_continue = value.eq_ignore_ascii_case("100-continue"),
            _ => {}
        }
        parsed.headers.push((name, value.to_owned()));
    }
    Ok(parsed)
}

fn text(bytes: &[u8]) -> io::Result<&str> {
    std::str::from_utf8(bytes).map_err(|_| invalid("the request head is not UTF-8"))
}

/// Decodes a chunked body from the front of `buffer`, reading as needed.
async fn read_chunked(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = read_line(stream, buffer).await?;
        let size_text = std::str::from_utf8(&buffer[..line_end])
            .map_err(|_| invalid("a chunk size is not UTF-8"))?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| invalid("a chunk size is not hexadecimal"))?;
        buffer.drain(..line_end + 2);
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                let line_end = read_line(stream, buffer).await?;
                buffer.drain(..line_end + 2);
                if line_end == 0 {
                    return Ok(body);
                }
            }
        }
        fill(stream, buffer, size + 2).await?;
        body.extend_from_slice(&buffer[..size]);
        buffer.drain(..size + 2);
    }
}

/// The length of the line at the front of `buffer`, without its CRLF, reading as needed.
async fn read_line(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> io::Result<usize> {
    loop {
        if let Some(end) = find(buffer, b"\r\n") {
            return Ok(end);
        }
        if read_more(stream, buffer).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// Reads until `buffer` holds at least `length` bytes.
async fn fill(stream: &mut TcpStream, buffer: &mut Vec<u8>, length: usize) -> io::Result<()> {
    while buffer.len() < length {
        if read_more(stream, buffer).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(())
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> io::Result<usize> {
    if buffer.capacity() - buffer.len() < 4096 {
        buffer.reserve(16 * 1024);
    }
    stream.read_buf(buffer).await
}

/// Where `needle` (which starts with `\r`) first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let mut start = 0;
    while let Some(found) = haystack[start..].iter().position(|byte| *byte == needle[0]) {
        let at = start + found;
        if haystack[at..].starts_with(needle) {
            return Some(at);
        }
        if haystack.len() - at < needle.len() {
            return None;
        }
        start = at + 1;
    }
    None
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_owned())
}
