//! OpenWebRX source against the in-process mock server.

mod common;

use common::{assert_malformed, assert_refused, assert_timeout};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use heimdall_core::{
    CaptureChunk, CaptureInfo, CaptureRequest, Error, PowerUnit, ReceiverInfo, ReceiverKind, ReceiverSource,
    SampleBlock, SampleFormat, SpectrumFrame, TimeSource,
};
use heimdall_websdr::openwebrx::adpcm::{ImaAdpcmDecoder, ImaAdpcmEncoder};
use heimdall_websdr::openwebrx::mock::{
    MockAudio, MockConfig, MockFault, MockGreeting, MockOpenWebRx, MockProfile, OTHER_CA_PEM, TEST_CA_PEM,
};
use heimdall_websdr::openwebrx::{HostLimiter, OpenWebRxBuilder, OpenWebRxSource};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

fn info(url: &str) -> ReceiverInfo {
    common::info("mock-owrx", "Mock", ReceiverKind::OpenWebRx, url)
}

fn builder(mock: &MockOpenWebRx) -> OpenWebRxBuilder {
    OpenWebRxBuilder::new(info(&mock.url()))
        .with_politeness_interval(Duration::from_millis(1))
        .with_connect_timeout(Duration::from_secs(2))
        .with_handshake_timeout(Duration::from_secs(2))
        .with_stall_timeout(Duration::from_secs(2))
}

fn req(freq: f64, secs: f64) -> CaptureRequest {
    common::request(freq, None, secs)
}

#[derive(Debug)]
struct Collected {
    info: CaptureInfo,
    samples: Vec<f32>,
    chunks: Vec<CaptureChunk>,
    error: Option<Error>,
}

impl Collected {
    /// The spectrum frames received, in order.
    fn spectra(&self) -> impl Iterator<Item = SpectrumFrame> + '_ {
        self.chunks.iter().filter_map(|c| match c {
            CaptureChunk::Spectrum(s) => Some(s.clone()),
            _ => None,
        })
    }
}

async fn capture(src: &OpenWebRxSource, r: &CaptureRequest) -> Result<Collected, Error> {
    capture_with(src, r, CancellationToken::new()).await
}

async fn capture_with(
    src: &OpenWebRxSource,
    r: &CaptureRequest,
    cancel: CancellationToken,
) -> Result<Collected, Error> {
    let mut s = src.open(r, cancel).await?;
    let mut out = Collected {
        info: s.info.clone(),
        samples: Vec::new(),
        chunks: Vec::new(),
        error: None,
    };
    let done = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(item) = s.chunks.next().await {
            match item {
                Ok(CaptureChunk::Samples(SampleBlock::Real(v))) => {
                    out.samples.extend_from_slice(&v);
                    out.chunks.push(CaptureChunk::Samples(SampleBlock::Real(Vec::new())));
                }
                Ok(c) => out.chunks.push(c),
                Err(e) => {
                    out.error = Some(e);
                    break;
                }
            }
        }
    })
    .await;
    assert!(done.is_ok(), "capture did not end");
    // The stream ends after an error.
    if out.error.is_some() {
        assert!(s.chunks.next().await.is_none());
    }
    Ok(out)
}

/// The first `n` samples of the mock's cyclic signal.
fn signal(cfg: &MockConfig, n: usize) -> Vec<i16> {
    (0..n).map(|i| cfg.audio_samples[i % cfg.audio_samples.len()]).collect()
}

/// What an IMA decoder yields for the mock's signal (continuous encoder state).
fn adpcm_reference(cfg: &MockConfig, n: usize) -> Vec<f32> {
    let sig = signal(cfg, n + 2);
    let mut bytes = Vec::new();
    ImaAdpcmEncoder::new().encode(&sig, &mut bytes);
    let mut dec = Vec::new();
    ImaAdpcmDecoder::new().decode_into(&bytes, &mut dec);
    dec.truncate(n);
    dec.iter().map(|s| f32::from(*s) / 32768.0).collect()
}

/// A mock server that does `fault` after `at` samples.
async fn faulty(at: u64, fault: MockFault) -> MockOpenWebRx {
    MockOpenWebRx::start(MockConfig {
        faults: vec![(at, fault)],
        ..MockConfig::default()
    })
    .await
    .unwrap()
}

