//! KiwiSDR IQ source against the in-process KiwiSDR server.
#![cfg(all(feature = "kiwisdr", feature = "mock-servers"))]

mod common;

use common::{assert_timeout, wait_for};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use heimdall_core::{
    CaptureChunk, CaptureRequest, Complex32, Error, Gap, PowerUnit, ReceiverInfo, ReceiverKind, ReceiverSource,
    SampleBlock, TimeMark, TimeSource,
};
use heimdall_websdr::kiwisdr::mock::{KiwiBehavior, MockKiwi, MockKiwiConfig, mock_iq};
use heimdall_websdr::kiwisdr::{KiwiSdrBuilder, KiwiSdrSource};
use tokio_util::sync::CancellationToken;

const RATE: f64 = 12001.135;

fn info(url: &str) -> ReceiverInfo {
    common::info("kiwi-test", "Mock Kiwi", ReceiverKind::KiwiSdr, url)
}

fn source(mock: &MockKiwi, f: impl FnOnce(KiwiSdrBuilder) -> KiwiSdrBuilder) -> KiwiSdrSource {
    f(KiwiSdrBuilder::new(info(&mock.url()))
        .with_connect_timeout(Duration::from_secs(2))
        .with_handshake_timeout(Duration::from_secs(3))
        .with_read_timeout(Duration::from_secs(2))
        .with_redirect_delay(Duration::from_millis(10)))
    .build()
    .unwrap()
}

fn req(secs: f64) -> CaptureRequest {
    common::request(7_100_000.0, None, secs)
}

#[derive(Debug, Default)]
struct Collected {
    samples: Vec<Complex32>,
    times: Vec<TimeMark>,
    gaps: Vec<Gap>,
    rssi: Vec<f64>,
    first_is_time: bool,
    error: Option<Error>,
}

async fn collect(src: &KiwiSdrSource, r: &CaptureRequest) -> Result<(heimdall_core::CaptureInfo, Collected), Error> {
    let stream = src.open(r, CancellationToken::new()).await?;
    let mut c = Collected::default();
    let mut chunks = stream.chunks;
    let mut first = true;
    while let Some(item) = chunks.next().await {
        match item {
            Ok(CaptureChunk::Samples(SampleBlock::Complex(v))) => c.samples.extend(v),
            Ok(CaptureChunk::Time(t)) => {
                if first {
                    c.first_is_time = true;
                }
                c.times.push(t)
            }
            Ok(CaptureChunk::Gap(g)) => c.gaps.push(g),
            Ok(CaptureChunk::Rssi(r)) => {
                assert_eq!(r.unit, PowerUnit::Dbm);
                c.rssi.push(r.value)
            }
            Ok(other) => panic!("unexpected chunk {other:?}"),
            Err(e) => {
                c.error = Some(e);
                break;
            }
        }
        first = false;
    }
    Ok((stream.info, c))
}

fn expected_sample(n: u64) -> Complex32 {
    let (i, q) = mock_iq(n);
    Complex32::new(f32::from(i) / 32768.0, f32::from(q) / 32768.0)
}

