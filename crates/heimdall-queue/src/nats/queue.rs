//! [`NatsQueue`]: the [`WorkQueue`] implementation.

use std::fmt;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer::PullConsumer, stream::Stream};
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;

use heimdall_core::queue::{CancelOutcome, Delivery, DeliveryStream, Job, JobEvent, SubmitOutcome, WorkQueue};
use heimdall_core::{Result, SessionId};

use super::delivery::NatsDelivery;
use super::error::{malformed, unavailable};

/// How long one pull waits for a job before asking again.
const PULL_EXPIRES: Duration = Duration::from_secs(5);

/// The names of everything a queue uses under its namespace.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    pub(crate) namespace: String,
    pub(crate) stream: String,
    pub(crate) consumer: String,
    pub(crate) jobs_prefix: String,
    pub(crate) events_prefix: String,
    pub(crate) cancel_prefix: String,
    pub(crate) cancelled_prefix: String,
    pub(crate) cancelled_stream: String,
    /// The server URL, password masked (for messages).
    pub(crate) target: String,
}

impl Names {
    pub(crate) fn new(ns: &str, target: String) -> Self {
        Names {
            namespace: ns.to_owned(),
            stream: format!("{}_JOBS", ns.to_ascii_uppercase().replace('-', "_")),
            consumer: "workers".into(),
            jobs_prefix: format!("{ns}.jobs"),
            events_prefix: format!("{ns}.events"),
            cancel_prefix: format!("{ns}.cancel"),
            cancelled_prefix: format!("{ns}.cancelled"),
            cancelled_stream: format!("{}_CANCELLED", ns.to_ascii_uppercase().replace('-', "_")),
            target,
        }
    }
}

/// A work queue on NATS JetStream (see the [module docs](super)). Cheap to clone.
#[derive(Clone)]
pub struct NatsQueue {
    pub(crate) client: async_nats::Client,
    js: jetstream::Context,
    jobs: Stream,
    workers: PullConsumer,
    pub(crate) cancelled: Stream,
    pub(crate) names: Names,
    ack_wait: Duration,
    max_deliver: u64,
}

impl fmt::Debug for NatsQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsQueue")
            .field("server", &self.names.target)
            .field("stream", &self.names.stream)
            .field("ack_wait", &self.ack_wait)
            .field("max_deliver", &self.max_deliver)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for NatsQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NATS JetStream {} (stream {})", self.names.target, self.names.stream)
    }
}

impl NatsQueue {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        client: async_nats::Client,
        js: jetstream::Context,
        jobs: Stream,
        workers: PullConsumer,
        cancelled: Stream,
        names: Names,
        ack_wait: Duration,
        max_deliver: u64,
    ) -> Self {
        NatsQueue {
            client,
            js,
            jobs,
            workers,
            cancelled,
            names,
            ack_wait,
            max_deliver,
        }
    }

    /// The NATS connection (for a host that also uses NATS for other things).
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// The subject namespace.
    pub fn namespace(&self) -> &str {
        &self.names.namespace
    }

    /// The acknowledgement wait of the workers' consumer.
    pub fn ack_wait(&self) -> Duration {
        self.ack_wait
    }

    /// Deliveries of one job before it is given up.
    pub fn max_deliver(&self) -> u64 {
        self.max_deliver
    }

    /// Jobs in the stream (queued or delivered and not yet acknowledged).
    pub async fn pending(&self) -> Result<u64> {
        let mut jobs = self.jobs.clone();
        let info = jobs
            .info()
            .await
            .map_err(|e| unavailable(&self.names.target, "read the jobs stream", e))?;
        Ok(info.state.messages)
    }

    fn job_subject(&self, session: SessionId) -> String {
        format!("{}.{session}", self.names.jobs_prefix)
    }

    fn events_subject(&self, session: SessionId) -> String {
        format!("{}.{session}", self.names.events_prefix)
    }

    pub(crate) fn cancelled_subject(&self, session: SessionId) -> String {
        format!("{}.{session}", self.names.cancelled_prefix)
    }

    /// Whether `session` was marked cancelled.
    pub(crate) async fn is_cancelled(&self, session: SessionId) -> bool {
        self.cancelled
            .get_last_raw_message_by_subject(&self.cancelled_subject(session))
            .await
            .is_ok()
    }

    pub(crate) fn cancel_subject(&self, session: SessionId) -> String {
        format!("{}.{session}", self.names.cancel_prefix)
    }

    /// Pulls one job (waiting up to [`PULL_EXPIRES`]); `None` when none came.
    async fn pull_one(&self) -> Result<Option<Box<dyn Delivery>>> {
        let target = &self.names.target;
        let mut batch = self
            .workers
            .batch()
            .max_messages(1)
            .expires(PULL_EXPIRES)
            .messages()
            .await
            .map_err(|e| unavailable(target, "pull a job", e))?;
        while let Some(msg) = batch.next().await {
            let msg = msg.map_err(|e| unavailable(target, "pull a job", e))?;
            let job: Job = match serde_json::from_slice(&msg.payload) {
                Ok(j) => j,
                Err(e) => {
                    // Poison: never deliverable. Terminated so it is not retried forever.
                    let err = malformed(msg.subject.to_string(), format!("not a Heimdall job: {e}"));
                    tracing::error!(error = %err, "terminating a malformed job message");
                    let _ = msg.ack_with(jetstream::AckKind::Term).await;
                    continue;
                }
            };
            let delivered = msg.info().map(|i| i.delivered.max(1) as u64).unwrap_or(1);
            let session = job.session_id;
            let d = NatsDelivery::start(
                &self.client,
                self.names.target.clone(),
                self.cancel_subject(session),
                self.is_cancelled(session).await,
                msg,
                job,
                delivered,
                self.max_deliver,
                self.ack_wait,
            )
            .await;
            return Ok(Some(Box::new(d)));
        }
        Ok(None)
    }
}

