//! The command line of the `heimdall-server` binary.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use heimdall_storage::ArchiveFormat;
use heimdall_websdr::receivers_file::ReceiversFile;
use heimdall_websdr::simulated::Pacing;

use crate::auth::Tokens;
use crate::backends::{KeyValueParser, open_database, open_store};
use crate::serve::{serve, shutdown_signal};
use crate::state::AppState;

/// The command line.
#[derive(Parser, Debug)]
#[command(
    about = "Heimdall acquisition service: the old REST API over the embedded engine",
    version
)]
pub struct Args {
    /// Archive: s3://bucket/prefix, file:///abs/path, memory://, or a directory.
    /// Default: s3://$MINIO_BUCKET_RAW_IQ when the old Python (FastAPI/Celery) service's MINIO_URL or MINIO_BUCKET_RAW_IQ
    /// is set (MINIO_ACCESS_KEY/MINIO_SECRET_KEY are read like AWS_*), else ./heimdall-data.
    #[arg(long, env = "HEIMDALL_STORE")]
    pub store: Option<String>,
    /// Archive option key=value (e.g. endpoint=http://127.0.0.1:8333, allow_http=true); repeatable.
    #[arg(long = "store-option", value_parser = KeyValueParser)]
    pub store_options: Vec<(String, String)>,
    /// Archive format: npy, sigmf or both.
    #[arg(long, default_value = "both")]
    pub format: ArchiveFormat,
    /// Metrics database: postgres://user@host/db, a SQLite file path, or sqlite::memory:.
    /// Default: ./heimdall-data/heimdall.db.
    #[arg(long, env = "DATABASE_URL")]
    pub database: Option<String>,
    /// Receivers file (TOML `[[receiver]]` list) written into the registry on startup.
    #[arg(long, env = "HEIMDALL_RECEIVERS")]
    pub receivers: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "HEIMDALL_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Simulated receivers deliver in real time (a 10 s capture takes 10 s).
    #[arg(long)]
    pub realtime: bool,
    /// Seed of the simulated network.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// On SIGTERM, seconds running acquisitions get to finish before they are cancelled.
    #[arg(long, default_value_t = 10.0)]
    pub shutdown_grace: f64,
    /// Most acquisitions running at once; more are refused with 429.
    #[arg(long, default_value_t = 16)]
    pub max_running: usize,
    /// Also write the old service's layout (websdr_{n}.npy + websdr_{n}_metadata.json, old field
    /// names and S3 user metadata) next to each committed session, for old readers.
    #[arg(long)]
    pub legacy_layout: bool,
    /// Create the archive's S3 bucket when it does not exist (the old service did; off by default).
    #[arg(long)]
    pub create_bucket: bool,
    /// Work queue (NATS JetStream, nats://host:port): acquisitions are submitted to it and run
    /// by workers (`cargo run --release --example worker`) instead of this process; status comes
    /// from the session's events and the database. Without it, this process runs them.
    #[arg(long, value_name = "URL", env = "HEIMDALL_QUEUE")]
    pub queue: Option<String>,
    /// Subject namespace of the queue (the workers' `--queue-namespace`).
    #[arg(long, value_name = "NS", default_value = "heimdall")]
    pub queue_namespace: String,
    /// API tokens, one per line (`#` comments); every route but /health, /ready and the OpenAPI
    /// document then needs `Authorization: Bearer TOKEN`. Also: HEIMDALL_API_TOKENS (comma-separated).
    #[arg(long, value_name = "FILE", conflicts_with = "no_auth")]
    pub token_file: Option<PathBuf>,
    /// Serve without authentication (local use only): required when no token is given.
    #[arg(long)]
    pub no_auth: bool,
    /// With --queue: most queued acquisitions this process follows at once; more are refused with 429.
    #[arg(long, default_value_t = 1000)]
    pub max_queued: usize,
}

/// Opens the backends, fills the registry, listens on `--listen` (printing `listening on
/// http://ADDR` on stdout) and serves until Ctrl-C or SIGTERM.
#[allow(clippy::print_stdout)]
pub async fn run(args: Args) -> anyhow::Result<()> {
    let grace = Duration::try_from_secs_f64(args.shutdown_grace)
        .map_err(|e| anyhow::anyhow!("--shutdown-grace {}: {e}", args.shutdown_grace))?;
    if args.create_bucket {
        let (url, b) = crate::backends::store_builder(args.store.as_deref(), &args.store_options, args.format)?;
        if b.ensure_bucket().await.with_context(|| {
            format!(
                "cannot create the bucket of {}",
                heimdall_core::redact::redact_url(&url)
            )
        })? {
            tracing::info!("created the bucket of {}", heimdall_core::redact::redact_url(&url));
        }
    }
    let tokens = match (
        &args.token_file,
        std::env::var("HEIMDALL_API_TOKENS")
            .ok()
            .filter(|t| !t.trim().is_empty()),
    ) {
        (Some(path), _) => Some(Tokens::from_file(path)?),
        (None, Some(list)) => Some(Tokens::parse(&list, "HEIMDALL_API_TOKENS")?),
        (None, None) if args.no_auth => None,
        (None, None) => anyhow::bail!(
            "no API token: give --token-file FILE or HEIMDALL_API_TOKENS (tokens of at least {} characters, \
             e.g. `openssl rand -hex 32`), or --no-auth to serve without authentication (local use only)",
            crate::auth::MIN_TOKEN_LEN
        ),
    };
    if tokens.is_some() && args.no_auth {
        anyhow::bail!("--no-auth and HEIMDALL_API_TOKENS contradict each other: drop one");
    }
    let sink = open_store(args.store.as_deref(), &args.store_options, args.format)?;
    let db = open_database(args.database.as_deref()).await?;
    let file = match &args.receivers {
        Some(p) => Some(ReceiversFile::load(p).with_context(|| format!("cannot load {}", p.display()))?),
        None => None,
    };
    let pacing = if args.realtime {
        Pacing::RealTime
    } else {
        Pacing::AsFastAsPossible
    };
    let app = AppState::new(sink, Arc::new(db), pacing, args.seed);
    app.set_max_running(args.max_running.max(1));
    app.set_legacy_layout(args.legacy_layout);
    app.set_max_queued(args.max_queued.max(1));
    match tokens {
        Some(t) => app.set_tokens(t)?,
        None => tracing::warn!("--no-auth: every route is open to anyone who can reach {}", args.listen),
    }
    if let Some(url) = &args.queue {
        let queue = heimdall_queue::NatsQueueBuilder::new(url)
            .namespace(&args.queue_namespace)
            .connect()
            .await
            .context("cannot open the work queue (is nats-server -js running there?)")?;
        tracing::info!("acquisitions go through the work queue {queue}");
        app.set_queue(Arc::new(queue))?;
    }
    app.init_registry(file.as_ref()).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr} (OpenAPI: http://{addr}/api/v1/openapi.json)");
    serve(listener, app, shutdown_signal(), grace).await
}
