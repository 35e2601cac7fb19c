//! vrrpd library: controller, datapaths, drivers.

pub mod config;
pub mod datapath;
