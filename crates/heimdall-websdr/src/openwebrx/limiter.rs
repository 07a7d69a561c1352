//! Per-host connection spacing ("politeness").
//!
//! OpenWebRX+ bans an IP for 12 hours when its robot score reaches 30; every socket already
//! open from the same IP adds `max(0, 10 − seconds since it connected)` (OpenWebRX+'s `owrx/websocket.py` robot check). A
//! [`HostLimiter`] spaces connection attempts to one host by at least its interval, so that a
//! process never opens two sockets to one server within that interval.
//!
//! There is no process-global limiter: share one `Arc<HostLimiter>` between every source that may
//! reach the same host (the receivers file does this for all its OpenWebRX entries).

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Default spacing between two connections to one host: 10 s, the OpenWebRX+ robot-score window.
pub const DEFAULT_POLITENESS_INTERVAL: Duration = Duration::from_secs(10);

/// Spaces connection attempts per host by at least a fixed interval.
///
/// Keyed by host name or IP as written in the URL (lower-cased), not by port: servers on
/// different ports of one machine share the client's robot score there.
///
/// ```
/// # tokio_test_block_on(async {
/// use std::time::Duration;
/// use heimdall_websdr::openwebrx::HostLimiter;
/// let limiter = HostLimiter::new(Duration::from_millis(50));
/// let token = tokio_util::sync::CancellationToken::new();
/// assert!(limiter.acquire("sdr.example", &token).await);
/// let t = std::time::Instant::now();
/// assert!(limiter.acquire("sdr.example", &token).await);
/// assert!(t.elapsed() >= Duration::from_millis(45));
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug)]
pub struct HostLimiter {
    interval: Duration,
    next_slot: Mutex<HashMap<String, Instant>>,
}

impl Default for HostLimiter {
    fn default() -> Self {
        Self::new(DEFAULT_POLITENESS_INTERVAL)
    }
}

impl HostLimiter {
    /// A limiter spacing connections to one host by `interval`.
    pub fn new(interval: Duration) -> Self {
        HostLimiter {
            interval,
            next_slot: Mutex::new(HashMap::new()),
        }
    }

    /// The spacing.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Waits for this host's next free slot and takes it. Returns `false` if `cancel` fires
    /// first (the slot stays reserved, which only errs on the polite side).
    ///
    /// Slots are reserved in call order: two concurrent callers for one host get slots one
    /// interval apart.
    pub async fn acquire(&self, host: &str, cancel: &CancellationToken) -> bool {
        let key = host.to_ascii_lowercase();
        let slot = {
            let mut map = self.next_slot.lock().await;
            let now = Instant::now();
            let slot = map.get(&key).copied().filter(|t| *t > now).unwrap_or(now);
            map.insert(key.clone(), slot + self.interval);
            slot
        };
        if slot <= Instant::now() {
            return true;
        }
        tracing::debug!(host = %key, wait_ms = (slot - Instant::now()).as_millis() as u64, "politeness wait");
        tokio::select! {
            _ = tokio::time::sleep_until(slot) => true,
            _ = cancel.cancelled() => false,
        }
    }
}
