"""Runs a grading job in an isolated process and watches it from the trusted side.

Isolation is bubblewrap (``bwrap``): no network, a read-only view of the interpreter,
site-packages, ``labkit`` and the in-sandbox runner (``autograder.sandboxed``), and private,
size-limited in-memory folders (``/scratch``, ``/tmp``, ``/dev/shm``). Nothing else of the
machine (solutions, hidden tests, references, the gradebook, other submissions) is visible,
wherever the project, its virtualenv and the submissions live (``/tmp`` included: the
private ``/tmp`` is mounted first, the interpreter on top of it). Inside, the runner adds a
process filter, an audit hook and state restoration (see ``autograder.sandboxed``).

Sandboxes are warm: each runs the fork runner (``autograder.sandboxed.server``), which imports
Keras once and forks a child per job; ``SERVERS`` keeps the sandboxes whose last job ended
cleanly, keyed by how they were started, and any other is stopped. Why successive children
cannot reach one another is explained in the fork runner's docstring.

The watchdog here enforces a time limit per cell and per probe, a total time limit, memory
(resident memory of the process tree, the fork runner's own excepted; the in-memory folders are
bounded by their sizes),
thread and process counts, and an output cap. When the process dies or is killed in the
middle of a cell or probe, that item is recorded as failed and the job restarts without it,
so a hang or crash costs only the points that depend on it.

Failing closed: if bubblewrap is expected but cannot start, ``resolve_isolation`` refuses
(``SandboxUnavailableError``); running without it needs ``allow_unsandboxed``. A runner that
never reports ready is an infrastructure fault (``JobResult.infrastructure_error``), never a
student's grade: student code only runs after that point.
"""

import atexit
import contextlib
import dataclasses
import functools
import json
import os
import pathlib
import resource
import secrets
import selectors
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import psutil

import labkit
from autograder import gpus

RUNNER_MODULE = "autograder.sandboxed.server"  # the fork runner: Keras imported once, a child per job
SANDBOXED_PATH = pathlib.Path(__file__).with_name("sandboxed")
PACKAGE_INIT_PATH = pathlib.Path(__file__).with_name("__init__.py")
LABKIT_PATH = pathlib.Path(labkit.__file__).parent
SHARED_MEMORY_MEGABYTES = 64
SANDBOX_USER_ID = 65534  # "nobody": no file of the host belongs to it
MAX_PROCESSES = 4  # bwrap, its init and the job's child (the fork runner is not counted): student code adds none
IDLE_SERVERS = 4  # warm sandboxes kept between jobs (each holds an imported TensorFlow, a few hundred MB)
SERVER_EXIT_SECONDS = 20.0  # after a job's last result: the fork runner empties the writable folders, then reports


# What is kept of a finding made while a hidden check ran (see _Attempt._keep_finding).
HIDDEN_PHASE_FINDINGS = {
    "review": "while a hidden check ran, your code did something the grader refuses or flags for review",
    "forbidden": "while a hidden check ran, your code ran library code again or code copied from library source",
    "kernel": "while a hidden check ran, your code ran the forbidden kernel or routine",
}


class SandboxUnavailableError(RuntimeError):
    """The sandbox is expected but cannot be used here; grading must not start."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """Resource limits for one submission."""

    cell_seconds: float = 60.0
    probe_seconds: float = 30.0
    startup_seconds: float = 90.0
    total_seconds: float = 300.0
    memory_megabytes: int = 4096
    output_bytes: int = 200_000
    scratch_megabytes: int = 256  # each of /scratch and /tmp inside the sandbox
    threads: int = 256
    open_files: int = 1024

    @classmethod
    def from_dict(cls, values):
        """Limits from a notebook's metadata; unknown keys are an instructor error."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown grading limits {sorted(unknown)}; known: {sorted(known)}")
        return cls(**values)


