//! [`NatsQueueBuilder`]: settings of a [`NatsQueue`], and connecting it.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use heimdall_core::redact::{Redacted, redact_url};
use heimdall_core::{Error, Result};

use super::error::unavailable;
use super::queue::{Names, NatsQueue};

/// Builds a [`NatsQueue`]: cheap, no I/O until [`NatsQueueBuilder::connect`].
///
/// | setting | default | meaning |
/// |---|---|---|
/// | `url` | — | `nats://host:port` (user and password in the URL are used and never printed) |
/// | [`namespace`](Self::namespace) | `heimdall` | subject prefix; the stream is `{NS}_JOBS` |
/// | [`ack_wait`](Self::ack_wait) | 30 s | a job not acknowledged or heartbeaten for this long goes to another worker |
/// | [`max_deliver`](Self::max_deliver) | 5 | deliveries of one job before it is given up |
/// | [`duplicate_window`](Self::duplicate_window) | 1 h | a session submitted again within it is dropped |
/// | [`connect_timeout`](Self::connect_timeout) | 5 s | |
#[derive(Debug, Clone)]
pub struct NatsQueueBuilder {
    url: String,
    namespace: String,
    ack_wait: Duration,
    max_deliver: u64,
    duplicate_window: Duration,
    connect_timeout: Duration,
}

impl NatsQueueBuilder {
    /// A queue on the server at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        NatsQueueBuilder {
            url: url.into(),
            namespace: "heimdall".into(),
            ack_wait: Duration::from_secs(30),
            max_deliver: 5,
            duplicate_window: Duration::from_secs(3600),
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// Subject prefix (letters, digits, `-`, `_`); separate queues on one server use different ones.
    pub fn namespace(mut self, ns: impl Into<String>) -> Self {
        self.namespace = ns.into();
        self
    }

    /// How long a delivery may go without ack or heartbeat before it is redelivered.
    pub fn ack_wait(mut self, d: Duration) -> Self {
        self.ack_wait = d;
        self
    }

    /// Deliveries of one job before it is given up (at least 1).
    pub fn max_deliver(mut self, n: u64) -> Self {
        self.max_deliver = n;
        self
    }

    /// Window within which a second submission of one session is dropped.
    pub fn duplicate_window(mut self, d: Duration) -> Self {
        self.duplicate_window = d;
        self
    }

    /// Connection timeout.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    fn validate(&self) -> Result<Names> {
        let ns = &self.namespace;
        if ns.is_empty()
            || !ns
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        {
            return Err(Error::invalid(
                "namespace",
                format!("{ns:?} must be letters, digits, '-' or '_'"),
            ));
        }
        if self.ack_wait < Duration::from_secs(1) {
            return Err(Error::invalid("ack_wait", "must be at least 1 s"));
        }
        if self.max_deliver == 0 || self.max_deliver > 1000 {
            return Err(Error::invalid("max_deliver", "must be between 1 and 1000"));
        }
        let url = url::Url::parse(&self.url)
            .map_err(|e| Error::config(format!("NATS URL {:?} is not a URL: {e}", Redacted(&self.url))))?;
        if !matches!(url.scheme(), "nats" | "tls" | "tcp") {
            return Err(Error::config(format!(
                "NATS URL {} must start with nats://, tls:// or tcp://",
                redact_url(&self.url)
            )));
        }
        Ok(Names::new(ns, redact_url(&self.url)))
    }

    /// Connects, and creates the stream, the consumer and the key-value bucket if missing.
    pub async fn connect(self) -> Result<NatsQueue> {
        let names = self.validate()?;
        let target = names.target.clone();
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(self.connect_timeout)
            .name("heimdall")
            .connect(self.url.as_str())
            .await
            .map_err(|e| unavailable(&target, "connect", e))?;
        let js = jetstream::new(client.clone());
        let jobs = js
            .get_or_create_stream(stream::Config {
                name: names.stream.clone(),
                subjects: vec![format!("{}.>", names.jobs_prefix)],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: stream::StorageType::File,
                duplicate_window: self.duplicate_window,
                ..Default::default()
            })
            .await
            .map_err(|e| unavailable(&target, "create the jobs stream", e))?;
        let consumer_config = consumer::pull::Config {
            durable_name: Some(names.consumer.clone()),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: self.ack_wait,
            max_deliver: self.max_deliver as i64,
            filter_subject: format!("{}.>", names.jobs_prefix),
            ..Default::default()
        };
        let workers: consumer::PullConsumer = match jobs.get_consumer(&names.consumer).await {
            Ok(c) => c,
            Err(_) => jobs
                .create_consumer(consumer_config)
                .await
                .map_err(|e| unavailable(&target, "create the workers consumer", e))?,
        };
        // Cancellation marks: one message per cancelled session, kept a week (a plain stream:
        // what a key-value bucket is, without the 2.10+ settings a 2.9 server refuses).
        let cancelled = js
            .get_or_create_stream(stream::Config {
                name: names.cancelled_stream.clone(),
                subjects: vec![format!("{}.>", names.cancelled_prefix)],
                retention: stream::RetentionPolicy::Limits,
                storage: stream::StorageType::File,
                max_age: Duration::from_secs(7 * 24 * 3600),
                max_messages_per_subject: 1,
                ..Default::default()
            })
            .await
            .map_err(|e| unavailable(&target, "create the cancellation stream", e))?;
        let info = workers.cached_info();
        let (ack_wait, max_deliver) = (info.config.ack_wait, info.config.max_deliver.max(1) as u64);
        if ack_wait != self.ack_wait || max_deliver != self.max_deliver {
            tracing::warn!(
                consumer = %names.consumer,
                ?ack_wait,
                max_deliver,
                "the workers consumer exists with other settings; using them"
            );
        }
        Ok(NatsQueue::new(
            client,
            js,
            jobs,
            workers,
            cancelled,
            names,
            ack_wait,
            max_deliver,
        ))
    }
}
