//! Configuration of one virtual router and the RFC timer formulas derived from it.

use std::net::IpAddr;
use std::time::Duration;

/// The VRRP version a virtual router speaks: the wire's own type, one for the codec,
/// the state machine and the configuration.
pub use crate::packet::Version;

/// Priority of the address owner (RFC 9568 §6.1): it always wins and always preempts.
pub const OWNER_PRIORITY: u8 = 255;

/// Static configuration of one virtual router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// VRID, 1..=255.
    pub vrid: u8,
    pub version: Version,
    /// Configured priority, 1..=255; 255 makes this router the address owner.
    pub priority: u8,
    /// Advertisement_Interval in centiseconds (the wire unit of v3). v3: 1..=4095.
    /// v2 carries whole seconds, so it must be a multiple of 100, up to 255 s.
    pub advert_interval_cs: u16,
    /// Our primary address: the source of our adverts and the tie-breaker (§6.4.3).
    pub primary_addr: IpAddr,
    /// The virtual addresses, used to check received address lists (§7.1).
    pub vips: Vec<IpAddr>,
    /// Preempt_Mode (§6.1). The owner preempts whatever this says.
    pub preempt: bool,
    /// Implementation extension (RFC 9568 has none): after start-up or recovery from
    /// Fault, behave as if `preempt` were off for this long, so a router coming back does
    /// not grab mastership before its tracked services and routes have settled.
    pub preempt_delay: Duration,
    /// Accept_Mode (§6.1): whether a non-owner master accepts packets addressed to VIPs.
    pub accept_mode: bool,
    /// Drop adverts whose address list differs from `vips` unless sent by the owner
    /// (§7.1 makes the check a MAY; it catches misconfigured peers early).
    pub check_vips: bool,
}

impl Config {
    /// A v3 router with a 1 s interval, preempt on, no delay, accept mode off.
    pub fn new(vrid: u8, priority: u8, primary_addr: IpAddr) -> Config {
        Config {
            vrid,
            version: Version::V3,
            priority,
            advert_interval_cs: 100,
            primary_addr,
            vips: Vec::new(),
            preempt: true,
            preempt_delay: Duration::ZERO,
            accept_mode: false,
            check_vips: true,
        }
    }

    pub fn is_owner(&self) -> bool {
        self.priority == OWNER_PRIORITY
    }

    /// Advertisement_Interval as a duration.
    pub fn advert_interval(&self) -> Duration {
        centis(self.advert_interval_cs)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.vrid == 0 {
            return Err(ConfigError::Vrid);
        }
        if self.priority == 0 {
            return Err(ConfigError::Priority);
        }
        let interval_ok = match self.version {
            Version::V3 => (1..=4095).contains(&self.advert_interval_cs),
            Version::V2 => {
                self.advert_interval_cs.is_multiple_of(100)
                    && (100..=25_500).contains(&self.advert_interval_cs)
            }
        };
        if !interval_ok {
            return Err(ConfigError::Interval(self.advert_interval_cs));
        }
        if self
            .vips
            .iter()
            .any(|v| v.is_ipv4() != self.primary_addr.is_ipv4())
        {
            return Err(ConfigError::MixedFamilies);
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("VRID must be 1..=255")]
    Vrid,
    #[error("priority must be 1..=255 (0 is reserved for a leaving master)")]
    Priority,
    #[error("advert interval {0} cs out of range (v3: 1..=4095 cs; v2: whole seconds 1..=255)")]
    Interval(u16),
    #[error("virtual addresses must be of the primary address's family (RFC 9568 §1)")]
    MixedFamilies,
}

/// A centisecond count as a duration.
pub fn centis(cs: u16) -> Duration {
    Duration::from_millis(u64::from(cs) * 10)
}

/// Skew_Time (RFC 9568 §6.1): ((256 - Priority) * Master_Adver_Interval) / 256 for v3.
/// RFC 3768 §6.1 (v2) does not scale by the interval: (256 - Priority) / 256 seconds.
/// Computed in nanoseconds, so priority 100 with 1 s gives exactly 609.375 ms.
pub fn skew_time(version: Version, priority: u8, master_adver_interval_cs: u16) -> Duration {
    let base = match version {
        Version::V3 => centis(master_adver_interval_cs),
        Version::V2 => Duration::from_secs(1),
    };
    base * (256 - u32::from(priority)) / 256
}

/// Master_Down_Interval (RFC 9568 §6.1; RFC 3768 §6.1):
/// 3 * Master_Adver_Interval + Skew_Time.
pub fn master_down_interval(
    version: Version,
    priority: u8,
    master_adver_interval_cs: u16,
) -> Duration {
    centis(master_adver_interval_cs) * 3 + skew_time(version, priority, master_adver_interval_cs)
}
