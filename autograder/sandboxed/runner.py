"""Runs one grading job inside the sandbox: student cells, then probes; only outputs leave.

Runs in a child of the fork runner (``autograder.sandboxed.server``), in the untrusted
process. It never decides a grade. The protocol with the trusted grader (``autograder.sandbox``):

* standard input, first line: the job (cells, forbidden built-ins and kernels, environment
  and this attempt's token). Nothing about the checks is in it.
* after the cells, the grader sends one probe request per line, the next only once the
  previous result is in, visible checks before hidden ones: hidden inputs never share the
  process with a check whose messages students see;
* every event written to the channel carries the attempt's token, which student code cannot
  read (frames, the garbage collector, threads and signal handlers are refused to it), so
  events forged by student code are told apart and reported.
"""

import builtins
import importlib
import json
import os
import pkgutil
import sys
import sysconfig
import time
import traceback
import warnings


def _send(channel, token, **event):
    channel.write(json.dumps(dict(event, token=token)) + "\n")
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


def _defining_files(value):
    """The source file of the module that defines a class or function, as imported and resolved."""
    module = sys.modules.get(getattr(value, "__module__", None) or "")
    filename = getattr(module, "__file__", None)
    return {filename, os.path.realpath(filename)} if filename else set()


_RAISER_CODE = _disabled("").__code__


def is_disabled(path):
    """Whether a forbidden built-in is disabled already, or does not resolve (then there is nothing to disable)."""
    from labkit import checks

    try:
        value = checks.resolve_symbol(path, {})
    except Exception:
        return True
    if isinstance(value, type):
        value = vars(value).get("__new__")
    return getattr(value, "__code__", None) is _RAISER_CODE


def disable_builtins(paths, defer=False):
    """Make forbidden built-ins unusable: their methods raise and subclassing fails.

    Returns {source file: [paths defined there]}, so the grader can tell which parts a module
    run again, or copied, concerns. With ``defer``, a path whose top-level package is not loaded
    (``torch.nn.functional.conv2d`` on the TensorFlow backend) is not imported now: it is disabled
    when the package is imported (``deferred_disable``); returns (files, the import hook's finder,
    the functions to protect, catch_up) then.
    """
    from labkit import checks

    if defer:
        from autograder.sandboxed import deferred_disable

        paths, pending = deferred_disable.split_by_loaded(paths)
        hook = deferred_disable.install(pending, disable_builtins, is_disabled)
        return (disable_builtins(paths),) + hook
    files = {}
    for path in paths:
        try:
            original = checks.resolve_symbol(path, {})
        except Exception:  # a path this Keras version lacks: nothing to disable
            continue
        for filename in _defining_files(original):
            files.setdefault(filename, []).append(path)
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
    return files


def _from_labkit(value):
    module = getattr(value, "__module__", None)
    return isinstance(module, str) and (module == "labkit" or module.startswith("labkit."))


def refuse_lab_code_as_answer(symbol, target_object):
    """An answer must be the student's own: not a labkit function, a wrapper of one, or a class built on one."""
    candidates = [target_object, getattr(target_object, "func", None), getattr(target_object, "__wrapped__", None)]
    if isinstance(target_object, type):
        candidates += list(target_object.__mro__)
    if any(candidate is not None and _from_labkit(candidate) for candidate in candidates):
        raise PermissionError(f"`{symbol}` is labkit's own code (the grader's helpers), not your implementation")


def error_details(error, describe):
    """What the grader may show of an exception: the full line for visible checks, parts for hidden."""
    frames = []
    traceback = error.__traceback__
    while traceback is not None:
        frames.append((traceback.tb_frame.f_code.co_filename, traceback.tb_lineno))
        traceback = traceback.tb_next
    student = [(name, line) for name, line in frames if name.startswith("<cell ")]
    cell, line = (student[-1][0][len("<cell "):-1], student[-1][1]) if student else (None, None)
    error_type = type(error)
    name = error_type.__name__
    is_builtin = isinstance(name, str) and getattr(builtins, name, None) is error_type
    return {
        "error": describe(error),
        "error_type": name if is_builtin else None,
        "error_cell": cell,
        "error_line": line,
    }


