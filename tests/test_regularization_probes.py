"""Tests for labkit.regularization_probes: built-ins pass against themselves, correct variants pass, wrong ones fail."""

import json
import pathlib
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from keras import ops

from labkit import checks
from labkit import regularization_probes as probes

ROOT = pathlib.Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------
# Dropout: a correct layer written differently from the lab's, and typical mistakes.


class MaskDropout(keras.layers.Layer):
    """A correct inverted dropout: a 0/1 mask multiplied in, seeded through a SeedGenerator."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"rate must be in [0, 1), got {rate}")
        self.rate = rate
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.integer_seed = seed

    def call(self, inputs, training=None):
        if not training:
            return inputs
        mask = ops.cast(keras.random.uniform(ops.shape(inputs), seed=self.seed_generator) < 1 - self.rate,
                        inputs.dtype)
        return inputs * mask * (1.0 / (1.0 - self.rate))


class NoRescaling(MaskDropout):
    def call(self, inputs, training=None):
        return super().call(inputs, training) * (1.0 - self.rate) if training else inputs


class KeepsWithProbabilityRate(MaskDropout):
    def call(self, inputs, training=None):
        if not training:
            return inputs
        keep = keras.random.uniform(ops.shape(inputs), seed=self.seed_generator) < self.rate
        return ops.where(keep, inputs / (1.0 - self.rate), 0.0)


class ActiveUnlessFalse(MaskDropout):
    def call(self, inputs, training=None):
        return super().call(inputs, training=training is not False)


class SameMaskEveryCall(MaskDropout):
    """Passes the integer seed to keras.random: the same mask at every call."""

    def call(self, inputs, training=None):
        if not training:
            return inputs
        keep = keras.random.uniform(ops.shape(inputs), seed=self.integer_seed) >= self.rate
        return ops.where(keep, inputs / (1.0 - self.rate), 0.0)


class UnseededDropout(MaskDropout):
    """Ignores the seed (draws from the global generator): two layers with one seed differ."""

    def call(self, inputs, training=None):
        if not training:
            return inputs
        keep = keras.random.uniform(ops.shape(inputs)) >= self.rate
        return ops.where(keep, inputs / (1.0 - self.rate), 0.0)


class DrawsAtInferenceToo(MaskDropout):
    """Correct but wasteful: draws a mask at every call and uses it only in training."""

    def call(self, inputs, training=None):
        keep = keras.random.uniform(ops.shape(inputs), seed=self.seed_generator) >= self.rate
        if not training:
            return inputs
        return ops.where(keep, inputs / (1.0 - self.rate), 0.0)


class ScalesAtInference(MaskDropout):
    """Original (non-inverted) dropout: drops without rescaling, multiplies by 1 - rate at inference."""

    def call(self, inputs, training=None):
        if training:
            return super().call(inputs, training) * (1.0 - self.rate)
        return inputs * (1.0 - self.rate)


# ---------------------------------------------------------------------------
# Batch normalization.


class MomentsBatchNormalization(keras.layers.Layer):
    """A correct layer: ops.moments, rsqrt, gamma folded into the scale, updates written as moving += ..."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, **kwargs):
        super().__init__(**kwargs)
        self.axis, self.momentum, self.epsilon, self.center, self.scale = axis, momentum, epsilon, center, scale

    def build(self, input_shape):
        axis = self.axis % len(input_shape)
        shape = (input_shape[axis],)
        self.gamma = self.add_weight(shape=shape, initializer="ones", name="gamma") if self.scale else None
        self.beta = self.add_weight(shape=shape, initializer="zeros", name="beta") if self.center else None
        self.moving_mean = self.add_weight(shape=shape, initializer="zeros", trainable=False, name="moving_mean")
        self.moving_variance = self.add_weight(shape=shape, initializer="ones", trainable=False,
                                               name="moving_variance")
        self.axes = [index for index in range(len(input_shape)) if index != axis]
        self.shape = [1] * len(input_shape)
        self.shape[axis] = input_shape[axis]

    def statistics(self, inputs):
        return ops.moments(inputs, axes=self.axes)

    def update(self, mean, variance):
        self.moving_mean.assign(self.moving_mean + (mean - self.moving_mean) * (1 - self.momentum))
        self.moving_variance.assign(self.moving_variance + (variance - self.moving_variance) * (1 - self.momentum))

    def use_batch_statistics(self, training):
        return training and self.trainable

    def normalize(self, inputs, mean, variance):
        inverse = ops.rsqrt(ops.reshape(variance, self.shape) + self.epsilon)
        if self.scale:
            inverse = inverse * ops.reshape(self.gamma, self.shape)
        outputs = inputs * inverse - ops.reshape(mean, self.shape) * inverse
        return outputs + ops.reshape(self.beta, self.shape) if self.center else outputs

    def call(self, inputs, training=None):
        if self.use_batch_statistics(training):
            mean, variance = self.statistics(inputs)
            self.update(mean, variance)
        else:
            mean, variance = self.moving_mean, self.moving_variance
        return self.normalize(inputs, mean, variance)


