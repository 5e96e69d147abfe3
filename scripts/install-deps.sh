#!/usr/bin/env bash
# Installs the system packages leakscope needs to build and test, when they are missing.
# Debian/Ubuntu; uses sudo when not root. Idempotent: does nothing when all are present.
set -euo pipefail
need=()
# iproute2, tcpdump, python3: the live capture tests (network namespaces); tcpreplay: its load
# test. ieee-data: MAC vendor names (optional at run time); libsqlite3-dev: --sqlite links the
# system library; chromium: the HTML report test (CI only, it is large).
pkgs=(libpcap-dev pkg-config iproute2 tcpdump python3 tcpreplay ieee-data libsqlite3-dev)
[ "${CI:-}" = "true" ] && pkgs+=(chromium)
for pkg in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${need[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
