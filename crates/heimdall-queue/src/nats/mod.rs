//! A [`WorkQueue`](heimdall_core::queue::WorkQueue) on NATS JetStream.
//!
//! Under a namespace `ns` (default `heimdall`):
//!
//! | what | where |
//! |---|---|
//! | jobs | stream `{NS}_JOBS` (work-queue retention, file storage) on subjects `{ns}.jobs.{session}`, one message per session, `Nats-Msg-Id` = session id so a second submission within the duplicate window is dropped by the server |
//! | workers | one durable pull consumer `workers` (explicit acks, `ack_wait`, `max_deliver`): any number of workers pull from it, one job at a time each |
//! | heartbeats | `+WPI` (`AckKind::Progress`) every `ack_wait / 3` while a session runs |
//! | requeue | `-NAK {"delay": ns}`; give up: `+TERM` |
//! | events of a session | core subject `{ns}.events.{session}` (JSON [`JobEvent`](heimdall_core::queue::JobEvent)s), so any API process can follow any session |
//! | cancellation | the queued message is purged from the stream (`{ns}.jobs.{session}`), the session is marked in the stream `{NS}_CANCELLED` (one message on `{ns}.cancelled.{session}`, kept a week), and `{ns}.cancel.{session}` tells the worker that holds it |
//!
//! Messages carry requests and ids, never samples (the server's default payload limit is 1 MB).
//! The client reconnects by itself when the server restarts; a job whose ack was lost in the
//! outage is delivered again and finds its session committed (see
//! [`heimdall_core::queue`]).
//!
//! ```no_run
//! # async fn demo() -> heimdall_core::Result<()> {
//! use heimdall_core::queue::{Job, WorkQueue};
//! use heimdall_core::AcquisitionRequest;
//! use heimdall_queue::NatsQueueBuilder;
//! let queue = NatsQueueBuilder::new("nats://127.0.0.1:4222").connect().await?;
//! let job = Job::new(AcquisitionRequest::new(145.5e6, std::time::Duration::from_secs(10)));
//! queue.submit(&job).await?;
//! # Ok(()) }
//! ```

mod builder;
mod delivery;
mod error;
mod queue;

pub use builder::NatsQueueBuilder;
pub use queue::NatsQueue;
