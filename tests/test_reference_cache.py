"""The on-disk reference cache: a hit never runs a sandbox, anything that could change a reference is a miss,
and a damaged, unwritable or exposed cache costs a recomputation, never a crash or a wrong reference."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from autograder import batch, fingerprint, grading, lab as lab_module, reference_cache, sandbox
from labkit import checks as labkit_checks
from tests.support import fake_grading, toy_lab

PROBE_OUTPUTS = [np.array([0.0, 0.0, 2.5])]


class CountingReferences:
    """grading.compute_references without a sandbox: complete references, and a count of the calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self, lab, isolation="auto"):
        self.calls += 1
        return {graded.key: graded.check.expected if graded.check.expected is not None else PROBE_OUTPUTS
                for graded in lab.all_checks()}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache folder of this test's own."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(reference_cache.CACHE_VARIABLE, str(folder))
    return folder


@pytest.fixture
def computed(monkeypatch):
    counting = CountingReferences()
    monkeypatch.setattr(grading, "compute_references", counting)
    return counting


@pytest.fixture
def toy(tmp_path):
    return lab_module.load_lab(toy_lab.build(tmp_path / "solutions"))


def entries(folder):
    return sorted(folder.glob("*.json"))


def assert_same_references(first, second):
    assert set(first) == set(second)
    for key in first:
        assert json.dumps(labkit_checks.encode_outputs(first[key])) == json.dumps(
            labkit_checks.encode_outputs(second[key]))


def test_a_second_call_reads_the_cache_instead_of_computing(cache, computed, toy):
    first = reference_cache.lab_references(toy, "bwrap")
    second = reference_cache.lab_references(toy, "bwrap")
    assert computed.calls == 1
    assert len(entries(cache)) == 1
    assert_same_references(first, second)
    probe_key = next(graded.key for graded in toy.all_checks() if graded.check.expected is None)
    assert isinstance(second[probe_key][0], np.ndarray)
    for graded in toy.all_checks():  # literal values are the lab's own objects, not a decoded copy
        if graded.check.expected is not None:
            assert second[graded.key] is graded.check.expected


def test_a_missing_cache_folder_is_created_private(tmp_path, monkeypatch, computed, toy):
    folder = tmp_path / "not" / "yet" / "there"
    monkeypatch.setenv(reference_cache.CACHE_VARIABLE, str(folder))
    reference_cache.lab_references(toy)
    assert len(entries(folder)) == 1
    assert folder.stat().st_mode & 0o777 == 0o700
    assert entries(folder)[0].stat().st_mode & 0o077 == 0


def test_an_edited_lab_source_is_a_miss(cache, computed, toy, tmp_path):
    reference_cache.lab_references(toy)
    source = toy.source_path.read_text()
    toy.source_path.write_text(source.replace("negative inputs become 0", "negative inputs become zero"))
    edited = lab_module.load_lab(toy.source_path)
    reference_cache.lab_references(edited)
    assert computed.calls == 2
    assert len(entries(cache)) == 2


def test_another_lab_with_the_same_source_is_a_miss(cache, computed, toy, tmp_path):
    copy_path = tmp_path / "solutions" / "01_copy" / "01_copy.ipynb"
    copy_path.parent.mkdir()
    copy_path.write_bytes(toy.source_path.read_bytes())
    reference_cache.lab_references(toy)
    reference_cache.lab_references(lab_module.load_lab(copy_path))
    assert computed.calls == 2


def test_a_changed_grader_is_a_miss(cache, computed, toy, monkeypatch):
    reference_cache.lab_references(toy)
    monkeypatch.setattr(fingerprint, "grader_version", lambda: "another labkit and autograder")
    reference_cache.lab_references(toy)
    assert computed.calls == 2


@pytest.mark.parametrize("package", reference_cache.VERSIONED_PACKAGES)
def test_another_installed_version_is_a_miss(cache, computed, toy, monkeypatch, package):
    reference_cache.lab_references(toy)
    installed = reference_cache._package_version
    monkeypatch.setattr(reference_cache, "_package_version",
                        lambda name: "999.0" if name == package else installed(name))
    reference_cache.lab_references(toy)
    assert computed.calls == 2


def test_the_keras_backend_is_part_of_the_key(cache, computed, toy, monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    reference_cache.lab_references(toy)
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")  # the default, named
    reference_cache.lab_references(toy)
    assert computed.calls == 1
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    reference_cache.lab_references(toy)
    assert computed.calls == 2


def test_versions_are_read_without_importing_the_packages():
    assert reference_cache._package_version("numpy") == np.__version__
    assert reference_cache._package_version("no-such-distribution-here") == "not installed"


def test_the_key_does_not_import_tensorflow(toy):
    code = ("import sys\nfrom autograder import lab, reference_cache\n"
            f"reference_cache.cache_key(lab.load_lab({str(toy.source_path)!r}))\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'imported'\n")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr


def _valid_entry(cache):
    (path,) = entries(cache)
    return path, json.loads(path.read_text())


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "missing key", "extra key", "other key",
                                    "bad array", "not a dict", "other format", "not utf-8"])
