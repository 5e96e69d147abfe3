#!/usr/bin/env python3
"""Writes a synthetic load capture: small Ethernet/IPv4 TCP and UDP frames between test
addresses (10.99.0.2 and 10.99.1.0/24, private test range), many flows, for scripts/live-load.sh.

  gen-load-pcap.py OUT.pcap [PACKETS] [FLOWS]     (defaults 1000000, 4096)
"""
import struct
import sys

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
flows = int(sys.argv[3]) if len(sys.argv) > 3 else 4096


def csum(b):
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    return ~(s + (s >> 16)) & 0xFFFF


frames = []
for f in range(flows):
    udp = f % 4 == 0
    proto = 17 if udp else 6
    src = bytes([10, 99, 0, 2])
    dst = bytes([10, 99, 1, f % 250 + 1])
    sport, dport = 20000 + f, (443 if not udp else 3478)
    payload = b"\0" * 10
    if udp:
        l4 = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    else:
        l4 = struct.pack("!HHIIBBHHH", sport, dport, 1, 1, 5 << 4, 0x18, 65535, 0, 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), f & 0xFFFF, 0, 64, proto, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    eth = b"\x02\0\0\0\0\x01" + b"\x02\0\0\0\0\x02" + b"\x08\x00"
    frames.append(eth + ip + l4)

with open(out, "wb") as w:
    w.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    t0 = 1_767_261_600
    for i in range(n):
        fr = frames[i % flows]
        w.write(struct.pack("<IIII", t0 + i // 1_000_000, i % 1_000_000, len(fr), len(fr)))
        w.write(fr)
