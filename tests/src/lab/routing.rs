//! Routing daemons of the lab: config generation and process control for BIRD 2
//! (OSPF, or BGP with BFD) and FRR (zebra + ospfd with millisecond throttles).
//!
//! Every recipe announces exactly the /32s inside the VIP subnet that sit on a node's
//! `lo`, and only while they are there: the address appearing or disappearing is the
//! only signal, so whatever moves the VIP (vrrpd, keepalived, a test) moves the route.
//! BIRD BGP + BFD is dual stack: IPv6 sessions (with BFD) beside the IPv4 ones carry
//! the /128s inside the IPv6 VIP subnet the same way.
//! docs/routing.md explains the recipes and their timers.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Result, bail};

use super::{CLIENT_SUBNET, Family, Lab, Node, ROUTER_CLIENT_DEV, UPLINK, VIP_NET};
use crate::netns::Netns;

/// How the router learns the VIP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recipe {
    /// BIRD OSPFv2, the VIP as an external route from a `direct` protocol on `lo`.
    /// The router's SPF runs only on BIRD's `tick` (whole seconds, at least 1), so
    /// it converges in 0..1 s after the change.
    BirdOspf,
    /// BIRD eBGP node<->router with BFD: the /32 is sent as UPDATE/WITHDRAW the
    /// moment it appears/disappears; BFD (10 ms x 3) detects a dead node. Dual
    /// stack: an IPv6 session per node, with its own BFD, carries the /128.
    BirdBgpBfd,
    /// FRR zebra + ospfd with `timers throttle spf 0 50 200`, no LSA
    /// origination/arrival throttling and 100 ms hellos (1 s dead interval).
    FrrOspf,
}

impl Recipe {
    pub const ALL: [Recipe; 3] = [Recipe::BirdOspf, Recipe::BirdBgpBfd, Recipe::FrrOspf];

    /// The VIP families the recipe carries.
    pub fn families(self) -> &'static [Family] {
        match self {
            Recipe::BirdBgpBfd => &Family::ALL,
            Recipe::BirdOspf | Recipe::FrrOspf => &[Family::V4],
        }
    }

    /// The route protocol (`/etc/iproute2/rt_protos` name) of the route to the
    /// client subnet that each node learns over its adjacency with the router: what a
    /// vrrpd `track_route` names to wait for that adjacency. BIRD marks every route
    /// it installs "bird"; FRR's zebra marks OSPF routes "ospf".
    pub fn learned_protocol(self) -> &'static str {
        match self {
            Recipe::BirdOspf | Recipe::BirdBgpBfd => "bird",
            Recipe::FrrOspf => "ospf",
        }
    }

    /// Minimum spacing between VIP moves that keeps protocol rate limits out of a
    /// measurement. BIRD OSPF will not re-originate an LSA within MinLSInterval (5 s)
    /// of the last one, and a node re-originates every second move.
    pub fn settle(self) -> Duration {
        match self {
            Recipe::BirdOspf => Duration::from_millis(3000),
            Recipe::BirdBgpBfd | Recipe::FrrOspf => Duration::from_millis(300),
        }
    }
}

/// The prefix filter for "a host route inside the VIP subnet" of `family`, in BIRD
/// syntax.
pub(super) fn bird_vip_set(family: Family) -> String {
    let len = family.host_len();
    format!("[ {}{{{len},{len}}} ]", family.vip_net())
}

/// A BIRD protocol's name in `family`: the IPv4 name as it always was, IPv6 with a
/// `6` after it.
fn bird_name(base: &str, family: Family) -> String {
    match family {
        Family::V4 => base.to_string(),
        Family::V6 => format!("{base}6"),
    }
}

/// A `kernel` protocol with one channel of `family`; the IPv4 one keeps BIRD's
/// default name (a kernel protocol takes one channel: one per family).
fn bird_kernel(family: Family, options: &str, channel: &str) -> String {
    let name = match family {
        Family::V4 => String::new(),
        Family::V6 => " kernel6".into(),
    };
    format!(
        "protocol kernel{name} {{\n{options}  {} {{ {channel} }};\n}}\n",
        family.name()
    )
}

