"""Runs a grading job in an isolated process and watches it from the trusted side.

Isolation is bubblewrap (``bwrap``): no network, a read-only view of the interpreter,
site-packages, ``labkit`` and the runner, and a private writable scratch folder holding only
the job. Nothing else of the machine (solutions, hidden tests, references, the gradebook,
other submissions) is visible. On top of that the watchdog here enforces a time limit per
cell and per probe, a total time limit, a memory limit and an output cap. When the process
dies or is killed in the middle of a cell or probe, that item is recorded as failed and the
job restarts without it, so a hang or crash costs only the points that depend on it.
Without bwrap (e.g. macOS) the job runs as a plain subprocess with resource limits, and the
result says loudly that isolation is reduced; grades are still decided outside that process.
"""

import dataclasses
import functools
import json
import os
import pathlib
import resource
import selectors
import shutil
import subprocess
import sys
import tempfile
import time

import psutil

import labkit

RUNNER_PATH = pathlib.Path(__file__).with_name("runner.py")
LABKIT_PATH = pathlib.Path(labkit.__file__).parent


@dataclasses.dataclass(frozen=True)
class Limits:
    """Resource limits for one submission."""

    cell_seconds: float = 60.0
    probe_seconds: float = 30.0
    startup_seconds: float = 90.0
    total_seconds: float = 300.0
    memory_megabytes: int = 4096
    output_bytes: int = 200_000

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


@functools.lru_cache(maxsize=None)
def bwrap_available():
    """True when bubblewrap is installed and can create a sandbox here."""
    executable = shutil.which("bwrap")
    if executable is None:
        return False
    probe = subprocess.run(
        [executable, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "true"],
        capture_output=True,
        timeout=30,
    )
    return probe.returncode == 0


def _bwrap_command(scratch, job_path_inside):
    """The bwrap command line: read-only system, interpreter and helpers; writable scratch only."""
    command = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session"]
    for system_path in ("/usr", "/bin", "/lib", "/lib64", "/lib32", "/sbin", "/etc"):
        if os.path.exists(system_path):
            command += ["--ro-bind", system_path, system_path]
    for python_path in sorted({sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(sys.executable))}):
        command += ["--ro-bind", python_path, python_path]
    command += [
        "--ro-bind", str(LABKIT_PATH), "/sandbox/lib/labkit",
        "--ro-bind", str(RUNNER_PATH), "/sandbox/runner.py",
        "--bind", str(scratch), "/scratch",
        "--proc", "/proc",
        "--dev", "/dev",
        "--tmpfs", "/tmp",
        "--chdir", "/scratch",
        sys.executable, "/sandbox/runner.py", job_path_inside,
    ]
    return command


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
    }
    environment.update(extra)
    return environment


def _limit_resources(memory_bytes, file_bytes):
    """Runs in the child before exec: address space, file size and core dump limits."""

    def apply():
        limits = [(resource.RLIMIT_AS, memory_bytes), (resource.RLIMIT_FSIZE, file_bytes), (resource.RLIMIT_CORE, 0)]
        for kind, value in limits:
            try:
                resource.setrlimit(kind, (value, value))
            except (ValueError, OSError):
                pass  # e.g. macOS refuses RLIMIT_AS; the watchdog's memory check still applies

    return apply


def _tree_memory_bytes(process):
    """Resident memory of a process and all its descendants."""
    try:
        members = [process] + process.children(recursive=True)
    except psutil.Error:
        return 0
    total = 0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            pass
    return total


