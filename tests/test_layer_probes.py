"""Tests for labkit.layer_probes: Keras built-ins pass against themselves, correct variants pass, wrong ones fail."""

import dataclasses
import json
import pathlib
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from keras import ops

from labkit import autodiff
from labkit import checks
from labkit import layer_probes

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = "labkit_layer_probe_tests"


# ---------------------------------------------------------------------------
# Correct implementations written differently from the lab's solution.


@keras.saving.register_keras_serializable(package=PACKAGE)
class EinsumDense(keras.layers.Layer):
    """A correct Dense: einsum over the last axis, bias added after the activation's input is formed."""

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation_name = activation
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer=self.kernel_initializer,
                                      name="kernel")
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(shape=(self.units,), initializer=self.bias_initializer, name="bias")

    def call(self, inputs):
        outputs = ops.einsum("...i,ij->...j", inputs, self.kernel)
        if self.use_bias:
            outputs = ops.add(outputs, self.bias)
        return keras.activations.get(self.activation_name)(outputs)

    def get_config(self):
        config = super().get_config()
        config.update({
            "units": self.units,
            "activation": self.activation_name,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        })
        return config


class LeakyReLUWithRelu(keras.layers.Layer):
    def __init__(self, negative_slope=0.3, **kwargs):
        super().__init__(**kwargs)
        self.negative_slope = negative_slope

    def call(self, inputs):
        return ops.relu(inputs) - self.negative_slope * ops.relu(-inputs)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class PReLUWithWhere(keras.layers.PReLU):
    """The built-in's weights, a different call."""

    def call(self, inputs):
        return ops.where(inputs >= 0, inputs, self.alpha * inputs)


class MaxoutBySlices(keras.layers.Layer):
    """A correct Maxout: the max of each slice of k consecutive features, stacked."""

    def __init__(self, num_pieces, **kwargs):
        super().__init__(**kwargs)
        self.num_pieces = num_pieces

    def build(self, input_shape):
        if input_shape[-1] % self.num_pieces:
            raise ValueError("the last axis must be a multiple of num_pieces")

    def call(self, inputs):
        k = self.num_pieces
        units = inputs.shape[-1] // k
        return ops.stack([ops.max(inputs[..., j * k:(j + 1) * k], axis=-1) for j in range(units)], axis=-1)


class SiLUByDivision(keras.layers.Layer):
    def call(self, inputs):
        return inputs / (1.0 + ops.exp(-inputs))


def relu6_by_clip(x):
    return ops.clip(x, 0.0, 6.0)


def mish_by_log1p(x):
    """softplus as max(x, 0) + log1p(exp(-|x|)): stable, written differently from ops.softplus."""
    return x * ops.tanh(ops.maximum(x, 0.0) + ops.log1p(ops.exp(-ops.abs(x))))


def gelu_by_sigmoid(x, approximate=False):
    """Phi(x) as 0.5 + 0.5 erf(x / sqrt 2); the tanh form as x * sigmoid(2u), since (1 + tanh u) / 2 = sigmoid(2u)."""
    if approximate:
        return x * ops.sigmoid(1.5957691216057308 * (x + 0.044715 * ops.power(x, 3)))
    return x * (0.5 + 0.5 * ops.erf(x * 0.7071067811865476))


@keras.saving.register_keras_serializable(package=PACKAGE)
class SoftmaxByLogSumExp(keras.layers.Layer):
    """A correct Softmax: exp(x - logsumexp(x)), as Keras does for several axes."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = tuple(axis) if isinstance(axis, list) else axis

    def call(self, inputs):
        return ops.exp(inputs - ops.logsumexp(inputs, axis=self.axis, keepdims=True))

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def norms_with_tape(model, images, labels):
    """The lab's solution: labkit.autodiff (tf.GradientTape, jax.grad or torch.autograd underneath)."""
    kernels = [layer.kernel for layer in model.layers if hasattr(layer, "kernel")]
    gradients = autodiff.gradients(
        lambda: ops.mean(keras.losses.sparse_categorical_crossentropy(labels, model(images))), kernels)
    return [float(ops.norm(gradient)) for gradient in gradients]


