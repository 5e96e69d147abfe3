#!/usr/bin/env bash
# Extracts small hex fixtures for the dissector unit tests (src/dissect/*.rs) from the shared
# nDPI captures. The captures and their .out label files stay outside the repo; only short hex
# extracts plus the nDPI label of each flow are written under tests/fixtures/.
#
# Usage: scripts/extract-dissect-fixtures.sh [CAPTURES_DIR]   (default /work/shared/captures/ndpi)
# Tunnelled packets (VXLAN, 6in4) are taken at their innermost layer (occurrence=l).
# Needs: tshark, awk. Output is deterministic, so a re-run shows up as a diff only if tshark's
# dissection changes.
set -euo pipefail

CAPS=${1:-/work/shared/captures/ndpi}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/tests/fixtures
mkdir -p "$OUT/whatsapp" "$OUT/stun" "$OUT/dhcp" "$OUT/dns" "$OUT/http"

# tshark prints a warning when run as root, and exits non-zero on a cut-short capture (the
# negative set has one on purpose): keep what it could read.
ts() { tshark -n "$@" 2>/dev/null || true; }

# label_awk: awk program prefix that loads nDPI flow labels from the .out file named by the awk
# variable `out` into lab["PROTO a b"] = "proto<TAB>confidence", both directions.
read -r -d '' LABELS <<'AWK' || true
function load_labels(   line, l4, a, b, proto, conf, n, f) {
  while ((getline line < out) > 0) {
    n = split(line, f, " ")
    if (n < 5 || (f[2] != "TCP" && f[2] != "UDP")) continue
    if (f[4] != "<->" && f[4] != "->") continue
    l4 = f[2]; a = f[3]; b = f[5]
    proto = line; sub(/.*\[proto: /, "", proto); sub(/\].*/, "", proto)
    conf = line; sub(/.*\[Confidence: /, "", conf); sub(/\].*/, "", conf)
    lab[l4 " " a " " b] = proto "\t" conf
    lab[l4 " " b " " a] = proto "\t" conf
  }
}
# nDPI prints IPv6 with inet_ntop, which also folds a single zero group ("b00c::74fd");
# tshark keeps it ("b00c:0:74fd"): fold the first one the same way.
function v6(ip) { if (!index(ip, "::")) sub(/:0:/, "::", ip); return ip }
function ep(ip, port) { return (index(ip, ":") ? "[" v6(ip) "]" : ip) ":" port }
# Innermost address: tshark gives both ip.src and ipv6.src for 6in4; the IPv6 one is inside.
function addr(a4, a6) { return a6 != "" ? a6 : a4 }
function label(l4, a, b) { return ((l4 " " a " " b) in lab) ? lab[l4 " " a " " b] : "-\t-" }
AWK

