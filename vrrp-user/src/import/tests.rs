//! Translation tests on small keepalived files.

use super::*;

fn import(text: &str) -> Report {
    import_text(text, "k.conf", &ImportOptions::default())
}

fn has(r: &Report, sev: Severity, needle: &str) -> bool {
    r.diagnostics
        .iter()
        .any(|d| d.severity == sev && (d.keepalived.contains(needle) || d.vrrpd.contains(needle)))
}

const CROSS_SUBNET: &str = r#"
global_defs {
    vrrp_version 3
}
vrrp_instance vi51 {
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 0.1
    unicast_src_ip 10.1.2.10
    unicast_peer {
        10.1.1.10 min_ttl 250 max_ttl 255
    }
    virtual_ipaddress {
        10.1.255.1/32 dev lo
    }
}
"#;

#[test]
fn cross_subnet_pair_is_exact_with_the_prefix_given() {
    let opts = ImportOptions {
        translate: TranslateOptions {
            src_prefix_len: Some(24),
        },
        ..Default::default()
    };
    let r = import_text(CROSS_SUBNET, "k.conf", &opts);
    assert_eq!(
        r.outcome(),
        Outcome::Exact,
        "{:#?}\n{}",
        r.diagnostics,
        r.toml
    );
    let c = crate::config::parse(&r.toml, "x").unwrap();
    let i = &c.instances[0];
    assert_eq!(i.vrid, 51);
    assert_eq!(i.priority, 100);
    assert!(r.toml.contains("advert_interval_ms = 100\n"));
    assert!(r.toml.contains("unicast_src = \"10.1.2.10/24\""));
    assert!(r.toml.contains("ttl_min = 250"));
    assert!(r.toml.contains("preempt = true"));
    assert!(r.toml.contains("accept_mode = true"));
}

#[test]
fn a_missing_prefix_is_an_approximation_naming_the_line() {
    let r = import(CROSS_SUBNET);
    assert_eq!(r.outcome(), Outcome::Approximate);
    let d = r
        .diagnostics
        .iter()
        .find(|d| d.keepalived.contains("no prefix"))
        .unwrap();
    assert_eq!(d.loc.to_string(), "k.conf:10");
}

#[test]
fn implicit_defaults_become_explicit() {
    let r = import(
        "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 50\n virtual_ipaddress {\n 192.168.200.11\n }\n}\n",
    );
    assert_eq!(r.outcome(), Outcome::Exact, "{:#?}", r.diagnostics);
    for key in [
        "version = 2\n",
        "priority = 100\n",
        "advert_interval_ms = 1000\n",
        "mode = \"multicast\"\n",
        "preempt = true\n",
        "accept_mode = true\n",
        "address = \"192.168.200.11/32\"\n",
        "dev = \"eth0\"\n",
        "repeat = 5\n",
        "delay_ms = 5000\n",
    ] {
        assert!(r.toml.contains(key), "{key} missing in\n{}", r.toml);
    }
}

#[test]
fn unicast_src_without_peers_is_explicit_multicast_with_a_warning() {
    let r = import(
        "vrrp_instance v {\n interface eth0\n virtual_router_id 5\n unicast_src_ip 10.0.0.1\n virtual_ipaddress {\n 10.0.0.100/24\n }\n}\n",
    );
    assert!(has(&r, Severity::Approximation, "silently go by multicast"));
    assert!(r.toml.contains("mode = \"multicast\""));
    assert!(r.invalid.is_none());
}

#[test]
fn peers_without_unicast_src_fail() {
    let r = import(
        "vrrp_instance v {\n interface eth0\n virtual_router_id 5\n unicast_peer {\n 10.0.0.2\n }\n virtual_ipaddress {\n 10.0.0.100/24\n }\n}\n",
    );
    assert_eq!(r.outcome(), Outcome::Failed);
}

