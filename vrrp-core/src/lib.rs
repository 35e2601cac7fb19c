//! The VRRP protocol core: codec and state machine, free of I/O.
//!
//! Nothing in this crate touches a socket, a clock or an async runtime: time is always
//! an argument. That is what makes the deterministic simulator (`sim`) possible.

pub mod packet;
pub mod router;
pub mod sim;
pub mod time;
