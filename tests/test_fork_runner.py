"""The fork runner: warm sandboxes are reused, and successive students cannot see or affect one another.

Each test runs jobs one after another in the same warm sandbox (bubblewrap, the fork runner)
and checks, from outside, that nothing of one job reaches the next: files, environment,
module state, the runner's memory, and the pipe that says a job has ended.
"""

import json
import subprocess
import sys
import time

import psutil
import pytest

from autograder import sandbox
from autograder.sandboxed import server as fork_server

pytestmark = pytest.mark.slow

LIMITS = sandbox.Limits()
SECRET = "FORK-SECRET-" + "31415926"  # built so that this file's own text is not the needle

WRITE_EVERYWHERE = """
import json, os
written = []
for folder, subfolders, _ in os.walk('/'):
    if folder.startswith(('/proc', '/sys')):
        subfolders[:] = []
        continue
    try:
        with open(os.path.join(folder, 'left-by-student-a'), 'w') as marker:
            marker.write('A was here')
        written.append(folder)
    except OSError:
        pass
os.makedirs('/scratch/deep/er', exist_ok=True)
open('/scratch/deep/er/locked', 'w').write('x')
os.chmod('/scratch/deep/er', 0)
os.chmod('/scratch/deep', 0o500)
os.environ['LEFT_BY_A'] = 'yes'
import keras
keras.ops.add = lambda *arguments: 'patched by A'
print('WRITTEN=' + json.dumps(written))
"""

LOOK_FOR_A = """
import json, os
import keras
found = [folder for folder in WRITTEN if os.path.exists(os.path.join(folder, 'left-by-student-a'))]
found += [path for path in ('/scratch/deep', '/scratch/deep/er/locked') if os.path.exists(path)]
print('FOUND=' + json.dumps({'files': found, 'environment': os.environ.get('LEFT_BY_A'),
                             'keras_patched': keras.ops.add.__name__ == '<lambda>'}))
"""


def _job(*sources, probes=()):
    cells = [{"label": f"cell{index}", "source": source, "origin": "answer"} for index, source in enumerate(sources)]
    return {"cells": cells, "probes": list(probes), "forbidden": [], "environment": {}}


def _printed(result, prefix):
    line = next(line for line in result.output.splitlines() if line.startswith(prefix))
    return json.loads(line[len(prefix):])


def _idle_server():
    """The warm server the last clean job left in the pool."""
    key = sandbox.SERVERS.key(LIMITS, "bwrap", {})
    matching = [server for idle_key, server in sandbox.SERVERS.idle if idle_key == key]
    assert matching, "the sandbox of a clean job should wait in the pool for the next one"
    return matching[-1]


@pytest.fixture
def fresh_pool():
    sandbox.SERVERS.close_all()
    yield
    sandbox.SERVERS.close_all()


def test_a_warm_sandbox_is_reused_and_forgets_the_previous_student(fresh_pool):
    first = sandbox.run_job(_job(WRITE_EVERYWHERE), LIMITS, "bwrap")
    assert first.cells == {0: "ok"}, first.output
    written = _printed(first, "WRITTEN=")
    assert "/scratch" in written and "/tmp" in written
    outside = [folder for folder in written
               if not any(folder == root or folder.startswith(root + "/") for root in ("/scratch", "/tmp", "/dev/shm"))]
    assert outside == [], f"writable outside the folders the fork runner empties: {outside}"
    server = _idle_server()
    second = sandbox.run_job(_job(f"WRITTEN = {written!r}\n" + LOOK_FOR_A), LIMITS, "bwrap")
    assert _idle_server() is server, "the second job should have run in the same warm sandbox"
    assert _printed(second, "FOUND=") == {"files": [], "environment": None, "keras_patched": False}


def _scan_memory(pid, needles):
    """Which needles occur in the private, readable memory of a process (read from the host)."""
    found = set()
    with open(f"/proc/{pid}/maps", encoding="ascii") as maps, open(f"/proc/{pid}/mem", "rb", 0) as memory:
        for line in maps:
            fields = line.split()
            if "r" not in fields[1] or (len(fields) > 5 and fields[5].startswith("/")):
                continue
            start, end = (int(value, 16) for value in fields[0].split("-"))
            try:
                memory.seek(start)
                data = memory.read(end - start)
            except (OSError, OverflowError):
                continue
            found |= {needle for needle in needles if needle in data}
    return found


