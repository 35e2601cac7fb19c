//! vrrpd library: controller, datapaths, drivers.

pub mod config;
pub mod datapath;
pub mod sender;
pub mod netlink;
pub mod daemon;
pub mod hooks;
pub mod metrics;
pub mod status;
pub mod track;
