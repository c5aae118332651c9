# Two commands on a fresh Linux machine with Python 3.11+:
#   make demo   - install, release a lab, grade sample submissions, print the gradebook
#   make test   - install and run the whole test suite (notebooks in fast mode included)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WORKERS ?= 2

.PHONY: install sandbox demo test test-fast release mutants benchmark clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --editable .
	touch $(STAMP)

# The grading sandbox is bubblewrap (Debian/Ubuntu package `bubblewrap`).
sandbox:
	@if command -v bwrap >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get install -y -qq bubblewrap >/dev/null 2>&1 || \
		(apt-get update -qq >/dev/null && apt-get install -y -qq bubblewrap >/dev/null); \
	elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
		sudo apt-get install -y -qq bubblewrap >/dev/null; \
	else \
		echo "WARNING: bubblewrap (bwrap) is not installed: grading will run with REDUCED isolation."; \
		echo "         Install it with: sudo apt-get install bubblewrap"; \
	fi

install: $(STAMP) sandbox

demo: install
	$(BIN)/python -m autograder demo --workers $(WORKERS)

test: install
	LABKIT_MODE=fast $(BIN)/python -m pytest -p no:cacheprovider --nbval-lax tests solutions

# Everything except the slow tests (notebook runs, sandboxed grading batches).
test-fast: install
	LABKIT_MODE=fast $(BIN)/python -m pytest -p no:cacheprovider -m "not slow" tests

release: install
	$(BIN)/python -m autograder release

mutants: install
	$(BIN)/python -m autograder mutants --workers $(WORKERS) tests/mutants/*.py

benchmark: install
	LABKIT_MODE=fast $(BIN)/python -m benchmarks.run

clean:
	rm -rf demo-output grading .pytest_cache
