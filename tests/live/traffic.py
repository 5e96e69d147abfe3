#!/usr/bin/env python3
"""Test traffic for tests/live_netns.rs, run inside private network namespaces only.

  traffic.py serve ADDR        laptop side: DNS responder on ADDR:53 answering every A query
                               with ADDR, TCP sinks on ADDR:443 and ADDR:5222; prints "ready".
  traffic.py phone RESOLVER    phone side: resolves g.whatsapp.net, then a TLS ClientHello
                               (SNI g.whatsapp.net) to :443 and a WhatsApp preface to :5222.
  traffic.py flood ADDR SECS   phone side: UDP datagrams to ADDR:9 from 64 source ports, as
                               fast as possible, for SECS seconds; prints the count sent.
Only standard library; crafts the bytes itself.
"""
import socket
import struct
import sys
import threading
import time

NAME = "g.whatsapp.net"


def dns_query(name, qid=0x1234):
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + q + struct.pack(">HH", 1, 1)


def dns_answer(query, addr):
    qid = query[:2]
    qend = 12
    while query[qend] != 0:
        qend += query[qend] + 1
    question = query[12 : qend + 5]
    hdr = qid + struct.pack(">HHHHH", 0x8180, 1, 1, 0, 0)
    ans = struct.pack(">HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(addr)
    return hdr + question + ans


def client_hello(sni):
    name = sni.encode()
    sni_ext = struct.pack(">HHHBH", 0, len(name) + 5, len(name) + 3, 0, len(name)) + name
    groups = struct.pack(">HHH", 10, 4, 2) + struct.pack(">H", 0x001D)
    alpn = struct.pack(">HHH", 16, 5, 3) + b"\x02h2"
    exts = sni_ext + groups + alpn
    body = (
        b"\x03\x03"
        + bytes(range(32))  # random
        + b"\x00"  # session id
        + struct.pack(">H", 4) + b"\x13\x01\xc0\x2f"  # cipher suites
        + b"\x01\x00"  # compression: null
        + struct.pack(">H", len(exts)) + exts
    )
    hs = b"\x01" + struct.pack(">I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack(">H", len(hs)) + hs


def sink(sock):
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=drain, args=(conn,), daemon=True).start()


def drain(conn):
    with conn:
        while conn.recv(65536):
            pass


def serve(addr):
    dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dns.bind((addr, 53))
    for port in (443, 5222):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(16)
        threading.Thread(target=sink, args=(s,), daemon=True).start()
    print("ready", flush=True)
    while True:
        q, peer = dns.recvfrom(2048)
        dns.sendto(dns_answer(q, addr), peer)


def send_and_close(addr, port, data):
    with socket.create_connection((addr, port), timeout=5) as s:
        s.sendall(data)
        time.sleep(0.05)
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass


def phone(resolver):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    s.sendto(dns_query(NAME), (resolver, 53))
    answer, _ = s.recvfrom(2048)
    addr = socket.inet_ntoa(answer[-4:])
    send_and_close(addr, 443, client_hello(NAME))
    send_and_close(addr, 5222, b"WA\x06\x03" + bytes(range(40)))
    print(addr, flush=True)


def flood(addr, secs):
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(64)]
    payload = b"x" * 32
    sent = 0
    end = time.monotonic() + secs
    while time.monotonic() < end:
        for s in socks:
            s.sendto(payload, (addr, 9))
        sent += len(socks)
    print(sent, flush=True)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "serve":
        serve(sys.argv[2])
    elif cmd == "phone":
        phone(sys.argv[2])
    elif cmd == "flood":
        flood(sys.argv[2], float(sys.argv[3]))
    else:
        sys.exit(f"unknown command {cmd}")
