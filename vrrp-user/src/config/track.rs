//! Tracked interfaces, scripts and files, and the state-change hooks.

use std::collections::HashSet;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::fields::{Checker, MAX_MS};
use super::schema::{RawHooks, RawInstance};
use super::types::{Hooks, Track, TrackFile, TrackInterface, TrackScript};

const DEFAULT_HOOK_TIMEOUT_MS: i64 = 10_000;
const DEFAULT_SCRIPT_INTERVAL_MS: i64 = 1000;
/// Largest priority change a tracker may make.
const WEIGHT_MAX: i64 = 254;

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
    ok.then_some(track)
}

/// The `[instance.hooks]` table; no table means no hooks.
pub(super) fn hooks(c: &mut Checker, h: Option<&RawHooks>) -> Option<Hooks> {
    let Some(h) = h else {
        return Some(Hooks {
            on_master: None,
            on_backup: None,
            on_fault: None,
            on_stop: None,
            timeout: Duration::from_millis(DEFAULT_HOOK_TIMEOUT_MS as u64),
        });
    };
    let timeout = c.opt_int(
        h.timeout_ms.as_ref(),
        "hooks.timeout_ms",
        1,
        600_000,
        DEFAULT_HOOK_TIMEOUT_MS,
    );
    let mut ok = true;
    let mut cmd = |v: &Option<Spanned<Vec<String>>>, key: &str| {
        let argv = c.command(v.as_ref()?, key);
        ok &= argv.is_some();
        argv
    };
    let on_master = cmd(&h.on_master, "hooks.on_master");
    let on_backup = cmd(&h.on_backup, "hooks.on_backup");
    let on_fault = cmd(&h.on_fault, "hooks.on_fault");
    let on_stop = cmd(&h.on_stop, "hooks.on_stop");
    let timeout = Duration::from_millis(timeout? as u64);
    ok.then_some(Hooks {
        on_master,
        on_backup,
        on_fault,
        on_stop,
        timeout,
    })
}
