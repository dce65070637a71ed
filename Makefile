# make demo   - create .venv, install padless, train on the embedded IMDB sample, predict two sentences
# make test   - create/use .venv, install the dev extras, run the whole test suite
#
# Installs pin torch through constraints/cpu.txt (torch==2.13.0, the CPU wheel). A GPU user
# runs `make demo CONSTRAINTS=` after installing the CUDA build of torch into .venv.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONSTRAINTS ?= constraints/cpu.txt
PIP_C := $(if $(CONSTRAINTS),-c $(CONSTRAINTS),)
DEMO_OUT ?= runs/demo

.PHONY: demo test install install-dev lint lengths clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/python -m pip install -q $(PIP_C) -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/python -m pip install -q $(PIP_C) -e ".[dev]"
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: install
	$(BIN)/padless train configs/imdb-sample.toml --out $(DEMO_OUT)
	printf '%s\n' "A wonderful, moving film with a brilliant cast. I loved every minute." \
	  "Dull, predictable and far too long. The worst movie I have seen this year." \
	  | $(BIN)/padless predict $(DEMO_OUT)/model --input -

test: install-dev
	$(BIN)/python -m pytest -q

lint: install-dev
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) runs lengths-report .pytest_cache .hypothesis
