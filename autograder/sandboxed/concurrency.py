"""No threads, signal handlers, timers, traceback dumps or processes started by student code when graded.

Why: code that runs while the grader waits for the next probe request (a thread, or a
signal handler fired by a timer, which also receives the interrupted frame) could read the
grader's requests or write to its results channel out of turn. Each entry point is replaced
by a guard that raises a ``grader.refuse`` audit event first: the audit hook refuses it when
a student frame is on the stack and lets TensorFlow's and Keras's own threads through. The
guards hold nothing but the original function; ``sys.audit`` is bound when they are made.
"""

import _thread
import faulthandler
import signal
import sys
import threading

_SIGNAL_FUNCTIONS = ("signal", "setitimer", "alarm", "set_wakeup_fd", "siginterrupt", "pthread_kill")
_THREAD_FUNCTIONS = ("start_new_thread", "start_new")
_FAULTHANDLER_FUNCTIONS = ("dump_traceback_later", "register", "enable")


def guard(original, what, audit=sys.audit):
    """original, refused to student code: the audit hook decides on the grader.refuse event."""

    def guarded(*arguments, **keywords):
        audit("grader.refuse", what)
        return original(*arguments, **keywords)

    guarded.__name__ = getattr(original, "__name__", what)
    guarded.__doc__ = getattr(original, "__doc__", None)
    return guarded


def install():
    """Replace the entry points of _thread, threading, signal, _signal and faulthandler; returns the guards."""
    guards = []
    targets = [(module, _SIGNAL_FUNCTIONS, "signal") for module in (signal, sys.modules.get("_signal")) if module]
    targets += [(_thread, _THREAD_FUNCTIONS, "a new thread"), (faulthandler, _FAULTHANDLER_FUNCTIONS, "faulthandler")]
    if "_posixsubprocess" in sys.modules:  # the kernel filter denies it anyway; this names the attempt
        targets.append((sys.modules["_posixsubprocess"], ("fork_exec",), "_posixsubprocess"))
    for module, names, kind in targets:
        for name in names:
            original = getattr(module, name, None)
            if original is not None:
                replacement = guard(original, f"{kind}.{name}" if kind != "a new thread" else kind)
                setattr(module, name, replacement)
                guards.append(replacement)
    threading._start_new_thread = _thread.start_new_thread
    return guards
