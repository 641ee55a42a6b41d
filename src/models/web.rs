//! Model files downloaded over HTTP(S) with reqwest, streamed into a staged file as they arrive.
//! Redirects are followed (model hubs answer with a redirect to their CDN); a connection that
//! stays silent for [`READ_TIMEOUT`] is given up.

use std::time::Duration;

use super::progress::Progress;
use super::staging::StagedFile;
use super::ModelsError;

/// How long to wait for a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the server may send nothing before the download is given up.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Redirects followed before giving up.
const MAX_REDIRECTS: usize = 10;

/// Checks that `url` is an http:// or https:// URL.
pub(crate) fn parse_url(url: &str) -> Result<reqwest::Url, ModelsError> {
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => {
            Ok(parsed)
        }
        _ => Err(ModelsError::InvalidUrl {
            url: url.to_owned(),
        }),
    }
}

/// Downloads `url` into `staged`. `expected_size`, when known, stops a download that is
/// plainly the wrong file before it is all fetched.
pub(crate) fn fetch(
    url: &str,
    staged: &mut StagedFile,
    expected_size: Option<u64>,
    show_progress: bool,
) -> Result<(), ModelsError> {
    let parsed = parse_url(url)?;
    // Callers may be inside an async runtime (a provider being set up), where blocking on
    // another one is not allowed: the download runs on a thread of its own.
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|error| download_error(url, format!("cannot start: {error}")))?;
                runtime.block_on(stream(url, parsed, staged, expected_size, show_progress))
            })
            .join()
            .unwrap_or_else(|_panic| {
                Err(download_error(url, "the download thread failed".to_owned()))
            })
    })
}

async fn stream(
    url: &str,
    parsed: reqwest::Url,
    staged: &mut StagedFile,
    expected_size: Option<u64>,
    show_progress: bool,
) -> Result<(), ModelsError> {
    let client = client(&parsed).map_err(|message| download_error(url, message))?;
    let mut response = client
        .get(parsed)
        .send()
        .await
        .map_err(|error| download_error(url, error_chain(&error)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(ModelsError::HttpStatus {
            url: url.to_owned(),
            status: status.as_u16(),
        });
    }
    let length = response.content_length();
    if let (Some(length), Some(expected)) = (length, expected_size) {
        if length != expected {
            return Err(ModelsError::Download {
                url: url.to_owned(),
                message: format!(
                    "the server offers {length} bytes, but the model is {expected} bytes"
                ),
            });
        }
    }
    let progress = Progress::new(show_progress, &host(url), length.or(expected_size));
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(error) => {
                return Err(ModelsError::CutOff {
                    url: url.to_owned(),
                    received: staged.written(),
                    expected: length,
                    message: error_chain(&error),
                })
            }
        };
        staged.write(&chunk)?;
        progress.advance(chunk.len() as u64);
        if let Some(expected) = expected_size {
            if staged.written() > expected {
                return Err(ModelsError::Download {
                    url: url.to_owned(),
                    message: format!("the server sent more than the model's {expected} bytes"),
                });
            }
        }
    }
    if let Some(length) = length {
        if staged.written() < length {
            return Err(ModelsError::CutOff {
                url: url.to_owned(),
                received: staged.written(),
                expected: Some(length),
                message: "the server closed the connection".to_owned(),
            });
        }
    }
    Ok(())
}

/// A client for one download: TLS with the platform's root certificates (reqwest's platform
/// verifier reads the system store, e.g. `/etc/ssl/certs`), redirects followed, proxies from
/// the environment except for loopback addresses.
fn client(url: &reqwest::Url) -> Result<reqwest::Client, String> {
    // reqwest is built with `rustls-no-provider`; another part of the process may already have
    // installed a provider, which serves as well.
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("dspex/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT);
    if is_loopback(url) {
        builder = builder.no_proxy();
    }
    builder
        .build()
        .map_err(|error| format!("cannot set up the HTTP client: {}", error_chain(&error)))
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

/// The host part of `url`, to label the progress bar.
fn host(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
        .unwrap_or_else(|| url.to_owned())
}

fn download_error(url: &str, message: String) -> ModelsError {
    ModelsError::Download {
        url: url.to_owned(),
        message,
    }
}

/// An error and its causes on one line: the operating system's and hyper's reasons are in the
/// sources, while reqwest's own message only repeats the URL.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cause = error.source();
    while let Some(source) = cause {
        let text = source.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        cause = source.source();
    }
    if parts.is_empty() {
        error.to_string()
    } else {
        parts.join(": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_with_a_host_are_accepted() {
        assert!(parse_url("https://huggingface.co/x.gguf").is_ok());
        assert!(parse_url("http://127.0.0.1:8080/x.gguf").is_ok());
        for bad in [
            "ftp://host/x.gguf",
            "file:///x.gguf",
            "not a url",
            "/tmp/x.gguf",
        ] {
            assert!(
                matches!(parse_url(bad), Err(ModelsError::InvalidUrl { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn loopback_hosts_bypass_proxies() {
        for url in [
            "http://127.0.0.1:1/",
            "http://localhost/",
            "http://[::1]:80/",
        ] {
            assert!(is_loopback(&parse_url(url).expect("url")), "{url}");
        }
        assert!(!is_loopback(
            &parse_url("https://huggingface.co/").expect("url")
        ));
    }
}
