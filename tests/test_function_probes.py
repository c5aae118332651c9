"""Tests for labkit.function_probes.outputs_on on every backend: how a function's results are read."""

import subprocess
import sys

import keras
import numpy as np
from keras import ops

from labkit import checks, function_probes


def doubled_through_a_variable(values):
    """A correct doubling whose result is a backend tensor computed from a trainable keras.Variable (on torch: a
    tensor that requires grad, which np.asarray cannot read)."""
    return keras.Variable(values) * 2.0


def doubled_as_a_list_of_tensors(values):
    doubled = ops.convert_to_tensor(values) * 2.0
    return [doubled[index] for index in range(doubled.shape[0])]


def test_backend_tensors_are_read_with_keras_convert_to_numpy():
    inputs = [[1.0, -2.0, 3.0]]
    for function in (doubled_through_a_variable, doubled_as_a_list_of_tensors, lambda values: 2.0 * values):
        outputs = function_probes.outputs_on(function, inputs)["outputs"]
        assert outputs[0].dtype == np.float64
        np.testing.assert_array_equal(outputs[0], [2.0, -4.0, 6.0])
    check = function_probes.matches("doubled", "doubling", inputs, expected_outputs=[[2.0, -4.0, 6.0]])
    assert checks.evaluate(check, {"doubled": doubled_through_a_variable}).passed


def test_plain_numpy_functions_do_not_load_keras():
    code = (
        "import sys, numpy as np; from labkit import function_probes; "
        "outputs = function_probes.outputs_on(np.abs, [[-1.0, 2.0]])['outputs']; "
        "assert outputs[0].tolist() == [1.0, 2.0]; "
        "loaded = [name for name in ('keras', 'tensorflow', 'jax', 'torch') if name in sys.modules]; "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
