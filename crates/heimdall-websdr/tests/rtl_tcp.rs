//! rtl_tcp source against the in-process rtl_tcp server.
#![cfg(all(feature = "rtl_tcp", feature = "mock-servers"))]

mod common;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use heimdall_core::{
    CaptureChunk, CaptureRequest, Complex32, Error, ReceiverInfo, ReceiverKind, ReceiverSource, SampleBlock, TimeSource,
};
use heimdall_websdr::rtl_tcp::mock::{MockRtlTcp, MockRtlTcpConfig, RtlBehavior, mock_u8_pair};
use heimdall_websdr::rtl_tcp::protocol::*;
use heimdall_websdr::rtl_tcp::{CHUNK_SAMPLES, RtlTcpBuilder, RtlTcpSource};
use tokio_util::sync::CancellationToken;

fn info(url: &str) -> ReceiverInfo {
    common::info("rtl-test", "Mock dongle", ReceiverKind::RtlTcp, url)
}

fn source(mock: &MockRtlTcp, f: impl FnOnce(RtlTcpBuilder) -> RtlTcpBuilder) -> RtlTcpSource {
    f(RtlTcpBuilder::new(info(&mock.url()))
        .with_settle(Duration::ZERO)
        .with_connect_timeout(Duration::from_secs(2))
        .with_read_timeout(Duration::from_secs(2)))
    .build()
    .unwrap()
}

fn req(rate: f64, secs: f64) -> CaptureRequest {
    common::request(100_000_000.0, Some(rate), secs)
}

fn expect(n: u64) -> Complex32 {
    let (i, q) = mock_u8_pair(n);
    Complex32::new((f32::from(i) - 127.5) / 127.5, (f32::from(q) - 127.5) / 127.5)
}

