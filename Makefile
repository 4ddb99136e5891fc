# Halbert: the two set-up commands are `make dev` and `make test` (see README.md).

CARGO   ?= cargo
PORT    ?= 8000
RUN_DIR := $(CURDIR)/.run
BIN     := $(CURDIR)/target/debug
# The testbed (systemd-nspawn) needs root.
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo -E)

.PHONY: build ui ui-deps dev scripted-llm test test-unit test-ui test-api test-browser test-testbed bench lint fmt clean deb deb-dev packages cargo-deb

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

# Both processes on this machine, without systemd: halbertd on a socket under .run/, its state in
# .run/state; halbert-web with its per-user state in .run/data. Ctrl-C stops both.
dev: build
	@mkdir -p $(RUN_DIR)
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
# (schemathesis), the dashboard in headless Chromium, then the systemd testbed suite.
test: test-unit test-ui test-api test-browser test-testbed

test-unit: ui
	$(CARGO) build --workspace --tests
	$(CARGO) test --workspace

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

test-testbed: build deb-dev
	$(SUDO) tests/testbed/suite.sh

# Discovery: 10 full scans and 10,000 cached reads, on this machine and in the testbed.
# Chat: first-token latency added by Halbert, and 200 concurrent streamed chats.
# Admin actions: editor read and write, terminal round trip, unit restart overhead (p50, p99).
# Web: new-connection-per-request throughput against a bare axum, and idle RSS after 100,000
# stored messages.
bench:
	$(MAKE) deb
	$(CARGO) build --release --example bench_discovery -p halbertd
	$(CARGO) build --release --example bench_chat --example bench_web --example bench_admin -p halbert-e2e
	$(CARGO) build --release -p halbert-web --bin halbert-web -p halbertd --bin halbertd
	@echo "== chat streaming (this machine, scripted model server)"
	$(CURDIR)/target/release/examples/bench_chat --runs 200 --chats 200
	@echo "== halbert-web: connections (new one per request, 0 and 5,000 other sockets) and memory (100,000 messages)"
	$(CURDIR)/target/release/examples/bench_web --sockets 5000 --messages 100000
	@echo "== this machine"
	$(CURDIR)/target/release/examples/bench_discovery --runs 10
	@echo "== admin actions (this machine: editor, terminal run directly)"
	$(CURDIR)/target/release/examples/bench_admin --runs 200
	@echo "== testbed (systemd-nspawn, real systemd and D-Bus)"
	$(SUDO) tests/testbed/bench-discovery.sh --runs 10
	@echo "== admin actions in the testbed (editor, terminal in a transient unit, unit restarts)"
	$(SUDO) tests/testbed/bench-admin.sh --runs 200

# The Debian package (one `halbert` package; metadata in halbertd/Cargo.toml, maintainer scripts
# in packaging/debian/): `deb` from release binaries into target/debian/, `deb-dev` from the
# debug ones into target/debian-dev/ for the testbed suite, with the next revision (-2) beside it
# in next/ for the upgrade test. cargo-deb is installed when missing.
CARGO_DEB_VERSION = 3.8.0
cargo-deb:
	@command -v cargo-deb >/dev/null || $(CARGO) install cargo-deb --version $(CARGO_DEB_VERSION) --locked

deb: ui cargo-deb
	$(CARGO) build --release -p halbertd --bin halbertd -p halbert-web --bin halbert-web
	$(CARGO) deb -p halbertd --no-build -o target/debian/

deb-dev: build cargo-deb
	@rm -rf target/debian-dev
	$(CARGO) deb -p halbertd --no-build --profile dev --fast -o target/debian-dev/ 2>&1 | grep -v 'dev profile\|debug symbols set\|^ *To enable' || true
	$(CARGO) deb -p halbertd --no-build --profile dev --fast --deb-revision 2 -o target/debian-dev/next/ 2>&1 | grep -v 'dev profile\|debug symbols set\|^ *To enable' || true
	@ls target/debian-dev/halbert_*.deb target/debian-dev/next/halbert_*.deb

packages: deb

lint: ui-deps
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	cd $(UI) && npm run check

fmt:
	$(CARGO) fmt --all

clean:
	rm -rf $(RUN_DIR) $(UI)/dist $(UI)/node_modules tests/browser/node_modules
	$(CARGO) clean
