# Two commands matter: `make run` (the embedded stack) and `make test` (everything CI runs).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint typecheck bench clean system-deps vendor-echarts

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## Run the whole pipeline on the embedded backend (replay of the bundled capture).
run: install
	$(BIN)/fraud-pipeline up

## Debian packages the tests need: chromium (browser test), PostgreSQL (the labeler's Postgres
## store runs against a throw-away cluster), Tesseract's English model (media OCR) and the
## fonts synthetic images are drawn with (media/synth_images.py); needs root, skipped when present.
system-deps:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }
	@command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }
	@dpkg -s tesseract-ocr-eng fonts-dejavu-core fonts-dejavu-extra fonts-liberation fonts-freefont-ttf fonts-lato fonts-open-sans >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr-eng fonts-dejavu-core fonts-dejavu-extra fonts-liberation fonts-freefont-ttf fonts-lato fonts-open-sans >/dev/null; }

## Re-vendor Apache ECharts (the dashboard's charts) from the npm registry at the version pinned in
## $(ECHARTS_DIR)/VERSION: edit that file, run this, commit the folder (the page loads nothing from
## the internet; the wheel ships the folder).
ECHARTS_DIR := fraud_pipeline/dashboard/static/vendor/echarts
vendor-echarts:
	@version=$$(cat $(ECHARTS_DIR)/VERSION) && tmp=$$(mktemp -d) && \
	  (cd $$tmp && npm pack --silent echarts@$$version >/dev/null && tar xzf echarts-$$version.tgz) && \
	  cp $$tmp/package/dist/echarts.common.min.js $(ECHARTS_DIR)/ && \
	  cp $$tmp/package/LICENSE $$tmp/package/NOTICE $$tmp/package/licenses/LICENSE-d3 $(ECHARTS_DIR)/ && \
	  rm -rf $$tmp && grep -q "version=\"$$version\"" $(ECHARTS_DIR)/echarts.common.min.js && \
	  echo "vendored echarts $$version into $(ECHARTS_DIR)"

lint: install
	$(BIN)/ruff check fraud_pipeline tests benchmarks
	$(BIN)/ruff format --check fraud_pipeline tests benchmarks
	$(BIN)/mypy fraud_pipeline

## Lint, type-check, then the whole test suite.
test: install system-deps lint
	DBT_SEND_ANONYMOUS_USAGE_STATS=False $(BIN)/pytest -q

bench: install
	@for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script; done

clean:
	rm -rf .fraud-pipeline dbt/target dbt/logs .pytest_cache .mypy_cache .ruff_cache
