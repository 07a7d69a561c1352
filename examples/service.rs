//! Embedding Heimdall in a host's own HTTP service.
//!
//! The complete acquisition service is the `heimdall-server` crate
//! (`cargo run --release -p heimdall-server -- --listen 127.0.0.1:8080`). This example shows a
//! host that keeps its own routes and state and adds two things next to them:
//!
//! - the acquisition API, by merging [`heimdall_server::router`] into its axum `Router`
//!   (`/api/v1/...`, `/health`);
//! - one route of its own, `POST /host/scan?frequency_mhz=`, that drives the [`Engine`]
//!   directly: a 1 s capture on the simulated reference network, answered with each
//!   receiver's SNR.
//!
//! ```sh
//! cargo run --example service -- 127.0.0.1:8080
//! curl -s -X POST 'localhost:8080/host/scan?frequency_mhz=145.5'
//! curl -s localhost:8080/api/v1/receivers
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::post;
use heimdall::core::AcquisitionRequest;
use heimdall::core::engine::Engine;
use heimdall::storage::{ArchiveFormat, ArchiveSink};
use heimdall::tsdb::Tsdb;
use heimdall::websdr::simulated::{Modulation, Pacing, SimulatedNetwork, Transmitter};
use heimdall_server::AppState;
use serde::Deserialize;
use serde_json::{Value, json};

/// The host's own state: here only what its scan route needs.
#[derive(Clone)]
struct Host {
    sink: ArchiveSink,
    db: Arc<Tsdb>,
}

#[derive(Deserialize)]
struct ScanParams {
    frequency_mhz: f64,
}

/// The host's own route: one short capture through the engine, answered with each receiver's SNR.
async fn scan(
    State(host): State<Host>,
    Query(p): Query<ScanParams>,
) -> Result<axum::Json<Value>, (StatusCode, String)> {
    let bad = |e: heimdall::core::Error| (StatusCode::UNPROCESSABLE_ENTITY, e.chain());
    let position = heimdall::core::GeoPosition::new(45.07, 7.69, Some(300.0)).map_err(bad)?;
    let tx = Transmitter::new(position, p.frequency_mhz * 1e6, 30.0, Modulation::fm_voice(2_500.0));
    let engine = Engine::builder()
        .sources(SimulatedNetwork::reference(tx, 42))
        .sink(Arc::new(host.sink.clone()))
        .store(host.db.clone())
        .build()
        .map_err(bad)?;
    let req = AcquisitionRequest::new(p.frequency_mhz * 1e6, Duration::from_secs(1));
    let report = engine.acquire(req).await.map_err(bad)?;
    let snr: Vec<Value> = report
        .measurements()
        .iter()
        .map(|m| json!({"receiver": m.receiver_id.as_str(), "snr_db": m.metrics.snr_db}))
        .collect();
    Ok(axum::Json(
        json!({"session_id": report.session_id.to_string(), "status": report.status.as_str(), "snr": snr}),
    ))
}

/// The host's application: its own routes, then Heimdall's API merged in.
async fn host_app(sink: ArchiveSink, db: Arc<Tsdb>) -> anyhow::Result<(Router, AppState)> {
    let heimdall = AppState::new(sink.clone(), db.clone(), Pacing::AsFastAsPossible, 42);
    heimdall.init_registry(None).await?;
    let own = Router::new()
        .route("/host/scan", post(scan))
        .with_state(Host { sink, db });
    Ok((own.merge(heimdall_server::router(heimdall.clone())), heimdall))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();
    let listen = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8080".into());
    let sink = common::open_store(None, &[], ArchiveFormat::Both)?;
    let db = Arc::new(common::open_database(None).await?);
    let (app, heimdall) = host_app(sink, db).await?;
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    println!("listening on http://{}", listener.local_addr()?);
    // Heimdall's graceful shutdown: running acquisitions get 10 s, the rest are cancelled.
    let stop = tokio_util::sync::CancellationToken::new();
    let server = axum::serve(listener, app).with_graceful_shutdown(stop.clone().cancelled_owned());
    let server = tokio::spawn(async move { server.await });
    heimdall_server::shutdown_signal().await;
    stop.cancel();
    heimdall.drain(Duration::from_secs(10)).await;
    server.await??;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn the_host_serves_its_own_route_and_heimdalls_api() {
        let dir = tempfile::tempdir().unwrap();
        let store = format!("file://{}", dir.path().join("archive").display());
        let sink = common::open_store(Some(&store), &[], ArchiveFormat::Npy).unwrap();
        let db_path = dir.path().join("h.db").display().to_string();
        let db = Arc::new(common::open_database(Some(&db_path)).await.unwrap());
        let (app, _) = host_app(sink, db).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = reqwest::Client::new();

        let r = client
            .post(format!("{base}/host/scan?frequency_mhz=145.5"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["status"], "success", "{v}");
        assert_eq!(v["snr"].as_array().unwrap().len(), 7, "{v}");

        // The same database through Heimdall's API: the scan's rows and the seeded registry.
        let id = v["session_id"].as_str().unwrap();
        let rows: Value = client
            .get(format!("{base}/api/v1/measurements?session={id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(rows.as_array().unwrap().len(), 7, "{rows}");
        let r = client.get(format!("{base}/api/v1/receivers")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let r = client.get(format!("{base}/no/such/path")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 404);
    }
}
