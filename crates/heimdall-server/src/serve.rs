//! Serving the router with a graceful shutdown that drains running acquisitions.

use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::routes::router;
use crate::state::AppState;

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Serves `app` on `listener` until `signal` resolves, then shuts down gracefully: no new
/// connection or acquisition is accepted, running acquisitions get `grace` to finish, the rest
/// are cancelled (and cleaned up by the engine), and open connections (event streams end with
/// their sessions) get a last 30 s.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: AppState,
    signal: impl std::future::Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    let server = axum::serve(listener, router(app.clone())).with_graceful_shutdown(stop.clone().cancelled_owned());
    let mut server = tokio::spawn(async move { server.await });
    tokio::select! {
        r = &mut server => return r.context("server task failed")?.context("server failed"),
        _ = signal => {}
    }
    tracing::info!("shutting down: no new connections; draining running acquisitions");
    stop.cancel();
    app.drain(grace).await;
    match tokio::time::timeout(Duration::from_secs(30), &mut server).await {
        Ok(r) => r.context("server task failed")?.context("server failed")?,
        Err(_) => {
            tracing::warn!("connections still open 30 s after the drain; closing them");
            server.abort();
        }
    }
    tracing::info!("stopped");
    Ok(())
}
