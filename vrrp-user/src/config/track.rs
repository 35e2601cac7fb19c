//! Tracked interfaces, scripts, files and routes: validation of the `track_*` tables.

use std::collections::HashSet;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use crate::track::MAX_DELTA;

use super::fields::{Checker, MAX_MS};
use super::routes::DEFAULT_ROUTE_TABLE;
use super::schema::RawInstance;
use super::types::{Track, TrackFile, TrackInterface, TrackRoute, TrackScript};

const DEFAULT_SCRIPT_INTERVAL_MS: i64 = 1000;
/// More next hops than any kernel ECMP group holds (`fib_multipath` allows 256,
/// IPv6 as many): a larger minimum could never be met.
const MAX_NEXTHOPS: i64 = 256;
/// Largest priority change a tracker may make (see [`crate::track`]).
const WEIGHT_MAX: i64 = MAX_DELTA as i64;

/// A tracking weight, which cannot move the address owner's priority.
fn weight(
    c: &mut Checker,
    v: Option<&Spanned<i64>>,
    key: &str,
    default: i64,
    owner: bool,
    span: &Range<usize>,
) -> Option<i16> {
    let w = c.opt_int(v, key, -WEIGHT_MAX, WEIGHT_MAX, default)?;
    if owner && w != 0 {
        let shown = if v.is_none() {
            format!("{key} = {w} (the default)")
        } else {
            format!("{key} = {w}")
        };
        c.err(
            &v.map_or(span.clone(), |v| v.span()),
            format!(
                "{shown} cannot change the priority of the address owner (priority = 255); use \
                 weight = 0 to go to FAULT instead, or a priority below 255"
            ),
        );
        return None;
    }
    Some(w as i16)
}

pub(super) fn track(c: &mut Checker, raw: &RawInstance, owner: bool) -> Option<Track> {
    let mut ok = true;
    let mut track = Track::default();

    let mut names = HashSet::new();
    for t in &raw.track_interfaces {
        let name = c.ifname(&t.name, "track_interface.name");
        if let Some(n) = &name
            && !names.insert(n.clone())
        {
            c.err(
                &t.name.span(),
                format!("track_interface.name = {n:?} is listed twice"),
            );
            ok = false;
        }
        let weight = weight(
            c,
            t.weight.as_ref(),
            "track_interface.weight",
            0,
            owner,
            &t.name.span(),
        );
        match (name, weight) {
            (Some(name), Some(weight)) => track.interfaces.push(TrackInterface { name, weight }),
            _ => ok = false,
        }
    }

    let mut names = HashSet::new();
    for t in &raw.track_scripts {
        let name = c.name(&t.name, "track_script.name");
        if let Some(n) = &name
            && !names.insert(n.clone())
        {
            c.err(
                &t.name.span(),
                format!("track_script.name = {n:?} is listed twice"),
            );
            ok = false;
        }
        let command = c.command(&t.command, "track_script.command");
        let interval = c.opt_int(
            t.interval_ms.as_ref(),
            "track_script.interval_ms",
            10,
            MAX_MS,
            DEFAULT_SCRIPT_INTERVAL_MS,
        );
        let timeout = c.opt_int(
            t.timeout_ms.as_ref(),
            "track_script.timeout_ms",
            10,
            MAX_MS,
            interval.unwrap_or(DEFAULT_SCRIPT_INTERVAL_MS),
        );
        if let (Some(i), Some(to), Some(v)) = (interval, timeout, &t.timeout_ms)
            && to > i
        {
            c.err(
                &v.span(),
                format!(
                    "track_script.timeout_ms = {to} exceeds interval_ms = {i}: runs would overlap"
                ),
            );
            ok = false;
        }
        let rise = c.opt_int(t.rise.as_ref(), "track_script.rise", 1, 1000, 1);
        let fall = c.opt_int(t.fall.as_ref(), "track_script.fall", 1, 1000, 1);
        let weight = weight(
            c,
            t.weight.as_ref(),
            "track_script.weight",
            0,
            owner,
            &t.name.span(),
        );
        match (name, command, interval, timeout, rise, fall, weight) {
            (
                Some(name),
                Some(command),
                Some(i),
                Some(to),
                Some(rise),
                Some(fall),
                Some(weight),
            ) => track.scripts.push(TrackScript {
                name,
                command,
                interval: Duration::from_millis(i as u64),
                timeout: Duration::from_millis(to as u64),
                rise: rise as u32,
                fall: fall as u32,
                weight,
            }),
            _ => ok = false,
        }
    }

    let mut paths = HashSet::new();
    for t in &raw.track_files {
        let path = c.abs_path(&t.path, "track_file.path");
        if let Some(p) = &path
            && !paths.insert(p.clone())
        {
            c.err(
                &t.path.span(),
                format!("track_file.path = {:?} is listed twice", t.path.get_ref()),
            );
            ok = false;
        }
        let weight = weight(
            c,
            t.weight.as_ref(),
            "track_file.weight",
            1,
            owner,
            &t.path.span(),
        );
        match (path, weight) {
            (Some(path), Some(weight)) => track.files.push(TrackFile { path, weight }),
            _ => ok = false,
        }
    }
    let mut keys = HashSet::new();
    for t in &raw.track_routes {
        let prefix = c.route_prefix(&t.prefix, "track_route.prefix");
        let table = c.opt_int(
            t.table.as_ref(),
            "track_route.table",
            1,
            u32::MAX as i64,
            DEFAULT_ROUTE_TABLE,
        );
        let protocol = match &t.protocol {
            Some(p) => c.any_route_protocol(p, "track_route.protocol").map(Some),
            None => Some(None),
        };
        let min_nexthops = c.opt_int(
            t.min_nexthops.as_ref(),
            "track_route.min_nexthops",
            1,
            MAX_NEXTHOPS,
            1,
        );
        let rise = c.opt_int(t.rise_ms.as_ref(), "track_route.rise_ms", 0, MAX_MS, 0);
        let weight = weight(
            c,
            t.weight.as_ref(),
            "track_route.weight",
            0,
            owner,
            &t.prefix.span(),
        );
        match (prefix, table, protocol, min_nexthops, rise, weight) {
            (Some(prefix), Some(table), Some(protocol), Some(n), Some(rise), Some(weight)) => {
                if !keys.insert((prefix, table, protocol)) {
                    c.err(
                        &t.prefix.span(),
                        format!(
                            "track_route.prefix = \"{prefix}\" is tracked twice in table {table}{}",
                            protocol.map_or(String::new(), |p| format!(" with protocol {p}"))
                        ),
                    );
                    ok = false;
                    continue;
                }
                track.routes.push(TrackRoute {
                    prefix,
                    table: table as u32,
                    protocol,
                    min_nexthops: n as u16,
                    rise: Duration::from_millis(rise as u64),
                    weight,
                });
            }
            _ => ok = false,
        }
    }
    ok.then_some(track)
}
