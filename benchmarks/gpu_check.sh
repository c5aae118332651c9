#!/usr/bin/env bash
# The GPU check (issue 11): on a machine with PyTorch and JAX for CUDA, but no TensorFlow, Keras or internet,
# run the gpu-marked tests, grade the lab 05 and lab 07 solutions under the JAX and torch backends with
# `--gpus all`, train lab 07's LeNet-5 in full mode and one epoch of its full-mode ResNet on CIFAR-10, and
# write every figure to one results file: $OUT/gpu_check.md when OUT is set, else
# benchmarks/gpu_check_results.md. Each step has its own time limit and the whole run a budget
# (GPU_CHECK_BUDGET_S, default 450 s): a step that would not fit is recorded as skipped.
#
#   benchmarks/gpu_check.sh --prepare        here, with internet: wheels (.whl/), bubblewrap and data
#                                            (.gpu-data/); prints the device call that carries them
#   benchmarks/gpu_check.sh                  on the GPU machine (python3 there holds torch and JAX)
#   benchmarks/gpu_check.sh --cpu-rehearsal  every step here on the CPU with tiny sizes, no --gpus
#                                            (results in build/gpu_check/gpu_check_rehearsal.md)
#
# Variables: PYTHON (default python3 on the GPU machine, .venv/bin/python otherwise), GPU_CHECK_BUDGET_S,
# GPU_CHECK_STEP_SCALE (step time limits x N; rehearsal: 3000 s and x5), GPU_CHECK_TRAIN_BACKENDS (default
# "jax"), GPU_CHECK_GRADE_BACKENDS (default "jax torch"), GPU_CHECK_PYTHON312 (rehearsal: a Python 3.12 to
# install the wheels with, default pyenv's); for a dry run of the GPU path without a GPU, GPU_CHECK_GPUS=none
# and GPU_CHECK_SIZE=tiny.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
MODE=gpu
case "${1:-}" in
  --prepare) shift; exec "${PYTHON:-$ROOT/.venv/bin/python}" -m benchmarks.gpu_check prepare "$@" ;;
  --cpu-rehearsal) MODE=cpu-rehearsal ;;
  "") ;;
  -h|--help) sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "unknown option $1 (--prepare, --cpu-rehearsal or none; --help)" >&2; exit 2 ;;
esac

TRAIN_BACKENDS=${GPU_CHECK_TRAIN_BACKENDS:-jax}
GRADE_BACKENDS=${GPU_CHECK_GRADE_BACKENDS:-jax torch}
WORK=$(mktemp -d /tmp/gpu_check.XXXXXX)
LOGS=$WORK/logs
mkdir -p "$LOGS"
if [ "$MODE" = gpu ]; then
  PYTHON=${PYTHON:-python3}
  RESULTS=${OUT:+$OUT/gpu_check.md}
  RESULTS=${RESULTS:-$ROOT/benchmarks/gpu_check_results.md}
  SIZE=${GPU_CHECK_SIZE:-full}
  GPU_FLAGS=(--gpus "${GPU_CHECK_GPUS:-all}")
  [ "${GPU_CHECK_GPUS:-all}" != none ] || GPU_FLAGS=()
  BUDGET=${GPU_CHECK_BUDGET_S:-450}
  SCALE=${GPU_CHECK_STEP_SCALE:-1}
else
  PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
  RESULTS=${OUT:+$OUT/gpu_check.md}
  RESULTS=${RESULTS:-$ROOT/build/gpu_check/gpu_check_rehearsal.md}
  SIZE=tiny
  GPU_FLAGS=()
  BUDGET=${GPU_CHECK_BUDGET_S:-3000}  # a 2-core CPU grades under JAX and torch several times slower
  SCALE=${GPU_CHECK_STEP_SCALE:-5}
fi
mkdir -p "$(dirname "$RESULTS")"

export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1
export KERAS_BACKEND=${KERAS_BACKEND:-jax}    # the machine has no TensorFlow, Keras's default backend
export LABKIT_DATA_DIR=$ROOT/.gpu-data
export LABKIT_MODE=fast               # grading and the tests run the fast-mode settings; training is sized below
export AUTOGRADER_CACHE=$WORK/reference-cache  # references computed afresh, as a first grading run does
export XLA_PYTHON_CLIENT_PREALLOCATE=false     # JAX would otherwise take 75 % of the GPU in the first process
export TF_CPP_MIN_LOG_LEVEL=2
export MPLBACKEND=Agg

if [ ! -d "$LABKIT_DATA_DIR/mnist" ] || [ ! -d "$LABKIT_DATA_DIR/cifar10" ]; then
  echo "no offline data in $LABKIT_DATA_DIR: run benchmarks/gpu_check.sh --prepare first (and carry .gpu-data)" >&2
  exit 2
