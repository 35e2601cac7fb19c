//! The state-change hooks (`[instance.hooks]`).

use std::time::Duration;

use toml::Spanned;

use super::fields::Checker;
use super::schema::RawHooks;
use super::types::Hooks;

const DEFAULT_HOOK_TIMEOUT_MS: i64 = 10_000;

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
