#!/usr/bin/env bash
# Regenerate the tshark reference fixtures under tests/fixtures/tshark/ from the
# shared real captures (nDPI test suite). The captures themselves are never copied
# into the repository: only tshark's numbers about them are.
#
#   LEAKSCOPE_SHARED_CAPTURES=/path/to/shared/captures scripts/make-tshark-fixtures.sh
#
# Outputs, per capture <group>/<file> (group = meta | negative):
#   conv/<group>/<file>.tsv  one row per tshark TCP/UDP conversation (-z conv,tcp -z conv,udp)
#   sni/<group>/<file>.tsv   one row per TLS or QUIC ClientHello carrying an SNI
#   dns/<group>/<file>.tsv   one row per DNS response
#
# Why the conv numbers are recomputed from per-frame fields: tshark 4.0 prints the
# conversation table's byte counts humanised ("15 kB"), which loses precision. The
# script therefore aggregates frame.len per tcp.stream / udp.stream itself (the same
# key the conversation tap uses) and then checks the result against tshark's own
# table: the frame counts per direction must match exactly, the byte counts must
# match wherever tshark printed them exactly ("N bytes"). A mismatch aborts.
#
# What the conv rows mean (details and how each was checked: README.md there):
#  - one row per tcp.stream / udp.stream: a 4-tuple reused by a new SYN gives
#    several rows with the same endpoints (told apart by start time);
#  - A is the source of the conversation's first frame; tshark 4.0's "<-" column
#    group is B->A, "->" is A->B;
#  - bytes are whole frame lengths (link header included);
#  - IP fragments: only the frame completing reassembly is counted (1 frame, its
#    own length); the other fragments are in no row;
#  - tunnels: 6in4 shows only the inner conversations; VXLAN shows both the outer
#    UDP 4789 rows and the inner ones, each with the full outer frame length;
#  - TCP/UDP headers quoted in ICMP errors are not counted.
#
# Determinism: a private empty WIRESHARK_CONFIG_DIR (no user preferences), -n (no
# name resolution), LC_ALL=C sorting. Running twice yields identical files.
# See tests/fixtures/tshark/README.md for how port reuse, IP fragments and tunnels
# show up in these numbers.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
captures=${LEAKSCOPE_SHARED_CAPTURES:-../shared/captures}
out=tests/fixtures/tshark
tshark=${TSHARK:-tshark}
export LC_ALL=C

command -v "$tshark" >/dev/null || { echo "tshark not found (set TSHARK=...)" >&2; exit 1; }
[ -d "$captures/ndpi" ] || { echo "no captures at $captures/ndpi" >&2; exit 1; }

WIRESHARK_CONFIG_DIR=$(mktemp -d)
export WIRESHARK_CONFIG_DIR
scratch=$(mktemp -d)
trap 'rm -rf "$WIRESHARK_CONFIG_DIR" "$scratch"' EXIT

version=$("$tshark" --version 2>/dev/null | head -n1)

# tshark's stderr minus the "Running as user root" notice, on one line.
clean_err() {
  # The capture directory is cut out of messages so that fixtures don't depend on
  # where the captures live.
  grep -v -e '^Running as user' -e '^$' "$1" | tr '\n' ' ' | sed -e 's/ *$//' \
    -e "s#$captures/##g" || true
}

# Run tshark with stdout to $1, stderr to $scratch/err; never fail the script.
# Sets $rc to tshark's exit status.
run_tshark() {
  local dest=$1
  shift
  rc=0
  "$tshark" -n "$@" >"$dest" 2>"$scratch/err" || rc=$?
}

header() { # $1 = relative capture name, $2 = what
  printf '# %s of ndpi/%s by scripts/make-tshark-fixtures.sh with %s\n' "$2" "$1" "$version"
}

note_error() { # appended after the header when tshark complained
  local err
  err=$(clean_err "$scratch/err")
  if [ "$rc" -ne 0 ] || [ -n "$err" ]; then
    printf '# tshark exit status %s: %s\n' "$rc" "$err"
  fi
}

# Per-frame fields used to rebuild the conversation table. frame.protocols gives the
# layer order, so each tcp/udp layer can be paired with the IP layer just before it
# (needed for tunnels, where a frame has several IP and/or UDP layers).
frame_fields=(-e frame.len -e frame.protocols -e ip.src -e ip.dst -e ipv6.src -e ipv6.dst
  -e tcp.stream -e tcp.srcport -e tcp.dstport -e udp.stream -e udp.srcport -e udp.dstport)

