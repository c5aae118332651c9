"""Probes for plain functions: call the function on fixed inputs and return what it gives."""

import numbers

import numpy as np

from labkit import checks


def _as_float64(value):
    """A function's result as a float64 NumPy array: NumPy and Python values directly, backend tensors (also in
    lists) through keras.ops.convert_to_numpy, which reads every backend's tensors (np.asarray cannot read a torch
    tensor that requires grad). Keras is imported only for such results: plain NumPy functions need no backend."""
    if isinstance(value, (list, tuple)):
        return np.asarray([_as_float64(item) for item in value], dtype=np.float64)
    if value is None or isinstance(value, (numbers.Number, np.ndarray, np.generic, str, bytes)):
        return np.asarray(value, dtype=np.float64)
    import keras

    return np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64)


def outputs_on(function, inputs, dtype="float32"):
    """The function applied to each input array (as the given dtype), as float64 arrays."""
    if not callable(function):
        raise TypeError(f"expected a function, got {type(function).__name__}")
    if not isinstance(inputs, (list, tuple)) or not inputs:
        raise ValueError("inputs must be a non-empty list of arrays (nested lists of numbers)")
    results = []
    for value in inputs:
        result = function(np.asarray(value, dtype=dtype))
        results.append(_as_float64(result))
    return {"outputs": results}


def matches(target, description, inputs, reference=None, expected_outputs=None, rtol=1e-6, atol=1e-7, hint=""):
    """A check that a student function gives the reference's (or the literal) outputs on inputs."""
    expected = None if expected_outputs is None else {"outputs": [np.asarray(item) for item in expected_outputs]}
    return checks.Check(
        description=description,
        probe="labkit.function_probes.outputs_on",
        target=target,
        arguments={"inputs": [np.asarray(item).tolist() for item in inputs]},
        reference=reference,
        expected=expected,
        rtol=rtol,
        atol=atol,
        hint=hint,
    )
