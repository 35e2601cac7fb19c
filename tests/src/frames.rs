//! Crafted VRRP frames for verdict tests: every field can be set wrong on purpose.
//!
//! Deliberately independent of `vrrp_core::packet` so the tests cross-check the codec
//! instead of trusting it.

/// How to fill the VRRP checksum field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Csum {
    /// Correct for the version (v3: with the IPv4 pseudo-header).
    Good,
    /// v3 computed like v2, without the pseudo-header (some vendors).
    V2Style,
    /// Correct, then off by one.
    Bad,
}

/// A VRRP advert inside Ethernet + IPv4, with defaults for a valid v3 unicast advert.
#[derive(Clone, Debug)]
pub struct FrameSpec {
    pub vlan: Option<u16>,
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub ttl: u8,
    pub ip_options: Vec<u8>,
    /// Raw flags+fragment-offset field.
    pub frag: u16,
    pub proto: u8,
    /// Override of the IP total length field.
    pub tot_len: Option<u16>,
    pub version: u8,
    pub kind: u8,
    pub vrid: u8,
    pub priority: u8,
    /// Override of the address count field (defaults to `addrs.len()`).
    pub count: Option<u8>,
    /// v3: centiseconds (12 bits); v2: seconds (8 bits).
    pub interval: u16,
    pub auth_type: u8,
    pub addrs: Vec<[u8; 4]>,
    pub csum: Csum,
    /// Put a wrong IPv4 header checksum (the correct one plus one).
    pub bad_ip_csum: bool,
    /// Cut the finished frame to this many bytes.
    pub truncate: Option<usize>,
    /// Bytes appended after the IP packet (Ethernet padding).
    pub trailer: usize,
}

impl Default for FrameSpec {
    fn default() -> Self {
        FrameSpec {
            vlan: None,
            src: [10, 1, 2, 10],
            dst: [10, 1, 1, 10],
            ttl: 254,
            ip_options: Vec::new(),
            frag: 0x4000, // DF
            proto: 112,
            tot_len: None,
            version: 3,
            kind: 1,
            vrid: 51,
            priority: 100,
            count: None,
            interval: 100,
            auth_type: 0,
            addrs: vec![[10, 1, 255, 1]],
            csum: Csum::Good,
            bad_ip_csum: false,
            truncate: None,
            trailer: 0,
        }
    }
}

impl FrameSpec {
    /// A valid VRRPv2 advert (1 s interval, no authentication).
    pub fn v2() -> Self {
        FrameSpec {
            version: 2,
            interval: 1,
            ..Default::default()
        }
    }

    /// The VRRP message alone.
    pub fn vrrp(&self) -> Vec<u8> {
        let count = self.count.unwrap_or(self.addrs.len() as u8);
        let mut m = vec![
            (self.version << 4) | (self.kind & 0x0f),
            self.vrid,
            self.priority,
            count,
        ];
        if self.version == 2 {
            m.push(self.auth_type);
            m.push(self.interval as u8);
        } else {
            m.extend_from_slice(&(self.interval & 0x0fff).to_be_bytes());
        }
        m.extend_from_slice(&[0, 0]);
        for a in &self.addrs {
            m.extend_from_slice(a);
        }
        if self.version == 2 {
            m.extend_from_slice(&[0; 8]);
        }
        let pseudo = self.version == 3 && self.csum != Csum::V2Style;
        let mut c = checksum(&m, pseudo.then_some((self.src, self.dst)));
        if self.csum == Csum::Bad {
            c = c.wrapping_add(1);
        }
        m[6..8].copy_from_slice(&c.to_be_bytes());
        m
    }

    /// The IPv4 packet (header with options, then the VRRP message).
    pub fn ip(&self) -> Vec<u8> {
        let vrrp = self.vrrp();
        let mut opts = self.ip_options.clone();
        while !opts.len().is_multiple_of(4) {
            opts.push(0); // end-of-options padding
        }
        let ihl = 20 + opts.len();
        let tot = self.tot_len.unwrap_or((ihl + vrrp.len()) as u16);
        let mut ip = vec![0x40 | (ihl / 4) as u8, 0xc0];
        ip.extend_from_slice(&tot.to_be_bytes());
        ip.extend_from_slice(&[0x12, 0x34]);
        ip.extend_from_slice(&self.frag.to_be_bytes());
        ip.push(self.ttl);
        ip.push(self.proto);
        ip.extend_from_slice(&[0, 0]);
        ip.extend_from_slice(&self.src);
        ip.extend_from_slice(&self.dst);
        ip.extend_from_slice(&opts);
        let mut hc = checksum(&ip, None);
        if self.bad_ip_csum {
            hc = hc.wrapping_add(1);
        }
        ip[10..12].copy_from_slice(&hc.to_be_bytes());
        ip.extend_from_slice(&vrrp);
        ip
    }

