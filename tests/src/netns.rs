//! Network namespaces owned by a test, torn down by `Drop` also when the test fails.
//!
//! Every namespace name carries the test process id, so parallel tests and leftovers
//! of a killed run never collide; `Netns::new` removes a stale namespace of the same
//! name first. Processes started with `spawn` are killed by PID on drop.

use std::{
    process::{Child, Command, Output, Stdio},
    sync::atomic::{AtomicU32, Ordering},
};

use anyhow::{Context, Result, bail};

/// Fails with a message naming what is missing, so CI never silently skips.
pub fn require_root_and_netns() -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("namespace tests need root (CAP_NET_ADMIN, CAP_SYS_ADMIN): run as root");
    }
    let out = Command::new("ip").arg("-V").output();
    if out.is_err() {
        bail!("namespace tests need iproute2's `ip` command: apt-get install iproute2");
    }
    Ok(())
}

/// Runs a command, failing with its stderr if it exits non-zero.
pub fn run(cmd: &mut Command) -> Result<Output> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("spawning {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out)
}

/// Runs `ip ARGS...`.
pub fn ip(args: &[&str]) -> Result<Output> {
    run(Command::new("ip").args(args))
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A unique, short name: `{prefix}{pid}x{seq}` (namespace and interface names are short).
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}x{}",
        std::process::id() % 100_000,
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// One network namespace, deleted (with its processes killed) on drop.
pub struct Netns {
    pub name: String,
    children: Vec<Child>,
}

impl Netns {
    pub fn new(prefix: &str) -> Result<Netns> {
        let name = unique(prefix);
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(Stdio::null())
            .status();
        ip(&["netns", "add", &name])?;
        let ns = Netns {
            name,
            children: Vec::new(),
        };
        ns.exec(&["ip", "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// A `Command` that runs `argv` inside this namespace.
    pub fn command(&self, argv: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).args(argv);
        c
    }

    /// Runs `argv` inside the namespace and waits for it.
    pub fn exec(&self, argv: &[&str]) -> Result<Output> {
        run(&mut self.command(argv))
    }

    /// Starts `argv` inside the namespace; it is killed by PID when `self` drops.
    pub fn spawn(&mut self, argv: &[&str]) -> Result<u32> {
        let child = self
            .command(argv)
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("spawning {argv:?} in {}", self.name))?;
        let pid = child.id();
        self.children.push(child);
        Ok(pid)
    }

    /// Starts `argv` inside the namespace with stdout and stderr appended to `log`.
    /// `ip netns exec` execs the command, so the PID returned is the command's own.
    pub fn spawn_logged(&mut self, argv: &[&str], log: &std::path::Path) -> Result<u32> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        let err = out.try_clone()?;
        let child = self
            .command(argv)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("spawning {argv:?} in {}", self.name))?;
        let pid = child.id();
        self.children.push(child);
        Ok(pid)
    }

    /// Sends `signal` to a process this namespace guard started (never to others).
    pub fn signal(&self, pid: u32, signal: i32) -> Result<()> {
        if !self.children.iter().any(|c| c.id() == pid) {
            bail!("pid {pid} was not started by this test");
        }
        // SAFETY: kill(2) on a child we own and have not reaped.
        if unsafe { libc::kill(pid as i32, signal) } != 0 {
            bail!("kill({pid}, {signal}): {}", std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits up to `timeout` for a started process to exit; its status if it did.
    pub fn wait_exit(
        &mut self,
        pid: u32,
        timeout: std::time::Duration,
    ) -> Result<Option<std::process::ExitStatus>> {
        let deadline = std::time::Instant::now() + timeout;
        let Some(child) = self.children.iter_mut().find(|c| c.id() == pid) else {
            bail!("pid {pid} was not started by this test");
        };
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(Some(status));
            }
            if std::time::Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Interface index of `dev` inside the namespace.
    pub fn ifindex(&self, dev: &str) -> Result<u32> {
        let out = self.exec(&["cat", &format!("/sys/class/net/{dev}/ifindex")])?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .with_context(|| format!("ifindex of {dev} in {}", self.name))
    }

    /// The link-local IPv6 address of `dev`, once duplicate address detection is done
    /// with it (a tentative address cannot be a source yet).
    pub fn link_local(&self, dev: &str) -> Result<std::net::Ipv6Addr> {
        let start = std::time::Instant::now();
        loop {
            let out = self.exec(&[
                "ip", "-6", "-o", "addr", "show", "dev", dev, "scope", "link",
            ])?;
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            if !text.contains("tentative")
                && let Some(addr) = text.split_whitespace().skip_while(|w| *w != "inet6").nth(1)
            {
                let addr = addr.split('/').next().unwrap_or_default();
                return addr.parse().with_context(|| {
                    format!("link-local address {addr:?} of {dev} in {}", self.name)
                });
            }
            if start.elapsed() > std::time::Duration::from_secs(10) {
                bail!(
                    "no usable link-local address on {dev} in {}: {text}",
                    self.name
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Enters the namespace on the calling thread (for in-process daemons and
    /// sockets). Use from a dedicated thread: the thread stays in the namespace.
    pub fn enter(&self) -> Result<()> {
        let path = format!("/var/run/netns/{}", self.name);
        let f = std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
        use std::os::fd::AsRawFd;
        // SAFETY: setns on a valid namespace fd for this thread only.
        let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        if r != 0 {
            bail!("setns({path}): {}", std::io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// Joins two namespaces with a veth pair named `a_dev` / `b_dev`, brought up.
pub fn veth(a: &Netns, a_dev: &str, b: &Netns, b_dev: &str) -> Result<()> {
    let tmp_a = unique("va");
    let tmp_b = unique("vb");
    ip(&[
        "link", "add", &tmp_a, "type", "veth", "peer", "name", &tmp_b,
    ])?;
    ip(&["link", "set", &tmp_a, "netns", &a.name])?;
    ip(&["link", "set", &tmp_b, "netns", &b.name])?;
    a.exec(&["ip", "link", "set", &tmp_a, "name", a_dev])?;
    b.exec(&["ip", "link", "set", &tmp_b, "name", b_dev])?;
    a.exec(&["ip", "link", "set", a_dev, "up"])?;
    b.exec(&["ip", "link", "set", b_dev, "up"])?;
    Ok(())
}

/// Runs `f` on a thread that has entered `ns`, and returns its result. Sockets and
/// netlink calls made inside `f` belong to that namespace.
pub fn in_netns<T: Send>(ns: &Netns, f: impl FnOnce() -> T + Send) -> Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            ns.enter()?;
            Ok(f())
        })
        .join()
        .map_err(|_| anyhow::anyhow!("thread in namespace {} panicked", ns.name))?
    })
}
