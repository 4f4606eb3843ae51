# Two commands for a fresh machine (see README): `make demo` and `make test`.
# Both create .venv with the pinned set in constraints.txt on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SCALE_STAMP := $(VENV)/.installed-scale
UI_STAMP    := $(VENV)/.installed-ui
CHROMIUM    ?= /usr/bin/chromium
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: install demo test test-bench test-scale test-ui lint unit bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# The `scale` extra: PostgreSQL drivers for MLflow (psycopg) and the Prefect server (asyncpg).
$(SCALE_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,scale]'
	touch $(SCALE_STAMP)

# The `ui` extra: Playwright, which drives Debian's chromium (never a browser of its own).
$(UI_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,ui]'
	touch $(UI_STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/challenger demo

lint: $(STAMP)
	$(BIN)/ruff check src flows tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -n 2 --ignore=tests/bench

# Every benchmark of bench/ at its --quick size: the scripts run, their tables print (no
# figure is judged here). Kept out of `make test` (they measure, they test nothing of the
# product); CI runs them after it.
test-bench: $(STAMP)
	$(BIN)/python -m pytest -n 2 tests/bench

# Real engines on this machine: a PostgreSQL server (Debian's postgresql package) under
# MLflow and Prefect, and a Dask scheduler with two worker processes (tests/scale).
test-scale: $(SCALE_STAMP)
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || { \
	  echo "make test-scale needs the PostgreSQL server: apt-get install -y postgresql"; exit 2; }
	$(BIN)/python -m pytest tests/scale -m scale

# Both UIs in headless Chromium (Debian's chromium package): `challenger up`, one retrain,
# screenshots of four pages to docs/screenshots/ (about a minute). Without chromium it skips
# with a message, except in CI (CI=true), where a missing browser fails.
test-ui: $(UI_STAMP)
	@if [ -x "$(CHROMIUM)" ]; then \
	  CHALLENGER_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest tests/ui -m ui; \
	elif [ -n "$$CI" ]; then \
	  echo "make test-ui: $(CHROMIUM) is missing (apt-get install -y chromium)"; exit 2; \
	else \
	  echo "make test-ui: skipped, no Chromium at $(CHROMIUM) (apt-get install -y chromium)"; \
	fi

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit -q

bench: $(STAMP)
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