# Aggregate per-frame fields into conversations:
# proto addrA portA addrB portB pkts_A_to_B pkts_B_to_A bytes_A_to_B bytes_B_to_A
# A is the source of the first frame of the stream, as in tshark's table.
aggregate_awk='
BEGIN { FS = "\t"; OFS = "\t" }
{
  len = $1; np = split($2, layer, ":")
  n4 = split($3, s4, ","); split($4, d4, ",")
  n6 = split($5, s6, ","); split($6, d6, ",")
  nt = split($7, ts, ","); split($8, tsp, ","); split($9, tdp, ",")
  nu = split($10, us, ","); split($11, usp, ","); split($12, udp_, ",")
  i4 = 0; i6 = 0; it = 0; iu = 0; src = ""; dst = ""
  for (k = 1; k <= np; k++) {
    # Headers quoted inside an ICMP error get a tcp.stream/udp.stream too, but the
    # conversation tap ignores them: stop at the first ICMP layer.
    if (layer[k] == "icmp" || layer[k] == "icmpv6") break
    if (layer[k] == "ip") { i4++; src = s4[i4]; dst = d4[i4] }
    else if (layer[k] == "ipv6") { i6++; src = s6[i6]; dst = d6[i6] }
    else if (layer[k] == "tcp" && it < nt) { it++; add("tcp", ts[it], src, tsp[it], dst, tdp[it]) }
    else if (layer[k] == "udp" && iu < nu) { iu++; add("udp", us[iu], src, usp[iu], dst, udp_[iu]) }
  }
}
function add(proto, stream, src, sp, dst, dp,   key) {
  if (stream == "") return
  key = proto SUBSEP stream
  if (!(key in a)) { a[key] = src; pa[key] = sp; b[key] = dst; pb[key] = dp; order[++n] = key }
  if (src == a[key] && sp == pa[key] && !(src == b[key] && sp == pb[key] && dst == a[key])) {
    fab[key]++; bab[key] += len
  } else { fba[key]++; bba[key] += len }
}
END {
  for (i = 1; i <= n; i++) {
    key = order[i]; split(key, kp, SUBSEP)
    print kp[1], a[key], pa[key], b[key], pb[key], fab[key] + 0, fba[key] + 0, bab[key] + 0, bba[key] + 0
  }
}'

# Parse tshark 4.0 "-z conv" text: "A:pa <-> B:pb  fBA bBA unit  fAB bAB unit  ..."
# The "<-" column group is B->A and "->" is A->B (checked by hand with display filters,
# see README). IPv6 addresses print unbracketed in 4.0, brackets are stripped anyway.
# Output: proto A pa B pb fAB fBA bAB bBA, a byte count being "?" when humanised.
table_awk='
BEGIN { OFS = "\t" }
/^TCP Conversations/ { proto = "tcp" }
/^UDP Conversations/ { proto = "udp" }
$2 == "<->" {
  split_ep($1); A = ep_a; PA = ep_p; split_ep($3); B = ep_a; PB = ep_p
  bba = ($6 == "bytes") ? $5 : "?"; bab = ($9 == "bytes") ? $8 : "?"
  print proto, A, PA, B, PB, $7, $4, bab, bba
}
function split_ep(s,   i) {
  i = match(s, /:[0-9]+$/); ep_a = substr(s, 1, i - 1); ep_p = substr(s, i + 1)
  gsub(/[][]/, "", ep_a)
}'

# Check every table row has a computed row with equal frames (and equal bytes where
# the table is exact), as multisets. Prints mismatches; exit status 1 if any.
verify_awk='
BEGIN { FS = OFS = "\t" }
FNR == NR { k = $1 FS $2 FS $3 FS $4 FS $5 FS $6 FS $7; comp[k, ++cn[k]] = $8 FS $9; next }
{
  k = $1 FS $2 FS $3 FS $4 FS $5 FS $6 FS $7
  if (used[k] >= cn[k]) { print "table row without computed match: " $0; bad = 1; next }
  split(comp[k, ++used[k]], cb, FS)
  if (($8 != "?" && $8 != cb[1]) || ($9 != "?" && $9 != cb[2])) { print "byte mismatch: " $0 " vs " cb[1] " " cb[2]; bad = 1 }
}
END { for (k in cn) if (used[k] + 0 != cn[k]) { print "computed row not in table: " k; bad = 1 } exit bad }'

