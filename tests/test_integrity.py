"""The sandbox's snapshot of protected module state: what it restores and reports, and what it leaves alone."""

import builtins

from autograder.sandboxed import integrity


def test_a_name_added_to_builtins_is_removed_and_reported():
    snapshot = integrity.Snapshot()
    builtins.graded_by_the_student = True
    try:
        changes = snapshot.restore()
    finally:
        vars(builtins).pop("graded_by_the_student", None)
    assert "builtins.graded_by_the_student (added)" in changes
    assert not hasattr(builtins, "graded_by_the_student")


def test_a_replaced_builtin_is_put_back_and_reported():
    snapshot = integrity.Snapshot()
    original = builtins.abs
    builtins.abs = lambda value: 0
    try:
        changes = snapshot.restore()
    finally:
        builtins.abs = original
    assert "builtins.abs" in changes
    assert builtins.abs is original


def test_a_pybind11_registry_added_by_a_library_import_is_kept_and_not_reported():
    # pybind11 extensions (TensorFlow's, imported lazily by Keras on any backend) add their registry to builtins.
    key = "__pybind11_internals_v4_test_abi__"
    snapshot = integrity.Snapshot()
    setattr(builtins, key, object())
    try:
        changes = snapshot.restore()
        assert hasattr(builtins, key)
    finally:
        vars(builtins).pop(key, None)
    assert changes == []
