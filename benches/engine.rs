//! Engine benchmark: a whole session of the 7-station simulated reference network, 10 s at
//! 12 kHz each, as fast as possible, into the in-memory sink and store.
//!
//! Target: ≤ 50 ms of wall time per session. Run: `cargo bench --bench engine`.

use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use heimdall_core::engine::Engine;
use heimdall_core::memory::{MemorySink, MemoryStore};
use heimdall_core::{AcquisitionRequest, GeoPosition, ReceiverSource, SessionStatus};
use heimdall_websdr::simulated::{Modulation, SimulatedNetwork, Transmitter};

fn sources() -> Vec<Arc<dyn ReceiverSource>> {
    let tx = Transmitter::new(
        GeoPosition::new(45.10, 7.95, Some(400.0)).expect("valid position"),
        145.5e6 + 1500.0,
        20.0,
        Modulation::fm_voice(2500.0),
    );
    SimulatedNetwork::reference_network(tx, 1)
        .with_sample_rate(12_000.0)
        .sources()
}

fn engine(sources: &[Arc<dyn ReceiverSource>]) -> Engine {
    Engine::builder()
        .sources(sources.iter().cloned())
        .sink(Arc::new(MemorySink::new()))
        .store(Arc::new(MemoryStore::new()))
        .build()
        .expect("valid engine")
}

fn session(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Sources are built once (their noise tables are drawn on first use, like a warm service).
    let sources = sources();
    let req = AcquisitionRequest::new(145.5e6, Duration::from_secs(10));
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(7 * 120_000));
    g.sample_size(30);
    g.bench_function("session_7x10s_12kHz_memory", |b| {
        b.to_async(&rt).iter_batched(
            || engine(&sources),
            |engine| {
                let req = req.clone();
                async move {
                    let report = engine.acquire(req).await.expect("session");
                    assert_eq!(report.status, SessionStatus::Success);
                    // Returned so that dropping the archived samples is not timed.
                    (engine, report)
                }
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    // No plots: plotters needs system fonts that minimal hosts lack.
    config = Criterion::default().without_plots();
    targets = session
}
criterion_main!(benches);
