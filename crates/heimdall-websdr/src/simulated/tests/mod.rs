use std::time::Duration;

use futures::StreamExt;
use heimdall_core::{
    AcquisitionRequest, CaptureChunk, Complex32, Error, GeoPosition, SampleBlock, SessionId, TimeMark,
};

use std::sync::Arc;

use chrono::Utc;
use heimdall_core::{CaptureRequest, ReceiverId, ReceiverInfo, ReceiverKind, ReceiverSource, Result, TimeSource};
use tokio_util::sync::CancellationToken;

use super::*;

mod timing;

const F: f64 = 145.5e6;

fn tx(modulation: Modulation, eirp_dbm: f64) -> Transmitter {
    Transmitter::new(
        GeoPosition::new(45.10, 7.95, Some(400.0)).unwrap(),
        F + 1000.0,
        eirp_dbm,
        modulation,
    )
}

fn req(secs: f64) -> CaptureRequest {
    CaptureRequest::from_request(
        SessionId::new(),
        &AcquisitionRequest::new(F, Duration::from_secs_f64(secs)),
    )
}

struct Captured {
    marks: Vec<TimeMark>,
    samples: Vec<Complex32>,
    rssi: usize,
    end: Option<Error>,
}

async fn collect(src: &dyn ReceiverSource, r: &CaptureRequest) -> Result<Captured> {
    let mut s = src.open(r, CancellationToken::new()).await?;
    let mut c = Captured {
        marks: vec![],
        samples: vec![],
        rssi: 0,
        end: None,
    };
    while let Some(item) = s.chunks.next().await {
        match item {
            Ok(CaptureChunk::Samples(SampleBlock::Complex(v))) => c.samples.extend(v),
            Ok(CaptureChunk::Time(m)) => c.marks.push(m),
            Ok(CaptureChunk::Rssi(_)) => c.rssi += 1,
            Ok(_) => {}
            Err(e) => {
                c.end = Some(e);
                break;
            }
        }
    }
    Ok(c)
}

/// Coherent estimate of (signal power, noise power) of a carrier at `offset_hz`.
fn carrier_powers(x: &[Complex32], fs: f64, offset_hz: f64) -> (f64, f64) {
    let mut acc = num_complex::Complex64::new(0.0, 0.0);
    let mut total = 0.0;
    for (n, s) in x.iter().enumerate() {
        let s = num_complex::Complex64::new(f64::from(s.re), f64::from(s.im));
        acc += s * num_complex::Complex64::from_polar(1.0, -std::f64::consts::TAU * offset_hz * n as f64 / fs);
        total += s.norm_sqr();
    }
    let sig = (acc / x.len() as f64).norm_sqr();
    (sig, total / x.len() as f64 - sig)
}

fn db(x: f64) -> f64 {
    10.0 * x.log10()
}

#[tokio::test]
async fn same_seed_same_samples_and_seed_matters() {
    let start = Utc::now() + chrono::Duration::seconds(1);
    let mut r = req(0.5);
    r.start_at = Some(start);
    let a = SimulatedNetwork::reference(tx(Modulation::fm_voice(2500.0), 40.0), 1);
    let b = SimulatedNetwork::reference(tx(Modulation::fm_voice(2500.0), 40.0), 1);
    let c = SimulatedNetwork::reference(tx(Modulation::fm_voice(2500.0), 40.0), 2);
    let ca = collect(a[0].as_ref(), &r).await.unwrap();
    let cb = collect(b[0].as_ref(), &r).await.unwrap();
    let cc = collect(c[0].as_ref(), &r).await.unwrap();
    assert_eq!(ca.samples.len(), 6000);
    assert!(ca.end.is_none());
    assert_eq!(ca.samples, cb.samples);
    assert_ne!(ca.samples, cc.samples);
    assert_eq!(ca.marks[0].sample_index, 0);
    assert_eq!(ca.marks[0].time, start);
    assert!(ca.rssi > 0);
}

