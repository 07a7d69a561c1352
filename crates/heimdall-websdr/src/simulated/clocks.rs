//! Time: where a simulated receiver's time stamps come from, and how fast it delivers.

use std::time::Duration;

#[cfg(doc)]
use heimdall_core::TimeSource;

/// Where a simulated receiver's time stamps come from.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Clock {
    /// GPS-disciplined: time marks are exact ([`TimeSource::Gps`]) and repeated about every second.
    Gps,
    /// Host clock: the time mark of sample 0 is off by a Gaussian error of standard deviation
    /// `jitter` (NTP error plus network latency; [`TimeSource::Host`]).
    Host {
        /// Standard deviation of the time-stamp error.
        jitter: Duration,
    },
    /// Exact simulated time ([`TimeSource::Simulated`]).
    Exact,
}

/// How fast samples are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Pacing {
    /// As fast as the consumer takes them.
    #[default]
    AsFastAsPossible,
    /// Like a live receiver: each chunk is delivered when its last sample has been "received"
    /// (so a capture starting at `start_at` lasts until `start_at + duration`).
    RealTime,
}
