"""Waiting on a grading command run as a subprocess, for the tests that interrupt one."""

import time

import pytest


def wait_for_first_result(process, results_folder, lab_id, timeout=240):
    """Return once the first result of lab_id is committed; fail (and kill the process) if it ends or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if list(results_folder.glob(f"*/{lab_id}.json")):
            return
        if process.poll() is not None:
            pytest.fail(f"grading ended before the signal: {process.communicate()}")
        time.sleep(0.1)
    process.kill()
    pytest.fail("no result appeared in time")
