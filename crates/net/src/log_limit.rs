//! Rate-limited logging for events a peer can trigger at will (a packet, a dropped datagram, a
//! name change): count every event in a metric, and log at most one summary line per interval.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use skirmish_net::log_limit::LogLimiter;
//!
//! let mut limiter = LogLimiter::new(Duration::from_secs(10));
//! let start = Instant::now();
//! // The first event is logged at once, with nothing suppressed before it.
//! assert_eq!(limiter.record_at(start), Some(0));
//! // The next ones within the interval are only counted...
//! assert_eq!(limiter.record_at(start + Duration::from_secs(1)), None);
//! assert_eq!(limiter.record_at(start + Duration::from_secs(2)), None);
//! // ...and the first one after it is logged with the count of those suppressed.
//! assert_eq!(limiter.record_at(start + Duration::from_secs(10)), Some(2));
//! ```
//!
//! Typical use, where `count` says how many events this call stands for:
//!
//! ```
//! # use std::time::Duration;
//! # use skirmish_net::log_limit::LogLimiter;
//! # let mut limiter = LogLimiter::new(Duration::from_secs(10));
//! # let count = 3;
//! if let Some(suppressed) = limiter.record_many(count) {
//!     bevy::log::warn!("dropped {count} datagrams ({suppressed} more not logged in the last 10 s)");
//! }
//! ```

use std::time::{Duration, Instant};

/// Lets one log line through per interval and counts the events it held back.
///
/// Not tied to a logger: [`record`](Self::record) says whether to log now and how many events
/// were suppressed since the last line; the caller words the line. Use [`flush_at`](Self::flush_at)
/// from a periodic system to report suppressed events even when no new event comes.
#[derive(Debug, Clone)]
pub struct LogLimiter {
    interval: Duration,
    last_line: Option<Instant>,
    suppressed: u64,
}

/// The interval of [`LogLimiter::default`].
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

impl Default for LogLimiter {
    /// One line per [`DEFAULT_INTERVAL`].
    fn default() -> Self {
        Self::new(DEFAULT_INTERVAL)
    }
}

impl LogLimiter {
    /// A limiter letting one line through per `interval`.
    pub const fn new(interval: Duration) -> Self {
        Self {
            interval,
            last_line: None,
            suppressed: 0,
        }
    }

    /// The interval between two lines.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Events held back since the last line.
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }

    /// Records one event now. `Some(suppressed)`: log this event now, mentioning the `suppressed`
    /// events held back before it; `None`: do not log it (it is counted).
    pub fn record(&mut self) -> Option<u64> {
        self.record_at(Instant::now())
    }

    /// Records `count` events now (a counter's increase): as [`record`](Self::record), where a
    /// logged line stands for `count` events and `suppressed` counts only earlier ones.
    pub fn record_many(&mut self, count: u64) -> Option<u64> {
        self.record_many_at(count, Instant::now())
    }

    /// Records one event at `now`; see [`record`](Self::record).
    pub fn record_at(&mut self, now: Instant) -> Option<u64> {
        self.record_many_at(1, now)
    }

    /// Records `count` events at `now`; see [`record_many`](Self::record_many).
    pub fn record_many_at(&mut self, count: u64, now: Instant) -> Option<u64> {
        if count == 0 {
            return None;
        }
        if self.is_due(now) {
            self.last_line = Some(now);
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed = self.suppressed.saturating_add(count);
            None
        }
    }

    /// `Some(suppressed)` when events were held back and a line is due at `now`: log a summary.
    /// Counts as a line, so the next one waits a whole interval.
    pub fn flush_at(&mut self, now: Instant) -> Option<u64> {
        if self.suppressed == 0 || !self.is_due(now) {
            return None;
        }
        self.last_line = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }

    fn is_due(&self, now: Instant) -> bool {
        self.last_line
            .is_none_or(|last| now.saturating_duration_since(last) >= self.interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn one_line_per_interval_with_the_count_held_back() {
        let mut limiter = LogLimiter::new(10 * SECOND);
        let start = Instant::now();
        assert_eq!(limiter.record_at(start), Some(0));
        let logged = (1..10_000u32)
            .filter(|i| {
                let at = start + SECOND * *i / 1000; // 10 000 events over 10 s
                limiter.record_at(at).is_some()
            })
            .count();
        assert_eq!(logged, 0, "nothing more within the first interval");
        assert_eq!(limiter.suppressed(), 9_999);
        assert_eq!(limiter.record_at(start + 10 * SECOND), Some(9_999));
        assert_eq!(limiter.suppressed(), 0);
        // The interval restarts at the line just logged.
        assert_eq!(limiter.record_at(start + 19 * SECOND), None);
        assert_eq!(limiter.record_at(start + 20 * SECOND), Some(1));
    }

    #[test]
    fn many_at_once_and_zero() {
        let mut limiter = LogLimiter::new(SECOND);
        let start = Instant::now();
        assert_eq!(limiter.record_many_at(0, start), None, "nothing happened");
        assert_eq!(limiter.record_many_at(500, start), Some(0));
        assert_eq!(limiter.record_many_at(300, start), None);
        assert_eq!(limiter.record_many_at(u64::MAX, start), None);
        assert_eq!(limiter.suppressed(), u64::MAX, "saturates");
    }

    #[test]
    fn flush_reports_held_back_events_once_due() {
        let mut limiter = LogLimiter::new(SECOND);
        let start = Instant::now();
        assert_eq!(limiter.flush_at(start), None, "nothing held back");
        assert_eq!(limiter.record_at(start), Some(0));
        assert_eq!(limiter.record_at(start), None);
        assert_eq!(limiter.flush_at(start + SECOND / 2), None, "not due yet");
        assert_eq!(limiter.flush_at(start + SECOND), Some(1));
        assert_eq!(
            limiter.flush_at(start + 3 * SECOND),
            None,
            "already reported"
        );
        // A flush counts as a line.
        assert_eq!(limiter.record_at(start + SECOND + SECOND / 2), None);
    }

    #[test]
    fn a_clock_going_backwards_logs_nothing_extra() {
        let mut limiter = LogLimiter::new(SECOND);
        let start = Instant::now() + 10 * SECOND;
        assert_eq!(limiter.record_at(start), Some(0));
        assert_eq!(limiter.record_at(start - 5 * SECOND), None);
    }
}
