//! Routes installed while master.

use std::net::IpAddr;

use super::defaults::Defaults;
use super::fields::{Checker, family_name};
use super::schema::RawRoute;
use super::types::{Family, Route};

/// The main table.
pub(super) const DEFAULT_ROUTE_TABLE: i64 = crate::netlink::MAIN_TABLE as i64;

pub(super) fn routes(
    c: &mut Checker,
    raws: &[RawRoute],
    defaults: &Defaults,
) -> Option<Vec<Route>> {
    let mut out = Vec::new();
    let mut ok = true;
    for r in raws {
        let span = r.prefix.span();
        let prefix = c.route_prefix(&r.prefix, "route.prefix");
        ok &= prefix.is_some();
        let via = r.via.as_ref().and_then(|v| {
            let a = c.ip(v, "route.via")?;
            c.unicast_addr(&v.span(), "route.via", &a).then_some(a)
        });
        ok &= via.is_some() == r.via.is_some();
        let dev = r.dev.as_ref().and_then(|d| c.ifname(d, "route.dev"));
        ok &= dev.is_some() == r.dev.is_some();
        if r.via.is_none() && r.dev.is_none() {
            c.err(&span, "route needs via, dev, or both");
            ok = false;
        }
        if let (Some(p), Some(a), Some(v)) = (prefix, via, &r.via) {
            if Family::of(&p.addr()) != Family::of(&a) {
                c.err(
                    &v.span(),
                    format!(
                        "route.via = \"{a}\" is {} but route.prefix \"{p}\" is {}",
                        family_name(Family::of(&a)),
                        family_name(Family::of(&p.addr()))
                    ),
                );
                ok = false;
            }
            if matches!(a, IpAddr::V6(v6) if v6.is_unicast_link_local()) && r.dev.is_none() {
                c.err(
                    &v.span(),
                    format!("route.via = \"{a}\" is link-local, so the route also needs dev"),
                );
                ok = false;
            }
        }
        let table = c
            .opt_int(
                r.table.as_ref(),
                "route.table",
                1,
                u32::MAX as i64,
                DEFAULT_ROUTE_TABLE,
            )
            .filter(|t| {
                let name = match t {
                    253 => "default",
                    255 => "local",
                    _ => return true,
                };
                if let Some(v) = &r.table {
                    c.err(
                        &v.span(),
                        format!(
                            "route.table = {t} is the kernel's \"{name}\" table; use main (254) \
                             or a table of your own"
                        ),
                    );
                }
                false
            });
        let metric = c.opt_int(r.metric.as_ref(), "route.metric", 0, u32::MAX as i64, 0);
        let protocol = match &r.protocol {
            Some(p) => c.route_protocol(p, "route.protocol"),
            None => Some(defaults.route_protocol),
        };
        if let (Some(prefix), Some(table), Some(metric), Some(protocol)) =
            (prefix, table, metric, protocol)
        {
            out.push(Route {
                prefix,
                via,
                dev,
                table: table as u32,
                metric: metric as u32,
                protocol,
            });
        } else {
            ok = false;
        }
    }
    ok.then_some(out)
}