class Session:
    """One attempt: the channel, the token, the trusted helpers captured before student code."""

    def __init__(self, job, channel, probe_input):
        from labkit import checks

        self.job = job
        self.channel = channel
        self.token = job["token"]
        self.probe_input = probe_input
        self.resolve_symbol = checks.resolve_symbol
        self.run_probe = checks.run_probe
        self.encode_outputs = checks.encode_outputs
        self.describe = checks.describe_exception
        self.snapshot = None
        self.builtin_files = {}
        self.catch_up = lambda: []
        self.namespace = {"__name__": "__main__"}

    def send(self, **event):
        _send(self.channel, self.token, **event)

    def restore(self):
        """Put protected state back, then disable what a package imported past the import hook forbids."""
        changed = self.snapshot.restore()
        self.catch_up()
        return changed

    def harden(self):
        """Disable built-ins, guard labkit, snapshot module state, then the hook and the process filter."""
        from autograder.sandboxed import audit, concurrency, integrity, kernels, labkit_guard, process_filter

        self.builtin_files, finder, hook_functions, self.catch_up = disable_builtins(self.job.get("forbidden", []),
                                                                                    defer=True)
        labkit_folder = os.path.dirname(os.path.abspath(sys.modules["labkit"].__file__)) + os.sep
        sandboxed_folder = os.path.dirname(os.path.abspath(sys.modules["autograder.sandboxed"].__file__)) + os.sep
        trusted = {sys.prefix, sys.base_prefix, os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)}
        trusted |= {sysconfig.get_paths()[name] for name in ("stdlib", "platstdlib", "purelib", "platlib")}
        trusted = tuple(sorted(path.rstrip(os.sep) + os.sep for path in trusted)) + (labkit_folder, sandboxed_folder)
        guards = concurrency.install() + labkit_guard.install(self.job.get("student_tools", []))
        forbidden_kernels = self.job.get("forbidden_kernels", [])
        wrappers = kernels.install() if any("." not in name for name in forbidden_kernels) else []
        routines, routine_classes = kernels.watch_routines([name for name in forbidden_kernels if "." in name])
        self.snapshot = integrity.Snapshot()
        self.snapshot.protect(classes=routine_classes + [finder], functions=guards + wrappers + routines + hook_functions,
                              finders=[finder] if finder in sys.meta_path else [])
        if wrappers:
            modules, classes = kernels.wrapped_modules()
            self.snapshot.protect(modules, classes)
        audit.install(trusted, self.job.get("forbidden_kernels", []), lambda filename: filename.startswith(labkit_folder),
                      self.channel.fileno(), self.token)
        try:
            process_filter.install()
            return ["process filter"]
        except process_filter.ProcessFilterUnavailable as error:
            return [f"no process filter ({error})"]

    def run_cells(self):
        """Execute cells in order in one namespace; an error in one cell does not stop the rest."""
        skip = set(self.job.get("skip_cells", []))
        for index, cell in enumerate(self.job.get("cells", [])):
            if index in skip:
                continue
            self.send(event="cell", index=index, status="start")
            prefix = "<setup " if cell.get("origin") == "setup" else "<cell "
            try:
                code = compile(_strip_magics(cell["source"]), f"{prefix}{cell['label']}>", "exec")
                exec(code, self.namespace)
            except BaseException as error:  # SystemExit and KeyboardInterrupt included
                changed = self.restore()  # first, so the grader's own code runs on sound state
                self.send(event="cell", index=index, status="error", error=self.describe(error), changed=changed)
            else:
                changed = self.restore()
                self.send(event="cell", index=index, status="ok", changed=changed)

    def run_probes(self):
        """Answer probe requests one at a time until the grader sends the final request."""
        while True:
            line = self.probe_input.readline()
            request = json.loads(line) if line.strip() else {"final": True}
            if request.get("final"):
                self.send(event="done")
                return
            self.send(event="probe", key=request["key"], status="start")
            started = time.perf_counter()
            try:
                target_object = self.resolve_symbol(request["symbol"], self.namespace)
                if "." not in request["symbol"]:
                    # A name from the notebook: the student's answer. A dotted path is a reference the lab names
                    # (keras.optimizers.Adam, or labkit.keras_references.EarlyStopping), imported, never the answer.
                    refuse_lab_code_as_answer(request["symbol"], target_object)
                outputs = self.run_probe(request["probe"], target_object, request["arguments"])
                encoded = self.encode_outputs(outputs)
            except BaseException as error:
                changed = self.restore()
                details = error_details(error, self.describe)
                self.send(event="probe", key=request["key"], status="error", changed=changed, **details)
            else:
                changed = self.restore()
                seconds = round(time.perf_counter() - started, 3)
                self.send(event="probe", key=request["key"], status="ok", outputs=encoded, seconds=seconds,
                          changed=changed)
            del request, line