/// Longest wait for the server to confirm what was sent (a flush blocks while disconnected).
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

impl NatsQueue {
    /// Flushes what was sent, within [`FLUSH_TIMEOUT`].
    async fn flush(&self, operation: &str) -> Result<()> {
        match tokio::time::timeout(FLUSH_TIMEOUT, self.client.flush()).await {
            Ok(r) => r.map_err(|e| unavailable(&self.names.target, operation, e)),
            Err(_) => Err(unavailable(
                &self.names.target,
                operation,
                format!("no answer from the server within {FLUSH_TIMEOUT:?}"),
            )),
        }
    }
}

#[async_trait]
impl WorkQueue for NatsQueue {
    async fn submit(&self, job: &Job) -> Result<SubmitOutcome> {
        let target = &self.names.target;
        let payload = serde_json::to_vec(job).map_err(|e| malformed("job".into(), e))?;
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", job.session_id.to_string().as_str());
        let ack = self
            .js
            .publish_with_headers(self.job_subject(job.session_id), headers, Bytes::from(payload))
            .await
            .map_err(|e| unavailable(target, "submit a job", e))?
            .await
            .map_err(|e| unavailable(target, "submit a job (acknowledgement)", e))?;
        if !ack.duplicate {
            self.publish(
                job.session_id,
                &JobEvent::Queued {
                    session_id: job.session_id,
                },
            )
            .await?;
        }
        Ok(SubmitOutcome {
            duplicate: ack.duplicate,
        })
    }

    async fn deliveries(&self, _worker: &str) -> Result<DeliveryStream> {
        let q = self.clone();
        Ok(futures::stream::unfold(q, |q| async move {
            loop {
                match q.pull_one().await {
                    Ok(Some(d)) => return Some((Ok(d), q)),
                    Ok(None) => continue,
                    Err(e) => return Some((Err(e), q)),
                }
            }
        })
        .boxed())
    }

    async fn cancel(&self, session: SessionId) -> Result<CancelOutcome> {
        let target = &self.names.target;
        self.js
            .publish(self.cancelled_subject(session), Bytes::from_static(b"cancelled"))
            .await
            .map_err(|e| unavailable(target, "mark the session cancelled", e))?
            .await
            .map_err(|e| unavailable(target, "mark the session cancelled", e))?;
        let purged = self
            .jobs
            .purge()
            .filter(self.job_subject(session))
            .await
            .map_err(|e| unavailable(target, "remove the queued job", e))?;
        self.client
            .publish(self.cancel_subject(session), Bytes::from_static(b"cancel"))
            .await
            .map_err(|e| unavailable(target, "tell the worker", e))?;
        self.flush("tell the worker").await?;
        Ok(CancelOutcome {
            removed: purged.purged > 0,
        })
    }

    async fn publish(&self, session: SessionId, event: &JobEvent) -> Result<()> {
        let payload = serde_json::to_vec(event).map_err(|e| malformed("job event".into(), e))?;
        self.client
            .publish(self.events_subject(session), Bytes::from(payload))
            .await
            .map_err(|e| unavailable(&self.names.target, "publish an event", e))
    }

    async fn subscribe(&self, session: SessionId) -> Result<BoxStream<'static, JobEvent>> {
        // While the client reconnects, a subscription would be registered only later: a
        // caller that relies on it (submit after subscribe) must know now.
        if self.client.connection_state() != async_nats::connection::State::Connected {
            return Err(unavailable(
                &self.names.target,
                "subscribe to events",
                "not connected to the server (reconnecting)",
            ));
        }
        let sub = self
            .client
            .subscribe(self.events_subject(session))
            .await
            .map_err(|e| unavailable(&self.names.target, "subscribe to events", e))?;
        // The subscription is registered once the server has seen it.
        self.flush("subscribe to events").await?;
        Ok(sub
            .filter_map(|m| async move {
                match serde_json::from_slice::<JobEvent>(&m.payload) {
                    Ok(ev) => Some(ev),
                    Err(e) => {
                        tracing::warn!(subject = %m.subject, error = %e, "skipping a malformed job event");
                        None
                    }
                }
            })
            .boxed())
    }

    async fn health(&self) -> Result<()> {
        let mut jobs = self.jobs.clone();
        jobs.info()
            .await
            .map(|_| ())
            .map_err(|e| unavailable(&self.names.target, "read the jobs stream", e))
    }
}
