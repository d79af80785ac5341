# make run | make test | make check — everything installs into .venv on first use
# (and the federation's Node packages into federation/node_modules, with npm ci).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
RUN_STAMP := $(VENV)/.run-installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
NPM_STAMP := federation/node_modules/.installed-$(shell cat federation/package-lock.json | cksum | cut -d' ' -f1)

.PHONY: run test check schema bench bench-writes bench-webhooks bench-subscribers clean simulate browser compose federation federation-deps supergraph

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* $(VENV)/.run-installed-* && touch $@ $(RUN_STAMP)

# `make run` needs only the runtime dependencies (half the download of the dev extras)
$(RUN_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e .
	rm -f $(VENV)/.run-installed-* && touch $@

# @apollo/composition and @graphql-hive/gateway, exactly as federation/package-lock.json pins them
$(NPM_STAMP): federation/package-lock.json
	npm ci --prefix federation --no-audit --no-fund --loglevel=error
	rm -f federation/node_modules/.installed-* && touch $@

## federation-deps: the federation's Node packages (npm ci into federation/node_modules)
federation-deps: $(NPM_STAMP)

## run: embedded default (SQLite + local artifact dir), migrated, demo data, the dashboard and
## GraphiQL (signed in as the demo admin) on MLGRAPH_PORT (8000), and the simulator moving the demo
run: $(RUN_STAMP)
	$(BIN)/mlgraph db upgrade
	$(BIN)/mlgraph seed --demo
	$(BIN)/mlgraph serve --simulate

## simulate: a simulated runner moving jobs and posting drift against a running server
simulate: $(RUN_STAMP)
	$(BIN)/mlgraph demo simulate

## browser: Debian's Chromium for the browser tests (installed with apt-get when run as root)
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; } \
		|| echo "no chromium: the browser tests will fail; install it with: apt-get install chromium"

## compose: Debian's docker-compose, for the test that validates docker-compose.yml (apt-get as root)
compose:
	@command -v docker-compose >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; }; } \
		|| echo "no docker-compose: its test will fail; install it with: apt-get install docker-compose"

## federation: the federated topology (subgraphs + Hive Gateway on :4100), migrated, demo data
federation: $(STAMP) $(NPM_STAMP)
	$(BIN)/mlgraph db upgrade
	$(BIN)/mlgraph seed --demo
	@echo "Paste into GraphiQL's Headers tab (platform admin, 12 h):"
	@$(BIN)/mlgraph token --user admin@example.com --role admin --header
	$(BIN)/mlgraph federation up $(FEDERATION_ARGS)

## supergraph: recompose graphql/supergraph.graphql from the subgraph SDLs
supergraph: $(NPM_STAMP)
	node federation/compose.mjs

## test: the whole suite on SQLite and PostgreSQL (PostgreSQL required: it fails, never skips),
## one pytest-xdist worker per core (TEST_WORKERS), each taking whole test files
TEST_WORKERS ?= auto
test: $(STAMP) $(NPM_STAMP) browser compose
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

## check: format, lint, types
check: $(STAMP)
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src bench tests

## schema: refresh graphql/schema.graphql from the code
schema: $(STAMP)
	$(BIN)/mlgraph schema

## bench: the dashboard query side by side: resolver 1w/2w, compiled, federation, PostGraphile (not in test)
bench: $(STAMP) federation-deps
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null; } \
		|| echo "no wrk: bench/compare.py uses its in-process load generator"
	$(BIN)/python bench/compare.py $(BENCH_ARGS)

## bench-writes: the write path (recordDriftMetrics, 2 workers, 8 clients) against pgbench TPC-B (not in test)
bench-writes: $(STAMP)
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null; } || true
	$(BIN)/python bench/writes.py $(BENCH_ARGS)

## bench-subscribers: graphql-transport-ws subscribers, commit -> client latency and RSS per connection, 1k/5k/10k and 2 x 10k, PostgreSQL (not in test)
bench-subscribers: $(STAMP)
	$(BIN)/python bench/subscribers.py $(BENCH_ARGS)

## bench-webhooks: webhook commit -> delivery latency, 1,000 events to 10 loopback receivers, PostgreSQL (not in test)
bench-webhooks: $(STAMP)
	$(BIN)/python bench/webhooks.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mlgraph federation/node_modules