@dataclasses.dataclass
class JobResult:
    """What came out of the sandbox: per-cell status, probe outputs, failures and logs."""

    cells: dict = dataclasses.field(default_factory=dict)  # index -> "ok" | error message
    probes: dict = dataclasses.field(default_factory=dict)  # key -> {"outputs": ...} | {"error": ...}
    incidents: list = dataclasses.field(default_factory=list)  # human-readable, for feedback and log
    output: str = ""
    isolation: str = "bwrap"
    attempts: int = 0
    seconds: float = 0.0
    findings: list = dataclasses.field(default_factory=list)  # {"kind", "message", "phase"} from inside
    changed: list = dataclasses.field(default_factory=list)  # {"phase", "changes"}: protected state altered
    forged_events: int = 0  # channel events without this attempt's token (written by student code)
    infrastructure_error: str = ""  # the sandbox itself failed: the submission must not be graded
    protections: list = dataclasses.field(default_factory=list)
    # Seconds of the first attempt: "start" (to the child's ready: a new sandbox imports Keras, a warm
    # one only forks), "cells", "probes"; "warm" says whether a warm sandbox was reused.
    timings: dict = dataclasses.field(default_factory=dict)
    backend: str = ""  # the Keras backend the job ran on


@functools.lru_cache(maxsize=None)
def bwrap_problem():
    """None when bubblewrap can start this interpreter in the grading layout, else why not."""
    executable = shutil.which("bwrap")
    if executable is None:
        return "bubblewrap (bwrap) is not installed; install it with `sudo apt-get install bubblewrap`"
    command = _bwrap_command(Limits(), [sys.executable, "-c", "import labkit, autograder.sandboxed"])
    try:
        probe = subprocess.run(command, capture_output=True, timeout=60, env=_child_environment("/scratch", {}))
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bubblewrap is installed but could not start a sandbox ({error})"
    if probe.returncode != 0:
        detail = (probe.stderr or probe.stdout).decode("utf-8", "replace").strip()[-500:]
        return f"bubblewrap is installed but could not start a sandbox (exit status {probe.returncode}: {detail})"
    return None


def bwrap_available():
    """True when bubblewrap is installed and can create the grading sandbox here."""
    return bwrap_problem() is None


SYSTEM_PATHS = ("/usr", "/bin", "/lib", "/lib64", "/lib32", "/sbin", "/etc")


def shown_paths():
    """(host path, path inside) of everything of the host the sandbox shows, read-only, to student code."""
    paths = [(path, path) for path in SYSTEM_PATHS if os.path.exists(path)]
    paths += [(path, path) for path in sorted({sys.base_prefix, sys.prefix,
                                               os.path.dirname(os.path.realpath(sys.executable))})]
    return paths + [
        (str(LABKIT_PATH), "/sandbox/lib/labkit"),
        (str(PACKAGE_INIT_PATH), "/sandbox/lib/autograder/__init__.py"),
        (str(SANDBOXED_PATH), "/sandbox/lib/autograder/sandboxed"),
    ]


def shown_to_students(path):
    """True when student code in the sandbox could read path (it lies in something the sandbox shows)."""
    resolved = pathlib.Path(os.path.realpath(path))
    return any(resolved.is_relative_to(os.path.realpath(host_path)) for host_path, _ in shown_paths())


def _bwrap_command(limits, program, gpu=None):
    """The bwrap command line: private in-memory /tmp first, then read-only system and interpreter."""
    scratch_bytes = str(limits.scratch_megabytes * 1024 * 1024)
    # The grader's PATH decides which bubblewrap runs (the child's PATH is minimal).
    # Student code runs as an unprivileged user with no capabilities, in its own namespaces.
    command = [shutil.which("bwrap") or "bwrap", "--unshare-all", "--unshare-user", "--uid", str(SANDBOX_USER_ID),
               "--gid", str(SANDBOX_USER_ID), "--cap-drop", "ALL", "--die-with-parent", "--new-session",
               "--perms", "1777", "--size", scratch_bytes, "--tmpfs", "/tmp"]
    for host_path, inside_path in shown_paths():
        command += ["--ro-bind", host_path, inside_path]
    command += [
        "--perms", "1777", "--size", scratch_bytes, "--tmpfs", "/scratch",
        "--proc", "/proc",
        "--dev", "/dev",
        "--perms", "1777", "--size", str(SHARED_MEMORY_MEGABYTES * 1024 * 1024), "--tmpfs", "/dev/shm",
    ]
    if gpu is not None:
        command += gpus.bwrap_arguments(gpu)  # exactly this job's GPU
    command += [
        "--chdir", "/scratch",
        # The root and /dev are bwrap's own in-memory folders, writable by the sandbox's user: made
        # read-only, so /scratch, /tmp and /dev/shm are all a job can write (and the fork runner empties).
        "--remount-ro", "/dev",
        "--remount-ro", "/",
    ]
    return command + list(program)