fi
if ! compgen -G "$ROOT/.whl/*.whl" >/dev/null; then
  echo "no wheels in $ROOT/.whl: run benchmarks/gpu_check.sh --prepare first (and carry .whl)" >&2
  exit 2
fi

elapsed() { echo $(( SECONDS - START )); }
START=$SECONDS

# step NAME LIMIT COMMAND...: run COMMAND under `timeout` (at most what is left of the budget), log its
# output and add its outcome to the results file. A failing step never stops the check.
step() {
  local name=$1 limit=$2
  shift 2
  local log
  log=$LOGS/$(echo "$name" | tr -c 'A-Za-z0-9_.-' '_').log
  local left=$(( BUDGET - $(elapsed) ))
  limit=$(( limit * SCALE ))
  local rc=0 started finished seconds
  if (( left < 10 )); then
    echo "skipped: ${left}s of the ${BUDGET}s budget left" >"$log"
    rc=999 seconds=0
  else
    (( limit > left )) && limit=$left
    started=$(date +%s.%N)
    # bash -c: a step may be one of the functions below (exported), which `timeout` cannot run itself.
    timeout -k 10 "$limit" bash -c 'set -euo pipefail; "$@"' step "$@" >"$log" 2>&1 || rc=$?
    finished=$(date +%s.%N)
    seconds=$(awk -v a="$started" -v b="$finished" 'BEGIN { printf "%.1f", b - a }')
  fi
  "$PYTHON" -m benchmarks.gpu_check record "$RESULTS" --step "$name" --rc "$rc" --seconds "$seconds" --log "$log" \
    || echo "(could not record $name in $RESULTS)"
  echo "[gpu_check $(elapsed)s] $name: exit $rc, ${seconds}s"
  tail -n 4 "$log" | sed 's/^/    /'
}

# The results file starts before anything is installed: the header needs nothing outside the standard library.
"$PYTHON" -m benchmarks.gpu_check header "$RESULTS" --kind "$MODE"
echo "[gpu_check] $MODE run; results in $RESULTS; logs in $LOGS"

