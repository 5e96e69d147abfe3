#!/usr/bin/env bash
# Replays every capture with two leakscope binaries and compares what they write, byte for byte.
# Used to check that a refactoring changes no output.
#
#   scripts/compare-outputs.sh A_BIN B_BIN [CAPTURE_DIR...]
#
# Capture dirs default to captures/ and ${LEAKSCOPE_SHARED_CAPTURES:-../shared/captures}.
# Each capture file (and each capture dir as a whole) is replayed under several option sets
# (see CONFIGS); every file written (flows.jsonl, events.jsonl, --write-pcap file, ...), stdout,
# stderr and the exit code must be identical. Normalised, and only these:
#   - stderr: the wall-clock seconds at the end of the summary line (", 0.02 s") -> ", T s";
#   - the SQLite database is compared as `sqlite3 .dump` (its raw bytes are compared as well and
#     reported, but a difference there alone is not a failure: page layout is not output).
#   - manifest.json: the output directory's path -> OUT, and the lines that name the build or the
#     wall clock (`commit`, `started`, `ended`, `wall_seconds`) are dropped; every hash stays.
# Prints one line per difference and a summary; exits 1 on any difference.
set -u

if [ $# -lt 2 ]; then
    echo "usage: $0 A_BIN B_BIN [CAPTURE_DIR...]" >&2
    exit 2
fi
A=$(realpath "$1")
B=$(realpath "$2")
shift 2
if [ $# -gt 0 ]; then
    DIRS=("$@")
else
    DIRS=(captures "${LEAKSCOPE_SHARED_CAPTURES:-../shared/captures}")
fi
command -v sqlite3 >/dev/null || { echo "sqlite3 (CLI) needed" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/compare-outputs.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# name|options; OUT is replaced by the output directory. The file list is given after the options.
CONFIGS=(
    "full|-q -o OUT --sqlite OUT/db.sqlite --write-pcap OUT/meta.pcap"
    "anon-all|-q -o OUT --sqlite OUT/db.sqlite --anonymize compare-key --anonymize-keep-oui --write-pcap OUT/all.pcap --write-pcap-keep all --session-gap 60"
    "flows-only|-q -o OUT --flows-only --tcp-timeout 30 --udp-timeout 10 --max-flows 64"
    "stdout|-q -o -"
)

run() { # bin outdir args... ; writes outdir/{stdout,stderr,rc}
    local bin=$1 out=$2
    shift 2
    mkdir -p "$out/files"
    local args=()
    for a in "$@"; do args+=("${a//OUT/$out/files}"); done
    "$bin" replay "${args[@]}" >"$out/stdout" 2>"$out/stderr"
    echo $? >"$out/rc"
    sed -i -E 's/, [0-9]+(\.[0-9]+)? s$/, T s/' "$out/stderr"
    if [ -f "$out/files/manifest.json" ]; then
        sed -i -E -e "s#$out/files#OUT#g" \
            -e '/^ *"(commit|started|ended|wall_seconds)": /d' "$out/files/manifest.json"
    fi
    if [ -f "$out/files/db.sqlite" ]; then
        sqlite3 "$out/files/db.sqlite" .dump >"$out/files/db.sqlite.dump"
        mv "$out/files/db.sqlite" "$out/db.sqlite.raw"
    fi
}

inputs=()
for d in "${DIRS[@]}"; do
    [ -d "$d" ] || { echo "skipped (absent): $d"; continue; }
    while IFS= read -r f; do inputs+=("$f"); done < <(find "$d" -type f \
        \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.cap' -o -name '*.pcap.gz' \) | sort)
    inputs+=("$d") # the whole directory as one replay
done

n=0 same=0 diff=0 rawdiff=0
for f in "${inputs[@]}"; do
    for c in "${CONFIGS[@]}"; do
        name=${c%%|*}
        read -r -a opts <<<"${c#*|}"
        n=$((n + 1))
        rm -rf "$WORK/a" "$WORK/b"
        run "$A" "$WORK/a" "${opts[@]}" "$f"
        run "$B" "$WORK/b" "${opts[@]}" "$f"
        if diff -r "$WORK/a" "$WORK/b" --exclude=db.sqlite.raw >"$WORK/d" 2>&1; then
            same=$((same + 1))
        else
            diff=$((diff + 1))
            echo "DIFFERENT: $name $f"
            head -20 "$WORK/d" | sed 's/^/    /'
        fi
        if [ -f "$WORK/a/db.sqlite.raw" ] && ! cmp -s "$WORK/a/db.sqlite.raw" "$WORK/b/db.sqlite.raw"; then
            rawdiff=$((rawdiff + 1))
            echo "note: sqlite file bytes differ (dump equal or reported above): $name $f"
        fi
    done
done
echo "compare-outputs: A=$A B=$B"
echo "compare-outputs: ${#inputs[@]} inputs x ${#CONFIGS[@]} option sets = $n replays each; identical $same, different $diff; sqlite raw bytes differing: $rawdiff"
[ "$diff" -eq 0 ]
