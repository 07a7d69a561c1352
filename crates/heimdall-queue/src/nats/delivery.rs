//! [`NatsDelivery`]: one job message held by one worker.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::jetstream::{AckKind, Message};
use async_trait::async_trait;
use futures::StreamExt;
use tokio_util::sync::{CancellationToken, DropGuard};

use heimdall_core::Result;
use heimdall_core::queue::{Delivery, Job};

use super::error::unavailable;

/// A job message with its acker, its cancellation watch and its settlement flag.
pub(crate) struct NatsDelivery {
    /// The server URL, password masked (for messages).
    target: String,
    msg: Message,
    job: Job,
    delivered: u64,
    max_deliver: u64,
    ack_wait: Duration,
    cancelled: CancellationToken,
    settled: AtomicBool,
    _watch: DropGuard,
}

impl fmt::Debug for NatsDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsDelivery")
            .field("session", &self.job.session_id)
            .field("delivered", &self.delivered)
            .finish_non_exhaustive()
    }
}

impl NatsDelivery {
    /// Wraps a message and starts watching for the session's cancellation: a message on
    /// `cancel_subject`, or `already_cancelled` (a mark made before this delivery).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn start(
        client: &async_nats::Client,
        target: String,
        cancel_subject: String,
        already_cancelled: bool,
        msg: Message,
        job: Job,
        delivered: u64,
        max_deliver: u64,
        ack_wait: Duration,
    ) -> Self {
        let cancelled = CancellationToken::new();
        let stop = CancellationToken::new();
        let session = job.session_id;
        match client.subscribe(cancel_subject).await {
            Ok(mut sub) => {
                let (cancelled, stop) = (cancelled.clone(), stop.clone());
                tokio::spawn(async move {
                    tokio::select! {
                        _ = stop.cancelled() => {}
                        m = sub.next() => if m.is_some() { cancelled.cancel() },
                    }
                });
            }
            Err(e) => tracing::warn!(error = %e, %session, "cannot watch for cancellation"),
        }
        if already_cancelled {
            cancelled.cancel();
        }
        NatsDelivery {
            target,
            msg,
            job,
            delivered,
            max_deliver,
            ack_wait,
            cancelled,
            settled: AtomicBool::new(false),
            _watch: stop.drop_guard(),
        }
    }

    async fn settle(&self, kind: AckKind, what: &'static str) -> Result<()> {
        if self.settled.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let target = &self.target;
        match kind {
            // An acknowledgement the server confirms: once it returns, no redelivery.
            AckKind::Ack => self.msg.double_ack().await,
            other => self.msg.ack_with(other).await,
        }
        .map_err(|e| unavailable(target, what, e))
    }
}

#[async_trait]
impl Delivery for NatsDelivery {
    fn job(&self) -> &Job {
        &self.job
    }
    fn delivery(&self) -> u64 {
        self.delivered
    }
    fn max_deliveries(&self) -> u64 {
        self.max_deliver
    }
    fn heartbeat_interval(&self) -> Duration {
        (self.ack_wait / 3).max(Duration::from_millis(300))
    }
    fn cancelled(&self) -> CancellationToken {
        self.cancelled.clone()
    }
    async fn progress(&self) -> Result<()> {
        self.msg
            .ack_with(AckKind::Progress)
            .await
            .map_err(|e| unavailable(&self.target, "heartbeat", e))
    }
    async fn ack(&self) -> Result<()> {
        self.settle(AckKind::Ack, "ack").await
    }
    async fn nack(&self, delay: Duration) -> Result<()> {
        self.settle(AckKind::Nak(Some(delay)), "nack").await
    }
    async fn terminate(&self, reason: &str) -> Result<()> {
        tracing::warn!(session = %self.job.session_id, reason, "job terminated");
        self.settle(AckKind::Term, "terminate").await
    }
}
