//! The service in process: on 127.0.0.1:0 with the simulated network, a local-disk archive and
//! SQLite in a temporary directory.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::StatusCode;
use chrono::Utc;
use futures::StreamExt;
use heimdall_core::{
    GeoPosition, IqArchive, MetricQuery, ReceiverId, ReceiverInfo, ReceiverKind, ReceiverRecord, ReceiverRegistry,
    SessionId, SessionStatus,
};
use heimdall_server::api::SessionObject;
use heimdall_server::backends::{open_database, open_store};
use heimdall_server::state::build_from_record;
use heimdall_server::{AppState, serve};
use heimdall_storage::{ArchiveFormat, ArchiveSink};
use heimdall_tsdb::Tsdb;
use heimdall_websdr::receivers_file::ReceiversFile;
use heimdall_websdr::simulated::Pacing;
use serde_json::{Value, json};

use sha2::Digest;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Upper bound for anything a test waits for (a safety net, never a way to wait).
const LIMIT: Duration = Duration::from_secs(120);

struct TestService {
    base: String,
    client: reqwest::Client,
    app: AppState,
    dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

async fn open_backends(dir: &std::path::Path) -> (ArchiveSink, Tsdb) {
    let store = format!("file://{}", dir.join("archive").display());
    let sink = open_store(Some(&store), &[], ArchiveFormat::Both).unwrap();
    let db_path = dir.join("heimdall.db").display().to_string();
    let db = open_database(Some(&db_path)).await.unwrap();
    (sink, db)
}

async fn start_in(dir: tempfile::TempDir, pacing: Pacing) -> TestService {
    let (sink, db) = open_backends(dir.path()).await;
    let app = AppState::new(sink, Arc::new(db), pacing, 7);
    app.init_registry(None).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let signal = async move {
        let _ = rx.await;
    };
    let task = tokio::spawn(serve(listener, app.clone(), signal, Duration::ZERO));
    TestService {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        app,
        dir,
        stop: Some(tx),
        task,
    }
}

async fn start(pacing: Pacing) -> TestService {
    start_in(tempfile::tempdir().unwrap(), pacing).await
}

impl TestService {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        decode(self.get_raw(path).await).await
    }

    async fn get_raw(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<&str>) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_owned());
        }
        decode(req.send().await.unwrap()).await
    }

    async fn post(&self, path: &str, body: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    async fn submit(&self, body: Value) -> String {
        let (code, v) = self.post("/api/v1/acquisitions", &body.to_string()).await;
        assert_eq!(code, StatusCode::ACCEPTED, "{v}");
        assert_eq!(v["status"], "PENDING", "{v}");
        assert_eq!(v["task_id"], v["session_id"]);
        v["session_id"].as_str().unwrap().to_owned()
    }

    async fn events(&self, id: &str) -> SseReader {
        let r = self.get_raw(&format!("/api/v1/acquisitions/{id}/events")).await;
        assert_eq!(r.status().as_u16(), 200);
        let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        SseReader {
            stream: r.bytes_stream().boxed(),
            buf: String::new(),
        }
    }

    /// Everything the archive holds for a session (files on disk).
    fn files_of(&self, id: &str) -> Vec<PathBuf> {
        fn walk(p: &std::path::Path, out: &mut Vec<PathBuf>) {
            if let Ok(rd) = std::fs::read_dir(p) {
                for e in rd.flatten() {
                    let path = e.path();
                    if path.is_dir() {
                        walk(&path, out);
                    } else {
                        out.push(path);
                    }
                }
            }
        }
        let mut all = Vec::new();
        walk(&self.dir.path().join("archive"), &mut all);
        all.into_iter().filter(|p| p.to_string_lossy().contains(id)).collect()
    }

    async fn stop(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(LIMIT, &mut self.task)
            .await
            .expect("the service did not stop")
            .unwrap()
            .unwrap();
        self.dir
    }
}

async fn decode(r: reqwest::Response) -> (StatusCode, Value) {
    let code = StatusCode::from_u16(r.status().as_u16()).unwrap();
    let ct = r
        .headers()
        .get("content-type")
        .map(|h| h.to_str().unwrap_or("").to_owned())
        .unwrap_or_default();
    let text = r.text().await.unwrap();
    assert!(ct.starts_with("application/json"), "{code}: {ct}: {text}");
    (
        code,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
    )
}

/// A minimal Server-Sent Events parser over the response body.
struct SseReader {
    stream: futures::stream::BoxStream<'static, reqwest::Result<Bytes>>,
    buf: String,
}

impl SseReader {
    /// The next event `(name, data)`, or `None` when the stream ends.
    async fn next(&mut self) -> Option<(String, Value)> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut name, mut data) = (String::from("message"), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
                if data.is_empty() {
                    continue; // keep-alive comment
                }
                return Some((name, serde_json::from_str(&data).unwrap()));
            }
            let chunk = tokio::time::timeout(LIMIT, self.stream.next())
                .await
                .expect("no event for too long")?;
            self.buf.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        }
    }

    /// Reads to the end of the stream; checks it ends right after `session_finished`.
    async fn read_to_end(&mut self) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        while let Some(ev) = self.next().await {
            out.push(ev);
        }
        let last = out.last().expect("no event at all");
        assert_eq!(last.0, "session_finished", "{out:?}");
        assert_eq!(last.1["type"], "session_finished");
        out
    }
}

