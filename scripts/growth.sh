#!/usr/bin/env bash
# Growth table: throughput and peak memory of leakscope (flows only and full, 1 and 2 threads)
# beside ndpiReader, on 1×, 10× and 100× the shared benchmark capture. Each size is generated,
# measured and deleted before the next (100× is about 16 GB: check the free space).
# Usage: scripts/growth.sh [SCALE ...]   (default: 1 10 100; RUNS=3 runs per cell, 1 for 100×)
# Needs: a release build, ../shared/tools/make-bench-pcap (tshark's editcap/mergecap),
# ndpiReader (Debian libndpi-bin), GNU time (/usr/bin/time). Prints a Markdown table of medians.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${LEAKSCOPE:-$here/target/release/leakscope}
make_bench=${MAKE_BENCH:-$here/../shared/tools/make-bench-pcap}
# GROWTH_TMP: where the captures are built (a disk with room for the largest); a new directory
# inside it is removed at the end.
mkdir -p "${GROWTH_TMP:-${TMPDIR:-/tmp}}"
tmp=$(mktemp -d -p "${GROWTH_TMP:-${TMPDIR:-/tmp}}")
trap 'rm -rf "$tmp"' EXIT
scales=("$@"); [ ${#scales[@]} -gt 0 ] || scales=(1 10 100)
for tool in ndpiReader /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "growth: $tool missing" >&2; exit 2; }
done

# median of the numbers on stdin
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# run NAME RUNS CMD...: prints "NAME wall_median peak_median_MiB"
run() {
  local name=$1 runs=$2; shift 2
  local walls=() peaks=()
  for _ in $(seq "$runs"); do
    rm -rf "$tmp/out"
    /usr/bin/time -f "%e %M" -o "$tmp/time" "$@" >/dev/null 2>&1 || true
    read -r w p < "$tmp/time"
    walls+=("$w"); peaks+=("$p")
  done
  printf '%s %s %s\n' "$name" "$(printf '%s\n' "${walls[@]}" | median)" \
    "$(printf '%s\n' "${peaks[@]}" | median | awk '{printf "%.1f", $1/1024}')"
}

echo "| size | packets | MB | command | wall (median) | MB/s | peak RSS MiB | vs ndpiReader (wall) |"
echo "|---|---|---|---|---|---|---|---|"
for s in "${scales[@]}"; do
  f="$tmp/bench-${s}x.pcap"
  rounds=$((26 * s))
  if [ "$rounds" -le 255 ]; then
    "$make_bench" "$f" "$rounds" >/dev/null
  else
    # The replication tool makes at most 255 distinct rounds (an address octet XOR the round):
    # larger sizes are copies of a 255-round file, each shifted past the previous one in time.
    # Flows repeat across copies (new flows to leakscope after its idle timeouts; ndpiReader
    # keeps their state, which favours ndpiReader).
    "$make_bench" "$tmp/base.pcap" 255 >/dev/null
    copies=$(( (rounds + 127) / 255 ))
    python3 - "$tmp/base.pcap" "$f" "$copies" <<'PY'
import struct, sys
src, dst, copies = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(src, 'rb').read()
assert data[:4] == b'\xd4\xc3\xb2\xa1', 'a little-endian microsecond pcap'
recs, at = [], 24
while at + 16 <= len(data):
    ts, us, incl, orig = struct.unpack_from('<IIII', data, at)
    recs.append((at, ts, incl))
    at += 16 + incl
span = recs[-1][1] - recs[0][1] + 3600
with open(dst, 'wb') as out:
    out.write(data[:24])
    for c in range(copies):
        shift = c * span
        buf = bytearray()
        for pos, ts, incl in recs:
            buf += struct.pack('<I', ts + shift)
            buf += data[pos + 4:pos + 16 + incl]
            if len(buf) > 1 << 24:
                out.write(buf); buf = bytearray()
        out.write(buf)
PY
    rm -f "$tmp/base.pcap"
  fi
  runs=${RUNS:-3}; [ "$s" -ge 100 ] && runs=1
  info=$("$bin" bench --runs 1 --flows-only "$f" 2>&1 | grep -o '([0-9]* packets, [0-9.]* MB' | tr -d '(,')
  pk=$(echo "$info" | awk '{print $1}'); mb=$(echo "$info" | awk '{print $3}')
  rows=()
  rows+=("$(run ndpiReader "$runs" ndpiReader -i "$f" -q)")
  for threads in 1 2; do
    rows+=("$(run "flows-only,threads=$threads" "$runs" "$bin" replay -q --threads "$threads" --flows-only -o "$tmp/out" "$f")")
    rows+=("$(run "full,threads=$threads" "$runs" "$bin" replay -q --threads "$threads" -o "$tmp/out" "$f")")
  done
  ndpi=$(echo "${rows[0]}" | awk '{print $2}')
  for r in "${rows[@]}"; do
    read -r name wall peak <<<"$r"
    echo "| ${s}× | $pk | $mb | $name | ${wall} s | $(awk -v m="$mb" -v w="$wall" 'BEGIN{printf "%.0f", m/w}') | $peak | $(awk -v n="$ndpi" -v w="$wall" 'BEGIN{printf "%.2f (%.1f×)", w/n, n/w}') |"
  done
  rm -f "$f"
done
