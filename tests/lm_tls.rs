//! The `https://` path (reqwest with rustls) end to end: the mock LM behind a TLS front made
//! for these tests, with a test certificate authority the dspex under test trusts through
//! `SSL_CERT_FILE` (tests/fixtures/tls). A certificate nobody vouches for is a clear error.

#[path = "support/mock_lm.rs"]
mod mock_lm;
mod support;

use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::process::{Command, Output};
use std::sync::Arc;

use mock_lm::{sequence, MockLm, Reply};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

const SECRET: &str = "sk-tls-test-0123456789";
const REPLY: &str =
    "[[ ## answer ## ]]\nParis\n\n[[ ## confidence ## ]]\n0.9\n\n[[ ## completed ## ]]";

fn fixture(name: &str) -> std::path::PathBuf {
    support::root().join("tests/fixtures/tls").join(name)
}

/// Accepts TLS on a free port of 127.0.0.1 and passes each connection's plain bytes to
/// `backend`, until the test process ends.
fn tls_front(backend: SocketAddr) -> SocketAddr {
    let certificates = CertificateDer::pem_file_iter(fixture("server.pem"))
        .expect("server.pem")
        .collect::<Result<Vec<_>, _>>()
        .expect("certificates");
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).expect("server.key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(certificates, key)
        .expect("server config");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = StdTcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let address = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = TcpListener::from_std(listener).expect("listener");
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client that rejects the certificate ends the handshake: nothing to do.
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    if let Ok(mut plain) = TcpStream::connect(backend).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                    }
                });
            }
        });
    });
    address
}

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    /// A project whose model is the mock behind the TLS front, at `https://localhost:PORT/v1`.
    fn new(mock: &MockLm) -> Project {
        let front = tls_front(mock.address());
        let dir = support::temp_dir();
        let qa =
            std::fs::read_to_string(support::root().join("signatures/qa.sig")).expect("qa.sig");
        support::write(dir.path(), "qa.sig", qa);
        let config = format!(
            "model: mock\nmodels:\n  mock:\n    provider: openai\n    model: gpt-test\n    \
             base_url: https://localhost:{}/v1\n    api_key_env: DSPEX_TEST_KEY\n    \
             timeout_secs: 5\n    max_retries: 2\n",
            front.port()
        );
        support::write(dir.path(), "dspex.yaml", config);
        Project { dir }
    }

    /// `dspex ARGS`, trusting the test authority unless `trusted` is false.
    fn run(&self, args: &[&str], trusted: bool) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dspex"));
        command
            .current_dir(self.dir.path())
            .args(args)
            .env_remove("DSPEX_MODEL")
            .env_remove("DSPEX_BASE_URL")
            .env_remove("DSPEX_STORE")
            .env_remove("SSL_CERT_DIR")
            .env("DSPEX_TEST_KEY", SECRET)
            .env("NO_COLOR", "1");
        if trusted {
            command.env("SSL_CERT_FILE", fixture("ca.pem"));
        } else {
            command.env_remove("SSL_CERT_FILE");
        }
        command.output().expect("run dspex")
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn https_calls_reach_the_server_with_the_key_and_are_recorded() {
    let mock = MockLm::openai(|_| Reply::text(REPLY));
    let project = Project::new(&mock);
    let question = "question=What is the capital of France?";
    let output = project.run(&["run", "qa.sig", "--input", question, "--json"], true);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let outputs: Value = serde_json::from_slice(&output.stdout).expect("--json");
    assert_eq!(outputs["answer"], "Paris");
    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].header("authorization"),
        Some(format!("Bearer {SECRET}").as_str())
    );
    assert_eq!(requests[0].model(), Some("gpt-test"));

    let runs = project.run(&["runs", "--json"], true);
    assert_eq!(runs.status.code(), Some(0), "{}", text(&runs.stderr));
    let runs: Vec<Value> = serde_json::from_slice(&runs.stdout).expect("runs --json");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "success");
    // The repeat comes from the cache, over no connection at all.
    let again = project.run(&["run", "qa.sig", "--input", question, "--json"], true);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_eq!(mock.hits(), 1);
}

#[test]
fn https_server_errors_are_retried_and_then_reported_without_the_key() {
    let mock = MockLm::openai(sequence(vec![
        Reply::status(500, json!({"error": {"message": "upstream hiccup"}})),
        Reply::text(REPLY),
    ]));
    let project = Project::new(&mock);
    let output = project.run(
        &["run", "qa.sig", "--input", "question=Once?", "--no-cache"],
        true,
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(mock.hits(), 2, "the 500 is retried");

    let failing = MockLm::openai(|_| {
        Reply::status(
            503,
            json!({"error": {"message": format!("overloaded, key {SECRET}")}}),
        )
    });
    let project = Project::new(&failing);
    let output = project.run(
        &["run", "qa.sig", "--input", "question=Again?", "--no-cache"],
        true,
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(failing.hits(), 3, "one try and two retries");
    assert!(stderr.contains("503"), "{stderr}");
    assert!(stderr.contains("overloaded"), "{stderr}");
    assert!(!stderr.contains(SECRET), "the key leaked: {stderr}");
}

#[test]
fn a_certificate_nobody_vouches_for_is_a_clear_error() {
    let mock = MockLm::openai(|_| Reply::text(REPLY));
    let project = Project::new(&mock);
    let output = project.run(
        &[
            "run",
            "qa.sig",
            "--input",
            "question=Trusted?",
            "--no-cache",
        ],
        false,
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("TLS connection to https://localhost:"),
        "{stderr}"
    );
    assert!(stderr.contains("invalid peer certificate"), "{stderr}");
    assert!(stderr.contains("SSL_CERT_FILE"), "the hint: {stderr}");
    assert!(
        !stderr.contains("attempts"),
        "a certificate is not retried: {stderr}"
    );
    assert_eq!(mock.hits(), 0, "nothing reached the server");
    assert!(!stderr.contains(SECRET), "{stderr}");
}
