"""Tests for autograder.forbidden: finding the defining cell and the static scan for built-ins."""

import textwrap

import pytest

from autograder import forbidden

ADAM = ["keras.optimizers.Adam"]
RELU = ["keras.activations.relu", "keras.ops.relu"]

CLEAN_ADAM = textwrap.dedent('''
    import keras
    from keras import ops


    class Adam(keras.optimizers.Optimizer):
        """Adam written with keras.ops only."""

        def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
            super().__init__(learning_rate=learning_rate, **kwargs)
            self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

        def build(self, variables):
            super().build(variables)
            self.m = [self.add_variable_from_reference(v, "m") for v in variables]
            self.v = [self.add_variable_from_reference(v, "v") for v in variables]

        def update_step(self, gradient, variable, learning_rate):
            index = self._get_variable_index(variable)
            m, v = self.m[index], self.v[index]
            self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
            self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
            step = ops.cast(self.iterations + 1, variable.dtype)
            m_hat = keras.ops.divide(m, 1 - ops.power(self.beta_1, step))
            v_hat = keras.ops.divide(v, 1 - ops.power(self.beta_2, step))
            self.assign_sub(variable, learning_rate * m_hat / (keras.ops.sqrt(v_hat) + self.epsilon))


    optimizer = Adam(learning_rate=0.01)
''')


def uses(source, paths=ADAM):
    return forbidden.forbidden_uses(textwrap.dedent(source), paths)


# ---------------------------------------------------------------------------
# defining_sources.


def test_defining_sources_finds_classes_and_functions():
    answers = {
        "adam": "class Adam:\n    pass\n",
        "helpers": "def Adam():\n    return 1\n",
        "other": "def helper():\n    return Adam()\n",
        "broken": "class Adam(:\n",
    }
    found = forbidden.defining_sources(answers, "Adam")
    assert found == {"adam": answers["adam"], "helpers": answers["helpers"]}


def test_defining_sources_finds_nested_definitions():
    answers = {"cell": "if True:\n    class Inner:\n        def relu(self):\n            pass\n"}
    assert forbidden.defining_sources(answers, "relu") == answers
    assert forbidden.defining_sources(answers, "Inner") == answers
    assert forbidden.defining_sources(answers, "missing") == {}


# ---------------------------------------------------------------------------
# forbidden_uses: what it flags.


def test_flags_keras_optimizers_adam():
    assert uses("import keras\noptimizer = keras.optimizers.Adam(0.1)\n") == ["line 2: keras.optimizers.Adam"]


def test_flags_tf_keras_optimizers_adam():
    assert uses("import tensorflow as tf\noptimizer = tf.keras.optimizers.Adam()\n") == [
        "line 2: tf.keras.optimizers.Adam"
    ]


def test_flags_from_import_with_alias_and_its_use():
    result = uses("""
        from keras.optimizers import Adam as A

        def make():
            return A(learning_rate=0.1)
    """)
    assert result == ["line 2: keras.optimizers.Adam", "line 5: A"]


def test_flags_subclassing_the_builtin():
    result = uses("""
        import keras

        class Adam(keras.optimizers.Adam):
            pass
    """)
    assert result == ["line 4: keras.optimizers.Adam"]


def test_flags_importlib_reload():
    result = uses("""
        import importlib
        import keras
        importlib.reload(keras)
    """)
    assert "line 4: importlib.reload" in result


def test_flags_bare_reload_and_dunder_import():
    assert "line 3: reload" in uses("from importlib import reload\nimport keras\nreload(keras)\n")
    assert "line 1: __import__" in uses("optimizers = __import__('keras').optimizers\n")


def test_flags_sys_modules():
    assert "line 2: sys.modules" in uses("import sys\nkeras = sys.modules['keras']\n")


def test_flags_keras_src():
    result = uses("""
        import keras
        ops = keras.src.ops
    """)
    assert result == ["line 3: keras.src", "line 3: keras.src.ops"]


def test_flags_private_keras_module_path_to_the_builtin():
    result = uses("import keras\nkeras.src.optimizers.adam.Adam()\n")
    assert "line 2: keras.src.optimizers.adam.Adam" in result


def test_flags_each_line_once_sorted():
    result = uses("""
        import keras
        a = keras.optimizers.Adam()
        b = keras.optimizers.Adam(); c = keras.optimizers.Adam()
    """)
    assert result == ["line 3: keras.optimizers.Adam", "line 4: keras.optimizers.Adam"]


@pytest.mark.parametrize("source, expected", [
    ("import keras\ndef relu(x):\n    return keras.ops.relu(x)\n", "line 3: keras.ops.relu"),
    ("import keras\ndef relu(x):\n    return keras.activations.relu(x)\n", "line 3: keras.activations.relu"),
    ("import tensorflow as tf\ndef relu(x):\n    return tf.keras.activations.relu(x)\n",
     "line 3: tf.keras.activations.relu"),
    ("from keras.activations import relu as r\ndef relu(x):\n    return r(x)\n", "line 3: r"),
])
def test_flags_forbidden_paths_outside_optimizers(source, expected):
    # The toy lab forbids keras.activations.relu and keras.ops.relu for the student's relu.
    assert expected in forbidden.forbidden_uses(source, RELU)


