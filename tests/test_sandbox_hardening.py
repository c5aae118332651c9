"""The sandbox's inner defences, attacked directly: each attack of a class is refused or recorded.

Cells are written so that the attack succeeding raises SystemExit: a cell status "ok" means the
attack was refused. Every job is bounded by the sandbox's own limits.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from autograder import grading, lab as lab_module, release, samples, sandbox
from autograder.sandboxed import process_filter
from tests.support import toy_lab

ROOT = pathlib.Path(__file__).resolve().parents[1]

REFUSED_ATTACKS = {
    "subprocess": "import subprocess, sys\nsubprocess.run([sys.executable, '-c', 'pass'])",
    "os_system": "import os\nos.system('true')",
    "posix_spawn": "import os\nos.posix_spawn('/bin/true', ['true'], {})",
    "exec": "import os\nos.execv('/bin/true', ['true'])",
    "fork": "import os\nos.fork()",
    "multiprocessing": "import multiprocessing\nmultiprocessing.get_context('fork').Process(target=print).start()",
    "ctypes": "import ctypes\nctypes.CDLL(None).fork()",
    "getframe": "import sys\nsys._getframe()",
    "inspect_frame": "import inspect\ninspect.currentframe()",
    "inspect_stack": "import inspect\ninspect.stack()",
    "logging_frame": "import logging\nlogging.currentframe()",
    "walk_stack": "import traceback\nnext(traceback.walk_stack(None))",
    "traceback_frame": "try:\n    raise ValueError\nexcept ValueError as error:\n    error.__traceback__.tb_frame",
    "generator_frame": "def generator():\n    yield 1\ngenerator().gi_frame",
    "garbage_collector": "import gc\ngc.get_objects()",
    "signal_handler": "import signal\nsignal.signal(signal.SIGALRM, lambda *arguments: None)",
    "timer": "import signal\nsignal.setitimer(signal.ITIMER_REAL, 0.5)",
    "thread": "import threading\nthreading.Thread(target=print).start()",
    "thread_pool": "import concurrent.futures\nconcurrent.futures.ThreadPoolExecutor(2).submit(print).result()",
    "process_memory": "open('/proc/self/mem', 'rb')",
    "root": "import os\nif os.getuid() != 0:\n    raise PermissionError('not root')",
    "descriptor_listing": "import os\nos.listdir('/proc/self/fd')",
    # A refused hook is dropped silently (CPython's rule): show that it never runs.
    "audit_hook": "import sys\nheard = []\nsys.addaudithook(lambda *arguments: heard.append(1))\nopen('/dev/null').close()\n"
                  "if not heard:\n    raise PermissionError('not added')",
    "tracer": "import sys\nsys.settrace(lambda *arguments: None)",
    "labkit_reference": "import labkit.gradient_probes as probes\nprobes.relative_error_reference(1.0, 2.0, 1e-12)",
    "code_swap": "import labkit.checks\nlabkit.checks.run_probe.__code__ = (lambda *arguments: None).__code__",
    "tmp_space": "for index in range(6):\n    open(f'/tmp/fill{index}', 'wb').write(b'x' * 60_000_000)",
    "scratch_space": "for index in range(6):\n    open(f'/scratch/fill{index}', 'wb').write(b'x' * 60_000_000)",
    "open_files": "handles = [open('/dev/null') for _ in range(5000)]",
    "shared_memory": "for index in range(3):\n    open(f'/dev/shm/fill{index}', 'wb').write(b'x' * 40_000_000)",
}


def _refused(source):
    indented = "\n".join("    " + line for line in source.splitlines())
    return (f"try:\n{indented}\nexcept (PermissionError, OSError):\n    pass\n"
            "else:\n    raise SystemExit('the attack was allowed')\n")


def _job(sources, probes=()):
    cells = [{"label": name, "source": source, "origin": "answer"} for name, source in sources.items()]
    return {"cells": cells, "probes": list(probes), "forbidden": [], "environment": {}}


def _double_probe(key, value, hidden=False):
    return {"key": key, "probe": "labkit.function_probes.outputs_on", "symbol": "double",
            "arguments": {"inputs": [[value]]}, "hidden": hidden}


DOUBLE = "def double(values):\n    return 2 * values\n"


def test_process_filter_program_has_whole_instructions():
    for machine in ("x86_64", "aarch64"):
        program = process_filter.filter_program(machine)
        assert len(program) % 8 == 0 and len(program) // 8 < 64
    with pytest.raises(process_filter.ProcessFilterUnavailable, match="architecture"):
        process_filter.filter_program("sparc")


def test_process_filter_denies_processes_and_allows_threads():
    script = (
        "import ctypes, os, subprocess, sys, threading\n"
        "from autograder.sandboxed import process_filter\n"
        "process_filter.install()\n"
        "results = {}\n"
        "thread = threading.Thread(target=lambda: results.update(thread='ok')); thread.start(); thread.join()\n"
        "for name, attempt in [('fork', os.fork), ('exec', lambda: os.execv('/bin/true', ['true'])),\n"
        "                      ('spawn', lambda: subprocess.run(['true']))]:\n"
        "    try:\n"
        "        attempt(); results[name] = 'allowed'\n"
        "    except OSError as error:\n"
        "        results[name] = error.errno\n"
        "results['libc_fork'] = ctypes.CDLL(None).fork()\n"
        "print(results)\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert completed.returncode == 0, completed.stderr
    results = eval(completed.stdout)  # noqa: S307 - our own script's dict literal
    assert results == {"thread": "ok", "fork": 1, "exec": 1, "spawn": 1, "libc_fork": -1}


def test_private_tmp_is_mounted_before_the_interpreter():
    command = sandbox._bwrap_command(sandbox.Limits(), ["python"])
    tmp_position = command.index("/tmp")
    python_position = command.index(sys.prefix)
    assert tmp_position < python_position, "a virtualenv under /tmp would be hidden by the private /tmp"
    assert command[command.index("--tmpfs") - 1].isdigit(), "the private /tmp must have a size"
    assert command[command.index("--uid") + 1] != "0" and "--cap-drop" in command


def test_a_bwrap_that_cannot_start_is_refused(tmp_path, monkeypatch):
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    sandbox.bwrap_problem.cache_clear()
    try:
        with pytest.raises(sandbox.SandboxUnavailableError, match="could not start a sandbox"):
            sandbox.resolve_isolation("auto")
        with pytest.raises(sandbox.SandboxUnavailableError):
            sandbox.resolve_isolation("bwrap", allow_unsandboxed=True)
        assert sandbox.resolve_isolation("auto", allow_unsandboxed=True) == "none"
    finally:
        sandbox.bwrap_problem.cache_clear()


@pytest.mark.slow
def test_every_attack_of_each_class_is_refused():
    sources = {name: _refused(source) for name, source in REFUSED_ATTACKS.items()}
    sources["logging_works"] = "import logging\nlogging.getLogger('student').warning('logging still works')"
    sources["answer"] = DOUBLE
    result = sandbox.run_job(_job(sources, [_double_probe("works", 21.0)]), sandbox.Limits(cell_seconds=30))
    labels = list(sources)
    allowed = {labels[index]: status for index, status in result.cells.items() if status != "ok"}
    assert allowed == {}, allowed
    assert result.probes["works"]["outputs"]["outputs"][0]["__ndarray__"] == [42.0]
    assert "process filter" in result.protections
    recorded = " ".join(finding["message"] for finding in result.findings)
    for named in ("subprocess.Popen", "sys._getframe", "gc.get_objects", "signal.signal", "a new thread",
                  "/proc/self/mem", "sys.addaudithook", "__code__", "relative_error_reference"):
        assert named in recorded, named


@pytest.mark.slow
def test_protected_state_is_restored_before_probes_whatever_the_route():
    forged = "lambda function, inputs, dtype='float32': {'outputs': [[0.0]]}"
    sources = {
        "by_vars": f"import labkit.function_probes as probes\nvars(probes)['outputs_on'] = {forged}",
        "by_setattr": f"import labkit.function_probes as probes\nsetattr(probes, 'outputs_on', {forged})",
        "by_dict": f"import labkit.checks as checks\nchecks.__dict__.update(run_probe={forged})",
        "by_sys_modules": "import sys, types\nsys.modules['labkit.function_probes'] = types.ModuleType('fake')",
        "builtins": "import builtins\nbuiltins.isinstance = lambda *arguments: True",
        "numpy": "import numpy\nnumpy.asarray = lambda *arguments, **keywords: numpy.zeros(1)",
        "answer": DOUBLE,
    }
    result = sandbox.run_job(_job(sources, [_double_probe("first", 1.5), _double_probe("second", 2.5)]),
                             sandbox.Limits(cell_seconds=30))
    assert result.probes["first"]["outputs"]["outputs"][0]["__ndarray__"] == [3.0]
    assert result.probes["second"]["outputs"]["outputs"][0]["__ndarray__"] == [5.0]
    changed = [change for entry in result.changed for change in entry["changes"]]
    assert {entry["phase"] for entry in result.changed} == {f"cell:{index}" for index in range(6)}
    for name in ("labkit.function_probes.outputs_on", "labkit.checks.run_probe",
                 "sys.modules['labkit.function_probes']", "builtins.isinstance", "numpy.asarray"):
        assert name in changed, (name, changed)


@pytest.mark.slow
def test_state_changed_while_a_probe_runs_is_attributed_to_that_probe():
    sneaky = ("import labkit.checks\n\ndef double(values):\n"
              "    labkit.checks.encode_outputs = lambda outputs: {'outputs': [[0.0]]}\n    return 2 * values\n")
    result = sandbox.run_job(_job({"answer": sneaky}, [_double_probe("first", 1.0), _double_probe("second", 2.0)]),
                             sandbox.Limits(cell_seconds=30))
    assert result.changed and result.changed[0]["phase"] == "probe:first"
    assert "labkit.checks.encode_outputs" in result.changed[0]["changes"]


@pytest.mark.slow
def test_hidden_probes_come_last_and_one_at_a_time():
    """Inputs the student's function sees are kept and leaked through errors: only visible ones show."""
    collector = ("seen = []\n\ndef double(values):\n    seen.append(float(values[0]))\n"
                 "    raise ValueError(f'LEAK {seen}')\n")
    probes = [_double_probe("hidden", 271828.0, hidden=True), _double_probe("visible", 1.25)]
    result = sandbox.run_job(_job({"answer": collector}, probes), sandbox.Limits(cell_seconds=30))
    assert result.probes["visible"]["error"].startswith("ValueError: LEAK [1.25]")
    assert result.probes["hidden"]["error_type"] == "ValueError"
    assert result.probes["hidden"]["error_cell"] == "answer" and result.probes["hidden"]["error_line"] == 5