#[test]
fn positive_weights_shift_the_base_priority() {
    let r = import(
        "vrrp_script chk {\n script \"/bin/true\"\n weight 2\n}\nvrrp_instance v {\n interface eth0\n virtual_router_id 5\n priority 100\n track_interface {\n eth1 weight 2\n eth2 weight -2\n eth3\n }\n track_script {\n chk\n }\n virtual_ipaddress {\n 10.0.0.100/24\n }\n}\n",
    );
    assert_eq!(r.outcome(), Outcome::Exact, "{:#?}", r.diagnostics);
    let c = crate::config::parse(&r.toml, "x").unwrap();
    assert_eq!(c.instances[0].priority, 104);
    assert!(r.toml.contains("name = \"eth1\"\nweight = -2"));
    assert!(r.toml.contains("name = \"eth2\"\nweight = -2"));
    assert!(r.toml.contains("name = \"eth3\"\nweight = 0"));
    assert!(r.toml.contains("command = [\"/bin/true\"]"));
}

#[test]
fn state_master_auth_and_vmac_are_approximations() {
    let r = import(
        "vrrp_instance v {\n state MASTER\n interface eth0\n virtual_router_id 5\n use_vmac\n authentication {\n auth_type PASS\n auth_pass x\n }\n virtual_ipaddress {\n 10.0.0.100/24\n }\n}\n",
    );
    assert_eq!(r.outcome(), Outcome::Approximate);
    assert!(has(&r, Severity::Approximation, "state MASTER"));
    assert!(has(&r, Severity::Approximation, "authentication"));
    assert!(has(&r, Severity::Approximation, "virtual MAC"));
    assert!(r.invalid.is_none());
}

#[test]
fn virtual_server_is_reported_once_as_out_of_scope() {
    let r = import(
        "vrrp_instance v {\n interface eth0\n virtual_router_id 5\n virtual_ipaddress {\n 10.0.0.100/24\n }\n}\nvirtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n }\n}\nvirtual_server 10.0.0.1 81 {\n}\n",
    );
    let n = r
        .diagnostics
        .iter()
        .filter(|d| d.vrrpd.contains("out of scope"))
        .count();
    assert_eq!(n, 1, "{:#?}", r.diagnostics);
    assert!(has(&r, Severity::Approximation, "2 blocks"));
}

#[test]
fn notify_scripts_become_hooks() {
    let r = import(
        "vrrp_instance v {\n interface eth0\n virtual_router_id 5\n virtual_ipaddress {\n 10.0.0.100/24\n }\n notify_master \"/usr/local/bin/up arg\"\n notify /usr/local/bin/notify.sh\n}\n",
    );
    assert!(
        r.toml
            .contains("on_master = [\"/usr/local/bin/up\", \"arg\"]")
    );
    assert!(r.toml.contains(
        "on_backup = [\"/usr/local/bin/notify.sh\", \"INSTANCE\", \"v\", \"BACKUP\", \"100\"]"
    ));
    assert!(has(&r, Severity::Approximation, "notify_<state>"));
    assert!(r.invalid.is_none(), "{:?}", r.invalid);
}

#[test]
fn routes_translate_with_their_limits() {
    let r = import(
        "vrrp_instance v {\n interface eth0\n virtual_router_id 5\n virtual_ipaddress {\n 192.168.200.16/24\n }\n virtual_routes {\n src 192.168.100.1 192.168.109.0/24 via 192.168.200.254 dev eth1\n 192.168.113.0/24 via 192.168.100.252 or 192.168.100.253\n blackhole 192.168.113.1/32\n 0.0.0.0/0 gw 192.168.0.1 table 100\n }\n}\n",
    );
    assert!(has(&r, Severity::Approximation, "preferred source"));
    assert!(has(&r, Severity::Approximation, "multipath"));
    assert!(has(&r, Severity::Approximation, "blackhole"));
    assert!(
        r.toml
            .contains("prefix = \"0.0.0.0/0\"\nvia = \"192.168.0.1\"\ntable = 100")
    );
    assert!(r.invalid.is_none(), "{:?}", r.invalid);
}

