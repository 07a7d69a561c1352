//! [`MemoryQueue`]: the in-process work queue (the embedded default).

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::{Notify, broadcast};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{CancelOutcome, Delivery, DeliveryStream, Job, JobEvent, SubmitOutcome, WorkQueue};
use crate::error::Result;
use crate::ids::SessionId;

/// Events kept per session for slow subscribers.
const EVENT_CAPACITY: usize = 1024;

/// An in-process [`WorkQueue`]: jobs live in this process's memory (lost with it), workers are
/// tasks of this process. Same contract as a broker-backed queue: duplicate session ids are
/// suppressed, a delivery dropped without an answer is delivered again at once (its worker
/// task died), nacks come back after their delay, at most [`MemoryQueue::with_max_deliveries`]
/// deliveries per job.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use futures::StreamExt;
/// use heimdall_core::queue::{Job, MemoryQueue, WorkQueue};
/// use heimdall_core::AcquisitionRequest;
/// let q = MemoryQueue::new();
/// let job = Job::new(AcquisitionRequest::new(145.5e6, std::time::Duration::from_secs(1)));
/// assert!(!q.submit(&job).await?.duplicate);
/// assert!(q.submit(&job).await?.duplicate);
/// let mut deliveries = q.deliveries("w1").await?;
/// let d = deliveries.next().await.unwrap()?;
/// assert_eq!(d.job().session_id, job.session_id);
/// d.ack().await?;
/// # Ok::<(), heimdall_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct MemoryQueue {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    ready: Notify,
    max_deliveries: u64,
}

#[derive(Default)]
struct State {
    queued: VecDeque<Entry>,
    delayed: Vec<(Instant, Entry)>,
    in_flight: HashMap<SessionId, CancellationToken>,
    known: HashSet<SessionId>,
    cancelled: HashSet<SessionId>,
    events: HashMap<SessionId, broadcast::Sender<JobEvent>>,
}

#[derive(Debug, Clone)]
struct Entry {
    job: Job,
    deliveries: u64,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl fmt::Debug for MemoryQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = lock(&self.shared.state);
        f.debug_struct("MemoryQueue")
            .field("queued", &st.queued.len())
            .field("delayed", &st.delayed.len())
            .field("in_flight", &st.in_flight.len())
            .finish()
    }
}

impl fmt::Display for MemoryQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("memory queue")
    }
}

impl Default for MemoryQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryQueue {
    /// An empty queue delivering each job at most 5 times.
    pub fn new() -> Self {
        MemoryQueue {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                ready: Notify::new(),
                max_deliveries: 5,
            }),
        }
    }

    /// At most `n` deliveries per job (at least 1). Call before sharing the queue.
    pub fn with_max_deliveries(self, n: u64) -> Self {
        let state = std::mem::take(&mut *lock(&self.shared.state));
        MemoryQueue {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                ready: Notify::new(),
                max_deliveries: n.max(1),
            }),
        }
    }

    /// Jobs waiting (queued or delayed) and running.
    pub fn len(&self) -> (usize, usize) {
        let st = lock(&self.shared.state);
        (st.queued.len() + st.delayed.len(), st.in_flight.len())
    }

    /// Whether nothing is waiting or running.
    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }

    /// The next entry ready now, or how long until one is.
    fn take(&self) -> std::result::Result<(Entry, CancellationToken), Option<Instant>> {
        let mut st = lock(&self.shared.state);
        let now = Instant::now();
        let mut i = 0;
        while i < st.delayed.len() {
            if st.delayed[i].0 <= now {
                let (_, e) = st.delayed.swap_remove(i);
                st.queued.push_back(e);
            } else {
                i += 1;
            }
        }
        match st.queued.pop_front() {
            Some(mut e) => {
                e.deliveries += 1;
                let token = CancellationToken::new();
                if st.cancelled.contains(&e.job.session_id) {
                    token.cancel();
                }
                st.in_flight.insert(e.job.session_id, token.clone());
                Ok((e, token))
            }
            None => Err(st.delayed.iter().map(|(t, _)| *t).min()),
        }
    }

    fn settle(&self, entry: &Entry, requeue: Option<Duration>) {
        let mut st = lock(&self.shared.state);
        st.in_flight.remove(&entry.job.session_id);
        match requeue {
            Some(delay) if entry.deliveries < self.shared.max_deliveries => {
                st.delayed.push((Instant::now() + delay, entry.clone()));
                drop(st);
                self.shared.ready.notify_waiters();
            }
            _ => {}
        }
    }
}

