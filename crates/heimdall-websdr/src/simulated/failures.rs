//! How a simulated receiver misbehaves.

use std::time::Duration;

#[cfg(doc)]
use heimdall_core::Error;

/// How a simulated receiver misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub enum Failure {
    /// Works.
    #[default]
    None,
    /// The first `times` opens fail with a retryable [`Error::Unavailable`] (all channels busy).
    BusyThenOk {
        /// How many opens fail.
        times: u32,
    },
    /// Every open fails with [`Error::Unavailable`].
    Busy,
    /// Every open fails with a permanent [`Error::Refused`] (e.g. IP limit).
    Refused,
    /// Opening takes `delay` (to exercise connect timeouts), then works.
    SlowConnect {
        /// Time to connect.
        delay: Duration,
    },
    /// The connection drops after `seconds` of samples: the stream ends with [`Error::ConnectionLost`].
    DropAfter {
        /// Seconds of samples delivered first.
        seconds: f64,
    },
    /// Connects and sends the time mark, then never sends samples (until cancelled or dropped).
    Stall,
    /// The first samples arrive, then an undecodable frame ([`Error::Malformed`]).
    Garbage,
}
