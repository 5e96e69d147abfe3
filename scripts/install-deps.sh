#!/usr/bin/env bash
# Installs the system packages leakscope needs to build and test, when they are missing.
# Debian/Ubuntu; uses sudo when not root. Idempotent: does nothing when all are present.
set -euo pipefail
need=()
# iproute2, tcpdump, python3: the live capture tests (network namespaces); tcpreplay: its load
# test. ieee-data: MAC vendor names (optional at run time); libsqlite3-dev: --sqlite links the
# system library; chromium: the HTML report test; openjdk-17-jre-headless: Spark for the
# contrib/spark job's test (both CI only, they are large).
pkgs=(libpcap-dev pkg-config iproute2 tcpdump python3 tcpreplay ieee-data libsqlite3-dev)
[ "${CI:-}" = "true" ] && pkgs+=(chromium openjdk-17-jre-headless)
for pkg in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
fi
# The --parquet round-trip test reads the datasets with DuckDB and pyarrow (PyPI; Debian has
# neither). Under CI it fails without them; elsewhere it says it skipped that part.
if [ "${CI:-}" = "true" ] && ! python3 -c 'import duckdb, pyarrow' 2>/dev/null; then
  echo "installing: duckdb pyarrow (pip)" >&2
  python3 -m pip install --quiet duckdb pyarrow 2>/dev/null ||
    python3 -m pip install --quiet --break-system-packages duckdb pyarrow
fi
# The Spark job's test (tests/spark_job.rs) runs spark-submit in local mode: PyPI's pyspark
# carries Spark itself (about 500 MB installed); Java comes from Debian above.
if [ "${CI:-}" = "true" ] && ! python3 -c 'import pyspark' 2>/dev/null; then
  echo "installing: pyspark (pip)" >&2
  python3 -m pip install --quiet pyspark 2>/dev/null ||
    python3 -m pip install --quiet --break-system-packages pyspark
fi