BACKENDS = ("tensorflow", "jax", "torch")


def keras_backend():
    """The Keras backend grading runs on: the grader's KERAS_BACKEND (set by `--backend`), else tensorflow."""
    backend = os.environ.get("KERAS_BACKEND") or "tensorflow"
    if backend not in BACKENDS:
        raise ValueError(f"KERAS_BACKEND={backend!r} is not a Keras backend grading supports ({', '.join(BACKENDS)})")
    return backend


def _child_environment(scratch_inside, extra):
    environment = {
        "PATH": "/usr/bin:/bin",
        "HOME": scratch_inside,
        "PYTHONPATH": "/sandbox/lib" if scratch_inside == "/scratch" else str(LABKIT_PATH.parent),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "MPLCONFIGDIR": f"{scratch_inside}/.matplotlib",
        "KERAS_HOME": f"{scratch_inside}/.keras",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "LANG": "C.UTF-8",
        "KERAS_BACKEND": keras_backend(),  # the grader's setting (`--backend`), for references and students alike
        # One thread per operation: jobs run side by side instead of fighting over cores (measured:
        # 4 lab-05 jobs on 2 workers took 36 s instead of 52 s), and results do not depend on the
        # host's core count. Two inter-op threads keep ops that wait on one another from stalling.
        "TF_NUM_INTRAOP_THREADS": "1",
        "TF_NUM_INTEROP_THREADS": "2",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }
    environment.update(extra)
    return environment


def _limit_resources(memory_bytes, file_bytes, open_files):
    """Runs in the child before exec: address space, file size, open files and core dump limits."""

    def apply():
        limits = [(resource.RLIMIT_FSIZE, file_bytes), (resource.RLIMIT_CORE, 0), (resource.RLIMIT_NOFILE, open_files)]
        if memory_bytes is not None:  # None on a GPU: CUDA reserves far more address space than it uses
            limits.append((resource.RLIMIT_AS, memory_bytes))
        for kind, value in limits:
            try:
                resource.setrlimit(kind, (value, value))
            except (ValueError, OSError):
                pass  # e.g. macOS refuses RLIMIT_AS; the watchdog's memory check still applies

    return apply


def _tree_usage(process, exclude=None):
    """(resident memory in bytes, threads, processes) of a process and all its descendants.

    exclude: the fork runner's pid, whose imported libraries its child shares (and is charged for).
    """
    try:
        members = [member for member in [process] + process.children(recursive=True) if member.pid != exclude]
    except psutil.Error:
        return 0, 0, 0
    memory = threads = 0
    for member in members:
        try:
            with member.oneshot():
                memory += member.memory_info().rss
                threads += member.num_threads()
        except psutil.Error:
            pass
    return memory, threads, len(members)


def _server_pid_on_host(root, pid_inside):
    """The host pid of the process of the tree whose pid in its own namespace is pid_inside."""
    try:
        members = [root] + root.children(recursive=True)
    except psutil.Error:
        return None
    for member in members:
        try:
            with open(f"/proc/{member.pid}/status", encoding="ascii", errors="replace") as status:
                for line in status:
                    if line.startswith("NSpid:") and line.split()[-1] == str(pid_inside):
                        return member.pid
        except OSError:
            continue
    return None


