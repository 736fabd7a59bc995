# dicomlens — every target sets itself up on a fresh machine (a virtual environment in .venv).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= out

.PHONY: run test lint typecheck bench setup clean viewer

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev,analyzers]"
	$(BIN)/python -m pip install -q --no-deps rapidocr-onnxruntime==1.4.4
	touch $(STAMP)

setup: $(STAMP) viewer

## viewer: fetch the pinned OHIF build (npm, integrity checked) into ~/.cache/dicomlens/ohif
viewer: $(STAMP)
	$(BIN)/dicomlens viewer install

## run: serve the web page, the API and the workers on http://127.0.0.1:8080 (Ctrl-C stops)
run: $(STAMP) viewer
	$(BIN)/dicomlens serve $(if $(PORT),--port $(PORT))

## test: lint, type-check, then every test tier
test: $(STAMP) viewer lint
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench setup.py
	$(BIN)/ruff format --check src tests bench setup.py
	$(BIN)/mypy src
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .mypy_cache .ruff_cache
