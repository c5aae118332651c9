"""Probes for plain functions: call the function on fixed inputs and return what it gives."""

import numpy as np

from labkit import checks


def outputs_on(function, inputs, dtype="float32"):
    """The function applied to each input array (as the given dtype), as float64 arrays."""
    if not callable(function):
        raise TypeError(f"expected a function, got {type(function).__name__}")
    if not isinstance(inputs, (list, tuple)) or not inputs:
        raise ValueError("inputs must be a non-empty list of arrays (nested lists of numbers)")
    results = []
    for value in inputs:
        result = function(np.asarray(value, dtype=dtype))
        results.append(np.asarray(result, dtype=np.float64))
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
