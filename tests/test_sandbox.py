"""The sandbox on its own: limits, restarts, reduced isolation and what student code can reach."""

import pathlib
import sys

import pytest

from autograder import sandbox


def test_limits_from_notebook_metadata():
    limits = sandbox.Limits.from_dict({"cell_seconds": 5, "memory_megabytes": 1000})
    assert limits.cell_seconds == 5 and limits.memory_megabytes == 1000
    with pytest.raises(ValueError, match="unknown grading limits"):
        sandbox.Limits.from_dict({"cell_secs": 5})


def test_isolation_choice():
    with pytest.raises(ValueError):
        sandbox.resolve_isolation("docker")
    with pytest.raises(sandbox.SandboxUnavailableError, match="allow-unsandboxed"):
        sandbox.resolve_isolation("none")
    assert sandbox.resolve_isolation("none", allow_unsandboxed=True) == "none"
    assert sandbox.resolve_isolation("auto", allow_unsandboxed=True) in ("bwrap", "none")


def _job(*sources, probes=()):
    cells = [{"label": f"cell{index}", "source": source} for index, source in enumerate(sources)]
    return {"cells": cells, "probes": list(probes), "forbidden": [], "environment": {}}


@pytest.mark.slow
@pytest.mark.skipif(not sandbox.bwrap_available(), reason="bubblewrap is not installed")
def test_bwrap_job_has_no_network_and_sees_no_repository():
    repository = pathlib.Path(__file__).resolve().parents[1]
    # The private /tmp holds nothing but the way to the interpreter when the virtualenv lives under /tmp.
    allowed_in_tmp = sorted({path.split("/")[2] for path in (sys.prefix, sys.base_prefix) if path.startswith("/tmp/")})
    job = _job(
        "import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=2)",
        f"import os\nassert not os.path.exists({str(repository / 'solutions')!r})\n"
        f"assert not os.path.exists({str(repository / 'tests')!r})\n"
        f"assert sorted(os.listdir('/tmp')) == {allowed_in_tmp!r}, os.listdir('/tmp')",
        "open('/scratch/notes.txt', 'w').write('scratch is writable')",
    )
    result = sandbox.run_job(job, sandbox.Limits(cell_seconds=20), "bwrap")
    assert result.isolation == "bwrap"
    assert "OSError" in result.cells[0] or "Error" in result.cells[0]
    assert result.cells[1] == "ok" and result.cells[2] == "ok"


@pytest.mark.slow
def test_reduced_isolation_is_announced_and_still_works():
    result = sandbox.run_job(_job("value = 6 * 7"), sandbox.Limits(), "none")
    assert result.isolation == "none"
    assert result.cells == {0: "ok"}
    assert any("WITHOUT a sandbox" in incident for incident in result.incidents)


@pytest.mark.slow
def test_total_time_limit_stops_the_notebook():
    limits = sandbox.Limits(cell_seconds=60, total_seconds=12)
    result = sandbox.run_job(_job("import time\ntime.sleep(30)", "after = 1"), limits)
    assert "whole notebook exceeded" in result.cells[0]
    assert result.seconds < 30


@pytest.mark.slow
def test_a_probe_that_hangs_is_stopped_and_the_others_still_run():
    probes = [
        {"key": "hangs", "probe": "labkit.function_probes.outputs_on", "symbol": "spin", "arguments": {"inputs": [[1.0]]}},
        {"key": "works", "probe": "labkit.function_probes.outputs_on", "symbol": "double",
         "arguments": {"inputs": [[1.0, 2.0]]}},
    ]
    job = _job("def spin(values):\n    while True:\n        pass\n", "def double(values):\n    return 2 * values\n",
               probes=probes)
    result = sandbox.run_job(job, sandbox.Limits(probe_seconds=5))
    assert "time limit" in result.probes["hangs"]["error"]
    assert result.probes["works"]["outputs"]["outputs"][0]["__ndarray__"] == [2.0, 4.0]
    assert result.attempts == 2


@pytest.mark.slow
def test_a_fork_is_refused_and_grading_goes_on():
    job = _job("import os, time\nif os.fork() == 0:\n    time.sleep(600)\n", "after = 1")
    result = sandbox.run_job(job, sandbox.Limits(cell_seconds=20))
    assert result.cells[0].startswith("PermissionError") and result.cells[1] == "ok"
    assert result.seconds < 60


@pytest.mark.slow
def test_student_cells_cannot_see_the_checks():
    """Probe requests (hidden inputs included) reach the sandbox only after the last student cell."""
    probes = [{"key": "secret", "probe": "labkit.function_probes.outputs_on", "symbol": "double",
               "arguments": {"inputs": [[271828.0]]}}]
    snoop = (
        "import os, sys\n"
        "text = ''.join(open(os.path.join('/scratch', name), errors='ignore').read()\n"
        "               for name in os.listdir('/scratch') if os.path.isfile(os.path.join('/scratch', name)))\n"
        "text += sys.stdin.read()\n"
        "sys.stdin.close()\n"
        "assert '271828' not in text, 'saw the probe inputs'\n"
    )
    job = _job(snoop, "def double(values):\n    return 2 * values\n", probes=probes)
    result = sandbox.run_job(job, sandbox.Limits(cell_seconds=20))
    assert result.cells == {0: "ok", 1: "ok"}
    assert result.probes["secret"]["outputs"]["outputs"][0]["__ndarray__"] == [543656.0]
