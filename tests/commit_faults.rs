//! A failed commit on a real S3 server leaves no row: an HTTP fault proxy in front of SeaweedFS
//! answers `500 InternalError` to every PUT of a session's `manifest.json` (and passes the rest
//! through, signatures intact), the engine runs the seven simulated receivers into that archive
//! and a fresh PostgreSQL database. Then: the run reports the commit error, no manifest exists,
//! the attempt's objects are gone, not one measurement row exists and the session record (if
//! any) is not committed. With the proxy healed, the same session id runs again and commits,
//! with exactly its seven rows.
//!
//! Needs `HEIMDALL_TEST_S3_URL` (+ `AWS_*`, from `scripts/s3.sh env`) and PostgreSQL
//! (`HEIMDALL_TEST_DATABASE_URL`, default the server on 127.0.0.1:5432); under `CI=true` a
//! missing service fails the test.
#![allow(clippy::print_stderr)]

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use heimdall_core::engine::Engine;
use heimdall_core::{
    AcquisitionRequest, IqArchive, MeasurementQuery, MetricQuery, ReceiverSource, SessionId, SessionStatus,
};
use heimdall_server::state::transmitter;
use heimdall_storage::{ArchiveBuilder, ArchiveFormat};
use heimdall_tsdb::Tsdb;
use heimdall_websdr::simulated::{Pacing, SimulatedNetwork, SimulatedReceiver};
use object_store::ObjectStore;

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn skip(test: &str, why: &str) {
    assert!(!ci(), "{test}: CI=true but {why}");
    eprintln!("\n*** SKIPPED {test}: {why} ***\n");
}

/// The proxy's state: where to forward, whether manifest PUTs fail, how many were refused.
#[derive(Clone)]
struct Faults {
    target: String,
    client: reqwest::Client,
    fail_manifests: Arc<AtomicBool>,
    refused: Arc<AtomicUsize>,
}

