//! Time in the tests comes from the protocol, not from the clock: windows and floors
//! are derived from the advert interval with vrrp-core's RFC formulas (never
//! rewritten here), and everything else waits on a condition with an upper limit.
//!
//! Limits are upper bounds for a noisy 2-core VM, not expectations; windows that
//! prove something did *not* happen are sized from the protocol's own timers, so
//! they prove it at any advert interval.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};

pub use vrrp_core::router::Version;

/// How often [`hold_for`] samples its condition.
const HOLD_PACE: Duration = Duration::from_millis(5);

/// An advert interval as the centiseconds the protocol carries. Panics unless it is a
/// whole number of centiseconds in the protocol's range (a test bug).
pub fn centis(interval: Duration) -> u16 {
    assert!(
        interval.as_nanos().is_multiple_of(10_000_000),
        "advert interval {interval:?} is not a whole number of centiseconds"
    );
    u16::try_from(interval.as_nanos() / 10_000_000)
        .unwrap_or_else(|_| panic!("advert interval {interval:?} out of range"))
}

/// Skew_Time of a backup of `priority` (RFC 9568 §6.1; RFC 3768 §6.1 for v2), from
/// [`vrrp_core::router::skew_time`].
pub fn skew_time(version: Version, priority: u8, interval: Duration) -> Duration {
    vrrp_core::router::skew_time(version, priority, centis(interval))
}

/// Master_Down_Interval of a backup of `priority`, from
/// [`vrrp_core::router::master_down_interval`].
pub fn master_down_interval(version: Version, priority: u8, interval: Duration) -> Duration {
    vrrp_core::router::master_down_interval(version, priority, centis(interval))
}

/// How long to watch a backup of `priority` to prove it hears the master and stays
/// backup: two of its Master_Down_Intervals plus one advert interval. A backup that
/// did not hear the master would take over within one Master_Down_Interval.
pub fn backup_watch(version: Version, priority: u8, interval: Duration) -> Duration {
    master_down_interval(version, priority, interval) * 2 + interval
}

/// Polls `cond` every millisecond until it holds; the time it took. Fails after
/// `limit`.
pub fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) -> Result<Duration> {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > limit {
            bail!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(start.elapsed())
}

/// Checks that `cond` holds at every sample for the whole of `window` (the last
/// sample is taken after the window has passed); fails at the first sample where it
/// does not, with the time into the window.
pub fn hold_for(what: &str, window: Duration, mut cond: impl FnMut() -> bool) -> Result<()> {
    let start = Instant::now();
    loop {
        let at = start.elapsed();
        if !cond() {
            bail!(
                "{what} stopped holding {:.1} ms into a {:.1} ms window",
                at.as_secs_f64() * 1e3,
                window.as_secs_f64() * 1e3
            );
        }
        if at > window {
            return Ok(());
        }
        std::thread::sleep(HOLD_PACE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_from_the_core() {
        let i = Duration::from_millis(100);
        assert_eq!(centis(i), 10);
        // Priority 100 at 1 s: 609.375 ms of skew, 3.609375 s of Master_Down_Interval.
        let s = Duration::from_secs(1);
        assert_eq!(
            skew_time(Version::V3, 100, s),
            Duration::from_micros(609_375)
        );
        assert_eq!(
            master_down_interval(Version::V3, 100, s),
            Duration::from_micros(3_609_375)
        );
        assert_eq!(
            backup_watch(Version::V3, 100, s),
            Duration::from_micros(2 * 3_609_375 + 1_000_000)
        );
    }

    #[test]
    #[should_panic(expected = "centiseconds")]
    fn sub_centisecond_interval_is_a_test_bug() {
        centis(Duration::from_millis(105));
    }

    #[test]
    fn hold_fails_at_the_first_bad_sample() {
        let mut n = 0;
        let err = hold_for("n < 3", Duration::from_secs(5), || {
            n += 1;
            n < 3
        })
        .unwrap_err();
        assert!(err.to_string().contains("n < 3 stopped holding"), "{err}");
        assert!(hold_for("true", Duration::from_millis(20), || true).is_ok());
        assert!(wait_for("false", Duration::from_millis(20), || false).is_err());
    }
}
