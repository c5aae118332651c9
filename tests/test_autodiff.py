"""labkit.autodiff on the current Keras backend (the suite runs once per backend: KERAS_BACKEND=tensorflow|jax|torch).

Closed forms in float64 (JAX's x64 mode on for the block, labkit.precision.float64_arithmetic), compared
with the relative error shown; None for what the loss does not read, on every backend alike.
"""

import keras
import numpy as np
import pytest
from keras import ops

from labkit import autodiff, precision

BACKEND = keras.backend.backend()
# float64: a handful of products and sums of size ~1 agree with NumPy to ~1e-15 relative.
FLOAT64_RTOL = 1e-12
# float32 (no x64 scope): eps 1.2e-7 times a few dozen roundings.
FLOAT32_RTOL = 1e-5


def relative_error(got, expected):
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    return float(np.max(np.abs(got - expected)) / max(np.max(np.abs(expected)), 1e-300))


def seeded(shape, seed):
    return np.random.RandomState(seed).normal(size=shape)


def cubic_problem(dtype):
    """loss = sum((x W + b)^3) / N and its closed-form gradients (float64 NumPy)."""
    x, kernel, bias = seeded((5, 3), 0), seeded((3, 2), 1), seeded((2,), 2)
    z = x @ kernel + bias
    loss = float(np.sum(z**3) / 5)
    dz = 3 * z**2 / 5
    return (x.astype(dtype), kernel.astype(dtype), bias.astype(dtype)), (loss, x.T @ dz, dz.sum(axis=0), dz @ kernel.T)


def cubic_loss(x, kernel, bias):
    # Only ops that keep float64 on every backend: on JAX and torch Keras 3.15 computes matmul, mean,
    # products with Python floats and (on JAX) tanh, exp, ... of float64 tensors in float32.
    z = ops.add(ops.einsum("ni,ik->nk", x, kernel), bias)
    return ops.divide(ops.sum(ops.multiply(ops.square(z), z)), 5)


def test_value_and_gradients_match_the_closed_form_in_float64():
    (x, kernel_values, bias_values), (loss, kernel_gradient, bias_gradient, _) = cubic_problem("float64")
    with precision.float64_arithmetic():
        kernel = keras.Variable(kernel_values, dtype="float64")
        bias = keras.Variable(bias_values, dtype="float64")
        inputs = ops.convert_to_tensor(x)
        value, (got_kernel, got_bias) = autodiff.value_and_gradients(lambda: cubic_loss(inputs, kernel, bias),
                                                                     [kernel, bias])
        value, got_kernel, got_bias = (autodiff.as_numpy(value), autodiff.as_numpy(got_kernel),
                                       autodiff.as_numpy(got_bias))
    for name, got, expected in (("loss", value, loss), ("kernel", got_kernel, kernel_gradient),
                                ("bias", got_bias, bias_gradient)):
        error = relative_error(got, expected)
        assert error < FLOAT64_RTOL, f"{BACKEND}: {name} relative error {error:.1e}"


def test_float32_gradients_match_the_closed_form_to_float32_rounding():
    (x, kernel_values, bias_values), (loss, kernel_gradient, bias_gradient, _) = cubic_problem("float32")
    kernel, bias = keras.Variable(kernel_values), keras.Variable(bias_values)
    value, gradients = autodiff.value_and_gradients(lambda: cubic_loss(ops.convert_to_tensor(x), kernel, bias),
                                                    [kernel, bias])
    assert ops.convert_to_numpy(gradients[0]).dtype == np.float32
    for name, got, expected in (("loss", value, loss), ("kernel", gradients[0], kernel_gradient),
                                ("bias", gradients[1], bias_gradient)):
        error = relative_error(autodiff.as_numpy(got), expected)
        assert error < FLOAT32_RTOL, f"{BACKEND}: {name} relative error {error:.1e}"


def test_input_gradients_and_aux_come_from_one_pass():
    (x, kernel_values, bias_values), (loss, kernel_gradient, _, input_gradient) = cubic_problem("float64")
    with precision.float64_arithmetic():
        kernel = keras.Variable(kernel_values, dtype="float64")
        bias = ops.convert_to_tensor(bias_values)

        def loss_and_logits(inputs):
            return cubic_loss(inputs, kernel, bias), ops.einsum("ni,ik->nk", inputs, kernel)

        (value, logits), (got_input,), (got_kernel,) = autodiff.value_and_input_gradients(
            loss_and_logits, [x], [kernel], has_aux=True)
        got = [autodiff.as_numpy(value) for value in (value, logits, got_input, got_kernel)]
    for name, value, expected in zip(("loss", "aux", "input", "kernel"), got,
                                     (loss, x @ kernel_values, input_gradient, kernel_gradient)):
        error = relative_error(value, expected)
        assert error < FLOAT64_RTOL, f"{BACKEND}: {name} relative error {error:.1e}"


def test_a_keras_model_s_kernels_as_in_lab_02():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"),
                              keras.layers.Dense(2, activation="softmax")])
    images, labels = seeded((6, 3), 3).astype("float32"), np.array([0, 1, 1, 0, 1, 0])
    kernels = [layer.kernel for layer in model.layers]
    loss, gradients = autodiff.value_and_gradients(
        lambda: ops.mean(keras.losses.sparse_categorical_crossentropy(labels, model(images, training=True))),
        kernels)
    assert [tuple(gradient.shape) for gradient in gradients] == [(3, 4), (4, 2)]
    assert all(np.all(np.isfinite(ops.convert_to_numpy(gradient))) for gradient in gradients)
    # The last kernel's gradient by hand: a1^T (p - one_hot) / N.
    hidden = np.tanh(images @ ops.convert_to_numpy(kernels[0]) + ops.convert_to_numpy(model.layers[0].bias))
    probabilities = ops.convert_to_numpy(model(images))
    delta = probabilities - np.eye(2)[labels]
    error = relative_error(ops.convert_to_numpy(gradients[1]), hidden.T @ delta / 6)
    assert error < FLOAT32_RTOL, f"{BACKEND}: relative error {error:.1e}"


