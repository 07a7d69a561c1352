//! HTTP IQ source against the in-process HTTP IQ server.
#![cfg(all(feature = "http_iq", feature = "mock-servers"))]

mod common;

use common::{assert_refused, assert_timeout};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use heimdall_core::{
    CaptureChunk, CaptureRequest, Complex32, Error, ReceiverInfo, ReceiverKind, ReceiverSource, SampleBlock, TimeSource,
};
use heimdall_websdr::http_iq::mock::{HttpIqBehavior, MockHttpIq, MockHttpIqConfig, mock_i16_pair};
use heimdall_websdr::http_iq::{HttpIqBuilder, HttpIqSource};
use heimdall_websdr::mock_tls::{OTHER_CA_PEM, TEST_CA_PEM};
use tokio_util::sync::CancellationToken;

fn info(url: &str) -> ReceiverInfo {
    common::info("http-test", "Mock HTTP IQ", ReceiverKind::HttpIq, url)
}

fn source(mock: &MockHttpIq) -> HttpIqSource {
    HttpIqBuilder::new(info(&mock.url()))
        .with_connect_timeout(Duration::from_secs(1))
        .with_response_timeout(Duration::from_millis(500))
        .with_read_timeout(Duration::from_millis(500))
        .build()
        .unwrap()
}

fn req(secs: f64) -> CaptureRequest {
    common::request(14_200_000.0, Some(48_000.0), secs)
}

fn expect(n: u64) -> Complex32 {
    let (i, q) = mock_i16_pair(n);
    Complex32::new(f32::from(i) / 32768.0, f32::from(q) / 32768.0)
}