fn names(evs: &[(String, Value)]) -> Vec<&str> {
    evs.iter().map(|(n, _)| n.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn submit_follow_events_read_status_and_measurements() {
    let svc = start(Pacing::AsFastAsPossible).await;
    let id = svc
        .submit(json!({"frequency_mhz": 145.5, "duration_seconds": 2, "websdrs": ["torino", "genova", "montanaro"]}))
        .await;
    let evs = svc.events(&id).await.read_to_end().await;
    let n = names(&evs);
    assert_eq!(n.first(), Some(&"session_started"), "{n:?}");
    assert_eq!(n.iter().filter(|e| **e == "stored").count(), 3, "{n:?}");
    assert_eq!(n.iter().filter(|e| **e == "recorded").count(), 3, "{n:?}");
    let report = &evs.last().unwrap().1["report"];
    assert_eq!(report["status"], "success");
    assert_eq!(report["session_id"], id.as_str());

    let (code, st) = svc.get(&format!("/api/v1/acquisitions/{id}")).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(st["status"], "SUCCESS", "{st}");
    assert_eq!(st["progress"], 100.0);
    assert_eq!(st["measurements_collected"], 3);
    assert_eq!(st["receivers_total"], 3);
    assert_eq!(st["source"], "engine");
    assert_eq!(st["result"]["status"], "success");
    assert!(st["errors"].as_object().unwrap().is_empty(), "{st}");

    // A late subscriber gets the story so far and the end at once.
    let replay = svc.events(&id).await.read_to_end().await;
    assert_eq!(names(&replay).first(), Some(&"session_started"));

    let (code, rows) = svc.get(&format!("/api/v1/measurements?session={id}")).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(rows.as_array().unwrap().len(), 3, "{rows}");
    let (_, rows) = svc
        .get(&format!(
            "/api/v1/measurements?session={id}&receiver=torino&freq_min_mhz=145&freq_max_mhz=146"
        ))
        .await;
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["receiver_id"], "torino");
    let (_, rows) = svc.get("/api/v1/measurements?freq_min_mhz=146").await;
    assert!(rows.as_array().unwrap().is_empty());
    let (code, _) = svc.get("/api/v1/measurements?limit=0").await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    let (code, _) = svc.get("/api/v1/measurements?session=nope").await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);

    let (code, snr) = svc.get("/api/v1/receivers/torino/snr-stats?hours=1").await;
    assert_eq!(code, StatusCode::OK, "{snr}");
    assert_eq!(snr["count"], 1, "{snr}");
    assert!(snr["mean_db"].as_f64().unwrap().is_finite());
    let (_, snr) = svc.get("/api/v1/receivers/coazze/snr-stats").await;
    assert_eq!(snr["count"], 0, "{snr}");

    let objects = svc.app.sink.list_objects(id.parse().unwrap()).await.unwrap();
    assert!(objects.iter().any(|k| k.ends_with("manifest.json")), "{objects:?}");

    // The archive over HTTP: the manifest's objects, each downloadable with its checksum.
    let (code, listed) = svc.get(&format!("/api/v1/acquisitions/{id}/objects")).await;
    assert_eq!(code, StatusCode::OK, "{listed}");
    let listed: Vec<SessionObject> = serde_json::from_value(listed).unwrap();
    let npy = listed
        .iter()
        .find(|o| o.name == "torino.npy")
        .expect("torino.npy listed");
    assert!(listed.iter().any(|o| o.name == "torino.sigmf-meta"), "{listed:?}");
    let r = svc
        .get_raw(&format!("/api/v1/acquisitions/{id}/objects/torino.npy"))
        .await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["etag"].to_str().unwrap(), format!("\"{}\"", npy.sha256));
    let body = r.bytes().await.unwrap();
    assert_eq!(body.len() as u64, npy.size);
    assert_eq!(hex::encode(sha2::Sha256::digest(&body)), npy.sha256);
    let on_disk = svc
        .files_of(&id)
        .into_iter()
        .find(|p| p.ends_with("torino.npy"))
        .unwrap();
    assert_eq!(body.as_ref(), std::fs::read(on_disk).unwrap().as_slice());
    for missing in [
        format!("/api/v1/acquisitions/{id}/objects/coazze.npy"),
        format!("/api/v1/acquisitions/{id}/objects/..%2Fmanifest.json"),
        format!("/api/v1/acquisitions/{}/objects", SessionId::new()),
    ] {
        let (code, body) = svc.get(&missing).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "{missing}: {body}");
    }
    let (code, _) = svc
        .send(reqwest::Method::DELETE, &format!("/api/v1/acquisitions/{id}"), None)
        .await;
    assert_eq!(code, StatusCode::CONFLICT);

    // After a restart the status comes from the database.
    let dir = svc.stop().await;
    let svc = start_in(dir, Pacing::AsFastAsPossible).await;
    let (code, st) = svc.get(&format!("/api/v1/acquisitions/{id}")).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(st["status"], "SUCCESS", "{st}");
    assert_eq!(st["source"], "database");
    assert_eq!(st["measurements_collected"], 3);
    let evs = svc.events(&id).await.read_to_end().await;
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].1["report"]["session_id"], id.as_str());

    // With a new, empty database the archive's manifest still answers.
    let dir = svc.stop().await;
    for f in ["heimdall.db", "heimdall.db-wal", "heimdall.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join(f));
    }
    let svc = start_in(dir, Pacing::AsFastAsPossible).await;
    let (code, st) = svc.get(&format!("/api/v1/acquisitions/{id}")).await;
    assert_eq!(code, StatusCode::OK, "{st}");
    assert_eq!(st["status"], "SUCCESS", "{st}");
    assert_eq!(st["source"], "archive");
    assert_eq!(st["measurements_collected"], 3);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_a_running_acquisition_leaves_nothing() {
    let svc = start(Pacing::RealTime).await;
    let id = svc
        .submit(json!({"frequency_mhz": 145.5, "duration_seconds": 120, "websdrs": ["torino", "coazze"]}))
        .await;
    let mut events = svc.events(&id).await;
    // Wait until samples flow (the session is really running).
    loop {
        let (name, _) = events.next().await.expect("stream ended before any progress");
        if name == "progress" {
            break;
        }
    }
    let (_, st) = svc.get(&format!("/api/v1/acquisitions/{id}")).await;
    assert_eq!(st["status"], "PROGRESS", "{st}");
    assert!(st["progress"].as_f64().unwrap() < 50.0, "{st}");

    let (code, st) = svc
        .send(reqwest::Method::DELETE, &format!("/api/v1/acquisitions/{id}"), None)
        .await;
    assert_eq!(code, StatusCode::OK, "{st}");
    assert_eq!(st["status"], "CANCELLED", "{st}");
    let rest = events.read_to_end().await;
    assert_eq!(rest.last().unwrap().1["report"]["status"], "cancelled");

    let (_, st) = svc.get(&format!("/api/v1/acquisitions/{id}")).await;
    assert_eq!(st["status"], "CANCELLED");
    let (code, _) = svc
        .send(reqwest::Method::DELETE, &format!("/api/v1/acquisitions/{id}"), None)
        .await;
    assert_eq!(code, StatusCode::CONFLICT);

    let session: SessionId = id.parse().unwrap();
    assert!(svc.files_of(&id).is_empty(), "{:?}", svc.files_of(&id));
    assert!(svc.app.sink.list_objects(session).await.unwrap_or_default().is_empty());
    let recorded = svc.app.db.session(session).await.unwrap().unwrap();
    assert_eq!(recorded.status, SessionStatus::Cancelled);
    let (_, rows) = svc.get(&format!("/api/v1/measurements?session={id}")).await;
    assert!(rows.as_array().unwrap().is_empty());
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_cancels_running_acquisitions_and_commits_nothing() {
    let svc = start(Pacing::RealTime).await;
    let id = svc
        .submit(json!({"frequency_mhz": 7.1, "duration_seconds": 300, "websdrs": ["genova"]}))
        .await;
    let mut events = svc.events(&id).await;
    loop {
        let (name, _) = events.next().await.expect("stream ended before any progress");
        if name == "progress" {
            break;
        }
    }
    let app = svc.app.clone();
    let dir = svc.stop().await;
    let session: SessionId = id.parse().unwrap();
    let job = app.job(session).unwrap();
    assert!(job.is_done());
    assert_eq!(job.status().status, "CANCELLED");
    let (sink, db) = open_backends(dir.path()).await;
    assert!(sink.list_objects(session).await.unwrap_or_default().is_empty());
    assert_eq!(
        db.session(session).await.unwrap().unwrap().status,
        SessionStatus::Cancelled
    );
    // A restarted service still knows it was cancelled.
    let svc = start_in(dir, Pacing::AsFastAsPossible).await;
    let (code, st) = svc.get(&format!("/api/v1/acquisitions/{id}")).await;
    assert_eq!(code, StatusCode::OK, "{st}");
    assert_eq!(st["status"], "CANCELLED", "{st}");
    assert_eq!(st["source"], "database", "{st}");
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_bodies_are_422_naming_the_field() {
    let svc = start(Pacing::AsFastAsPossible).await;
    let cases: Vec<(&str, &str)> = vec![
        (r#"{"frequency_mhz": "NaN", "duration_seconds": 10}"#, "frequency_mhz"),
        (r#"{"frequency_mhz": -145.5, "duration_seconds": 10}"#, "frequency_mhz"),
        (r#"{"frequency_mhz": 0, "duration_seconds": 10}"#, "frequency_mhz"),
        (r#"{"frequency_mhz": 1e9, "duration_seconds": 10}"#, "frequency_mhz"),
        (
            r#"{"frequency_mhz": 145.5, "duration_seconds": 301}"#,
            "duration_seconds",
        ),
        (
            r#"{"frequency_mhz": 145.5, "duration_seconds": -1}"#,
            "duration_seconds",
        ),
        (r#"{"frequency_mhz": 145.5, "duration_seconds": 0}"#, "duration_seconds"),
        (
            r#"{"frequency_mhz": 145.5, "duration_seconds": "10"}"#,
            "duration_seconds",
        ),
        (r#"{"duration_seconds": 10}"#, "frequency_mhz"),
        (r#"{"frequency_mhz": 145.5}"#, "duration_seconds"),
        (r#"{"frequency_mhz": true, "duration_seconds": 10}"#, "frequency_mhz"),
        (r#"{"frequency_mhz": [145.5], "duration_seconds": 10}"#, "frequency_mhz"),
        (
            r#"{"frequency_mhz": 145.5, "duration_seconds": 10, "start_time": "yesterday"}"#,
            "start_time",
        ),
        (
            r#"{"frequency_mhz": 145.5, "duration_seconds": 10, "start_time": 5}"#,
            "start_time",
        ),
        (
            r#"{"frequency_mhz": 145.5, "duration_seconds": 10, "start_time": "2999-01-01T00:00:00Z"}"#,
            "start_time",
        ),
        (
            r#"{"frequency_mhz": 145.5, "duration_seconds": 10, "websdrs": []}"#,
            "websdrs",
        ),
        (
            r#"{"frequency_mhz": 145.5, "duration_seconds": 10, "websdrs": "torino"}"#,
            "websdrs",
        ),
        (
            r#"{"frequency_mhz": 145.5, "duration_seconds": 10, "websdrs": ["bad id!"]}"#,
            "websdrs",
        ),
        (
            r#"{"frequency_mhz": 145.5, "duration_seconds": 10, "websdrs": ["torino", "torino"]}"#,
            "websdrs",
        ),
        (
            r#"{"frequency_mhz": 145.5, "duration_seconds": 10, "websdrs": ["nowhere"]}"#,
            "websdrs",
        ),
        (
            r#"{"frequency_mhz": 145.5, "duration_seconds": 10, "receivers": [1.5]}"#,
            "receivers",
        ),
        (
            r#"{"frequency_mhz": 145.5, "duration_seconds": 10, "sample_rate_hz": 0}"#,
            "sample_rate_hz",
        ),
    ];
    for (body, field) in cases {
        let (code, v) = svc.post("/api/v1/acquisitions", body).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
        let detail = v["detail"].as_array().unwrap_or_else(|| panic!("{body}: {v}"));
        assert!(
            detail
                .iter()
                .any(|d| d["loc"][0] == "body" && d["loc"][1] == field && d["msg"].is_string()),
            "{body}: {v}"
        );
    }
    // Malformed JSON (NaN is not JSON), numbers out of range, not an object, no body.
    for body in [
        r#"{"frequency_mhz": NaN, "duration_seconds": 10}"#,
        r#"{"frequency_mhz": 1e999, "duration_seconds": 10}"#,
        r#"{"frequency_mhz": 145.5,"#,
        "[145.5, 10]",
        "",
    ] {
        let (code, v) = svc.post("/api/v1/acquisitions", body).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
        assert_eq!(v["detail"][0]["loc"][0], "body", "{body}: {v}");
    }
    // Every error is reported at once.
    let (_, v) = svc
        .post(
            "/api/v1/acquisitions",
            r#"{"frequency_mhz": -1, "duration_seconds": 1000}"#,
        )
        .await;
    assert_eq!(v["detail"].as_array().unwrap().len(), 2, "{v}");
    // Nothing was started.
    assert!(svc.app.running_jobs().is_empty());
    // The running limit.
    svc.app.set_max_running(0);
    let (code, v) = svc
        .post(
            "/api/v1/acquisitions",
            r#"{"frequency_mhz": 145.5, "duration_seconds": 1}"#,
        )
        .await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert_eq!(svc.app.jobs_in_memory(), 0);
    svc.stop().await;
}

/// A tiny deterministic generator (xorshift64*), enough to vary bodies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[(self.next() % xs.len() as u64) as usize]
    }

    fn value(&mut self, depth: u32) -> Value {
        match self.next() % if depth > 1 { 7 } else { 9 } {
            0 => Value::Null,
            1 => json!(self.next().is_multiple_of(2)),
            2 => json!(f64::from_bits(self.next())),
            3 => json!(*self.pick(&[0.0, -1.0, 1e-300, 145.5, 300.0, 300.0001, 3e5, 1e308, -0.0])),
            4 => json!(self.next() as i64),
            5 => json!(*self.pick(&["", "NaN", "inf", "torino", "2026-01-01T00:00:00Z", "\u{0}", "é"])),
            6 => json!(*self.pick(&[1u64, 300, 301, u64::MAX])),
            7 => Value::Array((0..self.next() % 4).map(|_| self.value(depth + 1)).collect()),
            _ => {
                let mut m = serde_json::Map::new();
                for _ in 0..self.next() % 3 {
                    m.insert(
                        self.pick(&["a", "websdrs", "frequency_mhz"]).to_string(),
                        self.value(depth + 1),
                    );
                }
                Value::Object(m)
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn random_bodies_and_paths_never_break_the_server() {
    let svc = start(Pacing::AsFastAsPossible).await;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let fields = [
        "frequency_mhz",
        "duration_seconds",
        "start_time",
        "websdrs",
        "receivers",
        "websdr_ids",
        "sample_rate_hz",
        "label",
    ];
    let mut accepted = Vec::new();
    for _ in 0..200 {
        let mut body = serde_json::Map::new();
        body.insert("frequency_mhz".into(), json!(145.5));
        body.insert("duration_seconds".into(), json!(0.5));
        body.insert("websdrs".into(), json!(["torino"]));
        for _ in 0..1 + rng.next() % 3 {
            let f = *rng.pick(&fields);
            if rng.next().is_multiple_of(5) {
                body.remove(f);
            } else {
                body.insert(f.into(), rng.value(0));
            }
        }
        let text = Value::Object(body).to_string();
        let (code, v) = svc.post("/api/v1/acquisitions", &text).await;
        match code {
            StatusCode::ACCEPTED => accepted.push(v["session_id"].as_str().unwrap().to_owned()),
            StatusCode::UNPROCESSABLE_ENTITY => {
                assert!(!v["detail"].as_array().unwrap().is_empty(), "{text}: {v}")
            }
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("{text}: {other}: {v}"),
        }
        let rbody = json!({
            "name": rng.value(1), "kind": rng.pick(&["simulated", "kiwisdr", "x"]), "url": rng.value(1),
            "latitude": rng.value(1), "longitude": rng.value(1),
        })
        .to_string();
        let (code, v) = svc.post("/api/v1/receivers", &rbody).await;
        assert!(
            [
                StatusCode::CREATED,
                StatusCode::CONFLICT,
                StatusCode::UNPROCESSABLE_ENTITY
            ]
            .contains(&code),
            "{rbody}: {code}: {v}"
        );
    }
    for path in [
        "/api/v1/acquisitions/%00",
        "/api/v1/acquisitions/..%2F..%2Fetc",
        "/api/v1/receivers/%E2%80%AE",
        "/api/v1/receivers/a/snr-stats?hours=-1",
        "/api/v1/receivers/torino/snr-stats?hours=1e308",
        "/api/v1/receivers/torino/snr-stats?hours=x",
        "/api/v1/measurements?limit=-1",
        "/api/v1/measurements?since=yesterday",
        "/api/v1/measurements?freq_min_mhz=NaN",
    ] {
        let (code, v) = svc.get(path).await;
        assert!(
            [StatusCode::NOT_FOUND, StatusCode::UNPROCESSABLE_ENTITY, StatusCode::OK].contains(&code),
            "{path}: {code}: {v}"
        );
    }
    // Every accepted session ends.
    for id in accepted {
        svc.events(&id).await.read_to_end().await;
    }
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_ids_are_404() {
    let svc = start(Pacing::AsFastAsPossible).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    for path in [
        format!("/api/v1/acquisitions/{unknown}"),
        format!("/api/v1/acquisitions/{unknown}/events"),
        "/api/v1/acquisitions/not-a-uuid".to_owned(),
        "/api/v1/acquisitions/00000000-0000-0000-0000-000000000000".to_owned(),
        "/api/v1/receivers/nowhere".to_owned(),
        "/api/v1/receivers/bad%20id".to_owned(),
        "/api/v1/receivers/nowhere/snr-stats".to_owned(),
        "/api/v1/nothing-here".to_owned(),
    ] {
        let (code, v) = svc.get(&path).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "{path}: {v}");
        assert!(v["detail"].is_string(), "{path}: {v}");
    }
    for path in [
        format!("/api/v1/acquisitions/{unknown}"),
        "/api/v1/receivers/nowhere".to_owned(),
    ] {
        let (code, _) = svc.send(reqwest::Method::DELETE, &path, None).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "{path}");
    }
    let body = r#"{"name": "X", "kind": "simulated", "url": "sim://x", "latitude": 45, "longitude": 7}"#;
    let (code, _) = svc
        .send(reqwest::Method::PUT, "/api/v1/receivers/nowhere", Some(body))
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, v) = svc.send(reqwest::Method::PATCH, "/api/v1/receivers", None).await;
    assert_eq!(code, StatusCode::METHOD_NOT_ALLOWED, "{v}");
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn receiver_secrets_are_masked_in_answers_and_kept_in_the_registry() {
    const SECRET: &str = "Pl4ntedS3cretXq";
    let svc = start(Pacing::AsFastAsPossible).await;
    let body = json!({"name": "Locked", "kind": "kiwisdr", "url": "http://127.0.0.1:1/",
        "latitude": 45.0, "longitude": 7.0,
        "options": {"password": SECRET, "time_limit_password": format!("t{SECRET}"), "mode": "iq"}});
    let (code, created) = svc.post("/api/v1/receivers", &body.to_string()).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let (_, one) = svc.get("/api/v1/receivers/locked").await;
    let (_, list) = svc.get("/api/v1/receivers").await;
    let (_, inactive) = svc.get("/api/v1/receivers?include_inactive=true").await;
    for answer in [&created, &one, &list, &inactive] {
        assert!(!answer.to_string().contains(SECRET), "{answer}");
    }
    assert_eq!(
        one["options"],
        json!({"password": "***", "time_limit_password": "***", "mode": "iq"})
    );
    // The registry keeps the real values for the engine, also after a GET answer is PUT back.
    let stored = |svc: &TestService| {
        let db = svc.app.db.clone();
        async move {
            db.receiver(&ReceiverId::new("locked").unwrap())
                .await
                .unwrap()
                .unwrap()
                .options
        }
    };
    assert_eq!(stored(&svc).await["password"], SECRET);
    let mut back = json!({});
    for k in ["name", "kind", "url", "latitude", "longitude", "options"] {
        back[k] = one[k].clone();
    }
    back["options"]["mode"] = json!("usb");
    let (code, r) = svc
        .send(
            reqwest::Method::PUT,
            "/api/v1/receivers/locked",
            Some(&back.to_string()),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{r}");
    assert!(!r.to_string().contains(SECRET), "{r}");
    let opts = stored(&svc).await;
    assert_eq!(opts["password"], SECRET);
    assert_eq!(opts["time_limit_password"], format!("t{SECRET}"));
    assert_eq!(opts["mode"], "usb");
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn receivers_crud_and_health() {
    let svc = start(Pacing::AsFastAsPossible).await;
    let (code, list) = svc.get("/api/v1/receivers").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 7, "{list}");

    let asti = r#"{"name": "Asti", "kind": "simulated", "url": "sim://asti", "latitude": 44.9, "longitude": 8.2, "altitude_m": 120}"#;
    let (code, r) = svc.post("/api/v1/receivers", asti).await;
    assert_eq!(code, StatusCode::CREATED, "{r}");
    assert_eq!(r["id"], "asti");
    assert_eq!(r["active"], true);
    let (code, _) = svc.post("/api/v1/receivers", asti).await;
    assert_eq!(code, StatusCode::CONFLICT);
    let (code, r) = svc.get("/api/v1/receivers/asti").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(r["latitude"], 44.9);

    for (body, field) in [
        (
            r#"{"name": "B", "kind": "radio", "url": "sim://b", "latitude": 1, "longitude": 2}"#,
            "kind",
        ),
        (
            r#"{"name": "B", "kind": "simulated", "url": "sim://b", "latitude": 95, "longitude": 2}"#,
            "latitude",
        ),
        (
            r#"{"name": "B", "kind": "simulated", "url": "sim://b", "latitude": 1}"#,
            "longitude",
        ),
        (r#"{"name": "B", "kind": "simulated", "url": "sim://b"}"#, "latitude"),
        (
            r#"{"name": "B", "kind": "kiwisdr", "url": "http://u:p@h:8073/"}"#,
            "url",
        ),
        (
            r#"{"id": "no way", "name": "B", "kind": "kiwisdr", "url": "http://h:8073/"}"#,
            "id",
        ),
        (r#"{"name": "B", "kind": "kiwisdr"}"#, "url"),
        (
            r#"{"name": "B", "kind": "kiwisdr", "url": "http://h/", "colour": "red"}"#,
            "colour",
        ),
        (r#"{"name": 5, "kind": "kiwisdr", "url": "http://h/"}"#, "body"),
    ] {
        let (code, v) = svc.post("/api/v1/receivers", body).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
        let loc = &v["detail"][0]["loc"];
        assert!(loc[1] == field || (field == "body" && loc[0] == "body"), "{body}: {v}");
    }

    // The new receiver takes part in acquisitions.
    let id = svc
        .submit(json!({"frequency_mhz": 433.92, "duration_seconds": 1, "websdrs": ["asti"]}))
        .await;
    let evs = svc.events(&id).await.read_to_end().await;
    assert_eq!(evs.last().unwrap().1["report"]["status"], "success");

    let renamed =
        r#"{"name": "Asti Nord", "kind": "simulated", "url": "sim://asti", "latitude": 44.95, "longitude": 8.2}"#;
    let (code, r) = svc
        .send(reqwest::Method::PUT, "/api/v1/receivers/asti", Some(renamed))
        .await;
    assert_eq!(code, StatusCode::OK, "{r}");
    assert_eq!(r["name"], "Asti Nord");
    assert_eq!(r["latitude"], 44.95);
    // A GET answer can be PUT back after an edit.
    let (_, mut got) = svc.get("/api/v1/receivers/asti").await;
    got["name"] = json!("Asti Sud");
    let (code, r) = svc
        .send(reqwest::Method::PUT, "/api/v1/receivers/asti", Some(&got.to_string()))
        .await;
    assert_eq!(code, StatusCode::OK, "{r}");
    assert_eq!(r["name"], "Asti Sud");
    let (code, _) = svc
        .send(
            reqwest::Method::PUT,
            "/api/v1/receivers/asti",
            Some(&renamed.replace("44.95", "-91")),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);

    let (code, r) = svc.send(reqwest::Method::DELETE, "/api/v1/receivers/asti", None).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(r["active"], false);
    let (_, list) = svc.get("/api/v1/receivers").await;
    assert!(list.as_array().unwrap().iter().all(|r| r["id"] != "asti"));
    let (_, list) = svc.get("/api/v1/receivers?include_inactive=true").await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == "asti" && r["active"] == false)
    );
    let (code, _) = svc.get("/api/v1/receivers?include_inactive=maybe").await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    // Deactivated: no longer usable.
    let (code, v) = svc
        .post(
            "/api/v1/acquisitions",
            r#"{"frequency_mhz": 145.5, "duration_seconds": 1, "websdrs": ["asti"]}"#,
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["detail"][0]["loc"], json!(["body", "websdrs", 0]));
    // PUT with active=true brings it back; POST over an inactive one too.
    let (code, r) = svc.post("/api/v1/receivers", asti).await;
    assert_eq!(code, StatusCode::CREATED, "{r}");
    assert_eq!(r["active"], true);

    // A receiver no source can be built for (no position): refused by name, skipped otherwise.
    let nopos = r#"{"name": "NoPos", "kind": "kiwisdr", "url": "http://127.0.0.1:1/"}"#;
    let (code, r) = svc.post("/api/v1/receivers", nopos).await;
    assert_eq!(code, StatusCode::CREATED, "{r}");
    let (code, v) = svc
        .post(
            "/api/v1/acquisitions",
            r#"{"frequency_mhz": 7.1, "duration_seconds": 1, "websdrs": ["torino", "nopos"]}"#,
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["detail"][0]["loc"], json!(["body", "websdrs", 1]), "{v}");
    let (code, v) = svc
        .post(
            "/api/v1/acquisitions",
            r#"{"frequency_mhz": 7.1, "duration_seconds": 1}"#,
        )
        .await;
    assert_eq!(code, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["receivers"], 8, "{v}");
    assert_eq!(v["skipped"][0]["id"], "nopos", "{v}");
    let id = v["session_id"].as_str().unwrap().to_owned();
    let evs = svc.events(&id).await.read_to_end().await;
    assert_eq!(evs.last().unwrap().1["report"]["status"], "success");

    let (code, health) = svc.get("/api/v1/receivers/health").await;
    assert_eq!(code, StatusCode::OK);
    let health = health.as_array().unwrap();
    assert_eq!(health.len(), 9);
    for h in health {
        assert_eq!(h["available"], h["id"] != "nopos", "{h}");
    }
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_openapi() {
    let svc = start(Pacing::AsFastAsPossible).await;
    let (code, h) = svc.get("/health").await;
    assert_eq!(code, StatusCode::OK, "{h}");
    assert_eq!(h["status"], "healthy");
    assert_eq!(h["store"]["ok"], true);
    assert_eq!(h["database"]["ok"], true);

    let (code, doc) = svc.get("/api/v1/openapi.json").await;
    assert_eq!(code, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/api/v1/acquisitions", &["post"][..]),
        ("/api/v1/acquisitions/{id}", &["get", "delete"][..]),
        ("/api/v1/acquisitions/{id}/events", &["get"][..]),
        ("/api/v1/receivers", &["get", "post"][..]),
        ("/api/v1/receivers/{id}", &["get", "put", "delete"][..]),
        ("/api/v1/receivers/health", &["get"][..]),
        ("/api/v1/receivers/{id}/snr-stats", &["get"][..]),
        ("/api/v1/measurements", &["get"][..]),
        ("/health", &["get"][..]),
        ("/api/v1/openapi.json", &["get"][..]),
    ] {
        let p = paths.get(path).unwrap_or_else(|| panic!("{path} missing"));
        for m in methods {
            assert!(p.get(*m).is_some(), "{m} {path}");
        }
    }
    let schema = &doc["components"]["schemas"]["AcquisitionRequestBody"];
    let required = schema["required"].as_array().unwrap();
    assert!(required.contains(&json!("frequency_mhz")) && required.contains(&json!("duration_seconds")));
    assert!(schema["properties"]["websdrs"].is_object());
    assert_eq!(schema["properties"]["duration_seconds"]["maximum"], 300.0, "{schema}");
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn health_names_the_failing_backend() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, _) = open_backends(dir.path()).await;
    // A database file whose directory does not exist cannot be opened.
    let db = Tsdb::from_url(&dir.path().join("missing/sub/h.db").display().to_string()).unwrap();
    let app = AppState::new(sink, Arc::new(db), Pacing::AsFastAsPossible, 1);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, app, async move { drop(rx.await) }, Duration::ZERO));
    let r = reqwest::get(format!("http://{addr}/health")).await.unwrap();
    let (code, h) = decode(r).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{h}");
    assert_eq!(h["status"], "unhealthy");
    assert_eq!(h["store"]["ok"], true);
    assert_eq!(h["database"]["ok"], false);
    assert!(h["database"]["error"].as_str().unwrap().len() > 5, "{h}");
    tx.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn receivers_file_entries_go_into_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, db) = open_backends(dir.path()).await;
    let file = ReceiversFile::parse(
        "[[receiver]]\nid = \"owrx\"\nkind = \"openwebrx\"\nurl = \"http://127.0.0.1:1/\"\n\
         latitude = 45.0\nlongitude = 7.0\n\n\
         [[receiver]]\nid = \"off\"\nkind = \"openwebrx\"\nurl = \"http://127.0.0.1:1/\"\n\
         latitude = 45.0\nlongitude = 7.0\nenabled = false\n",
    )
    .unwrap();
    let app = AppState::new(sink, Arc::new(db), Pacing::AsFastAsPossible, 1);
    app.init_registry(Some(&file)).await.unwrap();
    // Not empty, so the simulated network is not seeded.
    let all = app.db.list_receivers(false).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|r| r.info.id.as_str()).collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    let active = app.db.list_receivers(true).await.unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].info.id.as_str(), "owrx");
    assert!(app.source_for(&active[0], 145e6).is_ok());
}

#[test]
fn registry_records_become_sources_through_the_receivers_file() {
    let now = Utc::now();
    let rec = ReceiverRecord {
        info: ReceiverInfo::new(
            ReceiverId::new("owrx-1").unwrap(),
            "Some \"quoted\" name",
            ReceiverKind::OpenWebRx,
            "http://example.org:8073/",
        )
        .with_position(GeoPosition::new(45.0, 7.5, Some(250.0)).unwrap()),
        active: true,
        options: json!({"mode": "nfm", "source": "api", "bad key": 1, "nested": {"a": 1}}),
        created_at: now,
        updated_at: now,
    };
    let s = build_from_record(&rec).unwrap();
    assert_eq!(s.info().id.as_str(), "owrx-1");
    let mut no_pos = rec.clone();
    no_pos.info.position = None;
    assert!(build_from_record(&no_pos).is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_guard_the_api_and_bodies_must_be_json() {
    let svc = start(Pacing::AsFastAsPossible).await;
    let token = "5f0c3b2a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b";
    svc.app
        .set_tokens(heimdall_server::auth::Tokens::parse(token, "test").unwrap())
        .unwrap();
    // Open: health, readiness, the OpenAPI document.
    for path in ["/health", "/ready", "/api/v1/openapi.json"] {
        let (code, _) = svc.get(path).await;
        assert_eq!(code, StatusCode::OK, "{path}");
    }
    // Everything else needs the token.
    let (code, v) = svc.get("/api/v1/receivers").await;
    assert_eq!(code, StatusCode::UNAUTHORIZED, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("Bearer"), "{v}");
    let r = svc
        .client
        .get(svc.url("/api/v1/receivers"))
        .header("authorization", format!("Bearer {token}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let body = r.text().await.unwrap();
    assert!(!body.contains(token), "{body}");
    let authed = |m: reqwest::Method, p: &str| {
        svc.client
            .request(m, svc.url(p))
            .header("authorization", format!("bearer {token}"))
    };
    let r = authed(reqwest::Method::GET, "/api/v1/receivers").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Bodies must say JSON: a cross-site form or text/plain post is 415, and starts nothing.
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let r = authed(reqwest::Method::POST, "/api/v1/acquisitions")
            .header("content-type", ct)
            .body(r#"{"frequency_mhz": 145.5, "duration_seconds": 1}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct}");
    }
    let r = authed(reqwest::Method::POST, "/api/v1/acquisition/acquire")
        .body(r#"{"frequency_mhz": 145.5, "duration_seconds": 1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(svc.app.jobs_in_memory(), 0, "a refused body started an acquisition");
    // No CORS header, even when asked.
    let r = authed(reqwest::Method::GET, "/api/v1/receivers")
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let r = authed(reqwest::Method::POST, "/api/v1/acquisitions")
        .header("content-type", "application/json; charset=utf-8")
        .body(r#"{"frequency_mhz": 145.5, "duration_seconds": 1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn admission_is_atomic_under_a_burst() {
    let svc = start(Pacing::RealTime).await;
    svc.app.set_max_running(4);
    let body = r#"{"frequency_mhz": 145.5, "duration_seconds": 3, "websdrs": ["torino"]}"#;
    let sends = (0..40).map(|_| {
        svc.client
            .post(svc.url("/api/v1/acquisitions"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    });
    let answers: Vec<(u16, Option<String>)> = futures::future::join_all(sends)
        .await
        .into_iter()
        .map(|r| {
            let r = r.unwrap();
            let retry_after = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            (r.status().as_u16(), retry_after)
        })
        .collect();
    let codes: Vec<u16> = answers.iter().map(|(c, _)| *c).collect();
    let accepted = codes.iter().filter(|c| **c == 202).count();
    let refused = codes.iter().filter(|c| **c == 429).count();
    assert_eq!(accepted, 4, "{codes:?}");
    assert_eq!(refused, 36, "{codes:?}");
    // Each refusal says when to come back: when the first running session should be over
    // (its 3 s plus a 15 s margin for connecting and committing), in whole seconds.
    for (code, retry_after) in &answers {
        match (code, retry_after) {
            (429, Some(v)) => {
                let secs: u64 = v.parse().unwrap_or_else(|_| panic!("Retry-After {v:?}"));
                assert!((10..=18).contains(&secs), "Retry-After {secs}");
            }
            (429, None) => panic!("a 429 without Retry-After"),
            (_, Some(v)) => panic!("Retry-After {v:?} on a {code}"),
            _ => {}
        }
    }
    assert_eq!(svc.app.running_jobs().len(), 4);
    svc.stop().await;
}
