//! `vrrpd doctor -c FILE`: checks the live host against the configuration
//! before it goes live, the way an engineer would by hand: interfaces up,
//! `unicast_src` configured, each peer routable (and by which interface and
//! gateway), the firewall passing IP protocol 112, `rp_filter`, the VIP's
//! virtual subnet on no physical interface, a routing daemon that announces
//! the VIP, capabilities and kernel features for the datapath, and each tracked
//! route as its tracker would see it now. One line per check, OK / WARN / FAIL; the
//! exit status is the worst (0, 1, 2).

pub mod check;
mod checks;
pub mod firewall;
mod host;

use std::path::Path;

pub use check::{Check, Level};

/// Every check's line, in order.
#[derive(Debug)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    pub fn worst(&self) -> Level {
        self.checks
            .iter()
            .map(|c| c.level)
            .max()
            .unwrap_or(Level::Ok)
    }
}

/// Runs every check for the configuration at `path` on this host (in this
/// process's network namespace).
pub fn run(path: &Path) -> Report {
    let mut out = Vec::new();
    let config = match crate::config::load(path) {
        Ok(c) => {
            out.push(Check::new(
                Level::Ok,
                "configuration",
                format!("{} passes vrrpd check", path.display()),
            ));
            c
        }
        Err(e) => {
            out.push(Check::new(Level::Fail, "configuration", format!("{e}")));
            return Report { checks: out };
        }
    };
    let links = match host::links() {
        Ok(l) => l,
        Err(e) => {
            out.push(Check::new(
                Level::Fail,
                "interfaces",
                format!("cannot list them: {e}"),
            ));
            return Report { checks: out };
        }
    };
    out.extend(checks::capabilities(host::cap_eff()));
    out.push(checks::kernel());
    let mut seen = Vec::new();
    for i in &config.instances {
        for dev in checks::receive_links(&links, i) {
            if !seen.contains(&dev) {
                out.push(checks::interface(&links, &dev));
                out.push(checks::xdp(&links, i, &dev));
                seen.push(dev);
            }
        }
    }
    for i in &config.instances {
        out.extend(checks::unicast_src(&links, i));
        let peers = checks::peers(&links, i);
        let devs: Vec<Option<String>> = peers.iter().map(|(_, d)| d.clone()).collect();
        out.extend(peers.into_iter().map(|(c, _)| c));
        out.extend(checks::rp_filter(i, &devs));
        out.extend(checks::virtual_subnet(&links, i));
        out.extend(checks::tracked_routes(i));
        out.extend(checks::peer_cover(i));
    }
    out.extend(checks::firewall());
    match host::processes_here() {
        Some(procs) => out.extend(checks::routing_daemon(&config, &links, &procs)),
        None => out.push(Check::new(
            Level::Warn,
            "routing daemon",
            "cannot see other processes' namespaces (needs root): not checked",
        )),
    }
    Report { checks: out }
}
