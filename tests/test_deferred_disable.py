"""Forbidden built-ins of packages not loaded when a job starts (torch, JAX on TensorFlow) are disabled on import.

Unit tests on a made-up package (no PyTorch needed), then the attack through the real sandbox: an
answer that imports PyTorch and JAX lazily, by a module name built at run time inside the function
body, and uses their convolution and autodiff on the TensorFlow backend is refused, and PyTorch is
not imported into the job before that.
"""

import importlib.util
import sys
import textwrap

import pytest

from autograder import sandbox
from autograder.sandboxed import deferred_disable, integrity, runner

PACKAGE = "grader_test_fakebackend"


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    """A package, not imported yet, with a function, a class and the function's alias in a submodule."""
    folder = tmp_path / PACKAGE
    (folder / "nn").mkdir(parents=True)
    (folder / "__init__.py").write_text("from . import nn\n\ndef conv(x):\n    return 2 * x\n\nconvolution = conv\n")
    (folder / "nn" / "__init__.py").write_text("class Conv:\n    def __call__(self, x):\n        return 3 * x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    meta_path = list(sys.meta_path)
    yield folder
    sys.meta_path[:] = meta_path
    for name in [name for name in sys.modules if name == PACKAGE or name.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def test_paths_of_packages_not_loaded_are_kept_pending():
    now, pending = deferred_disable.split_by_loaded(["json.dumps", "torch.nn.Conv2d", "torch.conv2d", "optax.adam"],
                                                    modules={"json": object()})
    assert now == ["json.dumps"]
    assert pending == {"torch": ("torch.nn.Conv2d", "torch.conv2d"), "optax": ("optax.adam",)}


def test_a_package_imported_later_by_a_built_name_is_disabled_right_after(fake_package):
    paths = [f"{PACKAGE}.conv", f"{PACKAGE}.nn.Conv", "grader_test_missing_package.thing"]
    files, finder, functions, catch_up = runner.disable_builtins(paths, defer=True)
    assert files == {} and PACKAGE not in sys.modules and sys.meta_path[0] is finder

    def answer(x):
        module = __import__("grader_test_" + "fakebackend")  # inside the body, by a name built at run time
        return module.conv(x)

    with pytest.raises(RuntimeError, match="disabled while grading"):
        answer(1)
    module = sys.modules[PACKAGE]
    with pytest.raises(RuntimeError, match="disabled while grading"):
        module.convolution(1)  # every alias of the same function
    with pytest.raises(RuntimeError, match="disabled while grading"):
        module.nn.Conv()
    assert "exec_module" not in vars(module.__loader__)  # the loader is the real one again
    assert runner.is_disabled(f"{PACKAGE}.conv") and runner.is_disabled(f"{PACKAGE}.nn.Conv")
    assert catch_up() == []  # nothing left to do
    with pytest.raises(ImportError):
        __import__("grader_test_missing_package")  # a package that is not installed stays missing


def test_a_package_loaded_past_the_hook_is_disabled_by_catch_up(fake_package):
    files, finder, functions, catch_up = runner.disable_builtins([f"{PACKAGE}.conv"], defer=True)
    sys.meta_path.remove(finder)  # what student code could do
    import grader_test_fakebackend

    assert grader_test_fakebackend.conv(1) == 2
    assert catch_up() == [PACKAGE]
    with pytest.raises(RuntimeError, match="disabled while grading"):
        grader_test_fakebackend.conv(1)


def test_the_snapshot_puts_the_hook_back_first_and_reports_it(fake_package):
    files, finder, functions, catch_up = runner.disable_builtins([f"{PACKAGE}.conv"], defer=True)
    snapshot = integrity.Snapshot()
    snapshot.protect(classes=[finder], functions=functions, finders=[finder])
    assert snapshot.restore() == []
    sys.meta_path.remove(finder)
    sys.meta_path.insert(0, type("StudentFinder", (), {"find_spec": staticmethod(lambda *arguments: None)}))
    changes = snapshot.restore()
    assert any("sys.meta_path" in change for change in changes), changes
    assert sys.meta_path[0] is finder
    finder.find_spec = staticmethod(lambda *arguments: None)
    assert any("DeferredDisabler.find_spec" in change for change in snapshot.restore())


ATTACK = textwrap.dedent('''
    import sys
    if "torch" in sys.modules:  # (JAX is: TensorFlow's lite utilities import it wherever it is installed)
        raise SystemExit("torch was imported into the job before student code ran")

    def cross_correlate2d(image):
        """PyTorch's convolution, imported lazily by a built name so no import line names it."""
        torch = __import__("tor" + "ch")
        functional = getattr(torch.nn, "functional")
        tensor = torch.as_tensor(image, dtype=torch.float32)[None, None]
        return functional.conv2d(tensor, torch.ones(1, 1, 1, 1))[0, 0].numpy()
''')

JAX_AUTODIFF = textwrap.dedent('''
    import importlib
    jax = importlib.import_module("ja" + "x")
    try:
        jax.grad(lambda x: x * x)(1.0)
    except RuntimeError as error:
        if "disabled while grading" not in str(error):
            raise
    else:
        raise SystemExit("jax.grad was allowed")
''')


@pytest.mark.slow
@pytest.mark.skipif(sandbox.keras_backend() != "tensorflow", reason="the attack is on the TensorFlow backend")
def test_lazily_imported_torch_and_jax_built_ins_are_refused_on_tensorflow():
    job = {"cells": [{"label": "answer", "source": ATTACK, "origin": "answer"},
                     {"label": "jax", "source": JAX_AUTODIFF, "origin": "answer"}],
           "probes": [{"key": "conv", "probe": "labkit.function_probes.outputs_on", "symbol": "cross_correlate2d",
                       "arguments": {"inputs": [[1.0, 2.0], [3.0, 4.0]]}, "hidden": False}],
           "forbidden": ["keras.ops.conv", "tensorflow.nn.conv2d", "torch.nn.functional.conv2d", "torch.nn.Conv2d",
                         "jax.grad", "jax.lax.conv_general_dilated", "optax.adam"],
           "environment": {}}
    result = sandbox.run_job(job, sandbox.Limits(cell_seconds=60, probe_seconds=60, total_seconds=240))
    assert not result.infrastructure_error, result.output[-2000:]
    assert result.cells == {0: "ok", 1: "ok"}, result.output[-2000:]
    assert "outputs" not in result.probes["conv"]
    # Refused either way: importing PyTorch from student code loads its libraries with ctypes, which the
    # sandbox refuses; were it allowed, the import hook would disable conv2d as the import ends.
    # (Where PyTorch is not installed, as in CI's environment, the import itself fails: nothing to refuse.)
    error = result.probes["conv"]["error"]
    if importlib.util.find_spec("torch") is None:
        assert "No module named 'torch'" in error, error
    else:
        assert "torch.nn.functional.conv2d is disabled while grading" in error or "ctypes.dlopen is not allowed" in error
    assert not result.changed, result.changed  # the hook itself changes nothing the snapshot protects
