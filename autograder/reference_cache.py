"""An on-disk cache of each lab's references, so that a batch does not recompute them on every call.

Computing references starts a sandbox that imports TensorFlow (seconds to a minute per lab).
An entry is keyed by everything they depend on: the lab's source notebook (its checks), the
grader's own sources (`fingerprint.grader_version`), the installed Keras, TensorFlow and NumPy,
the Python version and the Keras backend. Entries live in $AUTOGRADER_CACHE, else in
$XDG_CACHE_HOME/keras-training-labs/references (~/.cache/... by default), readable by this
user only. Writes are atomic. An entry that is unreadable, corrupt, or does not cover exactly
the lab's checks is ignored and recomputed; a folder that cannot be used means no caching.
"""

import hashlib
import importlib.metadata
import json
import os
import pathlib
import platform
import sys
import tempfile

from autograder import fingerprint, grading, sandbox
from labkit import checks as labkit_checks

CACHE_VARIABLE = "AUTOGRADER_CACHE"
CACHE_SUBFOLDER = pathlib.Path("keras-training-labs") / "references"
ENTRY_FORMAT = 1
VERSIONED_PACKAGES = ("keras", "tensorflow", "numpy")
DEFAULT_KERAS_BACKEND = "tensorflow"
def cache_folder():
    """Where entries go ($AUTOGRADER_CACHE, else the XDG cache folder), or None when there is nowhere to put them."""
    configured = os.environ.get(CACHE_VARIABLE)
    if configured:
        return pathlib.Path(configured)
    cache_home = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(cache_home):  # the XDG rule: a relative value is ignored
        try:
            cache_home = pathlib.Path.home() / ".cache"
        except RuntimeError:  # no home folder to find
            return None
    return pathlib.Path(cache_home) / CACHE_SUBFOLDER


def visible_in_sandbox(folder):
    """True when student code in the sandbox could read folder: a cache there would show hidden references."""
    return sandbox.shown_to_students(folder)


def _package_version(name):
    """The installed version of a distribution, read from its metadata (the package is not imported)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def cache_key(lab):
    """A digest of everything the lab's references depend on; OSError when its source cannot be read."""
    pieces = {
        "format": ENTRY_FORMAT,
        "lab_id": lab.lab_id,
        "lab_source": hashlib.sha256(pathlib.Path(lab.source_path).read_bytes()).hexdigest(),
        "grader": fingerprint.grader_version(),
        "keras_backend": os.environ.get("KERAS_BACKEND") or DEFAULT_KERAS_BACKEND,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "versions": {name: _package_version(name) for name in VERSIONED_PACKAGES},
    }
    return hashlib.sha256(json.dumps(pieces, sort_keys=True).encode()).hexdigest()


def _check_keys(lab):
    """The keys every complete set of references of this lab has: one per check."""
    return {graded.key for graded in lab.all_checks()}


def _needs_probes(lab):
    """True when some check's reference comes from running a probe (literal values cost nothing to compute)."""
    return any(graded.check.expected is None for graded in lab.all_checks())


def read_entry(path, key, check_keys):
    """The references stored at path, or None when the entry is missing, damaged or not for these checks."""
    try:
        data = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError, MemoryError):  # missing, unreadable, truncated, not JSON
        return None
    if not isinstance(data, dict) or data.get("format") != ENTRY_FORMAT or data.get("key") != key:
        return None
    encoded = data.get("references")
    if not isinstance(encoded, dict) or set(encoded) != check_keys:
        return None
    try:
        return {check_key: labkit_checks.decode_outputs(outputs) for check_key, outputs in encoded.items()}
    except Exception:  # a damaged entry can fail to decode in any way: it is only ever recomputed
        return None


def write_entry(folder, key, lab_id, references):
    """Store references atomically (temporary file, then os.replace); False when the folder cannot be written."""
    folder = pathlib.Path(folder)
    data = {"format": ENTRY_FORMAT, "key": key, "lab_id": lab_id,
            "references": {check_key: labkit_checks.encode_outputs(outputs)
                           for check_key, outputs in references.items()}}
    temporary = None
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=f".{key}.", suffix=".tmp")
        with os.fdopen(descriptor, "w", encoding="utf-8") as entry_file:
            json.dump(data, entry_file)
            entry_file.flush()
            os.fsync(entry_file.fileno())
        os.replace(temporary, folder / f"{key}.json")
    except (OSError, TypeError, ValueError):  # read-only or full disk, or a value JSON cannot hold
        if temporary is not None:
            pathlib.Path(temporary).unlink(missing_ok=True)
        return False
    return True


def _usable_folder():
    """The cache folder, or None when caching is off (no folder, or one that student code could read)."""
    folder = cache_folder()
    if folder is None:
        return None
    if visible_in_sandbox(folder):
        print(f"WARNING: the reference cache {folder} lies in a folder the grading sandbox shows to student "
              f"code, so it is not used; set {CACHE_VARIABLE} to a private folder", file=sys.stderr)
        return None
    return folder


def lab_references(lab, isolation="auto"):
    """The lab's references: from the cache when an entry for exactly this lab, grader and Keras is there,
    else `grading.compute_references`, whose result is then cached."""
    if not _needs_probes(lab):
        return grading.compute_references(lab, isolation)
    folder = _usable_folder()
    key = None
    if folder is not None:
        try:
            key = cache_key(lab)
        except OSError:  # the source went away: compute, and do not cache
            key = None
    check_keys = _check_keys(lab)
    if key is not None:
        cached = read_entry(folder / f"{key}.json", key, check_keys)
        if cached is not None:
            # Literal expected values come from the lab itself, exactly as compute_references gives them.
            cached.update({graded.key: graded.check.expected for graded in lab.all_checks()
                           if graded.check.expected is not None})
            return cached
    references = grading.compute_references(lab, isolation)
    if key is not None and isinstance(references, dict) and set(references) == check_keys:
        write_entry(folder, key, lab.lab_id, references)
    return references