def test_a_damaged_entry_is_recomputed_and_replaced(cache, computed, toy, damage):
    first = reference_cache.lab_references(toy)
    path, data = _valid_entry(cache)
    text = path.read_text()
    probe_key = next(graded.key for graded in toy.all_checks() if graded.check.expected is None)
    if damage == "garbage":
        path.write_text("this is not JSON {")
    elif damage == "truncated":
        path.write_text(text[: len(text) // 2])
    elif damage == "empty":
        path.write_text("")
    elif damage == "missing key":
        del data["references"][probe_key]
        path.write_text(json.dumps(data))
    elif damage == "extra key":
        data["references"]["test_relu:99:0123456789"] = [1.0]
        path.write_text(json.dumps(data))
    elif damage == "other key":
        data["key"] = "0" * 64
        path.write_text(json.dumps(data))
    elif damage == "bad array":
        data["references"][probe_key] = [{"__ndarray__": [1.0, 2.0], "shape": [5, 7]}]
        path.write_text(json.dumps(data))
    elif damage == "not a dict":
        path.write_text(json.dumps([data]))
    elif damage == "other format":
        data["format"] = reference_cache.ENTRY_FORMAT + 1
        path.write_text(json.dumps(data))
    elif damage == "not utf-8":
        path.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    again = reference_cache.lab_references(toy)
    assert computed.calls == 2
    assert_same_references(first, again)
    reference_cache.lab_references(toy)  # the recomputed references were written back
    assert computed.calls == 2


def test_an_unreadable_entry_is_recomputed(cache, computed, toy):
    reference_cache.lab_references(toy)
    (path,) = entries(cache)
    path.unlink()
    path.mkdir()  # a folder where the entry should be: reading and replacing it both fail
    references = reference_cache.lab_references(toy)
    assert computed.calls == 2
    assert set(references) == {graded.key for graded in toy.all_checks()}


def test_a_cache_folder_that_cannot_be_created_only_disables_caching(tmp_path, monkeypatch, computed, toy):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(reference_cache.CACHE_VARIABLE, str(blocker / "cache"))
    for _ in range(2):
        assert set(reference_cache.lab_references(toy)) == {graded.key for graded in toy.all_checks()}
    assert computed.calls == 2


def test_a_failed_write_leaves_no_temporary_file(cache, computed, toy, monkeypatch):
    def fail(*arguments, **keywords):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(reference_cache.os, "replace", fail)
    reference_cache.lab_references(toy)
    assert list(cache.iterdir()) == []


def test_incomplete_references_are_returned_but_never_cached(cache, toy, monkeypatch):
    monkeypatch.setattr(grading, "compute_references", lambda lab, isolation="auto": {})
    assert reference_cache.lab_references(toy) == {}
    assert not cache.exists() or entries(cache) == []


def test_failing_references_are_not_cached(cache, toy, monkeypatch):
    def fail(lab, isolation="auto"):
        raise grading.ReferenceComputationError("the reference failed")

    monkeypatch.setattr(grading, "compute_references", fail)
    with pytest.raises(grading.ReferenceComputationError):
        reference_cache.lab_references(toy)
    assert not cache.exists() or entries(cache) == []


def test_a_lab_with_only_literal_values_needs_no_cache(cache, computed, toy, monkeypatch):
    monkeypatch.setattr(reference_cache, "_needs_probes", lambda lab: False)
    reference_cache.lab_references(toy)
    reference_cache.lab_references(toy)
    assert computed.calls == 2
    assert not cache.exists()


def test_a_cache_the_sandbox_could_show_to_students_is_not_used(monkeypatch, computed, toy, capsys):
    exposed = os.path.join(sys.prefix, "reference-cache-that-must-not-be-made")
    monkeypatch.setenv(reference_cache.CACHE_VARIABLE, exposed)
    assert reference_cache.visible_in_sandbox(exposed)
    reference_cache.lab_references(toy)
    assert not os.path.exists(exposed)
    assert "not used" in capsys.readouterr().err


def test_the_default_folder_follows_xdg(tmp_path, monkeypatch):
    monkeypatch.delenv(reference_cache.CACHE_VARIABLE, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert reference_cache.cache_folder() == tmp_path / "xdg" / "keras-training-labs" / "references"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/is/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert reference_cache.cache_folder() == tmp_path / "home" / ".cache" / "keras-training-labs" / "references"
    assert not reference_cache.visible_in_sandbox(reference_cache.cache_folder())


def test_a_regrade_reuses_the_cached_references(cache, tmp_path, monkeypatch):
    fake_grading.install(monkeypatch)
    counting = CountingReferences()
    monkeypatch.setattr(grading, "compute_references", counting)
    source_path = toy_lab.build(tmp_path / "solutions")
    lab = lab_module.load_lab(source_path)
    fake_grading.write_submissions(tmp_path / "submissions", source_path, ["amy", "bob"])
    submissions = batch.find_submissions(tmp_path / "submissions", [lab.lab_id])
    for _ in range(2):
        results = batch.grade_folder(submissions, [lab], tmp_path / "grading", progress=False, force=True)
        assert results.graded == 2
    assert counting.calls == 1


@pytest.mark.slow
def test_cached_references_equal_the_sandboxed_ones(cache, toy, monkeypatch):
    isolation = sandbox.resolve_isolation("auto", allow_unsandboxed=True)
    computed_references = reference_cache.lab_references(toy, isolation)
    jobs = []
    monkeypatch.setattr(sandbox, "run_job", lambda *arguments, **keywords: jobs.append(arguments))
    cached_references = reference_cache.lab_references(toy, isolation)
    assert jobs == []
    assert_same_references(computed_references, cached_references)