#[tokio::test]
async fn power_and_noise_match_the_link_budget() {
    let net = SimulatedNetwork::reference_network(tx(Modulation::Carrier, 20.0), 3);
    for rx in net.receivers() {
        let fs = rx.config().sample_rate_hz;
        let offset = 1000.0 - F * rx.config().lo_ppm * 1e-6;
        let c = collect(rx.as_ref(), &req(1.0)).await.unwrap();
        let (sig, noise) = carrier_powers(&c.samples, fs, offset);
        let fsd = rx.config().full_scale_dbm;
        let expect_sig = rx.received_power_dbm().unwrap() - fsd;
        let expect_noise = rx.noise_power_dbm() - fsd;
        assert!(
            (db(sig) - expect_sig).abs() < 0.2,
            "{}: {} vs {expect_sig}",
            rx,
            db(sig)
        );
        assert!(
            (db(noise) - expect_noise).abs() < 0.3,
            "{}: {} vs {expect_noise}",
            rx,
            db(noise)
        );
    }
}

#[tokio::test]
async fn snr_ordering_follows_distance() {
    // Same noise figure and rate everywhere: SNR must fall monotonically with distance.
    let mut net = SimulatedNetwork::reference_network(tx(Modulation::Carrier, -10.0), 9).with_sample_rate(12_000.0);
    net.receivers.iter_mut().for_each(|c| {
        c.noise_figure_db = 6.0;
        c.lo_ppm = 0.0;
    });
    let mut rows = vec![];
    for rx in net.receivers() {
        let c = collect(rx.as_ref(), &req(2.0)).await.unwrap();
        let (sig, noise) = carrier_powers(&c.samples, 12_000.0, 1000.0);
        let d = net.transmitter.position.slant_distance_m(&rx.info().position.unwrap());
        rows.push((d, db(sig / noise)));
    }
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert!(rows[0].1 - rows[6].1 > 10.0, "{rows:?}");
    for w in rows.windows(2) {
        // Distances closer than a few % give SNRs within estimation noise.
        if w[1].0 > w[0].0 * 1.1 {
            assert!(w[0].1 > w[1].1, "SNR not decreasing with distance: {rows:?}");
        }
    }
}

/// Times (seconds from sample 0) where the envelope first crosses half its peak on each rising edge.
fn rising_edges(x: &[Complex32], fs: f64) -> Vec<f64> {
    let env: Vec<f64> = x.iter().map(|s| f64::from(s.norm())).collect();
    let peak = env.iter().cloned().fold(0.0, f64::max);
    let half = peak / 2.0;
    let mut out = vec![];
    for i in 1..env.len() {
        if env[i - 1] < half && env[i] >= half {
            let frac = (half - env[i - 1]) / (env[i] - env[i - 1]);
            out.push((i as f64 - 1.0 + frac) / fs);
        }
    }
    out
}

#[tokio::test]
async fn relative_delays_match_distance_within_a_fraction_of_a_sample() {
    let fs = 2.4e6;
    let modulation = Modulation::bursts(Duration::from_millis(1), Duration::from_millis(4));
    let net = SimulatedNetwork::reference_network(tx(modulation, 75.0), 5)
        .with_sample_rate(fs)
        .with_clock(Clock::Exact);
    let mut r = req(0.012);
    r.start_at = Some(Utc::now());
    let rxs = net.receivers();
    let period = 5e-3;
    let mut edges = vec![];
    for rx in &rxs {
        let c = collect(rx.as_ref(), &r).await.unwrap();
        let e = rising_edges(&c.samples, fs);
        assert!(e.len() >= 2, "{rx}: {e:?}");
        edges.push((e[0], rx.delay_s().unwrap()));
    }
    for (a, b) in [(0, 2), (2, 6), (1, 5), (3, 4)] {
        let measured = (edges[a].0 - edges[b].0).rem_euclid(period);
        let expected = (edges[a].1 - edges[b].1).rem_euclid(period);
        let err_samples = (measured - expected).abs() * fs;
        assert!(
            err_samples < 0.1,
            "{} vs {}: measured {measured:e}, expected {expected:e} ({err_samples} samples)",
            rxs[a],
            rxs[b]
        );
    }
}

