"""An audit hook (PEP 578) that blocks or records what student code does in the sandbox.

Why a hook: it sees every route to an operation (a call, ``getattr`` with a built string,
``vars()``, a library helper), cannot be removed once added, and costs nothing for events it
ignores. It is one layer of several (the process filter, module state restored after every
cell and before every probe, the trusted static scans), because Python cannot stop code in
its own process from doing everything:

* **blocked** for student code: ctypes (raw memory and foreign calls), new audit hooks,
  tracers, process creation (also denied by the kernel filter), ``/proc/*/mem`` and
  ``/proc/*/fd``, frames and the garbage collector (they lead to the grader's own state), and
  whatever the grader's guards refuse (``grader.refuse`` events: threads, signal handlers,
  labkit's helpers called as answers);
* **blocked** when a student frame is on the stack: replacing the code or defaults of a
  library function;
* **recorded**, to flag for the instructor: code compiled from text, library source files
  read, attributes of library types set;
* **forbidden** (the part scores 0): a library module's code executed again (``reload``,
  ``runpy``, ``exec`` of its code object, a ``.pyc`` loaded with ``marshal``), code compiled from
  text copied out of a library source file, and forbidden TensorFlow kernels reached from
  student code (``grader.kernel`` events).

Nothing student code can reach refers to the hook's state: the hook is a closure known only
to the interpreter, the guards and wrappers only raise audit events, and every builtin and
library function the hook uses is bound when it is installed, so patching ``builtins``,
``sys`` or ``os`` cannot blind it. Findings are written to the results channel the moment they
happen, with this attempt's token, so nothing the student's code does afterwards takes them back.

"Student frame" means a frame whose code does not come from a file of the interpreter, the
installed packages or the sandbox's own code: student cells are compiled as ``<cell ...>``.
"""

import builtins
import os
import sys

_BLOCKED_PREFIXES = ("ctypes.",)
_BLOCKED_EVENTS = frozenset({
    "sys.addaudithook", "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
    "os.forkpty", "pty.spawn", "sys.setprofile", "sys.settrace", "sys._current_frames",
})
_INSPECTION_EVENTS = frozenset({"sys._getframe", "gc.get_objects", "gc.get_referrers", "gc.get_referents"})
_FRAME_ATTRIBUTES = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame"})
_PROTECTED_FUNCTION_ATTRIBUTES = frozenset({"__code__", "__defaults__", "__kwdefaults__", "__globals__", "__closure__"})
# Names in a student code object that show it asks for frames or objects itself: C code (TensorFlow's)
# also asks for frames while a student frame is the innermost Python frame, and that is not the student.
_INSPECTING_NAMES = frozenset({
    "_getframe", "currentframe", "stack", "trace", "getouterframes", "getinnerframes", "tb_frame", "gi_frame",
    "cr_frame", "ag_frame", "get_objects", "get_referrers", "get_referents", "_current_frames", "getattr",
    "__getattribute__", "eval", "exec", "walk_stack", "walk_tb", "extract_stack", "print_stack", "format_stack",
})
# Library functions that hand the frame they get to their caller: whoever calls them receives it.
_FRAME_HANDING_FUNCTIONS = frozenset(
    {("inspect.py", name) for name in ("currentframe", "stack", "trace", "getouterframes", "getinnerframes")}
    | {("traceback.py", "walk_stack"), ("traceback.py", "walk_tb"), ("logging/__init__.py", "<lambda>"),
       ("tf_inspect.py", "currentframe"), ("tf_inspect.py", "stack"), ("bdb.py", "set_trace"),
       ("pdb.py", "set_trace")}
)
_WATCHED = (_BLOCKED_EVENTS | _INSPECTION_EVENTS
            | {"exec", "compile", "open", "object.__setattr__", "object.__getattr__", "os.listdir", "os.scandir",
               "marshal.loads", "marshal.load", "os.symlink", "os.link", "grader.refuse", "grader.kernel"})
_COPIED_LINES = 3  # substantive lines shared with a library file that count as copying it
_SUBSTANTIVE_LENGTH = 20
_MAX_FINDINGS = 200
_JSON_ESCAPES = {**{code: f"\\u{code:04x}" for code in range(32)}, ord('"'): '\\"', ord("\\"): "\\\\"}


def normalised_line(line, join="".join):
    """A source line without comments and white space, so annotating a copy does not hide it."""
    return join(line.split("#", 1)[0].split())


def substantive_lines(text, length=len, normalised=normalised_line, minimum=_SUBSTANTIVE_LENGTH):
    """The normalised lines of a source text that are long enough to identify it.

    Builtins are bound as defaults: the hook calls this while student code may have patched them.
    """
    found = set()
    for line in text.splitlines():
        line = normalised(line)
        if length(line) >= minimum:
            found.add(line)
    return found