async fn collect(
    src: &RtlTcpSource,
    r: &CaptureRequest,
) -> Result<(Vec<Complex32>, Vec<CaptureChunk>, Option<Error>), Error> {
    let s = src.open(r, CancellationToken::new()).await?;
    let mut chunks = s.chunks;
    let mut samples = Vec::new();
    let mut other = Vec::new();
    let mut err = None;
    while let Some(c) = chunks.next().await {
        match c {
            Ok(CaptureChunk::Samples(SampleBlock::Complex(v))) => {
                assert!(v.len() <= CHUNK_SAMPLES);
                samples.extend(v)
            }
            Ok(c) => other.push(c),
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    Ok((samples, other, err))
}

async fn wait_closed(mock: &MockRtlTcp, n: usize) {
    common::wait_for(|| mock.closed_connections().len() >= n).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path_commands_and_values() {
    let mock = MockRtlTcp::start(MockRtlTcpConfig::default()).await.unwrap();
    let src = source(&mock, |b| b.with_gain_db(49.6).with_ppm(-3).with_rtl_agc(false));
    let r = req(2_400_000.0, 0.1);
    let s = src.open(&r, CancellationToken::new()).await.unwrap();
    assert_eq!(s.info.sample_rate_hz, 2_400_000.0);
    assert_eq!(s.info.expected_samples, Some(240_000));
    assert_eq!(s.info.extra["tuner"], "R820T");
    drop(s);
    let (samples, other, err) = collect(&src, &r).await.unwrap();
    assert!(err.is_none(), "{err:?}");
    assert_eq!(samples.len(), 240_000);
    for (j, v) in samples.iter().enumerate() {
        assert!(
            (*v - expect(j as u64)).norm() < 1e-6,
            "sample {j}: {v} vs {}",
            expect(j as u64)
        );
    }
    match other.first() {
        Some(CaptureChunk::Time(t)) => assert_eq!((t.sample_index, t.source), (0, TimeSource::Host)),
        o => panic!("{o:?}"),
    }
    wait_closed(&mock, 2).await;
    let cmds: Vec<(u8, u32)> = mock
        .commands()
        .iter()
        .filter(|c| c.conn == 1)
        .map(|c| (c.id, c.param))
        .collect();
    assert_eq!(
        cmds,
        vec![
            (CMD_SET_SAMPLE_RATE, 2_400_000),
            (CMD_SET_FREQ, 100_000_000),
            (CMD_SET_FREQ_CORRECTION, (-3i32) as u32),
            (CMD_SET_GAIN_MODE, 1),
            (CMD_SET_GAIN, 496),
            (CMD_SET_AGC_MODE, 0),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settle_discards_and_odd_writes_split_pairs() {
    let mock = MockRtlTcp::start(MockRtlTcpConfig {
        write_size: 1001,
        ..Default::default()
    })
    .await
    .unwrap();
    let src = source(&mock, |b| b.with_settle(Duration::from_millis(10)));
    let (samples, _, err) = collect(&src, &req(1_024_000.0, 0.05)).await.unwrap();
    assert!(err.is_none());
    assert_eq!(samples.len(), 51_200);
    for (j, v) in samples.iter().enumerate() {
        assert!((*v - expect(10_240 + j as u64)).norm() < 1e-6, "sample {j}");
    }
    wait_closed(&mock, 1).await;
    let cmds = mock.commands();
    assert!(
        cmds.iter().any(|c| c.id == CMD_SET_GAIN_MODE && c.param == 0),
        "auto gain by default: {cmds:?} {}",
        mock.connections()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_errors_and_stalls() {
    for (b, kind) in [
        (RtlBehavior::BadMagic, "malformed"),
        (RtlBehavior::TruncatedHeader, "malformed"),
        (RtlBehavior::StallOnConnect, "timeout"),
        (RtlBehavior::StallAfterHeader, "timeout"),
        (RtlBehavior::DisconnectAfter(100_000), "connection_lost"),
    ] {
        let mock = MockRtlTcp::start(MockRtlTcpConfig {
            behavior: b,
            ..Default::default()
        })
        .await
        .unwrap();
        let src = source(&mock, |b| {
            b.with_connect_timeout(Duration::from_millis(300))
                .with_read_timeout(Duration::from_millis(300))
        });
        let e = match collect(&src, &req(2_048_000.0, 1.0)).await {
            Err(e) => e,
            Ok((_, _, e)) => e.expect("must fail"),
        };
        assert_eq!(e.kind(), kind, "{b:?}: {e:?}");
        if let Error::ConnectionLost { received, .. } = &e {
            assert_eq!(
                *received,
                65_536,
                "one whole chunk delivered before the loss: {}",
                e.chain()
            );
        }
        if b == RtlBehavior::BadMagic {
            assert!(e.to_string().contains("RTL0"), "{e}");
        }
    }
    let dead = RtlTcpBuilder::new(info("127.0.0.1:1")).build().unwrap();
    let e = dead.health().await.unwrap_err();
    assert!(matches!(e, Error::Unavailable { .. }), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_requests_and_builder() {
    let mock = MockRtlTcp::start(MockRtlTcpConfig::default()).await.unwrap();
    let src = source(&mock, |b| b);
    let e = src
        .open(&req(500_000.0, 1.0), CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    assert_eq!(mock.connections(), 0, "no connection for an invalid request");
    assert!(RtlTcpBuilder::new(info("http://h:1")).build().is_err());
    assert!(RtlTcpBuilder::new(info("h")).with_sample_rate(10.0).build().is_err());
    assert!(RtlTcpBuilder::new(info("h")).with_gain_db(f64::NAN).build().is_err());
    assert_eq!(
        RtlTcpBuilder::new(info("h")).build().unwrap().to_string(),
        "rtl_tcp rtl-test (h:1234)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_health() {
    let mock = MockRtlTcp::start(MockRtlTcpConfig {
        rate: Some(1_000_000.0),
        ..Default::default()
    })
    .await
    .unwrap();
    let src = source(&mock, |b| b);
    let h = src.health().await.unwrap();
    assert!(h.available);
    assert!(h.version.unwrap().contains("R820T"));
    common::assert_cancel_ends_stream(&src, &req(1_000_000.0, 3600.0), 1).await;
    wait_closed(&mock, 2).await;
    assert_eq!(mock.closed_connections().len(), 2, "health and capture sockets closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_at_discards_until_the_instant() {
    let mock = MockRtlTcp::start(MockRtlTcpConfig {
        rate: Some(1_024_000.0),
        ..Default::default()
    })
    .await
    .unwrap();
    let src = source(&mock, |b| b);
    let mut r = req(1_024_000.0, 0.05);
    let at = chrono::Utc::now() + chrono::TimeDelta::milliseconds(300);
    r.start_at = Some(at);
    let s = src.open(&r, CancellationToken::new()).await.unwrap();
    let mut chunks = s.chunks;
    let first = chunks.next().await.unwrap().unwrap();
    let CaptureChunk::Time(t) = first else {
        panic!("{first:?}")
    };
    let skew = (t.time - at).num_milliseconds();
    assert!(skew.abs() < 100, "first sample at {} vs start {at} ({skew} ms)", t.time);
    let mut n = 0;
    while let Some(c) = chunks.next().await {
        if let CaptureChunk::Samples(b) = c.unwrap() {
            n += b.len();
        }
    }
    assert_eq!(n, 51_200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_kit() {
    let mock = MockRtlTcp::start(MockRtlTcpConfig::default()).await.unwrap();
    let src: Arc<dyn ReceiverSource> = Arc::new(source(&mock, |b| b));
    heimdall_core::testkit::source_conformance(src, &req(2_048_000.0, 0.2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_endpoints_keep_their_brackets() {
    let s = RtlTcpBuilder::new(info("rtl_tcp://[::1]:1235")).build().unwrap();
    assert_eq!(s.to_string(), "rtl_tcp rtl-test ([::1]:1235)");
}