/// A capture of `secs` at 145 MHz from a mock server set up by `cfg`, checked to end without
/// an error (the server is returned for its records).
async fn clean_capture(cfg: &MockConfig, secs: f64) -> (MockOpenWebRx, Collected) {
    let mock = MockOpenWebRx::start(cfg.clone()).await.unwrap();
    let src = builder(&mock).build().unwrap();
    let c = capture(&src, &req(145.0e6, secs)).await.unwrap();
    assert!(c.error.is_none(), "{:?}", c.error);
    (mock, c)
}

fn json_messages(mock: &MockOpenWebRx, conn: usize) -> Vec<String> {
    mock.connections()[conn].messages.clone()
}

#[tokio::test]
async fn int16_happy_path_values_rssi_spectra_and_messages() {
    let cfg = MockConfig::default();
    let mock = MockOpenWebRx::start(cfg.clone()).await.unwrap();
    let src = builder(&mock).with_mode("nfm").build().unwrap();
    let c = capture(&src, &req(145.1e6, 0.5)).await.unwrap();
    assert!(c.error.is_none(), "{:?}", c.error);
    assert_eq!(c.info.format, SampleFormat::RealF32);
    assert_eq!(c.info.sample_rate_hz, 12_000.0);
    assert_eq!(c.info.expected_samples, Some(6000));
    assert_eq!(c.info.center_frequency_hz, 145.1e6);
    assert_eq!(c.info.target_frequency_hz, 145.1e6);
    assert_eq!(c.info.extra["offset_freq"], Value::from(100_000));
    assert_eq!(c.info.extra["server_version"], Value::from("v1.2.0"));
    assert_eq!(c.info.extra["audio_compression"], Value::from("none"));
    assert_eq!(c.info.extra["profile"], Value::from("rtl|2m"));
    // Exactly the expected samples, value for value.
    assert_eq!(c.samples.len(), 6000);
    let expect: Vec<f32> = signal(&cfg, 6000).iter().map(|s| f32::from(*s) / 32768.0).collect();
    assert_eq!(c.samples, expect);
    // A time mark for sample 0 before any samples.
    match &c.chunks[0] {
        CaptureChunk::Time(t) => {
            assert_eq!(t.sample_index, 0);
            assert_eq!(t.source, TimeSource::Host);
        }
        other => panic!("first chunk {other:?}"),
    }
    // S-meter: linear 1e-5 -> -50 dBFS.
    let rssi: Vec<_> = c
        .chunks
        .iter()
        .filter_map(|c| match c {
            CaptureChunk::Rssi(r) => Some(*r),
            _ => None,
        })
        .collect();
    assert!(!rssi.is_empty());
    for r in &rssi {
        assert_eq!(r.unit, PowerUnit::Dbfs);
        assert!((r.value + 50.0).abs() < 1e-9, "{}", r.value);
    }
    assert!(rssi.windows(2).all(|w| w[0].sample_index <= w[1].sample_index));
    // Spectra: float32 bins as sent, spanning the profile.
    let spectra: Vec<_> = c.spectra().collect();
    assert!(!spectra.is_empty());
    assert_eq!(spectra[0].bins, cfg.fft_bins);
    assert_eq!(spectra[0].center_frequency_hz, 145e6);
    assert_eq!(spectra[0].span_hz, 2.4e6);
    // What the client sent, in order.
    let msgs = json_messages(&mock, 0);
    assert_eq!(msgs[0], "SERVER DE CLIENT client=heimdall type=receiver");
    let v: Vec<Value> = msgs[1..].iter().map(|m| serde_json::from_str(m).unwrap()).collect();
    assert_eq!(v[0]["type"], "connectionproperties");
    assert_eq!(v[0]["params"]["output_rate"], 12000);
    assert_eq!(v[1]["type"], "dspcontrol");
    assert_eq!(v[1]["params"]["mod"], "nfm");
    assert!(v[1]["params"]["offset_freq"].is_i64());
    assert_eq!(v[1]["params"]["offset_freq"], 100_000);
    assert_eq!(v[1]["params"]["low_cut"], -4000);
    assert_eq!(v[1]["params"]["high_cut"], 4000);
    assert_eq!(v[2], serde_json::json!({"type": "dspcontrol", "action": "start"}));
}

