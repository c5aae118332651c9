"""The GPU check's bundle, results file and training measurements (benchmarks/gpu_check.py), on the CPU.

The check itself runs on a GPU machine (benchmarks/gpu_check.sh); here its pieces run with tiny sizes and
synthetic data, which tests the plumbing, not the figures.
"""

import importlib.metadata
import pathlib
import subprocess

import numpy as np
import pytest

from benchmarks import gpu_check

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"


def test_the_script_is_valid_bash_and_explains_itself():
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True).returncode == 0
    usage = subprocess.run(["bash", str(SCRIPT), "--help"], capture_output=True, text=True, timeout=30)
    assert usage.returncode == 0 and "--cpu-rehearsal" in usage.stdout and "--prepare" in usage.stdout
    assert subprocess.run(["bash", str(SCRIPT), "--bogus"], capture_output=True, timeout=30).returncode == 2


def test_the_bundle_pins_the_versions_installed_here_and_never_tensorflow():
    versions = {name: "1.0" for name in gpu_check.CARRIED_PACKAGES}
    pins = gpu_check.bundle_pins(version_of=versions.__getitem__)
    assert len(pins) == len(set(pins)) == len(gpu_check.CARRIED_PACKAGES)
    assert "keras==1.0" in pins and "jupyter-core==1.0" in pins  # names as pip normalizes them
    assert f"keras=={importlib.metadata.version('keras')}" in gpu_check.bundle_pins(packages=("keras",))
    with pytest.raises(ValueError, match="must not be carried"):
        gpu_check.bundle_pins(packages=("keras", "tensorflow"), version_of=lambda name: "1.0")
    with pytest.raises(ValueError, match="listed twice"):
        gpu_check.bundle_pins(packages=("jupyter_core", "jupyter-core"), version_of=lambda name: "1.0")

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    with pytest.raises(ValueError, match="not installed here"):
        gpu_check.bundle_pins(packages=("keras",), version_of=missing)


def test_everything_keras_needs_is_carried_or_on_the_gpu_machine():
    carried = {gpu_check.normalize(name) for name in gpu_check.CARRIED_PACKAGES}
    on_device = {"absl-py", "h5py", "ml-dtypes", "numpy", "packaging", "rich"}  # the device notes' package list
    needed = {gpu_check.normalize(requirement.split(";")[0].split(" ")[0].split(">")[0].split("=")[0].split("<")[0])
              for requirement in importlib.metadata.requires("keras") if "extra ==" not in requirement}
    assert needed <= carried | on_device
    assert not carried & set(gpu_check.NOT_CARRIED)


@pytest.mark.parametrize("filename, fits", [
    ("keras-3.15.1-py3-none-any.whl", True),
    ("defusedxml-0.7.1-py2.py3-none-any.whl", True),
    ("optree-0.20.0-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl", True),
    ("tornado-6.6.1-cp311-abi3-manylinux1_x86_64.manylinux_2_28_x86_64.manylinux_2_5_x86_64.whl", True),
    ("optree-0.20.0-cp311-cp311-manylinux_2_27_x86_64.whl", False),
    ("optree-0.20.0-cp312-cp312-macosx_11_0_arm64.whl", False),
    ("optree-0.20.0-cp312-cp312-musllinux_1_2_x86_64.whl", False),
    ("optree-0.20.0-cp312-cp312-manylinux_2_28_aarch64.whl", False),
    ("pyzmq-27.3.0-cp313-abi3-manylinux_2_28_x86_64.whl", False),
    ("legacy-1.0-py2-none-any.whl", False),
])
def test_only_wheels_for_cpython_312_on_x86_64_linux_travel(filename, fits):
    assert gpu_check.wheel_fits_device(filename) is fits


