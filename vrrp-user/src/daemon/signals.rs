//! The signals the daemon acts on, forwarded by a task of their own into one channel.
//!
//! Polling tokio's `Signal::recv` in the event loop's `select!` builds and drops a
//! waiter on each signal's wait list (a mutex round trip) at every wake-up: three
//! signals, a few percent of a 10 ms master's CPU. A task parked on them costs
//! nothing until one arrives; the loop polls one channel instead.

use std::io;

use tokio::{
    signal::unix::{SignalKind, signal},
    sync::mpsc,
};

/// What a signal asks of the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// SIGTERM or SIGINT (named): leave cleanly.
    Leave(&'static str),
    /// SIGHUP: reload the configuration.
    Reload,
}

/// Installs the handlers now (so no signal is missed once this returns) and
/// forwards each signal as a [`Request`].
pub fn forward() -> io::Result<mpsc::Receiver<Request>> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(async move {
        loop {
            let req = tokio::select! {
                biased;
                Some(()) = term.recv() => Request::Leave("SIGTERM"),
                Some(()) = int.recv() => Request::Leave("SIGINT"),
                Some(()) = hup.recv() => Request::Reload,
                else => return,
            };
            if tx.send(req).await.is_err() {
                return;
            }
        }
    });
    Ok(rx)
}
