"""Grading on GPU hosts: each job gets one GPU, and its sandbox shows exactly that one.

The device nodes are simulated (empty files in a temporary folder), so these tests run on any
machine; tests/test_gpu.py holds the ones that need a real GPU.
"""

import os
import resource
import subprocess
import sys
import threading
import time

import pytest

from autograder import cli, gpus, sandbox


@pytest.fixture
def fake_devices(tmp_path, monkeypatch):
    """A /dev with two GPUs and the driver's shared nodes, and no GPU request in the environment."""
    for name in ("nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm", "null", "nvidia-caps"):
        (tmp_path / name).write_text("")
    monkeypatch.setattr(gpus, "DEVICE_FOLDER", str(tmp_path))
    # Set (to "no GPUs") rather than deleted, so that what a test sets is undone afterwards.
    monkeypatch.setenv(gpus.GPU_VARIABLE, "")
    monkeypatch.setenv(gpus.JOBS_PER_GPU_VARIABLE, "1")
    return tmp_path


def _bound_devices(command):
    """Inside path -> host path of every --dev-bind in a bwrap command."""
    return {command[index + 2]: command[index + 1] for index, word in enumerate(command) if word == "--dev-bind"}


def test_gpu_device_nodes_are_found_by_index(fake_devices):
    assert gpus.device_indices() == [0, 1]
    assert gpus.device_indices(str(fake_devices / "missing")) == []


@pytest.mark.parametrize("text, expected", [("all", [0, 1]), ("1", [1]), ("1,0", [0, 1]), ("", []), (None, [])])
def test_a_gpu_request_names_available_gpus(text, expected):
    assert gpus.parse_request(text, [0, 1]) == expected


@pytest.mark.parametrize("text, message", [("2", "no GPU \\[2\\]"), ("first", "expects 'all'"),
                                           ("0,,1", "expects 'all'")])
def test_a_gpu_request_for_what_is_not_there_is_refused(text, message):
    with pytest.raises(ValueError, match=message):
        gpus.parse_request(text, [0, 1])
    with pytest.raises(ValueError, match="no NVIDIA GPU"):
        gpus.parse_request("all", [])


def test_the_sandbox_of_a_gpu_job_shows_exactly_its_gpu(fake_devices):
    command = sandbox._bwrap_command(sandbox.Limits(), ["python"], gpu=1)
    assert _bound_devices(command) == {"/dev/nvidia1": str(fake_devices / "nvidia1"),
                                       "/dev/nvidiactl": str(fake_devices / "nvidiactl"),
                                       "/dev/nvidia-uvm": str(fake_devices / "nvidia-uvm")}
    # The GPU is added after bwrap's own minimal /dev, and before /dev becomes read-only.
    dev_position = command.index("--dev")
    remount_position = command.index("--remount-ro")
    assert all(dev_position < index < remount_position for index, word in enumerate(command) if word == "--dev-bind")
    assert gpus.environment(1)["CUDA_VISIBLE_DEVICES"] == "1"


def test_without_a_gpu_request_no_gpu_is_visible(fake_devices):
    command = sandbox._bwrap_command(sandbox.Limits(), ["python"])
    assert _bound_devices(command) == {}
    assert gpus.allocator_from_environment() is None


def test_a_gpu_job_has_no_address_space_limit_but_others_do():
    script = ("import resource, sys\n"
              "from autograder import sandbox\n"
              "sandbox._limit_resources(None if sys.argv[1] == 'gpu' else 2**34, 2**26, 256)()\n"
              "print(resource.getrlimit(resource.RLIMIT_AS)[0], resource.getrlimit(resource.RLIMIT_NOFILE)[0])\n")
    gpu = subprocess.run([sys.executable, "-c", script, "gpu"], capture_output=True, text=True, timeout=60)
    cpu = subprocess.run([sys.executable, "-c", script, "cpu"], capture_output=True, text=True, timeout=60)
    inherited = resource.getrlimit(resource.RLIMIT_AS)[0]  # left as this process has it
    assert gpu.stdout.split() == [str(inherited), "256"], gpu.stderr
    assert cpu.stdout.split() == [str(2**34), "256"], cpu.stderr


def test_warm_sandboxes_are_kept_apart_per_gpu(fake_devices):
    keys = {sandbox.SERVERS.key(sandbox.Limits(), "bwrap", {}, gpu) for gpu in (None, 0, 1)}
    assert len(keys) == 3


def test_jobs_are_spread_one_per_gpu_and_wait_for_a_free_one():
    allocator = gpus.Allocator([0, 1], per_gpu=1)
    lock = threading.Lock()
    running, most, used = {0: 0, 1: 0}, {0: 0, 1: 0}, []

    def job():
        with allocator.acquire() as device:
            with lock:
                running[device] += 1
                most[device] = max(most[device], running[device])
                used.append(device)
            time.sleep(0.05)
            with lock:
                running[device] -= 1

    threads = [threading.Thread(target=job) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert most == {0: 1, 1: 1} and sorted(used) == [0, 0, 0, 1, 1, 1]


def test_a_fraction_of_a_gpu_per_job_shares_its_memory():
    allocator = gpus.Allocator([3], per_gpu=2)
    with allocator.acquire() as first, allocator.acquire() as second:
        assert first == second == 3
    assert gpus.environment(3, per_gpu=2)["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "0.450"
    with pytest.raises(ValueError, match="positive integer"):
        gpus.jobs_per_gpu("0")


def test_the_command_line_checks_the_gpus_and_hands_them_to_the_sandboxes(fake_devices, monkeypatch, capsys):
    assert cli.main(["grade", str(fake_devices), "--gpus", "3"]) == 2
    assert "no GPU [3]" in capsys.readouterr().err
    monkeypatch.setattr(cli, "command_grade", lambda arguments: 0)
    assert cli.main(["grade", str(fake_devices), "--gpus", "all", "--jobs-per-gpu", "2"]) == 0
    assert os.environ[gpus.GPU_VARIABLE] == "all" and os.environ[gpus.JOBS_PER_GPU_VARIABLE] == "2"
    assert gpus.allocator_from_environment().busy == {0: 0, 1: 0}


@pytest.mark.slow
def test_a_real_sandbox_shows_the_job_its_gpu_and_no_other(fake_devices, monkeypatch):
    monkeypatch.setenv(gpus.GPU_VARIABLE, "1")
    look = ("import os\n"
            "print('SEEN', sorted(name for name in os.listdir('/dev') if name.startswith('nvidia')),"
            " os.environ.get('CUDA_VISIBLE_DEVICES'))\n")
    job = {"cells": [{"label": "look", "source": look, "origin": "answer"}], "probes": [], "forbidden": [],
           "environment": {}}
    try:
        result = sandbox.run_job(job, sandbox.Limits(), "bwrap")
    finally:
        sandbox.SERVERS.close_all()  # its warm sandbox shows a simulated GPU: no later test may get it
    assert result.cells == {0: "ok"}, result.output
    assert "SEEN ['nvidia-uvm', 'nvidia1', 'nvidiactl'] 1" in result.output
