//! Retry policy: exponential backoff with jitter, for retryable errors only.

use std::time::Duration;

use rand::Rng;

use crate::error::{Error, Result};

/// How the engine retries [`Error::is_retryable`] failures (fetches and row batches).
///
/// The wait before retry `k` (1-based) is `init_backoff · base^(k−1)`, capped at
/// `max_backoff`; with `jitter` it is drawn uniformly from the upper half of that value
/// (so concurrent retries spread out). It is never shorter than the error's
/// [`Error::retry_after`].
#[derive(Debug, Clone, PartialEq)]
pub struct RetryConfig {
    /// Retries after the first attempt (0 = never retry).
    pub max_retries: u32,
    /// Wait before the first retry.
    pub init_backoff: Duration,
    /// Longest wait between two attempts.
    pub max_backoff: Duration,
    /// Growth factor of the wait (≥ 1).
    pub base: f64,
    /// Whether to randomise waits.
    pub jitter: bool,
}

impl Default for RetryConfig {
    /// 3 retries, 500 ms doubling up to 30 s, with jitter.
    fn default() -> Self {
        RetryConfig {
            max_retries: 3,
            init_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            base: 2.0,
            jitter: true,
        }
    }
}

impl RetryConfig {
    /// Never retry.
    pub fn none() -> Self {
        RetryConfig {
            max_retries: 0,
            ..Default::default()
        }
    }

    /// `max_retries` retries with short fixed-ratio waits (tests and simulations).
    pub fn fast(max_retries: u32) -> Self {
        RetryConfig {
            max_retries,
            init_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(20),
            base: 2.0,
            jitter: false,
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if !self.base.is_finite() || self.base < 1.0 {
            return Err(Error::invalid(
                "retry.base",
                format!("{} must be finite and ≥ 1", self.base),
            ));
        }
        if self.init_backoff > self.max_backoff {
            return Err(Error::invalid(
                "retry.init_backoff",
                format!(
                    "{:?} is longer than max_backoff {:?}",
                    self.init_backoff, self.max_backoff
                ),
            ));
        }
        Ok(())
    }

    /// Whether `error` after `attempts` attempts (1-based) should be retried: it must be
    /// retryable, retries must remain, and a server-requested wait ([`Error::retry_after`])
    /// must not exceed `max_backoff` (a receiver that asks to come back much later is
    /// reported failed rather than holding the session).
    pub fn should_retry(&self, error: &Error, attempts: u32) -> bool {
        error.is_retryable()
            && attempts <= self.max_retries
            && error.retry_after().is_none_or(|a| a <= self.max_backoff)
    }

    /// The wait before retry number `retry` (1-based) after `error`.
    pub fn backoff(&self, retry: u32, error: Option<&Error>) -> Duration {
        let exp = self.base.powi(retry.saturating_sub(1).min(64) as i32);
        let max = self.max_backoff.as_secs_f64();
        let mut secs = (self.init_backoff.as_secs_f64() * exp).min(max);
        if self.jitter && secs > 0.0 {
            secs = rand::rng().random_range(secs / 2.0..=secs);
        }
        let d = Duration::try_from_secs_f64(secs).unwrap_or(self.max_backoff);
        match error.and_then(Error::retry_after) {
            Some(after) => d.max(after),
            None => d,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_honours_retry_after() {
        let r = RetryConfig {
            max_retries: 5,
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
            base: 2.0,
            jitter: false,
        };
        let ms: Vec<u128> = (1..=4).map(|k| r.backoff(k, None).as_millis()).collect();
        assert_eq!(ms, [100, 200, 350, 350]);
        let busy = Error::Unavailable {
            backend: "x",
            target: "y".into(),
            reason: "busy".into(),
            retry_after: Some(Duration::from_secs(2)),
            source: None,
        };
        assert_eq!(r.backoff(1, Some(&busy)), Duration::from_secs(2));
        assert!(!r.should_retry(&busy, 1), "asks for 2 s, more than max_backoff");
        let busy = Error::Unavailable {
            backend: "x",
            target: "y".into(),
            reason: "busy".into(),
            retry_after: Some(Duration::from_millis(300)),
            source: None,
        };
        assert_eq!(r.backoff(1, Some(&busy)), Duration::from_millis(300));
        let j = RetryConfig {
            jitter: true,
            ..r.clone()
        };
        for _ in 0..100 {
            let d = j.backoff(2, None).as_millis();
            assert!((100..=200).contains(&d), "{d}");
        }
        assert!(r.should_retry(&busy, 5));
        assert!(!r.should_retry(&busy, 6));
        assert!(!r.should_retry(&Error::invalid("x", "y"), 1));
        assert!(RetryConfig { base: 0.5, ..r.clone() }.validate().is_err());
        assert!(
            RetryConfig {
                init_backoff: Duration::from_secs(1),
                ..r
            }
            .validate()
            .is_err()
        );
    }
}