/// The channel lines of a `direct` protocol: one per family the recipe carries.
fn bird_direct_channels(recipe: Recipe) -> String {
    recipe
        .families()
        .iter()
        .map(|f| format!("  {};\n", f.name()))
        .collect()
}

const ROUTER_ID: &str = "10.1.3.1";
const ROUTER_AS: u32 = 65000;
const FRR_DIR: &str = "/usr/lib/frr";

fn node_as(node: Node) -> u32 {
    match node {
        Node::A => 65001,
        Node::B => 65002,
    }
}

/// Fails naming the package to install when a recipe's programs are missing.
pub fn require_tools(recipe: Recipe) -> Result<()> {
    let found = |prog: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {prog}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if !found("nft") {
        bail!("nft not installed: apt-get install nftables (or run cargo xtask setup)");
    }
    match recipe {
        Recipe::BirdOspf | Recipe::BirdBgpBfd => {
            for prog in ["bird", "birdc"] {
                if !found(prog) {
                    bail!("{prog} not installed: run cargo xtask setup (Debian package bird2)");
                }
            }
        }
        Recipe::FrrOspf => {
            for prog in ["zebra", "ospfd"] {
                if !Path::new(FRR_DIR).join(prog).exists() {
                    bail!("{FRR_DIR}/{prog} not found: apt-get install -y frr");
                }
            }
            if !found("vtysh") {
                bail!("vtysh not installed: apt-get install -y frr");
            }
        }
    }
    Ok(())
}

/// Which lab namespace a daemon runs in.
#[derive(Clone, Copy, Debug)]
enum Role {
    Node(Node),
    Router,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Node(Node::A) => "a",
            Role::Node(Node::B) => "b",
            Role::Router => "router",
        }
    }
}

const ROLES: [Role; 3] = [Role::Node(Node::A), Role::Node(Node::B), Role::Router];

/// BIRD config for a node: `direct` picks up /32s on `lo` as they come and go, and
/// the routing protocol exports exactly those. It imports one route, to the client
/// subnet through the router, and puts it in the kernel (protocol "bird"): it exists
/// while the node's adjacency with the router is up, for a `track_route` to wait on.
pub fn bird_node_conf(recipe: Recipe, node: Node, log: &Path) -> String {
    let mut c = String::new();
    let _ = writeln!(c, "log \"{}\" all;", log.display());
    let _ = writeln!(c, "router id {};", node.addr());
    c += "protocol device { }\n";
    let _ = write!(
        c,
        "protocol direct vip {{\n{}  interface \"lo\";\n}}\n",
        bird_direct_channels(recipe)
    );
    // `scan time 1`: the kernel drops an interface's routes when it goes down without
    // telling anyone, and BIRD puts back a route it believes installed only at its next
    // scan of the kernel table (60 s by default). Seen in the lab: link flaps shorter
    // than OSPF's tick left BIRD's route unchanged and the kernel's gone for 53 s.
    for &f in recipe.families() {
        let subnet = f.client_subnet();
        c += &bird_kernel(
            f,
            "  scan time 1;\n",
            &format!("import none; export where net = {subnet};"),
        );
    }
    let filters = |f: Family| {
        format!(
            "import where net = {}; export where proto = \"vip\" && net ~ {};",
            f.client_subnet(),
            bird_vip_set(f)
        )
    };
    match recipe {
        Recipe::BirdOspf => {
            let filters = filters(Family::V4);
            let _ = write!(
                c,
                "protocol ospf v2 core {{\n  tick 1;\n  ipv4 {{ {filters} }};\n  \
                 area 0 {{\n    interface \"{UPLINK}\" {{ type ptp; hello 1; dead 3; }};\n  }};\n}}\n"
            );
        }
        Recipe::BirdBgpBfd => {
            c += &bird_bfd(&[UPLINK]);
            for &f in recipe.families() {
                let _ = write!(
                    c,
                    "protocol bgp {} {{\n  local {} as {};\n  neighbor {} as {ROUTER_AS};\n{}  \
                     {} {{ {} }};\n}}\n",
                    bird_name("uplink", f),
                    node.addr_in(f),
                    node_as(node),
                    node.gateway_in(f),
                    bird_bgp_timers(),
                    f.name(),
                    filters(f)
                );
            }
        }
        Recipe::FrrOspf => unreachable!("FRR recipe has no BIRD config"),
    }
    c
}