def test_the_fork_runner_never_holds_a_submission(fresh_pool):
    result = sandbox.run_job(_job(f"secret = {SECRET!r}\nprint(secret)"), LIMITS, "bwrap")
    assert SECRET in result.output
    server = _idle_server()
    assert server.host_pid is not None
    deadline = time.monotonic() + 10  # the runner forks the next child right after reporting the last one's exit
    while not (waiting_children := psutil.Process(server.host_pid).children()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(waiting_children) == 1, "the next child is forked, and waits for its job, before the job is sent"
    control = b"labkit.optimizer_probes"  # loaded by the runner: shows the scan reads real memory
    for pid in (server.host_pid, waiting_children[0].pid):
        assert _scan_memory(pid, {SECRET.encode(), control}) == {control}


def test_a_child_cannot_read_the_fork_runners_memory_or_files(fresh_pool):
    attempt = """
import os
blocked = []
for name in ('maps', 'environ', 'mem', 'stack'):
    try:
        open(f'/proc/{os.getppid()}/{name}', 'rb').read(1)
    except OSError:
        blocked.append(name)
print('BLOCKED=' + repr(blocked).replace("'", '"'))
"""
    result = sandbox.run_job(_job(attempt), LIMITS, "bwrap")
    assert result.cells == {0: "ok"}, result.output
    assert sorted(_printed(result, "BLOCKED=")) == ["environ", "maps", "mem", "stack"]


def test_a_forged_end_of_job_cannot_end_the_job_early(fresh_pool):
    forge = """
import os
for descriptor in range(3, 256):
    try:
        os.write(descriptor, b'{"event": "exited", "status": 0}\\n')
    except OSError:
        pass
def double(values):
    return 2 * values
"""
    probe = {"key": "double", "probe": "labkit.function_probes.outputs_on", "symbol": "double",
             "arguments": {"inputs": [[1.5]]}, "hidden": False}
    result = sandbox.run_job(_job(forge, probes=[probe]), LIMITS, "bwrap")
    assert result.cells == {0: "ok"} and "outputs" in result.probes["double"], result.output
    assert result.forged_events >= 1  # what reached the results channel was told apart
    assert result.attempts == 1 and not result.infrastructure_error


def test_a_job_that_is_stopped_does_not_leave_its_sandbox_for_the_next(fresh_pool, monkeypatch):
    started = []
    start_server = sandbox._Server
    monkeypatch.setattr(sandbox, "_Server", lambda *arguments: started.append(start_server(*arguments)) or started[-1])
    limits = sandbox.Limits(cell_seconds=3)
    hang = sandbox.run_job(_job("while True:\n    pass\n", "print('after the hang')"), limits, "bwrap")
    assert "stopped" in hang.cells[0] and hang.cells[1] == "ok" and hang.attempts == 2
    assert len(started) == 2 and not started[0].alive(), "the stopped sandbox is gone, with its process"
    assert [server for _, server in sandbox.SERVERS.idle] == [started[1]]  # the clean restart is kept


def test_empty_folder_removes_what_a_child_locked(tmp_path):
    locked = tmp_path / "a" / "b"
    locked.mkdir(parents=True)
    (locked / "file").write_text("x")
    locked.chmod(0)
    (tmp_path / "a").chmod(0o500)
    (tmp_path / "link").symlink_to("/etc")
    fork_server.empty_folder(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_empty_folder_keeps_what_is_mounted_inside_and_empties_the_way_there(tmp_path):
    mounted = tmp_path / "checkout" / "project" / ".venv"  # a virtualenv bound read-only into /tmp
    mounted.mkdir(parents=True)
    (mounted / "python").write_text("the interpreter")
    (tmp_path / "checkout" / "left-by-a").write_text("x")
    (tmp_path / "checkout" / "project" / "left-by-a").write_text("x")
    (tmp_path / "elsewhere").mkdir()
    fork_server.empty_folder(tmp_path, keep=frozenset({str(mounted)}))
    assert sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*")) == [
        "checkout", "checkout/project", "checkout/project/.venv", "checkout/project/.venv/python"]


def test_mount_points_are_read_with_their_escapes(tmp_path):
    table = tmp_path / "mountinfo"
    table.write_text("36 35 0:31 / /tmp rw - tmpfs tmpfs rw\n"
                     "37 36 8:1 /x /tmp/my\\040course/.venv ro - ext4 /dev/sda1 ro\n")
    assert fork_server.mount_points(str(table)) == {"/tmp", "/tmp/my course/.venv"}


@pytest.mark.parametrize("call", [
    "syscall('shmget', 0, 4096, 0o1600)",  # System V shared memory would outlive the child
    "syscall('msgget', 0, 0o1600)",
    "syscall('semget', 0, 1, 0o1600)",
    "syscall('add_key', b'user', b'left-by-a', b'x', 1, -4)",  # the user keyring is shared by the sandbox
    "syscall('mq_open', b'/queue', 0o100 | 2, 0o600, None)",
    "syscall('ptrace', 16, os.getppid(), 0, 0)",  # PTRACE_ATTACH to the parent
    "syscall('process_vm_readv', os.getppid(), None, 0, None, 0, 0)",
    "syscall('unshare', 0x10000000)",  # a new user namespace
])
def test_the_process_filter_denies_what_outlives_a_child_or_reaches_another_process(call):
    script = (
        "import ctypes, os, platform\n"
        "from autograder.sandboxed import process_filter\n"
        "numbers = process_filter._ARCHITECTURES[platform.machine()][1]\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "syscall = lambda name, *arguments: libc.syscall(numbers[name], *arguments)\n"
        "process_filter.install()\n"
        f"result = {call}\n"
        "print(result, ctypes.get_errno())\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["-1", "1"]  # -1 with EPERM