async fn forward(State(f): State<Faults>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path_q = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    if parts.method == axum::http::Method::PUT
        && parts.uri.path().ends_with("/manifest.json")
        && f.fail_manifests.load(Ordering::SeqCst)
    {
        f.refused.fetch_add(1, Ordering::SeqCst);
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code>\
                   <Message>We encountered an internal error. Please try again.</Message></Error>";
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            [("content-type", "application/xml")],
            xml,
        )
            .into_response();
    }
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    // Headers as signed by the client, Host included (SigV4 signs it).
    let mut headers = HeaderMap::new();
    for (k, v) in &parts.headers {
        headers.append(k.clone(), v.clone());
    }
    let out = f
        .client
        .request(parts.method.clone(), format!("{}{path_q}", f.target))
        .headers(headers)
        .body(body)
        .send()
        .await;
    match out {
        Ok(r) => {
            let mut b = Response::builder().status(r.status());
            for (k, v) in r.headers() {
                b = b.header(k, v);
            }
            b.body(Body::from_stream(r.bytes_stream()))
                .unwrap_or_else(|e| (StatusCode::BAD_GATEWAY, e.to_string()).into_response())
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

/// A fresh PostgreSQL database (dropped by the caller's guard), or `None` when unreachable.
struct Database {
    admin: String,
    name: String,
    url: String,
}

impl Database {
    fn create(test: &str) -> Option<Database> {
        let admin = std::env::var("HEIMDALL_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let name = format!("heimdall_test_{}", uuid::Uuid::new_v4().simple());
        let ok = Command::new("psql")
            .args([admin.as_str(), "-qc", &format!("CREATE DATABASE {name}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            skip(test, "PostgreSQL (psql HEIMDALL_TEST_DATABASE_URL) is unreachable");
            return None;
        }
        let mut url = url::Url::parse(&admin).unwrap();
        url.set_path(&format!("/{name}"));
        Some(Database {
            admin,
            name,
            url: url.to_string(),
        })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                self.admin.as_str(),
                "-qc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
    }
}

fn network() -> Vec<Arc<dyn ReceiverSource>> {
    SimulatedNetwork::reference_receivers()
        .into_iter()
        .map(|mut c| {
            c.pacing = Pacing::AsFastAsPossible;
            Arc::new(SimulatedReceiver::new(c, Arc::new(transmitter(145.5e6)), 11)) as Arc<dyn ReceiverSource>
        })
        .collect()
}

/// The measurement rows of `session`.
async fn session_rows(store: &Tsdb, session: SessionId) -> Vec<heimdall_core::Measurement> {
    store
        .measurements(&MeasurementQuery {
            session: Some(session),
            ..Default::default()
        })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_put_answered_500_leaves_no_row_and_the_session_can_run_again() {
    let test = "a_manifest_put_answered_500_leaves_no_row";
    let (Some(base), Ok(endpoint)) = (
        std::env::var("HEIMDALL_TEST_S3_URL").ok().filter(|u| !u.is_empty()),
        std::env::var("AWS_ENDPOINT"),
    ) else {
        return skip(
            test,
            "HEIMDALL_TEST_S3_URL/AWS_ENDPOINT are not set; eval \"$(scripts/s3.sh env)\"",
        );
    };
    let Some(db) = Database::create(test) else { return };

    let faults = Faults {
        target: endpoint.trim_end_matches('/').to_owned(),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        fail_manifests: Arc::new(AtomicBool::new(true)),
        refused: Arc::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(forward).with_state(faults.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let bucket = base.trim_start_matches("s3://").trim_end_matches('/').to_owned();
    let prefix = format!("test-commit-500-{}", uuid::Uuid::new_v4().simple());
    let sink = ArchiveBuilder::from_url(format!("s3://{bucket}/{prefix}"))
        .with_format(ArchiveFormat::Both)
        .with_options([
            ("endpoint", proxy.as_str()),
            ("max_retries", "1"),
            ("retry_timeout", "2"),
        ])
        .build()
        .unwrap();
    let store = Arc::new(Tsdb::from_url(&db.url).unwrap());
    store.migrate().await.unwrap();
    let engine = Engine::builder()
        .sources(network())
        .concurrency(7)
        .sink(Arc::new(sink.clone()))
        .store(store.clone())
        .build()
        .unwrap();
    let req = AcquisitionRequest::new(145.5e6, Duration::from_secs(1));
    let session = SessionId::new();

    // 1. Every manifest PUT answered 500.
    let report = engine.start(req.clone(), Some(session)).unwrap().finish().await;
    let report = match report {
        Ok(r) => r,
        Err(e) => panic!(
            "the run must end with a report naming the commit error, got {}",
            e.chain()
        ),
    };
    assert!(
        faults.refused.load(Ordering::SeqCst) >= 1,
        "the manifest PUT never reached the proxy"
    );
    assert!(!report.committed, "{report:?}");
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.message.contains("500") || e.message.to_lowercase().contains("internal")),
        "the commit error is reported: {:?}",
        report.errors
    );
    let rows = session_rows(&store, session).await;
    assert!(rows.is_empty(), "rows outlived the failed commit: {}", rows.len());
    if let Some(rec) = store.session(session).await.unwrap() {
        assert!(!rec.committed, "{rec:?}");
    }
    // Nothing of the session is left in the bucket (read directly, not through the proxy).
    let direct = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(&bucket)
        .with_endpoint(&endpoint)
        .with_allow_http(true)
        .build()
        .unwrap();
    let under = object_store::path::Path::from(format!("{prefix}/sessions/{session}"));
    let left: Vec<_> = direct.list(Some(&under)).collect::<Vec<_>>().await;
    assert!(left.is_empty(), "objects left after the failed commit: {left:?}");
    assert!(sink.read_manifest(session).await.is_err());

    // 2. Healed: the same session runs again and commits, with exactly its rows.
    faults.fail_manifests.store(false, Ordering::SeqCst);
    let report = engine.start(req, Some(session)).unwrap().finish().await.unwrap();
    assert!(report.committed, "{report:?}");
    assert_eq!(report.status, SessionStatus::Success);
    let rows = session_rows(&store, session).await;
    assert_eq!(rows.len(), 7);
    assert!(store.session(session).await.unwrap().unwrap().committed);
    let manifest = sink.read_manifest(session).await.unwrap();
    // The manifest precedes the rows: its receivers are stored (rows come after the commit).
    assert_eq!(manifest.receivers.iter().filter(|r| r.status.is_stored()).count(), 7);
}
