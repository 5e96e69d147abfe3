#!/usr/bin/env bash
# Live capture load test (root): replays a capture at top speed into a veth pair inside two
# private network namespaces and captures it with `leakscope capture` on the other end.
# Nothing leaves the machine. Prints tcpreplay's rate and leakscope's counters.
#
#   scripts/live-load.sh [CAPTURE] [LOOPS]     (default /work/bench/bench.pcap, 1 loop)
#
# The capture is rewritten with tcprewrite: every IPv4 address into 10.99.0.0/16 (host bits
# kept, so flows stay distinct), destination MAC to the capturing veth.
# Environment: BUFFER, SNAPLEN (capture settings), HANDOFF=batch|inline, PARALLEL, DRAIN (below),
# SENDER=mmsg|tcpreplay (default mmsg: examples/load-sender.rs, 256 frames per sendmmsg; build it
# with `cargo build --release --example load-sender`), PPS=RATE (mmsg only: send at that rate),
# WRITE_PCAP=1 (also --write-pcap of the Meta flows; its counters are in the last stats line).
set -euo pipefail
pcap=${1:-/work/bench/bench.pcap}
loops=${2:-1}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${LEAKSCOPE:-$root/target/release/leakscope}
sender=${SENDER:-mmsg}
sendbin=$root/target/release/examples/load-sender
id=$$
phone=lsp-load-$id laptop=lsl-load-$id a=lsvl$id b=lsvp$id
work=$(mktemp -d)
cleanup() {
  [ -n "${cap_pid:-}" ] && kill "$cap_pid" 2>/dev/null || true
  ip netns del "$phone" 2>/dev/null || true
  ip netns del "$laptop" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$phone"
ip netns add "$laptop"
ip link add "$a" netns "$laptop" type veth peer name "$b" netns "$phone"
for pair in "$laptop $a 10.99.0.1/24" "$phone $b 10.99.0.2/24"; do
  set -- $pair
  ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  ip -n "$1" addr add "$3" dev "$2"
  # Captures may hold frames larger than 1500 (offloaded segments): let them through.
  ip -n "$1" link set "$2" mtu 65535 up
done
mac=$(ip -n "$laptop" -br link show "$a" | awk '{print $3}')

tcprewrite --infile="$pcap" --outfile="$work/load.pcap" \
  --pnat=0.0.0.0/0:10.99.0.0/16 --enet-dmac="$mac" --fixcsum 2>"$work/rewrite.err" ||
  { cat "$work/rewrite.err" >&2; exit 1; }

ip netns exec "$laptop" "$bin" capture -i "$a" -o "$work/out" --user root \
  --buffer-size "${BUFFER:-256M}" --snaplen "${SNAPLEN:-4096}" --stats-interval 3600 \
  --handoff "${HANDOFF:-inline}" ${WRITE_PCAP:+--write-pcap "$work/meta.pcap"} \
  2>"$work/capture.err" &
cap_pid=$!
for _ in $(seq 100); do grep -q "capturing on" "$work/capture.err" && break; sleep 0.1; done
# DRAIN=1: leakscope is stopped (SIGSTOP) while the packets are sent, so they queue in the kernel
# buffer; then it is continued and told to stop at once: it drains the whole queue before exiting,
# and the time that takes measures what leakscope alone can do, whatever the sender's speed.
[ -n "${DRAIN:-}" ] && kill -STOP "$cap_pid"
# PARALLEL=N runs N tcpreplay processes at once (one sender saturates a core first).
start=$(date +%s.%N)
for i in $(seq "${PARALLEL:-1}"); do
  if [ "$sender" = tcpreplay ]; then
    ip netns exec "$phone" tcpreplay --topspeed --preload-pcap --loop="$loops" -i "$b" \
      "$work/load.pcap" >"$work/replay$i.out" 2>&1 &
  else
    ip netns exec "$phone" "$sendbin" "$b" "$work/load.pcap" --loops "$loops" \
      ${PPS:+--pps "$PPS"} >"$work/replay$i.out" 2>&1 &
  fi
done
wait $(jobs -p | grep -v "^$cap_pid\$")
end=$(date +%s.%N)
grep -hE "Actual|Rated|Failed|^sent" "$work"/replay*.out
sent=$(grep -hE "Actual:|^sent" "$work"/replay*.out | awk '{s+=$2} END {print s}')
awk -v s="$sent" -v a="$start" -v b="$end" \
  'BEGIN {printf "all senders: %d packets in %.2f s = %.0f packets/s\n", s, b-a, s/(b-a)}'

if [ -n "${DRAIN:-}" ]; then
  t0=$(date +%s.%N)
  kill -CONT "$cap_pid"
  kill -TERM "$cap_pid"
  wait "$cap_pid" || true
  t1=$(date +%s.%N)
  cap_pid=
  grep -v INFO "$work/capture.err"
  awk -v n="$(grep -o '"delivered":[0-9]*' "$work/out/stats.jsonl" | tail -1 | cut -d: -f2)" \
    -v a="$t0" -v b="$t1" \
    'BEGIN {printf "drained %d queued packets in %.2f s = %.0f packets/s (includes the final flush)\n", n, b-a, n/(b-a)}'
  exit 0
fi
sleep 1
# CPU per thread, from /proc (clock ticks → seconds): user, system.
for t in /proc/"$cap_pid"/task/*; do
  awk -v hz="$(getconf CLK_TCK)" '{sub(/^[^)]*\) /, ""); printf "leakscope thread %s: user %.2f s, system %.2f s\n", FILENAME, $12/hz, $13/hz}' "$t/stat"
done
kill -TERM "$cap_pid"
wait "$cap_pid"
cap_pid=
grep -v INFO "$work/capture.err"
tail -n 1 "$work/out/stats.jsonl"
