# make run | make test | make check — everything installs into .venv on first use
# (and the federation's Node packages into federation/node_modules, with npm ci).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
NPM_STAMP := federation/node_modules/.installed-$(shell cat federation/package-lock.json | cksum | cut -d' ' -f1)

.PHONY: run test check schema bench bench-webhooks clean simulate federation federation-deps supergraph

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

# @apollo/composition and @graphql-hive/gateway, exactly as federation/package-lock.json pins them
$(NPM_STAMP): federation/package-lock.json
	npm ci --prefix federation --no-audit --no-fund --loglevel=error
	rm -f federation/node_modules/.installed-* && touch $@

## federation-deps: the federation's Node packages (npm ci into federation/node_modules)
federation-deps: $(NPM_STAMP)

## run: embedded default (SQLite + local artifact dir), migrated, demo data, GraphiQL on :8000
run: $(STAMP)
	$(BIN)/mlgraph db upgrade
	$(BIN)/mlgraph seed --demo
	@echo "GraphiQL: http://127.0.0.1:8000/graphql"
	@echo "Paste into GraphiQL's Headers tab (platform admin, 12 h):"
	@$(BIN)/mlgraph token --user admin@example.com --role admin --header
	$(BIN)/mlgraph serve

## simulate: a simulated runner moving jobs and posting drift against `make run` (live demo)
simulate: $(STAMP)
	$(BIN)/mlgraph demo simulate

## federation: the federated topology (subgraphs + Hive Gateway on :4100), migrated, demo data
federation: $(STAMP) $(NPM_STAMP)
	$(BIN)/mlgraph db upgrade
	$(BIN)/mlgraph seed --demo
	@echo "Paste into GraphiQL's Headers tab (platform admin, 12 h):"
	@$(BIN)/mlgraph token --user admin@example.com --role admin --header
	$(BIN)/mlgraph federation up

## supergraph: recompose graphql/supergraph.graphql from the subgraph SDLs
supergraph: $(NPM_STAMP)
	node federation/compose.mjs

## test: the whole suite on SQLite and PostgreSQL (PostgreSQL required: it fails, never skips)
test: $(STAMP) $(NPM_STAMP)
	$(BIN)/pytest

## check: format, lint, types
check: $(STAMP)
	$(BIN)/ruff format --check src tests
	$(BIN)/ruff check src tests
	$(BIN)/mypy src

## schema: refresh graphql/schema.graphql from the code
schema: $(STAMP)
	$(BIN)/mlgraph schema

## bench: the dashboard query side by side: resolver 1w/2w, compiled, federation, PostGraphile (not in test)
bench: $(STAMP) federation-deps
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null; } \
		|| echo "no wrk: bench/compare.py uses its in-process load generator"
	$(BIN)/python bench/compare.py $(BENCH_ARGS)

## bench-webhooks: webhook commit -> delivery latency, 1,000 events to 10 loopback receivers, PostgreSQL (not in test)
bench-webhooks: $(STAMP)
	$(BIN)/python bench/webhooks.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mlgraph federation/node_modules
