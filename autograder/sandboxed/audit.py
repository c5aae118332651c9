"""An audit hook (PEP 578) that blocks or records what student code does in the sandbox.

Why a hook: it sees every route to an operation (a call, ``getattr`` with a built string,
``vars()``, a library helper), cannot be removed once added, and costs nothing for events it
ignores. It is one layer of several (the process filter, module state restored before each
probe, the trusted static scans), because Python cannot stop code in its own process from
doing everything:

* **blocked** for student code: ctypes (raw memory and foreign calls), new audit hooks,
  process creation (also denied by the kernel filter), and ``/proc/*/mem`` or file
  descriptors opened through ``/proc``;
* **blocked** when a student frame is on the stack: replacing the code or defaults of a
  library function;
* **recorded**, to flag for the instructor: code compiled from text, frames and the garbage
  collector inspected, attributes of library types set, library source files read;
* **forbidden** (the part scores 0): a library module's code executed again (``reload``,
  ``runpy``, ``exec`` of its code object) and code compiled from text copied out of a library
  source file that was read.

"Student frame" means a frame whose code does not come from a file of the interpreter, the
installed packages or the sandbox's own code: student cells are compiled as ``<cell ...>``.
"""

import os
import sys
import threading

# Events refused to student code outright (process creation is also denied by the kernel).
_BLOCKED_PREFIXES = ("ctypes.",)
_BLOCKED_EVENTS = {
    "sys.addaudithook", "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
    "os.forkpty", "pty.spawn", "sys.setprofile", "sys.settrace", "sys._current_frames",
}
_INSPECTION_EVENTS = {"sys._getframe", "gc.get_objects", "gc.get_referrers", "gc.get_referents"}
_FRAME_ATTRIBUTES = {"tb_frame", "gi_frame", "cr_frame", "ag_frame"}
# Library modules that hand frames to their caller: asking them counts as student code asking.
_FRAME_HANDING_MODULES = ("inspect.py", "traceback.py", "bdb.py", "pdb.py", "cgitb.py", "code.py", "tf_inspect.py")
_PROTECTED_FUNCTION_ATTRIBUTES = {"__code__", "__defaults__", "__kwdefaults__", "__globals__", "__closure__"}
_WATCHED = (_BLOCKED_EVENTS | _INSPECTION_EVENTS | {"exec", "compile", "open", "object.__setattr__",
                                                    "object.__getattr__", "os.listdir", "os.scandir"})
# Names in a student code object that show it asks for frames or objects itself: C code (TensorFlow's)
# also asks for frames while a student frame is the innermost Python frame, and that is not the student.
_INSPECTING_NAMES = {"_getframe", "currentframe", "stack", "trace", "getouterframes", "getinnerframes", "tb_frame",
                     "gi_frame", "cr_frame", "ag_frame", "get_objects", "get_referrers", "get_referents",
                     "_current_frames", "getattr", "__getattribute__", "eval", "exec", "walk_stack", "walk_tb",
                     "extract_stack", "print_stack", "format_stack"}
_COPIED_LINES = 3  # substantive lines shared with a library file that count as copying it
_SUBSTANTIVE_LENGTH = 25


