"""Runs one grading job inside the sandbox: student cells, then probes; only outputs leave.

This file is executed as a script in the untrusted process (``python runner.py job.json``).
It reports events as JSON lines on the file descriptor the job names and never decides a grade: the
trusted grader compares the probe outputs with references it computed elsewhere.
Events: {"event": "cell"|"probe", "index"/"key": ..., "status": "start"|"ok"|"error", ...}.
"""

import json
import os
import sys
import time


def _send(channel, **event):
    channel.write(json.dumps(event) + "\n")
    channel.flush()


def _strip_magics(source):
    """Comment out IPython-only lines (%magic, !shell) so a cell is plain Python."""
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            indent = line[: len(line) - len(stripped)]
            lines.append(f"{indent}pass  # {stripped}")
        else:
            lines.append(line)
    return "\n".join(lines)


def _disabled(path):
    """A stand-in that raises whenever a forbidden built-in is used."""
    message = (
        f"{path} is disabled while grading: this part asks for your own implementation, "
        "so the built-in may not be called or subclassed."
    )

    def raise_disabled(*args, **kwargs):
        raise RuntimeError(message)

    return raise_disabled


def disable_builtins(paths):
    """Make forbidden Keras built-ins unusable: their methods raise and subclassing fails."""
    from labkit import checks

    for path in paths:
        try:
            original = checks.resolve_symbol(path, {})
        except Exception:  # a path this Keras version lacks: nothing to disable
            continue
        raiser = _disabled(path)
        if isinstance(original, type):
            for name, value in list(vars(original).items()):
                if callable(value) and not isinstance(value, type) and name not in ("__new__",):
                    setattr(original, name, raiser)
            # Instances are refused in __new__ (Keras layers run their own __new__ before __init__).
            setattr(original, "__new__", raiser)
            setattr(original, "__init__", raiser)
            setattr(original, "__init_subclass__", classmethod(raiser))
        else:
            for module in list(sys.modules.values()):
                for name, value in list(getattr(module, "__dict__", {}).items()):
                    if value is original:
                        setattr(module, name, raiser)


def run_cells(cells, skip, namespace, channel):
    """Execute cells in order in one namespace; an error in one cell does not stop the rest."""
    from labkit import checks

    for index, cell in enumerate(cells):
        if index in skip:
            continue
        _send(channel, event="cell", index=index, status="start")
        try:
            code = compile(_strip_magics(cell["source"]), f"<cell {cell['label']}>", "exec")
            exec(code, namespace)
        except BaseException as error:  # SystemExit and KeyboardInterrupt included
            _send(channel, event="cell", index=index, status="error", error=checks.describe_exception(error))
        else:
            _send(channel, event="cell", index=index, status="ok")


def run_probes(probes, skip, namespace, channel):
    """Call each probe on the object its symbol names and send the encoded outputs."""
    from labkit import checks

    for probe in probes:
        if probe["key"] in skip:
            continue
        _send(channel, event="probe", key=probe["key"], status="start")
        started = time.perf_counter()
        try:
            target_object = checks.resolve_symbol(probe["symbol"], namespace)
            outputs = checks.run_probe(probe["probe"], target_object, probe["arguments"])
            encoded = checks.encode_outputs(outputs)
        except BaseException as error:
            _send(channel, event="probe", key=probe["key"], status="error", error=checks.describe_exception(error))
        else:
            seconds = round(time.perf_counter() - started, 3)
            _send(channel, event="probe", key=probe["key"], status="ok", outputs=encoded, seconds=seconds)


def main(job_path):
    """Run the job described in job_path, reporting on the job's channel descriptor.

    The job file holds only the cells; it is deleted before any student code runs. The probe
    requests arrive on standard input after the last cell, so while student cells run, nothing
    about the checks exists in this process.
    """
    with open(job_path) as job_file:
        job = json.load(job_file)
    os.remove(job_path)
    channel = os.fdopen(job["channel_fd"], "w", buffering=1)
    # A private copy of stdin: student code that closes or replaces sys.stdin cannot cut off the probes.
    probe_input = os.fdopen(os.dup(0), "r")
    sys.stdin = open(os.devnull)
    os.environ.update(job.get("environment", {}))
    # Imported after the environment is set (LABKIT_MODE, KERAS_BACKEND).
    import matplotlib

    matplotlib.use("Agg")
    import keras  # noqa: F401  (loaded before student code so disabling sees the real classes)

    disable_builtins(job.get("forbidden", []))
    _send(channel, event="ready")
    namespace = {"__name__": "__main__"}
    run_cells(job.get("cells", []), set(job.get("skip_cells", [])), namespace, channel)
    _send(channel, event="cells_done")
    probe_job = json.loads(probe_input.readline() or "{}")
    run_probes(probe_job.get("probes", []), set(probe_job.get("skip_probes", [])), namespace, channel)
    _send(channel, event="done")
    channel.close()
    sys.stdout.flush()
    # Leave at once: a student's object may hang in a finalizer or atexit hook.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1])
