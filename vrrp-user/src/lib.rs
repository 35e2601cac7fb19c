//! vrrpd library: controller, datapaths, drivers.

pub mod config;
pub mod daemon;
pub mod datapath;
pub mod doctor;
pub mod hooks;
pub mod import;
pub mod metrics;
pub mod netlink;
pub mod sender;
pub mod status;
pub mod sys;
pub mod track;
pub mod track_route;