/// BIRD config for the router: learn the VIP, put it in the kernel FIB.
pub fn bird_router_conf(recipe: Recipe, log: &Path) -> String {
    let mut c = String::new();
    let _ = writeln!(c, "log \"{}\" all;", log.display());
    let _ = writeln!(c, "router id {ROUTER_ID};");
    c += "protocol device { }\n";
    // Only VIP routes go to the kernel: the lab's own subnets are connected routes.
    for &f in recipe.families() {
        c += &bird_kernel(
            f,
            "  merge paths yes;\n",
            &format!("import none; export where net ~ {};", bird_vip_set(f)),
        );
    }
    // The client subnet, for BGP to hand to the nodes (OSPF carries it as the
    // router's stub network).
    let _ = write!(
        c,
        "protocol direct lan {{\n{}  interface \"{ROUTER_CLIENT_DEV}\";\n}}\n",
        bird_direct_channels(recipe)
    );
    match recipe {
        Recipe::BirdOspf => {
            let ifaces = format!("\"{}\", \"{}\"", Node::A.router_dev(), Node::B.router_dev());
            let _ = write!(
                c,
                "protocol ospf v2 core {{\n  tick 1;\n  ecmp yes;\n  ipv4 {{ import all; export none; }};\n  \
                 area 0 {{\n    interface {ifaces} {{ type ptp; hello 1; dead 3; }};\n    \
                 interface \"{ROUTER_CLIENT_DEV}\" {{ stub yes; }};\n  }};\n}}\n"
            );
        }
        Recipe::BirdBgpBfd => {
            c += &bird_bfd(&[Node::A.router_dev(), Node::B.router_dev()]);
            for node in Node::ALL {
                for &f in recipe.families() {
                    let _ = write!(
                        c,
                        "protocol bgp {} {{\n  local {} as {ROUTER_AS};\n  neighbor {} as {};\n{}  \
                         {} {{ import where net ~ {}; export where proto = \"lan\" && net = {}; }};\n}}\n",
                        bird_name(&format!("node_{}", Role::Node(node).name()), f),
                        node.gateway_in(f),
                        node.addr_in(f),
                        node_as(node),
                        bird_bgp_timers(),
                        f.name(),
                        bird_vip_set(f),
                        f.client_subnet(),
                    );
                }
            }
        }
        Recipe::FrrOspf => unreachable!("FRR recipe has no BIRD config"),
    }
    c
}

pub(super) fn bird_bfd(ifaces: &[&str]) -> String {
    let list = ifaces
        .iter()
        .map(|i| format!("\"{i}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!("protocol bfd {{\n  interface {list} {{ interval 10 ms; multiplier 3; }};\n}}\n")
}

/// Short BGP session timers so a lab session comes up in about a second; failure
/// detection is BFD's job, not the hold timer's.
pub(super) fn bird_bgp_timers() -> &'static str {
    "  hold time 3;\n  keepalive time 1;\n  connect delay time 1;\n  connect retry time 1;\n  \
     error wait time 1, 5;\n  bfd on;\n"
}

/// zebra's config: no hold on its route-processing work queue (default 10 ms), which
/// otherwise delays both the node's redistribution and the router's FIB update.
fn frr_zebra_conf(role: Role) -> String {
    format!("hostname lab-{}\nzebra work-queue 0\n!\n", role.name())
}

/// ospfd's config. `network` statements put the uplinks in area 0; the VIP is
/// redistributed as a connected route on `lo`, so it is announced exactly while the
/// address exists.
fn frr_ospfd_conf(role: Role) -> String {
    let (rid, ifaces, nets): (String, Vec<&str>, Vec<&str>) = match role {
        Role::Node(n) => (n.addr().to_string(), vec![UPLINK], vec![n.subnet()]),
        // The client subnet too: the nodes learn it over their adjacency.
        Role::Router => (
            ROUTER_ID.to_string(),
            vec![Node::A.router_dev(), Node::B.router_dev()],
            vec![Node::A.subnet(), Node::B.subnet(), CLIENT_SUBNET],
        ),
    };
    let mut c = String::from("frr defaults traditional\n");
    let _ = writeln!(c, "hostname lab-{}", role.name());
    for i in ifaces {
        let _ = write!(
            c,
            "interface {i}\n ip ospf network point-to-point\n \
             ip ospf dead-interval minimal hello-multiplier 10\n!\n"
        );
    }
    let _ = write!(
        c,
        "router ospf\n ospf router-id {rid}\n timers throttle spf 0 50 200\n \
         timers throttle lsa all 0\n timers lsa min-arrival 0\n"
    );
    for n in nets {
        let _ = writeln!(c, " network {n} area 0");
    }
    if let Role::Node(_) = role {
        c += " redistribute connected route-map VIP\n!\n";
        let _ = writeln!(c, "ip prefix-list VIP seq 5 permit {VIP_NET} ge 32");
        c += "route-map VIP permit 10\n match ip address prefix-list VIP\n";
    }
    c += "!\n";
    c
}

fn ns_of(lab: &mut Lab, role: Role) -> &mut Netns {
    match role {
        Role::Node(n) => lab.node_mut(n),
        Role::Router => &mut lab.router,
    }
}

/// Path of a BIRD control socket in the lab directory.
pub fn bird_socket(dir: &Path, role_name: &str) -> PathBuf {
    dir.join(format!("bird-{role_name}.ctl"))
}

/// Where the BIRD named `name` logs, in the lab directory `dir`.
pub(super) fn bird_log(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("bird-{name}.log"))
}