#[tokio::test]
async fn failures_map_to_typed_errors() {
    let base = SimulatedNetwork::reference_network(tx(Modulation::Carrier, 30.0), 1);
    let one = |f: Failure| {
        let net = base.clone().with_failure("torino", f);
        net.receivers()
            .into_iter()
            .find(|r| r.info().id.as_str() == "torino")
            .unwrap()
    };
    let r = req(1.0);

    let busy = one(Failure::BusyThenOk { times: 2 });
    for _ in 0..2 {
        let e = busy.open(&r, CancellationToken::new()).await.unwrap_err();
        assert!(matches!(e, Error::Unavailable { .. }) && e.is_retryable(), "{e}");
    }
    assert_eq!(collect(busy.as_ref(), &r).await.unwrap().samples.len(), 12_000);
    assert_eq!(busy.opens(), 3);

    let refused = one(Failure::Refused);
    let e = refused.open(&r, CancellationToken::new()).await.unwrap_err();
    assert!(matches!(e, Error::Refused { .. }) && !e.is_retryable());

    let drop = one(Failure::DropAfter { seconds: 0.5 });
    let c = collect(drop.as_ref(), &r).await.unwrap();
    assert_eq!(c.samples.len(), 6000);
    match c.end {
        Some(Error::ConnectionLost { received, .. }) => assert_eq!(received, 6000),
        other => panic!("{other:?}"),
    }

    let garbage = one(Failure::Garbage);
    let c = collect(garbage.as_ref(), &r).await.unwrap();
    assert!(matches!(c.end, Some(Error::Malformed { .. })), "{:?}", c.end);

    let stall = one(Failure::Stall);
    let cancel = CancellationToken::new();
    let mut s = stall.open(&r, cancel.clone()).await.unwrap();
    assert!(matches!(s.chunks.next().await, Some(Ok(CaptureChunk::Time(_)))));
    let waited = tokio::time::timeout(Duration::from_millis(50), s.chunks.next()).await;
    assert!(waited.is_err(), "stalled receiver produced data");
    cancel.cancel();
    assert!(matches!(s.chunks.next().await, Some(Err(Error::Cancelled { .. }))));

    let slow = one(Failure::SlowConnect {
        delay: Duration::from_secs(30),
    });
    let e = tokio::time::timeout(Duration::from_millis(50), slow.open(&r, CancellationToken::new())).await;
    assert!(e.is_err());
}

#[tokio::test]
async fn host_clocks_report_skewed_start_and_gps_marks_repeat() {
    let net = SimulatedNetwork::reference_network(tx(Modulation::Carrier, 30.0), 11);
    let start = Utc::now();
    let mut r = req(3.0);
    r.start_at = Some(start);
    let mut skews = vec![];
    for rx in net.receivers() {
        let c = collect(rx.as_ref(), &r).await.unwrap();
        let m0 = c.marks[0];
        assert_eq!(m0.sample_index, 0);
        let skew = (m0.time - start).num_nanoseconds().unwrap() as f64 * 1e-9;
        match rx.config().clock {
            Clock::Gps => {
                assert_eq!(m0.source, TimeSource::Gps);
                assert_eq!(skew, 0.0);
                assert!(c.marks.len() >= 3, "{:?}", c.marks);
            }
            Clock::Host { jitter } => {
                assert_eq!(m0.source, TimeSource::Host);
                assert!(skew.abs() < 6.0 * jitter.as_secs_f64());
                skews.push(skew);
            }
            _ => {}
        }
    }
    assert!(skews.iter().any(|s| *s != 0.0));
}

#[tokio::test]
async fn real_time_pacing_takes_real_time_and_cancels_promptly() {
    let net = SimulatedNetwork::reference_network(tx(Modulation::Carrier, 30.0), 1).with_pacing(Pacing::RealTime);
    let rx = net.receivers().remove(0);
    let t = std::time::Instant::now();
    let c = collect(rx.as_ref(), &req(0.3)).await.unwrap();
    assert_eq!(c.samples.len(), 3600);
    assert!(t.elapsed() >= Duration::from_millis(250), "{:?}", t.elapsed());

    let cancel = CancellationToken::new();
    let mut s = rx.open(&req(60.0), cancel.clone()).await.unwrap();
    let _ = s.chunks.next().await;
    cancel.cancel();
    let t = std::time::Instant::now();
    loop {
        match s.chunks.next().await {
            Some(Err(Error::Cancelled { .. })) | None => break,
            Some(_) => {}
        }
    }
    assert!(t.elapsed() < Duration::from_millis(200));
}