NO_JOB = 75  # the exit status of a child that found no job (the grader closed standard input)


# Per backend, the Keras packages whose modules Keras imports lazily (torch: one module per optimizer, imported
# by TorchOptimizer.__new__ when the first optimizer is made).
LAZY_KERAS_PACKAGES = {"torch": ("keras.src.backend.torch.optimizers",)}


def import_libraries():
    """Load what every job needs before any student code: matplotlib (Agg), Keras and all of labkit.

    The fork runner calls this once; every child then starts with it loaded. The environment
    (LABKIT_MODE, KERAS_BACKEND) is the grader's, set before this process started.
    """
    import matplotlib

    matplotlib.use("Agg")
    import keras  # loaded before student code so disabling sees the real classes

    # Keras imports TensorFlow, where installed, the first time a seed is set, on every backend: once, here.
    keras.utils.set_random_seed(0)
    # Library modules Keras imports on first use would otherwise first run while student code does (and a
    # forbidden built-in's module running then reads as the student running it again): import them now.
    for package_name in LAZY_KERAS_PACKAGES.get(keras.backend.backend(), ()):
        package = importlib.import_module(package_name)
        for module_info in pkgutil.iter_modules(package.__path__):
            if not module_info.name.endswith("_test"):
                importlib.import_module(f"{package_name}.{module_info.name}")

    import labkit

    # Every labkit module is loaded now, so the snapshot covers the probes' modules before student code.
    for module_info in pkgutil.iter_modules(labkit.__path__):
        importlib.import_module(f"labkit.{module_info.name}")
    warnings.filterwarnings("ignore")  # a warning's source line would be read while student code runs


def serve_job(channel_fd):
    """In a freshly forked child: read the job from standard input, run it, report, and leave."""
    try:
        probe_input = os.fdopen(os.dup(0), "r")
        line = probe_input.readline()
        if not line.strip():
            os._exit(NO_JOB)
        job = json.loads(line)
        channel = os.fdopen(channel_fd, "w", buffering=1)
        sys.stdin = open(os.devnull)
        os.environ.update(job.get("environment", {}))
        session = Session(job, channel, probe_input)
        protections = session.harden()
        session.send(event="ready", protections=protections, builtin_files=session.builtin_files)
        session.run_cells()
        session.send(event="cells_done")
        session.run_probes()
        channel.close()
        sys.stdout.flush()
    except BaseException:  # student errors are caught per cell and probe: this is the grader's own failure
        traceback.print_exc()
        sys.stdout.flush()
        os._exit(1)
    # Leave at once: a student's object may hang in a finalizer or atexit hook.
    os._exit(0)
