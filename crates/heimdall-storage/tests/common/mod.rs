//! Shared helpers: the backends every test runs against, and external tool discovery.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

use heimdall_storage::{ArchiveBuilder, ArchiveFormat, ArchiveSink};

/// Whether we run under CI (where skipping is a failure).
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A test that cannot run here: a failure under `CI=true` (CI runs as root, where every
/// capability the tests need exists), a loud SKIPPED line elsewhere.
pub fn skip_or_fail(test: &str, why: &str) {
    if ci() {
        panic!("{test} cannot run under CI=true: {why}");
    }
    eprintln!("\n*** SKIPPED {test}: {why} ***\n");
}

/// The base S3 URL of the test server, or `None` (loudly skipped outside CI, a failure under CI).
pub fn s3_base(test: &str) -> Option<String> {
    match std::env::var("HEIMDALL_TEST_S3_URL") {
        Ok(u) if !u.is_empty() => Some(u.trim_end_matches('/').to_owned()),
        _ => {
            if ci() {
                panic!(
                    "{test}: HEIMDALL_TEST_S3_URL is not set under CI=true; run `scripts/s3.sh start && eval \"$(scripts/s3.sh env)\"`"
                );
            }
            eprintln!(
                "\n*** SKIPPED S3 part of {test}: HEIMDALL_TEST_S3_URL is not set. Run `scripts/s3.sh start && eval \"$(scripts/s3.sh env)\"` (or scripts/test.sh) ***\n"
            );
            None
        }
    }
}

/// The attempt the tests use for `session`: derived from the session id, so that every call
/// of a test names the same attempt without passing it around (real callers get theirs from
/// `IqSink::begin_session`).
pub fn attempt(session: heimdall_core::SessionId) -> heimdall_core::SessionAttempt {
    let token = &session.as_uuid().simple().to_string()[16..];
    heimdall_core::SessionAttempt {
        session,
        attempt: token.parse().expect("16 hex digits"),
    }
}

/// A sink on a fresh local temp dir (returned with it, to keep it alive), set up by `f`.
pub fn local_sink(f: impl FnOnce(ArchiveBuilder) -> ArchiveBuilder) -> (tempfile::TempDir, ArchiveSink) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = f(ArchiveBuilder::from_url(dir.path().to_str().expect("UTF-8 temp path")))
        .build()
        .expect("local sink");
    (dir, sink)
}

/// Where a local archive at `root` keeps the objects of `session`'s test attempt.
pub fn attempt_dir(root: &std::path::Path, session: heimdall_core::SessionId) -> PathBuf {
    root.join("sessions")
        .join(session.to_string())
        .join(attempt(session).attempt.as_str())
}

/// Concatenates the complex blocks of a capture read back (panics on a real block).
pub fn complex_samples(blocks: impl IntoIterator<Item = heimdall_core::SampleBlock>) -> Vec<heimdall_core::Complex32> {
    let mut all = Vec::new();
    for x in blocks {
        let heimdall_core::SampleBlock::Complex(v) = x else {
            panic!("real block")
        };
        all.extend(v);
    }
    all
}

/// A fresh random prefix for one test run.
pub fn fresh_prefix(test: &str) -> String {
    format!("test-{test}-{}", uuid::Uuid::new_v4().simple())
}

/// A backend under test; keeps its temp dir alive.
pub struct Backend {
    pub name: &'static str,
    pub sink: ArchiveSink,
    pub dir: Option<tempfile::TempDir>,
}

/// Memory, a local temp dir, and (when configured) the S3 test server, each under a fresh prefix.
pub fn backends(test: &str, format: ArchiveFormat) -> Vec<Backend> {
    backends_with(test, |b| b.with_format(format))
}

/// Like [`backends`] with a builder hook.
pub fn backends_with(test: &str, f: impl Fn(ArchiveBuilder) -> ArchiveBuilder) -> Vec<Backend> {
    let mut out = Vec::new();
    let prefix = fresh_prefix(test);
    out.push(Backend {
        name: "memory",
        sink: f(ArchiveBuilder::from_url(format!("memory:///{prefix}")))
            .build()
            .expect("memory sink"),
        dir: None,
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let url = url::Url::from_directory_path(dir.path().join(&prefix))
        .expect("file url")
        .to_string();
    out.push(Backend {
        name: "local",
        sink: f(ArchiveBuilder::from_url(url)).build().expect("local sink"),
        dir: Some(dir),
    });
    if let Some(base) = s3_base(test) {
        out.push(Backend {
            name: "s3",
            sink: f(ArchiveBuilder::from_url(format!("{base}/{prefix}")))
                .build()
                .expect("s3 sink"),
            dir: None,
        });
    }
    out
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A tool from the environment variable `var` or the repository's `.venv/bin/{name}`; `None`
/// (loudly skipped outside CI, a failure under CI) when missing.
pub fn tool(var: &str, name: &str, test: &str) -> Option<PathBuf> {
    let p = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin").join(name));
    if p.exists() {
        return Some(p);
    }
    if ci() {
        panic!(
            "{test}: {} not found under CI=true; run `scripts/s3.sh pyenv`",
            p.display()
        );
    }
    eprintln!(
        "\n*** SKIPPED {test}: {} not found. Run `scripts/s3.sh pyenv` ***\n",
        p.display()
    );
    None
}

/// Runs a Python `script` with one argument; panics with its output when it fails.
pub fn run_python(python: &std::path::Path, what: &str, script: &str, arg: &std::path::Path) {
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(arg)
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {}: {e}", python.display()));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The repository's test vectors.
pub fn testdata(name: &str) -> PathBuf {
    repo_root().join("testdata").join(name)
}
