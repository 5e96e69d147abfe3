#!/usr/bin/env bash
# Extract small hex fixtures (client-side first-flight payloads only) from the shared nDPI
# captures, for the TLS / JA4 / QUIC unit tests. Never copies the captures themselves.
#
# Output: tests/fixtures/{tls,quic}/<name>.hex, one line per client TCP segment / UDP datagram
# (lowercase hex), in capture order. Re-run after changing the table below.
#
# Usage: scripts/extract-hello-fixtures.sh [CAPTURE_ROOT]   (default /work/shared/captures/ndpi)
set -euo pipefail

root="${1:-/work/shared/captures/ndpi}"
out="$(cd "$(dirname "$0")/.." && pwd)/tests/fixtures"
mkdir -p "$out/tls" "$out/quic"

# kind  capture (relative to root)                                              stream  count  name
table=$(cat <<'TABLE'
tls   meta/pcap/facebook.pcap                                                   0       1      facebook_s0
tls   meta/pcap/facebook.pcap                                                   1       1      facebook_s1
tls   meta/pcap/whatsappfiles.pcap                                              0       1      whatsappfiles_s0
tls   meta/pcap/tls_2_reasms.pcapng                                             0       1      tls_2_reasms_s0
tls   meta/pcap/tls_2_reasms_b.pcapng                                           0       1      tls_2_reasms_b_s0
tls   negative/pcap/signal.pcap                                                 0       1      signal_s0
tls   negative/pcap/ja3_lots_of_cipher_suites.pcap                              0       1      lots_of_ciphers_s0
quic  meta/pcap/quic-mvfst-22.pcap                                              0       1      mvfst22_s0
quic  meta/pcap/quic-mvfst-exp.pcap                                             0       1      mvfst_exp_s0
quic  meta/pcap/quic_frags_ch_out_of_order_same_packet_craziness.pcapng         0       4      craziness_s0
quic  meta/pcap/quic_frags_ch_out_of_order_same_packet_craziness.pcapng         2       2      craziness_s2
quic  meta/pcap/quic_frags_ch_out_of_order_same_packet_craziness.pcapng         103     2      craziness_s103
quic  negative/pcap/quic-v2.pcapng                                              0       1      v2_s0
quic  negative/pcap/quic_0RTT.pcap                                              0       1      draft28_0rtt_s0
quic  negative/pcap/quic_0RTT.pcap                                              1       3      v1_0rtt_s1
quic  negative/pcap/quic_q46.pcap                                               0       1      q46_s0
TABLE
)

while read -r kind cap stream count name; do
  [ -z "$kind" ] && continue
  pcap="$root/$cap"
  if [ "$kind" = tls ]; then
    # Client = sender of the stream's first ClientHello; keep its first `count` payload segments.
    client=$(tshark -r "$pcap" -Y "tcp.stream==$stream && tls.handshake.type==1" -T fields \
      -e tcp.srcport 2>/dev/null | awk "NR==1")
    tshark -r "$pcap" -Y "tcp.stream==$stream && tcp.srcport==$client && tcp.len>0" -T fields \
      -e tcp.payload 2>/dev/null | awk -v n="$count" "NR<=n" | tr -d ':' >"$out/tls/$name.hex"
  else
    # Client = sender of the stream's first datagram.
    client=$(tshark -r "$pcap" -Y "udp.stream==$stream" -T fields -e udp.srcport 2>/dev/null | awk "NR==1")
    tshark -r "$pcap" -Y "udp.stream==$stream && udp.srcport==$client" -T fields \
      -e udp.payload 2>/dev/null | awk -v n="$count" "NR<=n" | tr -d ':' >"$out/quic/$name.hex"
  fi
  printf '%-6s %-24s %s\n' "$kind" "$name" "$(wc -l <"$out/$kind/$name.hex") line(s)"
done <<<"$table"
