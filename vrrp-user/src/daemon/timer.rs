//! The controller's one timer: a timerfd armed at the earliest state-machine deadline.
//!
//! tokio's timer wheel has millisecond granularity, so a Master_Down_Timer set through
//! it fires up to a millisecond late, which is most of our distance to the RFC floor at
//! 10 ms adverts. A timerfd on CLOCK_MONOTONIC takes the deadline as absolute
//! nanoseconds, the core's own clock, and fires on time.

use std::{
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

use tokio::io::unix::AsyncFd;
use vrrp_core::time::Instant;

use crate::datapath::register_readable;

pub struct DeadlineTimer {
    fd: AsyncFd<OwnedFd>,
    armed: Option<Instant>,
}

impl DeadlineTimer {
    pub fn new() -> io::Result<DeadlineTimer> {
        // SAFETY: plain timerfd_create(2); the result is checked.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: raw is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(DeadlineTimer {
            fd: register_readable(fd)?,
            armed: None,
        })
    }

    /// Arms the timer at `deadline` (absolute CLOCK_MONOTONIC), or disarms it. A
    /// deadline in the past fires at once. No system call when nothing changed.
    pub fn arm(&mut self, deadline: Option<Instant>) -> io::Result<()> {
        if deadline == self.armed {
            return Ok(());
        }
        let ns = deadline.map_or(0, |d| d.as_nanos().max(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: (ns / 1_000_000_000) as libc::time_t,
                tv_nsec: (ns % 1_000_000_000) as libc::c_long,
            },
        };
        // SAFETY: valid descriptor and itimerspec; the old value is not wanted.
        let r = unsafe {
            libc::timerfd_settime(
                self.fd.get_ref().as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        self.armed = deadline;
        Ok(())
    }

    /// Waits until the armed deadline passes. Pending forever when disarmed.
    /// Cancel-safe: an expiry not yet read stays readable.
    pub async fn expired(&mut self) -> io::Result<()> {
        if self.armed.is_none() {
            return std::future::pending().await;
        }
        loop {
            let mut guard = self.fd.readable().await?;
            let mut buf = [0u8; 8];
            // SAFETY: reading the 8-byte expiry count into a buffer we own.
            let n = unsafe {
                libc::read(
                    guard.get_inner().as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                )
            };
            if n == 8 {
                // One-shot and now disarmed: nothing more to read until it is armed
                // again, so the next wait need not try a read that finds nothing.
                guard.clear_ready();
                self.armed = None;
                return Ok(());
            }
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::WouldBlock {
                guard.clear_ready();
                continue;
            }
            return Err(err);
        }
    }
}