class _Server:
    """A warm sandbox: the fork runner with Keras imported, forking one child per job.

    Pipes: standard input (jobs and probe requests, read by the children only), the results
    channel (events of the children, each with its job's token), the control pipe (written by
    the fork runner alone: "server_ready", and "exited" once a child is gone and the writable
    folders are empty), and standard output (what student code prints).
    """

    def __init__(self, limits, isolation, environment, gpu=None, per_gpu=1):
        self.isolation = isolation
        self.scratch = None
        self.channel_fd = self.control_fd = None
        self.ready = False
        self.host_pid = None
        self.control_pending = b""
        program = [sys.executable, "-m", RUNNER_MODULE]
        if gpu is not None:
            environment = dict(environment, **gpus.environment(gpu, per_gpu))
        if isolation == "bwrap":
            command = _bwrap_command(limits, program, gpu)
            child_environment = _child_environment("/scratch", environment)
            working_folder = None
            wipe = ["/scratch", "/tmp", "/dev/shm"]
        else:
            self.scratch = pathlib.Path(tempfile.mkdtemp(prefix="labkit-unsandboxed-"))
            command = program
            child_environment = _child_environment(str(self.scratch), environment)
            working_folder = str(self.scratch)
            wipe = [str(self.scratch)]
        channel_read, channel_write = os.pipe()
        control_read, control_write = os.pipe()
        try:
            address_space = None if gpu is not None else limits.memory_megabytes * 1024 * 1024 * 4
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(channel_write, control_write),
                env=child_environment,
                cwd=working_folder,
                start_new_session=True,
                preexec_fn=_limit_resources(address_space, 64 * 1024 * 1024, limits.open_files),
            )
        except BaseException:
            for descriptor in (channel_read, control_read):
                os.close(descriptor)
            self._remove_scratch()
            raise
        finally:
            os.close(channel_write)
            os.close(control_write)
        self.channel_fd, self.control_fd = channel_read, control_read
        config = {"channel_fd": channel_write, "control_fd": control_write, "wipe": wipe}
        self.write(json.dumps(config) + "\n")

    def write(self, line):
        """Send a line to standard input; a dead process is noticed by whoever watches it."""
        try:
            self.process.stdin.write(line.encode())
            self.process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass

    def alive(self):
        return self.process.poll() is None

    def read_control(self, data):
        """Control events in data (complete lines only), as dicts."""
        self.control_pending += data
        *lines, self.control_pending = self.control_pending.split(b"\n")
        events = []
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                events.append(event)
        return events

    def note_ready(self, event):
        """The fork runner has Keras loaded; find it on the host so that its own memory is not charged to jobs."""
        self.ready = True
        self.host_pid = _server_pid_on_host(psutil.Process(self.process.pid), event.get("pid"))

    def close(self):
        """Stop the whole sandbox and free its pipes and folders."""
        _Attempt._kill(self.process)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError, ValueError):
                if stream:
                    stream.close()
        for descriptor in (self.channel_fd, self.control_fd):
            if descriptor is not None:
                with contextlib.suppress(OSError):
                    os.close(descriptor)
        self.channel_fd = self.control_fd = None
        self._remove_scratch()

    def _remove_scratch(self):
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)