#[tokio::test]
async fn adpcm_sync_stream_v12_hello_after_json() {
    let cfg = MockConfig {
        audio: MockAudio::Adpcm,
        hello_first: false,
        frame_samples: 333 * 2, // frames not aligned with the 1001-byte sync period
        ..MockConfig::default()
    };
    let (_, c) = clean_capture(&cfg, 1.0).await;
    assert_eq!(c.info.extra["adpcm"], Value::from("sync"));
    assert_eq!(c.samples.len(), 12_000);
    assert_eq!(c.samples, adpcm_reference(&cfg, 12_000));
}

#[tokio::test]
async fn wfm_uses_hd_audio() {
    let cfg = MockConfig::default();
    let mock = MockOpenWebRx::start(cfg.clone()).await.unwrap();
    let src = builder(&mock).with_mode("wfm").build().unwrap();
    let c = capture(&src, &req(145.0e6, 0.1)).await.unwrap();
    assert!(c.error.is_none(), "{:?}", c.error);
    assert_eq!(c.info.sample_rate_hz, 48_000.0);
    assert_eq!(c.samples.len(), 4800);
    let expect: Vec<f32> = signal(&cfg, 4800).iter().map(|s| f32::from(*s) / 32768.0).collect();
    assert_eq!(c.samples, expect);
    let v: Value = serde_json::from_str(&json_messages(&mock, 0)[2]).unwrap();
    assert_eq!(
        (v["params"]["low_cut"].as_i64(), v["params"]["high_cut"].as_i64()),
        (Some(-75_000), Some(75_000))
    );
}

#[tokio::test]
async fn adpcm_raw_stream_v11() {
    let cfg = MockConfig {
        audio: MockAudio::Adpcm,
        version: Some("1.1.0".into()),
        hello_first: false,
        ..MockConfig::default()
    };
    let (_, c) = clean_capture(&cfg, 0.5).await;
    assert_eq!(c.info.extra["adpcm"], Value::from("raw"));
    assert_eq!(c.info.extra["smeter_bias_db_estimate"], Value::from(-7.0));
    assert_eq!(c.samples, adpcm_reference(&cfg, 6000));
}

#[tokio::test]
async fn adpcm_unknown_version_is_sniffed() {
    let cfg = MockConfig {
        audio: MockAudio::Adpcm,
        version: None,
        ..MockConfig::default()
    };
    let (_, c) = clean_capture(&cfg, 0.25).await;
    assert_eq!(c.info.extra["adpcm"], Value::from("sniff"));
    assert_eq!(c.samples, adpcm_reference(&cfg, 3000));
}

#[tokio::test]
async fn adpcm_fft_frames_decode() {
    let cfg = MockConfig {
        fft_adpcm: true,
        fft_every: 1,
        ..MockConfig::default()
    };
    let (_, c) = clean_capture(&cfg, 0.2).await;
    let s = c.spectra().next().unwrap();
    assert_eq!(s.bins.len(), cfg.fft_bins.len());
    // ADPCM rings for a few bins after the padding, then tracks the 1 dB ramp closely.
    for (a, b) in s.bins.iter().zip(&cfg.fft_bins).skip(12) {
        assert!((a - b).abs() < 2.0, "{a} vs {b}");
    }
    let mean_err: f32 = s
        .bins
        .iter()
        .zip(&cfg.fft_bins)
        .map(|(a, b)| (a - b).abs())
        .sum::<f32>()
        / 64.0;
    assert!(mean_err < 2.0, "{mean_err}");
    let p = heimdall_websdr::openwebrx::channel_power_db(&s, 145.0e6, -4000.0, 4000.0).unwrap();
    assert!((-100.0..=-36.0).contains(&p), "{p}");
}