#[test]
fn path_loss_models() {
    let fspl = PathLoss::FreeSpace.loss_db(10_000.0, 145e6);
    assert!((fspl - 95.67).abs() < 0.05, "{fspl}");
    let ld = PathLoss::LogDistance {
        exponent: 3.5,
        reference_m: 1000.0,
    };
    assert!((ld.loss_db(10_000.0, 145e6) - (PathLoss::FreeSpace.loss_db(1000.0, 145e6) + 35.0)).abs() < 1e-9);
    assert_eq!(ld.loss_db(500.0, 145e6), PathLoss::FreeSpace.loss_db(500.0, 145e6));
}

#[tokio::test]
async fn bad_configuration_fails_at_open_not_construction() {
    let mut net = SimulatedNetwork::reference_network(tx(Modulation::Carrier, 30.0), 1);
    net.receivers[0].sample_rate_hz = f64::NAN;
    net.receivers[1].info.position = None;
    let rxs = net.sources();
    assert!(matches!(
        rxs[0].open(&req(1.0), CancellationToken::new()).await,
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        rxs[1].open(&req(1.0), CancellationToken::new()).await,
        Err(Error::Config { .. })
    ));
}

fn sim_info(id: &str) -> ReceiverInfo {
    ReceiverInfo::new(
        ReceiverId::slugify(id),
        id,
        ReceiverKind::Simulated,
        format!("sim://{id}"),
    )
    .with_position(GeoPosition::new(45.044, 7.672, Some(250.0)).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_kit() {
    let built = SimulatedBuilder::new(sim_info("conformance"))
        .with_transmitter(tx(Modulation::fm_voice(3000.0), 30.0))
        .with_seed(7)
        .build()
        .unwrap();
    heimdall_core::testkit::source_conformance(Arc::new(built), &req(0.5)).await;
    // Real-time pacing runs on an async task instead of a blocking thread.
    let paced = SimulatedBuilder::new(sim_info("paced"))
        .with_transmitter(tx(Modulation::Carrier, 30.0))
        .with_pacing(Pacing::RealTime)
        .with_chunk_samples(600)
        .build()
        .unwrap();
    heimdall_core::testkit::source_conformance(Arc::new(paced), &req(0.2)).await;
}

#[test]
fn builder_validates_without_io() {
    let no_tx = SimulatedBuilder::new(sim_info("a")).build().unwrap_err();
    assert!(matches!(no_tx, Error::Config { .. }), "{no_tx:?}");
    assert!(no_tx.to_string().contains("no transmitter"), "{no_tx}");
    let bad_rate = SimulatedBuilder::new(sim_info("b"))
        .with_transmitter(tx(Modulation::Carrier, 30.0))
        .with_sample_rate(-1.0)
        .build()
        .unwrap_err();
    assert!(matches!(bad_rate, Error::InvalidInput { .. }), "{bad_rate:?}");
    let no_position = ReceiverInfo::new(ReceiverId::slugify("c"), "c", ReceiverKind::Simulated, "sim://c");
    assert!(
        SimulatedBuilder::new(no_position)
            .with_transmitter(tx(Modulation::Carrier, 30.0))
            .build()
            .is_err()
    );
    let bad_tx = SimulatedBuilder::new(sim_info("d"))
        .with_transmitter(tx(Modulation::fm_tone(-1.0, 1000.0), 30.0))
        .build()
        .unwrap_err();
    assert!(matches!(bad_tx, Error::InvalidInput { .. }), "{bad_tx:?}");
    // AM: depth within 0..1, keys shorter than the period and ramps shorter than keys.
    let inverted_keys = Modulation::AmKeyed {
        depth: 0.5,
        period: Duration::from_secs(1),
        short: Duration::from_millis(300),
        long: Duration::from_millis(200),
        ramp: Duration::from_millis(1),
    };
    for m in [Modulation::am_voice(1.5), inverted_keys, Modulation::time_code()] {
        let built = SimulatedBuilder::new(sim_info("f"))
            .with_transmitter(tx(m.clone(), 30.0))
            .build();
        if m == Modulation::time_code() {
            assert!(built.is_ok(), "{m:?}");
        } else {
            assert!(matches!(built, Err(Error::InvalidInput { .. })), "{m:?}: {built:?}");
        }
    }
    // Same defaults as the plain configuration.
    let rx = SimulatedBuilder::new(sim_info("e"))
        .with_transmitter(Arc::new(tx(Modulation::Carrier, 30.0)))
        .build()
        .unwrap();
    assert_eq!(rx.config(), &SimulatedReceiverConfig::for_info(sim_info("e")));
}