    /// The Ethernet frame.
    pub fn frame(&self) -> Vec<u8> {
        let mut f = Vec::new();
        if self.dst[0] >= 224 && self.dst[0] <= 239 {
            f.extend_from_slice(&[
                0x01,
                0x00,
                0x5e,
                self.dst[1] & 0x7f,
                self.dst[2],
                self.dst[3],
            ]);
        } else {
            f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
        }
        f.extend_from_slice(&[0x00, 0x00, 0x5e, 0x00, 0x01, self.vrid]);
        if let Some(tag) = self.vlan {
            f.extend_from_slice(&[0x81, 0x00]);
            f.extend_from_slice(&(tag & 0x0fff).to_be_bytes());
        }
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&self.ip());
        f.extend(std::iter::repeat_n(0, self.trailer));
        if let Some(n) = self.truncate {
            f.truncate(n);
        }
        f
    }
}

/// Internet checksum of `data`, optionally with the IPv4 pseudo-header for VRRP.
pub fn checksum(data: &[u8], pseudo: Option<([u8; 4], [u8; 4])>) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |bytes: &[u8]| {
        for w in bytes.chunks(2) {
            sum += u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
        }
    };
    if let Some((s, d)) = pseudo {
        add(&s);
        add(&d);
        add(&[0, 112]);
        add(&(data.len() as u16).to_be_bytes());
    }
    add(data);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A UDP/IPv4 frame, for "non-VRRP traffic is untouched" checks.
pub fn udp_frame() -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00];
    let mut ip = vec![
        0x45, 0, 0, 32, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 1, 2, 10, 10, 1, 1, 10,
    ];
    let hc = checksum(&ip, None);
    ip[10..12].copy_from_slice(&hc.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&[0x30, 0x39, 0x30, 0x39, 0, 12, 0, 0, b'p', b'i', b'n', b'g']);
    f
}

/// An ARP request frame.
pub fn arp_frame() -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x08, 0x06]);
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 2, 10, 1, 2, 10]);
    f.extend_from_slice(&[0, 0, 0, 0, 0, 0, 10, 1, 1, 10]);
    f
}

/// A VRRPv3 advert inside Ethernet + IPv6, with defaults for a valid unicast advert
/// 2001:db8:2::10 -> 2001:db8:1::10 (hop limit 254, VRID 61, VIP 2001:db8:ff::1).
#[derive(Clone, Debug)]
pub struct Frame6Spec {
    pub vlan: Option<u16>,
    /// The version nibble of the IPv6 header.
    pub ip_version: u8,
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub hop_limit: u8,
    /// Extension headers in order, each (type, body after its next-header and length
    /// bytes, padded by `ip()` to a multiple of 8 bytes with the two).
    pub ext: Vec<(u8, Vec<u8>)>,
    /// The next header after the extension headers (112 for VRRP).
    pub proto: u8,
    /// Override of the payload length field.
    pub payload_len: Option<u16>,
    pub version: u8,
    pub kind: u8,
    pub vrid: u8,
    pub priority: u8,
    /// Override of the address count field (defaults to `addrs.len()`).
    pub count: Option<u8>,
    /// Centiseconds (12 bits).
    pub interval: u16,
    pub addrs: Vec<[u8; 16]>,
    pub csum: Csum,
    /// Cut the finished frame to this many bytes.
    pub truncate: Option<usize>,
}

/// 2001:db8:<net>::<host>.
pub const fn doc6(net: u8, host: u8) -> [u8; 16] {
    [
        0x20, 0x01, 0x0d, 0xb8, 0, net, 0, 0, 0, 0, 0, 0, 0, 0, 0, host,
    ]
}

/// ff02::12, the VRRP IPv6 group.
pub const MCAST6: [u8; 16] = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12];