make_conv() { # $1 capture path, $2 group/file
  local dest=$out/conv/$2.tsv table_rc table_err
  run_tshark "$scratch/table" -r "$1" -q -z conv,tcp -z conv,udp
  table_rc=$rc
  table_err=$(clean_err "$scratch/err")
  awk "$table_awk" "$scratch/table" >"$scratch/table.tsv"
  run_tshark "$scratch/frames" -r "$1" -T fields -E separator=/t -E occurrence=a -E aggregator=, "${frame_fields[@]}"
  awk "$aggregate_awk" "$scratch/frames" >"$scratch/conv.tsv"
  if ! awk "$verify_awk" "$scratch/conv.tsv" "$scratch/table.tsv" >"$scratch/verify"; then
    echo "conv mismatch for $2:" >&2
    cat "$scratch/verify" >&2
    exit 1
  fi
  {
    header "$2" "tshark -z conv,tcp -z conv,udp"
    printf '# one row per tcp.stream/udp.stream; a reused 4-tuple gives several rows; VXLAN: outer and inner rows; fragments: only the reassembling frame counts; see tests/fixtures/tshark/README.md\n'
    if [ "$table_rc" -ne 0 ] || [ -n "$table_err" ]; then
      printf '# tshark exit status %s: %s\n' "$table_rc" "$table_err"
    fi
    printf '#proto\taddr_a\tport_a\taddr_b\tport_b\tpkts_a_to_b\tpkts_b_to_a\tbytes_a_to_b\tbytes_b_to_a\n'
    sort "$scratch/conv.tsv"
  } >"$dest"
}

# The 5-tuple of the innermost transport layer, as "proto client cport server sport".
# Used for SNI and DNS rows: the last IP layer and the last tcp/udp port pair.
tuple_awk='
function tuple(   np, layer, k, n, s, d, last, proto, sp, dp, v) {
  np = split($2, layer, ":"); last = ""; proto = ""
  for (k = 1; k <= np; k++) {
    if (layer[k] == "ip" || layer[k] == "ipv6") last = layer[k]
    if (layer[k] == "tcp" || layer[k] == "udp") proto = layer[k]
  }
  if (last == "ip") { n = split($3, s, ","); split($4, d, ",") }
  else { n = split($5, s, ","); split($6, d, ",") }
  if (proto == "tcp") { v = split($7, sp, ","); split($8, dp, ",") }
  else { v = split($9, sp, ","); split($10, dp, ",") }
  return proto "\t" s[n] "\t" sp[v] "\t" d[n] "\t" dp[v]
}'
tuple_fields=(-e frame.protocols -e ip.src -e ip.dst -e ipv6.src -e ipv6.dst
  -e tcp.srcport -e tcp.dstport -e udp.srcport -e udp.dstport)

make_sni() {
  local dest=$out/sni/$2.tsv
  # QUIC Initials are decrypted by tshark itself; their ClientHello shows up as
  # tls.handshake.type == 1 inside the quic layer, with the same tls.* fields.
  run_tshark "$scratch/sni" -r "$1" -Y 'tls.handshake.type == 1' -T fields -E separator=/t \
    -E occurrence=a -E aggregator=, -e frame.number "${tuple_fields[@]}" \
    -e tls.handshake.extensions_server_name
  {
    header "$2" "TLS/QUIC ClientHellos (tshark -Y 'tls.handshake.type == 1')"
    note_error
    printf '#proto\tclient_ip\tclient_port\tserver_ip\tserver_port\tsni\n'
    awk -F'\t' -v OFS='\t' "$tuple_awk"'
      # $1 is frame.number, only there so that every field is addressed alike.
      # A ClientHello without the SNI extension gets "-"; several in one frame get a row each.
      $11 == "" { print tuple(), "-"; next }
      { n = split($11, names, ","); for (i = 1; i <= n; i++) print tuple(), names[i] }' \
      "$scratch/sni" | sort
  } >"$dest"
}

make_dns() {
  local dest=$out/dns/$2.tsv
  run_tshark "$scratch/dns" -r "$1" -Y 'dns.flags.response == 1' -T fields -E separator=/t \
    -E occurrence=a -E aggregator=, -e frame.number "${tuple_fields[@]}" \
    -e dns.qry.name -e dns.a -e dns.aaaa
  {
    header "$2" "DNS responses (tshark -Y 'dns.flags.response == 1')"
    note_error
    printf '#proto\tclient_ip\tclient_port\tserver_ip\tserver_port\tquery\tanswers\n'
    # In a response the client is the destination: swap the tuple's ends.
    awk -F'\t' -v OFS='\t' "$tuple_awk"'
      {
        split(tuple(), t, "\t"); answers = $12
        if ($13 != "") answers = (answers == "" ? $13 : answers "," $13)
        if (answers == "") answers = "-"
        print t[1], t[4], t[5], t[2], t[3], $11, answers
      }' "$scratch/dns" | sort
  } >"$dest"
}

for group in meta negative; do
  mkdir -p "$out/conv/$group" "$out/sni/$group" "$out/dns/$group"
  for capture in "$captures/ndpi/$group/pcap/"*; do
    [ -f "$capture" ] || continue
    name=$group/$(basename "$capture")
    echo "fixtures for $name" >&2
    make_conv "$capture" "$name"
    make_sni "$capture" "$name"
    make_dns "$capture" "$name"
  done
done
