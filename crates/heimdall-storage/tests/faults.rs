//! Faults: S3 unreachable or stopped mid-session or mid-read, wrong credentials, local permission and
//! disk-full errors. Each must be reported with the right retryability, never hang, never leak
//! a secret, and never leave a manifest behind.
#![allow(clippy::print_stderr)] // tests report skips and error texts on stderr

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use heimdall_core::testkit::{test_capture_info, test_recorded, test_samples, test_summary};
use heimdall_core::{
    CaptureChunk, Error, IqArchive, IqSink, IqSinkExt, ReceiverReport, ReceiverStatus, SampleFormat, SessionId,
    SessionReport, SessionStatus,
};
use heimdall_storage::{ArchiveBuilder, ArchiveFormat, ArchiveSink};
use tokio::net::{TcpListener, TcpStream};

const SECRET: &str = "this-secret-must-never-be-printed";

fn s3_at(endpoint: &str, bucket_url: &str, secret: &str) -> ArchiveSink {
    ArchiveBuilder::from_url(bucket_url)
        .with_env(false)
        .with_format(ArchiveFormat::Both)
        .with_options([
            ("endpoint", endpoint),
            ("allow_http", "true"),
            ("region", "us-east-1"),
            (
                "access_key_id",
                std::env::var("AWS_ACCESS_KEY_ID").as_deref().unwrap_or("test-key"),
            ),
            ("secret_access_key", secret),
        ])
        .build()
        .expect("build s3 sink")
}

fn report(session: SessionId, rx: Vec<ReceiverReport>) -> SessionReport {
    SessionReport {
        errors: Vec::new(),
        session_id: session,
        request: heimdall_core::AcquisitionRequest::new(145.5e6, Duration::from_secs(1)),
        status: SessionStatus::Success,
        started_at: chrono::Utc::now(),
        finished_at: chrono::Utc::now(),
        receivers: rx,
        committed: false,
    }
}

async fn small_capture(sink: &ArchiveSink, session: SessionId) -> Result<Vec<heimdall_core::StoredObject>, Error> {
    let n = 2000;
    let info = test_capture_info("rx-1", SampleFormat::ComplexF32, n);
    let summary = test_summary(&info, n);
    let chunks = vec![CaptureChunk::Samples(test_samples(
        SampleFormat::ComplexF32,
        n as usize,
        1,
    ))];
    sink.store_capture(&common::attempt(session), &summary, None, chunks)
        .await
}

