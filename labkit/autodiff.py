"""Gradients of a loss with respect to Keras variables (and input tensors), on whichever backend Keras runs.

Keras 3 leaves automatic differentiation to its backend (``tf.GradientTape``, ``jax.grad``,
``torch.autograd``). Labs and probes call ``value_and_gradients`` (or, to differentiate with
respect to input arrays too, ``value_and_input_gradients``) instead, so the same code runs on
TensorFlow, JAX and PyTorch and gives the same answers:

* a gradient is ``None`` for an input or variable the loss does not depend on (JAX itself would
  give zeros);
* when the loss is computed outside the backend (NumPy inside the function: TensorFlow returns a
  NumPy value, JAX and torch refuse to convert a traced tensor), the function is run once more
  without tracking and every gradient is ``None``; an error that is not about tracing propagates.
"""

import math

import numpy as np

BACKENDS = ("tensorflow", "jax", "torch")


def value_and_gradients(compute_loss, variables):
    """Run ``compute_loss()`` (no arguments, returns a scalar) and differentiate it with respect to ``variables``.

    ``variables`` are Keras variables (``layer.kernel``, ``model.trainable_weights``, ...) that the
    function reads, directly or through layers. Returns ``(loss, gradients)``: the loss as a backend
    scalar and one gradient per variable, ``None`` for a variable the loss does not depend on. On JAX
    the function runs under a ``keras.StatelessScope`` that maps each variable to a traced value, so
    it must read the variables through Keras (layers, ``variable.value``), not cache their values.
    """
    loss, _, variable_gradients = _differentiate(lambda: compute_loss(), [], _checked_variables(variables), False)
    return loss, variable_gradients


def gradients(compute_loss, variables):
    """The gradients of ``compute_loss()`` with respect to ``variables`` (see ``value_and_gradients``)."""
    return value_and_gradients(compute_loss, variables)[1]


def gradients_as_numpy(compute_loss, variables):
    """``gradients`` converted to float64 NumPy arrays, zeros where the loss does not depend on a variable."""
    variables = list(variables)
    return [np.zeros(tuple(variable.shape)) if gradient is None else as_numpy(gradient)
            for variable, gradient in zip(variables, gradients(compute_loss, variables))]


def value_and_input_gradients(function, inputs, variables=(), *, has_aux=False):
    """Call ``function(*tensors)`` on the inputs as backend tensors; differentiate its result w.r.t. them and ``variables``.

    ``inputs`` are floating-point arrays (NumPy arrays or backend tensors), converted with
    ``keras.ops.convert_to_tensor`` (their dtype kept where the backend has it: float64 needs
    ``labkit.precision.float64_arithmetic()`` on JAX). ``function`` returns a scalar loss, or
    ``(loss, aux)`` with ``has_aux=True`` (``aux`` is returned as computed, not differentiated; use it
    to get a layer's outputs from the same forward pass). Returns ``(result, input_gradients,
    variable_gradients)``: ``result`` is what ``function`` returned, gradients as in
    ``value_and_gradients`` (``None`` where the loss does not depend on an input or variable).
    """
    import keras

    inputs = list(inputs)
    tensors = []
    for index, value in enumerate(inputs):
        tensor = value if keras.ops.is_tensor(value) else keras.ops.convert_to_tensor(np.asarray(value))
        if not keras.backend.is_float_dtype(keras.backend.standardize_dtype(tensor.dtype)):
            raise ValueError(f"value_and_input_gradients: inputs[{index}] has dtype {tensor.dtype}; only "
                             f"floating-point inputs can be differentiated.")
        tensors.append(tensor)
    return _differentiate(function, tensors, _checked_variables(variables), has_aux)


def as_numpy(value):
    """A backend tensor (or anything array-like) as a float64 NumPy array, detached from any autodiff."""
    import keras

    return np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64)


def _checked_variables(variables):
    import keras

    variables = list(variables)
    for index, variable in enumerate(variables):
        if not isinstance(variable, keras.Variable):
            raise ValueError(f"value_and_gradients: variables[{index}] is a {type(variable).__name__}, not a "
                             f"keras.Variable; pass Keras variables such as layer.kernel or model.trainable_weights.")
    return variables


