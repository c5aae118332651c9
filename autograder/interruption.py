"""Stopping a batch cleanly on SIGINT or SIGTERM: between two commits, never in the middle of one.

While a batch waits for results, a signal stops it at once; while it commits one, the signal
waits until the commit is complete. The grader then kills the sandboxes it started and exits
with 130 (SIGINT) or 143 (SIGTERM); everything committed is kept, and the next run resumes.
"""

import contextlib
import os
import signal
import threading

import psutil


class BatchInterrupted(BaseException):
    """SIGINT or SIGTERM stopped a batch between two commits; results holds what was done.

    A BaseException, like KeyboardInterrupt, so that no `except Exception` on the way turns it
    into a not-graded submission.
    """

    def __init__(self, signal_number, results=None):
        super().__init__(f"interrupted by {signal.Signals(signal_number).name}")
        self.signal_number = signal_number
        self.results = results

    @property
    def exit_status(self):
        """128 + the signal number: 130 for SIGINT, 143 for SIGTERM, as shells report it."""
        return 128 + self.signal_number


class Interruption:
    """SIGINT/SIGTERM handlers for a batch: stop at once while waiting, or right after a commit."""

    def __init__(self):
        self.signal_number = None
        self.committing = False
        self.previous_handlers = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():  # handlers can only be set there
            for signal_number in (signal.SIGINT, signal.SIGTERM):
                self.previous_handlers[signal_number] = signal.signal(signal_number, self._handle)
        return self

    def __exit__(self, *exception_info):
        for signal_number, handler in self.previous_handlers.items():
            signal.signal(signal_number, handler)
        return False

    def _handle(self, signal_number, frame):
        self.signal_number = signal_number
        if not self.committing:
            raise BatchInterrupted(signal_number)

    @contextlib.contextmanager
    def commit_section(self):
        """A signal that arrives inside waits until the commit is complete."""
        self.committing = True
        try:
            yield
        finally:
            self.committing = False
        if self.signal_number is not None:
            raise BatchInterrupted(self.signal_number)


def stop_sandboxes():
    """Kill every process this grader started, with its process group (what an interrupted batch leaves)."""
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(OSError, psutil.Error):
            if os.getpgid(child.pid) == child.pid:
                os.killpg(child.pid, signal.SIGKILL)
            else:
                child.kill()
