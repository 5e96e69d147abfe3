#!/usr/bin/env bash
# Builds the Debian package (target/debian/leakscope_*.deb) with cargo-deb: `make deb`.
# The man pages, completions and the systemd unit are generated into target/deb-assets first
# (see [package.metadata.deb] in Cargo.toml). cargo-deb is installed from crates.io when missing
# (about 3 minutes of compiling), at the version pinned below; dpkg-dev provides dpkg-shlibdeps,
# which computes the package's dependencies from the binary's libraries.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO="${CARGO:-cargo}"
CARGO_DEB_VERSION="${CARGO_DEB_VERSION:-3.8.0}"

if ! dpkg-query -W -f='${Status}' dpkg-dev 2>/dev/null | grep -q "install ok installed"; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: dpkg-dev" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq dpkg-dev
fi
if ! "$CARGO" deb --version >/dev/null 2>&1; then
  echo "installing cargo-deb $CARGO_DEB_VERSION (cargo install --locked)" >&2
  "$CARGO" install --locked cargo-deb --version "$CARGO_DEB_VERSION"
fi

"$CARGO" build --release --locked
assets=target/deb-assets
rm -rf "$assets"
mkdir -p "$assets/debian"
"$CARGO" run --release --locked --quiet -- generate man "$assets/man" >/dev/null
"$CARGO" run --release --locked --quiet -- generate completions "$assets/completions" >/dev/null
# The unit in contrib/ is for a hand-installed /usr/local/bin/leakscope; the package has /usr/bin.
sed 's|/usr/local/bin/leakscope|/usr/bin/leakscope|' contrib/leakscope.service \
  >"$assets/debian/leakscope.service"
grep -q '^ExecStart=/usr/bin/leakscope ' "$assets/debian/leakscope.service"
"$CARGO" deb --no-build "$@"
