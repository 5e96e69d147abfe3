# Two commands do everything on a fresh Debian machine:
#   make demo   replay the bundled sample capture and show the flows
#   make test   run the whole test suite
# Both install the system packages they need first (libpcap-dev).

CARGO ?= cargo
DEMO_CAPTURE ?= captures/sample-hotspot.pcap
DEMO_OUT ?= out/demo

.PHONY: deps build demo test lint bench captures fixtures fuzz-smoke fuzz fuzz-seeds deb deb-test check-metadata

deps:
	@scripts/install-deps.sh

build: deps
	$(CARGO) build --release

demo: build
	./target/release/leakscope replay --out $(DEMO_OUT) --sqlite $(DEMO_OUT)/leakscope.db $(DEMO_CAPTURE)
	@echo "--- first records of $(DEMO_OUT)/flows.jsonl:"
	@head -n 3 $(DEMO_OUT)/flows.jsonl
	@echo "--- exposure map:"
	./target/release/leakscope report $(DEMO_OUT)
	./target/release/leakscope report $(DEMO_OUT) --html $(DEMO_OUT)/report.html
	@echo "--- open $(DEMO_OUT)/report.html in a browser"

test: deps
	$(CARGO) test --all-targets

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps --lib

# Debian package (target/debian/leakscope_*.deb; installs cargo-deb and dpkg-dev when missing)
# and its test (control fields, file list, the unpacked binary on the sample, man pages, completions).
deb: deps
	scripts/deb.sh
deb-test:
	scripts/test-deb.sh

# Licence files and package metadata (CI).
check-metadata: deps
	scripts/check-metadata.py

# Benchmark: make bench BENCH_PCAP=path/to/file.pcap
BENCH_PCAP ?= $(DEMO_CAPTURE)
bench: build
	./target/release/leakscope bench --runs 5 $(BENCH_PCAP)

# Regenerate the bundled captures (deterministic) and the tshark fixtures (needs tshark).
captures:
	$(CARGO) run --example make-captures -- captures
fixtures:
	scripts/make-tshark-fixtures.sh

# Fuzzing (see FUZZING.md). fuzz-smoke: every target briefly on its seeds (CI, under 5 min);
# fuzz: every target FUZZ_SECS seconds or 10 M executions; fuzz-seeds: rebuild the seeds (tshark).
FUZZ_SECS ?= 1800
fuzz-smoke:
	fuzz/smoke.sh
fuzz:
	fuzz/run.sh $(FUZZ_SECS)
fuzz-seeds:
	fuzz/make-seeds.sh