fn assert_no_secret(e: &Error) {
    let all = format!("{e} | {e:?} | {}", e.chain());
    assert!(!all.contains(SECRET), "an error leaked the secret: {all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_endpoint_fails_fast_and_retryable() {
    let sink = s3_at("http://127.0.0.1:1", "s3://heimdall-test/unreachable", SECRET);
    let shown = format!("{sink} {sink:?}");
    assert!(!shown.contains(SECRET), "{shown}");
    let t = Instant::now();
    let e = sink.health().await.expect_err("health of a closed port");
    assert!(t.elapsed() < Duration::from_secs(15), "took {:?}", t.elapsed());
    assert!(e.is_retryable(), "{e:?}");
    assert!(matches!(e, Error::Unavailable { .. }), "{e:?}");
    assert!(
        e.to_string().contains("127.0.0.1:1"),
        "error must name the endpoint: {e}"
    );
    assert_no_secret(&e);

    let session = SessionId::new();
    let e = small_capture(&sink, session).await.expect_err("store on a closed port");
    assert!(e.is_retryable(), "{e:?}");
    let e = sink
        .commit_session(&common::attempt(session), &report(session, vec![]))
        .await
        .expect_err("commit");
    assert!(e.is_retryable(), "{e:?}");
    assert_no_secret(&e);
}

/// A TCP forwarder to the S3 server that can be stopped, to simulate the server dying mid-session.
struct Proxy {
    port: u16,
    tasks: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let tasks: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let t2 = tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let h = tokio::spawn(async move {
                    if let Ok(mut out) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                t2.lock().unwrap().push(h);
            }
        });
        Proxy { port, tasks, accept }
    }

    fn stop(&self) {
        self.accept.abort();
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_stopped_mid_session_gives_retryable_error_and_no_manifest() {
    let Some(base) = common::s3_base("s3_stopped_mid_session") else {
        return;
    };
    let endpoint = std::env::var("AWS_ENDPOINT").expect("AWS_ENDPOINT with HEIMDALL_TEST_S3_URL");
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").expect("AWS_SECRET_ACCESS_KEY");
    let target = endpoint.trim_start_matches("http://").trim_end_matches('/').to_owned();
    let proxy = Proxy::start(target).await;
    let url = format!("{base}/{}", common::fresh_prefix("stopped"));
    let sink = s3_at(&format!("http://127.0.0.1:{}", proxy.port), &url, &secret);
    let direct = ArchiveBuilder::from_url(&url).build().unwrap();
    sink.health().await.expect("healthy through the proxy");

    // First capture completes; the second is streaming (multipart) when the server goes away.
    let session = SessionId::new();
    let first = small_capture(&sink, session).await.expect("first capture");
    let n: u64 = 3 * 1024 * 1024; // 24 MiB of IQ: several 8 MiB parts
    let info = test_capture_info("rx-2", SampleFormat::ComplexF32, n);
    let mut w = sink.begin_capture(&common::attempt(session), &info).await.unwrap();
    let block = test_samples(SampleFormat::ComplexF32, 128 * 1024, 2); // 1 MiB
    for _ in 0..12 {
        w.write(CaptureChunk::Samples(block.clone()))
            .await
            .expect("write before the stop");
    }
    proxy.stop();
    let t = Instant::now();
    let mut err = None;
    for _ in 12..24 {
        if let Err(e) = w.write(CaptureChunk::Samples(block.clone())).await {
            err = Some(e);
            break;
        }
    }
    let err = match err {
        Some(e) => {
            let _ = w.abort().await;
            e
        }
        None => w
            .finish(&test_summary(&info, n), None)
            .await
            .expect_err("finish after the server stopped"),
    };
    eprintln!("server stopped mid-capture after {:?}: {}", t.elapsed(), err.chain());
    assert!(t.elapsed() < Duration::from_secs(60), "took {:?}", t.elapsed());
    assert!(err.is_retryable(), "{err:?}");
    assert!(err.to_string().contains(&format!("127.0.0.1:{}", proxy.port)), "{err}");
    assert_no_secret(&err);

    let rx = ReceiverReport {
        receiver: test_capture_info("rx-1", SampleFormat::ComplexF32, 2000).receiver,
        status: ReceiverStatus::Recorded,
        attempts: 1,
        capture: None,
        metrics: None,
        objects: first,
        error: None,
        retried_errors: vec![],
    };
    let e = sink
        .commit_session(&common::attempt(session), &report(session, vec![rx]))
        .await
        .expect_err("commit while stopped");
    assert!(e.is_retryable(), "{e:?}");
    // Seen directly: no manifest, the session is not listed, the partial capture left nothing.
    assert!(!direct.list_sessions(None, None).await.unwrap().contains(&session));
    let objects = direct.list_objects(session).await.unwrap();
    assert!(!objects.iter().any(|k| k.ends_with("manifest.json")), "{objects:?}");
    assert!(
        !objects.iter().any(|k| k.contains("rx-2")),
        "partial capture left {objects:?}"
    );
    direct.abort_session(&common::attempt(session)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_refused_not_retried() {
    let Some(base) = common::s3_base("wrong_credentials") else {
        return;
    };
    let endpoint = std::env::var("AWS_ENDPOINT").expect("AWS_ENDPOINT with HEIMDALL_TEST_S3_URL");
    let sink = s3_at(
        &endpoint,
        &format!("{base}/{}", common::fresh_prefix("badcreds")),
        SECRET,
    );
    let t = Instant::now();
    let e = sink.health().await.expect_err("health with a wrong secret");
    assert!(t.elapsed() < Duration::from_secs(10), "took {:?}", t.elapsed());
    assert!(matches!(e, Error::Refused { .. }), "{e:?}");
    assert!(!e.is_retryable());
    assert!(
        e.to_string().contains(endpoint.trim_end_matches('/')),
        "must name the endpoint: {e}"
    );
    assert_no_secret(&e);
    eprintln!("wrong credentials: {e}");
    let e = small_capture(&sink, SessionId::new())
        .await
        .expect_err("store with a wrong secret");
    assert!(!e.is_retryable(), "{e:?}");
    assert_no_secret(&e);
}

#[tokio::test]
async fn missing_bucket_is_refused() {
    let Some(_) = common::s3_base("missing_bucket") else {
        return;
    };
    let sink = ArchiveBuilder::from_url("s3://heimdall-no-such-bucket-4711/x")
        .build()
        .unwrap();
    let e = sink.health().await.expect_err("health of a missing bucket");
    assert!(!e.is_retryable(), "{e:?}");
    eprintln!("missing bucket: {e}");
}

/// Runs `f` on a directory that cannot be written (chmod for normal users; `chattr +i` for root,
/// who ignores permission bits).
fn read_only_dir() -> Option<(tempfile::TempDir, std::path::PathBuf)> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    if std::fs::write(ro.join("probe"), b"x").is_err() {
        return Some((dir, ro));
    }
    let _ = std::fs::remove_file(ro.join("probe"));
    let ok = std::process::Command::new("chattr")
        .arg("+i")
        .arg(&ro)
        .status()
        .is_ok_and(|s| s.success());
    if ok && std::fs::write(ro.join("probe"), b"x").is_err() {
        return Some((dir, ro));
    }
    None
}

#[tokio::test]
async fn local_permission_error_is_reported() {
    let Some((_dir, ro)) = read_only_dir() else {
        common::skip_or_fail(
            "local_permission_error_is_reported",
            "cannot make a read-only directory here (chmod 555 is ignored and chattr +i failed)",
        );
        return;
    };
    let sink = ArchiveBuilder::from_url(ro.to_str().unwrap()).build().unwrap();
    let h = sink.health().await;
    let cap = small_capture(&sink, SessionId::new()).await;
    let _ = std::process::Command::new("chattr").arg("-i").arg(&ro).status();
    let e = h.expect_err("health on a read-only directory");
    assert!(matches!(e, Error::Refused { .. }), "{e:?}");
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("ro"), "{e}");
    eprintln!("read-only dir: {}", e.chain());
    let e = cap.expect_err("store on a read-only directory");
    assert!(matches!(e, Error::Refused { .. }), "{e:?}");
}

/// A 256 KiB tmpfs (root only), unmounted on drop.
struct SmallFs(tempfile::TempDir);

impl SmallFs {
    fn mount() -> Option<SmallFs> {
        let dir = tempfile::tempdir().ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallFs(dir))
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(self.0.path()).status();
    }
}

