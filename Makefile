# The two commands of the README. Both create .venv with the pinned stack when it is missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEMO_OUT ?= results/demo

.PHONY: demo test lint format install clean notebooks notebooks-check

$(STAMP): setup.cfg pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required (TensorFlow 2.15)"'
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev,gen,synth]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m deepsets_trigger study configs/demo.yaml --out $(DEMO_OUT) $$(test -f $(DEMO_OUT)/results.sqlite && echo --resume)
	$(PY) -m deepsets_trigger report $(DEMO_OUT)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: lint
	$(PY) -m pytest -n 2 --dist loadfile

# Re-execute the tutorial notebooks in place (outputs written back) and print each one's wall time.
notebooks: $(STAMP)
	$(PY) scripts/run_notebooks.py

# CI: execute fresh copies of every notebook, fail on any error; the committed files stay untouched.
notebooks-check: $(STAMP)
	$(PY) scripts/run_notebooks.py --fresh

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
