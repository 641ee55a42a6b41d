//! The floor that per-call overheads are measured from: `calls` sequential keep-alive POSTs of
//! the QA request body DSPy and dspex send, each response read whole, on a one-thread runtime,
//! through hyper's low-level HTTP/1.1 client with nothing around it (no request pipeline, no
//! pool: the cheapest way to make a round trip with a real HTTP client). Prints the seconds they
//! took, after a few untimed warm-up calls.
//!
//! ```text
//! raw URL N      # URL: the mock's base URL, `http://127.0.0.1:PORT/v1`
//! ```

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Untimed calls before the clock starts.
const WARM_UP_CALLS: usize = 50;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let [url, calls] = arguments.as_slice() else {
        eprintln!("usage: raw URL N");
        return ExitCode::from(2);
    };
    let outcome = match calls.parse::<usize>() {
        Ok(calls) => raw_round_trips(url, calls).await,
        Err(error) => Err(error).with_context(|| format!("`{calls}` is not a count of calls")),
    };
    match outcome {
        Ok(seconds) => {
            println!("{seconds:.6}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Seconds for `calls` sequential POSTs on one keep-alive connection.
async fn raw_round_trips(url: &str, calls: usize) -> Result<f64> {
    let uri: hyper::Uri = format!("{}/chat/completions", url.trim_end_matches('/'))
        .parse()
        .with_context(|| format!("`{url}` is not a URL"))?;
    let (host, port) = match (uri.host(), uri.port_u16()) {
        (Some(host), Some(port)) => (host.to_owned(), port),
        _ => bail!("`{url}` needs a host and a port"),
    };
    let stream = TcpStream::connect((host.as_str(), port))
        .await
        .with_context(|| format!("cannot connect to {host}:{port}"))?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("the HTTP/1.1 handshake failed")?;
    // On a one-thread runtime the connection task runs on the same thread as the calls.
    tokio::spawn(connection);
    let authority = format!("{host}:{port}");
    let path = uri.path().to_owned();
    let mut post = async |index: usize| -> Result<()> {
        let request = Request::post(path.as_str())
            .header("host", authority.as_str())
            .header("content-type", "application/json")
            .header("authorization", "Bearer x")
            .body(Full::new(Bytes::from(raw_body(index))))?;
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        if !status.is_success() || bytes.is_empty() {
            bail!("the mock answered {status} with {} bytes", bytes.len());
        }
        Ok(())
    };
    for index in 0..WARM_UP_CALLS {
        post(index).await?;
    }
    let start = Instant::now();
    for index in 0..calls {
        post(index).await?;
    }
    Ok(start.elapsed().as_secs_f64())
}

/// The chat-completions body DSPy 3.4.1 (and dspex) send for `question -> answer`, byte for byte
/// but for the model name.
fn raw_body(index: usize) -> String {
    let system = "Your input fields are:\n1. `question` (str):\nYour output fields are:\n1. \
                  `answer` (str):\nAll interactions will be structured in the following way, \
                  with the appropriate values filled in.\n\n[[ ## question ## ]]\n{question}\n\n\
                  [[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]\nIn adhering to this \
                  structure, your objective is: \n        Given the fields `question`, produce \
                  the fields `answer`.";
    let user = format!(
        "[[ ## question ## ]]\n{}\n\nRespond with the corresponding output fields, starting \
         with the field `[[ ## answer ## ]]`, and then ending with the marker for \
         `[[ ## completed ## ]]`.",
        question(index)
    );
    serde_json::json!({
        "model": std::env::var("BENCH_MODEL").unwrap_or_else(|_| "gpt-4o-mini".to_owned()),
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ],
    })
    .to_string()
}

fn question(index: usize) -> String {
    format!("What is the capital of country number {index}?")
}