#[tokio::test]
async fn local_disk_full_is_reported() {
    let Some(fs) = SmallFs::mount() else {
        common::skip_or_fail(
            "local_disk_full_is_reported",
            "cannot mount a small tmpfs (needs root or CAP_SYS_ADMIN)",
        );
        return;
    };
    let sink = ArchiveBuilder::from_url(fs.0.path().to_str().unwrap()).build().unwrap();
    sink.health().await.expect("a small capture fits");
    let session = SessionId::new();
    let n = 128 * 1024; // 1 MiB of IQ > 256 KiB
    let info = test_capture_info("rx-big", SampleFormat::ComplexF32, n);
    let chunks = vec![CaptureChunk::Samples(test_samples(
        SampleFormat::ComplexF32,
        n as usize,
        3,
    ))];
    let e = sink
        .store_capture(&common::attempt(session), &test_summary(&info, n), None, chunks)
        .await
        .expect_err("1 MiB on a 256 KiB file system");
    eprintln!("disk full: {}", e.chain());
    assert!(!e.is_retryable(), "{e:?}");
    assert!(
        e.chain().contains("No space left") || e.chain().to_lowercase().contains("storage full"),
        "{}",
        e.chain()
    );
    assert!(
        sink.list_objects(session).await.unwrap().is_empty(),
        "a failed capture left files"
    );
}