async fn capture(src: &HttpIqSource, r: &CaptureRequest) -> Result<(Vec<Complex32>, Vec<CaptureChunk>), Error> {
    let s = src.open(r, CancellationToken::new()).await?;
    let mut chunks = s.chunks;
    let (mut samples, mut other) = (Vec::new(), Vec::new());
    while let Some(c) = chunks.next().await {
        match c? {
            CaptureChunk::Samples(SampleBlock::Complex(v)) => samples.extend(v),
            c => other.push(c),
        }
    }
    Ok((samples, other))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_known_samples_across_split_chunks() {
    for (samples, write_size) in [(None, 1001), (Some(100_000), 4093), (Some(48_000), 1)] {
        let mock = MockHttpIq::start(MockHttpIqConfig {
            samples,
            write_size,
            ..Default::default()
        })
        .await
        .unwrap();
        let src = source(&mock);
        let (got, other) = capture(&src, &req(1.0)).await.unwrap();
        assert_eq!(got.len(), 48_000, "{samples:?}");
        for (j, v) in got.iter().enumerate() {
            assert_eq!(*v, expect(j as u64), "sample {j} ({samples:?}, writes of {write_size})");
        }
        match other.first() {
            Some(CaptureChunk::Time(t)) => assert_eq!((t.sample_index, t.source), (0, TimeSource::Host)),
            o => panic!("{o:?}"),
        }
        assert_eq!(mock.requests()[0].method, "GET");
        assert_eq!(mock.requests()[0].target, "/sdr/iq?tune=14200000&rate=48000");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_receiver_with_a_private_ca() {
    let mock = MockHttpIq::start_tls(MockHttpIqConfig {
        samples: Some(48_000),
        write_size: 4093,
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(mock.url().starts_with("https://localhost:"), "{}", mock.url());
    let trusted = |pem: Option<&[u8]>| {
        let mut b = HttpIqBuilder::new(info(&mock.url())).with_connect_timeout(Duration::from_secs(2));
        if let Some(p) = pem {
            b = b.with_root_certificates_pem(p);
        }
        b.build().unwrap()
    };
    let (got, _) = capture(&trusted(Some(TEST_CA_PEM)), &req(0.5)).await.unwrap();
    assert_eq!(got.len(), 24_000);
    assert!(got.iter().enumerate().all(|(j, v)| *v == expect(j as u64)));
    assert_eq!(mock.requests().len(), 1);
    // Not trusted: refused with the reason, not retried, nothing sent to the server.
    for src in [trusted(None), trusted(Some(OTHER_CA_PEM))] {
        let e = capture(&src, &req(0.1)).await.unwrap_err();
        assert_refused(&e, "http_iq");
        assert!(!e.is_retryable());
        let msg = e.to_string();
        assert!(msg.contains("TLS handshake failed") && msg.contains("ca_file"), "{msg}");
    }
    assert_eq!(mock.requests().len(), 1);
    let bad = HttpIqBuilder::new(info(&mock.url()))
        .with_root_certificates_pem(&b"no certificate here"[..])
        .build()
        .unwrap_err();
    assert!(matches!(bad, Error::Config { .. }), "{bad:?}");
}

async fn open_err(cfg: MockHttpIqConfig) -> Error {
    let mock = MockHttpIq::start(cfg).await.unwrap();
    match capture(&source(&mock), &req(1.0)).await {
        Err(e) => e,
        Ok(_) => panic!("must fail"),
    }
}

fn behave(b: HttpIqBehavior) -> MockHttpIqConfig {
    MockHttpIqConfig {
        behavior: b,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_errors_are_typed() {
    for s in [500, 503, 429] {
        let e = open_err(behave(HttpIqBehavior::Status(s))).await;
        assert!(matches!(e, Error::Unavailable { .. }), "{s}: {e:?}");
        assert!(e.is_retryable());
        assert!(e.to_string().contains(&s.to_string()), "{e}");
        if s != 500 {
            assert_eq!(e.retry_after(), Some(Duration::from_secs(30)));
        }
    }
    for s in [400, 403, 404] {
        let e = open_err(behave(HttpIqBehavior::Status(s))).await;
        assert!(matches!(e, Error::Refused { .. }), "{s}: {e:?}");
        assert!(!e.is_retryable());
    }
    let e = open_err(behave(HttpIqBehavior::Html)).await;
    assert!(matches!(e, Error::Malformed { .. }), "{e:?}");
    let e = open_err(behave(HttpIqBehavior::Stall)).await;
    assert_timeout(&e, "response");
    let e = open_err(behave(HttpIqBehavior::StallAfter(1000))).await;
    assert_timeout(&e, "capture");
    let e = open_err(behave(HttpIqBehavior::DisconnectAfter(1000))).await;
    match &e {
        Error::ConnectionLost { received, .. } => assert_eq!(*received, 1000, "{}", e.chain()),
        other => panic!("{other:?}"),
    }
    let dead = HttpIqBuilder::new(info("http://127.0.0.1:1/")).build().unwrap();
    let e = dead.open(&req(1.0), CancellationToken::new()).await.unwrap_err();
    assert!(matches!(e, Error::Unavailable { .. }), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_head_then_get() {
    let mock = MockHttpIq::start(MockHttpIqConfig::default()).await.unwrap();
    assert!(source(&mock).health().await.unwrap().available);
    assert_eq!(mock.requests().len(), 1);
    assert_eq!(mock.requests()[0].method, "HEAD");

    let mock = MockHttpIq::start(MockHttpIqConfig {
        head_status: 405,
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(source(&mock).health().await.unwrap().available);
    let methods: Vec<String> = mock.requests().into_iter().map(|r| r.method).collect();
    assert_eq!(methods, ["HEAD", "GET"]);

    let mock = MockHttpIq::start(MockHttpIqConfig {
        head_status: 503,
        get_status: 503,
        ..Default::default()
    })
    .await
    .unwrap();
    let h = source(&mock).health().await.unwrap();
    assert!(!h.available);
    assert_eq!(h.detail, "HEAD 503; GET 503");
    assert!(
        HttpIqBuilder::new(info("http://127.0.0.1:1"))
            .build()
            .unwrap()
            .health()
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_builder() {
    let mock = MockHttpIq::start(MockHttpIqConfig::default()).await.unwrap();
    common::assert_cancel_ends_stream(&source(&mock), &req(3600.0), 1).await;
    assert!(HttpIqBuilder::new(info("ftp://h/")).build().is_err());
    assert!(
        HttpIqBuilder::new(info("http://h/"))
            .with_sample_rate(0.0)
            .build()
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_kit() {
    let mock = MockHttpIq::start(MockHttpIqConfig::default()).await.unwrap();
    let src: Arc<dyn ReceiverSource> = Arc::new(source(&mock));
    heimdall_core::testkit::source_conformance(src, &req(0.5)).await;
}