def test_unused_variables_and_inputs_have_no_gradient():
    used, unused = keras.Variable(np.ones(3, dtype="float32")), keras.Variable(np.ones(2, dtype="float32"))
    frozen = keras.Variable(np.full(3, 2.0, dtype="float32"), trainable=False)
    _, gradients = autodiff.value_and_gradients(lambda: ops.sum(used * frozen), [used, unused, frozen])
    assert gradients[1] is None
    np.testing.assert_allclose(ops.convert_to_numpy(gradients[0]), [2.0, 2.0, 2.0])
    np.testing.assert_allclose(ops.convert_to_numpy(gradients[2]), [1.0, 1.0, 1.0])  # non-trainable: still differentiated
    np.testing.assert_array_equal(autodiff.gradients_as_numpy(lambda: ops.sum(used), [used, unused])[1], [0.0, 0.0])
    _, (first, second), (gradient,) = autodiff.value_and_input_gradients(
        lambda a, b: ops.sum(a * a), [np.ones(2, dtype="float32"), np.ones(4, dtype="float32")], [unused])
    assert second is None and gradient is None
    np.testing.assert_allclose(ops.convert_to_numpy(first), [2.0, 2.0])


def test_no_variables_at_all():
    loss, gradients = autodiff.value_and_gradients(lambda: ops.sum(ops.ones(3)), [])
    assert gradients == [] and float(ops.convert_to_numpy(loss)) == 3.0


def test_numpy_inside_gives_the_value_and_no_gradients():
    weights = np.arange(1.0, 4.0, dtype="float32")

    def numpy_penalty(tensor):
        return 0.5 * float(np.sum(np.square(np.asarray(tensor))))

    value, (gradient,), _ = autodiff.value_and_input_gradients(numpy_penalty, [weights])
    assert gradient is None and float(value) == pytest.approx(7.0)
    layer = keras.layers.Dense(2)
    layer.build((1, 3))
    _, gradients = autodiff.value_and_gradients(
        lambda: ops.convert_to_tensor(np.sum(np.asarray(layer(np.ones((1, 3), dtype="float32"))))), [layer.kernel])
    assert gradients == [None]


def test_python_control_flow_on_values_is_differentiable():
    def piecewise(tensor):
        if float(ops.convert_to_numpy(ops.sum(tensor))) > 0 if BACKEND != "jax" else ops.sum(tensor) > 0:
            return ops.sum(tensor ** 3)
        return ops.sum(tensor)

    _, (gradient,), _ = autodiff.value_and_input_gradients(piecewise, [np.full(2, 2.0, dtype="float32")])
    np.testing.assert_allclose(ops.convert_to_numpy(gradient), [12.0, 12.0])


def test_errors_that_are_not_about_tracing_propagate():
    variable = keras.Variable(np.ones(2, dtype="float32"))

    def broken():
        raise KeyError("a bug in the loss")

    with pytest.raises(KeyError):
        autodiff.value_and_gradients(broken, [variable])


@pytest.mark.parametrize("not_a_variable", [np.ones(2), [1.0, 2.0], "kernel", None])
def test_non_variables_are_refused_with_a_clear_error(not_a_variable):
    variable = keras.Variable(np.ones(2, dtype="float32"))
    with pytest.raises(ValueError, match=r"variables\[1\] is a .*not a keras.Variable"):
        autodiff.value_and_gradients(lambda: ops.sum(variable), [variable, not_a_variable])


def test_a_backend_tensor_is_not_a_variable():
    with pytest.raises(ValueError, match="not a keras.Variable"):
        autodiff.gradients(lambda: ops.sum(ops.ones(2)), [ops.ones(2)])


def test_the_loss_must_be_a_scalar_and_inputs_floating():
    variable = keras.Variable(np.ones(2, dtype="float32"))
    with pytest.raises(ValueError, match="scalar"):
        autodiff.value_and_gradients(lambda: variable * 2.0, [variable])
    _, (gradient,) = autodiff.value_and_gradients(lambda: ops.reshape(ops.sum(variable), (1, 1)), [variable])
    np.testing.assert_allclose(ops.convert_to_numpy(gradient), [1.0, 1.0])  # one element of any rank is a scalar
    with pytest.raises(ValueError, match="floating-point"):
        autodiff.value_and_input_gradients(lambda a: ops.sum(a), [np.arange(3)])
    with pytest.raises(ValueError, match="pair"):
        autodiff.value_and_input_gradients(lambda a: ops.sum(a), [np.ones(2)], has_aux=True)


def test_float64_arithmetic_is_scoped():
    with precision.float64_arithmetic():
        inside = ops.convert_to_tensor(np.ones(2))
        assert keras.backend.standardize_dtype(inside.dtype) == "float64"
    if BACKEND == "jax":
        import jax

        assert not jax.config.jax_enable_x64
        assert keras.backend.standardize_dtype(ops.convert_to_tensor(np.ones(2)).dtype) == "float32"