impl Default for Frame6Spec {
    fn default() -> Self {
        Frame6Spec {
            vlan: None,
            ip_version: 6,
            src: doc6(2, 0x10),
            dst: doc6(1, 0x10),
            hop_limit: 254,
            ext: Vec::new(),
            proto: 112,
            payload_len: None,
            version: 3,
            kind: 1,
            vrid: 61,
            priority: 100,
            count: None,
            interval: 100,
            addrs: vec![doc6(0xff, 1)],
            csum: Csum::Good,
            truncate: None,
        }
    }
}

impl Frame6Spec {
    /// The VRRP message alone, checksummed with the RFC 8200 pseudo-header (or, for
    /// `Csum::V2Style`, without).
    pub fn vrrp(&self) -> Vec<u8> {
        let count = self.count.unwrap_or(self.addrs.len() as u8);
        let mut m = vec![
            (self.version << 4) | (self.kind & 0x0f),
            self.vrid,
            self.priority,
            count,
        ];
        m.extend_from_slice(&(self.interval & 0x0fff).to_be_bytes());
        m.extend_from_slice(&[0, 0]);
        for a in &self.addrs {
            m.extend_from_slice(a);
        }
        let mut sum: u32 = 0;
        let mut add = |bytes: &[u8]| {
            for w in bytes.chunks(2) {
                sum += u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
            }
        };
        if self.csum != Csum::V2Style {
            add(&self.src);
            add(&self.dst);
            add(&(m.len() as u32).to_be_bytes());
            add(&[0, 0, 0, 112]);
        }
        add(&m);
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        let mut c = !(sum as u16);
        if self.csum == Csum::Bad {
            c = c.wrapping_add(1);
        }
        m[6..8].copy_from_slice(&c.to_be_bytes());
        m
    }

    /// The extension headers, chained, ending in `proto`.
    fn ext_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, (_, body)) in self.ext.iter().enumerate() {
            let next = self.ext.get(i + 1).map_or(self.proto, |(t, _)| *t);
            let mut h = vec![next, 0];
            h.extend_from_slice(body);
            while !h.len().is_multiple_of(8) {
                h.push(0);
            }
            h[1] = (h.len() / 8 - 1) as u8;
            out.extend_from_slice(&h);
        }
        out
    }

    /// The IPv6 packet.
    pub fn ip(&self) -> Vec<u8> {
        let ext = self.ext_bytes();
        let vrrp = self.vrrp();
        let plen = self.payload_len.unwrap_or((ext.len() + vrrp.len()) as u16);
        let first = self.ext.first().map_or(self.proto, |(t, _)| *t);
        let mut ip = vec![self.ip_version << 4 | 0x0c, 0, 0, 0];
        ip.extend_from_slice(&plen.to_be_bytes());
        ip.extend_from_slice(&[first, self.hop_limit]);
        ip.extend_from_slice(&self.src);
        ip.extend_from_slice(&self.dst);
        ip.extend_from_slice(&ext);
        ip.extend_from_slice(&vrrp);
        ip
    }

    /// The Ethernet frame.
    pub fn frame(&self) -> Vec<u8> {
        let mut f = Vec::new();
        if self.dst[0] == 0xff {
            f.extend_from_slice(&[0x33, 0x33]);
            f.extend_from_slice(&self.dst[12..16]);
        } else {
            f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
        }
        f.extend_from_slice(&[0x00, 0x00, 0x5e, 0x00, 0x02, self.vrid]);
        if let Some(tag) = self.vlan {
            f.extend_from_slice(&[0x81, 0x00]);
            f.extend_from_slice(&(tag & 0x0fff).to_be_bytes());
        }
        f.extend_from_slice(&[0x86, 0xdd]);
        f.extend_from_slice(&self.ip());
        if let Some(n) = self.truncate {
            f.truncate(n);
        }
        f
    }

    /// Whether a raw IPv6 socket would see this packet as it is (the stack drops
    /// truncated packets and reassembles fragments first; it walks extension headers
    /// and hands over the VRRP message alone).
    pub fn reaches_a_socket(&self) -> bool {
        self.truncate.is_none()
            && self.payload_len.is_none()
            && self.ip_version == 6
            && self.proto == 112
            && self.ext.iter().all(|(t, _)| *t != 44)
    }
}
