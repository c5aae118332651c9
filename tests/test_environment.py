"""Tests for labkit.environment: lab mode, by_mode and the environment report (on the current Keras backend)."""

import importlib
import platform
import types

import keras
import pytest

from labkit import environment

BACKEND = keras.backend.backend()
# The backend's library as describe_environment names it (its import name) and as the report prints it.
LIBRARY = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[BACKEND]
LIBRARY_NAME = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}[BACKEND]


def fake_devices(monkeypatch, gpus):
    """Make the backend see one CPU and `gpus` GPUs; returns the names describe_environment should give.

    TensorFlow and torch list the CPU and the GPUs; JAX lists the devices of its default platform only,
    so with GPUs it shows the GPUs alone.
    """
    if BACKEND == "tensorflow":
        import tensorflow

        devices = [tensorflow.config.PhysicalDevice(name="/physical_device:CPU:0", device_type="CPU")]
        devices += [tensorflow.config.PhysicalDevice(name=f"/physical_device:GPU:{index}", device_type="GPU")
                    for index in range(gpus)]
        monkeypatch.setattr(tensorflow.config, "list_physical_devices", lambda *args: devices)
        return ["CPU:0"] + [f"GPU:{index}" for index in range(gpus)]
    if BACKEND == "jax":
        import jax

        devices = ([types.SimpleNamespace(platform="gpu", id=index) for index in range(gpus)]
                   or [types.SimpleNamespace(platform="cpu", id=0)])
        monkeypatch.setattr(jax, "devices", lambda *args: devices)
        return [f"GPU:{index}" for index in range(gpus)] or ["CPU:0"]
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    return ["CPU:0"] + [f"GPU:{index}" for index in range(gpus)]


@pytest.fixture
def cpu_only(monkeypatch):
    """Make the backend report a single CPU, whatever the machine has."""
    fake_devices(monkeypatch, 0)


def test_lab_mode_defaults_to_full(monkeypatch):
    monkeypatch.delenv(environment.MODE_VARIABLE, raising=False)
    assert environment.lab_mode() == "full"


@pytest.mark.parametrize("value", ["", "   "])
def test_lab_mode_blank_means_full(monkeypatch, value):
    monkeypatch.setenv(environment.MODE_VARIABLE, value)
    assert environment.lab_mode() == "full"


@pytest.mark.parametrize("value", ["fast", "FAST", " fast \n"])
def test_lab_mode_fast(monkeypatch, value):
    monkeypatch.setenv(environment.MODE_VARIABLE, value)
    assert environment.lab_mode() == "fast"


def test_lab_mode_full(monkeypatch):
    monkeypatch.setenv(environment.MODE_VARIABLE, "full")
    assert environment.lab_mode() == "full"


def test_lab_mode_invalid_raises(monkeypatch):
    monkeypatch.setenv(environment.MODE_VARIABLE, "turbo")
    with pytest.raises(ValueError, match="LABKIT_MODE must be one of .*'turbo'"):
        environment.lab_mode()


def test_by_mode(monkeypatch):
    monkeypatch.setenv(environment.MODE_VARIABLE, "fast")
    assert environment.by_mode(fast=2, full=50) == 2
    monkeypatch.setenv(environment.MODE_VARIABLE, "full")
    assert environment.by_mode(fast=2, full=50) == 50
    monkeypatch.delenv(environment.MODE_VARIABLE)
    assert environment.by_mode(fast=2, full=50) == 50
    monkeypatch.setenv(environment.MODE_VARIABLE, "nonsense")
    with pytest.raises(ValueError):
        environment.by_mode(fast=2, full=50)


def test_describe_environment(monkeypatch):
    monkeypatch.setenv(environment.MODE_VARIABLE, "fast")
    description = environment.describe_environment()
    assert set(description) == {"python", "keras", "backend", "devices", "gpu", "mode", LIBRARY}
    assert description["backend"] == BACKEND
    assert description["python"] == platform.python_version()
    assert description["keras"] == keras.__version__
    assert description[LIBRARY] == importlib.import_module(LIBRARY).__version__
    assert description["mode"] == "fast"
    assert isinstance(description["devices"], list) and description["devices"]
    assert all(device.startswith(("CPU:", "GPU:", "TPU:")) for device in description["devices"])
    assert description["gpu"] == any(device.startswith("GPU") for device in description["devices"])


def test_devices_are_numbered_per_type(monkeypatch):
    expected = fake_devices(monkeypatch, 2)
    description = environment.describe_environment()
    assert description["devices"] == expected
    assert expected[-2:] == ["GPU:0", "GPU:1"]
    assert description["gpu"] is True


def test_report_environment_prints_versions_and_mode(monkeypatch, capsys, cpu_only):
    monkeypatch.setenv(environment.MODE_VARIABLE, "fast")
    assert environment.report_environment() is None  # a lab's imports cell must not echo a dict
    description = environment.describe_environment()
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    assert lines[0] == (
        f"Python {platform.python_version()}, Keras {keras.__version__}, "
        f"{LIBRARY_NAME} {importlib.import_module(LIBRARY).__version__}"
    )
    assert f"Backend: {BACKEND}; devices: CPU:0" in printed
    assert "No GPU found" in printed
    assert lines[-1].startswith("Mode: fast (set LABKIT_MODE=fast")
    assert description["mode"] == "fast"
    assert description["devices"] == ["CPU:0"]


def test_report_environment_with_gpu_has_no_warning(monkeypatch, capsys):
    expected = fake_devices(monkeypatch, 1)
    monkeypatch.delenv(environment.MODE_VARIABLE, raising=False)
    environment.report_environment()
    printed = capsys.readouterr().out
    assert f"devices: {', '.join(expected)}" in printed
    assert "No GPU found" not in printed
    assert "Mode: full" in printed


def _pins(name):
    """package -> version pinned with == in a requirements file at the repository root."""
    import pathlib

    pins = {}
    for line in (pathlib.Path(__file__).resolve().parents[1] / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            package, _, version = line.partition("==")
            pins[package.strip().lower()] = version.strip()
    return pins


def test_grader_versions_are_the_pinned_requirements():
    pins = _pins("requirements.txt")
    assert environment.GRADER_VERSIONS == {name: pins[name] for name in environment.GRADER_VERSIONS}


def test_tested_minimums_are_the_compatibility_pins():
    # requirements-compat.txt (`make test-compat`) installs the oldest versions labkit declares it is tested with.
    pins = _pins("requirements-compat.txt")
    minimums = dict(environment.TESTED_MINIMUMS, tensorflow=environment.TESTED_TENSORFLOW)
    for name, minimum in minimums.items():
        assert environment._version_numbers(pins[name])[:2] == environment._version_numbers(minimum)[:2], name


def test_grader_version_mismatches_name_each_other_version():
    assert environment.grader_version_mismatches(dict(environment.GRADER_VERSIONS)) == []
    older = dict(environment.GRADER_VERSIONS, keras="3.11.3", tensorflow="2.20.0")
    lines = environment.grader_version_mismatches(older)
    assert len(lines) == 2
    assert lines[0].startswith("WARNING: the grader runs on tensorflow 2.20.0, not 2.21.0 (requirements.txt)")
    assert "keras 3.11.3, not 3.15.1" in lines[1]
    assert "numpy not installed" in environment.grader_version_mismatches({"keras": "3.15.1"})[-1]
