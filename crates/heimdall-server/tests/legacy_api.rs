//! The old acquisition service's API answered with the old shapes: a client written against the
//! old pydantic models (as JSON schemas) and Celery's status semantics, in Python with nothing but
//! the standard library and jsonschema (tests/legacy_api_client.py), runs unchanged against the
//! in-process service (simulated reference network plus one receiver that cannot be reached,
//! local-disk archive, SQLite). Also: the legacy paths are in the OpenAPI document under the
//! `legacy` tag.
#![allow(clippy::print_stderr)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use heimdall_core::{GeoPosition, ReceiverId, ReceiverInfo, ReceiverKind, ReceiverRegistry};
use heimdall_server::backends::{open_database, open_store};
use heimdall_server::{AppState, serve};
use heimdall_storage::ArchiveFormat;
use heimdall_websdr::simulated::Pacing;
use tokio::net::TcpListener;

fn python() -> Option<PathBuf> {
    let p = std::env::var_os("HEIMDALL_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python"));
    if p.exists() {
        return Some(p);
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(!ci, "{} not found under CI=true; run scripts/s3.sh pyenv", p.display());
    eprintln!(
        "\n*** SKIPPED old_clients_work_unchanged: {} not found ***\n",
        p.display()
    );
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn old_clients_work_unchanged() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = format!("file://{}", dir.path().join("archive").display());
    let sink = open_store(Some(&store), &[], ArchiveFormat::Both).unwrap();
    let db = open_database(Some(&dir.path().join("heimdall.db").display().to_string()))
        .await
        .unwrap();
    let app = AppState::new(sink, Arc::new(db), Pacing::AsFastAsPossible, 7);
    app.init_registry(None).await.unwrap();
    app.set_legacy_layout(true);
    // A receiver nobody answers for, with its old integer id stated in the registry.
    let dead = ReceiverInfo::new(
        ReceiverId::new("dead-http").unwrap(),
        "Unreachable",
        ReceiverKind::HttpIq,
        "http://127.0.0.1:9/",
    )
    .with_position(GeoPosition::new(45.0, 7.6, None).unwrap());
    app.db
        .upsert_receiver(&dead, &serde_json::json!({"websdr_id": 9}))
        .await
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(
        listener,
        app.clone(),
        async move {
            let _ = rx.await;
        },
        Duration::ZERO,
    ));

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/legacy_api_client.py");
    let base = format!("http://{addr}");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(py)
            .arg(script)
            .arg(base)
            .arg("9")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let _ = tx.send(());
    let _ = task.await;
    assert!(
        out.status.success(),
        "old client failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let said: serde_json::Value = serde_json::from_slice(&out.stdout).expect("client JSON");
    eprintln!("{said}");
    // The old layout next to the session, for the recorded receivers under their old ids.
    let folder = dir
        .path()
        .join("archive/sessions")
        .join(said["task_id"].as_str().unwrap());
    let mut names: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("websdr_"))
        .collect();
    names.sort();
    let mut want: Vec<String> = said["good"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|n| [format!("websdr_{n}.npy"), format!("websdr_{n}_metadata.json")])
        .collect();
    want.sort();
    assert_eq!(names, want, "{}", folder.display());
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(folder.join(&want[1])).unwrap()).unwrap();
    assert_eq!(meta["task_id"], said["task_id"]);
    assert!(meta["metrics"]["snr_db"].is_number(), "{meta}");
}

#[test]
fn legacy_paths_are_in_the_openapi_document_under_their_tag() {
    let doc = serde_json::to_value(<heimdall_server::ApiDoc as utoipa::OpenApi>::openapi()).unwrap();
    for (path, method) in [
        ("/api/v1/acquisition/acquire", "post"),
        ("/api/v1/acquisition/status/{task_id}", "get"),
        ("/api/v1/acquisition/websdrs", "get"),
        ("/api/v1/acquisition/websdrs/health", "get"),
        ("/api/v1/acquisition/config", "get"),
        ("/ready", "get"),
    ] {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} missing");
        assert_eq!(op["tags"][0], "legacy", "{method} {path}: {op}");
    }
    assert!(doc["components"]["schemas"]["LegacyStatusResponse"].is_object());
}