class _Attempt:
    """One launch of the runner, watched until it finishes or is stopped."""

    def __init__(self, job, limits, isolation, deadline):
        self.job = job
        self.limits = limits
        self.isolation = isolation
        self.deadline = deadline
        self.events = []
        self.current = None  # ("cell", index) or ("probe", key) being run
        self.current_started = None
        self.ready = False
        self.done = False
        self.stop_reason = None
        self.output = bytearray()
        self.output_dropped = 0
        self.process = None

    def run(self):
        scratch = pathlib.Path(tempfile.mkdtemp(prefix="labkit-sandbox-"))
        read_fd, write_fd = os.pipe()
        try:
            cells_only = {key: value for key, value in self.job.items() if key not in ("probes", "skip_probes")}
            (scratch / "job.json").write_text(json.dumps(dict(cells_only, channel_fd=write_fd)))
            if self.isolation == "bwrap":
                command = _bwrap_command(scratch, "/scratch/job.json")
                environment = _child_environment("/scratch", self.job.get("environment", {}))
            else:
                command = [sys.executable, str(RUNNER_PATH), str(scratch / "job.json")]
                environment = _child_environment(str(scratch), self.job.get("environment", {}))
            memory_bytes = self.limits.memory_megabytes * 1024 * 1024
            process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
                env=environment,
                cwd=str(scratch),
                start_new_session=True,
                preexec_fn=_limit_resources(memory_bytes * 4, 64 * 1024 * 1024),
            )
            os.close(write_fd)
            write_fd = None
            self.process = process
            self._watch(process, read_fd, memory_bytes)
            if process.stdin and not process.stdin.closed:
                process.stdin.close()
        finally:
            if write_fd is not None:
                os.close(write_fd)
            os.close(read_fd)
            shutil.rmtree(scratch, ignore_errors=True)

    def _watch(self, process, read_fd, memory_bytes):
        selector = selectors.DefaultSelector()
        selector.register(read_fd, selectors.EVENT_READ, "events")
        selector.register(process.stdout, selectors.EVENT_READ, "output")
        pending = b""
        open_streams = 2
        watched = psutil.Process(process.pid)
        launched = time.monotonic()
        last_memory_check = 0.0
        exited_at = None
        while open_streams:
            for key, _ in selector.select(timeout=0.2):
                data = os.read(key.fileobj if isinstance(key.fileobj, int) else key.fileobj.fileno(), 65536)
                if not data:
                    selector.unregister(key.fileobj)
                    open_streams -= 1
                elif key.data == "output":
                    self._keep_output(data)
                else:
                    pending += data
                    if len(pending) > 50_000_000:
                        self._stop(process, "the results channel was flooded")
                        pending = b""
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        self._handle(line)
            now = time.monotonic()
            if self.stop_reason is None:
                self._check_time(process, now, launched)
            if self.stop_reason is None and now - last_memory_check > 0.5:
                last_memory_check = now
                if _tree_memory_bytes(watched) > memory_bytes:
                    self._stop(process, f"it used more than {self.limits.memory_megabytes} MB of memory")
            if process.poll() is not None:
                # Leftover children (a fork, a daemon) may hold the pipes open: a short grace, then stop them.
                exited_at = exited_at or now
                if now - exited_at > 2.0:
                    self._kill(process)
                    break
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._kill(process)
            process.wait()
        selector.close()
        if not self.done and self.stop_reason is None:
            self.stop_reason = f"the process ended unexpectedly (exit status {process.returncode})"

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
            return  # not ours: student code may write to the channel; ignore garbage
        if not isinstance(event, dict):
            return
        kind = event.get("event")
        if kind in ("cell", "probe") and not self._well_formed(kind, event):
            return  # forged or malformed: student code can write to the channel too
        if kind == "ready":
            self.ready = True
        elif kind == "cells_done":
            self._send_probes()
        elif kind == "done":
            self.done = True
            self.current = None
        elif kind in ("cell", "probe"):
            item = (kind, event.get("index") if kind == "cell" else event.get("key"))
            if event.get("status") == "start":
                self.current, self.current_started = item, time.monotonic()
            else:
                self.current = None
                self.events.append(event)

    def _well_formed(self, kind, event):
        """A cell event names a cell of this job, a probe event one of its probes, with a known status."""
        status = event.get("status")
        if status not in ("start", "ok", "error"):
            return False
        if kind == "cell":
            index = event.get("index")
            return isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(self.job["cells"])
        if event.get("key") not in {probe["key"] for probe in self.job.get("probes", [])}:
            return False
        if status == "ok":
            return isinstance(event.get("outputs"), dict)
        return status == "start" or isinstance(event.get("error", ""), str)

    def _send_probes(self):
        """Hand the probe requests over only now that every student cell has run."""
        if self.process is None or self.process.stdin is None or self.process.stdin.closed:
            return
        request = {"probes": self.job.get("probes", []), "skip_probes": self.job.get("skip_probes", [])}
        try:
            self.process.stdin.write((json.dumps(request) + "\n").encode())
            self.process.stdin.close()
        except (BrokenPipeError, OSError):
            pass  # the process died; the watcher records why

    def _keep_output(self, data):
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