def _differentiate(function, tensors, variables, has_aux):
    """(result, input gradients, variable gradients) of function(*tensors) on the current backend."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tensorflow(function, tensors, variables, has_aux)
    if backend == "jax":
        return _jax(function, tensors, variables, has_aux)
    if backend == "torch":
        return _torch(function, tensors, variables, has_aux)
    raise ValueError(f"gradients are not available on the {backend!r} Keras backend; use one of {', '.join(BACKENDS)}.")


def _loss_of(result, has_aux):
    """The loss in what the function returned: a scalar (one element of any rank is reshaped to one)."""
    import keras

    if has_aux:
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise ValueError("with has_aux=True the function must return a pair (loss, aux).")
        result = result[0]
    shape = tuple(getattr(result, "shape", ()))
    if shape == ():
        return result
    if math.prod(int(size) for size in shape) != 1:
        raise ValueError(f"the loss must be a scalar, got shape {shape}; reduce it (keras.ops.mean or sum) first.")
    return keras.ops.reshape(result, ())


def _none(tensors, variables):
    return [None] * len(tensors), [None] * len(variables)


def _tensorflow(function, tensors, variables, has_aux):
    import tensorflow

    with tensorflow.GradientTape() as tape:
        tape.watch(tensors)
        # Trainable variables are watched when read; watch the non-trainable ones too, as on JAX and torch.
        tape.watch([variable.value for variable in variables if isinstance(variable.value, tensorflow.Variable)])
        result = function(*tensors)
        loss = _loss_of(result, has_aux)
    if not tensorflow.is_tensor(loss):  # NumPy inside: TensorFlow handed back a NumPy value
        return (result, *_none(tensors, variables))
    values = tape.gradient(loss, tensors + variables) if tensors or variables else []
    return result, list(values[:len(tensors)]), list(values[len(tensors):])


def _jax(function, tensors, variables, has_aux):
    import jax
    import keras

    def traced(input_values, variable_values):
        with keras.StatelessScope(state_mapping=list(zip(variables, variable_values))):
            result = function(*input_values)
        return _loss_of(result, has_aux), result

    primals = (list(tensors), [variable.value for variable in variables])
    try:
        # linearize + transpose is what jax.vjp does; keeping the linear function shows which
        # inputs the loss reads (and, unlike retracing with make_jaxpr, allows Python control flow).
        _, linear, result = jax.linearize(traced, *primals, has_aux=True)
    except Exception as error:
        if not _raised_because_of(error, lambda cause: isinstance(cause, jax.errors.JAXTypeError)):
            raise
        # NumPy (or float()) on a traced value: not differentiable by JAX.
        return (function(*tensors), *_none(tensors, variables))
    input_gradients, variable_gradients = jax.linear_transpose(linear, *primals)(
        jax.numpy.ones((), dtype=_loss_of(result, has_aux).dtype))
    used = _read_by(linear, primals)
    input_gradients = [gradient if is_used else None for gradient, is_used in zip(input_gradients, used[0])]
    variable_gradients = [gradient if is_used else None for gradient, is_used in zip(variable_gradients, used[1])]
    return result, input_gradients, variable_gradients


def _raised_because_of(error, is_cause):
    """Whether error, or an exception it was raised from or while handling, satisfies is_cause.

    Keras re-raises an error from a layer's call with the call's arguments added to the message
    (and JAX's tracer errors fail to be re-created that way), so the original may be one link back.
    """
    seen = set()
    while error is not None and id(error) not in seen:
        if is_cause(error):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def _read_by(linear, primals):
    """For each input of the linearized loss, whether it reads it (an input it never reads has no gradient)."""
    import jax
    import jax.extend.core

    closed = jax.make_jaxpr(linear)(*primals)
    read = [var for equation in closed.jaxpr.eqns for var in equation.invars] + list(closed.jaxpr.outvars)
    read = {id(var) for var in read if not isinstance(var, jax.extend.core.Literal)}
    flags = iter([id(var) in read for var in closed.jaxpr.invars])
    return [[next(flags) for _ in group] for group in primals]


def _torch(function, tensors, variables, has_aux):
    import torch

    leaves = [tensor.detach().requires_grad_(True) for tensor in tensors]
    values = [variable.value for variable in variables]
    switched = [value for value in values if not value.requires_grad]  # non-trainable variables
    for value in switched:
        value.requires_grad_(True)
    try:
        try:
            result = function(*leaves)
        except Exception as error:  # NumPy on a tensor that requires grad: not differentiable by torch
            if not _raised_because_of(error, lambda cause: isinstance(cause, RuntimeError)
                                      and "requires grad" in str(cause)):
                raise
            with torch.no_grad():
                return (function(*[tensor.detach() for tensor in tensors]), *_none(tensors, variables))
        loss = _loss_of(result, has_aux)
        if not (torch.is_tensor(loss) and loss.requires_grad) or not leaves + values:
            return (result, *_none(tensors, variables))
        gradients = list(torch.autograd.grad(loss, leaves + values, allow_unused=True))
    finally:
        for value in switched:
            value.requires_grad_(False)
    return result, gradients[:len(leaves)], gradients[len(leaves):]
