#!/bin/sh
# Regenerates the "Accuracy on real captures" table of docs/exposure.md from the accuracy test
# over the labelled real captures (tests/exposure_accuracy.rs; needs ../shared/captures or
# $LEAKSCOPE_SHARED_CAPTURES). The test fails below its goals; the table is written either way.
set -eu
cd "$(dirname "$0")/.."
out=$(mktemp)
trap 'rm -f "$out" "$out.table" "$out.doc"' EXIT
status=0
cargo test --release --test exposure_accuracy exposure_map_finds_what_people_did -- --nocapture \
    >"$out" 2>&1 || status=$?
{
    echo "Printed by \`cargo test --release --test exposure_accuracy -- --nocapture\`"
    echo "(commit $(git rev-parse --short HEAD), $(date -u +%Y-%m-%d)):"
    echo
    grep '^|' "$out"
    echo
    grep '^false activities in ' "$out" | sed 's/^/- /'
    grep '^call ' "$out" | sed 's/^/- /' || true
} >"$out.table"
if ! grep -q '^| kind ' "$out.table"; then
    cat "$out" >&2
    echo "exposure-accuracy: the test printed no table" >&2
    exit 1
fi
awk -v table="$out.table" '
    /<!-- accuracy:begin -->/ { print; while ((getline l < table) > 0) print l; skip = 1; next }
    /<!-- accuracy:end -->/ { skip = 0 }
    !skip { print }
' docs/exposure.md >"$out.doc"
cp "$out.doc" docs/exposure.md
echo "docs/exposure.md: accuracy table updated (test exit status $status)"
exit "$status"
