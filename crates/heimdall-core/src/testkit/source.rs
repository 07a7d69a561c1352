//! The conformance suite of [`ReceiverSource`] backends.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::capture::{CaptureChunk, SampleBlock};
use crate::error::Error;
use crate::request::CaptureRequest;
use crate::source::ReceiverSource;

/// The [`ReceiverSource`] contract for one request: header sanity, a time mark before the
/// first samples, exactly `expected_samples` samples of the announced format, and prompt
/// cancellation. `req` should be short (a second or less).
pub async fn source_conformance(source: Arc<dyn ReceiverSource>, req: &CaptureRequest) {
    let stream = source.open(req, CancellationToken::new()).await.expect("open");
    let info = stream.info.clone();
    assert_eq!(
        &info.receiver,
        source.info(),
        "capture header must name the source's receiver"
    );
    assert!(
        info.sample_rate_hz.is_finite() && info.sample_rate_hz > 0.0,
        "bad sample rate {}",
        info.sample_rate_hz
    );
    let expected = info.expected_samples.expect("sources must announce expected_samples");
    let mut chunks = stream.chunks;
    let mut samples = 0u64;
    let mut saw_time = false;
    while let Some(c) = chunks.next().await {
        match c.expect("chunk") {
            CaptureChunk::Samples(b) => {
                assert!(saw_time, "a Time chunk for sample 0 must precede the first samples");
                assert_eq!(b.format(), info.format, "block format must match the header");
                match &b {
                    SampleBlock::Complex(v) => assert!(v.iter().all(|x| x.re.is_finite() && x.im.is_finite())),
                    SampleBlock::Real(v) => assert!(v.iter().all(|x| x.is_finite())),
                }
                samples += b.len() as u64;
            }
            CaptureChunk::Time(t) => {
                if !saw_time {
                    assert_eq!(t.sample_index, 0, "the first Time chunk must be for sample 0");
                }
                saw_time = true;
            }
            _ => {}
        }
    }
    assert_eq!(samples, expected, "source must deliver exactly expected_samples");

    // Cancellation: the stream ends promptly with Cancelled (or simply ends).
    let token = CancellationToken::new();
    let mut long = req.clone();
    long.duration = Duration::from_secs(3600);
    if let Ok(stream) = source.open(&long, token.clone()).await {
        let mut chunks = stream.chunks;
        let _ = tokio::time::timeout(Duration::from_secs(5), chunks.next()).await;
        token.cancel();
        let end = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(c) = chunks.next().await {
                if let Err(e) = c {
                    return Some(e);
                }
            }
            None
        })
        .await
        .expect("stream must end within 5 s of cancellation");
        if let Some(e) = end {
            assert!(
                matches!(e, Error::Cancelled { .. }),
                "cancelled stream must end with Cancelled, got {e:?}"
            );
        }
    }
    source.health().await.expect("health of a working source");
}
