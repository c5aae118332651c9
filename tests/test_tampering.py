"""autograder.tampering names monkeypatching without flagging ordinary code."""

from autograder import tampering


def test_names_numpy_keras_builtins_and_labkit_patches():
    source = (
        "import numpy as np\nimport builtins\nimport labkit.checks as c\nfrom keras import ops\n"
        "np.allclose = lambda *a, **k: True\nbuiltins.len = lambda x: 0\nc.compare_outputs = None\n"
        "ops.sqrt = abs\nsetattr(np, 'isclose', None)\n"
    )
    found = tampering.monkeypatches(source)
    assert "line 5: numpy.allclose" in found
    assert "line 6: builtins.len" in found
    assert "line 7: labkit.checks.compare_outputs" in found
    assert "line 8: keras.ops.sqrt" in found
    assert any("numpy.* (via setattr)" in line for line in found)


def test_ordinary_code_is_not_flagged():
    source = (
        "import numpy as np\nimport keras\n\nclass Adam(keras.optimizers.Optimizer):\n"
        "    def build(self, variables):\n        self.moments = []\n        self.learning_rate_value = 0.1\n"
        "values = np.zeros(3)\nvalues[0] = 1.0\nsetattr(values, 'flags', None)\n"
    )
    assert tampering.monkeypatches(source) == []


def test_syntax_errors_are_not_reported_as_tampering():
    assert tampering.monkeypatches("def broken(:\n") == []
