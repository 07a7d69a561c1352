//! Time: where a simulated receiver's time stamps come from, and how fast it delivers.

use std::time::Duration;

#[cfg(doc)]
use heimdall_core::TimeSource;

/// Where a simulated receiver's time stamps come from.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Clock {
    /// GPS-disciplined and ideal: time marks are exact ([`TimeSource::Gps`]) and repeated about
    /// every second.
    Gps,
    /// GPS-disciplined like a real timing receiver: time marks ([`TimeSource::Gps`]) repeated
    /// about every second, each off by an independent Gaussian error of standard deviation
    /// `jitter` (GNSS timing receivers: 10-30 ns RMS; [`Clock::GPS_TYPICAL_JITTER`]). The
    /// samples themselves stay on true time: the error is in the stamps only.
    GpsWithJitter {
        /// Standard deviation of each time mark's error.
        jitter: Duration,
    },
    /// Host clock, NTP-like: only sample 0 is stamped ([`TimeSource::Host`]), off by a Gaussian
    /// offset of standard deviation `jitter` (NTP error plus network latency, typically
    /// 1-10 ms). The offset is drawn from the receiver's seed, so it persists across the
    /// receiver's captures like an NTP offset between corrections.
    Host {
        /// Standard deviation of the time-stamp error.
        jitter: Duration,
    },
    /// Exact simulated time ([`TimeSource::Simulated`]).
    Exact,
}

impl Clock {
    /// A typical GNSS timing receiver's time-mark error (standard deviation): 20 ns, i.e.
    /// about 40 ns at 95 %.
    pub const GPS_TYPICAL_JITTER: Duration = Duration::from_nanos(20);

    /// A GPS clock with [`Clock::GPS_TYPICAL_JITTER`].
    pub const fn gps_typical() -> Self {
        Clock::GpsWithJitter {
            jitter: Self::GPS_TYPICAL_JITTER,
        }
    }

    /// Whether its marks are GPS time (and repeat about every second).
    pub fn is_gps(&self) -> bool {
        matches!(self, Clock::Gps | Clock::GpsWithJitter { .. })
    }
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
