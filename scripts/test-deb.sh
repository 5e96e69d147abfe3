#!/usr/bin/env bash
# Tests the Debian package `make deb` built (or the .deb given): control fields, apt's
# resolution of its dependencies (simulated), the file list, then the package unpacked into a
# temporary root (dpkg -x, no installation on this machine): the installed binary replays
# captures/sample-hotspot.pcap and finds the flows of captures/EXPECTED.tsv, every man page
# renders, the bash completion loads and completes, the systemd unit starts the packaged binary
# and its documentation link resolves. `make deb-test`.
set -euo pipefail
cd "$(dirname "$0")/.."
deb="${1:-$(ls -t target/debian/leakscope_*.deb 2>/dev/null | head -n1)}"
[ -n "$deb" ] && [ -f "$deb" ] || { echo "test-deb: no package; run make deb first" >&2; exit 1; }
fail() { echo "test-deb: FAIL: $*" >&2; exit 1; }
echo "test-deb: $deb"

info=$(dpkg-deb -I "$deb")
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = leakscope ] || fail "Package: $(field Package)"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
case "$(field Version)" in "$version"|"$version"-*) ;; *) fail "Version $(field Version), Cargo.toml has $version" ;; esac
depends=$(field Depends)
for lib in libpcap libsqlite3 libc6; do
  grep -q "$lib" <<<"$depends" || fail "Depends lacks $lib: $depends"
done
grep -q ieee-data <<<"$(field Recommends)" || fail "Recommends lacks ieee-data"
conffiles=$(dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles)
grep -qx /etc/leakscope/leakscope.toml <<<"$conffiles" || fail "conffiles: $conffiles"
grep -qw postinst <<<"$info" || fail "no postinst (systemd unit registration)"

# apt resolves the dependencies on this system (a simulation: nothing is installed).
apt-get install -s "$(realpath "$deb")" 2>&1 | grep -q "^Inst leakscope " ||
  fail "apt-get install -s: $(apt-get install -s "$(realpath "$deb")" 2>&1 | tail -n3)"

files=$(dpkg-deb -c "$deb" | awk '{print $NF}')
for f in ./usr/bin/leakscope ./etc/leakscope/leakscope.toml \
  ./usr/share/man/man1/leakscope.1.gz ./usr/share/man/man1/leakscope-replay.1.gz \
  ./usr/share/man/man1/leakscope-capture.1.gz \
  ./usr/share/bash-completion/completions/leakscope ./usr/share/zsh/vendor-completions/_leakscope \
  ./usr/share/fish/vendor_completions.d/leakscope.fish \
  ./usr/share/doc/leakscope/copyright ./usr/share/doc/leakscope/README.md \
  ./usr/share/doc/leakscope/CHANGELOG.md ./usr/share/doc/leakscope/live.md \
  ./usr/share/doc/leakscope/schema.md ./usr/share/doc/leakscope/rules/README.md; do
  grep -qx -- "$f" <<<"$files" || fail "$f not in the package"
done
unit=$(grep -E '^\./(usr/)?lib/systemd/system/leakscope\.service$' <<<"$files") || fail "no systemd unit"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
dpkg -x "$deb" "$root"
bin="$root/usr/bin/leakscope"
"$bin" --version | grep -q "^leakscope $version (" || fail "--version: $("$bin" --version)"

# The installed binary on the bundled sample: the flows the capture generator expects.
"$bin" replay -q -o "$root/out" captures/sample-hotspot.pcap 2>"$root/replay.err" ||
  { cat "$root/replay.err" >&2; fail "replay exited non-zero"; }
python3 - "$root/out/flows.jsonl" captures/EXPECTED.tsv <<'EOF' || fail "replay output differs from captures/EXPECTED.tsv"
import collections, csv, json, sys
cols = ["proto", "orig_h", "orig_p", "resp_h", "resp_p", "orig_pkts", "resp_pkts"]
got = collections.Counter()
meta = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    got[tuple(str(r.get(c)) for c in cols)] += 1
    meta += "service" in r
want = collections.Counter(
    tuple(row[c] for c in cols)
    for row in csv.DictReader(open(sys.argv[2]), delimiter="\t")
    if row["file"] == "sample-hotspot.pcap"
)
if got != want or meta == 0:
    print(f"flows: {sum(got.values())} got, {sum(want.values())} expected, {meta} to Meta;"
          f" missing {list((want - got).elements())[:3]}, extra {list((got - want).elements())[:3]}",
          file=sys.stderr)
    sys.exit(1)
print(f"test-deb: replay: {sum(got.values())} flows as expected, {meta} labelled Meta")
EOF

# Every man page renders, without groff warnings.
for page in "$root"/usr/share/man/man1/*.1.gz; do
  out=$(MANWIDTH=80 man --warnings -l "$page" 2>"$root/man.err") || fail "man -l $page"
  [ ! -s "$root/man.err" ] || { cat "$root/man.err" >&2; fail "man warnings in $page"; }
  grep -q "^NAME" <<<"$out" || fail "$page: no NAME section"
done
MANWIDTH=80 man -l "$root/usr/share/man/man1/leakscope.1.gz" | grep -q "leakscope-replay(1)" ||
  fail "leakscope(1) does not list leakscope-replay(1)"
echo "test-deb: $(ls "$root"/usr/share/man/man1 | wc -l) man pages render"

# bash: the completion loads and completes subcommands and flags.
comp="$root/usr/share/bash-completion/completions/leakscope"
bash -c "source '$comp'; complete -p leakscope" | grep -q -- "-F _leakscope leakscope" ||
  fail "bash completion does not register"
words=$(bash -c "source '$comp'; COMP_WORDS=(leakscope re); COMP_CWORD=1; COMP_LINE='leakscope re'; \
  COMP_POINT=12; _leakscope leakscope re leakscope; echo \"\${COMPREPLY[*]}\"")
grep -qw replay <<<"$words" || fail "bash completion of 're': $words"
words=$(bash -c "source '$comp'; COMP_WORDS=(leakscope replay --oui); COMP_CWORD=2; \
  _leakscope leakscope --oui replay; echo \"\${COMPREPLY[*]}\"")
grep -q -- --oui-file <<<"$words" || fail "bash completion of 'replay --oui': $words"
echo "test-deb: bash completion loads and completes"
for sh in zsh fish; do
  f=$(ls "$root"/usr/share/zsh/vendor-completions/_leakscope "$root"/usr/share/fish/vendor_completions.d/leakscope.fish | grep "$sh")
  if command -v "$sh" >/dev/null; then "$sh" -n "$f" || fail "$sh -n $f"; echo "test-deb: $sh completion parses"
  else echo "test-deb: $sh not installed: its completion file is only checked to be packaged"; fi
done

# The systemd unit runs the packaged binary with the packaged config; its docs are installed.
u="$root/${unit#./}"
exec_bin=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$u")
[ -x "$root$exec_bin" ] || fail "ExecStart=$exec_bin is not in the package"
grep -q "^ExecStart=.* --config /etc/leakscope/leakscope.toml" "$u" || fail "ExecStart does not use /etc/leakscope/leakscope.toml"
for doc in $(sed -n 's|^Documentation=.*file://\(/[^ ]*\).*|\1|p' "$u"); do
  [ -f "$root$doc" ] || fail "unit Documentation=$doc not in the package"
done
echo "test-deb: ok"