class _ServerPool:
    """Warm sandboxes waiting for their next job, by how they were started (command, limits, environment)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.idle = []  # (key, server), oldest first

    @staticmethod
    def key(limits, isolation, environment, gpu=None, per_gpu=1):
        program = [sys.executable, "-m", RUNNER_MODULE]
        command = _bwrap_command(limits, program, gpu) if isolation == "bwrap" else program
        return (isolation, tuple(command), tuple(sorted(environment.items())), limits.memory_megabytes,
                limits.open_files, limits.scratch_megabytes, gpu, per_gpu)

    def acquire(self, limits, isolation, environment, gpu=None, per_gpu=1):
        """An idle server started the same way, or a new one (OSError when it cannot start)."""
        key = self.key(limits, isolation, environment, gpu, per_gpu)
        with self.lock:
            for position, (idle_key, server) in enumerate(self.idle):
                if idle_key == key:
                    del self.idle[position]
                    if server.alive():
                        return key, server
                    server.close()
                    break
        return key, _Server(limits, isolation, environment, gpu, per_gpu)

    def release(self, key, server):
        """Keep a server whose last job ended cleanly; beyond IDLE_SERVERS the oldest are stopped."""
        with self.lock:
            self.idle.append((key, server))
            excess, self.idle = self.idle[:-IDLE_SERVERS], self.idle[-IDLE_SERVERS:]
        for _, old in excess:
            old.close()

    def close_all(self):
        """Stop every idle server (at exit, and in tests that need a fresh start)."""
        with self.lock:
            idle, self.idle = self.idle, []
        for _, server in idle:
            server.close()


SERVERS = _ServerPool()
atexit.register(SERVERS.close_all)


class _Attempt:
    """One launch of the runner, watched until it finishes or is stopped."""

    def __init__(self, job, limits, isolation, deadline, probes, gpu=None, per_gpu=1):
        self.job = job
        self.gpu, self.per_gpu = gpu, per_gpu
        self.limits = limits
        self.isolation = isolation
        self.deadline = deadline
        self.token = secrets.token_hex(16)
        self.pending_probes = list(probes)  # visible checks first, then hidden ones
        self.requested = None  # the key of the probe request sent last
        self.hidden_phase = False
        self.events = []
        self.findings = []
        self.changed = []
        self.forged_events = 0
        self.protections = []
        self.current = None  # ("cell", index) or ("probe", key) being run
        self.current_started = None
        self.last_probe = None
        self.last_cell = -1
        self.builtin_files = {}  # source file -> forbidden built-ins defined there (from the runner)
        self.cells_done = False
        self.ready = False
        self.done = False
        self.stop_reason = None
        self.output = bytearray()
        self.output_dropped = 0
        self.process = None
        self.server = None
        self._pending = b""
        self._had_data = False
        self.marks = {}  # event -> monotonic time ("sent": the job was handed over)
        self.warm = False

    def run(self):
        """Hand the job to a warm sandbox (or a new one) and watch it; keep the sandbox only if all went well."""
        key, server = SERVERS.acquire(self.limits, self.isolation, self.job.get("environment", {}), self.gpu,
                                      self.per_gpu)
        self.server = server
        self.process = server.process
        self.warm = server.ready
        clean = False
        self.marks["sent"] = time.monotonic()
        try:
            server.write(json.dumps(dict(self.job, token=self.token)) + "\n")
            clean = self._watch(server)
        finally:
            if clean:
                SERVERS.release(key, server)
            else:
                server.close()

    def _write(self, line):
        self.server.write(line)

    def timings(self):
        """Seconds from handing over the job to the child's ready, then of the cells and the probes."""
        marks = self.marks
        spans = {"start": ("sent", "ready"), "cells": ("ready", "cells_done"), "probes": ("cells_done", "done")}
        timings = {name: round(marks[end] - marks[begin], 3) for name, (begin, end) in spans.items()
                   if begin in marks and end in marks}
        return dict(timings, warm=self.warm)

    def _watch(self, server):
        """Follow events, output and the control pipe until the child has exited; True when it ended cleanly."""
        process = server.process
        selector = selectors.DefaultSelector()
        selector.register(server.channel_fd, selectors.EVENT_READ, "events")
        selector.register(process.stdout, selectors.EVENT_READ, "output")
        selector.register(server.control_fd, selectors.EVENT_READ, "control")
        self._pending = b""
        watched = psutil.Process(process.pid)
        launched = time.monotonic()
        last_usage_check = 0.0
        exited_at = None
        exit_status = None
        done_at = None
        while exit_status is None:
            exit_status = self._read_ready(selector, server, timeout=0.2)
            now = time.monotonic()
            if self.done and done_at is None:
                done_at = now
            if exit_status is not None:
                break
            if self.stop_reason is None:
                self._check_time(process, now, launched)
            if self.stop_reason is None and now - last_usage_check > 0.5:
                last_usage_check = now
                self._check_usage(process, watched, memory_bytes=self.limits.memory_megabytes * 1024 * 1024)
            if done_at is not None and now - done_at > SERVER_EXIT_SECONDS:
                break  # the results are in; a fork runner that does not report back is simply not reused
            if process.poll() is not None:
                exited_at = exited_at or now
                if now - exited_at > 2.0 or not selector.get_map():
                    break
        if exit_status is not None:
            # Everything the child wrote is in the pipes before the fork runner reports its exit.
            self._read_ready(selector, server, timeout=0)
            while self._had_data:
                self._read_ready(selector, server, timeout=0)
        selector.close()
        if process.poll() is not None and not self.done and self.stop_reason is None:
            self.stop_reason = f"the process ended unexpectedly (exit status {process.returncode})"
        elif exit_status is not None and not self.done and self.stop_reason is None:
            self.stop_reason = f"the process ended unexpectedly (exit status {exit_status})"
        return exit_status == 0 and self.done and self.stop_reason is None and process.poll() is None

    def _read_ready(self, selector, server, timeout):
        """Read whatever is ready; returns the child's exit status once the control pipe reports it."""
        self._had_data = False
        exit_status = None
        for key, _ in selector.select(timeout=timeout):
            descriptor = key.fileobj if isinstance(key.fileobj, int) else key.fileobj.fileno()
            data = os.read(descriptor, 65536)
            if not data:
                selector.unregister(key.fileobj)
                continue
            self._had_data = True
            if key.data == "output":
                self._keep_output(data)
            elif key.data == "control":
                for event in server.read_control(data):
                    if event.get("event") == "server_ready" and not server.ready:
                        server.note_ready(event)
                    elif event.get("event") == "exited" and isinstance(event.get("status"), int):
                        exit_status = event["status"]
            else:
                self._pending += data
                if len(self._pending) > 50_000_000:
                    self._stop(server.process, "the results channel was flooded")
                    self._pending = b""
                *lines, self._pending = self._pending.split(b"\n")
                for line in lines:
                    try:
                        self._handle(line)
                    except Exception:  # an event shaped to break the grader is the student's, not ours
                        self.forged_events += 1
        return exit_status

    def _check_usage(self, process, watched, memory_bytes):
        memory, threads, processes = _tree_usage(watched, exclude=self.server.host_pid)
        if memory > memory_bytes:
            self._stop(process, f"it used more than {self.limits.memory_megabytes} MB of memory")
        elif threads > self.limits.threads:
            self._stop(process, f"it ran more than {self.limits.threads} threads")
        elif processes > MAX_PROCESSES:
            self._stop(process, f"it started {processes - MAX_PROCESSES + 1} more processes than allowed")

    def _check_time(self, process, now, launched):
        if now > self.deadline:
            self._stop(process, f"the whole notebook exceeded its {self.limits.total_seconds:.0f} s time limit")
        elif not self.ready and now - launched > self.limits.startup_seconds:
            self._stop(process, f"start-up took longer than {self.limits.startup_seconds:.0f} s")
        elif self.current is not None:
            limit = self.limits.cell_seconds if self.current[0] == "cell" else self.limits.probe_seconds
            if now - self.current_started > limit:
                self._stop(process, f"it exceeded the {limit:.0f} s time limit")

    def _handle(self, line):
        try:
            event = json.loads(line)
        except ValueError:
            self.forged_events += 1  # only student code writes anything but JSON events to the channel
            return
        if not isinstance(event, dict) or event.get("token") != self.token:
            self.forged_events += 1
            return
        kind = event.get("event")
        if not self._well_formed(kind, event):
            self.forged_events += 1
            return
        if kind == "finding":
            self._keep_finding(event)
        elif kind == "ready":
            self.ready = True
            self.marks["ready"] = time.monotonic()
            self.protections = [str(item) for item in event.get("protections", [])]
            files = event.get("builtin_files")
            if isinstance(files, dict):
                self.builtin_files = {str(name): [str(path) for path in paths] for name, paths in files.items()
                                      if isinstance(paths, list)}
        elif kind == "cells_done":
            self.cells_done = True
            self.marks["cells_done"] = time.monotonic()
            self._send_next_probe()
        elif kind == "done":
            self.done = True
            self.marks["done"] = time.monotonic()
            self.current = None
        elif kind == "cell":
            if event.get("status") != "start":
                self._keep_changes(event, f"cell:{event['index']}")
            self._handle_item(("cell", event["index"]), event)
        elif kind == "probe":
            if event.get("status") != "start":
                self._keep_changes(event, f"probe:{event['key']}")
            self._handle_item(("probe", event["key"]), event)
            if event.get("status") != "start":
                self.last_probe = event["key"]
                self._send_next_probe()

    def _handle_item(self, item, event):
        if event.get("status") == "start":
            self.current, self.current_started = item, time.monotonic()
            if item[0] == "cell":
                self.last_cell = item[1]
        else:
            self.current = None
            self.events.append(event)

    def _phase(self):
        if self.current is not None:
            return f"{self.current[0]}:{self.current[1]}"
        return f"probe:{self.last_probe}" if self.last_probe else "cells"

    def _keep_finding(self, event):
        """A finding, sent from inside the moment it happened, for the cell or probe in progress.

        Once hidden inputs are in the process, text student code shaped (file names, code, paths)
        could carry them out, so only a fixed description per kind is kept.
        """
        kind, message = event.get("kind"), event.get("message")
        if kind not in HIDDEN_PHASE_FINDINGS or not isinstance(message, str) or len(self.findings) >= 500:
            return
        if self.hidden_phase:
            named_kernel = message.rsplit(" ", 1)[-1]
            message = HIDDEN_PHASE_FINDINGS[kind]
            if kind == "kernel" and named_kernel in self.job.get("forbidden_kernels", []):
                message += f" {named_kernel}"
        # Which forbidden built-ins the library file in question defines; None when no file is known.
        library_file = event.get("file")
        concerns = self.builtin_files.get(library_file, []) if isinstance(library_file, str) and library_file else None
        self.findings.append({"kind": kind, "message": message[:500], "phase": self._phase(), "concerns": concerns})

    def _keep_changes(self, event, phase):
        changes = [str(change)[:200] for change in event.get("changed") or []]
        if changes and self.hidden_phase:
            changes = ["state the checks rely on (not named: a hidden check was running)"]
        if changes:
            self.changed.append({"phase": phase, "changes": changes[:50]})

    def _well_formed(self, kind, event):
        """A known event; a cell event names a cell of this job, a probe event the probe in progress."""
        if kind == "ready":
            return not self.ready
        if kind in ("cells_done", "finding"):
            return self.ready and not (kind == "cells_done" and self.cells_done)
        if kind == "done":
            return self.cells_done and self.requested is None and self.current is None
        if kind not in ("cell", "probe"):
            return False
        status = event.get("status")
        if status not in ("start", "ok", "error"):
            return False
        if kind == "cell":
            # Cells report in order, each start before its result, and none after the last.
            index = event.get("index")
            if self.cells_done or not isinstance(index, int) or isinstance(index, bool):
                return False
            if status == "start":
                return self.current is None and index > self.last_cell and index < len(self.job["cells"])
            return self.current == ("cell", index)
        if event.get("key") != self.requested:
            return False
        if status == "start":
            return self.current is None
        if self.current != ("probe", self.requested):
            return False
        if status == "ok":
            return isinstance(event.get("outputs"), dict)
        return status == "start" or isinstance(event.get("error", ""), str)

    def _send_next_probe(self):
        """Hand over the next probe request, or the final one; never two at once."""
        if self.process is None or self.process.stdin is None or self.process.stdin.closed:
            return
        if not self.pending_probes:
            self.requested = None
            self._write(json.dumps({"final": True}) + "\n")
            return
        probe = self.pending_probes.pop(0)
        self.hidden_phase = self.hidden_phase or bool(probe.get("hidden"))
        self.requested = probe["key"]
        self._write(json.dumps({key: probe[key] for key in ("key", "probe", "symbol", "arguments")}) + "\n")

    def _keep_output(self, data):
        if self.hidden_phase:
            self.output_dropped += len(data)  # printed while hidden inputs were in the process
            return
        room = self.limits.output_bytes - len(self.output)
        self.output += data[: max(room, 0)]
        self.output_dropped += max(len(data) - max(room, 0), 0)

    def _stop(self, process, reason):
        self.stop_reason = reason
        self._kill(process)

    @staticmethod
    def _kill(process):
        try:
            os.killpg(process.pid, 9)
        except (ProcessLookupError, PermissionError):
            pass


