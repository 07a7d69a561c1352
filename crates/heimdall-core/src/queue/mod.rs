//! Work queues: the fourth pluggable backend. A request becomes a [`Job`] (its session id
//! decided by the submitter), any number of workers take jobs from a [`WorkQueue`], and the
//! events of each session go out on a channel of its own, so any process can follow a session
//! whichever worker runs it.
//!
//! The contract a queue backend keeps:
//!
//! - **at-least-once delivery**: a job is delivered until a worker acknowledges it
//!   ([`Delivery::ack`]), gives it up ([`Delivery::terminate`]) or it has been delivered
//!   [`Delivery::max_deliveries`] times; a worker that dies (no ack, no heartbeat within the
//!   queue's ack wait) loses its jobs to another worker;
//! - **duplicate submissions suppressed** by session id ([`SubmitOutcome::duplicate`]);
//! - **heartbeats** ([`Delivery::progress`]) keep a long job from being redelivered while its
//!   worker is alive;
//! - **cancellation** ([`WorkQueue::cancel`]) removes a queued job and reaches the worker that
//!   holds a running one ([`Delivery::cancelled`]).
//!
//! Exactly-once *sessions* come from the sink, not from the queue: a redelivered job runs a new
//! attempt, which fails fast when the session is already committed
//! ([`crate::IqSink::begin_session`]); the [`Worker`] then finishes the committed session's rows
//! and record from its manifest ([`crate::engine::record_committed`]) and acknowledges.
//!
//! [`MemoryQueue`] is the in-process queue (the embedded default); `heimdall-queue` has the
//! NATS JetStream one.

mod memory;
mod worker;

use std::fmt::{Debug, Display};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::engine::EngineEvent;
use crate::error::{ErrorReport, Result};
use crate::ids::SessionId;
use crate::report::SessionReport;
use crate::request::AcquisitionRequest;

pub use memory::MemoryQueue;
pub use worker::{JobOutcome, Worker, WorkerBuilder, WorkerStats};

/// One session to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// The session, decided by the submitter (so a client knows it before any worker runs).
    pub session_id: SessionId,
    /// What to acquire.
    pub request: AcquisitionRequest,
    /// When it was submitted.
    pub submitted_at: DateTime<Utc>,
}

impl Job {
    /// A job for `request` under a new session id, submitted now.
    pub fn new(request: AcquisitionRequest) -> Self {
        Job::with_session(SessionId::new(), request)
    }

    /// A job for `request` under `session_id`, submitted now.
    pub fn with_session(session_id: SessionId, request: AcquisitionRequest) -> Self {
        Job {
            session_id,
            request,
            submitted_at: Utc::now(),
        }
    }
}

/// What [`WorkQueue::submit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitOutcome {
    /// The queue already had a job for this session: nothing was added.
    pub duplicate: bool,
}

/// What [`WorkQueue::cancel`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelOutcome {
    /// The job was still queued and is removed: no worker will run it.
    pub removed: bool,
}

/// What happens to a session, as published on its own event channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum JobEvent {
    /// The job is queued.
    Queued {
        /// Session.
        session_id: SessionId,
    },
    /// A worker started an attempt.
    Started {
        /// Session.
        session_id: SessionId,
        /// The worker's name.
        worker: String,
        /// Delivery number (1 for the first).
        delivery: u64,
    },
    /// Progress of the engine running the session.
    Engine {
        /// The engine's event.
        event: EngineEvent,
    },
    /// The attempt ended and the job will be delivered again after `after_s` seconds.
    Requeued {
        /// Session.
        session_id: SessionId,
        /// Why.
        reason: String,
        /// Delay before the next delivery, seconds.
        after_s: f64,
    },
    /// The session is over: its final report (also in the database).
    Finished {
        /// The report.
        report: Box<SessionReport>,
    },
    /// The job was given up (poison or out of deliveries); the reason is also recorded in the
    /// session record.
    Terminated {
        /// Session.
        session_id: SessionId,
        /// Why.
        error: ErrorReport,
    },
}

impl JobEvent {
    /// Whether this is the last event of the session.
    pub fn is_final(&self) -> bool {
        matches!(self, JobEvent::Finished { .. } | JobEvent::Terminated { .. })
    }
}

/// A stream of deliveries for one worker.
pub type DeliveryStream = BoxStream<'static, Result<Box<dyn Delivery>>>;

/// A queue of sessions to run (see the [module docs](self) for the contract).
#[async_trait]
pub trait WorkQueue: Send + Sync + Debug + Display + 'static {
    /// Queues `job`. A second submission of the same session id is suppressed.
    async fn submit(&self, job: &Job) -> Result<SubmitOutcome>;

    /// Deliveries for a worker named `worker`. Each item is pulled when the stream is polled,
    /// so a worker that polls only when it has room never holds jobs it cannot run.
    async fn deliveries(&self, worker: &str) -> Result<DeliveryStream>;

    /// Cancels a session: removes it when queued; a worker running it sees
    /// [`Delivery::cancelled`] fire.
    async fn cancel(&self, session: SessionId) -> Result<CancelOutcome>;

    /// Publishes an event of `session` on its channel.
    async fn publish(&self, session: SessionId, event: &JobEvent) -> Result<()>;

    /// The events of `session` published from now on.
    async fn subscribe(&self, session: SessionId) -> Result<BoxStream<'static, JobEvent>>;

    /// Checks that the queue is reachable.
    async fn health(&self) -> Result<()>;
}

/// A shared, dynamically chosen queue.
pub type DynWorkQueue = dyn WorkQueue;

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<T: WorkQueue + ?Sized> WorkQueue for Arc<T> {
    async fn submit(&self, job: &Job) -> Result<SubmitOutcome> {
        (**self).submit(job).await
    }
    async fn deliveries(&self, worker: &str) -> Result<DeliveryStream> {
        (**self).deliveries(worker).await
    }
    async fn cancel(&self, session: SessionId) -> Result<CancelOutcome> {
        (**self).cancel(session).await
    }
    async fn publish(&self, session: SessionId, event: &JobEvent) -> Result<()> {
        (**self).publish(session, event).await
    }
    async fn subscribe(&self, session: SessionId) -> Result<BoxStream<'static, JobEvent>> {
        (**self).subscribe(session).await
    }
    async fn health(&self) -> Result<()> {
        (**self).health().await
    }
}

/// One job handed to one worker. Exactly one of [`Delivery::ack`], [`Delivery::nack`] or
/// [`Delivery::terminate`] ends it; a delivery dropped without any is redelivered after the
/// queue's ack wait.
#[async_trait]
pub trait Delivery: Send + Sync + Debug {
    /// The job.
    fn job(&self) -> &Job;

    /// How many times this job has been delivered, this one included (1 for the first).
    fn delivery(&self) -> u64;

    /// The most deliveries the queue makes of one job.
    fn max_deliveries(&self) -> u64;

    /// How often [`Delivery::progress`] must be called while the job runs.
    fn heartbeat_interval(&self) -> Duration;

    /// Fires when the session is cancelled while this worker holds it.
    fn cancelled(&self) -> CancellationToken;

    /// Tells the queue the worker is alive and working on it (resets the ack timer).
    async fn progress(&self) -> Result<()>;

    /// Done: the job is removed for good.
    async fn ack(&self) -> Result<()>;

    /// Not done: deliver it again after `delay` (counts as a delivery).
    async fn nack(&self, delay: Duration) -> Result<()>;

    /// Given up (poison or exhausted): never delivered again.
    async fn terminate(&self, reason: &str) -> Result<()>;
}
