#!/usr/bin/env python3
"""Write fuzz seeds for the `decode` and `validate` targets (see README.md).

`decode`: each golden keepalived advert becomes three seeds, one per checksum
acceptance, in the target's input layout: flags byte, IP source, IP destination,
VRRP message. `validate`: valid Ethernet frames for the target's configuration.
Run from the fuzz/ directory.
"""
import glob
import ipaddress
import os

FIXTURES = "../vrrp-core/tests/fixtures"
OUT = "seeds/decode"

os.makedirs(OUT, exist_ok=True)
for path in sorted(glob.glob(f"{FIXTURES}/*.txt")):
    fields = {}
    for line in open(path).read().splitlines():
        if line and not line.startswith("#"):
            key, value = line.split(" ", 1)
            fields[key] = value.strip()
    src = ipaddress.ip_address(fields["src"])
    dst = ipaddress.ip_address(fields["dst"])
    msg = bytes.fromhex(fields["vrrp"])
    family = 1 if src.version == 6 else 0
    name = os.path.basename(path)[: -len(".txt")]
    for accept in range(3):  # 0 pseudo-header, 1 message-only, 2 either
        with open(f"{OUT}/{name}-{accept}", "wb") as f:
            f.write(bytes([family | accept << 1]) + src.packed + dst.packed + msg)

# Seeds for the `validate` target: valid Ethernet frames for its fixed configuration
# (see fuzz_targets/validate.rs), each behind a repair-flags byte (bit 0 IPv4 header
# checksum, bit 1 VRRP with pseudo-header, bit 2 VRRP message-only).
import struct

OUT_V = "seeds/validate"
PEER, LOCAL, GROUP = [10, 1, 2, 10], [10, 1, 1, 10], [224, 0, 0, 18]


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def frame(ver, vrid, addrs, src, dst, ttl, pseudo=True, options=b"", vlan=None):
    m = bytearray([ver << 4 | 1, vrid, 100, len(addrs)])
    m += bytes([0, 1]) if ver == 2 else struct.pack("!H", 100)
    m += b"\0\0" + b"".join(bytes(a) for a in addrs)
    if ver == 2:
        m += b"\0" * 8
    ph = bytes(src) + bytes(dst) + bytes([0, 112]) + struct.pack("!H", len(m))
    m[6:8] = struct.pack("!H", csum((ph if ver == 3 and pseudo else b"") + bytes(m)))
    ihl = 20 + len(options)
    ip = bytearray([0x40 | ihl // 4, 0]) + struct.pack("!H", ihl + len(m))
    ip += b"\x12\x34\x40\x00" + bytes([ttl, 112, 0, 0]) + bytes(src) + bytes(dst) + options
    ip[10:12] = struct.pack("!H", csum(bytes(ip)))
    mac = bytes([1, 0, 0x5E, 0, 0, 18]) if dst == GROUP else bytes([2, 0, 0, 0, 0, 1])
    eth = mac + bytes([0, 0, 0x5E, 0, 1, vrid])
    if vlan is not None:
        eth += b"\x81\x00" + struct.pack("!H", vlan)
    return eth + b"\x08\x00" + bytes(ip + m)


VIP = [[10, 1, 255, 1]]
SEEDS = {
    "v3_unicast": (frame(3, 51, VIP, PEER, LOCAL, 254), 3),
    "v3_twenty_addrs": (frame(3, 51, [[10, 1, 255, i] for i in range(20)], PEER, LOCAL, 255), 3),
    "v3_options_vlan": (frame(3, 51, VIP, PEER, LOCAL, 254, options=b"\x94\x04\0\0", vlan=42), 3),
    "v2_multicast": (frame(2, 52, VIP + [[10, 1, 255, 2]], PEER, GROUP, 255), 5),
    "v3_v2_style": (frame(3, 53, VIP, PEER, LOCAL, 64, pseudo=False), 5),
    "v3_any_source": (frame(3, 54, VIP, [192, 0, 2, 77], GROUP, 255), 3),
}
os.makedirs(OUT_V, exist_ok=True)
for name, (f, repair) in SEEDS.items():
    for flags in (0, repair):
        with open(f"{OUT_V}/{name}-{flags}", "wb") as out:
            out.write(bytes([flags]) + f)