class Recorder:
    """What student code did that the grader should know about, as (kind, message) pairs."""

    def __init__(self, trusted_prefixes, loaded_module_files):
        self.trusted_prefixes = tuple(trusted_prefixes)
        self.loaded_module_files = set(loaded_module_files)
        self.findings = []
        self.library_lines = {}  # library file read by student code -> its substantive lines
        self._inside = threading.local()
        self.active = False

    # -- frames -----------------------------------------------------------------------

    def is_trusted_file(self, filename):
        return filename.startswith(self.trusted_prefixes) or filename.startswith(("<frozen ", "<setup "))

    def student_location(self):
        """Where the innermost student frame calling the caller of this method is, or None."""
        self._inside.busy = True
        try:
            return self._student_frames(depth=3)[2]
        finally:
            self._inside.busy = False

    def _student_frames(self, depth=3):
        """(immediate caller's file, is it student code, innermost student frame's label or None)."""
        frame = sys._getframe(depth)  # by default skip this method, _check and the hook itself
        caller = frame.f_code.co_filename if frame is not None else ""
        immediate = frame is not None and not self.is_trusted_file(caller)
        self.caller_names = set(frame.f_code.co_names) if immediate else set()
        # Who asked a frame-handing module (inspect, traceback, ...): the first frame outside them.
        asker = frame
        while asker is not None and asker.f_code.co_filename.endswith(_FRAME_HANDING_MODULES):
            asker = asker.f_back
        self.asked_by_student = asker is not frame and asker is not None and not self.is_trusted_file(
            asker.f_code.co_filename)
        where = None
        while frame is not None:
            filename = frame.f_code.co_filename
            if not self.is_trusted_file(filename):
                where = where or f"{filename.strip('<>')}, line {frame.f_lineno}"
            frame = frame.f_back
        return caller, immediate, where

    # -- the hook ----------------------------------------------------------------------

    def hook(self, event, arguments):
        if not self.active or (event not in _WATCHED and not event.startswith(_BLOCKED_PREFIXES)):
            return
        if getattr(self._inside, "busy", False):
            return
        self._inside.busy = True
        try:
            self._check(event, arguments)
        finally:
            self._inside.busy = False

    def record(self, kind, message):
        """Add a finding: "review" (the instructor should look) or "forbidden" (the part scores 0)."""
        if (kind, message) not in self.findings and len(self.findings) < 200:
            self.findings.append((kind, message))

    def _check(self, event, arguments):
        caller, immediate, where = self._student_frames()
        if event == "exec":
            self._check_exec(arguments[0], where)
            return
        if where is None:
            return
        if event in _BLOCKED_EVENTS or event.startswith(_BLOCKED_PREFIXES):
            self.record("review", f"{where}: tried {event}, which is not allowed while grading")
            raise PermissionError(f"{event} is not allowed while grading")
        if event == "open" and not caller.startswith("<frozen importlib"):  # imports read sources too
            self._check_open(arguments, where)
        elif event in ("os.listdir", "os.scandir"):
            if str(arguments[0]).startswith("/proc/"):
                self.record("review", f"{where}: listed {arguments[0]}")
                raise PermissionError(f"listing {arguments[0]} is not allowed while grading")
        elif event == "compile" and immediate:
            self._check_compile(arguments[0], arguments[1], where)
        elif event in _INSPECTION_EVENTS or (event == "object.__getattr__" and arguments[1] in _FRAME_ATTRIBUTES):
            # Frames and the collector reach the grader's own state (probe requests, the channel).
            if (immediate and self.caller_names & _INSPECTING_NAMES) or self.asked_by_student:
                what = event if event in _INSPECTION_EVENTS else f".{arguments[1]}"
                self.record("review", f"{where}: inspects the running program ({what})")
                raise PermissionError(f"inspecting the running program ({what}) is not allowed while grading")
        elif event == "object.__setattr__":
            self._check_setattr(arguments[0], arguments[1], immediate, where)

    def _check_exec(self, code, where):
        filename = getattr(code, "co_filename", "")
        if filename in self.loaded_module_files:
            self.record("forbidden", f"{where or 'your code'}: runs the library module {filename} again "
                                      "(reload, runpy or exec of its code)")
        elif getattr(code, "co_name", "") == "<module>" and self.is_trusted_file(filename):
            self.loaded_module_files.add(filename)  # a first import; a second run of it is a reload

    def _check_open(self, arguments, where):
        path, mode = arguments[0], arguments[1]
        if isinstance(path, int):
            return
        path = os.fsdecode(path)
        if path.startswith("/proc/") and (path.endswith("/mem") or "/fd/" in path or "/fdinfo" in path):
            self.record("review", f"{where}: opened {path}")
            raise PermissionError(f"opening {path} is not allowed while grading")
        if path.endswith(".py") and self.is_trusted_file(os.path.realpath(path)) and "w" not in str(mode):
            if path not in self.library_lines:
                self.library_lines[path] = _substantive_lines(path)
                self.record("review", f"{where}: reads the library source file {path}")

    def _check_compile(self, source, filename, where):
        if source is None or not isinstance(source, (str, bytes)):
            return
        text = source.decode("utf-8", "replace") if isinstance(source, bytes) else source
        if isinstance(filename, str) and self.is_trusted_file(filename):
            self.record("forbidden", f"{where}: compiles code under the library file name {filename}")
        lines = {line.strip() for line in text.splitlines() if len(line.strip()) >= _SUBSTANTIVE_LENGTH}
        for path, library_lines in self.library_lines.items():
            if len(lines & library_lines) >= _COPIED_LINES:
                self.record("forbidden", f"{where}: runs code copied from the library source file {path}")
                return
        first_line = text.strip().splitlines()[0][:80] if text.strip() else ""
        self.record("review", f"{where}: builds and runs code from text (exec/eval/compile of {first_line!r})")

    def _check_setattr(self, owner, name, immediate, where):
        owner_file = getattr(getattr(owner, "__code__", None), "co_filename", None)
        if owner_file is not None and name in _PROTECTED_FUNCTION_ATTRIBUTES and self.is_trusted_file(owner_file):
            self.record("review", f"{where}: replaces {name} of the library function {owner.__qualname__}")
            raise PermissionError(f"changing {name} of a library function is not allowed while grading")
        if immediate and isinstance(owner, type) and _defined_in_library(owner, self):
            self.record("review", f"{where}: sets {owner.__module__}.{owner.__qualname__}.{name}")


def _defined_in_library(cls, recorder):
    module = sys.modules.get(getattr(cls, "__module__", ""), None)
    filename = getattr(module, "__file__", None) or ""
    return bool(filename) and recorder.is_trusted_file(filename)


def _substantive_lines(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as source_file:
            return {line.strip() for line in source_file if len(line.strip()) >= _SUBSTANTIVE_LENGTH}
    except OSError:
        return set()


def install(trusted_prefixes):
    """Add the hook (for the rest of the process's life) and return its Recorder, inactive."""
    loaded = {getattr(module, "__file__", None) for module in list(sys.modules.values())}
    recorder = Recorder(trusted_prefixes, {filename for filename in loaded if filename})
    sys.addaudithook(recorder.hook)
    return recorder
