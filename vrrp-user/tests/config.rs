//! Configuration loading: the shipped examples, each validation rule with
//! its exact message and position, and reload comparison.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use vrrp_user::config::{
    self, Config, Datapath, ReloadClass, Scope, Transport, Version, load, parse,
};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
}

fn ok(text: &str) -> Config {
    match parse(text, "t.toml") {
        Ok(c) => c,
        Err(e) => panic!("expected a valid config, got:\n{e}"),
    }
}

fn errors(text: &str) -> Vec<String> {
    match parse(text, "t.toml") {
        Ok(_) => panic!("expected errors, the config was accepted"),
        Err(e) => e.errors().iter().map(|e| e.to_string()).collect(),
    }
}

/// Asserts the text yields exactly this one error.
#[track_caller]
fn one_error(text: &str, expected: &str) {
    assert_eq!(errors(text), vec![expected.to_string()]);
}

/// A valid cross-subnet instance; `extra` lands on line 8, before the
/// sub-tables, so positions in tests that use it are easy to count.
fn instance_with(extra: &str) -> String {
    format!(
        r#"[[instance]]
name = "vi1"
interface = "eth0"
vrid = 51
priority = 100
mode = "unicast"
unicast_src = "10.1.1.10/24"
{extra}

[[instance.peer]]
address = "10.1.2.10"

[[instance.vip]]
address = "10.1.255.1/32"
dev = "lo"
"#
    )
}

// ---------------------------------------------------------------- examples

#[test]
fn example_node_a_loads_as_documented() {
    let c = load(&example("cross-subnet-node-a.toml")).unwrap_or_else(|e| panic!("{e}"));
    let i = c.instance("vi51").expect("instance vi51");
    assert_eq!(i.vrid, 51);
    assert_eq!(i.priority, 150);
    assert_eq!(i.version, Version::V3);
    assert_eq!(i.advert_interval, Duration::from_millis(100));
    let Transport::Unicast { source, peers } = &i.transport else {
        panic!("node A must be unicast");
    };
    assert_eq!(source.to_string(), "10.1.1.10/24");
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].address, "10.1.2.10".parse::<IpAddr>().unwrap());
    assert_eq!((peers[0].ttl_min, peers[0].ttl_max), (240, 255));
    assert_eq!(i.vips[0].address.to_string(), "10.1.255.1/32");
    assert_eq!(i.vips[0].dev, "lo");
    assert!(i.is_routed(&i.vips[0]));
    assert_eq!(i.vip_lease, Some(Duration::from_secs(10)));
    assert_eq!(i.track.scripts[0].weight, 0);
    assert_eq!(c.global.route_protocol.number, 252);
}

#[test]
fn example_node_b_mirrors_node_a() {
    let a = load(&example("cross-subnet-node-a.toml")).unwrap_or_else(|e| panic!("{e}"));
    let b = load(&example("cross-subnet-node-b.toml")).unwrap_or_else(|e| panic!("{e}"));
    let (ia, ib) = (&a.instances[0], &b.instances[0]);
    assert_eq!(ia.vrid, ib.vrid);
    assert_eq!(ia.vips, ib.vips);
    assert_eq!(ia.advert_interval, ib.advert_interval);
    assert!(ib.priority < ia.priority);
    let (
        Transport::Unicast {
            source: sa,
            peers: pa,
        },
        Transport::Unicast {
            source: sb,
            peers: pb,
        },
    ) = (&ia.transport, &ib.transport)
    else {
        panic!("both nodes must be unicast");
    };
    // Each node's peer is the other's source.
    assert_eq!(pa[0].address, sb.addr());
    assert_eq!(pb[0].address, sa.addr());
}

/// The dual-stack pair: one IPv4 and one IPv6 instance per node, with the same VRID
/// (VRIDs are per family), in one sync group; node B mirrors node A.
#[test]
fn example_dual_stack_pair_loads_as_documented() {
    let a = load(&example("dual-stack-node-a.toml")).unwrap_or_else(|e| panic!("{e}"));
    let b = load(&example("dual-stack-node-b.toml")).unwrap_or_else(|e| panic!("{e}"));
    let six = a.instance("svc6").expect("instance svc6");
    assert_eq!(six.family(), config::Family::V6);
    assert_eq!(six.version, Version::V3);
    assert_eq!(six.vrid, a.instance("svc4").unwrap().vrid);
    let Transport::Unicast { source, peers } = &six.transport else {
        panic!("svc6 must be unicast");
    };
    assert_eq!(source.to_string(), "2001:db8:1::10/64");
    assert_eq!(
        peers[0].address,
        "2001:db8:2::10".parse::<IpAddr>().unwrap()
    );
    assert_eq!(six.vips[0].address.to_string(), "2001:db8:ff::1/128");
    assert!(six.is_routed(&six.vips[0]));
    assert_eq!(a.sync_groups[0].members, ["svc4", "svc6"]);
    for name in ["svc4", "svc6"] {
        let (ia, ib) = (a.instance(name).unwrap(), b.instance(name).unwrap());
        assert_eq!((ia.vrid, &ia.vips), (ib.vrid, &ib.vips));
        assert!(ib.priority < ia.priority);
        let (
            Transport::Unicast {
                source: sa,
                peers: pa,
            },
            Transport::Unicast {
                source: sb,
                peers: pb,
            },
        ) = (&ia.transport, &ib.transport)
        else {
            panic!("both nodes must be unicast");
        };
        assert_eq!((pa[0].address, pb[0].address), (sb.addr(), sa.addr()));
    }
}

