# The two commands a newcomer needs are `make run` and `make test`; both bootstrap .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

CONFORMANCE := tests/conformance
CONFORMANCE_STAMP := $(CONFORMANCE)/node_modules/.installed-stamp
# The storefront's browser test drives Debian's Chromium (Playwright's own browser
# download cannot reach its host from here); installed on first use.
CHROMIUM := /usr/bin/chromium
# The alerts' unit tests and the real-Prometheus test use Debian's prometheus (with
# promtool); installed on first use, like Chromium.
PROMTOOL := /usr/bin/promtool
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint generate vendor-graphiql screenshots fuzz chaos faults soak profile-materializer bench-materializer bench-gateway bench-live bench-contract bench-variants bench-markets bench-search bench-rebuild bench-cost bench-storefront clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,test]'
	touch $(STAMP)

## run: the whole system on the embedded stand-ins, with demo traffic.
run: $(STAMP)
	exec $(BIN)/shopwindow dev

# The public conformance suites (npm), pinned by the checked-in lock file.
$(CONFORMANCE_STAMP): $(CONFORMANCE)/package-lock.json
	npm ci --prefix $(CONFORMANCE) --no-audit --no-fund
	touch $(CONFORMANCE_STAMP)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium

$(PROMTOOL):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus

## test: lint, type-check, then the whole test suite (with short fuzz runs).
test: lint $(CONFORMANCE_STAMP) $(CHROMIUM) $(PROMTOOL)
	$(BIN)/pytest

## screenshots: rewrite the pictures of docs/storefront.md and docs/graphql-api.md from the browser tests.
screenshots: $(STAMP) $(CHROMIUM)
	SHOPWINDOW_SCREENSHOTS_DIR=docs/screenshots $(BIN)/pytest -q tests/gateway/storefront/test_storefront.py -k live
	SHOPWINDOW_SCREENSHOTS_DIR=docs/screenshots $(BIN)/pytest -q tests/gateway/graphiql/test_graphiql.py -k documents

## fuzz: the fuzz suites at length (make test runs them short).
fuzz: $(STAMP)
	SHOPWINDOW_FUZZ_SCALE=$${SHOPWINDOW_FUZZ_SCALE:-25} $(BIN)/pytest -s --hypothesis-show-statistics tests/fuzz tests/gateway/execution/test_plan.py tests/gateway/live/test_fanout.py tests/materializer/test_parking.py tests/materializer/test_fold_properties.py tests/materializer/test_price_history.py tests/gateway/cost/test_budget.py

## chaos: SIGKILL materializer processes 100 times during a 50,000-event stream.
chaos: $(STAMP)
	$(BIN)/python -m tests.chaos

## faults: outages and network faults against two materializers and two gateways.
# The clock scenario moves one materializer's clock with Debian's libfaketime.
faults: $(STAMP)
	@ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends libfaketime; }
	$(BIN)/python -m tests.faults $(FAULTS_ARGS)

## soak: a deployment under steady load for 30 minutes, failing on anything that grows.
soak: $(STAMP)
	$(BIN)/python -m tests.soak $(SOAK_ARGS)

## vendor-graphiql: bring the pinned npm release of GraphiQL into gateway/graphiql/vendor/.
vendor-graphiql: $(STAMP)
	$(BIN)/python -m shopwindow.vendor_graphiql

## generate: rewrite schema.graphql and the topic lists derived from the source registry.
generate: $(STAMP)
	$(BIN)/python -m shopwindow.generated

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## profile-materializer: what a materializer's memory grows with, stage by stage (tracemalloc).
profile-materializer: $(STAMP)
	$(BIN)/python -m bench.materializer_memory $(PROFILE_ARGS)

## bench-materializer: throughput and freshness against two baselines (see bench/).
bench-materializer: $(STAMP)
	$(BIN)/python -m bench.materializer

## bench-gateway: gateway req/s and latency against a bare Starlette endpoint.
bench-gateway: $(STAMP)
	$(BIN)/python -m bench.gateway

## bench-contract: what the typed document contract costs the fold and the readers.
bench-contract: $(STAMP)
	$(BIN)/python -m bench.contract

## bench-variants: the fold's rate and the document's size at 1, 50 and 2,048 variants.
bench-variants: $(STAMP)
	$(BIN)/python -m bench.variants

## bench-markets: what 10 markets and 5 languages cost the document, the fold and the changelog.
bench-markets: $(STAMP)
	$(BIN)/python -m bench.markets

## bench-search: search through the gateway against MongoDB $regex + $facet, 100k products.
bench-search: $(STAMP)
	$(BIN)/python -m bench.search

## bench-live: 10,000 and 50,000 live subscriptions, and 10,000 phones of 2 each, against a raw broadcast.
bench-live: $(STAMP)
	$(BIN)/python -m bench.live

## bench-storefront: a stock change produced to Kafka, until shown on an open page.
bench-storefront: $(STAMP) $(CHROMIUM)
	$(BIN)/python -m bench.storefront

## bench-cost: the cost estimate of a 2,000-token operation against parse + validate.
bench-cost: $(STAMP)
	$(BIN)/python -m bench.cost

## bench-rebuild: shopwindow rebuild under load: failures, version steps back, time to switch.
bench-rebuild: $(STAMP)
	$(BIN)/python -m bench.rebuild

clean:
	rm -rf $(VENV) .devdata .pytest_cache .mypy_cache .ruff_cache .hypothesis $(CONFORMANCE)/node_modules
