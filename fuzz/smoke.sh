#!/usr/bin/env bash
# CI fuzz smoke: builds every target (dev profile: quick to compile) and runs each briefly on its
# committed seeds, so a crash on a real input or a target that no longer builds fails CI.
# Budget: ≤ 5 min with the build (11 targets × FUZZ_SMOKE_SECS, default 8 s). cargo-fuzz is
# installed only when missing (once, ~3 min extra).
set -euo pipefail
cd "$(dirname "$0")"
start=$(date +%s)
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
# A fresh corpus: the smoke tests the committed seeds, not what local runs have gathered.
FUZZ_CORPUS=$(mktemp -d)
trap 'rm -rf "$FUZZ_CORPUS"' EXIT
export FUZZ_CORPUS
FUZZ_BUILD_FLAGS="--dev" ./run.sh "${FUZZ_SMOKE_SECS:-8}"
echo "fuzz smoke: $(($(date +%s) - start)) s in all"
