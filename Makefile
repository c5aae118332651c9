# Two commands on a fresh Linux machine with Python 3.11+:
#   make demo   - install, release a lab, grade sample submissions, print the gradebook
#   make test   - install and run the whole test suite (notebooks in fast mode included)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WORKERS ?= 2

.PHONY: install sandbox browser demo test test-fast test-backend test-backends test-compat release student mutants benchmark gpu-check-bundle gpu-check-rehearsal clean

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

# Everything on TensorFlow, then the labkit unit tests and two labs (notebook and grading) on JAX.
test: install
	LABKIT_MODE=fast $(BIN)/python -m pytest -p no:cacheprovider --durations=15 --nbval-lax tests solutions
	$(MAKE) --no-print-directory test-backend BACKEND=jax BACKEND_TESTS="$(LABKIT_TESTS)" BACKEND_LABS="$(CI_JAX_LABS)"

# Another Keras backend (BACKEND=jax or torch): the fast tests (BACKEND_TESTS), then each lab in BACKEND_LABS run
# through nbval and graded in the sandbox, solution and release. CI runs the tests of labkit (the probes and the
# student kit, the code a backend changes) and two labs; `make test-backends` runs everything on both backends.
BACKEND ?= jax
ALL_LABS := $(notdir $(wildcard solutions/[0-9]*))
BACKEND_LABS ?= $(ALL_LABS)
BACKEND_TESTS ?= tests
CI_JAX_LABS ?= 02_custom_layers 06_callbacks
LABKIT_TESTS := $(wildcard tests/test_*_probes.py) tests/test_autodiff.py \
	tests/test_checks.py tests/test_validation.py tests/test_environment.py tests/test_precision.py \
	tests/test_plots_and_models.py tests/test_data.py tests/test_backend_setting.py tests/test_integrity.py
test-backend: install
	KERAS_BACKEND=$(BACKEND) LABKIT_MODE=fast $(BIN)/python -m pytest -p no:cacheprovider -m "not slow" $(BACKEND_TESTS)
	KERAS_BACKEND=$(BACKEND) LABKIT_MODE=fast $(BIN)/python -m pytest -p no:cacheprovider --nbval-lax \
		$(foreach lab,$(BACKEND_LABS),solutions/$(lab)/$(lab).ipynb)
	KERAS_BACKEND=$(BACKEND) LABKIT_MODE=fast $(BIN)/python -m pytest -p no:cacheprovider tests/test_labs.py \
		-k "test_solution_earns_everything_and_release_nothing and ($(subst $() , or ,$(BACKEND_LABS)))"

# JAX and PyTorch (the CPU wheel: requirements-torch.txt), every lab, the adversarial corpus, then the
# backend x lab table in benchmarks/RESULTS.md (python -m benchmarks.backends).
TORCH_STAMP := $(VENV)/.torch-installed
$(TORCH_STAMP): requirements-torch.txt $(STAMP)
	$(BIN)/python -m pip install --quiet -r requirements-torch.txt
	touch $(TORCH_STAMP)

test-backends: install $(TORCH_STAMP)
	$(MAKE) --no-print-directory test-backend BACKEND=jax
	$(MAKE) --no-print-directory test-backend BACKEND=torch
	for backend in jax torch; do KERAS_BACKEND=$$backend LABKIT_MODE=fast $(BIN)/python -m pytest \
		-p no:cacheprovider tests/test_adversarial.py tests/test_real_adversarial.py || exit 1; done
	LABKIT_MODE=fast $(BIN)/python -m benchmarks.backends

# Everything except the slow tests (notebook runs, sandboxed grading batches).
test-fast: install
	LABKIT_MODE=fast $(BIN)/python -m pytest -p no:cacheprovider -m "not slow" tests

# The oldest Keras and TensorFlow a student may have (requirements-compat.txt: Keras 3.11, TensorFlow 2.20, what
# many Colab runtimes carry), in its own venv: the fast tests, then labs 05 and 06 (the two whose references
# depend on behaviour that changed between Keras versions) run through nbval and graded, then lab 06's mutants.
# Not part of `make test` (CI time). Every fast test runs: none depends on the installed versions being
# requirements.txt's (the grader's pins are compared as files; the grader only warns on other versions).
COMPAT_VENV ?= .venv-compat
COMPAT_BIN := $(COMPAT_VENV)/bin
COMPAT_STAMP := $(COMPAT_VENV)/.installed
COMPAT_LABS ?= 05_optimizers 06_callbacks

$(COMPAT_STAMP): requirements-compat.txt pyproject.toml
	$(PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_BIN)/python -m pip install --quiet --upgrade pip
	$(COMPAT_BIN)/python -m pip install --quiet -r requirements-compat.txt
	$(COMPAT_BIN)/python -m pip install --quiet --no-deps --editable .
	touch $(COMPAT_STAMP)

test-compat: $(COMPAT_STAMP) sandbox
	LABKIT_MODE=fast $(COMPAT_BIN)/python -m pytest -p no:cacheprovider -m "not slow" tests
	LABKIT_MODE=fast $(COMPAT_BIN)/python -m pytest -p no:cacheprovider --nbval-lax \
		$(foreach lab,$(COMPAT_LABS),solutions/$(lab)/$(lab).ipynb)
	LABKIT_MODE=fast $(COMPAT_BIN)/python -m pytest -p no:cacheprovider tests/test_labs.py \
		-k "test_solution_earns_everything_and_release_nothing and ($(subst $() , or ,$(COMPAT_LABS)))"
	LABKIT_MODE=fast $(COMPAT_BIN)/python -m autograder mutants --workers $(WORKERS) tests/mutants/06_callbacks.py

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

# The GPU check (README, "The GPU check"): the wheels, bubblewrap and data it carries to a GPU machine (.whl/,
# .gpu-data/), and a rehearsal of every step on this CPU with tiny sizes.
gpu-check-bundle: install
	PYTHON=$(BIN)/python benchmarks/gpu_check.sh --prepare

gpu-check-rehearsal: install
	PYTHON=$(BIN)/python benchmarks/gpu_check.sh --cpu-rehearsal

clean:
	rm -rf demo-output grading .pytest_cache
