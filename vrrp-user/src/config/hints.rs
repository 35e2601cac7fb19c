//! Hints for keys keepalived users are likely to write.
//!
//! An unknown key is always an error; when it is a keepalived spelling we
//! also say what to write instead, since the plain "unknown field" message
//! does not tell a migrating user where the setting went.

/// A hint for an unknown key, if it is one we recognise.
pub(crate) fn for_unknown_key(key: &str) -> Option<&'static str> {
    let hint = match key {
        "virtual_router_id" => "use vrid",
        "advert_int" | "advert_interval" | "advert_interval_s" => {
            "use advert_interval_ms (milliseconds, not seconds)"
        }
        "unicast_peer" | "unicast_peers" | "peers" => {
            "write each peer as [[instance.peer]] with address = \"...\""
        }
        "unicast_src_ip" | "source" | "src" => "use unicast_src = \"<address>/<prefix>\"",
        "vip" | "vips" | "virtual_ipaddress" | "virtual_ipaddresses" => {
            "write each VIP as [[instance.vip]] with address = \"<address>/<prefix>\""
        }
        "virtual_routes" | "routes" => "write each route as [[instance.route]]",
        "state" => {
            "there is no initial state: the election decides (keepalived's MASTER/BACKUP only \
             sets where it starts)"
        }
        "nopreempt" => "use preempt = false",
        "preempt_delay" => "use preempt_delay_ms (milliseconds)",
        "authentication" | "auth_type" | "auth_pass" => {
            "VRRP authentication is not supported: RFC 3768 removed it and RFC 9568 has none"
        }
        "vrrp_version" => "use version",
        "notify_master" => "use on_master in [instance.hooks]",
        "notify_backup" => "use on_backup in [instance.hooks]",
        "notify_fault" => "use on_fault in [instance.hooks]",
        "notify_stop" => "use on_stop in [instance.hooks]",
        "notify" => "use the on_* commands in [instance.hooks]",
        "track_interfaces" | "track_scripts" | "track_files" | "track_routes" => {
            "the table names are singular: [[instance.track_interface]], \
             [[instance.track_script]], [[instance.track_file]], [[instance.track_route]]"
        }
        "garp_master_delay" => "use delay_ms in [instance.garp]",
        "garp_master_repeat" => "use repeat in [instance.garp]",
        "accept" => "use accept_mode = true",
        "instances" | "vrrp_instance" => "write each instance as [[instance]]",
        "vrrp_sync_group" | "sync_groups" => "write each group as [[sync_group]]",
        "group" => "use members = [\"...\"]",
        _ => return None,
    };
    Some(hint)
}

/// The key named by a serde "unknown field `x`, expected ..." message.
pub(crate) fn unknown_key(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// Rewords serde's Rust-flavoured type names in TOML terms, so messages
/// never mention internal struct names.
pub(crate) fn in_toml_terms(message: &str) -> String {
    let mut m = message
        .replace("expected i64", "expected an integer")
        .replace("expected a sequence", "expected an array")
        .replace("expected a map", "expected a table")
        .replace(
            "data did not match any variant of untagged enum RawProtocol",
            "expected a protocol number (0-255) or name (\"bgp\", \"bird\", ...)",
        )
        .replace(
            "data did not match any variant of untagged enum RawInterface",
            "expected an interface name (\"eth0\") or an array of uplinks ([\"up1\", \"up2\"])",
        );
    if let Some(i) = m.find("expected struct ") {
        m.truncate(i);
        m.push_str("expected a table");
    }
    m
}
