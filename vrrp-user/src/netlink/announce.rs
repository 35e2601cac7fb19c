//! A VIP's announcement burst after becoming master.

use std::net::IpAddr;
use std::time::Duration;

use super::arp::{ArpOp, PacketSocket, garp_on};
use super::nd::NaSocket;
use super::{NetlinkError, Op, Sent};

/// Sends `repeat` gratuitous ARP requests (IPv4) or unsolicited NAs (IPv6)
/// for `vip` out of `ifindex`, `interval` apart. Returns how many were sent:
/// 0 on `lo` and other links without Ethernet framing, where no neighbour
/// caches the VIP (routed VIPs).
pub async fn announce(
    ifindex: u32,
    vip: IpAddr,
    repeat: u32,
    interval: Duration,
) -> Result<u32, NetlinkError> {
    let send: Box<dyn Fn() -> Result<Sent, NetlinkError> + Send> = match vip {
        IpAddr::V4(v4) => {
            let sock = PacketSocket::open(ifindex)
                .map_err(|e| NetlinkError::kernel(Op::Garp, v4, format!("ifindex {ifindex}"), e))?;
            Box::new(move || garp_on(&sock, v4, ArpOp::Request))
        }
        IpAddr::V6(v6) => match NaSocket::open(ifindex, v6)? {
            Some(sock) => Box::new(move || sock.send().map(|()| Sent::Sent)),
            None => return Ok(0),
        },
    };
    let mut sent = 0;
    for i in 0..repeat {
        if i > 0 {
            tokio::time::sleep(interval).await;
        }
        match send()? {
            Sent::Sent => sent += 1,
            Sent::NotEthernet => return Ok(0),
        }
    }
    tracing::debug!(%vip, ifindex, sent, "VIP announced");
    Ok(sent)
}
