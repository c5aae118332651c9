"""The fork runner: imports Keras once, then forks one child per grading job.

Why: importing TensorFlow and Keras costs seconds, the student's cells and probes often much
less, so a sandbox that is started once and forks a ready child per submission grades many
times faster. Why the children stay isolated from each other and from this process:

* a child is forked *before* its job is read, so this process never holds a submission, a
  probe, a reference or a token that a later child could find in the memory it inherits;
* children run one at a time, and before the next one is forked this process empties every
  writable folder (``/scratch``, ``/tmp``, ``/dev/shm``; what is mounted inside them, such as a
  project or virtualenv that lives under the host's ``/tmp``, stays); the process filter denies the child
  the kernel objects that would outlive it (System V IPC, message queues, keyrings) and
  ptrace, and a child cannot create processes, so nothing of it is left once it exits;
* this process is not dumpable, so a child (same user) cannot read or write its memory
  through ``/proc`` or ptrace;
* only this process can say that a job ended: it writes to a control pipe whose descriptor
  each child closes before reading its job. The grader sends the next job only after that.

Started by the grader as ``python -m autograder.sandboxed.server``; the first line of
standard input says which descriptors are the results channel and the control pipe and
which folders to empty. Every later line of standard input belongs to the children.
"""

import json
import os
import re
import stat
import sys

PR_SET_DUMPABLE = 4


def _read_line(descriptor):
    """One line read byte by byte, so that nothing meant for the children is consumed here."""
    data = bytearray()
    while not data.endswith(b"\n"):
        chunk = os.read(descriptor, 1)
        if not chunk:
            break
        data += chunk
    return data.decode("utf-8")


def _set_not_dumpable():
    """Children (same user) may then neither ptrace this process nor open its /proc files."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")


def _remove(path):
    """Delete a file or a folder tree left by a child, whatever permissions it set on it."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        os.chmod(path, 0o700)
        for entry in os.listdir(path):
            _remove(os.path.join(path, entry))
        os.rmdir(path)
    else:
        os.unlink(path)


def mount_points(mountinfo="/proc/self/mountinfo"):
    """Every mount point of this process: the interpreter, the project and the virtualenv may be
    bound (read-only) inside /tmp when they live under the host's /tmp."""
    points = set()
    with open(mountinfo, encoding="utf-8", errors="replace") as table:
        for line in table:
            fields = line.split()
            if len(fields) > 4:  # the fifth field, with space, tab, newline and backslash escaped in octal
                points.add(re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), fields[4]))
    return points


def empty_folder(folder, keep=frozenset()):
    """Remove everything inside folder (the folder itself stays: it is a mount point), except the
    mount points in keep and the folders that lead to them, whose other contents are removed."""
    for entry in os.listdir(folder):
        path = os.path.join(folder, entry)
        if path in keep:
            continue
        if any(point.startswith(path + os.sep) for point in keep):
            empty_folder(path, keep)
        else:
            _remove(path)


def serve(config):
    """Fork a child per job until standard input ends; report each child's exit on the control pipe."""
    from autograder.sandboxed import runner

    runner.import_libraries()
    _set_not_dumpable()
    wipe = config["wipe"]
    keep = frozenset(point for point in mount_points() if any(point.startswith(folder + os.sep) for folder in wipe))
    control_fd, channel_fd = config["control_fd"], config["channel_fd"]
    os.write(control_fd, (json.dumps({"event": "server_ready", "pid": os.getpid()}) + "\n").encode())
    while True:
        child = os.fork()
        if child == 0:
            os.close(control_fd)
            runner.serve_job(channel_fd)  # never returns
        _, status = os.waitpid(child, 0)
        exit_code = os.waitstatus_to_exitcode(status)
        for folder in wipe:
            empty_folder(folder, keep)
        os.write(control_fd, (json.dumps({"event": "exited", "status": exit_code}) + "\n").encode())
        if exit_code == runner.NO_JOB:
            return


def main():
    config = json.loads(_read_line(0))
    serve(config)
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
