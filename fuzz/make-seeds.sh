#!/usr/bin/env bash
# Builds the fuzz seed corpora in fuzz/seeds/<target>/ from the real captures (with tshark) and the
# hex fixtures in tests/fixtures/. Deterministic: files are named by their SHA-1, as libFuzzer does.
#   fuzz/make-seeds.sh            # captures from ${LEAKSCOPE_SHARED_CAPTURES:-../shared/captures}
# The pcaps themselves are never copied: only small payloads, capped per target.
set -euo pipefail
cd "$(dirname "$0")/.."
CAPTURES="${LEAKSCOPE_SHARED_CAPTURES:-../shared/captures}"
OUT=fuzz/seeds
command -v tshark >/dev/null || { echo "make-seeds: tshark is needed (apt-get install tshark)" >&2; exit 1; }
[ -d "$CAPTURES/ndpi" ] || { echo "make-seeds: no captures at $CAPTURES" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# Inputs that once crashed a target (crash-*) are kept: they are regression seeds.
mkdir -p "$TMP/crashes"
(cd "$OUT" 2>/dev/null && find . -name 'crash-*' -exec cp --parents {} "$TMP/crashes/" \;) || true
rm -rf "$OUT"
mkdir -p "$OUT"

# One TSV per capture: encapsulation, frame number, stream, flags, hex payloads. tshark prints
# fields; python below turns them into seeds.
for pcap in "$CAPTURES"/ndpi/*/pcap/*; do
    name=$(basename "$pcap")
    encap=$(capinfos -E "$pcap" 2>/dev/null | sed -n 's/^File encapsulation: *//p' || true)
    printf '%s\n' "$encap" >"$TMP/$name.encap"
    # Raw frames (first 200) for the decoder and the pipeline.
    tshark -r "$pcap" -c 200 -x -T json 2>/dev/null |
        python3 -c 'import json,sys
for p in json.load(sys.stdin):
    print(p["_source"]["layers"]["frame_raw"][0])' >"$TMP/$name.frames" 2>/dev/null || true
    tshark -r "$pcap" -T fields -E separator=/t \
        -e frame.number -e tcp.srcport -e tcp.dstport -e udp.srcport -e udp.dstport \
        -e tcp.payload -e udp.payload -e tls.handshake.type -e quic.long.packet_type \
        -e http.request -e stun.type -e dhcp.type -e rtp.version -e rtcp.version \
        -e dtls.handshake.type \
        -o tcp.desegment_tcp_streams:FALSE \
        >"$TMP/$name.fields" 2>/dev/null || true
done

# Google QUIC Q050/T051 (no real capture of them exists): the project's generated capture.
tshark -r captures/gquic-q050.pcap -T fields -e udp.payload >"$TMP/gquic-q050.udp" 2>/dev/null || true
cp rules/*.toml "$TMP/" 2>/dev/null || true
python3 - "$TMP" "$OUT" <<'PY'
import glob, hashlib, os, sys
tmp, out = sys.argv[1], sys.argv[2]
CAP = 200          # seeds per target at most
seeds = {}
extra = {}         # uncapped seeds, not counted against CAP
def add(target, data, capped=True):
    if not data or len(data) > 65536:
        return
    s = seeds.setdefault(target, {}) if capped else extra.setdefault(target, {})
    if len(s) < CAP or not capped:
        s[hashlib.sha1(data).hexdigest()] = data
def unhex(h):
    h = h.split(",")[0].replace(":", "").strip()
    try:
        return bytes.fromhex(h)
    except ValueError:
        return b""

# Selectors must match the tables in fuzz_targets/decode.rs and pipeline.rs.
DECODE_SEL = {"Ethernet": 1, "Raw IP": 4, "Linux cooked-mode capture v1": 6,
              "Linux cooked-mode capture v2": 9, "NULL/Loopback": 0}
PIPE_SEL = {"Ethernet": 0, "Raw IP": 1, "Linux cooked-mode capture v1": 2,
            "Linux cooked-mode capture v2": 3}
for frames in sorted(glob.glob(f"{tmp}/*.frames")):
    base = frames[: -len(".frames")]
    encap = open(base + ".encap").read().strip()
    raw = [unhex(l) for l in open(frames) if l.strip()]
    if encap in DECODE_SEL:
        for f in raw[:40]:
            add("decode", bytes([DECODE_SEL[encap]]) + f)
    if encap in PIPE_SEL:
        # Packs 24 frames per seed, 3 seeds per capture: [sel][len u16 le][frame][dt=0].
        for i in range(0, min(len(raw), 72), 24):
            rec = b"".join(bytes([PIPE_SEL[encap]]) + len(f).to_bytes(2, "little") + f + b"\0"
                           for f in raw[i:i + 24])
            add("pipeline", rec[:16384])

for fields in sorted(glob.glob(f"{tmp}/*.fields")):
    for line in open(fields):
        c = line.rstrip("\n").split("\t")
        c += [""] * (15 - len(c))
        (_, tsp, tdp, usp, udp_, tpay, upay, hs, qlong, httpreq, stun, dhcp, rtp, rtcp,
         dtls_hs) = c[:15]
        tp, up = unhex(tpay), unhex(upay)
        ports = {tsp, tdp, usp, udp_}
        if "53" in ports:
            add("dns", up or tp)
        if tp and "1" in hs.split(","):
            add("tls", tp)
            if len(tp) > 5 and tp[0] == 0x16:
                add("tls", tp[5:])     # the handshake entry point
        if tp and {"2", "11"} & set(hs.split(",")):
            add("tls", tp, capped=False)   # a server's first flight: ServerHello, Certificate
        if up and "1" in dtls_hs.split(","):
            add("tls", up, capped=False)   # DTLS hellos: few, and past the TCP ones' cap
        if up and "0" in qlong.split(","):
            add("quic", up)
        if tp and httpreq:
            add("http", tp)
        if up and (stun or rtp or rtcp):
            add("stun", up)
        if tp and stun:
            add("stun", tp)
        if up and dhcp:
            add("dhcp", up)
        if tp and ({"5222", "443", "80", "5223"} & ports) and tp[:2] in (b"WA", b"ED"):
            add("whatsapp", tp)

# Q050/T051 datagrams, and a decrypted Q050 payload (gQUIC CRYPTO frame 0x08 holding a CHLO)
# for the frame walker, which the fuzzer cannot reach through the AEAD.
for line in open(f"{tmp}/gquic-q050.udp"):
    add("quic", unhex(line), capped=False)
chlo = b"CHLO\x02\x00\x00\x00SNI\x00\x09\x00\x00\x00UAID\x14\x00\x00\x00a.exampleCronet/80.0"
add("quic", b"\x00\x07\x40\x01\x00\x00\x02\x00\x08\x00" + bytes([len(chlo)]) + chlo, capped=False)

# Hex fixtures: the last column of each TSV row, and whole .hex files.
FIXTURES = {"dns": ["dns/payloads.tsv"], "http": ["http/requests.tsv"],
            "stun": ["stun/udp_payloads.tsv", "stun/tcp_client_bytes.tsv"],
            "dhcp": ["dhcp/payloads.tsv"], "whatsapp": ["whatsapp/first_client_bytes.tsv"]}
for target, files in FIXTURES.items():
    for f in files:
        for line in open(os.path.join("tests/fixtures", f)):
            add(target, unhex(line.rstrip("\n").split("\t")[-1]))
for f in sorted(glob.glob("tests/fixtures/tls/*.hex")):
    d = unhex(open(f).read())
    add("tls", d)
    add("tls", d[5:])
for f in sorted(glob.glob("tests/fixtures/cert/*.hex")):
    add("tls", unhex(open(f).read()), capped=False)   # whole flights: a leaf spans segments
for f in sorted(glob.glob(f"{tmp}/*.toml")):
    add("rules", open(f, "rb").read())
add("rules", b'[service.x.role.y]\nprefix_file = "p.txt"\n#--prefixes--\n10.0.0.0/8\n::1/128 # c\n')

for target, s in extra.items():
    seeds.setdefault(target, {}).update(s)
for target, s in sorted(seeds.items()):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    for h, data in s.items():
        open(os.path.join(d, h), "wb").write(data)
    print(f"{target}: {len(s)} seeds")
PY
cp -r "$TMP/crashes/." "$OUT/"
du -sh "$OUT"
