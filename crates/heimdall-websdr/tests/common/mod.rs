//! Helpers shared by the backend tests: receiver records, capture requests and error checks.
// Each test binary uses its own subset.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use futures::StreamExt;
use heimdall_core::{CaptureRequest, Error, ReceiverId, ReceiverInfo, ReceiverKind, ReceiverSource, SessionId};
use tokio_util::sync::CancellationToken;

/// A receiver record for a mock server at `url`.
pub fn info(id: &str, name: &str, kind: ReceiverKind, url: &str) -> ReceiverInfo {
    ReceiverInfo::new(ReceiverId::new(id).unwrap(), name, kind, url)
}

/// A capture of `secs` seconds at `frequency_hz`, at `rate` (or the receiver's own rate).
pub fn request(frequency_hz: f64, rate: Option<f64>, secs: f64) -> CaptureRequest {
    CaptureRequest {
        session_id: SessionId::new(),
        frequency_hz,
        duration: Duration::from_secs_f64(secs),
        sample_rate_hz: rate,
        passband: None,
        start_at: None,
    }
}

/// Asserts that `e` is a timeout of `operation`.
pub fn assert_timeout(e: &Error, operation: &str) {
    assert!(
        matches!(e, Error::Timeout { operation: op, .. } if *op == operation),
        "{e:?}"
    );
}

/// Asserts that `backend` refused.
pub fn assert_refused(e: &Error, backend: &str) {
    assert!(matches!(e, Error::Refused { backend: b, .. } if *b == backend), "{e:?}");
}

/// Asserts that `backend` found the data malformed.
pub fn assert_malformed(e: &Error, backend: &str) {
    assert!(
        matches!(e, Error::Malformed { backend: b, .. } if *b == backend),
        "{e:?}"
    );
}

/// Waits until `f` holds, for two seconds at the most (the caller's asserts say what was missing).
pub async fn wait_for(f: impl Fn() -> bool) {
    for _ in 0..100 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Opens `req` on `src`, reads its first `first` chunks, cancels, and checks that the stream
/// then ends with `Cancelled` within a second, and nothing comes after it.
pub async fn assert_cancel_ends_stream(src: &dyn ReceiverSource, req: &CaptureRequest, first: usize) {
    let token = CancellationToken::new();
    let mut chunks = src.open(req, token.clone()).await.unwrap().chunks;
    for _ in 0..first {
        chunks.next().await.unwrap().unwrap();
    }
    token.cancel();
    let end = tokio::time::timeout(Duration::from_secs(1), chunks.next())
        .await
        .unwrap();
    assert!(matches!(end, Some(Err(Error::Cancelled { .. }))), "{end:?}");
    assert!(chunks.next().await.is_none());
}