class SquaresBatchNormalization(MomentsBatchNormalization):
    """Also correct: variance as E[x^2] - E[x]^2."""

    def statistics(self, inputs):
        mean = ops.mean(inputs, axis=self.axes)
        return mean, ops.mean(ops.square(inputs), axis=self.axes) - ops.square(mean)


class UnbiasedVariance(MomentsBatchNormalization):
    def statistics(self, inputs):
        mean, variance = super().statistics(inputs)
        count = np.prod([inputs.shape[index] for index in self.axes])
        return mean, variance * count / (count - 1)


class EpsilonOutsideSqrt(MomentsBatchNormalization):
    def normalize(self, inputs, mean, variance):
        deviation = ops.sqrt(ops.reshape(variance, self.shape))
        outputs = (inputs - ops.reshape(mean, self.shape)) / (deviation + self.epsilon)
        if self.scale:
            outputs = outputs * ops.reshape(self.gamma, self.shape)
        return outputs + ops.reshape(self.beta, self.shape) if self.center else outputs


class MomentumReversed(MomentsBatchNormalization):
    def update(self, mean, variance):
        self.moving_mean.assign(self.moving_mean * (1 - self.momentum) + mean * self.momentum)
        self.moving_variance.assign(self.moving_variance * (1 - self.momentum) + variance * self.momentum)


class BatchStatisticsAlways(MomentsBatchNormalization):
    def use_batch_statistics(self, training):
        return True


class IgnoresTrainable(MomentsBatchNormalization):
    def use_batch_statistics(self, training):
        return bool(training)


class ReducesOnlyTheBatchAxis(MomentsBatchNormalization):
    """Per-position statistics for rank > 2 (reduces axis 0 only): fails on images."""

    def statistics(self, inputs):
        mean, variance = ops.moments(inputs, axes=[0])
        return ops.mean(mean, axis=[index - 1 for index in self.axes if index > 0]), \
            ops.mean(variance, axis=[index - 1 for index in self.axes if index > 0])

# ---------------------------------------------------------------------------
# Layer and group normalization: correct layers written differently from the lab's, and typical mistakes.


@keras.saving.register_keras_serializable(package="regularization_probe_tests")
class MomentsLayerNormalization(keras.layers.Layer):
    """A correct layer normalization: ops.moments, rsqrt, gamma folded into the scale (as Keras computes it)."""

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, **kwargs):
        super().__init__(**kwargs)
        self.axis, self.epsilon, self.center, self.scale = axis, epsilon, center, scale
        self.gamma = self.beta = None

    def build(self, input_shape):
        self.shape = [1] * len(input_shape)
        self.shape[self.axis] = input_shape[self.axis]
        if self.scale:
            self.gamma = self.add_weight(shape=(input_shape[self.axis],), initializer="ones", name="gamma")
        if self.center:
            self.beta = self.add_weight(shape=(input_shape[self.axis],), initializer="zeros", name="beta")

    def statistics(self, inputs):
        return ops.moments(inputs, axes=[self.axis], keepdims=True)

    def call(self, inputs):
        mean, variance = self.statistics(inputs)
        inverse = self.inverse_deviation(variance)
        if self.gamma is not None:
            inverse = inverse * ops.reshape(self.gamma, self.shape)
        outputs = inputs * inverse - mean * inverse
        return outputs + ops.reshape(self.beta, self.shape) if self.beta is not None else outputs

    def inverse_deviation(self, variance):
        return ops.rsqrt(variance + self.epsilon)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale}


class UnbiasedLayerNormalization(MomentsLayerNormalization):
    def statistics(self, inputs):
        mean, variance = super().statistics(inputs)
        count = inputs.shape[self.axis]
        return mean, variance * count / (count - 1)


class EpsilonOutsideLayerNormalization(MomentsLayerNormalization):
    def inverse_deviation(self, variance):
        return 1.0 / (ops.sqrt(variance) + self.epsilon)


class BatchAxisLayerNormalization(MomentsLayerNormalization):
    """Statistics over the batch axis as well: examples are no longer normalized on their own."""

    def statistics(self, inputs):
        return ops.moments(inputs, axes=[0, self.axis], keepdims=True)


class UnregisteredLayerNormalization(MomentsLayerNormalization):
    """Correct values, but not registered for serialization: a saved model would need custom_objects."""


@keras.saving.register_keras_serializable(package="regularization_probe_tests")
class ConfigWithoutEpsilon(MomentsLayerNormalization):
    """Forgets epsilon in get_config: a layer rebuilt from its config uses the default epsilon."""

    def get_config(self):
        config = super().get_config()
        del config["epsilon"]
        return config