def norms_by_weight_names(model, images, labels):
    """Correct too: the loss object (mean reduction) and kernels found by weight name."""
    kernels = [weight for weight in model.trainable_weights if weight.name == "kernel"]
    loss, gradients = autodiff.value_and_gradients(
        lambda: keras.losses.SparseCategoricalCrossentropy()(labels, model(images, training=True)), kernels)
    return np.asarray([np.linalg.norm(ops.convert_to_numpy(gradient)) for gradient in gradients])


# ---------------------------------------------------------------------------
# Wrong implementations.


@keras.saving.register_keras_serializable(package=PACKAGE)
class DenseWithoutBias(EinsumDense):
    def call(self, inputs):
        return keras.activations.get(self.activation_name)(ops.einsum("...i,ij->...j", inputs, self.kernel))


class DenseKernelFromAxisOne(EinsumDense):
    def build(self, input_shape):
        super().build((input_shape[0], input_shape[1]))


class DenseWeightsInCall(EinsumDense):
    def build(self, input_shape):
        pass

    def call(self, inputs):
        if getattr(self, "kernel", None) is None:
            self.kernel = self.add_weight(shape=(inputs.shape[-1], self.units), name="kernel")
            self.bias = self.add_weight(shape=(self.units,), name="bias") if self.use_bias else None
        return super().call(inputs)


class DenseConfigWithoutUnits(EinsumDense):
    def get_config(self):
        config = super().get_config()
        del config["units"]
        return config


class DenseConfigWithoutActivation(EinsumDense):
    def get_config(self):
        config = super().get_config()
        del config["activation"]
        return config


class DenseConfigWithoutKernelInitializer(EinsumDense):
    def get_config(self):
        config = super().get_config()
        del config["kernel_initializer"]
        return config


class UnregisteredDense(EinsumDense):
    """Not registered: load_model cannot find it by name."""


class LeakyReLUWrongSide(LeakyReLUWithRelu):
    def call(self, inputs):
        return ops.where(inputs >= 0, self.negative_slope * inputs, inputs)


class PReLUNotTrainable(keras.layers.PReLU):
    def build(self, input_shape):
        super().build(input_shape)
        self.alpha.trainable = False


class PReLUIgnoringSharedAxes(keras.layers.PReLU):
    def __init__(self, shared_axes=None, **kwargs):
        super().__init__(**kwargs)


class MaxoutInterleaved(MaxoutBySlices):
    def call(self, inputs):
        units = inputs.shape[-1] // self.num_pieces
        return ops.max(ops.reshape(inputs, (-1, self.num_pieces, units)), axis=-2)


class MaxoutWithoutCheck(MaxoutBySlices):
    def build(self, input_shape):
        pass


class PlainSigmoid(keras.layers.Layer):
    def call(self, inputs):
        return ops.sigmoid(inputs)


def relu6_clipped_above_only(x):
    return ops.minimum(x, 6.0)


def mish_with_naive_softplus(x):
    """Right values everywhere, but exp(x) overflows past x = 88 and the gradient becomes NaN."""
    return x * ops.tanh(ops.log(1.0 + ops.exp(x)))


def gelu_always_tanh(x, approximate=False):
    return 0.5 * x * (1.0 + ops.tanh(0.7978845608028654 * (x + 0.044715 * x**3)))


def gelu_without_sqrt_two(x, approximate=False):
    return 0.5 * x * (1.0 + ops.erf(x / 2.0))


class SoftmaxWithoutMax(SoftmaxByLogSumExp):
    def call(self, inputs):
        exponentials = ops.exp(inputs)
        return exponentials / ops.sum(exponentials, axis=self.axis, keepdims=True)


class SoftmaxOverLastAxis(SoftmaxByLogSumExp):
    def call(self, inputs):
        return ops.exp(inputs - ops.logsumexp(inputs, axis=-1, keepdims=True))


class SoftmaxCastToFloat32(SoftmaxByLogSumExp):
    def call(self, inputs):
        return super().call(ops.cast(inputs, "float32"))


class SoftmaxConfigWithoutAxis(SoftmaxByLogSumExp):
    def get_config(self):
        return keras.layers.Layer.get_config(self)


def norms_of_biases(model, images, labels):
    biases = [layer.bias for layer in model.layers if hasattr(layer, "kernel")]
    gradients = autodiff.gradients(
        lambda: ops.mean(keras.losses.sparse_categorical_crossentropy(labels, model(images))), biases)
    return [float(ops.norm(gradient)) for gradient in gradients]