/// Writes `conf` for the BIRD named `name`, checks it (a config error fails here
/// with BIRD's message) and starts it in the foreground in `ns`, so `Netns` can kill
/// it by PID; returns its control socket, which appears once it runs.
pub(super) fn spawn_bird(ns: &mut Netns, dir: &Path, name: &str, conf: &str) -> Result<PathBuf> {
    let conf_path = dir.join(format!("bird-{name}.conf"));
    std::fs::write(&conf_path, conf)?;
    crate::netns::run(Command::new("bird").arg("-p").arg("-c").arg(&conf_path))?;
    let sock = bird_socket(dir, name);
    let pid = dir.join(format!("bird-{name}.pid"));
    let (conf_s, sock_s, pid_s) = (
        conf_path.display().to_string(),
        sock.display().to_string(),
        pid.display().to_string(),
    );
    let argv = ["bird", "-f", "-c", &conf_s, "-s", &sock_s, "-P", &pid_s];
    ns.spawn_logged(&argv, &dir.join(format!("bird-{name}.out")))?;
    Ok(sock)
}

/// Starts the recipe's daemons in A, B and the router (foreground, so `Netns` can
/// kill them by PID) and waits for their control sockets.
pub(super) fn start(lab: &mut Lab, recipe: Recipe) -> Result<()> {
    require_tools(recipe)?;
    let dir = lab.dir().to_path_buf();
    let mut sockets = Vec::new();
    for role in ROLES {
        let name = role.name();
        match recipe {
            Recipe::BirdOspf | Recipe::BirdBgpBfd => {
                let log = bird_log(&dir, name);
                let conf = match role {
                    Role::Node(n) => bird_node_conf(recipe, n, &log),
                    Role::Router => bird_router_conf(recipe, &log),
                };
                sockets.push(spawn_bird(ns_of(lab, role), &dir, name, &conf)?);
            }
            Recipe::FrrOspf => {
                // FRR drops to user frr: it must be able to write its pid files and
                // sockets in this per-namespace directory.
                let sub = dir.join(format!("frr-{name}"));
                std::fs::create_dir_all(&sub)?;
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
                std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o777))?;
                let zsock = sub.join("zserv.api");
                for daemon in ["zebra", "ospfd"] {
                    let conf_path = sub.join(format!("{daemon}.conf"));
                    let conf = match daemon {
                        "zebra" => frr_zebra_conf(role),
                        _ => frr_ospfd_conf(role),
                    };
                    std::fs::write(&conf_path, conf)?;
                    let sub_s = sub.display().to_string();
                    let argv: Vec<String> = vec![
                        format!("{FRR_DIR}/{daemon}"),
                        "-f".into(),
                        conf_path.display().to_string(),
                        "-i".into(),
                        format!("{sub_s}/{daemon}.pid"),
                        "-z".into(),
                        zsock.display().to_string(),
                        "--vty_socket".into(),
                        sub_s.clone(),
                        // No TCP vty: only the per-namespace unix socket.
                        "-A".into(),
                        "127.0.0.1".into(),
                        "-P".into(),
                        "0".into(),
                        "--log".into(),
                        format!("file:{sub_s}/{daemon}.log"),
                    ];
                    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
                    let out = sub.join(format!("{daemon}.out"));
                    ns_of(lab, role).spawn_logged(&argv, &out)?;
                    if daemon == "zebra" {
                        // ospfd gives up if zebra's socket is not there yet.
                        wait_for_path(&zsock, Duration::from_secs(10))?;
                    }
                }
                sockets.push(sub.join("ospfd.vty"));
            }
        }
    }
    for sock in sockets {
        wait_for_path(&sock, Duration::from_secs(10))?;
    }
    Ok(())
}

