# make install - create .venv, install padless, build its C++ kernels into .venv
# make demo   - create .venv, install padless, train on the embedded IMDB sample, predict two sentences
# make test   - create/use .venv, install the dev extras, run the whole test suite
# make typecheck - mypy over src/ (zero errors; run by CI)
# make edge-check - a torch-free venv (.venv-edge: padless --no-deps + requirements-edge.txt)
#               predicts with the ONNX export of a model trained in .venv, same as eager
#
# Installs pin torch through constraints/cpu.txt (torch==2.13.0, the CPU wheel). A GPU user
# runs `make demo CONSTRAINTS=` after installing the CUDA build of torch into .venv.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONSTRAINTS ?= constraints/cpu.txt
PIP_C := $(if $(CONSTRAINTS),-c $(CONSTRAINTS),)
DEMO_OUT ?= runs/demo

EDGE ?= .venv-edge
EDGE_OUT ?= runs/edge-check

.PHONY: demo test install install-dev lint typecheck lengths clean edge-check

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/python -m pip install -q $(PIP_C) -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/python -m pip install -q $(PIP_C) -e ".[dev]"
	touch $(VENV)/.installed $@

# The fused C++ kernels are compiled into the venv (.venv/share/padless/kernels), after pip and
# with the venv's own torch (never in pip's isolated build step), keyed by padless / torch /
# Python versions, flags, CPU and sources: when that build exists this only loads it (~1 s).
# A failed build stops make in CI only; elsewhere padless runs its exact fallback and says why.
KERNELS_OR := $(if $(CI),,|| echo "make: continuing without the fused kernels (see above)")

install: $(VENV)/.installed
	$(BIN)/padless kernels build $(KERNELS_OR)
install-dev: $(VENV)/.installed-dev
	$(BIN)/padless kernels build $(KERNELS_OR)

demo: install
	$(BIN)/padless train configs/imdb-sample.toml --out $(DEMO_OUT) --overwrite
	printf '%s\n' "A wonderful, moving film with a brilliant cast. I loved every minute." \
	  "Dull, predictable and far too long. The worst movie I have seen this year." \
	  | $(BIN)/padless predict $(DEMO_OUT)/model --input -

test: install-dev
	$(BIN)/python -m pytest -q

edge-check: install
	rm -rf $(EDGE) $(EDGE_OUT)
	$(PYTHON) -m venv $(EDGE)
	$(EDGE)/bin/python -m pip install -q --no-deps -e .
	$(EDGE)/bin/python -m pip install -q -r requirements-edge.txt
	! $(EDGE)/bin/python -c "import torch" 2>/dev/null
	$(BIN)/padless -q train configs/imdb-sample.toml --out $(EDGE_OUT) --overwrite --set train.epochs=1 >/dev/null
	$(BIN)/padless -q export $(EDGE_OUT)/model >/dev/null
	printf '%s\n' "A wonderful, moving film." "Dull and far too long." > $(EDGE_OUT)/in.txt
	$(BIN)/padless -q predict $(EDGE_OUT)/model --input $(EDGE_OUT)/in.txt > $(EDGE_OUT)/eager.jsonl
	$(EDGE)/bin/padless -q predict $(EDGE_OUT)/model --backend onnx --input $(EDGE_OUT)/in.txt \
	  > $(EDGE_OUT)/edge.jsonl
	$(BIN)/python -c "import json, sys; \
	  a, b = ([json.loads(x) for x in open(f)] for f in sys.argv[1:]); \
	  assert [r['label'] for r in a] == [r['label'] for r in b], (a, b); \
	  assert all(abs(a[i]['scores'][k] - b[i]['scores'][k]) < 1e-5 for i in range(len(a)) for k in a[i]['scores']); \
	  print('edge-check: torch-free ONNX predictions equal eager on', len(a), 'inputs')" \
	  $(EDGE_OUT)/eager.jsonl $(EDGE_OUT)/edge.jsonl

lint: install-dev
	$(BIN)/ruff check src tests benchmarks

typecheck: install-dev
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(EDGE) runs lengths-report .pytest_cache .hypothesis .mypy_cache
