"""Where a lab runs: fast or full mode, and which devices, backend and versions it sees.

Fast mode (small subsets, few epochs) is for CI and grading; full mode is for students.
Both run the same code: a lab reads its sizes through ``by_mode``.
"""

import contextlib
import importlib.metadata
import os
import platform
import re
import sys
import tempfile

MODE_VARIABLE = "LABKIT_MODE"
MODES = ("fast", "full")
# The oldest versions labkit is tested with (requirements-compat.txt, `make test-compat`): its declared dependencies
# (pyproject.toml, the student package). Keras 3.11 with TensorFlow 2.20 is what many Colab runtimes carry.
TESTED_MINIMUMS = {"keras": "3.11", "numpy": "2.0", "matplotlib": "3.10"}
TESTED_TENSORFLOW = "2.20"
# The versions the grader is pinned to (requirements.txt): references are computed there, and a grader that runs
# on others warns (grader_version_mismatches). Students may have anything from the minimums above on.
GRADER_VERSIONS = {"tensorflow": "2.21.0", "keras": "3.15.1", "numpy": "2.4.6"}
# What TensorFlow's C++ code writes straight to the process's stderr at start-up (absl log lines, which
# TF_CPP_MIN_LOG_LEVEL does not silence before absl is initialised); fatal (F) lines always show.
_NATIVE_LOG_LINE = re.compile(r"^(?:[IWE]\d{4} [\d:.]+ +\d+ \S+:\d+\] |"
                              r"WARNING: All log messages before absl::InitializeLog\(\)|"
                              r"To enable the following instructions: .* rebuild TensorFlow)")


@contextlib.contextmanager
def quiet_native_logs():
    """Hide TensorFlow's C++ log lines on the process's stderr while the block runs; other stderr lines still show."""
    sys.stderr.flush()
    with tempfile.TemporaryFile() as captured:
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode("utf-8", errors="replace").splitlines()
            kept = [line for line in lines if not _NATIVE_LOG_LINE.match(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr)


def load_backend_quietly():
    """Import Keras and its backend now, without TensorFlow's C++ start-up lines (the labs' first cell calls it)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's later INFO and WARNING lines too
    if "keras" in sys.modules:
        return
    with quiet_native_logs():
        import keras  # noqa: F401  (loads the backend: TensorFlow by default)


def lab_mode():
    """The current mode, from the LABKIT_MODE environment variable ("full" when unset)."""
    mode = os.environ.get(MODE_VARIABLE, "full").strip().lower() or "full"
    if mode not in MODES:
        raise ValueError(f"{MODE_VARIABLE} must be one of {MODES}, got {mode!r}.")
    return mode


def by_mode(fast, full):
    """Pick the fast-mode or full-mode value of a setting."""
    return fast if lab_mode() == "fast" else full


def describe_environment():
    """Versions, backend, devices and mode, as a dict (what report_environment prints)."""
    import keras

    backend = keras.backend.backend()
    devices = _list_devices(backend)
    description = {
        "python": platform.python_version(),
        "keras": keras.__version__,
        "backend": backend,
        "devices": devices,
        "gpu": any(device.startswith("GPU") or "cuda" in device.lower() for device in devices),
        "mode": lab_mode(),
    }
    # The backend's own library and its version, under the library's import name.
    library = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend)
    if library is not None:
        description[library] = importlib.import_module(library).__version__
    return description


def _list_devices(backend):
    """Device names as the backend sees them (e.g. 'CPU:0', 'GPU:0')."""
    if backend == "tensorflow":
        import tensorflow

        names, counts = [], {}
        with quiet_native_logs():  # the first listing probes the GPU driver, which logs "failed call to cuInit"
            physical_devices = tensorflow.config.list_physical_devices()
        for device in physical_devices:
            # Number devices per type (CPU:0, GPU:0, GPU:1), not across all devices.
            index = counts.get(device.device_type, 0)
            counts[device.device_type] = index + 1
            names.append(f"{device.device_type}:{index}")
        return names
    if backend == "jax":
        import jax

        return [f"{device.platform.upper()}:{device.id}" for device in jax.devices()]
    if backend == "torch":
        import torch

        gpus = [f"GPU:{index}" for index in range(torch.cuda.device_count())]
        return ["CPU:0"] + gpus
    return ["CPU:0"]


def _version_numbers(version):
    """(3, 10, 1) for '3.10.1' or '3.10.1rc0': the leading numeric parts, for comparisons."""
    return tuple(int(part) for part in re.findall(r"\d+", version.split("+")[0])[:3])


def _installed_versions(names, missing=None):
    """{name: installed version} for the named distributions; a missing one maps to `missing` (left out if None)."""
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            if missing is not None:
                versions[name] = missing
    return versions


def untested_versions(installed=None):
    """One line per package older than the version the labs are tested with (empty when all are tested).

    The install cell never changes a runtime's packages, so an older Keras (Colab's) is reported, not replaced.
    """
    minimums = dict(TESTED_MINIMUMS, tensorflow=TESTED_TENSORFLOW)
    if installed is None:
        installed = _installed_versions(minimums)  # a missing package fails at its import, with Python's own message
    lines = []
    for name, minimum in minimums.items():
        version = installed.get(name)
        if version and _version_numbers(version) < _version_numbers(minimum):
            lines.append(f"Note: {name} {version} is older than {minimum}, the oldest version these labs are tested "
                         f"with. Most cells work; if one fails, `pip install '{name}>={minimum}'` and restart.")
    return lines


def grader_version_mismatches(installed=None):
    """One line per package whose installed version is not the grader's pinned one (GRADER_VERSIONS); empty when all are.

    The grader still runs (the compatibility tests grade on the oldest supported Keras), but references and scores
    are only those of the course on the pinned versions.
    """
    if installed is None:
        installed = _installed_versions(GRADER_VERSIONS, missing="not installed")
    lines = []
    for name, pinned in GRADER_VERSIONS.items():
        version = installed.get(name, "not installed")
        if version != pinned:
            lines.append(f"WARNING: the grader runs on {name} {version}, not {pinned} (requirements.txt): references "
                         f"and scores may differ from the course's; grade with `make install`'s environment.")
    return lines


_LIBRARY_NAMES = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}


def report_environment():
    """Print devices, backend, versions and mode at the top of a lab (returns nothing, so the cell echoes nothing)."""
    description = describe_environment()
    versions = f"Python {description['python']}, Keras {description['keras']}"
    for library, name in _LIBRARY_NAMES.items():
        if library in description:
            versions += f", {name} {description[library]}"
    print(versions)
    print(f"Backend: {description['backend']}; devices: {', '.join(description['devices'])}")
    if not description["gpu"]:
        print("No GPU found: training runs on the CPU (fine in fast mode; full mode is slower).")
    for line in untested_versions():
        print(line)
    print(f"Mode: {description['mode']} (set {MODE_VARIABLE}=fast for a quick run, full for the real one)")
