# Two commands on a fresh Linux machine with Python 3.11+:
#   make demo   - install, release a lab, grade sample submissions, print the gradebook
#   make test   - install and run the whole test suite (notebooks in fast mode included)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WORKERS ?= 2

.PHONY: install sandbox browser demo test test-fast release student mutants benchmark clean

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

# The browser test of formgrader (tests/test_browser_formgrader.py) drives Debian's Chromium through
# Playwright (requirements.txt), never a browser Playwright downloads.
browser:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Chromium and its fonts for the browser test (apt-get install chromium fonts-liberation)"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation >/dev/null 2>&1 || \
		(apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation >/dev/null); \
	elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
		sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation >/dev/null; \
	else \
		echo "WARNING: Chromium is not installed: tests/test_browser_formgrader.py will fail."; \
		echo "         Install it with: sudo apt-get install chromium fonts-liberation"; \
	fi

install: $(STAMP) sandbox browser

demo: $(STAMP) sandbox
	$(BIN)/python -m autograder demo --workers $(WORKERS)

test: install
	LABKIT_MODE=fast $(BIN)/python -m pytest -p no:cacheprovider --nbval-lax tests solutions

# Everything except the slow tests (notebook runs, sandboxed grading batches).
test-fast: install
	LABKIT_MODE=fast $(BIN)/python -m pytest -p no:cacheprovider -m "not slow" tests

release: install
	$(BIN)/python -m autograder release

# A student's environment, as the published student repository gives it: JupyterLab, the pinned TensorFlow,
# Keras and NumPy (requirements-student.txt) and labkit alone, without nbgrader or the autograder.
STUDENT_REPOSITORY ?= build/student-repository
STUDENT_VENV ?= build/student-venv
student: install
	$(BIN)/python -m autograder publish $(STUDENT_REPOSITORY)
	$(PYTHON) -m venv $(STUDENT_VENV)
	$(STUDENT_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(STUDENT_VENV)/bin/python -m pip install --quiet -r requirements-student.txt
	$(STUDENT_VENV)/bin/python -m pip install --quiet --no-deps $(STUDENT_REPOSITORY)
	@echo "Ready: $(STUDENT_VENV)/bin/jupyter lab $(STUDENT_REPOSITORY)/labs/"

mutants: install
	$(BIN)/python -m autograder mutants --workers $(WORKERS) tests/mutants/*.py

# Every section; BENCHMARK_ARGS="--section scale" runs one of them (python -m benchmarks.run --help).
benchmark: install
	LABKIT_MODE=fast $(BIN)/python -m benchmarks.run $(BENCHMARK_ARGS)

clean:
	rm -rf demo-output grading .pytest_cache
