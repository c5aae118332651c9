"""The static scan names code that hides what it calls; ordinary code is not flagged."""

import pytest

from autograder import code_scan, obfuscation


@pytest.mark.parametrize("source, named", [
    ("exec('x = 1')", "exec(...)"),
    ("f = eval('len')", "eval(...)"),
    ("import keras\nattribute = 'Ad' + 'am'\ngetattr(keras.optimizers, attribute)", "name computed at run time"),
    ("import keras\nvars(keras)['ops']", "vars() reaches"),
    ("globals()['import' + 'lib']", "globals()"),
    ("import inspect", "imports inspect"),
    ("import ctypes", "imports ctypes"),
    ("def f():\n    pass\nf.__code__", "uses .__code__"),
    ("__builtins__['len']", "__builtins__"),
    ("import sys\nsys._getframe(1).f_back", "uses .f_back"),
    ("error.__traceback__.tb_frame", "uses .tb_frame"),
])
def test_hiding_constructs_are_named(source, named):
    found = obfuscation.hiding_constructs(source)
    assert any(named in item for item in found), found


@pytest.mark.parametrize("source", [
    "import numpy as np\n\ndef relu(values):\n    return np.maximum(values, 0.0)\n",
    "class Layer:\n    def get_config(self):\n        return {name: getattr(self, name) for name in ('a', 'b')}\n",
    "def update(self, name):\n    return getattr(self, name)\n",
    "import keras\nkeras.ops.matmul(a, b)\n",
    "config = dict(self.__dict__)\n",
])
def test_ordinary_code_is_not_flagged(source):
    assert obfuscation.hiding_constructs(source) == []


def test_unscannable_code_is_named():
    deep = "x = " + "-" * 200_000 + "1"
    found = obfuscation.hiding_constructs(deep)
    assert found and "could not be scanned" in found[0]
    assert obfuscation.hiding_constructs("def broken(:\n") == []  # syntax errors fail in the sandbox


def test_scan_limit_is_a_named_constant():
    assert code_scan.MAX_SOURCE_CHARACTERS >= 100_000