#[test]
fn sync_groups_keep_defined_members() {
    let r = import(
        "vrrp_sync_group G {\n group {\n a\n b\n missing\n }\n}\nvrrp_instance a {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.1/24\n }\n}\nvrrp_instance b {\n interface eth1\n virtual_router_id 2\n virtual_ipaddress {\n 10.0.1.1/24\n }\n}\n",
    );
    assert!(r.toml.contains("members = [\"a\", \"b\"]"));
    assert!(r.invalid.is_none());
}

#[test]
fn no_instance_fails() {
    let r = import("global_defs {\n router_id x\n}\n");
    assert_eq!(r.outcome(), Outcome::Failed);
}

#[test]
fn strict_mode_turns_accept_off() {
    let r = import(
        "global_defs {\n vrrp_strict\n}\nvrrp_instance v {\n interface eth0\n virtual_router_id 5\n virtual_ipaddress {\n 10.0.0.100/24\n }\n}\n",
    );
    assert!(r.toml.contains("accept_mode = false"));
}

#[test]
fn track_files_keep_keepalived_semantics() {
    let r = import(
        "vrrp_track_file f {\n file /run/prio\n weight 3\n}\nvrrp_instance v {\n interface eth0\n virtual_router_id 5\n track_file {\n f\n }\n virtual_ipaddress {\n 10.0.0.100/24\n }\n}\n",
    );
    assert_eq!(r.outcome(), Outcome::Exact, "{:#?}", r.diagnostics);
    assert!(
        r.toml
            .contains("[[instance.track_file]]\npath = \"/run/prio\"\nweight = 3")
    );
}

#[test]
fn ipv6_instances_run_version_3() {
    let r = import(
        "vrrp_instance v6 {\n interface eth0\n virtual_router_id 5\n virtual_ipaddress {\n fe80::1/64\n 2001:db8::1/64\n }\n}\n",
    );
    assert!(r.toml.contains("version = 3"), "{}", r.toml);
    assert!(r.invalid.is_none(), "{:?}", r.invalid);
}

#[test]
fn excluded_addresses_become_vips_with_a_warning() {
    let r = import(
        "vrrp_instance v {\n interface eth0\n virtual_router_id 5\n virtual_ipaddress {\n 10.0.0.100/24\n }\n virtual_ipaddress_excluded {\n 10.0.0.101/24\n }\n}\n",
    );
    assert!(has(&r, Severity::Approximation, "not carried in adverts"));
    assert!(r.toml.contains("address = \"10.0.0.101/24\""));
}

#[test]
fn a_vip_on_lo_becomes_a_host_prefix() {
    let r = import(
        "vrrp_instance v {\n interface eth0\n virtual_router_id 5\n virtual_ipaddress {\n 10.1.255.1/24 dev lo\n }\n}\n",
    );
    assert!(r.toml.contains("address = \"10.1.255.1/32\""));
    assert!(has(&r, Severity::Approximation, "whole prefix local"));
}

#[test]
fn min_ttl_255_beyond_a_router_is_explained() {
    let opts = ImportOptions {
        translate: TranslateOptions {
            src_prefix_len: Some(24),
        },
        ..Default::default()
    };
    let r = import_text(
        "vrrp_instance v {\n interface eth0\n virtual_router_id 5\n unicast_src_ip 10.1.1.10\n unicast_peer {\n 10.1.2.10 min_ttl 255\n }\n virtual_ipaddress {\n 10.1.255.1/32 dev lo\n }\n}\n",
        "k.conf",
        &opts,
    );
    assert!(has(&r, Severity::Approximation, "arrive below 255"));
    assert!(r.toml.contains("ttl_min = 240"));
    assert!(r.invalid.is_none(), "{:?}", r.invalid);
}