def test_a_wheel_folder_is_checked_against_the_pins(tmp_path):
    pins = ["keras==3.15.1", "jupyter-core==5.9.1"]
    for name in ("keras-3.15.1-py3-none-any.whl", "jupyter_core-5.9.1-py3-none-any.whl"):
        (tmp_path / name).write_bytes(b"")
    assert gpu_check.check_wheels(tmp_path, pins) == []
    (tmp_path / "keras-3.14.0-py3-none-any.whl").write_bytes(b"")
    (tmp_path / "tensorflow-2.21.0-cp312-cp312-manylinux_2_27_x86_64.whl").write_bytes(b"")
    (tmp_path / "jupyter_core-5.9.1-py3-none-any.whl").unlink()
    problems = "\n".join(gpu_check.check_wheels(tmp_path, pins))
    assert "two wheels of keras" in problems
    assert "missing wheel jupyter-core==5.9.1" in problems
    assert "tensorflow==2.21.0 is not in the bundle's list" in problems


def _offline_data(folder, train=40, test=30):
    """A tiny data folder in the offline layout, random images: for the plumbing only."""
    generator = np.random.default_rng(0)
    (folder / "mnist").mkdir(parents=True)
    (folder / "cifar10").mkdir()
    np.savez(folder / "mnist" / "mnist-partial.npz",
             x_train=generator.integers(0, 256, (train, 28, 28), dtype=np.uint8),
             y_train=generator.integers(0, 10, train, dtype=np.uint8),
             x_test=generator.integers(0, 256, (test, 28, 28), dtype=np.uint8),
             y_test=generator.integers(0, 10, test, dtype=np.uint8))
    np.savez(folder / "cifar10" / "cifar10-offline.npz",
             x_train=generator.integers(0, 256, (train, 32, 32, 3), dtype=np.uint8),
             y_train=generator.integers(0, 10, (train, 1), dtype=np.uint8),
             x_test=generator.integers(0, 256, (test, 32, 32, 3), dtype=np.uint8),
             y_test=generator.integers(0, 10, (test, 1), dtype=np.uint8),
             x_test_is_lossless=np.ones(test, dtype=bool), class_names=np.array(["a"] * 10))
    return folder


def test_the_data_copy_keeps_mnist_and_the_first_cifar_test_images(tmp_path):
    source = _offline_data(tmp_path / "source")
    counts = gpu_check.copy_data(source, tmp_path / "bundle", cifar_test_images=12)
    assert counts == {"x_train": 40, "y_train": 40, "x_test": 12, "y_test": 12, "x_test_is_lossless": 12}
    with np.load(source / "cifar10" / "cifar10-offline.npz") as original, \
            np.load(tmp_path / "bundle" / "cifar10" / "cifar10-offline.npz") as copied:
        assert np.array_equal(copied["x_test"], original["x_test"][:12])
        assert np.array_equal(copied["x_train"], original["x_train"])
    assert (tmp_path / "bundle" / "mnist" / "mnist-partial.npz").read_bytes() == \
        (source / "mnist" / "mnist-partial.npz").read_bytes()
    (tmp_path / "bundle" / "deb").mkdir()
    assert gpu_check.bundle_problems(tmp_path, tmp_path / "bundle", pins=[]) == [
        f"missing {tmp_path / 'bundle' / 'deb'}/bubblewrap_*.deb"]
    with pytest.raises(ValueError, match="onto itself"):
        gpu_check.copy_data(tmp_path / "bundle", tmp_path / "bundle")
    with pytest.raises(FileNotFoundError, match="offline data"):
        gpu_check.copy_data(tmp_path / "nothing", tmp_path / "elsewhere")


def test_the_device_call_carries_what_git_ignores():
    call = gpu_check.run_command()
    ignored = (ROOT / ".gitignore").read_text().split()
    assert call["command"] == "bash benchmarks/gpu_check.sh" and call["timeout_s"] <= 600
    assert all(f"/{path}/" in ignored for path in call["carry"])


