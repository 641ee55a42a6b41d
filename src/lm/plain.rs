//! Requests to `http://` servers (Ollama, vLLM, llama.cpp's server, anything on the local
//! network), where the client's own cost per call is what a batch feels. Each request drives its
//! HTTP/1.1 connection (hyper's low-level client) inside the task that sends it, so a call wakes
//! no separate connection task and nothing crosses threads; reqwest, which `https://` servers
//! still go through, spawns one task per connection and builds a request pipeline per call.
//!
//! Idle connections wait in a pool without being polled. One the server has closed meanwhile
//! shows up as closed when it is taken again, before anything is written; the request then goes
//! to the next idle connection or a new one, and is never sent twice.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, HOST};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::error_chain;

/// Idle connections kept per endpoint; more are opened under load and closed after.
const MAX_IDLE: usize = 512;

type Connection = http1::Connection<TokioIo<TcpStream>, Full<Bytes>>;

/// An open connection between two requests.
struct Idle {
    sender: http1::SendRequest<Full<Bytes>>,
    connection: Connection,
    since: Instant,
}

/// A whole reply.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// Why an exchange failed, in the terms the retry policy needs.
#[derive(Debug)]
pub(crate) enum Error {
    /// No connection, or it broke before the reply began.
    Connection(String),
    /// The connection broke while the body was arriving.
    CutOff(String),
}

/// How far an exchange on one connection got before it failed.
enum Failed {
    /// The connection was closed before the request was written: another connection can take
    /// the request.
    Unsent(String),
    /// The request may have reached the server.
    Sent(Error),
}

/// The connections to one endpoint (`http://host:port/path`).
pub(crate) struct Pool {
    /// `host:port`, to connect to.
    address: String,
    /// The `Host` header.
    host: HeaderValue,
    /// The request target, in origin form (`/v1/chat/completions`).
    target: Uri,
    idle_timeout: Duration,
    idle: Mutex<Vec<Idle>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Pool")
            .field("address", &self.address)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// The pool for `url`, which must be an `http://` URL with a host. Connections idle longer
    /// than `idle_timeout` are closed instead of reused.
    pub(crate) fn new(url: &reqwest::Url, idle_timeout: Duration) -> Result<Pool, String> {
        let host = url
            .host_str()
            .ok_or_else(|| format!("`{url}` names no host"))?;
        let port = url.port_or_known_default().unwrap_or(80);
        // `host_str` keeps an IPv6 address's brackets, as both the address and `Host` want.
        let address = format!("{host}:{port}");
        let host_header = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let host = HeaderValue::from_str(&host_header)
            .map_err(|_invalid| format!("`{host_header}` cannot be sent as a Host header"))?;
        let target = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let target = target
            .parse::<Uri>()
            .map_err(|error| format!("`{url}` has a path HTTP cannot carry: {error}"))?;
        Ok(Pool {
            address,
            host,
            target,
            idle_timeout,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// POSTs `body` with `headers`, `extra` (the API key's header) and `Host`, and reads the
    /// whole reply.
    pub(crate) async fn post(
        &self,
        headers: &HeaderMap,
        extra: Option<&(HeaderName, HeaderValue)>,
        body: Bytes,
    ) -> Result<Reply, Error> {
        loop {
            let (mut idle, reused) = match self.take() {
                Some(idle) => (idle, true),
                None => (self.connect().await?, false),
            };
            match exchange(&mut idle, self.request(headers, extra, body.clone())).await {
                Ok((reply, open)) => {
                    if open {
                        self.put_back(idle);
                    }
                    return Ok(reply);
                }
                // The server closed an idle connection; nothing was sent on it.
                Err(Failed::Unsent(_)) if reused => {}
                Err(Failed::Unsent(message)) => return Err(Error::Connection(message)),
                Err(Failed::Sent(error)) => return Err(error),
            }
        }
    }

    fn request(
        &self,
        headers: &HeaderMap,
        extra: Option<&(HeaderName, HeaderValue)>,
        body: Bytes,
    ) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.target.clone();
        let request_headers = request.headers_mut();
        request_headers.reserve(headers.len() + 2);
        request_headers.insert(HOST, self.host.clone());
        for (name, value) in headers
            .iter()
            .chain(extra.map(|(name, value)| (name, value)))
        {
            request_headers.insert(name, value.clone());
        }
        request
    }

    /// The most recently used idle connection that has not been idle too long.
    fn take(&self) -> Option<Idle> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(connection) = idle.pop() {
            if connection.since.elapsed() < self.idle_timeout && !connection.sender.is_closed() {
                return Some(connection);
            }
        }
        None
    }

    fn put_back(&self, mut connection: Idle) {
        if connection.sender.is_closed() {
            return;
        }
        connection.since = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            idle.push(connection);
        }
    }

    async fn connect(&self) -> Result<Idle, Error> {
        let stream = TcpStream::connect(&self.address)
            .await
            .map_err(|error| Error::Connection(format!("cannot connect: {error}")))?;
        stream
            .set_nodelay(true)
            .map_err(|error| Error::Connection(format!("cannot set up the connection: {error}")))?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|error| Error::Connection(error_chain(&error)))?;
        Ok(Idle {
            sender,
            connection,
            since: Instant::now(),
        })
    }
}

/// Sends `request` on `idle` and reads the whole reply, driving the connection meanwhile; with
/// the reply, whether the connection is still open (a server may close it after replying).
async fn exchange(idle: &mut Idle, request: Request<Full<Bytes>>) -> Result<(Reply, bool), Failed> {
    let Idle {
        sender, connection, ..
    } = idle;
    // Whether the request has been handed to the connection (read by the driver below).
    let sent = AtomicBool::new(false);
    let work = async {
        sender
            .ready()
            .await
            .map_err(|error| Failed::Unsent(error_chain(&error)))?;
        sent.store(true, Ordering::Relaxed);
        let response = sender
            .try_send_request(request)
            .await
            .map_err(|mut error| match error.take_message() {
                Some(_unsent) => Failed::Unsent(error_chain(error.error())),
                None => Failed::Sent(Error::Connection(error_chain(error.error()))),
            })?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|error| Failed::Sent(Error::CutOff(error_chain(&error))))?
            .to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    };
    let mut work = pin!(work);
    let ended = poll_fn(|context| {
        // Whether the request was handed to the connection before this round: if not, and the
        // connection ends in this round, it ended without writing it (an idle connection the
        // server had closed, whose end is read here before the work hands the request over).
        let handed_over = sent.load(Ordering::Relaxed);
        // The connection first: it does the reading and writing the work waits on.
        let connection_state = connection.poll_without_shutdown(context);
        if let Poll::Ready(outcome) = work.as_mut().poll(context) {
            return Poll::Ready(Ok((outcome, connection_state.is_pending())));
        }
        connection_state.map(|outcome| Err((outcome, handed_over)))
    })
    .await;
    match ended {
        Ok((outcome, open)) => outcome.map(|reply| (reply, open)),
        // The connection ended while the work still waited on it.
        Err((outcome, handed_over)) => {
            let message = match outcome {
                Ok(()) => "the server closed the connection".to_owned(),
                Err(error) => error_chain(&error),
            };
            if handed_over {
                Err(Failed::Sent(Error::Connection(message)))
            } else {
                Err(Failed::Unsent(message))
            }
        }
    }
}
