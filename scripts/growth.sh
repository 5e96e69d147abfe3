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
tmp=${GROWTH_TMP:-$(mktemp -d)}
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
  "$make_bench" "$f" $((26 * s)) >/dev/null
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