pub(super) fn wait_for_path(path: &Path, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    while !path.exists() {
        if start.elapsed() > timeout {
            bail!(
                "{} did not appear within {timeout:?}: the daemon failed to start\n{}",
                path.display(),
                log_tails(path.parent().unwrap_or(path))
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Runs a query against the daemons of `role` and returns its text, or the error.
fn query(lab: &Lab, recipe: Recipe, role: Role, what: &str) -> String {
    let dir = lab.dir();
    let mut cmd = match recipe {
        Recipe::BirdOspf | Recipe::BirdBgpBfd => {
            let mut c = Command::new("birdc");
            c.arg("-s").arg(bird_socket(dir, role.name())).arg(what);
            c
        }
        Recipe::FrrOspf => {
            let mut c = Command::new("vtysh");
            c.arg("--vty_socket")
                .arg(dir.join(format!("frr-{}", role.name())))
                .args(["-c", what]);
            c
        }
    };
    match cmd.output() {
        Ok(o) => {
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
        }
        Err(e) => format!("{cmd:?}: {e}"),
    }
}

/// The nodes' routing sessions that are not up, one line each ("a: bgp_r BGP ...
/// Active"); empty when every node has its session (BGP Established, or an OSPF
/// neighbour in Full state) with the router.
pub(super) fn sessions_down(lab: &Lab, recipe: Recipe) -> Vec<String> {
    let mut down = Vec::new();
    for node in [Node::A, Node::B] {
        let role = Role::Node(node);
        match recipe {
            Recipe::BirdBgpBfd => {
                let text = query(lab, recipe, role, "show protocols");
                for l in bgp_sessions_down(&text) {
                    down.push(format!("{}: {l}", role.name()));
                }
            }
            Recipe::BirdOspf | Recipe::FrrOspf => {
                let what = if recipe == Recipe::BirdOspf {
                    "show ospf neighbors"
                } else {
                    "show ip ospf neighbor"
                };
                let text = query(lab, recipe, role, what);
                if !text.lines().any(|l| l.contains("Full")) {
                    down.push(format!(
                        "{}: no Full OSPF neighbour: {}",
                        role.name(),
                        text.trim()
                    ));
                }
            }
        }
    }
    down
}

/// The BGP protocols of a `birdc show protocols` listing that are not Established,
/// one line each, or a line saying there is none.
pub(super) fn bgp_sessions_down(listing: &str) -> Vec<String> {
    let bgp: Vec<&str> = listing
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some("BGP"))
        .collect();
    if bgp.is_empty() {
        return vec![format!("no BGP protocol in: {}", listing.trim())];
    }
    bgp.into_iter()
        .filter(|l| !l.contains("Established"))
        .map(|l| l.trim().to_string())
        .collect()
}

/// A snapshot of the routing state for failure messages.
pub(super) fn diagnostics(lab: &Lab, recipe: Recipe) -> String {
    let (protocols, routes) = match recipe {
        Recipe::BirdOspf | Recipe::BirdBgpBfd => ("show protocols", "show route"),
        Recipe::FrrOspf => ("show ip ospf neighbor", "show ip route"),
    };
    let mut s = format!(
        "\n--- routing state ({recipe:?}, dir {}) ---\n",
        lab.dir().display()
    );
    for role in ROLES {
        let _ = writeln!(
            s,
            "[{}] {protocols}:\n{}",
            role.name(),
            query(lab, recipe, role, protocols)
        );
    }
    let _ = writeln!(
        s,
        "[router] {routes}:\n{}",
        query(lab, recipe, Role::Router, routes)
    );
    s += &log_tails(lab.dir());
    s
}

/// The last lines of every daemon log in the lab directory (the directory is
/// removed with the lab, so failures carry the logs with them).
pub(super) fn log_tails(dir: &Path) -> String {
    let mut logs = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|e| e == "log" || e == "out") {
                logs.push(p);
            }
        }
    }
    logs.sort();
    let mut s = String::new();
    for p in logs {
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(15)..];
        if !tail.is_empty() {
            let _ = writeln!(
                s,
                "--- {} (last {} lines)\n{}",
                p.display(),
                tail.len(),
                tail.join("\n")
            );
        }
    }
    s
}

