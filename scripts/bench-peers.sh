#!/usr/bin/env bash
# Side-by-side throughput of leakscope and its peers on one capture, in one run.
# Usage: scripts/bench-peers.sh FILE.pcap [RUNS]
# Needs: a release build (make build), hyperfine, tcpdump, tshark, ndpiReader (Debian: hyperfine
# tcpdump tshark libndpi-bin). Build the shared benchmark file with
#   ../shared/tools/make-bench-pcap bench.pcap
# Quote medians and ratios: shared machines are noisy.
set -euo pipefail
file=${1:?usage: bench-peers.sh FILE.pcap [RUNS]}; runs=${2:-5}
bin=${LEAKSCOPE:-target/release/leakscope}
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
for tool in hyperfine tcpdump tshark ndpiReader; do
  command -v "$tool" >/dev/null || { echo "bench-peers: $tool missing" >&2; exit 2; }
done
"$bin" bench --runs "$runs" --flows-only "$file"
"$bin" bench --runs "$runs" "$file"
hyperfine --warmup 1 --runs "$runs" --export-markdown "$out/peers.md" \
  -n 'leakscope flows only' "$bin replay -q --flows-only -o $out/f $file" \
  -n 'leakscope classify' "$bin replay -q -o $out/c $file" \
  -n 'ndpiReader' "ndpiReader -i $file -q" \
  -n 'tcpdump' "tcpdump -r $file -w /dev/null" \
  -n 'tshark conv' "tshark -r $file -q -z conv,tcp -z conv,udp"
cat "$out/peers.md"