#[async_trait]
impl WorkQueue for MemoryQueue {
    async fn submit(&self, job: &Job) -> Result<SubmitOutcome> {
        let mut st = lock(&self.shared.state);
        if !st.known.insert(job.session_id) {
            return Ok(SubmitOutcome { duplicate: true });
        }
        st.queued.push_back(Entry {
            job: job.clone(),
            deliveries: 0,
        });
        drop(st);
        self.shared.ready.notify_waiters();
        Ok(SubmitOutcome { duplicate: false })
    }

    async fn deliveries(&self, _worker: &str) -> Result<DeliveryStream> {
        let q = self.clone();
        Ok(futures::stream::unfold(q, |q| async move {
            loop {
                let shared = q.shared.clone();
                // Registered before looking, so a submit between the look and the wait wakes it.
                let notified = shared.ready.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                match q.take() {
                    Ok((entry, cancel)) => {
                        let d: Box<dyn Delivery> = Box::new(MemoryDelivery {
                            queue: q.clone(),
                            entry,
                            cancel,
                            settled: Mutex::new(false),
                        });
                        return Some((Ok(d), q));
                    }
                    Err(next) => match next {
                        Some(at) => {
                            tokio::select! {
                                _ = &mut notified => {}
                                _ = tokio::time::sleep_until(at) => {}
                            }
                        }
                        None => notified.await,
                    },
                }
            }
        })
        .boxed())
    }

    async fn cancel(&self, session: SessionId) -> Result<CancelOutcome> {
        let mut st = lock(&self.shared.state);
        st.cancelled.insert(session);
        let before = st.queued.len() + st.delayed.len();
        st.queued.retain(|e| e.job.session_id != session);
        st.delayed.retain(|(_, e)| e.job.session_id != session);
        let removed = st.queued.len() + st.delayed.len() < before;
        if let Some(t) = st.in_flight.get(&session) {
            t.cancel();
        }
        Ok(CancelOutcome { removed })
    }

    async fn publish(&self, session: SessionId, event: &JobEvent) -> Result<()> {
        let mut st = lock(&self.shared.state);
        if let Some(tx) = st.events.get(&session) {
            let _ = tx.send(event.clone());
        }
        if event.is_final() {
            st.events.remove(&session);
        }
        Ok(())
    }

    async fn subscribe(&self, session: SessionId) -> Result<BoxStream<'static, JobEvent>> {
        let rx = lock(&self.shared.state)
            .events
            .entry(session)
            .or_insert_with(|| broadcast::channel(EVENT_CAPACITY).0)
            .subscribe();
        Ok(futures::stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(ev) => return Some((ev, rx)),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(skipped = n, "slow job-event subscriber: oldest events dropped");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .boxed())
    }

    async fn health(&self) -> Result<()> {
        Ok(())
    }
}

/// A delivery of [`MemoryQueue`]; dropped unanswered, its job is delivered again at once.
struct MemoryDelivery {
    queue: MemoryQueue,
    entry: Entry,
    cancel: CancellationToken,
    settled: Mutex<bool>,
}

impl fmt::Debug for MemoryDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryDelivery")
            .field("session", &self.entry.job.session_id)
            .field("delivery", &self.entry.deliveries)
            .finish()
    }
}

impl MemoryDelivery {
    /// Marks the delivery answered; false when it already was.
    fn settle_once(&self) -> bool {
        let mut s = self.settled.lock().unwrap_or_else(|p| p.into_inner());
        !std::mem::replace(&mut *s, true)
    }
}

impl Drop for MemoryDelivery {
    fn drop(&mut self) {
        if self.settle_once() {
            self.queue.settle(&self.entry, Some(Duration::ZERO));
        }
    }
}

#[async_trait]
impl Delivery for MemoryDelivery {
    fn job(&self) -> &Job {
        &self.entry.job
    }
    fn delivery(&self) -> u64 {
        self.entry.deliveries
    }
    fn max_deliveries(&self) -> u64 {
        self.queue.shared.max_deliveries
    }
    fn heartbeat_interval(&self) -> Duration {
        Duration::from_secs(10)
    }
    fn cancelled(&self) -> CancellationToken {
        self.cancel.clone()
    }
    async fn progress(&self) -> Result<()> {
        Ok(())
    }
    async fn ack(&self) -> Result<()> {
        if self.settle_once() {
            self.queue.settle(&self.entry, None);
        }
        Ok(())
    }
    async fn nack(&self, delay: Duration) -> Result<()> {
        if self.settle_once() {
            self.queue.settle(&self.entry, Some(delay));
        }
        Ok(())
    }
    async fn terminate(&self, _reason: &str) -> Result<()> {
        if self.settle_once() {
            self.queue.settle(&self.entry, None);
        }
        Ok(())
    }
}