#[cfg(test)]
mod session_tests {
    use super::bgp_sessions_down;

    /// `birdc show protocols` as BIRD 2 prints it on a node of the BGP recipe.
    const LISTING: &str = "BIRD 2.0.12 ready.
Name       Proto      Table      State  Since         Info
device1    Device     ---        up     07:10:01.123
direct1    Direct     ---        up     07:10:01.123
bfd1       BFD        ---        up     07:10:01.123
uplink     BGP        ---        STATE  07:10:02.456  SESSION
";

    #[test]
    fn a_session_counts_as_up_only_when_established() {
        let up = LISTING
            .replace("STATE", "up")
            .replace("SESSION", "Established");
        assert!(bgp_sessions_down(&up).is_empty());
        for (state, info) in [
            ("start", "Active        Socket: Connection refused"),
            ("start", "Idle"),
            ("start", "Connect"),
        ] {
            let listing = LISTING.replace("STATE", state).replace("SESSION", info);
            let down = bgp_sessions_down(&listing);
            assert_eq!(down.len(), 1, "{listing}");
            assert!(down[0].starts_with("uplink"), "{down:?}");
        }
        assert!(bgp_sessions_down("BIRD 2.0.12 ready.\n")[0].starts_with("no BGP protocol"));
    }
}

#[cfg(test)]
mod conf_tests {
    use super::*;

    /// BGP + BFD adds an IPv6 session per node beside the IPv4 one, each filtered to
    /// its own VIP subnet; the OSPF recipe stays IPv4 only.
    #[test]
    fn bgp_bfd_is_dual_stack_and_ospf_stays_ipv4() {
        let log = Path::new("/tmp/bird.log");
        let a = bird_node_conf(Recipe::BirdBgpBfd, Node::A, log);
        for want in [
            "protocol bgp uplink {\n  local 10.1.1.10 as 65001;\n  neighbor 10.1.1.1 as 65000;",
            "protocol bgp uplink6 {\n  local 2001:db8:1::10 as 65001;\n  neighbor 2001:db8:1::1 as 65000;",
            "export where proto = \"vip\" && net ~ [ 10.1.255.0/24{32,32} ];",
            "export where proto = \"vip\" && net ~ [ 2001:db8:ff::/64{128,128} ];",
            "protocol kernel kernel6 {\n  scan time 1;\n  ipv6 { import none; export where net = 2001:db8:3::/64; };",
        ] {
            assert!(a.contains(want), "{want:?} not in\n{a}");
        }
        let r = bird_router_conf(Recipe::BirdBgpBfd, log);
        for want in [
            "protocol bgp node_b6 {\n  local 2001:db8:2::1 as 65000;\n  neighbor 2001:db8:2::10 as 65002;",
            "ipv6 { import where net ~ [ 2001:db8:ff::/64{128,128} ]; export where proto = \"lan\" && net = 2001:db8:3::/64; };",
            "protocol direct lan {\n  ipv4;\n  ipv6;\n",
        ] {
            assert!(r.contains(want), "{want:?} not in\n{r}");
        }
        for c in [
            bird_node_conf(Recipe::BirdOspf, Node::A, log),
            bird_router_conf(Recipe::BirdOspf, log),
        ] {
            assert!(!c.contains("ipv6"), "{c}");
        }
    }
}
