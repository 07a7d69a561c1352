//! # heimdall-queue
//!
//! Work-queue backends for [`heimdall_core::queue::WorkQueue`]: today
//! [`nats`], on NATS JetStream. The trait, the in-process queue
//! ([`heimdall_core::queue::MemoryQueue`]) and the [`heimdall_core::queue::Worker`] that runs
//! sessions from any queue live in `heimdall-core`.
#![warn(missing_docs)]

pub mod nats;

pub use nats::{NatsQueue, NatsQueueBuilder};
