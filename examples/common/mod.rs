//! Code shared by the example programs: backend configuration from flags and environment,
//! and plain-text tables. Each example includes it with `mod common;`.
#![allow(dead_code, unreachable_pub, unused_imports)]

pub mod plot;

pub use heimdall_server::backends::{
    DATA_DIR, KeyValueParser, default_database_url, default_store_url, local_dir_of, open_database, open_store,
    parse_key_value, parse_time, store_builder,
};

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use heimdall::core::{GeoPosition, ReceiverSource};
use heimdall::websdr::simulated::{Modulation, Pacing, PathLoss, SimulatedNetwork, Transmitter};

/// A plain-text table with aligned columns.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: vec![],
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let n = self.header.len();
        let mut w: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate().take(n) {
                let pad = w[i] - c.chars().count();
                s.push_str(c);
                if i + 1 < n {
                    s.push_str(&" ".repeat(pad + 2));
                }
            }
            s.trim_end().to_owned()
        };
        let mut out = line(&self.header);
        out.push('\n');
        out.push_str(&w.iter().map(|x| "-".repeat(*x)).collect::<Vec<_>>().join("  "));
        out.push('\n');
        for r in &self.rows {
            out.push_str(&line(r));
            out.push('\n');
        }
        out
    }
}

/// Formats an optional number with `digits` decimals, `-` when absent.
pub fn opt(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}")).unwrap_or_else(|| "-".into())
}

/// Where the simulated transmitter sits by default (near Asti, inside the reference network).
pub const DEFAULT_TX: (f64, f64, f64) = (44.90, 8.21, 250.0);

/// The simulated network's settings, shared by the programs that run sessions.
#[derive(clap::Args, Debug, Clone)]
pub struct SimArgs {
    /// Simulation only: transmitter position as LAT,LON[,ALT_M].
    #[arg(long, value_name = "LAT,LON[,ALT]", value_parser = parse_position)]
    pub transmitter: Option<GeoPosition>,
    /// Simulation only: transmitter EIRP in dBm (default 1 W).
    #[arg(long, value_name = "DBM", default_value_t = 30.0)]
    pub eirp: f64,
    /// Simulation only: path-loss exponent beyond 100 m (2 = free space, 3-4 = hills and buildings).
    #[arg(long, value_name = "N", default_value_t = 3.0)]
    pub path_loss_exponent: f64,
    /// Simulation only: modulation of the transmitter.
    #[arg(long, value_enum, default_value_t = ModulationArg::Carrier)]
    pub modulation: ModulationArg,
    /// Simulation only: random seed (same seed, same samples).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Simulation only: deliver samples in real time like live receivers (default: as fast as possible).
    #[arg(long)]
    pub realtime: bool,
    /// Simulation only: standard deviation of the GPS receivers' time-mark errors, ns (a GNSS
    /// timing receiver: about 20; default: exact marks).
    #[arg(long, value_name = "NS")]
    pub gps_jitter_ns: Option<u64>,
}

/// Modulations of the simulated transmitter.
#[derive(Copy, Clone, Debug, clap::ValueEnum)]
pub enum ModulationArg {
    /// An unmodulated carrier.
    Carrier,
    /// FM with a voice-like tone.
    Fm,
    /// On-off bursts.
    Bursts,
    /// AM (80 %) by a voice-like sum of tones.
    Am,
    /// A DCF77-shaped keyed carrier (down to 15 % for 100 or 200 ms every second).
    TimeCode,
}

/// Parses `LAT,LON[,ALT_M]`.
pub fn parse_position(s: &str) -> Result<GeoPosition, String> {
    let parts: Vec<f64> = s
        .split(',')
        .map(|p| p.trim().parse::<f64>().map_err(|e| format!("{p:?}: {e}")))
        .collect::<Result<_, _>>()?;
    match parts.as_slice() {
        [lat, lon] => GeoPosition::new(*lat, *lon, None).map_err(|e| e.to_string()),
        [lat, lon, alt] => GeoPosition::new(*lat, *lon, Some(*alt)).map_err(|e| e.to_string()),
        _ => Err("expected LAT,LON or LAT,LON,ALT_M".into()),
    }
}

/// Receiver sources, and where the simulated transmitter is (when simulated).
pub type Sources = (Vec<Arc<dyn ReceiverSource>>, Option<GeoPosition>);