/// Delivered sample j is server sample 512 + j (the stale first packet is dropped).
fn assert_values(samples: &[Complex32], offset: u64) {
    for (j, s) in samples.iter().enumerate() {
        assert_eq!(*s, expected_sample(offset + j as u64), "sample {j}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path_big_endian_value_for_value() {
    let mock = MockKiwi::start(MockKiwiConfig::default()).await.unwrap();
    let src = source(&mock, |b| b);
    let (info, c) = collect(&src, &req(0.5)).await.unwrap();
    assert!(c.error.is_none(), "{:?}", c.error);
    assert_eq!(
        info.sample_rate_hz, RATE,
        "the true MSG sample_rate, not the nominal 12000"
    );
    let expected = (0.5 * RATE).round() as u64;
    assert_eq!(info.expected_samples, Some(expected));
    assert_eq!(c.samples.len() as u64, expected);
    assert!(c.first_is_time);
    assert_eq!(c.times[0].sample_index, 0);
    assert_eq!(c.times[0].source, TimeSource::Host);
    assert!((Utc::now() - c.times[0].time).num_seconds().abs() < 5);
    assert_values(&c.samples, 512);
    assert!(c.gaps.is_empty());
    assert!(
        !c.rssi.is_empty() && c.rssi.iter().all(|r| (*r + 73.5).abs() < 1e-9),
        "{:?}",
        c.rssi
    );
    assert_eq!(info.extra["manual_gain_db"], 50);

    let cmds: Vec<String> = mock.commands().into_iter().map(|c| c.text).collect();
    assert_eq!(cmds[0], "SET auth t=kiwi p=", "auth must come first");
    for want in [
        "SET AR OK in=12000 out=44100",
        "SET ident_user=heimdall",
        "SET mod=iq low_cut=-5000 high_cut=5000 freq=7100.000",
        "SET agc=0 hang=0 thresh=-100 slope=6 decay=1000 manGain=50",
        "SET keepalive",
    ] {
        assert!(cmds.iter().any(|c| c == want), "missing {want:?} in {cmds:?}");
    }
    assert!(mock.violations().is_empty(), "{:?}", mock.violations());
    let paths = mock.paths();
    assert_eq!(paths.len(), 1);
    let p = paths[0].strip_prefix('/').unwrap().strip_suffix("/SND").unwrap();
    assert!(p.parse::<u32>().is_ok(), "path {:?} must be /<tstamp>/SND", paths[0]);
    wait_for(|| mock.closed_connections() == vec![0]).await;
    assert_eq!(
        mock.closed_connections(),
        vec![0],
        "the socket is closed after the capture"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn little_endian_samples_forced_and_requested() {
    let mock = MockKiwi::start(MockKiwiConfig {
        force_little_endian: true,
        text_msgs: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let (_, c) = collect(&source(&mock, |b| b), &req(0.2)).await.unwrap();
    assert!(c.error.is_none(), "{:?}", c.error);
    assert_eq!(c.samples.len() as u64, (0.2 * RATE).round() as u64);
    assert_values(&c.samples, 512);

    let mock = MockKiwi::start(MockKiwiConfig::default()).await.unwrap();
    let (_, c) = collect(&source(&mock, |b| b.with_little_endian(true)), &req(0.2))
        .await
        .unwrap();
    assert!(c.error.is_none(), "{:?}", c.error);
    assert_values(&c.samples, 512);
    assert!(mock.commands().iter().any(|c| c.text == "SET little-endian"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frequency_corrected_by_freq_offset_and_passband_clamped() {
    let mock = MockKiwi::start(MockKiwiConfig {
        freq_offset_khz: 144_000.0,
        ..Default::default()
    })
    .await
    .unwrap();
    let src = source(&mock, |b| b.with_gain(30).with_password("pw"));
    let mut r = req(0.1);
    r.frequency_hz = 144_174_123.4;
    r.passband = Some(heimdall_core::Passband {
        low_hz: -9000.0,
        high_hz: 2000.0,
    });
    let (info, c) = collect(&src, &r).await.unwrap();
    assert!(c.error.is_none(), "{:?}", c.error);
    assert_eq!(info.center_frequency_hz, 144_174_123.4);
    let cmds: Vec<String> = mock.commands().into_iter().map(|c| c.text).collect();
    assert_eq!(cmds[0], "SET auth t=kiwi p=pw");
    assert!(
        cmds.iter()
            .any(|c| c == "SET mod=iq low_cut=-5999 high_cut=2000 freq=174.123"),
        "{cmds:?}"
    );
    assert!(cmds.iter().any(|c| c.ends_with("manGain=30")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gps_timestamps_give_gps_time_marks() {
    let start: DateTime<Utc> = Utc::now() - TimeDelta::seconds(30);
    let mock = MockKiwi::start(MockKiwiConfig {
        gps_start: Some(start),
        ..Default::default()
    })
    .await
    .unwrap();
    let (_, c) = collect(&source(&mock, |b| b), &req(1.0)).await.unwrap();
    assert!(c.error.is_none(), "{:?}", c.error);
    let t0 = c.times[0];
    assert_eq!((t0.sample_index, t0.source), (0, TimeSource::Gps));
    let want = start + TimeDelta::nanoseconds((512.0 / RATE * 1e9).round() as i64);
    assert!(
        (t0.time - want).num_microseconds().unwrap().abs() <= 1,
        "{} vs {want}",
        t0.time
    );
    // Anchors where last_gps_solution decreases (every 10th packet in the mock: seq 10, 20...).
    assert!(c.times.len() >= 2, "{:?}", c.times);
    for t in &c.times[1..] {
        assert_eq!(t.source, TimeSource::Gps);
        let server_index = 512 + t.sample_index;
        assert_eq!(server_index % 5120, 4608, "anchor at seq 10, 20...: {t:?}");
        let want = start + TimeDelta::nanoseconds((server_index as f64 / RATE * 1e9).round() as i64);
        assert!((t.time - want).num_microseconds().unwrap().abs() <= 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_at_discards_earlier_samples() {
    let start: DateTime<Utc> = Utc::now();
    let mock = MockKiwi::start(MockKiwiConfig {
        gps_start: Some(start),
        frame_interval: None,
        ..Default::default()
    })
    .await
    .unwrap();
    let mut r = req(0.2);
    let at = start + TimeDelta::milliseconds(1000);
    r.start_at = Some(at);
    let (_, c) = collect(&source(&mock, |b| b), &r).await.unwrap();
    assert!(c.error.is_none(), "{:?}", c.error);
    let first = (1.0 * RATE).ceil() as u64;
    assert_values(&c.samples, first);
    let want = start + TimeDelta::nanoseconds((first as f64 / RATE * 1e9) as i64);
    assert!((c.times[0].time - want).num_microseconds().unwrap().abs() <= 2);
    assert!((c.times[0].time - at).num_microseconds().unwrap() >= 0);
    assert!((c.times[0].time - at).num_microseconds().unwrap() < 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequence_gaps_are_reported() {
    let mock = MockKiwi::start(MockKiwiConfig {
        skip_seqs: [5, 6].into_iter().collect(),
        ..Default::default()
    })
    .await
    .unwrap();
    let (_, c) = collect(&source(&mock, |b| b), &req(0.5)).await.unwrap();
    assert!(c.error.is_none(), "{:?}", c.error);
    assert_eq!(
        c.gaps,
        vec![Gap {
            sample_index: 3 * 512,
            missing_samples: 1024
        }]
    );
    assert_eq!(c.samples.len() as u64, (0.5 * RATE).round() as u64);
    assert_values(&c.samples[..1536], 512);
    assert_values(&c.samples[1536..], 512 + 1536 + 1024);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords() {
    let mock = MockKiwi::start(MockKiwiConfig {
        password: Some("s3cret word".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let (_, c) = collect(&source(&mock, |b| b.with_password("s3cret word")), &req(0.1))
        .await
        .unwrap();
    assert!(c.error.is_none());
    assert_eq!(mock.commands()[0].text, "SET auth t=kiwi p=s3cret%20word");
    let e = collect(&source(&mock, |b| b.with_password("wrong")), &req(0.1))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Refused { .. }), "{e:?}");
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("badp=1"), "{e}");
    // Debug output never shows passwords.
    let src = source(&mock, |b| b.with_password("s3cret word").with_tlimit_password("tl-pw"));
    let dbg = format!(
        "{src:?} {:?}",
        KiwiSdrBuilder::new(info("h")).with_password("s3cret word")
    );
    assert!(!dbg.contains("s3cret") && !dbg.contains("tl-pw"), "{dbg}");
}

async fn open_err(cfg: MockKiwiConfig, f: impl FnOnce(KiwiSdrBuilder) -> KiwiSdrBuilder) -> (Error, MockKiwi) {
    let mock = MockKiwi::start(cfg).await.unwrap();
    let src = source(&mock, f);
    let e = match collect(&src, &req(2.0)).await {
        Err(e) => e,
        Ok((_, c)) => c.error.expect("the capture must fail"),
    };
    (e, mock)
}

fn behave(b: KiwiBehavior) -> MockKiwiConfig {
    MockKiwiConfig {
        behavior: b,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retryable_errors() {
    for b in [KiwiBehavior::TooBusy, KiwiBehavior::TooBusyAfter(3)] {
        let (e, _) = open_err(behave(b.clone()), |b| b).await;
        assert!(matches!(e, Error::Unavailable { .. }), "{b:?}: {e:?}");
        assert!(e.is_retryable());
        assert!(e.retry_after().unwrap() >= Duration::from_secs(15));
        assert!(e.to_string().contains("too_busy"), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_errors_are_refused() {
    let cases: Vec<(KiwiBehavior, &str)> = vec![
        (KiwiBehavior::Badp(1), "badp=1"),
        (KiwiBehavior::Badp(2), "badp=2"),
        (KiwiBehavior::Badp(5), "badp=5"),
        (KiwiBehavior::Badp(6), "badp=6"),
        (KiwiBehavior::Down, "Software update in progress"),
        (KiwiBehavior::IpLimit, "ip_limit=1440,127.0.0.1"),
        (KiwiBehavior::KickAfter(3), "kiwi_kick=1,Kicked by the admin"),
        (KiwiBehavior::InactivityAfter(3), "inactivity_timeout"),
        (
            KiwiBehavior::PasswordTimeout(Duration::from_millis(100)),
            "password_timeout",
        ),
    ];
    for (b, text) in cases {
        let (e, mock) = open_err(behave(b.clone()), |b| b).await;
        assert!(matches!(e, Error::Refused { .. }), "{b:?}: {e:?}");
        assert!(!e.is_retryable(), "{b:?}");
        assert!(e.to_string().contains(text), "{b:?}: {e}");
        assert_eq!(mock.paths().len(), 1, "{b:?}: never retried");
    }
    let (e, _) = open_err(behave(KiwiBehavior::IpLimit), |b| b).await;
    assert!(e.to_string().contains("do not retry"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_is_followed_once() {
    let target = MockKiwi::start(MockKiwiConfig::default()).await.unwrap();
    let redirector = MockKiwi::start(behave(KiwiBehavior::Redirect(target.url())))
        .await
        .unwrap();
    let (info, c) = collect(&source(&redirector, |b| b), &req(0.2)).await.unwrap();
    assert!(c.error.is_none(), "{:?}", c.error);
    assert_values(&c.samples, 512);
    assert_eq!(redirector.paths().len(), 1);
    assert_eq!(target.paths().len(), 1);
    assert_eq!(info.extra["endpoint"], target.addr().to_string());

    // A redirect to another redirector is not followed a second time.
    let loop_b = MockKiwi::start(behave(KiwiBehavior::Redirect(redirector.url())))
        .await
        .unwrap();
    let (e, _) = open_err(behave(KiwiBehavior::Redirect(loop_b.url())), |b| b).await;
    assert!(matches!(e, Error::Unavailable { .. }), "{e:?}");
    assert!(e.retry_after().unwrap() >= Duration::from_secs(15));
    assert!(e.to_string().contains("already followed"), "{e}");
    assert_eq!(loop_b.paths().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mid_stream_disconnect_is_connection_lost() {
    let (e, _) = open_err(behave(KiwiBehavior::DisconnectAfter(5)), |b| b).await;
    match e {
        Error::ConnectionLost { received, .. } => assert_eq!(received, 4 * 512),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_servers_time_out() {
    let (e, _) = open_err(behave(KiwiBehavior::StallOnConnect), |b| {
        b.with_connect_timeout(Duration::from_millis(300))
    })
    .await;
    assert_timeout(&e, "connect");
    assert!(e.is_retryable());
    let (e, mock) = open_err(behave(KiwiBehavior::StallAfterHandshake), |b| {
        b.with_read_timeout(Duration::from_millis(600))
            .with_keepalive_interval(Duration::from_millis(100))
    })
    .await;
    assert_timeout(&e, "capture");
    // Keepalives keep flowing without data.
    let n = mock.commands().iter().filter(|c| c.text == "SET keepalive").count();
    assert!(n >= 4, "{n} keepalives while stalled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_truncated_frames_are_malformed() {
    for b in [KiwiBehavior::GarbageAfter(3), KiwiBehavior::TruncatedAfter(3)] {
        let (e, _) = open_err(behave(b.clone()), |b| b).await;
        assert!(matches!(e, Error::Malformed { .. }), "{b:?}: {e:?}");
        assert!(!e.is_retryable());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_cadence_seen_by_the_server() {
    let mock = MockKiwi::start(MockKiwiConfig {
        frame_interval: Some(Duration::from_millis(20)),
        ..Default::default()
    })
    .await
    .unwrap();
    let src = source(&mock, |b| b.with_keepalive_interval(Duration::from_millis(100)));
    // 40 000 samples at 512 per 20 ms: about 1.6 s of wall time.
    let (_, c) = collect(&src, &req(40_000.0 / RATE)).await.unwrap();
    assert!(c.error.is_none(), "{:?}", c.error);
    let times: Vec<_> = mock
        .commands()
        .into_iter()
        .filter(|c| c.text == "SET keepalive")
        .map(|c| c.at)
        .collect();
    // The first is sent with the tuning set; the rest come from the timer.
    assert!(times.len() >= 10, "{} keepalives", times.len());
    let gaps: Vec<Duration> = times[1..].windows(2).map(|w| w[1] - w[0]).collect();
    let within = gaps
        .iter()
        .filter(|g| **g >= Duration::from_millis(60) && **g <= Duration::from_millis(200))
        .count();
    assert!(within * 10 >= gaps.len() * 7, "keepalive gaps {gaps:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_ends_promptly_and_closes_the_socket() {
    let mock = MockKiwi::start(MockKiwiConfig::default()).await.unwrap();
    let src = source(&mock, |b| b);
    common::assert_cancel_ends_stream(&src, &req(3600.0), 5).await;
    wait_for(|| !mock.closed_connections().is_empty()).await;
    assert_eq!(mock.closed_connections(), vec![0]);

    // Cancelled before the handshake finishes.
    let token = CancellationToken::new();
    token.cancel();
    let e = src.open(&req(1.0), token).await.unwrap_err();
    assert!(matches!(e, Error::Cancelled { .. }), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_stream_closes_the_socket() {
    let mock = MockKiwi::start(MockKiwiConfig::default()).await.unwrap();
    let src = source(&mock, |b| b);
    let stream = src.open(&req(3600.0), CancellationToken::new()).await.unwrap();
    let mut chunks = stream.chunks;
    chunks.next().await.unwrap().unwrap();
    drop(chunks);
    wait_for(|| !mock.closed_connections().is_empty()).await;
    assert_eq!(mock.closed_connections(), vec![0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_from_status_page() {
    let mock = MockKiwi::start(MockKiwiConfig::default()).await.unwrap();
    let src = source(&mock, |b| b);
    let h = src.health().await.unwrap();
    assert!(h.available);
    assert_eq!((h.users, h.users_max, h.gps_locked), (Some(1), Some(4), Some(true)));
    assert_eq!(h.version.as_deref(), Some("KiwiSDR_v1.711"));
    // A second check (on the client the first one built) reads the same page.
    assert_eq!(src.health().await.unwrap(), h);

    let full = MockKiwi::start(MockKiwiConfig {
        status_body: "status=active\noffline=no\nusers=4\nusers_max=4\nauth=password\nfixes_min=0\n".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let h = source(&full, |b| b).health().await.unwrap();
    assert!(!h.available);
    assert_eq!(h.gps_locked, Some(false));
    assert!(
        h.detail.contains("all channels in use") && h.detail.contains("password"),
        "{}",
        h.detail
    );

    let dead = KiwiSdrBuilder::new(info("http://127.0.0.1:1"))
        .with_connect_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let e = dead.health().await.unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builder_validates_without_io() {
    assert!(KiwiSdrBuilder::new(info("https://k.example")).build().is_err());
    assert!(KiwiSdrBuilder::new(info("k.example")).with_gain(500).build().is_err());
    assert!(
        KiwiSdrBuilder::new(info("k.example"))
            .with_busy_backoff(Duration::from_secs(1))
            .build()
            .is_err()
    );
    let s = KiwiSdrBuilder::new(info("k.example")).build().unwrap();
    assert_eq!(s.to_string(), "kiwisdr kiwi-test (k.example:8073)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_kit() {
    let mock = MockKiwi::start(MockKiwiConfig::default()).await.unwrap();
    let src: Arc<dyn ReceiverSource> = Arc::new(source(&mock, |b| b));
    heimdall_core::testkit::source_conformance(src, &req(0.3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalives_keep_the_server_from_dropping_us() {
    // The server drops connections without a keepalive for 300 ms; the capture lasts ~1 s.
    let mock = MockKiwi::start(MockKiwiConfig {
        frame_interval: Some(Duration::from_millis(20)),
        keepalive_timeout: Duration::from_millis(300),
        ..Default::default()
    })
    .await
    .unwrap();
    let src = source(&mock, |b| b.with_keepalive_interval(Duration::from_millis(100)));
    let (_, c) = collect(&src, &req(25_000.0 / RATE)).await.unwrap();
    assert!(c.error.is_none(), "{:?}", c.error);
    assert!(mock.violations().is_empty(), "{:?}", mock.violations());

    // Without the timer (keepalive every 30 s) the same server drops the capture.
    let src = source(&mock, |b| b.with_keepalive_interval(Duration::from_secs(30)));
    let (_, c) = collect(&src, &req(25_000.0 / RATE)).await.unwrap();
    assert!(matches!(c.error, Some(Error::ConnectionLost { .. })), "{:?}", c.error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frequencies_outside_the_span_are_invalid() {
    let mock = MockKiwi::start(MockKiwiConfig::default()).await.unwrap();
    let mut r = req(0.1);
    r.frequency_hz = 145_000_000.0;
    let e = collect(&source(&mock, |b| b), &r).await.unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    assert!(e.to_string().contains("tunable span"), "{e}");
    assert!(
        !mock.commands().iter().any(|c| c.text.starts_with("SET mod=")),
        "no tuning sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_auth_times_out() {
    let (e, _) = open_err(behave(KiwiBehavior::PasswordTimeout(Duration::from_secs(60))), |b| {
        b.with_handshake_timeout(Duration::from_millis(300))
    })
    .await;
    assert_timeout(&e, "handshake");
    assert!(e.is_retryable());
}