def resolve_isolation(requested="auto", allow_unsandboxed=False):
    """'bwrap' when it works; 'none' only when allowed; otherwise SandboxUnavailableError (fail closed)."""
    if requested not in ("auto", "bwrap", "none"):
        raise ValueError(f"isolation must be 'auto', 'bwrap' or 'none', got {requested!r}")
    if requested == "none":
        if not allow_unsandboxed:
            raise SandboxUnavailableError("--isolation none grades without a sandbox; it needs --allow-unsandboxed")
        return "none"
    problem = bwrap_problem()
    if problem is None:
        return "bwrap"
    if requested == "auto" and allow_unsandboxed:
        return "none"
    raise SandboxUnavailableError(
        f"the grading sandbox cannot be used: {problem}. Grading did not start and nothing was recorded. "
        "Fix the sandbox, or pass --allow-unsandboxed to grade with reduced isolation (student code could then "
        "read the solutions)."
    )


def run_job(job, limits=Limits(), isolation="bwrap"):
    """Run a job ({cells, probes, forbidden, ...}) to completion, restarting past crashes.

    ``isolation`` is what ``resolve_isolation`` returned ("bwrap" or "none"). Probes are sent
    visible ones first; output printed once a hidden probe was sent is dropped. When grading may
    use GPUs (``gpus.GPU_VARIABLE``), the job holds one of them, and only it, from start to end.
    """
    if isolation not in ("bwrap", "none"):
        isolation = resolve_isolation(isolation)
    allocator = gpus.allocator_from_environment()
    if allocator is None:
        return _run_job(job, limits, isolation)
    with allocator.acquire() as gpu:
        return _run_job(job, limits, isolation, gpu, allocator.per_gpu)


