#!/usr/bin/env python3
"""Write fuzz seeds for the `decode` target from the golden keepalived adverts.

Each fixture becomes three seeds, one per checksum acceptance, in the target's input
layout: flags byte, IP source, IP destination, VRRP message (see README.md).
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