/// The receivers: those of a receivers file, or the simulated reference network hearing a
/// transmitter on `frequency_hz` (then also its position).
pub fn build_sources(
    receivers: Option<&Path>,
    frequency_hz: f64,
    sample_rate: Option<f64>,
    sim: &SimArgs,
) -> anyhow::Result<Sources> {
    if let Some(path) = receivers {
        let file = heimdall::websdr::receivers_file::ReceiversFile::load(path)
            .with_context(|| format!("cannot read the receivers file {}", path.display()))?;
        let sources = file.build_sources().context("cannot build the receivers of the file")?;
        anyhow::ensure!(!sources.is_empty(), "no enabled receiver to acquire from");
        return Ok((sources, None));
    }
    let pos = match sim.transmitter {
        Some(p) => p,
        None => GeoPosition::new(DEFAULT_TX.0, DEFAULT_TX.1, Some(DEFAULT_TX.2))?,
    };
    let modulation = match sim.modulation {
        ModulationArg::Carrier => Modulation::Carrier,
        ModulationArg::Fm => Modulation::fm_voice(3_000.0),
        ModulationArg::Bursts => Modulation::bursts(Duration::from_millis(200), Duration::from_millis(300)),
        ModulationArg::Am => Modulation::am_voice(0.8),
        ModulationArg::TimeCode => Modulation::time_code(),
    };
    let tx = Transmitter::new(pos, frequency_hz, sim.eirp, modulation).with_path_loss(PathLoss::LogDistance {
        exponent: sim.path_loss_exponent,
        reference_m: 100.0,
    });
    let mut net = SimulatedNetwork::reference_network(tx, sim.seed);
    if let Some(sr) = sample_rate {
        net = net.with_sample_rate(sr);
    }
    if sim.realtime {
        net = net.with_pacing(Pacing::RealTime);
    }
    if let Some(ns) = sim.gps_jitter_ns {
        net = net.with_gps_jitter(Duration::from_nanos(ns));
    }
    Ok((net.sources(), Some(pos)))
}

/// Where the work queue is and how it redelivers (shared by `acquire --queue` and `worker`).
#[derive(clap::Args, Debug, Clone)]
pub struct QueueArgs {
    /// The work queue: nats://host:port (NATS with JetStream).
    #[arg(long, value_name = "URL", env = "HEIMDALL_QUEUE")]
    pub queue: Option<String>,
    /// Subject namespace of the queue (separate queues on one server use different ones).
    #[arg(long, value_name = "NS", default_value = "heimdall")]
    pub queue_namespace: String,
    /// Seconds a job may go without ack or heartbeat before another worker gets it (set when the
    /// queue is first created).
    #[arg(long, value_name = "S", default_value_t = 30.0)]
    pub ack_wait: f64,
    /// Deliveries of one job before it is given up (set when the queue is first created).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub max_deliver: u64,
}

/// The exit status of a program's run: on an error, the error and its causes on stderr, status 1.
#[allow(clippy::print_stderr)]
pub fn exit_code(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Where the archive and the metrics database are, for the programs that use both.
#[derive(clap::Args, Debug, Clone)]
pub struct BackendArgs {
    /// Archive: s3://bucket/prefix, file:///abs/path, memory://, or a directory. Default: ./heimdall-data
    /// (s3://$MINIO_BUCKET_RAW_IQ when the old Python (FastAPI/Celery) service's MINIO_URL or MINIO_BUCKET_RAW_IQ is set).
    /// S3 settings (endpoint, region, keys, allow-http) come from AWS_* variables (or the old
    /// MINIO_URL, MINIO_ACCESS_KEY, MINIO_SECRET_KEY) or --store-option.
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// Object-store option key=value, e.g. aws_endpoint=http://127.0.0.1:8333, aws_allow_http=true. Repeatable.
    #[arg(long = "store-option", value_name = "KEY=VALUE", value_parser = KeyValueParser)]
    pub store_options: Vec<(String, String)>,
    /// Metrics database: postgres://user@host/db or a SQLite file path. Default: ./heimdall-data/heimdall.db.
    #[arg(long, value_name = "URL", env = "DATABASE_URL")]
    pub database: Option<String>,
}

impl BackendArgs {
    /// Opens the archive, in `format`.
    pub fn open_store(
        &self,
        format: heimdall::storage::ArchiveFormat,
    ) -> anyhow::Result<heimdall::storage::ArchiveSink> {
        open_store(self.store.as_deref(), &self.store_options, format)
    }

    /// Opens (and migrates) the metrics database.
    pub async fn open_database(&self) -> anyhow::Result<heimdall::tsdb::Tsdb> {
        open_database(self.database.as_deref()).await
    }
}

/// Opens the work queue of `args` (NATS JetStream).
pub async fn open_queue(args: &QueueArgs) -> anyhow::Result<heimdall::queue::NatsQueue> {
    let url = args.queue.as_deref().context("no --queue given")?;
    anyhow::ensure!(
        url.starts_with("nats://") || url.starts_with("tls://"),
        "--queue: only NATS JetStream (nats://host:port) is supported"
    );
    heimdall::queue::NatsQueueBuilder::new(url)
        .namespace(&args.queue_namespace)
        .ack_wait(Duration::try_from_secs_f64(args.ack_wait).context("--ack-wait")?)
        .max_deliver(args.max_deliver)
        .connect()
        .await
        .with_context(|| "cannot open the work queue (is nats-server -js running there?)".to_string())
}
