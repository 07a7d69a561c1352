//! Localization speed (one core): a synthetic 7-receiver VHF network, 10 s at 2.4 MS/s each,
//! and, when `HEIMDALL_KIWI_WAV_DIR` names the folder of real KiwiSDR recordings, that set.
//!
//! `taskset -c 0 cargo bench --bench locate` (`-- vhf` or `-- kiwi` to pick one). The
//! localization itself is single-threaded (no thread pool; rustfft plans run on the caller's
//! thread); `taskset -c 0` keeps the process on one core as the target says.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use heimdall::kiwi_locate::captures_from_stations;
use heimdall::locate::testkit::{NetworkSpec, network};
use heimdall::locate::{LocateOptions, locate};

fn vhf(c: &mut Criterion) {
    // Generated on first use: a run filtered to the other benchmark skips it.
    let mut net = None;
    let mut g = c.benchmark_group("locate");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("vhf_7x10s_2.4MSps", |b| {
        let net = net.get_or_insert_with(|| {
            network(&NetworkSpec {
                seed: 7,
                duration_s: 10.0,
                ..NetworkSpec::default()
            })
        });
        b.iter(|| black_box(locate(&net.captures, &LocateOptions::default()).expect("located")))
    });
    g.finish();
}

fn kiwi(c: &mut Criterion) {
    let Some(dir) = std::env::var_os("HEIMDALL_KIWI_WAV_DIR").map(PathBuf::from) else {
        return;
    };
    let (_, captures) = captures_from_stations(&dir.join("stations.json")).expect("recordings");
    let mut g = c.benchmark_group("locate");
    g.sample_size(20);
    g.bench_function("kiwi_dcf77_3x30s", |b| {
        b.iter(|| black_box(locate(&captures, &LocateOptions::default()).expect("located")))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    // Criterion's plotters backend panicked drawing these groups' plots: figures only.
    config = Criterion::default().without_plots();
    targets = vhf, kiwi
}
criterion_main!(benches);
