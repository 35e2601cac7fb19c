//! What an instance inherits from `[global]`. Its own module so that the
//! per-instance checks (`instance`, `routes`) and the whole-file check
//! (`validate`) all depend on it, and it on nothing of theirs.

use super::types::Datapath;

/// Values an instance inherits from `[global]`.
pub(crate) struct Defaults {
    pub datapath: Datapath,
    pub route_protocol: u8,
}