def _run_job(job, limits, isolation, gpu=None, per_gpu=1):
    result = JobResult(isolation=isolation, backend=keras_backend())
    if isolation == "none":
        result.incidents.append(
            "WARNING: bubblewrap was not used, so student code ran WITHOUT a sandbox "
            "(reduced isolation: it could read files and use the network). Grades were still "
            "decided outside the student process."
        )
    probes = sorted(job.get("probes", []), key=lambda probe: bool(probe.get("hidden")))
    cells_job = {key: value for key, value in job.items() if key != "probes"}
    started = time.monotonic()
    deadline = started + limits.total_seconds
    skip_cells, done_probes = set(), set()
    output_chunks = []
    while True:
        result.attempts += 1
        attempt = _Attempt(dict(cells_job, skip_cells=sorted(skip_cells)), limits, isolation, deadline,
                           [probe for probe in probes if probe["key"] not in done_probes], gpu, per_gpu)
        try:
            attempt.run()
        except OSError as error:
            result.infrastructure_error = f"the sandbox could not be started ({error})"
            break
        for event in attempt.events:
            if event["event"] == "cell":
                result.cells[event["index"]] = "ok" if event["status"] == "ok" else event.get("error", "error")
            elif event["status"] == "ok":
                result.probes[event["key"]] = {"outputs": event.get("outputs"), "seconds": event.get("seconds")}
            else:
                result.probes[event["key"]] = {key: event.get(key) for key in
                                               ("error", "error_type", "error_cell", "error_line")}
        result.findings += attempt.findings
        result.changed += attempt.changed
        result.forged_events += attempt.forged_events
        result.protections = attempt.protections or result.protections
        if result.attempts == 1:
            result.timings = attempt.timings()
        output_chunks.append(attempt.output.decode("utf-8", "replace"))
        if attempt.output_dropped:
            result.incidents.append(f"output was cut: {attempt.output_dropped} more bytes were printed than kept")
        if attempt.done:
            break
        reason = attempt.stop_reason
        if not attempt.ready:
            # Student code runs only after "ready": whatever stopped this attempt was the sandbox's fault.
            tail = attempt.output.decode("utf-8", "replace").strip()[-800:]
            result.infrastructure_error = f"the sandbox did not start: {reason}" + (f"\n{tail}" if tail else "")
            break
        if attempt.current is None:
            # Died between items: nothing specific to skip.
            result.incidents.append(f"the notebook process stopped: {reason}")
            break
        kind, identifier = attempt.current
        if kind == "cell":
            label = job["cells"][identifier]["label"]
            result.cells[identifier] = f"stopped: {reason}"
            result.incidents.append(f"cell `{label}` was stopped ({reason}); it was skipped and grading went on")
            skip_cells.add(identifier)
        else:
            result.probes[identifier] = {"error": f"stopped: {reason}", "stopped": True}
            result.incidents.append(f"a check was stopped ({reason}); grading went on")
        done_probes.update(result.probes)
        if time.monotonic() >= deadline:
            break
    result.output = "".join(output_chunks)[-limits.output_bytes:]
    result.seconds = round(time.monotonic() - started, 2)
    return result