def resolve_isolation(requested="auto"):
    """'bwrap' when available (or required), else 'none'; 'none' can be forced for debugging."""
    if requested not in ("auto", "bwrap", "none"):
        raise ValueError(f"isolation must be 'auto', 'bwrap' or 'none', got {requested!r}")
    if requested == "none":
        return "none"
    if bwrap_available():
        return "bwrap"
    if requested == "bwrap":
        raise RuntimeError(
            "bubblewrap (bwrap) is required but not usable here. Install it with "
            "`sudo apt-get install bubblewrap`, or pass --isolation auto to grade with reduced isolation."
        )
    return "none"


def run_job(job, limits=Limits(), isolation="auto"):
    """Run a job ({cells, probes, forbidden, environment}) to completion, restarting past crashes."""
    isolation = resolve_isolation(isolation)
    result = JobResult(isolation=isolation)
    if isolation == "none":
        result.incidents.append(
            "WARNING: bubblewrap is not available, so student code ran WITHOUT a sandbox "
            "(reduced isolation: it could read files and use the network). Grades were still "
            "decided outside the student process."
        )
    started = time.monotonic()
    deadline = started + limits.total_seconds
    skip_cells, skip_probes = set(), set()
    output_chunks = []
    while True:
        result.attempts += 1
        attempt = _Attempt(dict(job, skip_cells=sorted(skip_cells), skip_probes=sorted(skip_probes)),
                           limits, isolation, deadline)
        attempt.run()
        for event in attempt.events:
            if event["event"] == "cell":
                result.cells[event["index"]] = "ok" if event["status"] == "ok" else event.get("error", "error")
            elif event["status"] == "ok":
                result.probes[event["key"]] = {"outputs": event.get("outputs"), "seconds": event.get("seconds")}
            else:
                result.probes[event["key"]] = {"error": event.get("error", "error")}
        output_chunks.append(attempt.output.decode("utf-8", "replace"))
        if attempt.output_dropped:
            result.incidents.append(f"output was cut: {attempt.output_dropped} more bytes were printed than kept")
        if attempt.done:
            break
        reason = attempt.stop_reason
        if attempt.current is None:
            # Died between items (or before start-up finished): nothing specific to skip.
            result.incidents.append(f"the notebook process stopped: {reason}")
            break
        kind, identifier = attempt.current
        if kind == "cell":
            label = job["cells"][identifier]["label"]
            result.cells[identifier] = f"stopped: {reason}"
            result.incidents.append(f"cell `{label}` was stopped ({reason}); it was skipped and grading went on")
            skip_cells.add(identifier)
        else:
            result.probes[identifier] = {"error": f"stopped: {reason}"}
            result.incidents.append(f"a check was stopped ({reason}); grading went on")
            skip_probes.add(identifier)
        skip_probes.update(key for key, value in result.probes.items() if "outputs" in value)
        if time.monotonic() >= deadline:
            break
    result.output = "".join(output_chunks)[-limits.output_bytes:]
    result.seconds = round(time.monotonic() - started, 2)
    return result
