# Two commands for a fresh machine (see README): `make demo` and `make test`.
# Both create .venv with the pinned set in constraints.txt on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SCALE_STAMP := $(VENV)/.installed-scale
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: install demo test test-bench test-scale lint unit bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# The `scale` extra: PostgreSQL drivers for MLflow (psycopg) and the Prefect server (asyncpg).
$(SCALE_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,scale]'
	touch $(SCALE_STAMP)

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

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit -q

bench: $(STAMP)
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