@pytest.mark.slow
def test_hidden_check_feedback_shows_type_and_line_never_the_message(tmp_path):
    source_path = toy_lab.build(tmp_path / "solutions")
    release_path = release.release_lab(toy_lab.LAB_ID, tmp_path / "solutions", tmp_path / "labs") / "00_toy.ipynb"
    lab = lab_module.load_lab(source_path)
    leaking = "def relu(values):\n    raise ValueError('LEAK ' + repr(values.tolist()))\n"
    notebook = samples.make_submission(release_path, source_path, {"relu": leaking})
    path = samples.write_notebook(notebook, tmp_path / "leaker" / "00_toy.ipynb")
    result = grading.grade_notebook(lab, path, "leaker", grading.compute_references(lab, "bwrap"), "bwrap")
    relu_part = next(part for part in result.parts if part.grade_id == "test_relu")
    visible = [check for check in relu_part.checks if not check.hidden]
    hidden = [check for check in relu_part.checks if check.hidden]
    assert "LEAK [-1.0, 0.0, 2.5]" in visible[0].message
    for check in hidden:  # the student's own line is shown, never what it computed
        assert "-3.0" not in check.message and "0.5" not in check.message
        assert "ValueError" in check.message and "raise ValueError(" in check.message
    assert "-3.0, 4.0" not in json.dumps(grading.dataclasses.asdict(result))


