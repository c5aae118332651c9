"""Tests for labkit.environment: lab mode, by_mode and the environment report."""

import platform

import keras
import pytest
import tensorflow

from labkit import environment


@pytest.fixture
def cpu_only(monkeypatch):
    """Make TensorFlow report a single CPU, whatever the machine has."""
    devices = [tensorflow.config.PhysicalDevice(name="/physical_device:CPU:0", device_type="CPU")]
    monkeypatch.setattr(tensorflow.config, "list_physical_devices", lambda *args: devices)


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
    assert set(description) == {"python", "keras", "backend", "devices", "gpu", "mode", "tensorflow"}
    assert description["backend"] == "tensorflow"
    assert description["python"] == platform.python_version()
    assert description["keras"] == keras.__version__
    assert description["tensorflow"] == tensorflow.__version__
    assert description["mode"] == "fast"
    assert isinstance(description["devices"], list)
    assert any(device.startswith("CPU") for device in description["devices"])
    assert description["gpu"] == any(device.startswith("GPU") for device in description["devices"])


def test_devices_are_numbered_per_type(monkeypatch):
    devices = [
        tensorflow.config.PhysicalDevice(name="/physical_device:CPU:0", device_type="CPU"),
        tensorflow.config.PhysicalDevice(name="/physical_device:GPU:0", device_type="GPU"),
        tensorflow.config.PhysicalDevice(name="/physical_device:GPU:1", device_type="GPU"),
    ]
    monkeypatch.setattr(tensorflow.config, "list_physical_devices", lambda *args: devices)
    description = environment.describe_environment()
    assert description["devices"] == ["CPU:0", "GPU:0", "GPU:1"]
    assert description["gpu"] is True


def test_report_environment_prints_versions_and_mode(monkeypatch, capsys, cpu_only):
    monkeypatch.setenv(environment.MODE_VARIABLE, "fast")
    assert environment.report_environment() is None  # a lab's imports cell must not echo a dict
    description = environment.describe_environment()
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    assert lines[0] == (
        f"Python {platform.python_version()}, Keras {keras.__version__}, TensorFlow {tensorflow.__version__}"
    )
    assert "Backend: tensorflow; devices: CPU:0" in printed
    assert "No GPU found" in printed
    assert lines[-1].startswith("Mode: fast (set LABKIT_MODE=fast")
    assert description["mode"] == "fast"
    assert description["devices"] == ["CPU:0"]


def test_report_environment_with_gpu_has_no_warning(monkeypatch, capsys):
    devices = [
        tensorflow.config.PhysicalDevice(name="/physical_device:CPU:0", device_type="CPU"),
        tensorflow.config.PhysicalDevice(name="/physical_device:GPU:0", device_type="GPU"),
    ]
    monkeypatch.setattr(tensorflow.config, "list_physical_devices", lambda *args: devices)
    monkeypatch.delenv(environment.MODE_VARIABLE, raising=False)
    environment.report_environment()
    printed = capsys.readouterr().out
    assert "devices: CPU:0, GPU:0" in printed
    assert "No GPU found" not in printed
    assert "Mode: full" in printed