#[test]
fn example_same_subnet_loads() {
    let c = load(&example("same-subnet.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.instances.len(), 2);
    let front = c.instance("front").unwrap();
    assert_eq!(front.transport, Transport::Multicast);
    assert_eq!(front.vips[0].dev, "eth0");
    assert!(!front.is_routed(&front.vips[0]));
    assert_eq!(front.vips[0].label.as_deref(), Some("eth0:vip"));
    assert_eq!(front.garp.repeat, 5);
    assert_eq!(front.garp.delay, Duration::from_secs(2));
    // dev defaults to the instance's interface.
    assert_eq!(c.instance("back").unwrap().vips[0].dev, "eth1");
    assert_eq!(c.sync_group_of("back").unwrap().name, "gateway");
}

#[test]
fn load_reports_an_unreadable_file_without_position() {
    let e = load(Path::new("/nonexistent/vrrpd.toml")).unwrap_err();
    assert_eq!(e.errors().len(), 1);
    assert!(
        e.to_string()
            .starts_with("/nonexistent/vrrpd.toml: cannot read the configuration:"),
        "{e}"
    );
}

// ---------------------------------------------------------------- defaults

#[test]
fn defaults_are_filled_in() {
    let c = ok(&instance_with(""));
    let i = &c.instances[0];
    assert_eq!(i.version, Version::V3);
    assert_eq!(i.advert_interval, Duration::from_secs(1));
    assert!(i.preempt);
    assert_eq!(i.preempt_delay, Duration::ZERO);
    assert!(i.accept_mode);
    assert_eq!(i.ttl, 255);
    assert_eq!(i.vip_lease, None);
    assert!(!i.v3_checksum_as_v2);
    assert_eq!(i.datapath, Datapath::Auto);
    assert_eq!(i.vips[0].scope, Scope::Global);
    assert_eq!(i.hooks.timeout, Duration::from_secs(10));
    assert_eq!(
        c.global.status_socket,
        PathBuf::from("/run/vrrpd/vrrpd.sock")
    );
    assert_eq!(c.global.route_protocol.number, 252);
    assert_eq!(c.global.route_protocol.name, "vrrpd");
    assert_eq!(c.global.metrics_listen, None);
}

#[test]
fn peer_ttl_min_defaults_to_255_only_on_the_same_subnet() {
    let c = ok(r#"[[instance]]
name = "vi1"
interface = "eth0"
vrid = 51
priority = 100
mode = "unicast"
unicast_src = "10.1.1.10/24"
peer = [{ address = "10.1.1.11" }, { address = "10.1.2.10" }]
vip = [{ address = "10.1.255.1/32", dev = "lo" }]
"#);
    let Transport::Unicast { peers, .. } = &c.instances[0].transport else {
        panic!("unicast");
    };
    assert_eq!((peers[0].ttl_min, peers[0].ttl_max), (255, 255));
    assert_eq!((peers[1].ttl_min, peers[1].ttl_max), (1, 255));
}

#[test]
fn instance_datapath_overrides_global_default() {
    let c = ok(&format!(
        "[global]\ndatapath = \"socket\"\n\n{}",
        instance_with("")
    ));
    assert_eq!(c.instances[0].datapath, Datapath::Socket);
    let c = ok(&format!(
        "[global]\ndatapath = \"socket\"\n\n{}",
        instance_with("datapath = \"xdp\"")
    ));
    assert_eq!(c.instances[0].datapath, Datapath::Xdp);
}

#[test]
fn routes_inherit_the_global_protocol() {
    let c = ok(&format!(
        "[global]\nroute_protocol = 200\n\n{}\n[[instance.route]]\nprefix = \"10.1.255.0/24\"\ndev = \"lo\"\n",
        instance_with("")
    ));
    let r = &c.instances[0].routes[0];
    assert_eq!((r.protocol, r.table, r.metric), (200, 254, 0));
    assert_eq!(r.dev.as_deref(), Some("lo"));
    assert_eq!(r.via, None);
}

// ---------------------------------------------------------------- keepalived traps

#[test]
fn unicast_without_peers_is_an_error_not_a_fallback() {
    one_error(
        r#"[[instance]]
name = "vi1"
interface = "eth0"
vrid = 51
priority = 100
mode = "unicast"
unicast_src = "10.1.1.10/24"

[[instance.vip]]
address = "10.1.255.1/32"
dev = "lo"
"#,
        "t.toml:6:8: instance \"vi1\": unicast mode needs at least one peer \
         (keepalived would silently fall back to multicast)",
    );
}

#[test]
fn unicast_without_source_is_an_error() {
    one_error(
        r#"[[instance]]
name = "vi1"
interface = "eth0"
vrid = 51
priority = 100
mode = "unicast"
peer = [{ address = "10.1.2.10" }]
vip = [{ address = "10.1.255.1/32", dev = "lo" }]
"#,
        "t.toml:6:8: instance \"vi1\": unicast mode needs unicast_src = \"<address>/<prefix>\": \
         this node's address on the advert interface, with the link's prefix length",
    );
}

#[test]
fn unicast_src_needs_a_prefix_length() {
    let text = instance_with("").replace("\"10.1.1.10/24\"", "\"10.1.1.10\"");
    one_error(
        &text,
        "t.toml:7:15: instance \"vi1\": unicast_src = \"10.1.1.10\" needs a prefix length, \
         e.g. \"10.1.1.10/32\" with the link's prefix length (it tells same-subnet peers from routed ones)",
    );
}

#[test]
fn sub_second_interval_with_v2_is_an_error() {
    one_error(
        &instance_with("version = 2\nadvert_interval_ms = 500"),
        "t.toml:9:22: instance \"vi1\": advert_interval_ms = 500 needs version = 3: VRRPv2 \
         carries the interval in whole seconds (1000..255000 in steps of 1000)",
    );
    // Whole seconds are fine with v2.
    ok(&instance_with("version = 2\nadvert_interval_ms = 2000"));
}

#[test]
fn v3_interval_must_be_whole_centiseconds() {
    one_error(
        &instance_with("advert_interval_ms = 105"),
        "t.toml:8:22: instance \"vi1\": advert_interval_ms = 105 must be a multiple of 10: \
         VRRPv3 carries the interval in centiseconds",
    );
    one_error(
        &instance_with("advert_interval_ms = 50000"),
        "t.toml:8:22: instance \"vi1\": advert_interval_ms = 50000 is out of range 10..40950 for VRRPv3",
    );
}

#[test]
fn peer_equal_to_source_is_an_error() {
    let text = instance_with("").replace("address = \"10.1.2.10\"", "address = \"10.1.1.10\"");
    one_error(
        &text,
        "t.toml:11:11: instance \"vi1\": peer.address = \"10.1.1.10\" is this node's own \
         unicast_src; list the other routers",
    );
}

#[test]
fn duplicate_peer_is_an_error() {
    let text = instance_with("peer = [{ address = \"10.1.2.10\" }, { address = \"10.1.2.10\" }]")
        .replace("[[instance.peer]]\naddress = \"10.1.2.10\"\n", "");
    one_error(
        &text,
        "t.toml:8:48: instance \"vi1\": peer.address = \"10.1.2.10\" is listed twice",
    );
}

#[test]
fn duplicate_vrid_on_one_interface_is_an_error() {
    let second = instance_with("")
        .replace("\"vi1\"", "\"vi2\"")
        .replace("10.1.255.1/32", "10.1.255.2/32");
    let text = format!("{}\n{second}", instance_with(""));
    // The second instance starts on line 17.
    one_error(
        &text,
        "t.toml:20:8: instance \"vi2\": vrid = 51 is already used on eth0 by instance \"vi1\" \
         (line 4); VRIDs must be unique per interface",
    );
    // Another interface is fine.
    ok(&format!(
        "{}\n{}",
        instance_with(""),
        second.replace("eth0", "eth1")
    ));
}

#[test]
fn same_vrid_for_ipv4_and_ipv6_is_allowed() {
    let v6 = r#"
[[instance]]
name = "vi1-v6"
interface = "eth0"
vrid = 51
priority = 100
mode = "unicast"
unicast_src = "2001:db8:1::10/64"
peer = [{ address = "2001:db8:2::10" }]
vip = [{ address = "2001:db8:ff::1/128", dev = "lo" }]
"#;
    ok(&format!("{}{v6}", instance_with("")));
}

#[test]
fn mixed_address_families_are_an_error() {
    let text = instance_with("").replace("address = \"10.1.2.10\"", "address = \"2001:db8::10\"");
    one_error(
        &text,
        "t.toml:11:11: instance \"vi1\": peer.address = \"2001:db8::10\" is IPv6 but this instance \
         is IPv4 (vip.address \"10.1.255.1\" at line 14); use one instance per address family",
    );
}

#[test]
fn routed_vip_inside_the_source_subnet_is_an_error() {
    let text = instance_with("").replace("10.1.255.1/32", "10.1.1.50/32");
    one_error(
        &text,
        "t.toml:14:11: instance \"vi1\": routed vip \"10.1.1.50/32\" (dev lo) overlaps \
         unicast_src's subnet 10.1.1.0/24: a routed VIP needs its own virtual subnet, distinct \
         from the peers' subnets",
    );
}

#[test]
fn routed_vip_inside_a_peer_subnet_is_an_error() {
    // Without a declared prefix the peer's subnet is assumed to be a /24.
    let text = instance_with("").replace("10.1.255.1/32", "10.1.2.50/32");
    one_error(
        &text,
        "t.toml:14:11: instance \"vi1\": routed vip \"10.1.2.50/32\" (dev lo) overlaps peer \
         10.1.2.10's subnet 10.1.2.0/24 (assumed /24; write the peer as \"10.1.2.10/<prefix>\" to \
         state its subnet): a routed VIP needs its own virtual subnet, distinct from the peers' subnets",
    );
    // A declared /25 puts 10.1.2.200 outside the peer's subnet.
    let text = instance_with("")
        .replace("10.1.255.1/32", "10.1.2.200/32")
        .replace("address = \"10.1.2.10\"", "address = \"10.1.2.10/25\"");
    ok(&text);
}

#[test]
fn link_vip_with_a_peer_in_another_subnet_is_an_error() {
    let text = instance_with("").replace(
        "address = \"10.1.255.1/32\"\ndev = \"lo\"",
        "address = \"10.1.1.100/24\"",
    );
    one_error(
        &text,
        "t.toml:14:11: instance \"vi1\": vip \"10.1.1.100/24\" is on the advert link eth0, but peer \
         10.1.2.10 is outside 10.1.1.0/24: when that peer is master the VIP would be off-link there; \
         use a routed VIP (dev = \"lo\") in a virtual subnet",
    );
}

#[test]
fn vip_without_prefix_length_is_an_error() {
    let text = instance_with("").replace("10.1.255.1/32", "10.1.255.1");
    one_error(
        &text,
        "t.toml:14:11: instance \"vi1\": vip.address = \"10.1.255.1\" needs a prefix length, e.g. \
         \"10.1.255.1/32\" (keepalived silently assumes a host prefix)",
    );
}

#[test]
fn vip_on_lo_must_be_a_host_prefix() {
    let text = instance_with("").replace("10.1.255.1/32", "10.1.255.1/24");
    one_error(
        &text,
        "t.toml:14:11: instance \"vi1\": vip.address = \"10.1.255.1/24\" is on lo, so it must be a \
         host prefix (/32): the kernel treats every address of a prefix added to lo as local, \
         swallowing all of 10.1.255.0/24",
    );
}

#[test]
fn vip_equal_to_a_real_address_is_an_error() {
    one_error(
        &instance_with("").replace("10.1.255.1/32", "10.1.1.10/32"),
        "t.toml:14:11: instance \"vi1\": vip.address = \"10.1.1.10/32\" is this node's own \
         unicast_src; only the address owner (priority = 255) may use its real address as a VIP, a \
         backup would remove it",
    );
    one_error(
        &instance_with("").replace("10.1.255.1/32", "10.1.2.10/32"),
        "t.toml:14:11: instance \"vi1\": vip.address = \"10.1.2.10/32\" is the address of peer 10.1.2.10",
    );
}

#[test]
fn ipv6_multicast_needs_a_link_local_first_vip() {
    let text = |vips: &str| {
        format!(
            "[[instance]]\nname = \"vi6\"\ninterface = \"eth0\"\nvrid = 7\npriority = 100\n\
             mode = \"multicast\"\nvip = [{vips}]\n"
        )
    };
    one_error(
        &text("{ address = \"2001:db8::1/64\" }"),
        "t.toml:7:20: instance \"vi6\": vip.address = \"2001:db8::1/64\": the first VIP of an IPv6 \
         multicast instance must be the virtual router's link-local address (fe80::/10), as RFC 9568 \
         requires and other routers expect",
    );
    ok(&text(
        "{ address = \"fe80::1/64\" }, { address = \"2001:db8::1/64\" }",
    ));
}

#[test]
fn more_than_twenty_vips_is_an_error() {
    let vips: String = (1..=21)
        .map(|n| format!("[[instance.vip]]\naddress = \"10.1.255.{n}/32\"\ndev = \"lo\"\n"))
        .collect();
    let text = format!(
        r#"[[instance]]
name = "vi1"
interface = "eth0"
vrid = 51
priority = 100
mode = "unicast"
unicast_src = "10.1.1.10/24"
peer = [{{ address = "10.1.2.10" }}]
{vips}"#
    );
    // The 21st VIP table starts on line 9 + 20 * 3 = 69.
    one_error(
        &text,
        "t.toml:70:11: instance \"vi1\": has 21 VIPs; the datapath carries at most 20 per instance \
         (split them over several instances)",
    );
}

#[test]
fn instance_without_vip_is_an_error() {
    let text = instance_with("").replace(
        "[[instance.vip]]\naddress = \"10.1.255.1/32\"\ndev = \"lo\"\n",
        "",
    );
    one_error(
        &text,
        "t.toml:2:8: instance \"vi1\": needs at least one [[instance.vip]]: an advert carries one or \
         more addresses",
    );
}

#[test]
fn ttl_min_above_ttl_max_is_an_error() {
    let text = instance_with("").replace(
        "address = \"10.1.2.10\"",
        "address = \"10.1.2.10\"\nttl_min = 200\nttl_max = 100",
    );
    one_error(
        &text,
        "t.toml:12:11: instance \"vi1\": peer.ttl_min = 200 is above ttl_max = 100: every advert \
         would be dropped",
    );
}

#[test]
fn ttl_min_255_for_a_routed_peer_is_an_error() {
    let text = instance_with("").replace(
        "address = \"10.1.2.10\"",
        "address = \"10.1.2.10\"\nttl_min = 255",
    );
    one_error(
        &text,
        "t.toml:12:11: instance \"vi1\": peer.ttl_min = 255 would drop every advert from 10.1.2.10: \
         it is outside unicast_src's subnet 10.1.1.0/24, so its adverts cross a router and arrive \
         with TTL below 255",
    );
}

#[test]
fn send_ttl_1_to_a_routed_peer_is_an_error() {
    one_error(
        &instance_with("ttl = 1"),
        "t.toml:8:7: instance \"vi1\": ttl = 1 cannot reach peer 10.1.2.10: it is in another subnet \
         and each router decrements the TTL",
    );
}

#[test]
fn multicast_mode_rejects_unicast_settings() {
    let text = instance_with("ttl = 64")
        .replace("mode = \"unicast\"", "mode = \"multicast\"")
        .replace("10.1.255.1/32\"\ndev = \"lo\"", "10.1.1.100/24\"");
    assert_eq!(
        errors(&text),
        vec![
            "t.toml:7:15: instance \"vi1\": unicast_src is only used with mode = \"unicast\"",
            "t.toml:8:7: instance \"vi1\": ttl = 64: multicast adverts must be sent with ttl = 255 \
             (receivers drop anything else)",
            "t.toml:11:11: instance \"vi1\": peer is only used with mode = \"unicast\"; multicast \
             adverts reach every router on the link",
        ]
    );
}

#[test]
fn interface_lo_and_overlong_names_are_errors() {
    one_error(
        &instance_with("").replace("interface = \"eth0\"", "interface = \"lo\""),
        "t.toml:3:13: instance \"vi1\": interface = \"lo\" cannot carry adverts to other routers; \
         name the link (or the uplinks) that reach the peers and put routed VIPs on lo with \
         vip.dev = \"lo\"",
    );
    one_error(
        &instance_with("").replace("\"eth0\"", "\"enp0s31f6-uplink0\""),
        "t.toml:3:13: instance \"vi1\": interface = \"enp0s31f6-uplink0\" is 17 bytes long; Linux \
         interface names have at most 15",
    );
}

#[test]
fn priority_zero_is_an_error() {
    one_error(
        &instance_with("").replace("priority = 100", "priority = 0"),
        "t.toml:5:12: instance \"vi1\": priority = 0 is reserved on the wire for \"the master is \
         leaving\"; use 1..255",
    );
}

#[test]
fn address_owner_rules() {
    let owner = |extra: &str| instance_with(extra).replace("priority = 100", "priority = 255");
    ok(&owner(""));
    one_error(
        &owner("preempt = false"),
        "t.toml:8:11: instance \"vi1\": preempt = false contradicts priority = 255: the address \
         owner always takes over",
    );
    one_error(
        &owner("preempt_delay_ms = 1000"),
        "t.toml:8:20: instance \"vi1\": preempt_delay_ms has no effect with priority = 255: the \
         address owner takes over at once",
    );
    one_error(
        &owner("track_interface = [{ name = \"eth1\", weight = -20 }]"),
        "t.toml:8:46: instance \"vi1\": track_interface.weight = -20 cannot change the priority of \
         the address owner (priority = 255); use weight = 0 to go to FAULT instead, or a priority below 255",
    );
    one_error(
        &owner("accept_mode = false"),
        "t.toml:8:15: instance \"vi1\": accept_mode = false contradicts priority = 255: the address \
         owner always accepts",
    );
    // Weight 0 (FAULT) is fine for the owner.
    ok(&owner("track_interface = [{ name = \"eth1\" }]"));
}

#[test]
fn preempt_delay_without_preempt_is_an_error() {
    one_error(
        &instance_with("preempt = false\npreempt_delay_ms = 5000"),
        "t.toml:9:20: instance \"vi1\": preempt_delay_ms has no effect with preempt = false",
    );
}

#[test]
fn v2_specific_rules() {
    one_error(
        &instance_with("v3_checksum_as_v2 = true")
            .replace("10.1.1.10/24", "2001:db8:1::10/64")
            .replace("10.1.2.10", "2001:db8:2::10")
            .replace("10.1.255.1/32", "2001:db8:ff::1/128"),
        "t.toml:8:21: instance \"vi1\": v3_checksum_as_v2 = true is an IPv4 compatibility option; \
         IPv6 checksums always cover the pseudo-header",
    );
    one_error(
        &instance_with("version = 2\nadvert_interval_ms = 1000\nv3_checksum_as_v2 = true"),
        "t.toml:10:21: instance \"vi1\": v3_checksum_as_v2 = true only applies to version = 3",
    );
    let v6 = r#"[[instance]]
name = "vi1"
interface = "eth0"
vrid = 51
version = 2
priority = 100
mode = "multicast"
vip = [{ address = "fe80::1/64" }]
"#;
    one_error(
        v6,
        "t.toml:5:11: instance \"vi1\": version = 2 is IPv4 only (RFC 3768); IPv6 needs version = 3",
    );
}

#[test]
fn short_vip_lease_is_an_error() {
    one_error(
        &instance_with("advert_interval_ms = 2000\nvip_lease_s = 5"),
        "t.toml:9:15: instance \"vi1\": vip_lease_s = 5 is shorter than 3 advert intervals \
         (3 × 2000 ms): the VIP could expire between refreshes",
    );
    one_error(
        &instance_with("vip_lease_s = 1"),
        "t.toml:8:15: instance \"vi1\": vip_lease_s = 1 is out of range 3..86400",
    );
}

#[test]
fn vip_label_must_match_its_device() {
    let text = instance_with("").replace("dev = \"lo\"", "dev = \"lo\"\nlabel = \"eth0:vip\"");
    one_error(
        &text,
        "t.toml:16:9: instance \"vi1\": vip.label = \"eth0:vip\": must be \"lo\" or start with \
         \"lo:\" (the VIP's dev)",
    );
}

#[test]
fn garp_without_a_link_vip_is_an_error() {
    let text = format!("{}\n[instance.garp]\nrepeat = 3\n", instance_with(""));
    one_error(
        &text,
        "t.toml:17:1: instance \"vi1\": garp has no effect: no VIP is on the advert link eth0 \
         (routed VIPs are announced by the routing daemon, not by ARP); remove [instance.garp]",
    );
}

#[test]
fn route_rules() {
    let route = |body: &str| format!("{}\n[[instance.route]]\n{body}\n", instance_with(""));
    // The route table starts on line 17.
    one_error(
        &route("prefix = \"10.1.255.1/24\"\ndev = \"lo\""),
        "t.toml:18:10: instance \"vi1\": route.prefix = \"10.1.255.1/24\" has host bits set; the \
         kernel wants \"10.1.255.0/24\" (or \"10.1.255.1/32\" for one host)",
    );
    one_error(
        &route("prefix = \"10.1.255.0/24\""),
        "t.toml:18:10: instance \"vi1\": route needs via, dev, or both",
    );
    one_error(
        &route("prefix = \"10.1.255.0/24\"\ndev = \"lo\"\nprotocol = 186"),
        "t.toml:20:12: instance \"vi1\": route.protocol = 186 is the route protocol of \"bgp\"; vrrpd \
         needs its own number so its routes are not flushed or claimed by another owner (e.g. 252)",
    );
    one_error(
        &route("prefix = \"10.1.255.0/24\"\ndev = \"lo\"\ntable = 255"),
        "t.toml:20:9: instance \"vi1\": route.table = 255 is the kernel's \"local\" table; use main \
         (254) or a table of your own",
    );
    one_error(
        &route("prefix = \"2001:db8::/64\"\nvia = \"fe80::1\""),
        "t.toml:19:7: instance \"vi1\": route.via = \"fe80::1\" is link-local, so the route also needs dev",
    );
    one_error(
        &route("prefix = \"10.9.0.0/16\"\nvia = \"2001:db8::1\""),
        "t.toml:19:7: instance \"vi1\": route.via = \"2001:db8::1\" is IPv6 but route.prefix \
         \"10.9.0.0/16\" is IPv4",
    );
}

#[test]
fn hooks_need_real_commands() {
    let hooks = |body: &str| format!("{}\n[instance.hooks]\n{body}\n", instance_with(""));
    one_error(
        &hooks("on_master = []"),
        "t.toml:18:13: instance \"vi1\": hooks.on_master is an empty command",
    );
    one_error(
        &hooks("on_backup = [\"\"]"),
        "t.toml:18:13: instance \"vi1\": hooks.on_backup has an empty program name",
    );
    one_error(
        &hooks("on_fault = [\"notify.sh fault\"]"),
        "t.toml:18:12: instance \"vi1\": hooks.on_fault: program \"notify.sh fault\" must be an \
         absolute path; commands run without a shell or PATH (write one list element per argument, \
         or [\"/bin/sh\", \"-c\", \"...\"])",
    );
    let c = ok(&hooks("on_stop = [\"/bin/true\"]\ntimeout_ms = 2500"));
    assert_eq!(
        c.instances[0].hooks.on_stop,
        Some(vec!["/bin/true".to_string()])
    );
    assert_eq!(c.instances[0].hooks.timeout, Duration::from_millis(2500));
}

#[test]
fn track_script_rules() {
    let script = |body: &str| {
        format!(
            "{}\n[[instance.track_script]]\nname = \"chk\"\ncommand = [\"/bin/true\"]\n{body}\n",
            instance_with("")
        )
    };
    one_error(
        &script("interval_ms = 1000\ntimeout_ms = 3000"),
        "t.toml:21:14: instance \"vi1\": track_script.timeout_ms = 3000 exceeds interval_ms = 1000: \
         runs would overlap",
    );
    let dup = format!(
        "{}\n[[instance.track_script]]\nname = \"chk\"\ncommand = [\"/bin/false\"]\n",
        script("")
    );
    one_error(
        &dup,
        "t.toml:23:8: instance \"vi1\": track_script.name = \"chk\" is listed twice",
    );
    let c = ok(&script("rise = 2\nfall = 3\nweight = -30"));
    let s = &c.instances[0].track.scripts[0];
    assert_eq!((s.rise, s.fall, s.weight), (2, 3, -30));
    assert_eq!(
        (s.interval, s.timeout),
        (Duration::from_secs(1), Duration::from_secs(1))
    );
}

#[test]
fn track_file_needs_an_absolute_path() {
    one_error(
        &instance_with("track_file = [{ path = \"run/down\" }]"),
        "t.toml:8:24: instance \"vi1\": track_file.path = \"run/down\" must be an absolute path",
    );
}

#[test]
fn track_route_takes_names_numbers_and_defaults() {
    let c = ok(&instance_with(
        "track_route = [{ prefix = \"0.0.0.0/0\", protocol = \"bgp\", min_nexthops = 2, \
         rise_ms = 3000 }, { prefix = \"10.1.0.2/32\", protocol = 12, table = 100, weight = -50 }]",
    ));
    let routes = &c.instances[0].track.routes;
    assert_eq!(routes.len(), 2);
    assert_eq!(
        routes[0].prefix,
        "0.0.0.0/0".parse::<ipnet::IpNet>().unwrap()
    );
    assert_eq!(
        (routes[0].table, routes[0].protocol, routes[0].min_nexthops),
        (254, Some(186), 2)
    );
    assert_eq!(
        (routes[0].rise, routes[0].weight),
        (Duration::from_secs(3), 0)
    );
    assert_eq!(
        (routes[1].table, routes[1].protocol, routes[1].min_nexthops),
        (100, Some(12), 1)
    );
    assert_eq!((routes[1].rise, routes[1].weight), (Duration::ZERO, -50));
    let any = ok(&instance_with(
        "track_route = [{ prefix = \"10.1.2.0/24\" }]",
    ));
    assert_eq!(any.instances[0].track.routes[0].protocol, None);
    assert_eq!(
        config::tracked_route(&any.instances[0].track.routes[0]),
        "route:10.1.2.0/24 table 254"
    );
}

#[test]
fn track_route_errors_name_the_field() {
    one_error(
        &instance_with("track_route = [{ prefix = \"10.1.2.1/24\" }]"),
        "t.toml:8:27: instance \"vi1\": track_route.prefix = \"10.1.2.1/24\" has host bits set; \
         the kernel wants \"10.1.2.0/24\" (or \"10.1.2.1/32\" for one host)",
    );
    let e = errors(&instance_with(
        "track_route = [{ prefix = \"0.0.0.0/0\", protocol = \"bgpp\" }]",
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with(
            "t.toml:8:51: instance \"vi1\": track_route.protocol = \"bgpp\" is not a route \
             protocol name; use a number (0-255) or one of: unspec, redirect, kernel"
        ),
        "{e:?}"
    );
    one_error(
        &instance_with("track_route = [{ prefix = \"0.0.0.0/0\", protocol = 300 }]"),
        "t.toml:8:51: instance \"vi1\": track_route.protocol = 300 is out of range 0..255",
    );
    one_error(
        &instance_with("track_route = [{ prefix = \"0.0.0.0/0\", min_nexthops = 0 }]"),
        "t.toml:8:55: instance \"vi1\": track_route.min_nexthops = 0 is out of range 1..256",
    );
    one_error(
        &instance_with(
            "track_route = [{ prefix = \"0.0.0.0/0\" }, { prefix = \"0.0.0.0/0\", weight = -10 }]",
        ),
        "t.toml:8:53: instance \"vi1\": track_route.prefix = \"0.0.0.0/0\" is tracked twice in \
         table 254",
    );
    let e = errors(&instance_with(
        "track_route = [{ prefix = \"0.0.0.0/0\", protocol = true }]",
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("expected a protocol number (0-255) or name"),
        "{e:?}"
    );
}

// ---------------------------------------------------------------- cross-instance

#[test]
fn duplicate_instance_names_are_an_error() {
    let second = instance_with("")
        .replace("vrid = 51", "vrid = 52")
        .replace("10.1.255.1/32", "10.1.255.2/32");
    one_error(
        &format!("{}\n{second}", instance_with("")),
        "t.toml:18:8: instance \"vi1\": name is already used by the instance at line 2",
    );
}

#[test]
fn a_vip_in_two_instances_is_an_error() {
    let second = instance_with("")
        .replace("\"vi1\"", "\"vi2\"")
        .replace("vrid = 51", "vrid = 52");
    one_error(
        &format!("{}\n{second}", instance_with("")),
        "t.toml:30:11: instance \"vi2\": vip.address = \"10.1.255.1/32\" is already a VIP of instance \
         \"vi1\" (line 14)",
    );
}

#[test]
fn a_route_in_two_instances_is_an_error() {
    let route = "\n[[instance.route]]\nprefix = \"10.1.255.0/24\"\ndev = \"lo\"\n";
    let text = format!("{}{route}", two_instances()).replacen(
        "dev = \"lo\"\n",
        &format!("dev = \"lo\"\n{route}"),
        1,
    );
    // vi1's route is on lines 17..19, vi2's on 37..39.
    one_error(
        &text,
        "t.toml:38:10: instance \"vi2\": route 10.1.255.0/24 (table 254, metric 0) is already \
         installed by instance \"vi1\" (line 18)",
    );
}

fn two_instances() -> String {
    let second = instance_with("")
        .replace("\"vi1\"", "\"vi2\"")
        .replace("vrid = 51", "vrid = 52")
        .replace("10.1.255.1/32", "10.1.255.2/32");
    format!("{}\n{second}", instance_with(""))
}

#[test]
fn sync_group_rules() {
    // Two instances fill lines 1..31; groups start on line 33.
    let group = |body: &str| format!("{}\n{body}\n", two_instances());
    let c = ok(&group(
        "[[sync_group]]\nname = \"g\"\nmembers = [\"vi1\", \"vi2\"]",
    ));
    assert_eq!(c.sync_group_of("vi2").unwrap().members, vec!["vi1", "vi2"]);
    one_error(
        &group("[[sync_group]]\nname = \"g\"\nmembers = [\"vi1\", \"vi3\"]"),
        "t.toml:35:19: sync_group \"g\": member \"vi3\" is not a defined instance",
    );
    one_error(
        &group("[[sync_group]]\nname = \"g\"\nmembers = [\"vi1\"]"),
        "t.toml:35:11: sync_group \"g\": members needs at least two instances; a group of one \
         synchronizes nothing",
    );
    assert_eq!(
        errors(&group(
            "[[sync_group]]\nname = \"g\"\nmembers = [\"vi1\", \"vi2\"]\n\n\
             [[sync_group]]\nname = \"h\"\nmembers = [\"vi2\", \"vi1\"]",
        )),
        vec![
            "t.toml:39:12: sync_group \"h\": member \"vi2\" is already in sync group \"g\" (line 35); \
             an instance can be in one group only",
            "t.toml:39:19: sync_group \"h\": member \"vi1\" is already in sync group \"g\" (line 35); \
             an instance can be in one group only",
        ]
    );
    one_error(
        &group("[[sync_group]]\nname = \"g\"\nmembers = [\"vi1\", \"vi2\", \"vi1\"]"),
        "t.toml:35:26: sync_group \"g\": member \"vi1\" is listed twice",
    );
}

#[test]
fn a_file_without_instances_is_an_error() {
    one_error(
        "[global]\n",
        "t.toml:1:1: no [[instance]] defined: vrrpd would have nothing to do",
    );
}

// ---------------------------------------------------------------- global

#[test]
fn global_rules() {
    let global = |body: &str| format!("[global]\n{body}\n\n{}", instance_with(""));
    one_error(
        &global("status_socket = \"vrrpd.sock\""),
        "t.toml:2:17: global: status_socket = \"vrrpd.sock\" must be an absolute path",
    );
    let long = format!("/run/{}/s.sock", "x".repeat(110));
    one_error(
        &global(&format!("status_socket = \"{long}\"")),
        "t.toml:2:17: global: status_socket is 122 bytes long; a Unix socket path has at most 107",
    );
    one_error(
        &global("metrics_listen = \"127.0.0.1\""),
        "t.toml:2:18: global: metrics_listen = \"127.0.0.1\" must be address:port with a non-zero \
         port, e.g. \"127.0.0.1:9650\" or \"[::1]:9650\"",
    );
    one_error(
        &global("route_protocol = 12"),
        "t.toml:2:18: global: route_protocol = 12 is the route protocol of \"bird\"; vrrpd needs its \
         own number so its routes are not flushed or claimed by another owner (e.g. 252)",
    );
    one_error(
        &global("route_protocol_name = \"zebra\""),
        "t.toml:2:23: global: route_protocol_name = \"zebra\" already names route protocol 11; pick a \
         name of vrrpd's own",
    );
    let c = ok(&global(
        "metrics_listen = \"[::1]:9650\"\nscript_user = \"vrrp\"",
    ));
    assert_eq!(c.global.metrics_listen, Some("[::1]:9650".parse().unwrap()));
    assert_eq!(c.global.script_user.as_deref(), Some("vrrp"));
    assert_eq!(c.global.realtime, None);
    assert!(!c.global.lock_memory);
}

#[test]
fn global_realtime_rules() {
    let global = |body: &str| format!("[global]\n{body}\n\n{}", instance_with(""));
    one_error(
        &global("realtime_scheduling = \"rr\"\nrealtime_priority = 100"),
        "t.toml:3:21: global: realtime_priority = 100 is out of range 1..99 \
         (sched_setscheduler's real-time range)",
    );
    one_error(
        &global("realtime_priority = 5"),
        "t.toml:2:21: global: realtime_priority has no effect without realtime_scheduling = \
         \"fifo\" or \"rr\"",
    );
    let c = ok(&global("realtime_scheduling = \"rr\"\nlock_memory = true"));
    assert_eq!(
        c.global.realtime,
        Some(vrrp_user::config::Realtime {
            policy: vrrp_user::config::SchedPolicy::Rr,
            priority: 10,
        })
    );
    assert!(c.global.lock_memory);
    let c = ok(&global("realtime_scheduling = \"off\""));
    assert_eq!(c.global.realtime, None);
}

// ---------------------------------------------------------------- serde-level errors

#[test]
fn unknown_key_is_an_error_with_position() {
    let text = instance_with("").replace(
        "address = \"10.1.2.10\"",
        "address = \"10.1.2.10\"\nttl = 3",
    );
    one_error(
        &text,
        "t.toml:12:1: unknown field `ttl`, expected one of `address`, `ttl_min`, `ttl_max`",
    );
}

#[test]
fn keepalived_key_gets_a_hint() {
    let e = errors(&instance_with("advert_int = 1"));
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("t.toml:8:1: unknown field `advert_int`, expected one of"),
        "{}",
        e[0]
    );
    assert!(
        e[0].ends_with("(use advert_interval_ms (milliseconds, not seconds))"),
        "{}",
        e[0]
    );
}

#[test]
fn wrong_type_and_bad_enum_are_errors_with_position() {
    one_error(
        &instance_with("").replace("vrid = 51", "vrid = \"51\""),
        "t.toml:4:8: invalid type: string \"51\", expected an integer",
    );
    one_error(
        &instance_with("").replace("mode = \"unicast\"", "mode = \"broadcast\""),
        "t.toml:6:8: unknown variant `broadcast`, expected `unicast` or `multicast`",
    );
}

#[test]
fn missing_required_key_is_an_error() {
    let text = instance_with("").replace("vrid = 51\n", "");
    one_error(&text, "t.toml:1:1: missing field `vrid`");
}

#[test]
fn syntax_error_has_a_position() {
    one_error(
        "[[instance]]\nname = \"vi1\n",
        "t.toml:2:12: invalid basic string, expected `\"`",
    );
}

// ---------------------------------------------------------------- all errors at once

#[test]
fn all_errors_are_reported_at_once_in_file_order() {
    let text = r#"[global]
status_socket = "relative.sock"

[[instance]]
name = "vi1"
interface = "eth0"
vrid = 300
version = 2
priority = 100
advert_interval_ms = 100
mode = "unicast"
unicast_src = "10.1.1.10/24"

[[instance.vip]]
address = "10.1.255.1"
dev = "lo"

[[sync_group]]
name = "g"
members = ["vi1", "ghost"]
"#;
    let e = parse(text, "vrrpd.toml").unwrap_err();
    let lines: Vec<String> = e.errors().iter().map(|e| e.to_string()).collect();
    assert_eq!(
        lines,
        vec![
            "vrrpd.toml:2:17: global: status_socket = \"relative.sock\" must be an absolute path",
            "vrrpd.toml:7:8: instance \"vi1\": vrid = 300 is out of range 1..255",
            "vrrpd.toml:10:22: instance \"vi1\": advert_interval_ms = 100 needs version = 3: VRRPv2 \
             carries the interval in whole seconds (1000..255000 in steps of 1000)",
            "vrrpd.toml:11:8: instance \"vi1\": unicast mode needs at least one peer (keepalived \
             would silently fall back to multicast)",
            "vrrpd.toml:15:11: instance \"vi1\": vip.address = \"10.1.255.1\" needs a prefix length, \
             e.g. \"10.1.255.1/32\" (keepalived silently assumes a host prefix)",
            "vrrpd.toml:20:19: sync_group \"g\": member \"ghost\" is not a defined instance",
        ]
    );
    // Display prints one line per error.
    assert_eq!(e.to_string(), lines.join("\n"));
    let first = &e.errors()[0];
    assert_eq!(
        (first.file.as_str(), first.line, first.column),
        ("vrrpd.toml", 2, 17)
    );
}

// ---------------------------------------------------------------- reload

#[test]
fn reformatting_does_not_change_an_instance() {
    let a = ok(&instance_with(""));
    // Same meaning: comments, inline tables, and defaults spelled out.
    let b = ok(r#"# reformatted
[[instance]]
name = "vi1"
interface = "eth0"
vrid = 51
version = 3
priority = 100
advert_interval_ms = 1000
mode = "unicast"
unicast_src = "10.1.1.10/24"
preempt = true
peer = [{ address = "10.1.2.10", ttl_min = 1 }]
vip = [{ address = "10.1.255.1/32", dev = "lo", scope = "global" }]
"#);
    assert_eq!(a.instances[0], b.instances[0]);
    assert_eq!(a.instances[0].fingerprint(), b.instances[0].fingerprint());
    let d = config::diff(&a, &b);
    assert_eq!(d.change("vi1").unwrap().class, ReloadClass::Unchanged);
    assert!(d.added.is_empty() && d.removed.is_empty());
}

#[test]
fn diff_sorts_instances_into_added_removed_changed_unchanged() {
    let old = ok(&two_instances());
    let third = instance_with("")
        .replace("\"vi1\"", "\"vi3\"")
        .replace("vrid = 51", "vrid = 53")
        .replace("10.1.255.1/32", "10.1.255.3/32");
    // New: vi1 unchanged, vi2 removed, vi3 added; then vi1 changed priority.
    let new = ok(&format!("{}\n{third}", instance_with("")));
    let d = config::diff(&old, &new);
    assert_eq!(d.kept, [("vi1".to_string(), unchanged())]);
    assert_eq!(d.removed, ["vi2"]);
    assert_eq!(d.added, ["vi3"]);

    let changed = ok(&two_instances().replacen("priority = 100", "priority = 90", 1));
    let d = config::diff(&old, &changed);
    let c = d.change("vi1").unwrap();
    assert_eq!(
        (c.class, c.keys.as_slice()),
        (ReloadClass::Core, &["priority"][..])
    );
    assert_ne!(
        old.instances[0].fingerprint(),
        changed.instances[0].fingerprint()
    );
    assert_eq!(d.change("vi2"), Some(&unchanged()));
}

fn unchanged() -> config::InstanceChange {
    config::InstanceChange {
        class: ReloadClass::Unchanged,
        keys: Vec::new(),
    }
}

/// Every reload class, from an edit of one key of the reference instance.
#[test]
fn reload_classes_by_key() {
    let base = ok(&instance_with(""));
    let of = |text: &str| {
        let new = ok(text);
        let c = config::classify(&base.instances[0], &new.instances[0]);
        (c.class, c.keys)
    };
    let class = |edit: &str| of(&instance_with(edit));
    use ReloadClass::*;
    assert_eq!(class("ttl = 64"), (Value, vec!["ttl"]));
    assert_eq!(class("vip_lease_s = 30"), (Value, vec!["vip_lease_s"]));
    assert_eq!(
        class("hooks.on_master = [\"/bin/true\"]"),
        (Value, vec!["hooks"])
    );
    assert_eq!(
        class("preempt_delay_ms = 500"),
        (Core, vec!["preempt_delay_ms"])
    );
    assert_eq!(class("accept_mode = false"), (Core, vec!["accept_mode"]));
    assert_eq!(
        class("preempt = false\nttl = 64").0,
        Core,
        "the strongest class wins"
    );
    let text = instance_with("");
    assert_eq!(
        of(&text.replace("10.1.255.1/32", "10.1.255.7/32")),
        (Addresses, vec!["vip"])
    );
    assert_eq!(
        of(&text.replace("vrid = 51", "vrid = 52")),
        (Restart, vec!["vrid"])
    );
    assert_eq!(
        of(&text.replace("address = \"10.1.2.10\"", "address = \"10.1.2.11\"")),
        (Restart, vec!["mode/unicast_src/peer.address"])
    );
}

/// A routed instance on a dual-homed node: two uplinks, a loopback source, a VIP on lo.
fn routed_with(interface: &str, extra: &str) -> String {
    format!(
        r#"[[instance]]
name = "vi1"
{interface}
vrid = 51
priority = 100
mode = "unicast"
unicast_src = "10.1.0.1/32"
{extra}

[[instance.peer]]
address = "10.1.0.2/32"

[[instance.vip]]
address = "10.1.255.1/32"
"#
    )
}

#[test]
fn a_routed_instance_lists_its_uplinks_or_none() {
    let c = ok(&routed_with(r#"interface = ["up1", "up2"]"#, ""));
    let i = &c.instances[0];
    assert_eq!(
        i.links,
        config::Links::Uplinks(vec!["up1".into(), "up2".into()])
    );
    assert_eq!(i.link(), None);
    assert_eq!(
        i.vips[0].dev, "lo",
        "a routed instance's VIPs default to lo"
    );
    assert!(i.is_routed(&i.vips[0]));
    let peers = i
        .track
        .peers
        .as_ref()
        .expect("a routed instance tracks its peers");
    assert_eq!(peers.source, "10.1.0.1".parse::<IpAddr>().unwrap());
    assert_eq!(peers.uplinks, vec!["up1".to_string(), "up2".to_string()]);
    assert!(config::tracked_weights(&i.track).contains_key(config::TRACKED_PEERS));
    let Transport::Unicast { peers, .. } = &i.transport else {
        panic!("unicast")
    };
    assert_eq!(
        peers[0].ttl_min, 1,
        "a peer's loopback is always behind a router"
    );

    let c = ok(&routed_with("", ""));
    assert!(c.instances[0].links.all_uplinks());

    // A link instance has no implicit peer tracking.
    let c = ok(&instance_with(""));
    assert_eq!(c.instances[0].track.peers, None);
    assert_eq!(c.instances[0].link(), Some("eth0"));
}

#[test]
fn routed_instance_errors_name_the_key() {
    one_error(
        &routed_with("interface = []", ""),
        "t.toml:3:13: instance \"vi1\": interface = [] names no uplink: list the uplinks of this \
         routed instance, or leave interface out to receive on every interface but lo",
    );
    one_error(
        &routed_with(r#"interface = ["up1", "up1"]"#, ""),
        "t.toml:3:13: instance \"vi1\": interface lists \"up1\" twice",
    );
    one_error(
        &routed_with(r#"interface = ["up1", "lo"]"#, ""),
        "t.toml:3:13: instance \"vi1\": interface = \"lo\" cannot carry adverts to other routers; \
         name the link (or the uplinks) that reach the peers and put routed VIPs on lo with \
         vip.dev = \"lo\"",
    );
    let e = errors(&routed_with("interface = 7", ""));
    assert!(
        e[0].contains("expected an interface name (\"eth0\") or an array of uplinks"),
        "{e:?}"
    );
    one_error(
        &routed_with(r#"interface = ["up1", "up2"]"#, "").replace(
            "address = \"10.1.255.1/32\"",
            "address = \"10.1.255.1/32\"\ndev = \"up2\"",
        ),
        "t.toml:15:7: instance \"vi1\": vip.dev = \"up2\" is an uplink of this routed instance; its \
         VIPs are announced by the routing daemon from lo (or another device), not by ARP on one \
         uplink",
    );
    one_error(
        &routed_with(
            r#"interface = ["up1", "up2"]"#,
            "[instance.garp]\nrepeat = 2",
        ),
        "t.toml:8:1: instance \"vi1\": garp has no effect on a routed instance: its VIPs are \
         announced by the routing daemon, not by ARP; remove [instance.garp]",
    );
    let multicast = routed_with(r#"interface = ["up1"]"#, "")
        .replace(
            "mode = \"unicast\"\nunicast_src = \"10.1.0.1/32\"",
            "mode = \"multicast\"",
        )
        .replace("[[instance.peer]]\naddress = \"10.1.0.2/32\"\n", "");
    one_error(
        &multicast,
        "t.toml:3:13: instance \"vi1\": a routed instance (interface is a list) sends its adverts \
         by the routing table, to unicast peers; multicast stays on one link: set interface = \
         \"<link>\"",
    );
}

#[test]
fn a_vrid_is_unique_on_each_uplink_and_everywhere_for_all_uplinks() {
    let two = |a: &str, b: &str| {
        format!(
            "{}\n{}",
            routed_with(a, ""),
            routed_with(b, "")
                .replace("name = \"vi1\"", "name = \"vi2\"")
                .replace("10.1.255.1/32", "10.1.255.2/32")
        )
    };
    let e = errors(&two(
        r#"interface = ["up1", "up2"]"#,
        r#"interface = "up2""#,
    ));
    let has = |e: &[String], m: &str| assert!(e.iter().any(|e| e.contains(m)), "{e:?}");
    has(&e, "vrid = 51 is already used on up2 by instance \"vi1\"");
    let e = errors(&two("", r#"interface = "eth9""#));
    has(&e, "vrid = 51 is already used on eth9 by instance \"vi1\"");
    let e = errors(&two(r#"interface = "eth9""#, ""));
    has(&e, "vrid = 51 is already used on eth9 by instance \"vi1\"");
    ok(&two(r#"interface = ["up1"]"#, r#"interface = ["up2"]"#));
}

#[test]
fn changing_the_uplinks_restarts_the_instance() {
    let a = ok(&routed_with(r#"interface = ["up1", "up2"]"#, ""));
    let b = ok(&routed_with(r#"interface = ["up1"]"#, ""));
    let change = config::classify(&a.instances[0], &b.instances[0]);
    assert_eq!(change.class, ReloadClass::Restart);
    assert!(change.keys.contains(&"interface"), "{:?}", change.keys);
}

#[test]
fn dual_homed_example_is_a_routed_instance() {
    let c = load(&example("dual-homed-node-a.toml")).unwrap_or_else(|e| panic!("{e}"));
    let i = &c.instances[0];
    assert_eq!(
        i.links,
        config::Links::Uplinks(vec!["up1".into(), "up2".into()])
    );
    assert_eq!(i.vips[0].dev, "lo");
    assert!(i.track.peers.is_some());
    assert_eq!(i.track.routes.len(), 1);
}