# --- 1. the packages the machine lacks, and bubblewrap --------------------------------------------------------
install_wheels() {
  # Into the interpreter's own environment: the grading sandbox shows the interpreter's prefix, not PYTHONPATH.
  "$PYTHON" -c 'import sys; v = sys.version_info[:2]; print("Python", sys.version.split()[0], sys.prefix);
sys.exit(0 if v == (3, 12) else "the wheels are built for CPython 3.12")'
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --disable-pip-version-check \
    "$ROOT"/.whl/*.whl
  "$PYTHON" -m benchmarks.gpu_check check-bundle  # the installed versions are the wheels' (and the data is there)
  "$PYTHON" -c 'import keras, nbgrader.api, nbgrader.apps.api, nbformat, nbclient, autograder.cli;
print("RESULT", "{\"keras\": \"%s\"}" % keras.__version__)'
}
check_wheels_elsewhere() {
  # Rehearsal: the same wheels install on a Python 3.12 (into a scratch folder) and nothing is missing or doubled.
  local python312=${GPU_CHECK_PYTHON312:-}
  if [ -z "$python312" ] && python3.12 -V >/dev/null 2>&1; then python312=$(command -v python3.12); fi
  [ -n "$python312" ] || python312=$(ls "$HOME"/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | head -1 || true)
  "$PYTHON" -m benchmarks.gpu_check check-bundle
  if [ -z "$python312" ]; then echo "no Python 3.12 here: wheel install not rehearsed"; return 0; fi
  "$python312" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --disable-pip-version-check \
    --target "$WORK/site" "$ROOT"/.whl/*.whl
  local count
  count=$(ls -d "$WORK"/site/*.dist-info | wc -l)
  echo "RESULT {\"wheels_installed_on_python312\": $count}"
}
bubblewrap() {
  # bwrap from the carried Debian package, in a private folder on PATH, unless the machine has one.
  if [ "$MODE" = gpu ] && command -v bwrap >/dev/null 2>&1; then
    echo "the machine's own: $(command -v bwrap)"
  else
    local deb
    deb=$(ls "$LABKIT_DATA_DIR"/deb/bubblewrap_*.deb | head -1)
    if command -v dpkg >/dev/null 2>&1; then
      dpkg -x "$deb" "$WORK/bwrap"
    else
      mkdir -p "$WORK/bwrap" && (cd "$WORK/bwrap" && ar x "$deb" && tar -xf data.tar.* )
    fi
    echo "carried: $deb"
  fi
  "$(command -v bwrap || echo "$WORK/bwrap/usr/bin/bwrap")" --version
  "$PYTHON" -c 'from autograder import sandbox; problem = sandbox.bwrap_problem();
print(problem or "the grading sandbox starts");
raise SystemExit(1 if problem else 0)'
}
export ROOT MODE WORK PYTHON
export -f install_wheels check_wheels_elsewhere bubblewrap
if [ "$MODE" = gpu ]; then
  step "install the carried wheels" 90 install_wheels
else
  step "the carried wheels install on Python 3.12 (scratch folder)" 90 check_wheels_elsewhere
fi
if [ "$MODE" = gpu ] && command -v bwrap >/dev/null 2>&1; then :; else export PATH=$WORK/bwrap/usr/bin:$PATH; fi
step "bubblewrap" 30 bubblewrap
ISOLATION=()
if ! "$PYTHON" -c 'from autograder import sandbox; raise SystemExit(1 if sandbox.bwrap_problem() else 0)' \
    2>/dev/null; then
  echo "[gpu_check] bubblewrap cannot start the sandbox here: grading with --allow-unsandboxed (REDUCED isolation)"
  ISOLATION=(--allow-unsandboxed)
  export GPU_CHECK_ISOLATION=none
fi

# --- 2. the machine -----------------------------------------------------------------------------------------
machine() {
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    nvidia-smi
  else
    echo "no nvidia-smi on this machine"
  fi
  echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
  ls -l /dev/nvidia* 2>/dev/null || echo "no /dev/nvidia* device nodes"
  "$PYTHON" -m benchmarks.gpu_check environment
}
export -f machine
step "machine: nvidia-smi, torch and JAX devices" 60 machine
for backend in $GRADE_BACKENDS; do
  if [ ${#GPU_FLAGS[@]} -gt 0 ]; then
    step "sandbox devices ($backend, AUTOGRADER_GPUS=${GPU_FLAGS[1]})" 60 env KERAS_BACKEND="$backend" \
      AUTOGRADER_GPUS="${GPU_FLAGS[1]}" \
      "$PYTHON" -m benchmarks.gpu_check sandbox-devices
  else
    step "sandbox devices ($backend, no GPU requested)" 60 env KERAS_BACKEND="$backend" AUTOGRADER_GPUS= \
      "$PYTHON" -m benchmarks.gpu_check sandbox-devices
  fi
done

# --- 3. training: LeNet-5 in full mode, one epoch of the full-mode ResNet ---------------------------------------
for backend in $TRAIN_BACKENDS; do
  step "LeNet-5 on MNIST ($SIZE, $backend)" 120 env KERAS_BACKEND="$backend" \
    "$PYTHON" -m benchmarks.gpu_check lenet --size "$SIZE"
  step "ResNet on CIFAR-10, one epoch ($SIZE, $backend)" 150 env KERAS_BACKEND="$backend" \
    "$PYTHON" -m benchmarks.gpu_check resnet --size "$SIZE"
done

# --- 4. grading the lab 05 and lab 07 solutions -----------------------------------------------------------------
SUBMISSIONS=$WORK/submissions
for lab in 05_optimizers 07_convolutions; do
  "$PYTHON" -m benchmarks.gpu_check submission "$lab" "$SUBMISSIONS" >/dev/null
done
for backend in $GRADE_BACKENDS; do
  for lab in 05_optimizers 07_convolutions; do
    step "grade $lab ($backend${GPU_FLAGS[*]:+, ${GPU_FLAGS[*]}})" 90 \
      "$PYTHON" -m autograder grade "$SUBMISSIONS" --lab "$lab" --output "$WORK/grading-$backend-$lab" --quiet \
      --force --backend "$backend" ${GPU_FLAGS[@]+"${GPU_FLAGS[@]}"} ${ISOLATION[@]+"${ISOLATION[@]}"}
  done
done

# --- 5. the gpu-marked tests ------------------------------------------------------------------------------------
mapfile -t GPU_TESTS < <(grep -l "pytest.mark.gpu" tests/test_*.py)
for backend in $GRADE_BACKENDS; do
  step "pytest -m gpu ($backend): ${GPU_TESTS[*]}" 120 env KERAS_BACKEND="$backend" \
    "$PYTHON" -m pytest -p no:cacheprovider -m gpu -q -rs "${GPU_TESTS[@]}"
done

echo "" >>"$RESULTS"
echo "Whole check: $(elapsed) s of the ${BUDGET} s budget." >>"$RESULTS"
if [ -n "${OUT:-}" ]; then
  tar -czf "$OUT/gpu_check_logs.tar.gz" -C "$WORK" logs
fi
echo "[gpu_check] done in $(elapsed)s: $RESULTS"
cat "$RESULTS" | sed -n '1,/^## /p' | head -n -1