@keras.saving.register_keras_serializable(package="regularization_probe_tests")
class TransposedGroupNormalization(keras.layers.Layer):
    """A correct group normalization: (N, S, G, C/G) transposed to (N, G, S, C/G), statistics over the last two."""

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True, **kwargs):
        super().__init__(**kwargs)
        self.groups, self.axis, self.epsilon, self.center, self.scale = groups, axis, epsilon, center, scale
        self.gamma = self.beta = None

    def build(self, input_shape):
        channels = input_shape[-1]
        if self.groups == -1:
            self.groups = channels
        if channels % self.groups:
            raise ValueError(f"{self.groups} groups do not divide {channels} channels")
        if self.scale:
            self.gamma = self.add_weight(shape=(channels,), initializer="ones", name="gamma")
        if self.center:
            self.beta = self.add_weight(shape=(channels,), initializer="zeros", name="beta")

    def grouped(self, inputs):
        batch, channels = inputs.shape[0], inputs.shape[-1]
        return ops.transpose(ops.reshape(inputs, (batch, -1, self.groups, channels // self.groups)), (0, 2, 1, 3))

    def ungrouped(self, grouped, shape):
        return ops.reshape(ops.transpose(grouped, (0, 2, 1, 3)), shape)

    def deviation(self, variance):
        return ops.sqrt(variance + self.epsilon)

    def variance(self, grouped, mean):
        return ops.var(grouped, axis=(2, 3), keepdims=True)

    def call(self, inputs):
        grouped = self.grouped(inputs)
        mean = ops.mean(grouped, axis=(2, 3), keepdims=True)
        outputs = self.ungrouped((grouped - mean) / self.deviation(self.variance(grouped, mean)), ops.shape(inputs))
        if self.gamma is not None:
            outputs = outputs * self.gamma
        return outputs + self.beta if self.beta is not None else outputs

    def get_config(self):
        return {**super().get_config(), "groups": self.groups, "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale}


class InterleavedGroups(TransposedGroupNormalization):
    """Reshapes the channels to (C/G, G): a group is every G-th channel instead of C/G consecutive ones."""

    def grouped(self, inputs):
        batch, channels = inputs.shape[0], inputs.shape[-1]
        return ops.transpose(ops.reshape(inputs, (batch, -1, channels // self.groups, self.groups)), (0, 3, 1, 2))

    def ungrouped(self, grouped, shape):
        return ops.reshape(ops.transpose(grouped, (0, 2, 3, 1)), shape)


class UnbiasedGroupNormalization(TransposedGroupNormalization):
    def variance(self, grouped, mean):
        count = grouped.shape[2] * grouped.shape[3]
        return ops.sum(ops.square(grouped - mean), axis=(2, 3), keepdims=True) / (count - 1)


class EpsilonOutsideGroupNormalization(TransposedGroupNormalization):
    def deviation(self, variance):
        return ops.sqrt(variance) + self.epsilon


class BatchAxisGroupNormalization(TransposedGroupNormalization):
    def call(self, inputs):
        grouped = self.grouped(inputs)
        mean, variance = ops.moments(grouped, axes=(0, 2, 3), keepdims=True)
        outputs = self.ungrouped((grouped - mean) / ops.sqrt(variance + self.epsilon), ops.shape(inputs))
        if self.gamma is not None:
            outputs = outputs * self.gamma
        return outputs + self.beta if self.beta is not None else outputs


class RunningStatisticsGroupNormalization(TransposedGroupNormalization):
    """Keeps BN-style moving statistics and uses them at inference: training and inference differ."""

    def build(self, input_shape):
        super().build(input_shape)
        self.moving_variance = self.add_weight(shape=(self.groups,), initializer="ones", trainable=False)

    def call(self, inputs, training=None):
        if training:
            return super().call(inputs)
        grouped = self.grouped(inputs)
        mean = ops.mean(grouped, axis=(2, 3), keepdims=True)
        deviation = ops.sqrt(ops.reshape(self.moving_variance, (1, -1, 1, 1)) + self.epsilon)
        outputs = self.ungrouped((grouped - mean) / deviation, ops.shape(inputs))
        return outputs * self.gamma + self.beta


class UncheckedGroupNormalization(TransposedGroupNormalization):
    """Validates nothing: groups=0 fails with ZeroDivisionError in build instead of a clear ValueError."""


# ---------------------------------------------------------------------------
# Penalties, steps, augmentation.


def l2_as_dot_product(weights, factor):
    flat = ops.reshape(weights, (-1,))
    return factor * ops.dot(flat, flat)


def l1_as_maximum(weights, factor):
    return factor * ops.sum(ops.maximum(weights, -weights))


def l2_with_one_half(weights, factor):
    return 0.5 * factor * ops.sum(ops.square(weights))


def l1_with_squares(weights, factor):
    return factor * ops.sum(ops.square(weights))


def l2_in_numpy(weights, factor):
    """Right value, but NumPy: not differentiable by the backend."""
    return factor * float(np.sum(np.square(np.asarray(weights))))


def decay_step_factored(weights, gradient, learning_rate, weight_decay):
    return (1.0 - learning_rate * weight_decay) * weights - learning_rate * gradient


def decay_step_without_learning_rate(weights, gradient, learning_rate, weight_decay):
    return weights - weight_decay * weights - learning_rate * gradient


def l2_step_factored(weights, gradient, learning_rate, l2_factor):
    return (1.0 - 2.0 * learning_rate * l2_factor) * weights - learning_rate * gradient


def l2_step_without_factor_two(weights, gradient, learning_rate, l2_factor):
    return weights - learning_rate * (gradient + l2_factor * weights)


def augmentation_with_ranges(translation=0.1, rotation=0.05, flip=None, seed=None):
    """Correct: symmetric ranges written as tuples."""
    layers = [keras.layers.RandomFlip(flip, seed=seed)] if flip else []
    if translation > 0:
        layers.append(keras.layers.RandomTranslation((-translation, translation), (-translation, translation),
                                                     fill_mode="constant", seed=seed))
    if rotation > 0:
        layers.append(keras.layers.RandomRotation((-rotation, rotation), fill_mode="constant", seed=seed))
    return keras.Sequential(layers)


def augmentation_reflect(translation=0.1, rotation=0.05, flip=None, seed=None):
    return keras.Sequential([keras.layers.RandomTranslation(translation, translation, seed=seed),
                             keras.layers.RandomRotation(rotation, seed=seed)])


def augmentation_reversed(translation=0.1, rotation=0.05, flip=None, seed=None):
    return keras.Sequential([keras.layers.RandomRotation(rotation, fill_mode="constant", seed=seed),
                             keras.layers.RandomTranslation(translation, translation, fill_mode="constant", seed=seed)])


NAMESPACE = {name: value for name, value in globals().items() if not name.startswith("_")}
NAMESPACE["NotAClass"] = MaskDropout(0.5)


def outcome(check):
    return checks.evaluate(check, NAMESPACE)


# ---------------------------------------------------------------------------
# The module itself.


def test_import_does_not_load_keras_or_tensorflow():
    code = (
        "import sys, labkit.regularization_probes; "
        "loaded = [name for name in ('keras', 'tensorflow', 'jax', 'torch') if name in sys.modules]; "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------
# Dropout.


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.3, 0.5, 0.8])
@pytest.mark.parametrize("target", ["keras.layers.Dropout", "MaskDropout", "DrawsAtInferenceToo"])
def test_correct_dropout_matches_keras(target, rate):
    result = outcome(probes.dropout_matches_keras("dropout", rate, target=target))
    assert result.passed, result.message


def test_dropout_properties_hold_for_keras():
    properties = probes.dropout_properties(keras.layers.Dropout, 0.3)
    assert all(value is True for key, value in properties.items() if isinstance(value, bool)), properties
    assert properties["kept_scale_min"] == pytest.approx(1 / 0.7, rel=1e-6)
    assert properties["kept_scale_max"] == pytest.approx(1 / 0.7, rel=1e-6)


@pytest.mark.parametrize("seed", range(6))
def test_statistical_tolerances_do_not_fail_a_correct_layer(seed):
    result = outcome(probes.dropout_matches_keras("dropout", 0.4, shape=(50, 200), seed=seed, layer_seed=seed + 10,
                                                  target="MaskDropout"))
    assert result.passed, result.message


@pytest.mark.parametrize(
    "target, broken",
    [
        ("NoRescaling", "kept_scale_min"),
        ("KeepsWithProbabilityRate", "dropped_fraction_matches_rate"),
        ("ActiveUnlessFalse", "default_call_is_identity"),
        ("SameMaskEveryCall", "new_mask_each_call"),
        ("UnseededDropout", "same_seed_same_outputs"),
        ("ScalesAtInference", "training_false_is_identity"),
    ],
)
def test_wrong_dropout_fails(target, broken):
    result = outcome(probes.dropout_matches_keras("dropout", 0.3, target=target))
    assert not result.passed and broken in result.message, result.message


def test_rejected_rates():
    raised = probes.dropout_rejects(MaskDropout, [-0.1, 1.0, 0.0, 0.5])
    assert raised == {"raises_value_error": [True, True, False, False]}
    # Keras 3.15 accepts rate=1 (it returns zeros) where Keras 3.11 refuses it: this is why the lab's check uses
    # literal values, which mean the same whatever Keras is installed.
    keras_3_15 = tuple(int(part) for part in keras.__version__.split(".")[:2]) >= (3, 15)
    assert probes.dropout_rejects(keras.layers.Dropout, [1.0]) == {"raises_value_error": [not keras_3_15]}
    check = probes.dropout_rejects_rates("rates", [1.0, 0.5], [True, False], target="keras.layers.Dropout")
    assert outcome(check).passed is not keras_3_15
    assert outcome(probes.dropout_rejects_rates("rates", [1.0, 0.5], [True, False], target="MaskDropout")).passed


# ---------------------------------------------------------------------------
# Batch normalization.

BATCH_NORM_SCENARIOS = [
    ({}, [8, 5], {}),
    ({"axis": 1}, [4, 3, 5], {}),
    ({"momentum": 0.9, "epsilon": 0.01}, [2, 3, 3, 4], {}),
    ({"center": False, "scale": False}, [6, 4], {}),
    ({"axis": -2, "momentum": 0.8}, [4, 5, 3], {"in_model": True}),
    ({}, [8, 3], {"trainable": False}),
]


@pytest.mark.parametrize("arguments, shape, extra", BATCH_NORM_SCENARIOS)
@pytest.mark.parametrize(
    "target", ["keras.layers.BatchNormalization", "MomentsBatchNormalization", "SquaresBatchNormalization"]
)
def test_correct_batch_norm_matches_keras_in_training(target, arguments, shape, extra):
    result = outcome(probes.batch_norm_training_matches_keras("training", arguments, shape, target=target, **extra))
    assert result.passed, result.message


@pytest.mark.parametrize("arguments, shape, extra", BATCH_NORM_SCENARIOS[:5])
@pytest.mark.parametrize("target", ["MomentsBatchNormalization", "SquaresBatchNormalization"])
def test_correct_batch_norm_matches_keras_at_inference(target, arguments, shape, extra):
    extra = {key: value for key, value in extra.items() if key == "in_model"}
    result = outcome(probes.batch_norm_inference_matches_keras("inference", arguments, shape, target=target, **extra))
    assert result.passed, result.message


def test_batch_norm_probe_reports_keras_semantics():
    result = probes.batch_norm_training(keras.layers.BatchNormalization, {}, [8, 2], calls=2)
    assert result["trainable_weight_count"] == 2 and result["non_trainable_weight_count"] == 2
    assert result["weight_shapes"] == "(2,), (2,), (2,), (2,)"
    frozen = probes.batch_norm_training(keras.layers.BatchNormalization, {}, [8, 2], calls=2, trainable=False)
    assert not np.any(frozen["moving_mean_change"]) and not np.any(frozen["moving_variance_change"])
    inference = probes.batch_norm_inference(keras.layers.BatchNormalization, {}, [8, 2], in_model=True)
    assert inference["moving_statistics_unchanged"] is True
    np.testing.assert_allclose(inference["predict_outputs"], inference["inference_outputs"], rtol=1e-6)


@pytest.mark.parametrize(
    "target, training_fails, inference_fails",
    [
        ("UnbiasedVariance", True, False),
        ("EpsilonOutsideSqrt", True, True),
        ("MomentumReversed", True, False),
        ("BatchStatisticsAlways", True, True),  # the frozen-layer scenario catches it in training too
        ("IgnoresTrainable", True, False),
    ],
)
def test_wrong_batch_norm_fails(target, training_fails, inference_fails):
    training = [outcome(probes.batch_norm_training_matches_keras("training", arguments, shape, target=target, **extra))
                for arguments, shape, extra in BATCH_NORM_SCENARIOS]
    inference = [outcome(probes.batch_norm_inference_matches_keras("inference", arguments, shape, target=target))
                 for arguments, shape, _ in BATCH_NORM_SCENARIOS[:4]]
    assert (not all(result.passed for result in training)) == training_fails
    assert (not all(result.passed for result in inference)) == inference_fails


def test_reducing_only_the_batch_axis_fails_on_images():
    check = probes.batch_norm_training_matches_keras("images", {}, [2, 3, 3, 4], target="ReducesOnlyTheBatchAxis")
    assert not outcome(check).passed
    flat = probes.batch_norm_training_matches_keras("flat", {}, [8, 4], target="ReducesOnlyTheBatchAxis")
    assert outcome(flat).passed  # the same thing for rank-2 inputs


def test_a_layer_without_the_named_weights_fails_with_a_clear_message():
    class NamedDifferently(MomentsBatchNormalization):
        def build(self, input_shape):
            super().build(input_shape)
            self.running_mean, self.moving_mean = self.moving_mean, None

    NAMESPACE["NamedDifferently"] = NamedDifferently
    result = outcome(probes.batch_norm_training_matches_keras("names", {}, [8, 3], target="NamedDifferently"))
    assert not result.passed and "moving_mean" in result.message


# ---------------------------------------------------------------------------
# Penalties.


@pytest.mark.parametrize(
    "target, reference",
    [("keras.regularizers.L2", "keras.regularizers.L2"), ("l2_as_dot_product", "keras.regularizers.L2"),
     ("l1_as_maximum", "keras.regularizers.L1")],
)
def test_correct_penalties_match_keras(target, reference):
    result = outcome(probes.penalty_matches_keras("penalty", target, reference, 0.01, shapes=[[3, 4], [2, 3, 2]]))
    assert result.passed, result.message


def test_closed_forms_match_keras():
    for kind, regularizer in (("l2", keras.regularizers.L2), ("l1", keras.regularizers.L1)):
        expected = probes.reference_penalty_values(kind, 0.3, [[4, 5]], seed=2)
        got = probes.penalty_values(regularizer, 0.3, [[4, 5]], seed=2)
        assert checks.compare_outputs(expected, got, rtol=probes.PENALTY_RTOL, atol=probes.PENALTY_ATOL).passed


def test_closed_form_penalty_by_hand():
    weights = probes._penalty_weights([(2,)], 0)[0].astype(np.float64)
    expected = probes.reference_penalty_values("l2", 0.5, [[2]], seed=0)
    assert expected["values"][0] == pytest.approx(0.5 * float(np.sum(weights**2)))
    np.testing.assert_allclose(expected["gradients"], weights)


@pytest.mark.parametrize(
    "target, kind, reference",
    [("l2_with_one_half", "l2", "keras.regularizers.L2"), ("l1_with_squares", "l1", "keras.regularizers.L1"),
     ("l2_in_numpy", "l2", "keras.regularizers.L2")],
)
def test_wrong_penalties_fail(target, kind, reference):
    assert not outcome(probes.penalty_matches_keras("penalty", target, reference, 0.01)).passed
    assert not outcome(probes.penalty_matches_closed_form("penalty", target, kind, 0.01)).passed


def test_a_numpy_penalty_has_the_right_value_but_no_gradient():
    result = probes.penalty_values(l2_in_numpy, 0.01)
    expected = probes.reference_penalty_values("l2", 0.01)
    np.testing.assert_allclose(result["values"], expected["values"], rtol=1e-5)
    assert np.all(np.isnan(result["gradients"]))


# ---------------------------------------------------------------------------
# SGD steps.


def test_keras_sgd_weight_decay_matches_the_closed_form():
    expected = probes.reference_sgd_displacements("weight_decay", 0.3, 0.2, shape=(4, 3), steps=5)
    got = probes.sgd_displacements(keras.optimizers.SGD, 0.3, 0.2, shape=(4, 3), steps=5)
    assert checks.compare_outputs(expected, got, rtol=probes.SGD_RTOL, atol=probes.SGD_ATOL).passed


def test_closed_form_step_by_hand():
    weights, (gradient,) = probes._sgd_problem((3,), 1, 0)
    weights, gradient = weights.astype(np.float64), gradient.astype(np.float64)
    l2 = probes.reference_sgd_displacements("l2", 0.1, 0.05, shape=(3,), steps=1)
    np.testing.assert_allclose(l2["displacements"][0], -0.1 * (gradient + 0.1 * weights))
    decay = probes.reference_sgd_displacements("weight_decay", 0.1, 0.1, shape=(3,), steps=1)
    np.testing.assert_allclose(decay["displacements"], l2["displacements"])  # d = 2 * l2_factor


@pytest.mark.parametrize(
    "target, rule, factor, expected_factor, passes",
    [
        ("decay_step_factored", "weight_decay", 0.1, None, True),
        ("l2_step_factored", "l2", 0.05, None, True),
        ("l2_step_factored", "weight_decay", 0.05, 0.1, True),
        ("decay_step_without_learning_rate", "weight_decay", 0.1, None, False),
        ("l2_step_without_factor_two", "l2", 0.05, None, False),
        ("l2_step_without_factor_two", "weight_decay", 0.05, 0.1, False),
    ],
)
def test_sgd_steps_against_closed_forms(target, rule, factor, expected_factor, passes):
    check = probes.sgd_step_matches_closed_form("step", target, rule, 0.1, factor, expected_factor=expected_factor)
    result = outcome(check)
    assert result.passed == passes, result.message


def test_decay_step_matches_keras_sgd():
    assert outcome(probes.weight_decay_matches_keras_sgd("sgd", 0.3, 0.2, target="decay_step_factored")).passed
    assert outcome(probes.weight_decay_matches_keras_sgd("sgd", 0.3, 0.2, target="keras.optimizers.SGD")).passed
    assert not outcome(probes.weight_decay_matches_keras_sgd("sgd", 0.3, 0.2,
                                                             target="decay_step_without_learning_rate")).passed


# ---------------------------------------------------------------------------
# Augmentation.

AUGMENTATION_EXPECTED = [
    ("RandomTranslation", {"height_factor": 0.1, "width_factor": 0.1, "fill_mode": "constant", "seed": 3}),
    ("RandomRotation", {"factor": 0.05, "fill_mode": "constant", "seed": 3}),
]


@pytest.mark.parametrize(
    "target, passes",
    [("augmentation_with_ranges", True), ("augmentation_reflect", False), ("augmentation_reversed", False)],
)
def test_augmentation_checks(target, passes):
    check = probes.augmentation_matches("augmentation", {"seed": 3}, AUGMENTATION_EXPECTED, target=target)
    result = outcome(check)
    assert result.passed == passes, result.message


def test_augmentation_probe_describes_layers():
    result = probes.augmentation_pipeline(augmentation_with_ranges, {"flip": "horizontal", "seed": 1})
    assert result["layers"].startswith("RandomFlip(mode='horizontal', seed=1); RandomTranslation(height_factor=(-0.1,")
    assert result["inference_is_identity"] and result["training_changes_images"]
    assert result["training_output_shape"] == "(4, 28, 28, 1)"


# ---------------------------------------------------------------------------
# Targets and arguments.


def test_a_target_that_is_not_a_class_fails_with_a_clear_message():
    result = outcome(probes.dropout_matches_keras("dropout", 0.3, target="NotAClass"))
    assert not result.passed and "class" in result.message


@pytest.mark.parametrize(
    "make_check",
    [
        lambda: probes.dropout_matches_keras("rate", 1.0),
        lambda: probes.dropout_matches_keras("rate", -0.1),
        lambda: probes.dropout_matches_keras("shape", 0.5, shape=[10]),
        lambda: probes.dropout_matches_keras("huge", 0.5, shape=[1000, 1000]),
        lambda: probes.dropout_rejects_rates("lengths", [0.5, 1.0], [False]),
        lambda: probes.batch_norm_training_matches_keras("batch axis", {"axis": 0}, [4, 3]),
        lambda: probes.batch_norm_training_matches_keras("axis range", {"axis": 2}, [4, 3]),
        lambda: probes.batch_norm_training_matches_keras("calls", {}, [4, 3], calls=0),
        lambda: probes.batch_norm_inference_matches_keras("large", {}, [100, 100]),
        lambda: probes.penalty_matches_keras("reference", "l2_penalty", "keras.regularizers.L1L2", 0.1),
        lambda: probes.penalty_matches_keras("factor", "l2_penalty", "keras.regularizers.L2", -0.1),
        lambda: probes.penalty_matches_closed_form("kind", "l2_penalty", "l3", 0.1),
        lambda: probes.sgd_step_matches_closed_form("rule", "step", "adam", 0.1, 0.1),
        lambda: probes.sgd_step_matches_closed_form("rate", "step", "l2", 0.0, 0.1),
        lambda: probes.sgd_step_matches_closed_form("steps", "step", "l2", 0.1, 0.1, steps=50),
        lambda: probes.augmentation_matches("layers", {}, []),
        lambda: probes.augmentation_matches("unknown", {}, [("RandomCrop", {})]),
        lambda: probes.normalization_matches_keras("reference", "LayerNormalization", "keras.layers.Dense", {}, [2, 3]),
        lambda: probes.normalization_matches_keras("one example", "LayerNormalization",
                                                   "keras.layers.LayerNormalization", {}, [1, 3]),
        lambda: probes.group_norm_special_case_matches("case", "batch_norm", [2, 2, 2, 4]),
        lambda: probes.normalization_rejects_arguments("lengths", "GroupNormalization", [({}, [2, 4])], []),
    ],
)
def test_bad_arguments_raise_value_error(make_check):
    with pytest.raises(ValueError):
        make_check()


def test_probes_reject_bad_arguments_too():
    with pytest.raises(ValueError):
        probes.dropout_properties(MaskDropout, 1.5)
    with pytest.raises(ValueError):
        probes.batch_norm_training(MomentsBatchNormalization, {"axis": 5}, [4, 3])
    with pytest.raises(TypeError):
        probes.penalty_values(l2_as_dot_product(np.ones(2, "float32"), 1.0), 0.1)
    with pytest.raises(TypeError):
        probes.sgd_displacements("not a function", 0.1, 0.1)


# ---------------------------------------------------------------------------
# Layer and group normalization.

LAYER_NORM_SCENARIOS = [({}, [4, 6]), ({"epsilon": 0.01}, [3, 2, 2, 5]), ({"axis": 1, "center": False}, [3, 4, 5]),
                        ({"axis": -2, "scale": False}, [2, 3, 4]), ({"epsilon": 0.1}, [5, 3])]
GROUP_NORM_SCENARIOS = [({"groups": 2}, [4, 6]), ({"groups": 4}, [3, 2, 2, 8]), ({"groups": -1, "epsilon": 0.01},
                        [3, 2, 3, 4]), ({"groups": 3, "scale": False}, [3, 5, 6]), ({"groups": 1, "center": False},
                                                                                   [2, 3, 3, 4])]


def layer_norm_results(target):
    return [outcome(probes.normalization_matches_keras("layer norm", target, "keras.layers.LayerNormalization",
                                                       arguments, shape)) for arguments, shape in LAYER_NORM_SCENARIOS]


def group_norm_results(target):
    results = [outcome(probes.normalization_matches_keras("group norm", target, "keras.layers.GroupNormalization",
                                                          arguments, shape)) for arguments, shape in GROUP_NORM_SCENARIOS]
    return results + [outcome(probes.group_norm_special_case_matches("layer norm", "layer_norm", [3, 2, 2, 4],
                                                                     target=target)),
                      outcome(probes.group_norm_special_case_matches("instance norm", "instance_norm", [3, 3, 2, 4],
                                                                     epsilon=0.01, target=target))]


@pytest.mark.parametrize("target", ["keras.layers.LayerNormalization", "MomentsLayerNormalization"])
def test_correct_layer_norm_matches_keras(target):
    assert all(result.passed for result in layer_norm_results(target)), [r.message for r in layer_norm_results(target)]


@pytest.mark.parametrize("target", ["keras.layers.GroupNormalization", "TransposedGroupNormalization"])
def test_correct_group_norm_matches_keras_and_the_special_cases(target):
    results = group_norm_results(target)
    assert all(result.passed for result in results), [result.message for result in results]


@pytest.mark.parametrize(
    "target, broken",
    [
        ("UnbiasedLayerNormalization", "outputs"),
        ("EpsilonOutsideLayerNormalization", "outputs"),
        ("BatchAxisLayerNormalization", "outputs"),
        ("UnregisteredLayerNormalization", "deserializes_without_custom_objects"),
        ("ConfigWithoutEpsilon", "config"),
    ],
)
def test_wrong_layer_norm_fails(target, broken):
    failed = [result for result in layer_norm_results(target) if not result.passed]
    assert failed and any(broken in result.message for result in failed), [result.message for result in failed]


@pytest.mark.parametrize(
    "target, broken",
    [
        ("InterleavedGroups", "outputs"),
        ("UnbiasedGroupNormalization", "outputs"),
        ("EpsilonOutsideGroupNormalization", "outputs"),
        ("BatchAxisGroupNormalization", "outputs"),
        ("RunningStatisticsGroupNormalization", "training_flag_ignored"),
    ],
)
def test_wrong_group_norm_fails(target, broken):
    failed = [result for result in group_norm_results(target) if not result.passed]
    assert failed and any(broken in result.message for result in failed), [result.message for result in failed]


def test_group_norm_special_cases_are_what_they_say():
    """groups=1 is layer norm over (H, W, C) and groups=C instance norm: Keras's own layers agree with the references."""
    inputs = probes._normalization_inputs((3, 2, 2, 4), 0)
    layer_norm = keras.layers.LayerNormalization(axis=[1, 2, 3], center=False, scale=False)
    expected = probes.reference_group_norm_special_case("layer_norm", [3, 2, 2, 4])["outputs"]
    np.testing.assert_allclose(ops.convert_to_numpy(layer_norm(inputs)), expected, rtol=1e-4, atol=1e-5)
    instance = probes.reference_group_norm_special_case("instance_norm", [3, 2, 2, 4])["outputs"]
    assert not np.allclose(instance, expected)
    by_hand = (inputs[0, :, :, 1] - inputs[0, :, :, 1].mean()) / np.sqrt(inputs[0, :, :, 1].astype(float).var() + 1e-3)
    np.testing.assert_allclose(np.asarray(instance)[0, :, :, 1], by_hand, rtol=1e-6)


def test_normalization_probe_reports_keras_semantics():
    result = probes.normalization_outputs(keras.layers.GroupNormalization, {"groups": 2}, [3, 2, 2, 4])
    assert result["non_trainable_weight_count"] == 0 and result["training_flag_ignored"] is True
    assert result["config_round_trip"] is True and result["deserializes_without_custom_objects"] is True
    assert result["weight_shapes"] == "(4,), (4,)" and result["config"]["groups"] == 2
    assert np.all(np.isfinite(result["input_gradients"])) and result["weight_gradients"].shape == (8,)


def test_normalization_rejections():
    cases = [({"groups": 0}, [2, 4]), ({"groups": 3}, [2, 4]), ({"groups": 2}, [2, 4])]
    assert probes.normalization_rejects(keras.layers.GroupNormalization, cases) == {
        "raises_value_error": [True, True, False]}
    lax = outcome(probes.normalization_rejects_arguments("rejects", "UncheckedGroupNormalization",
                                                         [({"groups": 0}, [2, 4])], [True]))
    assert not lax.passed and "ZeroDivisionError" in lax.message


# ---------------------------------------------------------------------------
# The probes run while the grader disables the built-ins the lab forbids.


def test_student_side_probes_do_not_need_the_forbidden_built_ins():
    notebook = json.loads((ROOT / "solutions" / "04_regularization" / "04_regularization.ipynb").read_text())
    forbidden = sorted({path for paths in notebook["metadata"]["labkit"]["forbidden_builtins"].values()
                        for path in paths})
    code = textwrap.dedent(f"""
        import keras, numpy as np
        from keras import ops
        from autograder.sandboxed import runner
        from labkit import regularization_probes as probes
        from tests.test_regularization_probes import (MaskDropout, MomentsBatchNormalization, l2_as_dot_product,
                                                      l1_as_maximum, decay_step_factored, augmentation_with_ranges,
                                                      MomentsLayerNormalization, TransposedGroupNormalization)

        runner.disable_builtins({forbidden!r})
        for disabled in (lambda: keras.layers.Dropout(0.5), lambda: keras.layers.BatchNormalization(),
                         lambda: keras.regularizers.L2(0.1), lambda: keras.optimizers.SGD()):
            try:
                disabled()
            except Exception:  # disabled: its __new__/__init__ raises
                pass
            else:
                raise AssertionError("a forbidden built-in still works")
        properties = probes.dropout_properties(MaskDropout, 0.3)
        assert all(value for value in properties.values() if isinstance(value, bool)), properties
        probes.dropout_rejects(MaskDropout, [1.0, 0.5])
        probes.batch_norm_training(MomentsBatchNormalization, {{"axis": 1}}, [2, 3, 4], in_model=True)
        probes.batch_norm_training(MomentsBatchNormalization, {{}}, [8, 3], trainable=False)
        probes.batch_norm_inference(MomentsBatchNormalization, {{}}, [8, 3], in_model=True)
        probes.penalty_values(l2_as_dot_product, 0.1, [[3, 4]])
        probes.penalty_values(l1_as_maximum, 0.1, [[3, 4]])
        probes.sgd_displacements(decay_step_factored, 0.1, 0.1)
        probes.augmentation_pipeline(augmentation_with_ranges, {{"flip": "horizontal"}})
        for layer_class, arguments in ((MomentsLayerNormalization, {{}}), (TransposedGroupNormalization, {{"groups": 2}})):
            result = probes.normalization_outputs(layer_class, arguments, [3, 2, 2, 4])
            assert result["deserializes_without_custom_objects"] and result["config_round_trip"], result
            probes.normalization_rejects(layer_class, [({{}}, [2, 4])])
        print("ok")
    """)
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert completed.returncode == 0 and "ok" in completed.stdout, completed.stderr[-3000:]