@pytest.mark.slow
def test_a_runner_that_never_starts_is_an_infrastructure_fault(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox, "RUNNER_MODULE", "autograder.sandboxed.no_such_runner")
    result = sandbox.run_job(_job({"answer": DOUBLE}, [_double_probe("works", 1.0)]), sandbox.Limits())
    assert "did not start" in result.infrastructure_error
    source_path = toy_lab.build(tmp_path / "solutions")
    lab = lab_module.load_lab(source_path)
    graded = grading.grade_notebook(lab, source_path, "anyone", {}, "bwrap")
    assert graded.status == "not_graded" and "did not start" in graded.reason


@pytest.mark.slow
def test_grading_works_with_the_project_and_virtualenv_under_tmp(tmp_path):
    """A checkout and a virtualenv under /tmp (pytest's tmp_path is there) must be visible in the sandbox."""
    assert str(tmp_path).startswith("/tmp/")
    virtualenv = tmp_path / "venv"
    copy = subprocess.run(["cp", "-al", sys.prefix, str(virtualenv)], capture_output=True)
    if copy.returncode != 0:  # another file system: hard links are not possible
        shutil.copytree(sys.prefix, virtualenv, symlinks=True)
    project = tmp_path / "checkout"
    for package in ("autograder", "labkit"):
        shutil.copytree(ROOT / package, project / package, ignore=shutil.ignore_patterns("__pycache__"))
    source_path = toy_lab.build(project / "solutions")
    release_path = release.release_lab(toy_lab.LAB_ID, project / "solutions", project / "labs") / "00_toy.ipynb"
    samples.write_notebook(samples.make_submission(release_path, source_path),
                           project / "submissions" / "ada" / "00_toy.ipynb")
    environment = dict(os.environ, PATH=f"{virtualenv / 'bin'}{os.pathsep}{os.environ['PATH']}", PYTHONPATH="")
    completed = subprocess.run(
        [str(virtualenv / "bin" / "python"), "-m", "autograder", "grade", "submissions", "--output", "graded",
         "--quiet"],
        cwd=project, env=environment, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    saved = json.loads((project / "graded" / "results" / "ada" / "00_toy.json").read_text())
    assert saved["isolation"] == "bwrap"
    assert {part["grade_id"]: part["score"] for part in saved["parts"]} == {"test_relu": 2.0, "test_square": 1.0}
