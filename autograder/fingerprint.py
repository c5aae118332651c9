"""Fingerprints of what was graded, so that running a batch again skips what has not changed.

A fingerprint is a SHA-256 over the submitted notebook's bytes, the lab's source notebook and
the grader version (a digest of the autograder and labkit source files): a new submission, an
edited lab or a changed grader each make every affected submission be graded again.
"""

import functools
import hashlib
import pathlib

import labkit
from autograder import submission

GRADER_PACKAGES = (pathlib.Path(__file__).parent, pathlib.Path(labkit.__file__).parent)


def _add(digest, label, content):
    """Add one labelled, length-prefixed piece, so that pieces cannot run into each other."""
    digest.update(f"{label}:{len(content)}:".encode())
    digest.update(content)


@functools.lru_cache(maxsize=None)
def grader_version():
    """A digest of every Python source file of the autograder and labkit packages."""
    digest = hashlib.sha256()
    for package in GRADER_PACKAGES:
        for path in sorted(package.rglob("*.py")):
            _add(digest, path.relative_to(package.parent).as_posix(), path.read_bytes())
    return digest.hexdigest()


def _notebook_content(notebook_path):
    """The submission's bytes, or why it cannot be read (a link is never followed, even to hash it)."""
    try:
        return submission.read_notebook_bytes(notebook_path)
    except submission.UnreadableNotebook as error:
        return f"unreadable: {error}".encode()


def submission_fingerprint(notebook_path, lab_source_path):
    """The fingerprint of grading one notebook against one lab with this grader."""
    digest = hashlib.sha256()
    _add(digest, "grader", grader_version().encode())
    _add(digest, "lab", pathlib.Path(lab_source_path).read_bytes())
    _add(digest, "notebook", _notebook_content(notebook_path))
    return digest.hexdigest()
