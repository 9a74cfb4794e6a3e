//! Retry policy: exponential backoff with jitter, for failures before any answer byte arrived
//! (pure: the caller sleeps).

use std::time::Duration;

use super::error::TransportError;

#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    /// Retries after the first attempt (0 = try once).
    pub max_retries: u32,
    pub initial: Duration,
    pub max: Duration,
    pub multiplier: f64,
    /// Fraction of each delay that is randomized (0 = none, 0.5 = delay × [0.5, 1.0]).
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { max_retries: 3, initial: Duration::from_millis(200), max: Duration::from_secs(5), multiplier: 2.0, jitter: 0.5 }
    }
}

impl Backoff {
    /// Delay before retry number `retry` (1-based), or None when no retries are left.
    /// `unit` is a number in [0, 1) for the jitter.
    pub fn delay(&self, retry: u32, unit: f64) -> Option<Duration> {
        if retry == 0 || retry > self.max_retries {
            return None;
        }
        let exp = self.multiplier.max(1.0).powi(retry.saturating_sub(1).min(63) as i32);
        let base = (self.initial.as_secs_f64() * exp).min(self.max.as_secs_f64());
        let j = self.jitter.clamp(0.0, 1.0);
        let secs = base * (1.0 - j * unit.clamp(0.0, 1.0));
        Some(Duration::from_secs_f64(secs.max(0.0)))
    }

    /// The delay the server asked for (`Retry-After`) wins when it is longer, capped by `max`.
    pub fn delay_with_hint(&self, retry: u32, unit: f64, retry_after_s: Option<u64>) -> Option<Duration> {
        let d = self.delay(retry, unit)?;
        Some(match retry_after_s {
            Some(s) => d.max(Duration::from_secs(s).min(self.max)),
            None => d,
        })
    }
}

/// Transport failures worth another attempt: nothing reached the gateway or it never answered.
pub fn transport_retryable(e: &TransportError) -> bool {
    matches!(e, TransportError::Connect(_) | TransportError::Timeout(super::error::TimeoutPhase::Connect))
}

/// HTTP statuses worth another attempt: the gateway is up but its upstream is not (502/503/504),
/// or it asked us to slow down (429).
pub fn status_retryable(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps_and_stops() {
        let b = Backoff { max_retries: 5, initial: Duration::from_millis(100), max: Duration::from_millis(500), multiplier: 2.0, jitter: 0.0 };
        let d: Vec<_> = (1..=6).map(|r| b.delay(r, 0.7).map(|d| d.as_millis())).collect();
        assert_eq!(d, vec![Some(100), Some(200), Some(400), Some(500), Some(500), None]);
        assert_eq!(b.delay(0, 0.0), None);
    }

    #[test]
    fn jitter_shrinks_within_bounds() {
        let b = Backoff { jitter: 0.5, ..Backoff::default() };
        let lo = b.delay(1, 0.999).unwrap();
        let hi = b.delay(1, 0.0).unwrap();
        assert!(lo >= hi / 2 && lo < hi, "{lo:?} {hi:?}");
    }

    #[test]
    fn retry_after_hint_is_honoured_up_to_max() {
        let b = Backoff { jitter: 0.0, max: Duration::from_secs(3), ..Backoff::default() };
        assert_eq!(b.delay_with_hint(1, 0.0, Some(2)), Some(Duration::from_secs(2)));
        assert_eq!(b.delay_with_hint(1, 0.0, Some(60)), Some(Duration::from_secs(3)));
        assert_eq!(b.delay_with_hint(1, 0.0, None), Some(Duration::from_millis(200)));
    }

    #[test]
    fn what_is_retried() {
        assert!(transport_retryable(&TransportError::Connect("refused".into())));
        assert!(!transport_retryable(&TransportError::Io("reset".into())));
        assert!(status_retryable(503) && status_retryable(429));
        assert!(!status_retryable(400) && !status_retryable(401) && !status_retryable(413));
    }
}
