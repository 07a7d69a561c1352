//! # heimdall-server
//!
//! The acquisition REST API (the field names and statuses of the earlier Python acquisition
//! service this project replaces) over the embedded Heimdall [`Engine`](heimdall_core::engine::Engine):
//! a library a host embeds in its own axum application ([`router`]) and the `heimdall-server`
//! binary.
//!
//! ```sh
//! # simulated reference network, local disk archive and SQLite under ./heimdall-data
//! export HEIMDALL_API_TOKENS=$(openssl rand -hex 32)   # or --token-file FILE, or --no-auth (local use)
//! cargo run --release -p heimdall-server -- --listen 127.0.0.1:8080
//! curl -s -X POST localhost:8080/api/v1/acquisitions -H "authorization: Bearer $HEIMDALL_API_TOKENS" \
//!      -H 'content-type: application/json' -d '{"frequency_mhz": 145.5, "duration_seconds": 10}'
//! curl -sN -H "authorization: Bearer $HEIMDALL_API_TOKENS" localhost:8080/api/v1/acquisitions/<session_id>/events
//! # S3 + PostgreSQL
//! cargo run --release -p heimdall-server -- --store s3://bucket/prefix --store-option endpoint=http://127.0.0.1:8333 \
//!     --database postgres://heimdall@localhost/heimdall
//! ```
//!
//! | endpoint | what |
//! |---|---|
//! | `POST /api/v1/acquisitions` | start an acquisition: `{"frequency_mhz", "duration_seconds" (≤ 300), "start_time"?, "websdrs"?, "sample_rate_hz"?, "label"?}` → `202` |
//! | `GET /api/v1/acquisitions/{id}` | status (`PENDING`, `PROGRESS`, `SUCCESS`, `PARTIAL_FAILURE`, `FAILURE`, `CANCELLED`), progress, errors, result |
//! | `GET /api/v1/acquisitions/{id}/events` | the engine's events as Server-Sent Events, ending after `session_finished` |
//! | `DELETE /api/v1/acquisitions/{id}` | cancel (no object and no measurement stays; the session record says cancelled) |
//! | `GET /api/v1/acquisitions/{id}/objects` | the committed session's archived objects (name, key, size, SHA-256), from its manifest |
//! | `GET /api/v1/acquisitions/{id}/objects/{name}` | download one of them, streamed from the store, `ETag` = its SHA-256 |
//! | `GET/POST /api/v1/receivers`, `GET/PUT/DELETE /api/v1/receivers/{id}` | the receiver registry (DELETE deactivates) |
//! | `GET /api/v1/receivers/health` | every active receiver's health check, concurrently, 3 s each |
//! | `GET /api/v1/receivers/{id}/snr-stats` | SNR statistics of one receiver |
//! | `GET /api/v1/measurements` | recent measurements (`receiver`, `session`, `freq_min_mhz`, `freq_max_mhz`, `since`, `until`, `limit`) |
//! | `GET /health` | archive and database health, `healthy`/`unhealthy` (`503` with the cause when one fails) |
//! | `POST /api/v1/acquisition/acquire`, `GET /api/v1/acquisition/status/{task_id}`, `GET /api/v1/acquisition/websdrs`, `.../websdrs/health`, `.../config`, `GET /ready` | the old Python (FastAPI/Celery) service's API, same bodies and shapes (tag `legacy`, see `routes::legacy`) |
//! | `GET /api/v1/openapi.json` | the OpenAPI 3.1 document of all of the above |
//!
//! The receiver subset of a request is `websdrs`, the old service's field name (aliases:
//! `receivers`, `websdr_ids`); its items are receiver ids (strings; integers are accepted and
//! read as the id of the same digits). Validation errors are `422` with a FastAPI-style body:
//! `{"detail": [{"loc": ["body", "frequency_mhz"], "msg": "...", "type": "..."}]}`; other
//! errors are `{"detail": "..."}` with the matching status.
//!
//! Receivers come from the registry in the database. On startup, `--receivers FILE` entries are
//! written into it; if it is still empty, the simulated reference network's seven receivers are.
//! Simulated receivers hear one transmitter near Torino on the requested frequency (FM voice,
//! 30 dBm EIRP), delivered as fast as possible or, with `--realtime`, like live receivers.
//!
//! With `--queue nats://HOST:PORT` ([`AppState::set_queue`]) acquisitions are not run here:
//! they are recorded as queued in the database and submitted to the work queue, workers run
//! them (`heimdall_core::queue::Worker`, the `worker` example), and this process follows each
//! through the session's events; any API process sharing the queue and the database answers
//! status, events and cancellation for any session (see the `acquire` module's docs).
//!
//! While the process lives, the status comes from the engine's events and report; after a
//! restart it comes from the session record in the database, then from the archive's manifest
//! (a cancelled session has a session record saying so, and no rows or objects).
//!
//! On SIGTERM or Ctrl-C the service stops accepting connections, lets running acquisitions
//! finish for `--shutdown-grace` seconds, cancels the rest (the engine aborts their archive
//! sessions and writes no row) and exits once they are cleaned up. At most `--max-running`
//! acquisitions run at once (more are `429`; the check and the start are atomic).
//!
//! Receiver kinds without a builder yet, and registry records without a position, cannot be
//! turned into sources: an acquisition naming them is `422`, one over all receivers skips them
//! (listed in the `202` answer's `skipped`).
//!
//! Tests: `cargo test -p heimdall-server` (in-process service on 127.0.0.1:0, simulated network,
//! local-disk archive and SQLite in a temporary directory); `scripts/service_e2e.sh` runs the
//! binary against SeaweedFS and PostgreSQL.
//!
//! Layout: [`cli`] (the binary's flags), [`backends`] (archive and database from URLs),
//! [`state`] ([`AppState`], shared by the handlers), [`jobs`] (one acquisition's progress and
//! events), [`api`] (bodies and schemas), [`error`], [`validation`], one module per resource
//! under `routes`, [`openapi`], [`serve`] (graceful shutdown).

mod acquire;
pub mod api;
pub mod auth;
pub mod backends;
pub mod cli;
pub mod error;
pub mod jobs;
mod old_layout;
pub mod openapi;
mod routes;
pub mod serve;
pub mod state;
mod tokens;
pub mod validation;

pub use error::ApiError;
pub use openapi::ApiDoc;
pub use routes::router;
pub use serve::{serve, shutdown_signal};
pub use state::AppState;

/// Locks `m`, going on with the data of a thread that panicked while holding it.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