/// The server dying while a capture streams back: a typed, retryable error naming the
/// endpoint, after only verified-so-far blocks, never a short capture that looks whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_stopped_mid_read_ends_the_stream_with_a_retryable_error() {
    use futures::StreamExt;
    let Some(base) = common::s3_base("s3_stopped_mid_read") else {
        return;
    };
    let endpoint = std::env::var("AWS_ENDPOINT").expect("AWS_ENDPOINT with HEIMDALL_TEST_S3_URL");
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").expect("AWS_SECRET_ACCESS_KEY");
    let target = endpoint.trim_start_matches("http://").trim_end_matches('/').to_owned();
    let url = format!("{base}/{}", common::fresh_prefix("stopped-read"));
    // Written directly, read through a proxy that is stopped mid-read.
    let direct = s3_at(&endpoint, &url, &secret);
    let session = SessionId::new();
    let n: u64 = 4 * 1024 * 1024; // 32 MiB of IQ: 128 blocks of 256 KiB
    let info = test_capture_info("rx-big", SampleFormat::ComplexF32, n);
    let mut w = direct.begin_capture(&common::attempt(session), &info).await.unwrap();
    let block = test_samples(SampleFormat::ComplexF32, 128 * 1024, 3);
    for _ in 0..32 {
        w.write(CaptureChunk::Samples(block.clone())).await.unwrap();
    }
    let objects = w.finish(&test_summary(&info, n), None).await.unwrap();
    let rx = test_recorded(&info, n, objects);
    direct
        .commit_session(&common::attempt(session), &report(session, vec![rx]))
        .await
        .unwrap();

    let proxy = Proxy::start(target).await;
    let through = s3_at(&format!("http://127.0.0.1:{}", proxy.port), &url, &secret);
    let mut s = through.stream_capture(session, &info.receiver.id).await.unwrap();
    let mut samples = 0u64;
    for _ in 0..4 {
        samples += s.samples.next().await.unwrap().unwrap().len() as u64;
    }
    proxy.stop();
    let t = Instant::now();
    let mut last = None;
    while let Some(item) = s.samples.next().await {
        match item {
            Ok(b) => samples += b.len() as u64,
            Err(e) => {
                last = Some(e);
                break;
            }
        }
    }
    // Whatever was buffered before the stop may still arrive, but not the whole capture.
    let err = last.unwrap_or_else(|| panic!("the stream ended cleanly after {samples} of {n} samples"));
    eprintln!("server stopped mid-read after {:?}: {}", t.elapsed(), err.chain());
    assert!(samples < n, "{samples}");
    assert!(t.elapsed() < Duration::from_secs(60), "took {:?}", t.elapsed());
    assert!(s.samples.next().await.is_none(), "items after the error");
    assert!(err.is_retryable(), "{err:?}");
    assert_no_secret(&err);
    // The archive itself is intact: read directly, the capture is whole and verified.
    let whole = direct.read_capture(session, &info.receiver.id).await.unwrap();
    assert_eq!(whole.samples.len() as u64, n);
    for key in direct.list_objects(session).await.unwrap() {
        let path = heimdall_storage::object_store::path::Path::from(key.as_str());
        let _ = heimdall_storage::object_store::ObjectStoreExt::delete(direct.store().as_ref(), &path).await;
    }
}
