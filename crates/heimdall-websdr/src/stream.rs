//! The one way a backend hands its chunks to the caller: a pull-style reader turned into a
//! [`CaptureStream`](heimdall_core::CaptureStream)'s boxed stream.
//!
//! Readers that own their connection (rtl_tcp, HTTP IQ, OpenWebRX) implement [`PullChunks`]
//! directly: nothing runs in the background, and dropping the stream closes the connection.
//! Backends that produce on a task of their own (KiwiSDR's session with its keepalive timer,
//! the simulator's generator) read the task's bounded channel through [`ChannelChunks`], which
//! ends promptly with `Cancelled` once the capture's token fires; the producer stops when its
//! sends fail.

use futures::StreamExt;
use futures::stream::BoxStream;
use heimdall_core::{CaptureChunk, Result};

/// A capture read one item at a time.
pub(crate) trait PullChunks: Send + 'static {
    /// The next item, or `None` once the capture is over.
    fn next_chunk(&mut self) -> impl Future<Output = Option<Result<CaptureChunk>>> + Send;
}

/// The chunks of `reader`, in order, until it returns `None`.
pub(crate) fn pull_stream(reader: impl PullChunks) -> BoxStream<'static, Result<CaptureChunk>> {
    futures::stream::unfold(reader, |mut r| async move { r.next_chunk().await.map(|c| (c, r)) }).boxed()
}

/// The body of `next` for a reader that owns its connection: `None` once `ended`; once the
/// capture's token fires, `cancelled` (then the end); else the chunk held back in `pending`,
/// or what `read` returns next, an error ending the capture. `$self` has the fields `done`,
/// `pending`, `cancel` and `target`, and its errors an `into_core(&target)`.
#[cfg(any(feature = "http_iq", feature = "rtl_tcp"))]
macro_rules! pull_next {
    ($self:ident, ended: $ended:expr, cancelled: $cancelled:expr, read: $read:ident) => {{
        if $ended {
            return None;
        }
        if $self.cancel.is_cancelled() {
            $self.done = true;
            $self.pending = None;
            return Some(Err($cancelled.into_core(&$self.target)));
        }
        if let Some(c) = $self.pending.take() {
            return Some(Ok(c));
        }
        match $self.$read().await {
            Ok(c) => Some(Ok(c)),
            Err(e) => {
                $self.done = true;
                Some(Err(e.into_core(&$self.target)))
            }
        }
    }};
}
#[cfg(any(feature = "http_iq", feature = "rtl_tcp"))]
pub(crate) use pull_next;

#[cfg(any(feature = "kiwisdr", feature = "simulated"))]
pub(crate) use channel::ChannelChunks;

#[cfg(any(feature = "kiwisdr", feature = "simulated"))]
mod channel {
    use heimdall_core::{CaptureChunk, Error, Result};
    use tokio::sync::mpsc;
    use tokio_util::sync::CancellationToken;

    use super::PullChunks;

    /// The consumer side of a producer task's bounded channel: items in order, ending after the
    /// first error, or with `cancelled` as soon as `cancel` fires.
    pub(crate) struct ChannelChunks {
        rx: mpsc::Receiver<Result<CaptureChunk>>,
        cancel: CancellationToken,
        cancelled: Option<Error>,
        done: bool,
    }

    impl ChannelChunks {
        /// Reads `rx` until it closes, an error arrives or `cancel` fires (then yields `cancelled`).
        pub(crate) fn new(
            rx: mpsc::Receiver<Result<CaptureChunk>>,
            cancel: CancellationToken,
            cancelled: Error,
        ) -> Self {
            ChannelChunks {
                rx,
                cancel,
                cancelled: Some(cancelled),
                done: false,
            }
        }
    }

    impl PullChunks for ChannelChunks {
        async fn next_chunk(&mut self) -> Option<Result<CaptureChunk>> {
            if self.done {
                return None;
            }
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => {
                    self.done = true;
                    self.cancelled.take().map(Err)
                }
                item = self.rx.recv() => {
                    self.done = item.as_ref().is_none_or(|it| it.is_err());
                    item
                }
            }
        }
    }
}

#[cfg(all(test, any(feature = "kiwisdr", feature = "simulated")))]
mod tests {
    use heimdall_core::Error;
    use tokio::sync::mpsc;
    use tokio_util::sync::CancellationToken;

    use super::*;

    #[tokio::test]
    async fn channel_chunks_end_after_an_error_or_on_cancel() {
        let cancelled = || Error::Cancelled { what: "test".into() };
        let (tx, rx) = mpsc::channel(4);
        tx.send(Ok(CaptureChunk::Samples(heimdall_core::SampleBlock::Real(vec![0.0]))))
            .await
            .unwrap();
        tx.send(Err(Error::config("boom"))).await.unwrap();
        tx.send(Ok(CaptureChunk::Samples(heimdall_core::SampleBlock::Real(vec![1.0]))))
            .await
            .unwrap();
        let items: Vec<_> = pull_stream(ChannelChunks::new(rx, CancellationToken::new(), cancelled()))
            .collect()
            .await;
        assert_eq!(items.len(), 2);
        assert!(items[1].is_err());

        let (tx, rx) = mpsc::channel::<Result<CaptureChunk>>(4);
        let token = CancellationToken::new();
        let mut s = pull_stream(ChannelChunks::new(rx, token.clone(), cancelled()));
        token.cancel();
        assert!(matches!(s.next().await, Some(Err(Error::Cancelled { .. }))));
        assert!(s.next().await.is_none());
        drop(tx);
    }
}