def install(trusted_prefixes, forbidden_kernels, is_lab_file, channel_fd, token):
    """Add the hook for the rest of the process's life. Nothing is returned: nothing can reach it."""
    getframe, write, audit_error = sys._getframe, os.write, PermissionError
    substantive, escapes = substantive_lines, dict(_JSON_ESCAPES)
    blocked_prefixes, blocked_events, inspection_events = _BLOCKED_PREFIXES, _BLOCKED_EVENTS, _INSPECTION_EVENTS
    frame_attributes, function_attributes = _FRAME_ATTRIBUTES, _PROTECTED_FUNCTION_ATTRIBUTES
    inspecting_names, frame_handing_functions, watched = _INSPECTING_NAMES, _FRAME_HANDING_FUNCTIONS, _WATCHED
    copied_lines, max_findings = _COPIED_LINES, _MAX_FINDINGS
    isinstance_, len_, str_, type_ = builtins.isinstance, builtins.len, builtins.str, builtins.type
    getattr_, open_, set_, bytes_ = builtins.getattr, builtins.open, builtins.set, builtins.bytes
    trusted_prefixes = tuple(trusted_prefixes)
    forbidden_kernels = frozenset(forbidden_kernels)
    loaded_files = set_(filename for filename in (getattr_(module, "__file__", None)
                                                   for module in list(sys.modules.values())) if filename)
    library_lines = {}  # library file read by student code -> its substantive lines
    reported = set_()
    state = {"busy": False}
    token_text = '"' + token.translate(escapes) + '"'

    def is_trusted(filename):
        return filename.startswith(trusted_prefixes) or filename.startswith(("<frozen ", "<setup "))

    def emit(kind, message, library_file=None):
        if (kind, message) in reported or len_(reported) >= max_findings:
            return
        reported.add((kind, message))
        file_text = '"' + library_file.translate(escapes) + '"' if library_file else "null"
        line = ('{"event": "finding", "kind": "' + kind + '", "message": "' + message.translate(escapes)
                + '", "file": ' + file_text + ', "token": ' + token_text + "}\n")
        try:
            write(channel_fd, line.encode("utf-8", "replace"))
        except OSError:
            pass

    def where_is(frame):
        return frame.f_code.co_filename.strip("<>") + ", line " + str_(frame.f_lineno)

    def hands_frames(code):
        filename = code.co_filename
        for suffix, name in frame_handing_functions:
            if code.co_name == name and filename.endswith(suffix):
                return True
        return False

    def student_frames():
        """(the triggering frame, is it student code, the innermost student frame's label or None)."""
        caller = getframe(3)  # skip this function, check and the hook
        immediate = caller is not None and not is_trusted(caller.f_code.co_filename)
        where, frame = None, caller
        while frame is not None:
            if not is_trusted(frame.f_code.co_filename):
                where = where_is(frame)
                break
            frame = frame.f_back
        return caller, immediate, where

    def received_by_student(caller):
        """Whether a frame asked for by caller reaches student code (past frame-handing helpers)."""
        receiver = caller
        while receiver is not None and hands_frames(receiver.f_code):
            receiver = receiver.f_back
        return receiver is not caller and receiver is not None and not is_trusted(receiver.f_code.co_filename)

    def check_exec(code, where):
        filename = getattr_(code, "co_filename", "")
        if filename in loaded_files:
            emit("forbidden", (where or "your code") + ": runs the library module " + filename
                 + " again (reload, runpy or exec of its code)", filename)
        elif getattr_(code, "co_name", "") == "<module>" and is_trusted(filename):
            loaded_files.add(filename)  # a first import; a second run of it is a reload

    def remember_library_file(path, where, verb):
        if path in library_lines:
            return
        try:
            with open_(path, encoding="utf-8", errors="replace") as source_file:
                library_lines[path] = substantive(source_file.read())
        except OSError:
            library_lines[path] = set_()
        emit("review", where + ": " + verb + " the library source file " + path)

    def check_open(path, mode, where):
        if isinstance_(path, int):
            return
        if isinstance_(path, bytes_):
            path = path.decode("utf-8", "replace")
        if path.startswith("/proc/") and (path.endswith("/mem") or "/fd/" in path or "/fdinfo" in path):
            emit("review", where + ": opened " + path)
            raise audit_error("opening " + path + " is not allowed while grading")
        if (path.endswith(".py") or path.endswith(".pyc")) and is_trusted(path) and "w" not in str_(mode):
            source = path
            if path.endswith(".pyc"):  # __pycache__/name.cpython-311.pyc belongs to name.py
                folder, _, name = path.rpartition("/")
                source = folder.removesuffix("/__pycache__") + "/" + name.split(".")[0] + ".py"
                state["last_compiled_file"] = source
            remember_library_file(source, where, "reads")

    def check_compile(source, filename, where, by_import):
        if source is None or not isinstance_(source, (str_, bytes_)):
            return
        text = source.decode("utf-8", "replace") if isinstance_(source, bytes_) else source
        if isinstance_(filename, str_) and is_trusted(filename) and not by_import:
            emit("forbidden", where + ": compiles code under the library file name " + filename)
        lines = substantive(text)
        best_path, best_count = None, 0
        for path, known in library_lines.items():
            count = len_(lines & known)
            if count > best_count:
                best_path, best_count = path, count
        if best_count >= copied_lines:
            emit("forbidden", where + ": runs code copied from the library source file " + best_path, best_path)
        elif not by_import:
            stripped = text.strip()
            first_line = stripped.splitlines()[0][:80] if stripped else ""
            emit("review", where + ": builds and runs code from text (exec/eval/compile of " + repr(first_line) + ")")

    def check_setattr(owner, name, immediate, where):
        owner_file = getattr_(getattr_(owner, "__code__", None), "co_filename", None)
        if owner_file is not None and name in function_attributes and is_trusted(owner_file):
            emit("review", where + ": replaces " + name + " of the library function " + str_(owner.__qualname__))
            raise audit_error("changing " + name + " of a library function is not allowed while grading")
        if immediate and type_(owner) is type_ and is_trusted(getattr_(sys.modules.get(owner.__module__), "__file__",
                                                                       None) or "<none>"):
            emit("review", where + ": sets " + owner.__module__ + "." + owner.__qualname__ + "." + str_(name))

    def check_kernel(op_name, caller):
        if isinstance_(op_name, bytes_):
            op_name = op_name.decode("ascii", "replace")
        if op_name not in forbidden_kernels:
            return
        frame = caller
        while frame is not None:
            filename = frame.f_code.co_filename
            if is_lab_file(filename):
                return  # the lab's own code (a probe, a stand-in layer) asked for it
            if not is_trusted(filename):
                what = ": ran the library routine " if "." in op_name else ": ran the TensorFlow kernel "
                emit("kernel", where_is(frame) + what + op_name)
                return
            frame = frame.f_back

    def check(event, arguments):
        caller, immediate, where = student_frames()
        if event == "exec":
            check_exec(arguments[0], where)
            return
        if event == "grader.kernel":
            check_kernel(arguments[0], caller)
            return
        if where is None:
            return
        caller_file = caller.f_code.co_filename if caller is not None else ""
        by_import = caller_file.startswith("<frozen importlib")
        if event in blocked_events or event.startswith(blocked_prefixes):
            emit("review", where + ": tried " + event + ", which is not allowed while grading")
            raise audit_error(event + " is not allowed while grading")
        if event == "grader.refuse":
            emit("review", where + ": tried to use " + str_(arguments[0]) + ", which is not allowed while grading")
            raise audit_error(str_(arguments[0]) + " is not allowed while grading")
        if event == "open":
            if not by_import:  # imports read sources too
                check_open(arguments[0], arguments[1], where)
        elif event in ("os.listdir", "os.scandir"):
            if str_(arguments[0]).startswith("/proc/"):
                emit("review", where + ": listed " + str_(arguments[0]))
                raise audit_error("listing " + str_(arguments[0]) + " is not allowed while grading")
        elif event in ("os.symlink", "os.link"):
            source = arguments[0].decode() if isinstance_(arguments[0], bytes_) else str_(arguments[0])
            if is_trusted(source):
                remember_library_file(source, where, "links to")
        elif event in ("marshal.loads", "marshal.load"):
            if immediate:
                emit("forbidden", where + ": loads compiled code with marshal", state.get("last_compiled_file"))
        elif event == "compile":
            filename = arguments[1] if isinstance_(arguments[1], str_) else ""
            if immediate or (by_import and not is_trusted(filename)):  # importing a file student code wrote
                check_compile(arguments[0], arguments[1], where, by_import)
        elif event in inspection_events or (event == "object.__getattr__" and arguments[1] in frame_attributes):
            # Frames and the collector reach the grader's own state (probe requests, the channel).
            names = set_(caller.f_code.co_names) if immediate else ()
            if (immediate and names & inspecting_names) or received_by_student(caller):
                what = event if event in inspection_events else "." + arguments[1]
                emit("review", where + ": inspects the running program (" + what + ")")
                raise audit_error("inspecting the running program (" + what + ") is not allowed while grading")
        elif event == "object.__setattr__":
            check_setattr(arguments[0], arguments[1], immediate, where)

    def hook(event, arguments):
        if event not in watched and not event.startswith(blocked_prefixes):
            return
        # Cheap tests first: these events are frequent and almost always uninteresting.
        if event == "grader.kernel":
            name = arguments[0]
            if (name.decode("ascii", "replace") if isinstance_(name, bytes_) else name) not in forbidden_kernels:
                return
        elif event == "object.__getattr__" and arguments[1] not in frame_attributes:
            return
        elif event == "object.__setattr__" and not (arguments[1] in function_attributes
                                                    or type_(arguments[0]) is type_):
            return
        if state["busy"]:
            return
        state["busy"] = True
        try:
            check(event, arguments)
        finally:
            state["busy"] = False

    sys.addaudithook(hook)