def norms_of_summed_loss(model, images, labels):
    kernels = [layer.kernel for layer in model.layers if hasattr(layer, "kernel")]
    gradients = autodiff.gradients(
        lambda: ops.sum(keras.losses.sparse_categorical_crossentropy(labels, model(images))), kernels)
    return [float(ops.norm(gradient)) for gradient in gradients]


def norms_of_all_layers(model, images, labels):
    """Assumes every layer has weights: breaks on Flatten."""
    kernels = [layer.weights[0] for layer in model.layers]
    gradients = autodiff.gradients(
        lambda: ops.mean(keras.losses.sparse_categorical_crossentropy(labels, model(images))), kernels)
    return [float(ops.norm(gradient)) for gradient in gradients]


NAMESPACE = {name: value for name, value in globals().items() if isinstance(value, type) or callable(value)}
NAMESPACE["NotAClass"] = keras.layers.PReLU()
NAMESPACE["gelu_exact_only"] = lambda x, approximate=False: keras.activations.gelu(x)  # ignores approximate


def outcome(check):
    return checks.evaluate(check, NAMESPACE)


# ---------------------------------------------------------------------------
# The module itself.


def test_import_does_not_load_keras_or_tensorflow():
    code = (
        "import sys, labkit.layer_probes; "
        "loaded = [name for name in ('keras', 'tensorflow', 'jax', 'torch') if name in sys.modules]; "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_seeded_values_are_deterministic_nested_lists():
    values = layer_probes.seeded_values([2, 3], seed=4, scale=2.0)
    assert values == layer_probes.seeded_values([2, 3], seed=4, scale=2.0)
    assert np.asarray(values).shape == (2, 3) and isinstance(values[0][0], float)
    assert values != layer_probes.seeded_values([2, 3], seed=5, scale=2.0)


# ---------------------------------------------------------------------------
# Dense.

DENSE_SCENARIOS = [
    ({"units": 3}, [4, 5]),
    ({"units": 4, "activation": "relu"}, [2, 3, 5]),
    ({"units": 2, "use_bias": False, "activation": "tanh"}, [2, 2, 3, 4]),
    ({"units": 3, "kernel_initializer": "ones",
      "bias_initializer": {"class_name": "Constant", "config": {"value": 0.25}}}, [2, 4]),
]


@pytest.mark.parametrize("arguments, input_shape", DENSE_SCENARIOS)
@pytest.mark.parametrize("target", ["keras.layers.Dense", "EinsumDense"])
def test_correct_dense_layers_pass_every_dense_check(target, arguments, input_shape):
    for check in (
        layer_probes.dense_matches_keras("forward", arguments, input_shape, compare_initial_weights=True,
                                         target=target),
        layer_probes.dense_config_matches_keras("config", arguments, input_shape, target=target),
        layer_probes.saving_matches_keras("saving", arguments, input_shape, target=target),
        layer_probes.saving_matches_keras("saving", arguments, input_shape, functional=True, target=target),
    ):
        result = outcome(check)
        assert result.passed, (check.probe, result.message)


def test_dense_probe_reports_what_keras_dense_does():
    result = layer_probes.dense_forward(keras.layers.Dense, {"units": 2}, [3, 4, 5])
    assert result["weight_shapes_after_build"] == "(5, 2), (2,)"
    assert result["trainable_weight_count"] == 2 and result["non_trainable_weight_count"] == 0
    assert result["outputs"].shape == (3, 4, 2)
    np.testing.assert_array_equal(result["outputs"], result["sequential_outputs"])
    assert result["sequential_output_shape"] == result["functional_output_shape"] == "(None, 4, 2)"
    config = layer_probes.dense_config_round_trip(keras.layers.Dense, {"units": 2}, [3, 5])
    assert config == {"rebuilt_is_same_class": True, "initial_weights_match": True, "max_output_difference": 0.0}
    saving = layer_probes.saving_round_trip(keras.layers.Dense, {"units": 2, "activation": "relu"}, [3, 5])
    assert saving == {"loaded_layer_is_same_class": True, "max_output_difference": 0.0}


@pytest.mark.parametrize(
    "target, arguments, input_shape",
    [
        ("DenseWithoutBias", {"units": 3}, [4, 5]),
        ("DenseKernelFromAxisOne", {"units": 3}, [2, 3, 5]),
        ("DenseWeightsInCall", {"units": 3}, [4, 5]),
    ],
)
def test_wrong_dense_forward_fails(target, arguments, input_shape):
    assert not outcome(layer_probes.dense_matches_keras("wrong", arguments, input_shape, target=target)).passed


def test_an_ignored_initializer_fails_when_initial_weights_are_compared():
    check = layer_probes.dense_matches_keras(
        "initializers", {"units": 3, "kernel_initializer": "ones"}, [2, 4], compare_initial_weights=True,
        target="DenseConfigWithoutKernelInitializer",
    )
    assert outcome(check).passed  # the layer itself uses its initializer: only its config is wrong
    config_check = layer_probes.dense_config_matches_keras(
        "config", {"units": 3, "kernel_initializer": "ones"}, [2, 4], target="DenseConfigWithoutKernelInitializer"
    )
    result = outcome(config_check)
    assert not result.passed and "initial_weights_match" in result.message


@pytest.mark.parametrize("target", ["DenseConfigWithoutUnits", "DenseConfigWithoutActivation"])
def test_incomplete_configs_fail_the_round_trip_and_saving(target):
    arguments = {"units": 3, "activation": "relu"}
    assert not outcome(layer_probes.dense_config_matches_keras("config", arguments, [4, 5], target=target)).passed
    assert not outcome(layer_probes.saving_matches_keras("saving", arguments, [4, 5], target=target)).passed


def test_a_wrong_call_does_not_fail_the_config_and_saving_checks():
    """The config part compares the layer with itself, so a bias bug costs only the forward part."""
    arguments = {"units": 3, "activation": "relu"}
    config_check = layer_probes.dense_config_matches_keras("config", arguments, [4, 5], target="DenseWithoutBias")
    assert outcome(config_check).passed
    assert outcome(layer_probes.saving_matches_keras("saving", arguments, [4, 5], target="DenseWithoutBias")).passed


def test_an_unregistered_class_fails_the_saving_check():
    result = outcome(layer_probes.saving_matches_keras("saving", {"units": 2}, [3, 4], target="UnregisteredDense"))
    assert not result.passed


# ---------------------------------------------------------------------------
# Activations.

ACTIVATION_INPUTS = [[[-3.0, -1.0, -0.5, 0.0, 0.5, 2.5]], layer_probes.seeded_values([2, 3, 4], seed=1, scale=3.0)]


@pytest.mark.parametrize("target", ["keras.layers.LeakyReLU", "LeakyReLUWithRelu"])
@pytest.mark.parametrize("arguments", [{}, {"negative_slope": 0.0}, {"negative_slope": 0.1}])
def test_correct_leaky_relu_passes(target, arguments):
    check = layer_probes.activation_matches_keras(
        "leaky", target, "keras.layers.LeakyReLU", ACTIVATION_INPUTS, arguments, round_trip_config=True
    )
    result = outcome(check)
    assert result.passed, result.message


def test_leaky_relu_with_the_slope_on_the_wrong_side_fails():
    check = layer_probes.activation_matches_keras("leaky", "LeakyReLUWrongSide", "keras.layers.LeakyReLU",
                                                  ACTIVATION_INPUTS)
    assert not outcome(check).passed


@pytest.mark.parametrize("target", ["keras.activations.silu", "SiLUByDivision"])
def test_correct_silu_passes(target):
    inputs = ACTIVATION_INPUTS + [[[-40.0, -15.0, 15.0, 40.0]], layer_probes.seeded_values([50, 8], seed=3, scale=6.0)]
    result = outcome(layer_probes.silu_matches_keras("silu", inputs, target=target))
    assert result.passed, result.message


def test_plain_sigmoid_fails_the_silu_check():
    assert not outcome(layer_probes.silu_matches_keras("silu", ACTIVATION_INPUTS, target="PlainSigmoid")).passed


SMOOTH_INPUTS = [layer_probes.seeded_values([6, 8], seed=3, scale=3.0),
                 [[-1000.0, -100.0, -30.0, -5.0, -0.5, 0.5, 5.0, 30.0, 100.0, 1000.0]]]


@pytest.mark.parametrize("target, reference_name, arguments", [
    ("keras.activations.relu6", "relu6", {}), ("relu6_by_clip", "relu6", {}),
    ("keras.activations.mish", "mish", {}), ("mish_by_log1p", "mish", {}),
    ("keras.activations.gelu", "gelu", {}), ("gelu_by_sigmoid", "gelu", {}),
    ("gelu_by_sigmoid", "gelu", {"approximate": True}),
])
def test_correct_activation_functions_pass(target, reference_name, arguments):
    check = layer_probes.activation_function_matches_keras("f", reference_name, SMOOTH_INPUTS, arguments)
    result = checks.evaluate(dataclasses.replace(check, target=target), NAMESPACE)
    assert result.passed, result.message


@pytest.mark.parametrize("target, reference_name, arguments", [
    ("relu6_clipped_above_only", "relu6", {}), ("mish_with_naive_softplus", "mish", {}),
    ("gelu_always_tanh", "gelu", {}), ("gelu_without_sqrt_two", "gelu", {}),
    ("gelu_exact_only", "gelu", {"approximate": True}),  # the exact GELU where the tanh form is asked for
])
def test_wrong_activation_functions_fail(target, reference_name, arguments):
    check = layer_probes.activation_function_matches_keras("f", reference_name, SMOOTH_INPUTS, arguments)
    assert not checks.evaluate(dataclasses.replace(check, target=target), NAMESPACE).passed


def test_the_activation_probe_reports_gradients_and_dtype():
    outputs = layer_probes.activation_with_gradients(keras.activations.relu6, [[[-1.0, 3.0, 7.0]]])
    weights = np.random.RandomState(31).normal(size=(1, 3)).astype("float32")
    np.testing.assert_allclose(outputs["outputs_0"], [[0.0, 3.0, 6.0]])
    np.testing.assert_allclose(outputs["gradients_0"], [[0.0, weights[0, 1], 0.0]], rtol=1e-6)
    assert outputs["float16_output_dtype"] == "float16"


SOFTMAX_INPUTS = [layer_probes.seeded_values([2, 3, 4], seed=4, scale=4.0),
                  [[[1000.0, -1000.0, 0.0, 2.0], [999.0, -999.0, 1.0, 2.0], [998.0, -1000.0, 2.0, 2.0]]]]


@pytest.mark.parametrize("target, axis", [("keras.layers.Softmax", [1, 2]), ("SoftmaxByLogSumExp", -1),
                                          ("SoftmaxByLogSumExp", 1), ("SoftmaxByLogSumExp", [1, 2])])
def test_correct_softmax_passes(target, axis):
    result = outcome(layer_probes.softmax_matches_keras("softmax", SOFTMAX_INPUTS, axis, round_trip_config=True,
                                                        target=target))
    assert result.passed, result.message


@pytest.mark.parametrize("target, axis", [("SoftmaxWithoutMax", -1), ("SoftmaxOverLastAxis", 1),
                                          ("SoftmaxCastToFloat32", -1)])
def test_wrong_softmax_fails(target, axis):
    assert not outcome(layer_probes.softmax_matches_keras("softmax", SOFTMAX_INPUTS, axis, target=target)).passed


def test_a_softmax_config_without_axis_fails_the_round_trip():
    assert not outcome(layer_probes.softmax_matches_keras("softmax", SOFTMAX_INPUTS[:1], 1, round_trip_config=True,
                                                          target="SoftmaxConfigWithoutAxis")).passed


PRELU_SCENARIOS = [
    ({}, [4, 5]),
    ({"shared_axes": [1, 2]}, [2, 3, 3, 4]),
    ({"shared_axes": 1, "alpha_initializer": "ones"}, [3, 4, 2]),
]


@pytest.mark.parametrize("target", ["keras.layers.PReLU", "PReLUWithWhere"])
@pytest.mark.parametrize("arguments, input_shape", PRELU_SCENARIOS)
def test_correct_prelu_passes(target, arguments, input_shape):
    result = outcome(layer_probes.prelu_matches_keras("prelu", arguments, input_shape, target=target))
    assert result.passed, result.message


def test_prelu_probe_reports_the_slope_gradient():
    result = layer_probes.prelu_probe(keras.layers.PReLU, {"shared_axes": [1]}, [2, 3, 2], seed=0)
    assert result["weight_shapes"] == "(1, 2)" and result["trainable_weight_count"] == 1
    # d/d alpha of sum(w * (relu(x) - alpha * relu(-x))) = sum over the shared positions of w * min(x, 0).
    inputs = layer_probes._seeded((2, 3, 2), 0)
    weights = layer_probes._seeded((2, 3, 2), 1)
    expected = (weights * np.minimum(inputs, 0)).sum(axis=(0, 1))
    np.testing.assert_allclose(result["trainable_gradients"], expected, rtol=1e-5)


@pytest.mark.parametrize(
    "target, arguments, input_shape",
    [("PReLUNotTrainable", {}, [4, 5]), ("PReLUIgnoringSharedAxes", {"shared_axes": [1, 2]}, [2, 3, 3, 4])],
)
def test_wrong_prelu_fails(target, arguments, input_shape):
    assert not outcome(layer_probes.prelu_matches_keras("prelu", arguments, input_shape, target=target)).passed


def maxout_check(target):
    return layer_probes.activation_matches_values(
        "maxout", target,
        [[[1.0, 5.0, 2.0, 0.0, -1.0, -3.0]], [[[0.0, 1.0, 2.0, 3.0], [-1.0, -2.0, -3.0, -4.0]]]],
        [[[5.0, 2.0, -1.0]], [[[1.0, 3.0], [-1.0, -3.0]]]],
        {"num_pieces": 2},
        symbolic_input_shapes=[[6], [5, 4]],
        expected_symbolic_shapes=["(None, 3)", "(None, 5, 2)"],
    )


def test_a_correct_maxout_passes_the_literal_values():
    result = outcome(maxout_check("MaxoutBySlices"))
    assert result.passed, result.message
    rejects = layer_probes.rejects_input("indivisible", "MaxoutBySlices", {"num_pieces": 4}, [2, 6])
    assert outcome(rejects).passed


def test_wrong_maxout_fails():
    assert not outcome(maxout_check("MaxoutInterleaved")).passed
    rejects = layer_probes.rejects_input("indivisible", "MaxoutWithoutCheck", {"num_pieces": 4}, [2, 6])
    assert not outcome(rejects).passed


def test_a_target_that_is_not_a_class_fails_with_a_clear_message():
    result = outcome(layer_probes.prelu_matches_keras("prelu", {}, [2, 3], target="NotAClass"))
    assert not result.passed and "class" in result.message


# ---------------------------------------------------------------------------
# Gradient norms.

GRADIENT_SCENARIOS = [
    {"hidden_units": [5, 5, 5], "activation": "sigmoid"},
    {"hidden_units": [5, 5, 5], "activation": "relu", "seed": 1},
    {"hidden_units": [4] * 6, "activation": "tanh", "input_shape": (2, 3), "batch_size": 10, "seed": 3,
     "functional": True},
    {"hidden_units": [8] * 8, "activation": "sigmoid", "seed": 5},
    {"hidden_units": [6, 6], "activation": "relu", "num_classes": 3, "batch_size": 1, "seed": 2},
]


def _problem_arguments(scenario):
    return {key: value for key, value in scenario.items() if key not in ("hidden_units", "activation", "functional")}


@pytest.mark.parametrize("scenario", GRADIENT_SCENARIOS)
def test_numpy_backpropagation_agrees_with_keras_on_keras_dense_layers(scenario):
    """The float64 reference equals the backend's gradients of a keras.layers.Dense model with the same weights."""
    arguments = _problem_arguments(scenario)
    input_shape = tuple(arguments.get("input_shape", (6,)))
    weights, images, labels = layer_probes._gradient_problem(
        scenario["hidden_units"], input_shape, arguments.get("num_classes", 4), arguments.get("batch_size", 8),
        arguments.get("seed", 0),
    )
    layers = [keras.Input(shape=input_shape), keras.layers.Flatten()]
    layers += [keras.layers.Dense(units, activation=scenario["activation"]) for units in scenario["hidden_units"]]
    layers.append(keras.layers.Dense(arguments.get("num_classes", 4), activation="softmax"))
    model = keras.Sequential(layers)
    for layer, (kernel, bias) in zip(model.layers[1:], weights):
        layer.set_weights([kernel, bias])
    expected = layer_probes.reference_gradient_norms(scenario["hidden_units"], scenario["activation"], **arguments)
    np.testing.assert_allclose(norms_with_tape(model, images, labels), expected, rtol=layer_probes.GRADIENT_NORM_RTOL)


@pytest.mark.parametrize("target", ["norms_with_tape", "norms_by_weight_names"])
@pytest.mark.parametrize("scenario", GRADIENT_SCENARIOS)
def test_correct_gradient_norms_pass(target, scenario):
    check = layer_probes.gradient_norms_match("norms", **scenario, target=target)
    result = outcome(check)
    assert result.passed, result.message


def test_the_deep_sigmoid_check_really_sees_vanishing_gradients():
    norms = layer_probes.reference_gradient_norms([8] * 8, "sigmoid", seed=5)
    assert norms[-1] / norms[0] > 1e4


@pytest.mark.parametrize("target", ["norms_of_biases", "norms_of_summed_loss"])
def test_wrong_gradient_norms_fail(target):
    check = layer_probes.gradient_norms_match("norms", [5, 5, 5], "sigmoid", target=target)
    assert not outcome(check).passed


def test_norms_that_assume_every_layer_has_weights_fail_on_flatten():
    check = layer_probes.gradient_norms_match("norms", [4, 4], "tanh", input_shape=(2, 3), target="norms_of_all_layers")
    result = outcome(check)
    assert not result.passed and "raised" in result.message


# ---------------------------------------------------------------------------
# The probes run while the grader disables the built-ins the lab forbids.


def test_student_side_probes_do_not_need_the_forbidden_built_ins():
    notebook = json.loads((ROOT / "solutions" / "02_custom_layers" / "02_custom_layers.ipynb").read_text())
    forbidden = sorted({path for paths in notebook["metadata"]["labkit"]["forbidden_builtins"].values()
                        for path in paths})
    code = textwrap.dedent(f"""
        import keras, numpy as np
        from keras import ops
        from autograder.sandboxed import runner
        from labkit import autodiff, checks, layer_probes

        runner.disable_builtins({forbidden!r})

        class Dense(keras.layers.Layer):
            def __init__(self, units, activation=None, use_bias=True, **kwargs):
                super().__init__(**kwargs)
                self.units, self.activation, self.use_bias = units, keras.activations.get(activation), use_bias
            def build(self, input_shape):
                self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
                self.bias = self.add_weight(shape=(self.units,), name="bias") if self.use_bias else None
            def call(self, inputs):
                outputs = ops.matmul(inputs, self.kernel)
                return self.activation(outputs if self.bias is None else outputs + self.bias)
            def get_config(self):
                return {{**super().get_config(), "units": self.units,
                         "activation": keras.activations.serialize(self.activation), "use_bias": self.use_bias}}
        keras.saving.register_keras_serializable(package="{PACKAGE}")(Dense)

        class PReLU(keras.layers.Layer):
            def build(self, input_shape):
                self.alpha = self.add_weight(shape=input_shape[1:], initializer="zeros", name="alpha")
            def call(self, inputs):
                return ops.relu(inputs) - self.alpha * ops.relu(-inputs)

        def norms(model, images, labels):
            kernels = [layer.kernel for layer in model.layers if hasattr(layer, "kernel")]
            gradients = autodiff.gradients(
                lambda: ops.mean(keras.losses.sparse_categorical_crossentropy(labels, model(images))), kernels)
            return [float(ops.norm(gradient)) for gradient in gradients]

        try:
            keras.layers.Dense(3)
        except Exception:  # disabled: its __init__ raises (Keras may fail before calling it)
            pass
        else:
            raise AssertionError("keras.layers.Dense should be disabled here")
        layer_probes.dense_forward(Dense, {{"units": 3}}, [2, 3, 4])
        layer_probes.dense_config_round_trip(Dense, {{"units": 3}}, [2, 4])
        layer_probes.saving_round_trip(Dense, {{"units": 3}}, [2, 4], functional=True)
        layer_probes.prelu_probe(PReLU, {{}}, [2, 3])
        layer_probes.gradient_norms(norms, [4, 4], "sigmoid", input_shape=(2, 3), functional=True)

        class Softmax(keras.layers.Layer):
            def __init__(self, axis=-1, **kwargs):
                super().__init__(**kwargs)
                self.axis = axis
            def call(self, inputs):
                exponentials = ops.exp(inputs - ops.max(inputs, axis=self.axis, keepdims=True))
                return exponentials / ops.sum(exponentials, axis=self.axis, keepdims=True)
            def get_config(self):
                return {{**super().get_config(), "axis": self.axis}}
        keras.saving.register_keras_serializable(package="{PACKAGE}")(Softmax)

        layer_probes.activation_with_gradients(lambda x: ops.minimum(ops.maximum(x, 0.0), 6.0), [[[1.0, 7.0]]])
        layer_probes.activation_with_gradients(lambda x: x * ops.tanh(ops.softplus(x)), [[[1.0, -2.0]]])
        layer_probes.activation_with_gradients(lambda x: 0.5 * x * (1 + ops.erf(x / 2**0.5)), [[[1.0, -2.0]]])
        layer_probes.activation_with_gradients(Softmax, [[[1.0, 2.0]]], {{"axis": -1}}, round_trip_config=True)
        layer_probes.saving_round_trip(Softmax, {{"axis": 1}}, [2, 3, 4])
        print("ok")
    """)
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert completed.returncode == 0 and "ok" in completed.stdout, completed.stderr[-3000:]


# ---------------------------------------------------------------------------
# Bad arguments.


@pytest.mark.parametrize(
    "make_check",
    [
        lambda: layer_probes.dense_matches_keras("no units", {}, [2, 3]),
        lambda: layer_probes.dense_matches_keras("units", {"units": 0}, [2, 3]),
        lambda: layer_probes.dense_matches_keras("rank 1", {"units": 2}, [3]),
        lambda: layer_probes.dense_matches_keras("huge", {"units": 2}, [100, 100]),
        lambda: layer_probes.dense_config_matches_keras("arguments", ["units"], [2, 3]),
        lambda: layer_probes.saving_matches_keras("reference", {"units": 2}, [2, 3], reference="mymodule.Dense"),
        lambda: layer_probes.activation_matches_keras("no inputs", "L", "keras.layers.LeakyReLU", []),
        lambda: layer_probes.activation_matches_keras("rank 1", "L", "keras.layers.LeakyReLU", [[1.0, 2.0]]),
        lambda: layer_probes.activation_matches_keras("ragged", "L", "keras.layers.LeakyReLU", [[[1.0], [1.0, 2.0]]]),
        lambda: layer_probes.activation_matches_keras("not keras", "L", "mymodule.LeakyReLU", [[[1.0]]]),
        lambda: layer_probes.activation_matches_keras(
            "function config", "S", "keras.activations.silu", [[[1.0]]], round_trip_config=True),
        lambda: layer_probes.activation_matches_values("lengths", "M", [[[1.0, 2.0]]], [], {"num_pieces": 2}),
        lambda: layer_probes.activation_matches_values(
            "shapes", "M", [[[1.0, 2.0]]], [[[2.0]]], {"num_pieces": 2}, symbolic_input_shapes=[[2]]),
        lambda: layer_probes.prelu_matches_keras("axes", {"shared_axes": [3]}, [2, 3]),
        lambda: layer_probes.gradient_norms_match("activation", [3], "softplus"),
        lambda: layer_probes.gradient_norms_match("no layers", [], "relu"),
        lambda: layer_probes.gradient_norms_match("wide", [500], "relu"),
        lambda: layer_probes.gradient_norms_match("classes", [3], "relu", num_classes=1),
        lambda: layer_probes.gradient_norms_match("batch", [3], "relu", batch_size=0),
        lambda: layer_probes.seeded_values([2, 3], scale=0),
        lambda: layer_probes.activation_function_matches_keras("name", "swish", [[[1.0]]]),
        lambda: layer_probes.activation_function_matches_keras("argument", "mish", [[[1.0]]], {"approximate": True}),
        lambda: layer_probes.activation_function_matches_keras("bool", "gelu", [[[1.0]]], {"approximate": 1}),
        lambda: layer_probes.softmax_matches_keras("axis", [[[1.0]]], axis="last"),
        lambda: layer_probes.softmax_matches_keras("axes", [[[1.0]]], axis=[1, 1]),
    ],
)
def test_bad_arguments_raise_value_error(make_check):
    with pytest.raises(ValueError):
        make_check()
