"""The Keras backend is a grading setting: forwarded into the sandbox, part of what a warm sandbox is."""

import importlib.util
import os
import subprocess
import sys

import pytest

from autograder import cli, sandbox


def test_the_backend_comes_from_the_graders_environment(monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert sandbox.keras_backend() == "tensorflow"
    assert sandbox._child_environment("/scratch", {})["KERAS_BACKEND"] == "tensorflow"
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert sandbox._child_environment("/scratch", {})["KERAS_BACKEND"] == "jax"
    monkeypatch.setenv("KERAS_BACKEND", "theano")
    with pytest.raises(ValueError, match="not a Keras backend grading supports"):
        sandbox.keras_backend()


def test_warm_sandboxes_are_kept_apart_per_backend(monkeypatch):
    keys = set()
    for backend in sandbox.BACKENDS:
        monkeypatch.setenv("KERAS_BACKEND", backend)
        keys.add(sandbox.SERVERS.key(sandbox.Limits(), "bwrap", {"KERAS_BACKEND": sandbox.keras_backend()}))
    assert len(keys) == 3


def test_the_command_line_sets_the_backend_or_says_what_is_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")  # restored after the test
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "torch" else object())
    assert cli.main(["grade", str(tmp_path), "--backend", "torch"]) == 2
    assert "the torch package is not installed" in capsys.readouterr().err
    monkeypatch.setattr(cli, "command_grade", lambda arguments: 0)
    assert cli.main(["grade", str(tmp_path), "--backend", "jax"]) == 0
    assert sandbox.keras_backend() == "jax"


@pytest.mark.slow
def test_a_job_runs_on_the_backend_it_was_given(monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    job = {"cells": [{"label": "which", "source": "import keras\nprint('BACKEND', keras.backend.backend())",
                      "origin": "answer"}], "probes": [], "forbidden": [], "environment": {}}
    result = sandbox.run_job(job, sandbox.Limits(), "bwrap")
    assert "BACKEND tensorflow" in result.output and result.backend == "tensorflow"


@pytest.mark.slow
def test_the_backend_is_recorded_in_the_result_and_the_feedback(tmp_path, monkeypatch):
    from autograder import grading, lab as lab_module, reports
    from tests.support import toy_lab

    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    source_path = toy_lab.build(tmp_path / "solutions")
    lab = lab_module.load_lab(source_path)
    result = grading.grade_notebook(lab, source_path, "ada", grading.compute_references(lab, "bwrap"), "bwrap")
    assert result.backend == "tensorflow"
    assert "on the tensorflow backend" in reports.feedback_html(result)


def test_the_fork_runner_loads_what_keras_would_import_lazily_on_torch():
    pytest.importorskip("torch")
    program = ("import sys; from autograder.sandboxed import runner; runner.import_libraries(); "
               "print(sorted(name for name in sys.modules if name.startswith('keras.src.backend.torch.optimizers.')))")
    completed = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300,
                               env=dict(os.environ, KERAS_BACKEND="torch"))
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "keras.src.backend.torch.optimizers.torch_adagrad" in completed.stdout
    assert "keras.src.backend.torch.optimizers.torch_sgd" in completed.stdout