def test_the_results_file_has_one_row_and_one_section_per_step(tmp_path):
    results = tmp_path / "gpu_check.md"
    results.write_text("\n".join(gpu_check.header_lines("cpu-rehearsal", when="today")) + "\n")
    grading_log = ("student   05_optimizers  total\n--------  -------------  -----\n"
                   "solution  15/15          15/15\n1 graded, 0 skipped (unchanged), 0 not graded\n")
    assert gpu_check.record(results, "grade 05", 0, 21.04, grading_log) == {"score": "15/15"}
    training_log = 'Epoch 1\nRESULT {"test_accuracy": 0.98765, "seconds": 12.34, "device": "cuda:0"}\n'
    gpu_check.record(results, "LeNet-5", 0, 14.0, training_log)
    gpu_check.record(results, "ResNet", 124, 180.0, "still compiling ```")
    gpu_check.record(results, "pytest", 999, 0.0, "skipped")
    gpu_check.record(results, "grade 05 torch", 0, 16.0, grading_log.replace("15/15          15/15", "2/15 2/15"))
    gpu_check.record(results, "grade 07 torch", 3, 10.8, "solution  not graded       0/0  \n")
    assert gpu_check.parse_results("ssss   [100%]\n===== 2 passed, 8 skipped in 4.83s =====\n") == {
        "tests": "2 passed, 8 skipped"}
    text = results.read_text()
    assert "CPU rehearsal" in text.splitlines()[0]
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert rows == ["| grade 05 | ok | 21.0 | score 15/15 |",
                    "| LeNet-5 | ok | 14.0 | test_accuracy 0.9877; seconds 12.3; device cuda:0 |",
                    "| ResNet | TIMED OUT | 180.0 | — |",
                    "| pytest | skipped (time budget) | 0.0 | — |",
                    "| grade 05 torch | LOST POINTS | 16.0 | score 2/15 |",
                    "| grade 07 torch | NOT GRADED | 10.8 | score not graded |"]
    assert text.index("| pytest |") < text.index("## grade 05") < text.index("## ResNet")
    assert text.count("```") % 2 == 0  # a log's own fences cannot break the file


def test_the_training_measurements_run_with_tiny_sizes(tmp_path, monkeypatch):
    import keras

    from labkit import data

    monkeypatch.setenv("LABKIT_DATA_DIR", str(_offline_data(tmp_path / "data", train=48, test=16)))
    data.clear_cache()
    namespace = gpu_check.lab_namespace("07_convolutions")
    assert {"build_lenet5", "ResidualBlock"} <= set(namespace)
    lenet = gpu_check.train_lenet(namespace, train_size=32, test_size=16, epochs=1, batch_size=16,
                                  run_eagerly=True)
    assert lenet["train_images"] == 32 and lenet["test_images"] == 16 and lenet["epochs"] == 1
    assert 0 <= lenet["test_accuracy"] <= 1 and lenet["seconds"] > 0
    assert lenet["backend"] == keras.backend.backend()
    resnet = gpu_check.train_resnet(namespace, train_size=32, test_size=16, epochs=1, schedule_epochs=3,
                                    warmup_epochs=1, widths=(2, 4, 4), blocks_per_stage=1, batch_size=16,
                                    run_eagerly=True)
    assert resnet["model"] == "ResNet 2-4-4 x1" and resnet["train_images"] == 32
    assert 0 <= resnet["test_accuracy"] <= 1 and resnet["parameters"] > 0
    data.clear_cache()


def test_the_full_sizes_are_the_labs_full_mode():
    source = (ROOT / "solutions" / "07_convolutions" / "07_convolutions.ipynb").read_text()
    assert "lenet_epochs = labkit.environment.by_mode(fast=2, full=15)" in source
    assert gpu_check.LENET_FULL["epochs"] == 15 and gpu_check.LENET_FULL["train_size"] is None
    assert "stage_widths = labkit.environment.by_mode(fast=(8, 16, 32), full=(64, 128, 256))" in source
    assert "cifar_epochs = labkit.environment.by_mode(fast=3, full=30)" in source
    assert "warmup_epochs = labkit.environment.by_mode(fast=1, full=5)" in source
    assert gpu_check.RESNET_FULL["widths"] == (64, 128, 256) and gpu_check.RESNET_FULL["schedule_epochs"] == 30
    assert gpu_check.RESNET_FULL["warmup_epochs"] == 5 and gpu_check.RESNET_FULL["blocks_per_stage"] == 2
