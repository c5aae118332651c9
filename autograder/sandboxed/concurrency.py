"""No threads, signal handlers or timers started by student code while it is graded.

Why: code that runs while the grader waits for the next probe request (a thread, or a
signal handler fired by a timer, which also receives the interrupted frame) could read the
grader's requests or write to its results channel out of turn. Each entry point is replaced
by a guard that refuses when a student frame is on the stack and passes everything else
(TensorFlow's and Keras's own threads) through.
"""

import _thread
import signal
import sys
import threading

_SIGNAL_FUNCTIONS = ("signal", "setitimer", "alarm", "set_wakeup_fd", "siginterrupt", "pthread_kill")
_THREAD_FUNCTIONS = ("start_new_thread", "start_new")


def _guard(recorder, original, what):
    def guarded(*arguments, **keywords):
        where = recorder.student_location()
        if where is not None:
            recorder.record("review", f"{where}: tried to use {what}, which is not allowed while grading")
            raise PermissionError(f"{what} is not allowed while grading")
        return original(*arguments, **keywords)

    guarded.__name__ = getattr(original, "__name__", what)
    return guarded


def install(recorder):
    """Replace the thread and signal entry points of _thread, threading, signal and _signal."""
    signal_modules = [signal] + [module for module in (sys.modules.get("_signal"),) if module is not None]
    for module in signal_modules:
        for name in _SIGNAL_FUNCTIONS:
            original = getattr(module, name, None)
            if original is not None and not getattr(original, "__wrapped_by_grader__", False):
                guarded = _guard(recorder, original, f"signal.{name}")
                guarded.__wrapped_by_grader__ = True
                setattr(module, name, guarded)
    for name in _THREAD_FUNCTIONS:
        original = getattr(_thread, name, None)
        if original is not None:
            setattr(_thread, name, _guard(recorder, original, "a new thread"))
    threading._start_new_thread = _thread.start_new_thread
