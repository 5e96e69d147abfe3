#!/usr/bin/env bash
# Runs fuzz targets one after another, one process each (one core) and prints a summary line per target.
#   fuzz/run.sh SECONDS [TARGET...]      (default: all targets)
# Each target stops after SECONDS or 10 M executions, whichever comes first. New inputs go to
# fuzz/corpus/<target>/ (not committed); the committed seeds in fuzz/seeds/<target>/ are read only.
# Needs cargo-fuzz (`cargo install --locked cargo-fuzz`); stable Rust works with RUSTC_BOOTSTRAP=1.
# FUZZ_BUILD_FLAGS overrides the build flags (default `-O --debug-assertions`).
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:?usage: fuzz/run.sh SECONDS [TARGET...]}"
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(decode pipeline dns tls quic http stun dhcp whatsapp rules pcapdroid)
export RUSTC_BOOTSTRAP=1
# shellcheck disable=SC2086
cargo fuzz build ${FUZZ_BUILD_FLAGS:--O --debug-assertions}
mkdir -p logs
triple=$(rustc -vV | sed -n 's/^host: //p')
case " ${FUZZ_BUILD_FLAGS:-} " in *" --dev "*|*" -D "*) profile=debug ;; *) profile=release ;; esac
fail=0
for t in "${targets[@]}"; do
    corpus="${FUZZ_CORPUS:-corpus}/$t"
    mkdir -p "$corpus" "artifacts/$t"
    log="logs/$t.log"
    start=$(date +%s)
    # The binaries are run directly: `cargo fuzz run` would rebuild whenever src/ changed.
    if ! "target/$triple/$profile/$t" -artifact_prefix="artifacts/$t/" "$corpus" "seeds/$t" \
        -max_total_time="$secs" -runs=10000000 -print_final_stats=1 \
        -timeout=10 -rss_limit_mb=2048 -max_len=65536 >"$log" 2>&1; then
        fail=1
        echo "$t: FAILED (see fuzz/$log and fuzz/artifacts/$t/)"
    fi
    took=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    echo "$t: ${execs:-?} execs, ${rate:-?} exec/s, cov ${cov:-?}, ft ${ft:-?}, ${took} s"
done
exit $fail