#[tokio::test]
async fn truncated_fft_and_odd_audio_frames_do_not_panic() {
    let cfg = MockConfig {
        fft_trailing_bytes: 3,
        fft_every: 1,
        faults: vec![
            (600, MockFault::RawBinary(vec![0x02, 0x01])),
            (1200, MockFault::RawBinary(vec![0x07, 1, 2])),
        ],
        ..MockConfig::default()
    };
    let (_, c) = clean_capture(&cfg, 0.3).await;
    assert_eq!(c.samples.len(), 3600);
    let s = c.spectra().next().unwrap();
    assert_eq!(s.bins, cfg.fft_bins);
}

#[tokio::test]
async fn profile_switch_refused_unless_allowed() {
    let mock = MockOpenWebRx::start(MockConfig::default()).await.unwrap();
    let src = builder(&mock).build().unwrap();
    let e = capture(&src, &req(433.6e6, 0.1)).await.unwrap_err();
    assert_refused(&e, "openwebrx");
    assert!(!e.is_retryable());
    let msg = e.to_string();
    assert!(
        msg.contains("outside the current profile") && msg.contains("with_allow_profile_switch"),
        "{msg}"
    );
    // Never asked the server to switch.
    assert!(json_messages(&mock, 0).iter().all(|m| !m.contains("selectprofile")));

    let src = builder(&mock).with_allow_profile_switch(true).build().unwrap();
    let c = capture(&src, &req(433.6e6, 0.1)).await.unwrap();
    assert!(c.error.is_none(), "{:?}", c.error);
    assert_eq!(c.info.center_frequency_hz, 433.6e6);
    assert_eq!(c.info.extra["profile"], Value::from("rtl|70cm"));
    assert_eq!(c.info.extra["offset_freq"], Value::from(100_000));
    let msgs = json_messages(&mock, 1);
    let sel: Value = serde_json::from_str(msgs.iter().find(|m| m.contains("selectprofile")).unwrap()).unwrap();
    assert_eq!(
        sel,
        serde_json::json!({"type": "selectprofile", "params": {"profile": "rtl|70cm"}})
    );
    assert!(mock.http_requests().iter().any(|r| r.starts_with("GET /status.json")));

    let e = capture(&src, &req(1.2e9, 0.1)).await.unwrap_err();
    assert!(matches!(e, Error::Refused { .. }), "{e:?}");
    assert!(e.to_string().contains("no profile covers"), "{e}");
}