# Capture files (path relative to $CAPS) and where their nDPI labels are.
captures() {
  for f in "$CAPS"/meta/pcap/* "$CAPS"/negative/pcap/*; do
    [ -f "$f" ] || continue
    local set; set=$(basename "$(dirname "$(dirname "$f")")")
    echo "$set $f $CAPS/$set/result/$(basename "$f").out"
  done
}

# First client->server bytes of every TCP stream whose SYN is in the capture (client = SYN
# sender), first 4 segments concatenated, retransmissions dropped, cut to `maxhex` hex digits.
# Columns: capture, stream, client, server, nDPI proto, nDPI confidence, hex.
tcp_first_bytes() {
  local name=$1 pcap=$2 out=$3 maxhex=$4
  ts -r "$pcap" -Y 'tcp && !tcp.analysis.retransmission' -T fields -E separator=/t -E occurrence=l \
    -e tcp.stream -e ip.src -e ipv6.src -e tcp.srcport -e ip.dst -e ipv6.dst -e tcp.dstport \
    -e tcp.flags.syn -e tcp.flags.ack -e tcp.len -e tcp.payload |
    awk -F'\t' -v out="$out" -v name="$name" -v maxhex="$maxhex" "$LABELS"'
      BEGIN { load_labels() }
      {
        s = $1; src = ep(addr($2, $3), $4); dst = ep(addr($5, $6), $7)
        if ($8 == 1 && $9 == 0 && !(s in cli)) { cli[s] = src; srv[s] = dst; order[++n] = s }
        if ((s in cli) && cli[s] == src && $10 > 0 && seg[s] < 4 && length(hex[s]) < maxhex) {
          hex[s] = hex[s] $11; seg[s]++
        }
      }
      END {
        for (i = 1; i <= n; i++) {
          s = order[i]
          if (hex[s] == "") continue
          print name "\t" s "\t" cli[s] "\t" srv[s] "\t" label("TCP", cli[s], srv[s]) "\t" substr(hex[s], 1, maxhex)
        }
      }'
}

# UDP payloads matching a display filter, first `per_flow` per unordered address pair, payloads
# longer than 1200 bytes skipped. Columns: capture, src, dst, nDPI proto, confidence, hex.
udp_payloads() {
  local name=$1 pcap=$2 out=$3 filter=$4 per_flow=$5
  ts -r "$pcap" -Y "udp && ($filter)" -T fields -E separator=/t -E occurrence=l \
    -e ip.src -e ipv6.src -e udp.srcport -e ip.dst -e ipv6.dst -e udp.dstport -e udp.payload |
    awk -F'\t' -v out="$out" -v name="$name" -v per="$per_flow" "$LABELS"'
      BEGIN { load_labels() }
      {
        src = ep(addr($1, $2), $3); dst = ep(addr($4, $5), $6)
        k = (src < dst) ? src " " dst : dst " " src
        if (cnt[k]++ >= per || length($7) > 2400 || $7 == "") next
        print name "\t" src "\t" dst "\t" label("UDP", src, dst) "\t" $7
      }'
}

: >"$OUT/whatsapp/first_client_bytes.tsv"
: >"$OUT/stun/udp_payloads.tsv"
: >"$OUT/stun/tcp_client_bytes.tsv"
: >"$OUT/dhcp/payloads.tsv"
: >"$OUT/dns/payloads.tsv"
: >"$OUT/http/requests.tsv"

captures | while read -r set pcap out; do
  name=$set/$(basename "$pcap")
  tcp_first_bytes "$name" "$pcap" "$out" 96 >>"$OUT/whatsapp/first_client_bytes.tsv"
  case $(basename "$pcap") in
  wa_video.pcap | whatsapp_voice_and_message.pcap | stun.pcap | lru_ipv6_caches.pcapng | \
    viber.pcap | stun_signal.pcapng | signal.pcap)
    udp_payloads "$name" "$pcap" "$out" 'udp.port != 53 && udp.port != 67 && udp.port != 1900 && udp.port != 5353' 12 \
      >>"$OUT/stun/udp_payloads.tsv"
    tcp_first_bytes "$name" "$pcap" "$out" 1200 | awk -F'\t' '$5 ~ /STUN/' \
      >>"$OUT/stun/tcp_client_bytes.tsv"
    ;;
  esac
  udp_payloads "$name" "$pcap" "$out" 'dhcp' 20 >>"$OUT/dhcp/payloads.tsv"
  udp_payloads "$name" "$pcap" "$out" 'dns && udp.port == 53' 40 >>"$OUT/dns/payloads.tsv"
  # Whole first client segment of HTTP/1.x requests, at most 30 flows per capture.
  tcp_first_bytes "$name" "$pcap" "$out" 8192 |
    awk -F'\t' '$7 ~ /^(474554|504f5354|48454144|505554|4f5054494f4e53)20/ && n++ < 30' \
      >>"$OUT/http/requests.tsv"
done

# A failing awk inside the loop does not stop the script: catch it by its empty output.
for f in "$OUT"/*/*.tsv; do
  [ -s "$f" ] || { echo "extract-dissect-fixtures: $f is empty" >&2; exit 1; }
done
wc -l "$OUT"/*/*.tsv