# ---------------------------------------------------------------------------
# forbidden_uses: what it leaves alone.


def test_clean_optimizer_is_not_flagged():
    assert forbidden.forbidden_uses(CLEAN_ADAM, ADAM) == []


def test_student_defined_adamw_is_not_flagged():
    source = CLEAN_ADAM.replace("class Adam(", "class AdamW(").replace("optimizer = Adam(", "optimizer = AdamW(")
    assert forbidden.forbidden_uses(source, ADAM) == []


def test_other_keras_optimizers_are_not_flagged():
    assert uses("import keras\noptimizer = keras.optimizers.SGD(0.1)\n") == []


def test_clean_relu_with_other_ops_is_not_flagged():
    source = "import keras\ndef relu(x):\n    return keras.ops.maximum(x, 0.0)\n"
    assert forbidden.forbidden_uses(source, RELU) == []


def test_names_in_strings_and_comments_are_not_flagged():
    assert uses("# do not use keras.optimizers.Adam\nname = 'keras.optimizers.Adam'\n") == []


def test_syntax_error_returns_empty_list():
    assert uses("class Adam(keras.optimizers.Adam\n    pass\n") == []
    assert forbidden.forbidden_uses("def (:", RELU) == []


def test_indirect_access_names_importlib_and_private_modules():
    source = "import importlib\nfrom keras.src.optimizers import adam\nm = __import__('keras')\n"
    found = forbidden.indirect_access(source)
    assert any("importlib" in line for line in found)
    assert any("keras.src.optimizers" in line for line in found)
    assert any("__import__" in line for line in found)


def test_indirect_access_ignores_ordinary_code():
    assert forbidden.indirect_access("import keras\nfrom keras import ops\nx = ops.sqrt(4.0)\n") == []
    assert forbidden.indirect_access("def broken(:\n") == []


def test_module_aliases_are_resolved():
    paths = ["tensorflow.GradientTape", "keras.optimizers.Adam"]
    assert forbidden.forbidden_uses("with tf.GradientTape() as tape:\n    pass\n", paths)
    assert forbidden.forbidden_uses("import tensorflow as tflow\nt = tflow.GradientTape()\n", paths)
    assert forbidden.forbidden_uses("from keras import optimizers as o\nclass A(o.Adam):\n    pass\n", paths)
    assert forbidden.forbidden_uses("import numpy as np\nnp.sqrt(2.0)\n", paths) == []


def test_module_imported_from_a_package_is_resolved():
    source = "from keras import initializers\nweights = initializers.GlorotUniform(seed=1)\n"
    assert forbidden.forbidden_uses(source, ["keras.initializers.GlorotUniform"])


BACKEND_PATHS = ["torch.nn.functional.conv2d", "torch.nn.Conv2d", "torch.autograd.grad", "jax.grad",
                 "jax.lax.conv_general_dilated", "jax.scipy.signal.correlate2d", "optax.adam"]


@pytest.mark.parametrize("source", [
    "import torch.nn.functional as F\ny = F.conv2d(x, w)",
    "from torch.nn import functional as F\ny = F.conv2d(x, w)",
    "from torch.nn.functional import conv2d\ny = conv2d(x, w)",
    "import torch.nn as nn\nclass Conv(nn.Conv2d):\n    pass",
    "def f(y, x):\n    import torch\n    return torch.autograd.grad(y, x)",
    "from jax import lax\ny = lax.conv_general_dilated(x, w, (1, 1), 'VALID')",
    "import jax.lax as L\ny = L.conv_general_dilated(x, w, (1, 1), 'VALID')",
    "from jax import grad as g\ny = g(f)(x)",
    "import jax.scipy.signal as signal\ny = signal.correlate2d(a, b)",
    "import optax\nstep = optax.adam(1e-3)",
])
def test_other_backends_built_ins_are_seen_through_import_aliases(source):
    assert forbidden.forbidden_uses(source, BACKEND_PATHS)


def test_the_backends_private_modules_and_operator_registries_are_indirect_access():
    source = "import torch as t\ny = t.ops.aten.conv2d(x, w)\nfrom torch import _C\nimport jax._src.lax\n"
    found = " ".join(forbidden.indirect_access(source))
    for name in ("t.ops.aten.conv2d", "torch._C", "jax._src.lax"):
        assert name in found, (name, found)
    assert forbidden.indirect_access("import torch\nimport jax\nfrom jax import lax\ny = torch.nn.functional.relu(x)\n") == []


def test_names_imported_by_the_setup_cells_resolve_in_the_answer():
    """`ops` imported by the lab's setup cell (not by the answer) still resolves to keras.ops."""
    aliases = forbidden.imported_names(["%pip install labkit", "import keras\nfrom keras import ops\n"])
    assert aliases["ops"] == "keras.ops"
    answer = "def call(self, inputs):\n    return ops.softmax(inputs, axis=self.axis)\n"
    assert forbidden.forbidden_uses(answer, ["keras.ops.softmax"]) == []
    assert forbidden.forbidden_uses(answer, ["keras.ops.softmax"], aliases) == ["line 2: ops.softmax"]