#[tokio::test]
async fn ignored_profile_switch_is_refused_not_retried() {
    let mock = MockOpenWebRx::start(MockConfig {
        ignore_selectprofile: true,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let src = builder(&mock)
        .with_allow_profile_switch(true)
        .with_handshake_timeout(Duration::from_millis(400))
        .build()
        .unwrap();
    let e = capture(&src, &req(433.6e6, 0.1)).await.unwrap_err();
    assert!(matches!(e, Error::Refused { .. }), "{e:?}");
    assert!(!e.is_retryable());
    assert!(
        e.to_string().contains("did not apply selectprofile \"rtl|70cm\""),
        "{e}"
    );
}

async fn open_err(cfg: MockConfig) -> Error {
    let mock = MockOpenWebRx::start(cfg).await.unwrap();
    let src = builder(&mock)
        .with_handshake_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    match capture(&src, &req(145.0e6, 0.5)).await {
        Err(e) => e,
        Ok(c) => c.error.expect("an error"),
    }
}

/// The error of a capture from a mock server that greets with `greeting`.
async fn greeted(greeting: MockGreeting) -> Error {
    open_err(MockConfig {
        greeting,
        ..MockConfig::default()
    })
    .await
}

#[tokio::test]
async fn every_server_error_message() {
    let e = greeted(MockGreeting::Backoff("Too many clients".into())).await;
    assert!(matches!(e, Error::Unavailable { .. }), "{e:?}");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(16)));
    assert_eq!(
        e.to_string(),
        "openwebrx mock-owrx unavailable: server sent backoff: Too many clients"
    );

    let e = greeted(MockGreeting::Backoff("Client address banned".into())).await;
    assert!(matches!(e, Error::Refused { .. }), "{e:?}");
    assert!(e.to_string().contains("Client address banned"), "{e}");

    let e = greeted(MockGreeting::SdrError("No SDR Devices available".into())).await;
    assert!(matches!(e, Error::Refused { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "openwebrx mock-owrx refused: server sent sdr_error: No SDR Devices available"
    );

    let e = greeted(MockGreeting::SdrError("SDR device failed".into())).await;
    assert!(matches!(e, Error::Unavailable { .. }) && e.is_retryable(), "{e:?}");

    let e = greeted(MockGreeting::DemodulatorError("Demodulator not available".into())).await;
    assert!(matches!(e, Error::Refused { .. }), "{e:?}");
    assert!(
        e.to_string().contains("demodulator_error: Demodulator not available"),
        "{e}"
    );

    let e = greeted(MockGreeting::Legacy).await;
    assert!(matches!(e, Error::NotImplemented { .. }), "{e:?}");
    assert!(e.to_string().contains("legacy"), "{e}");

    let e = greeted(MockGreeting::Silent).await;
    assert_timeout(&e, "handshake");
    assert!(e.is_retryable());
}

#[tokio::test]
async fn connection_refused_is_unavailable() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", l.local_addr().unwrap());
    drop(l);
    let src = OpenWebRxBuilder::new(info(&url)).build().unwrap();
    let e = capture(&src, &req(145e6, 0.1)).await.unwrap_err();
    assert!(matches!(e, Error::Unavailable { .. }), "{e:?}");
    assert!(e.is_retryable());
}

#[tokio::test]
async fn mid_stream_disconnect_is_connection_lost_with_count() {
    let e_and_count = {
        let mock = faulty(3000, MockFault::Disconnect).await;
        let src = builder(&mock).build().unwrap();
        let c = capture(&src, &req(145e6, 1.0)).await.unwrap();
        (c.error.unwrap(), c.samples.len() as u64)
    };
    match e_and_count {
        (Error::ConnectionLost { received, backend, .. }, n) => {
            assert_eq!(backend, "openwebrx");
            assert_eq!(received, n);
            assert_eq!(received, 3000);
        }
        (e, _) => panic!("{e:?}"),
    }
}

#[tokio::test]
async fn close_frame_mid_stream_is_connection_lost() {
    let mock = faulty(1200, MockFault::Close).await;
    let src = builder(&mock).build().unwrap();
    let c = capture(&src, &req(145e6, 1.0)).await.unwrap();
    let e = c.error.unwrap();
    assert!(matches!(e, Error::ConnectionLost { received: 1200, .. }), "{e:?}");
}

#[tokio::test]
async fn stall_is_timeout() {
    let mock = faulty(1200, MockFault::Stall).await;
    let src = builder(&mock)
        .with_stall_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let t = std::time::Instant::now();
    let c = capture(&src, &req(145e6, 1.0)).await.unwrap();
    let e = c.error.unwrap();
    assert!(
        matches!(e, Error::Timeout { operation: "capture", after, .. } if after == Duration::from_millis(200)),
        "{e:?}"
    );
    assert!(e.is_retryable());
    assert_eq!(c.samples.len(), 1200);
    assert!(t.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn audio_stall_with_smeter_still_flowing_is_timeout() {
    let mock = faulty(1200, MockFault::StallAudio).await;
    let src = builder(&mock)
        .with_stall_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let c = capture(&src, &req(145e6, 1.0)).await.unwrap();
    let e = c.error.unwrap();
    assert_timeout(&e, "capture");
    assert_eq!(c.samples.len(), 1200);
    // S-meter readings kept arriving during the stall.
    let late_rssi = c
        .chunks
        .iter()
        .filter(|c| matches!(c, CaptureChunk::Rssi(r) if r.sample_index == 1200))
        .count();
    assert!(late_rssi > 3, "{late_rssi}");
}

#[tokio::test]
async fn garbage_is_malformed() {
    for (fault, needle) in [
        (MockFault::GarbageText("this is not json".into()), "this is not json"),
        (
            MockFault::GarbageText(r#"{"type":"smeter","value":"loud"}"#.into()),
            "smeter",
        ),
        (MockFault::RawBinary(vec![]), "empty binary frame"),
    ] {
        let mock = faulty(600, fault).await;
        let src = builder(&mock).build().unwrap();
        let c = capture(&src, &req(145e6, 1.0)).await.unwrap();
        let e = c.error.unwrap();
        assert_malformed(&e, "openwebrx");
        assert!(e.to_string().contains(needle), "{e}");
        assert!(!e.is_retryable());
    }
}

#[tokio::test]
async fn centre_moved_by_another_user() {
    let mut profiles = MockConfig::default().profiles;
    profiles.push(MockProfile::new("2mb", "2m upper", 145_500_000, 2_400_000));
    // Moved to a profile that still covers the target: re-tune and carry on.
    let mock = MockOpenWebRx::start(MockConfig {
        profiles: profiles.clone(),
        faults: vec![(1200, MockFault::MoveProfile(2))],
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let src = builder(&mock).build().unwrap();
    let c = capture(&src, &req(145.1e6, 0.5)).await.unwrap();
    assert!(c.error.is_none(), "{:?}", c.error);
    assert_eq!(c.samples.len(), 6000);
    // The mock may still be reading the client's last messages.
    let mut retune = String::new();
    for _ in 0..100 {
        retune = json_messages(&mock, 0)
            .into_iter()
            .rfind(|m| m.contains("offset_freq"))
            .unwrap();
        if !retune.contains("100000") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let v: Value = serde_json::from_str(&retune).unwrap();
    assert_eq!(v["params"]["offset_freq"], -400_000);
    // Moved away: a retryable error.
    let mock = MockOpenWebRx::start(MockConfig {
        profiles,
        faults: vec![(1200, MockFault::MoveProfile(1))],
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let src = builder(&mock).build().unwrap();
    let c = capture(&src, &req(145.1e6, 0.5)).await.unwrap();
    let e = c.error.unwrap();
    assert!(matches!(e, Error::Unavailable { .. }), "{e:?}");
    assert!(e.to_string().contains("another user moved"), "{e}");
}

#[tokio::test]
async fn politeness_spaces_connections_per_host() {
    let mock = MockOpenWebRx::start(MockConfig::default()).await.unwrap();
    let limiter = Arc::new(HostLimiter::new(Duration::from_millis(400)));
    let a = builder(&mock).with_host_limiter(limiter.clone()).build().unwrap();
    let b = builder(&mock).with_host_limiter(limiter.clone()).build().unwrap();
    let r = req(145e6, 0.05);
    let (x, y) = tokio::join!(capture(&a, &r), capture(&b, &r));
    assert!(x.unwrap().error.is_none());
    assert!(y.unwrap().error.is_none());
    // The same source twice in a row.
    assert!(capture(&a, &r).await.unwrap().error.is_none());
    let conns = mock.connections();
    assert_eq!(conns.len(), 3);
    let mut at: Vec<_> = conns.iter().map(|c| c.at).collect();
    at.sort();
    for w in at.windows(2) {
        let gap = w[1] - w[0];
        assert!(gap >= Duration::from_millis(380), "connections {gap:?} apart");
    }
}

#[tokio::test]
async fn own_limiter_spaces_repeated_opens() {
    let mock = MockOpenWebRx::start(MockConfig::default()).await.unwrap();
    let src = builder(&mock)
        .with_politeness_interval(Duration::from_millis(300))
        .build()
        .unwrap();
    let r = req(145e6, 0.05);
    capture(&src, &r).await.unwrap();
    capture(&src, &r).await.unwrap();
    let c = mock.connections();
    assert!(c[1].at - c[0].at >= Duration::from_millis(280));
}

#[tokio::test]
async fn cancel_ends_promptly() {
    let mock = MockOpenWebRx::start(MockConfig::default()).await.unwrap();
    let src = builder(&mock).build().unwrap();
    let cancel = CancellationToken::new();
    let mut s = src.open(&req(145e6, 30.0), cancel.clone()).await.unwrap();
    let mut n = 0;
    let t = std::time::Instant::now();
    while let Some(item) = s.chunks.next().await {
        match item {
            Ok(CaptureChunk::Samples(b)) => {
                n += b.len();
                if n >= 1200 {
                    cancel.cancel();
                }
            }
            Ok(_) => {}
            Err(e) => {
                assert!(matches!(e, Error::Cancelled { .. }), "{e:?}");
                break;
            }
        }
    }
    assert!(s.chunks.next().await.is_none());
    assert!(t.elapsed() < Duration::from_secs(2));
    // Cancel before connecting.
    let cancel = CancellationToken::new();
    cancel.cancel();
    let e = src.open(&req(145e6, 1.0), cancel).await.unwrap_err();
    assert!(matches!(e, Error::Cancelled { .. }), "{e:?}");
}

#[tokio::test]
async fn start_at_delivers_from_that_instant() {
    let mock = MockOpenWebRx::start(MockConfig::default()).await.unwrap();
    let src = builder(&mock).build().unwrap();
    let start = chrono::Utc::now() + chrono::Duration::milliseconds(400);
    let mut r = req(145e6, 0.2);
    r.start_at = Some(start);
    let c = capture(&src, &r).await.unwrap();
    assert!(c.error.is_none(), "{:?}", c.error);
    assert_eq!(c.samples.len(), 2400);
    match &c.chunks[0] {
        CaptureChunk::Time(t) => {
            let skew = (t.time - start).num_milliseconds();
            // Never before the requested instant; late only by scheduling delays.
            assert!((0..1000).contains(&skew), "skew {skew} ms");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn health_reads_status_json() {
    let mock = MockOpenWebRx::start(MockConfig::default()).await.unwrap();
    let src = builder(&mock).build().unwrap();
    let h = src.health().await.unwrap();
    assert!(h.available);
    assert_eq!(h.users_max, Some(20));
    assert_eq!(h.version.as_deref(), Some("v1.2.0"));
    let mock = MockOpenWebRx::start(MockConfig {
        serve_status: false,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let src = builder(&mock).build().unwrap();
    let e = src.health().await.unwrap_err();
    assert_refused(&e, "openwebrx");
}

#[tokio::test]
async fn tls_receiver_behind_a_reverse_proxy() {
    let cfg = MockConfig::default();
    let mock = MockOpenWebRx::start_tls(cfg.clone()).await.unwrap();
    assert!(mock.url().starts_with("https://localhost:"), "{}", mock.url());
    let src = builder(&mock)
        .with_root_certificates_pem(TEST_CA_PEM)
        .with_allow_profile_switch(true)
        .build()
        .unwrap();
    assert_eq!(src.websocket_url().scheme(), "wss");
    // Same samples as in plain text, value for value.
    let c = capture(&src, &req(145.1e6, 0.25)).await.unwrap();
    assert!(c.error.is_none(), "{:?}", c.error);
    let expect: Vec<f32> = signal(&cfg, 3000).iter().map(|s| f32::from(*s) / 32768.0).collect();
    assert_eq!(c.samples, expect);
    assert_eq!(
        json_messages(&mock, 0)[0],
        "SERVER DE CLIENT client=heimdall type=receiver"
    );
    // A profile switch reads /status.json over https too.
    let c = capture(&src, &req(433.6e6, 0.1)).await.unwrap();
    assert!(c.error.is_none(), "{:?}", c.error);
    assert_eq!(c.info.extra["profile"], Value::from("rtl|70cm"));
    assert!(mock.http_requests().iter().any(|r| r.starts_with("GET /status.json")));
    let h = src.health().await.unwrap();
    assert!(h.available);
    assert_eq!(h.users_max, Some(20));
}

#[tokio::test]
async fn tls_untrusted_certificate_is_refused_and_not_retried() {
    let mock = MockOpenWebRx::start_tls(MockConfig::default()).await.unwrap();
    // Mozilla roots only, then an unrelated private CA: neither trusts the test CA.
    for src in [
        builder(&mock).build().unwrap(),
        builder(&mock).with_root_certificates_pem(OTHER_CA_PEM).build().unwrap(),
    ] {
        let e = capture(&src, &req(145.1e6, 0.1)).await.unwrap_err();
        assert_refused(&e, "openwebrx");
        assert!(!e.is_retryable());
        let msg = e.to_string();
        assert!(
            msg.contains("TLS handshake failed") && msg.contains("UnknownIssuer") && msg.contains("ca_file"),
            "{msg}"
        );
    }
    // Nothing reached the receiver behind the proxy.
    assert!(mock.connections().is_empty());
    assert!(mock.http_requests().is_empty());
}

#[test]
fn tls_bad_root_certificate_is_a_config_error() {
    let url = "https://sdr.example.org/";
    for pem in [
        &b"not a certificate"[..],
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ] {
        let e = OpenWebRxBuilder::new(info(url))
            .with_root_certificates_pem(pem)
            .build()
            .unwrap_err();
        assert!(matches!(e, Error::Config { .. }), "{e:?}");
        assert!(e.to_string().contains("mock-owrx"), "{e}");
    }
}

#[test]
fn builder_validates_without_io() {
    let i = info("http://127.0.0.1:9/");
    assert!(OpenWebRxBuilder::new(i.clone()).with_mode("USB").build().is_err());
    assert!(OpenWebRxBuilder::new(i.clone()).with_output_rate(0).build().is_err());
    assert!(
        OpenWebRxBuilder::new(i.clone())
            .with_passband(heimdall_core::Passband {
                low_hz: 10.0,
                high_hz: -10.0
            })
            .build()
            .is_err()
    );
    assert!(OpenWebRxBuilder::new(info("ftp://x/")).build().is_err());
    assert_eq!(
        OpenWebRxBuilder::new(info("https://x/"))
            .build()
            .unwrap()
            .websocket_url()
            .as_str(),
        "wss://x/ws/"
    );
    let e = OpenWebRxBuilder::new(info("not a url")).build().unwrap_err();
    assert!(matches!(e, Error::Config { .. }), "{e:?}");
    assert!(e.to_string().contains("mock-owrx"), "{e}");
    let s = OpenWebRxBuilder::new(i).build().unwrap();
    assert_eq!(s.to_string(), "openwebrx mock-owrx (ws://127.0.0.1:9/ws/)");
}

#[tokio::test(flavor = "multi_thread")]
async fn conformance_kit() {
    let mock = MockOpenWebRx::start(MockConfig {
        audio: MockAudio::Adpcm,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let src: Arc<dyn ReceiverSource> = Arc::new(builder(&mock).build().unwrap());
    heimdall_core::testkit::source_conformance(src, &req(145.0e6, 0.5)).await;
    let boxed: Box<dyn ReceiverSource> = Box::new(builder(&mock).build().unwrap());
    heimdall_core::testkit::source_conformance(Arc::new(boxed), &req(145.0e6, 0.25)).await;
}

/// Random frames injected into a live session never panic the client: the capture either
/// completes with exactly the expected samples or ends with a typed error.
#[tokio::test]
async fn random_frames_never_panic() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::SmallRng::seed_from_u64(0x0eb1);
    for round in 0..24 {
        let mut faults = Vec::new();
        for k in 0..4u64 {
            let len = rng.random_range(0..300);
            let mut frame: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            if let Some(first) = frame.first_mut()
                && rng.random_bool(0.7)
            {
                *first = rng.random_range(1..=4);
            }
            let fault = if rng.random_bool(0.8) {
                MockFault::RawBinary(frame)
            } else {
                MockFault::GarbageText(String::from_utf8_lossy(&frame).into_owned())
            };
            faults.push((600 * (k + 1), fault));
        }
        let audio = if round % 2 == 0 {
            MockAudio::Int16
        } else {
            MockAudio::Adpcm
        };
        let mock = MockOpenWebRx::start(MockConfig {
            audio,
            fft_adpcm: round % 3 == 0,
            faults,
            ..MockConfig::default()
        })
        .await
        .unwrap();
        let src = builder(&mock).build().unwrap();
        let c = capture(&src, &req(145e6, 0.5)).await.unwrap();
        match c.error {
            None => assert_eq!(c.samples.len(), 6000),
            Some(e) => assert!(
                matches!(e, Error::Malformed { .. } | Error::NotImplemented { .. }),
                "round {round}: {e:?}"
            ),
        }
        assert!(c.samples.iter().all(|x| x.is_finite() && x.abs() <= 1.0));
    }
}
