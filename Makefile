# mis-pipeline: `make demo` runs the whole pipeline against the local simulator; `make test` tests it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test ui bench bench-scale bench-encryption bench-retention simulator screenshots clean

# The venv is rebuilt when setup.py changes; the package is installed editable with the dev extras.
$(BIN)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/python -m mis_pipeline.demo

test: install
	$(BIN)/pytest mis_pipeline_tests

ui: install
	$(BIN)/mis-pipeline ui

simulator: install
	$(BIN)/mis-pipeline simulator serve

bench: install
	$(BIN)/python benchmarks/bench_sync.py

# seconds per school for full, delta and no-op at 50, 100, 200 and 400 schools
bench-scale: install
	$(BIN)/python benchmarks/bench_scale.py

bench-encryption: install
	$(BIN)/python benchmarks/bench_encryption.py

bench-retention: install
	$(BIN)/python benchmarks/bench_retention.py

# The Dagster UI over a throwaway demo instance, photographed in headless Chromium (docs/ui/*.png).
screenshots: install
	$(BIN)/python scripts/ui_screenshots.py

clean:
	rm -rf .mis_home
