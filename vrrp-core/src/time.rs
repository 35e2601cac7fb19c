//! Time as plain data.
//!
//! The core never reads a clock. Callers pass an [`Instant`]: nanoseconds of
//! CLOCK_MONOTONIC, the clock `bpf_ktime_get_ns` reads in the kernel, so kernel
//! receive timestamps and the daemon's own "now" compare directly. The simulator
//! uses the same type for its virtual clock, starting at zero.

use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

/// A point on the CLOCK_MONOTONIC time line, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    /// The origin of the clock (the simulator starts here).
    pub const ZERO: Instant = Instant(0);

    pub const fn from_nanos(nanos: u64) -> Instant {
        Instant(nanos)
    }

    pub const fn from_millis(millis: u64) -> Instant {
        Instant(millis * 1_000_000)
    }

    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// The first multiple of `period` (counted from [`Instant::ZERO`]) strictly after
    /// `self`: a grid point. Routers that schedule on the grid of the same period fire
    /// together, wherever their own phase started. A zero period gives `self`.
    pub fn next_multiple_of(self, period: Duration) -> Instant {
        let p = nanos(period);
        if p == 0 {
            return self;
        }
        Instant((self.0 / p).saturating_add(1).saturating_mul(p))
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later (never panics: kernel
    /// timestamps may be a hair ahead of the daemon's "now").
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Saturating: a deadline past the end of time is simply "never" in practice.
impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        Instant(self.0.saturating_add(nanos(rhs)))
    }
}

/// Saturating at zero.
impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, rhs: Duration) -> Instant {
        Instant(self.0.saturating_sub(nanos(rhs)))
    }
}

/// Seconds with millisecond precision and, when needed, microseconds: readable traces.
impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0 / 1_000_000_000;
        let micros = (self.0 % 1_000_000_000) / 1_000;
        if micros.is_multiple_of(1_000) {
            write!(f, "{secs}.{:03}s", micros / 1_000)
        } else {
            write!(f, "{secs}.{micros:06}s")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_and_displays() {
        let t = Instant::from_millis(1_500);
        assert_eq!(t + Duration::from_millis(500), Instant::from_millis(2_000));
        assert_eq!(t - Duration::from_secs(5), Instant::ZERO);
        assert_eq!(Instant::ZERO.saturating_since(t), Duration::ZERO);
        assert_eq!(
            t.saturating_since(Instant::ZERO),
            Duration::from_millis(1_500)
        );
        assert_eq!(
            Instant::from_nanos(u64::MAX) + Duration::from_secs(1),
            Instant::from_nanos(u64::MAX)
        );
        assert_eq!(t.to_string(), "1.500s");
        let cs = Duration::from_millis(10);
        assert_eq!(
            Instant::from_nanos(1).next_multiple_of(cs),
            Instant::from_millis(10)
        );
        assert_eq!(
            Instant::from_millis(10).next_multiple_of(cs),
            Instant::from_millis(20)
        );
        assert_eq!(
            Instant::from_nanos(19_999_999).next_multiple_of(cs),
            Instant::from_millis(20)
        );
        assert_eq!(t.next_multiple_of(Duration::ZERO), t);
        assert_eq!(Instant::from_nanos(3_609_375_000).to_string(), "3.609375s");
    }
}
