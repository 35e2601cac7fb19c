//! Accept_Mode off (RFC 9568 §6.1): a master that does not own the addresses must not
//! accept packets addressed to the VIPs, only forward for them. The kernel has no
//! per-address switch for that, so VIPs of such instances go into an nftables set whose
//! members the input hook drops. ARP is not IP and is untouched.
//!
//! The table is ours alone (`inet vrrpd`). It is deleted at every start, whatever the
//! new file says, so a crashed run that had `accept_mode = false` leaves no drop rule
//! behind (a restart with accept mode on used to keep the old VIPs blocked), and at a
//! clean stop, so nothing of ours stays in the ruleset. `nft` runs as a child process awaited by tokio, so it
//! never stalls the event loop (every instance's timers) while it runs.

use std::{net::IpAddr, process::Stdio};

use tokio::{io::AsyncWriteExt, process::Command};

const TABLE: &str = "vrrpd";

/// Whether this run has written the table (so a clean stop removes it).
static USED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this run has created the table.
pub fn used() -> bool {
    USED.load(std::sync::atomic::Ordering::Relaxed)
}

#[derive(Debug, thiserror::Error)]
#[error("nft {what}: {detail} (accept_mode = false needs nftables: apt-get install nftables)")]
pub struct NftError {
    what: String,
    detail: String,
}

async fn nft(script: &str, what: &str) -> Result<(), NftError> {
    let err = |detail: String| NftError {
        what: what.to_string(),
        detail,
    };
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| err(e.to_string()))?;
    let mut stdin = child.stdin.take().expect("piped");
    stdin
        .write_all(script.as_bytes())
        .await
        .map_err(|e| err(e.to_string()))?;
    drop(stdin); // EOF: nft reads the whole script, then runs it
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| err(e.to_string()))?;
    if !out.status.success() {
        return Err(err(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    Ok(())
}

/// Removes our table, if a previous run left it. (nftables 1.0.6 has no
/// `destroy`: adding the table first makes the delete succeed either way.)
pub async fn reset() -> Result<(), NftError> {
    nft(
        &format!("add table inet {TABLE}\ndelete table inet {TABLE}\n"),
        "removing the vrrpd table",
    )
    .await
}

fn set_name(a: &IpAddr) -> &'static str {
    match a {
        IpAddr::V4(_) => "noaccept4",
        IpAddr::V6(_) => "noaccept6",
    }
}

/// Drops locally addressed traffic to `addrs` from now on.
pub async fn block(addrs: &[IpAddr]) -> Result<(), NftError> {
    let mut script = table_script();
    for a in addrs {
        script.push_str(&format!(
            "add element inet {TABLE} {} {{ {a} }}\n",
            set_name(a)
        ));
    }
    nft(&script, "blocking VIP traffic").await
}

/// Accepts traffic to `addrs` again (leaving master). Adding each element before
/// deleting it makes this succeed whether or not it was blocked.
pub async fn unblock(addrs: &[IpAddr]) -> Result<(), NftError> {
    let mut script = table_script();
    for a in addrs {
        let set = set_name(a);
        script.push_str(&format!("add element inet {TABLE} {set} {{ {a} }}\n"));
        script.push_str(&format!("delete element inet {TABLE} {set} {{ {a} }}\n"));
    }
    nft(&script, "unblocking VIP traffic").await
}

fn table_script() -> String {
    USED.store(true, std::sync::atomic::Ordering::Relaxed);
    format!(
        "table inet {TABLE} {{\n\
         \tset noaccept4 {{ type ipv4_addr; }}\n\
         \tset noaccept6 {{ type ipv6_addr; }}\n\
         \tchain input {{\n\
         \t\ttype filter hook input priority -10; policy accept;\n\
         \t\tip daddr @noaccept4 drop\n\
         \t\tip6 daddr @noaccept6 drop\n\
         \t}}\n\
         }}\n"
    )
}
