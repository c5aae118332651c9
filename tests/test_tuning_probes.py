"""Tests for labkit.tuning_probes: correct implementations pass, known-wrong ones fail, bad input raises."""

import math
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import ops

from labkit import checks
from labkit import tuning_probes

# ---------------------------------------------------------------------------
# Implementations: correct ones written in different styles, and known-wrong ones.


def log_uniform_base10(low, high, count, rng):
    return 10.0 ** rng.uniform(np.log10(low), np.log10(high), size=count)


def log_uniform_natural(low, high, count, rng):
    return np.exp(rng.uniform(math.log(low), math.log(high), size=count))


def log_uniform_power(low, high, count, rng):
    return [low * (high / low) ** rng.random() for _ in range(count)]  # a list of floats, one draw at a time


def log_uniform_as_a_tensor(low, high, count, rng):
    """Correct, returned as a backend tensor computed from a trainable keras.Variable (on torch: requires grad)."""
    exponents = keras.Variable(rng.uniform(np.log10(low), np.log10(high), size=count), dtype="float32")
    return ops.power(ops.convert_to_tensor(10.0, dtype="float32"), exponents)


def log_uniform_linear(low, high, count, rng):
    return rng.uniform(low, high, size=count)


def log_uniform_mixed_bases(low, high, count, rng):
    return np.exp(rng.uniform(np.log10(low), np.log10(high), size=count))


def log_uniform_grid(low, high, count, rng):
    return np.logspace(np.log10(low), np.log10(high), count)


def log_uniform_global_random(low, high, count, rng):
    return 10.0 ** np.random.uniform(np.log10(low), np.log10(high), size=count)


def configurations(count, learning_rate_range, weight_decay_range, rng):
    learning_rates = log_uniform_base10(*learning_rate_range, count, rng)
    weight_decays = log_uniform_base10(*weight_decay_range, count, rng)
    return [{"learning_rate": float(a), "weight_decay": float(b)} for a, b in zip(learning_rates, weight_decays)]


def configurations_one_draw(count, learning_rate_range, weight_decay_range, rng):
    positions = rng.uniform(size=count)
    (a, b), (c, d) = learning_rate_range, weight_decay_range
    return [{"learning_rate": a * (b / a) ** u, "weight_decay": c * (d / c) ** u} for u in positions]


def configurations_swapped_ranges(count, learning_rate_range, weight_decay_range, rng):
    return configurations(count, weight_decay_range, learning_rate_range, rng)


def configurations_other_key(count, learning_rate_range, weight_decay_range, rng):
    return [{"lr": item["learning_rate"], "weight_decay": item["weight_decay"]}
            for item in configurations(count, learning_rate_range, weight_decay_range, rng)]


def refine_range(values, scores, top_fraction=0.25, expand=2.0):
    keep = max(1, math.ceil(top_fraction * len(values)))
    best = np.argsort(scores)[::-1][:keep]
    return values[best].min() / expand, values[best].max() * expand


def refine_range_in_log_space(values, scores, top_fraction=0.25, expand=2.0):
    pairs = sorted(zip(scores, values), reverse=True)[:max(1, math.ceil(top_fraction * len(values)))]
    logs = [math.log10(value) for _, value in pairs]
    return 10 ** (min(logs) - math.log10(expand)), 10 ** (max(logs) + math.log10(expand))


def refine_range_as_tensors(values, scores, top_fraction=0.25, expand=2.0):
    """Correct, returned as a pair of backend tensors computed from a trainable keras.Variable."""
    low, high = refine_range(values, scores, top_fraction, expand)
    bounds = keras.Variable([low, high], dtype="float32")  # float32 rounding is within RANGE_RTOL
    return bounds[0] * 1.0, bounds[1] * 1.0


def refine_range_worst(values, scores, top_fraction=0.25, expand=2.0):
    best = np.argsort(scores)[:max(1, math.ceil(top_fraction * len(values)))]
    return values[best].min() / expand, values[best].max() * expand


def refine_range_floor(values, scores, top_fraction=0.25, expand=2.0):
    best = np.argsort(scores)[::-1][:max(1, int(top_fraction * len(values)))]
    return values[best].min() / expand, values[best].max() * expand


def refine_range_unpaired(values, scores, top_fraction=0.25, expand=2.0):
    keep = max(1, math.ceil(top_fraction * len(values)))
    top_values = np.sort(values)[::-1][:keep]  # the largest values, not those with the best scores
    return top_values.min() / expand, top_values.max() * expand


def boundary(values, scores, low, high, margin=0.1):
    best = values[int(np.argmax(scores))]
    position = (math.log(best) - math.log(low)) / (math.log(high) - math.log(low))
    return "low" if position < margin else "high" if position > 1 - margin else "inside"


def boundary_linear(values, scores, low, high, margin=0.1):
    best = values[int(np.argmax(scores))]
    position = (best - low) / (high - low)
    return "low" if position < margin else "high" if position > 1 - margin else "inside"


def boundary_worst(values, scores, low, high, margin=0.1):
    return boundary(values, -np.asarray(scores), low, high, margin)


def feature_extractor(base, num_classes):
    base.trainable = False
    inputs = keras.Input(shape=base.input_shape[1:])
    outputs = keras.layers.Dense(num_classes, activation="softmax")(base(inputs, training=False))
    return keras.Model(inputs, outputs)


def feature_extractor_sequential(base, num_classes):
    for layer in base.layers:
        layer.trainable = False
    base.trainable = False
    return keras.Sequential([base, keras.layers.Dense(num_classes), keras.layers.Softmax()])


def feature_extractor_layers_frozen(base, num_classes):
    """Correct too: freezes every layer of the base instead of the base model itself."""
    for layer in base.layers:
        layer.trainable = False
    inputs = keras.Input(shape=base.input_shape[1:])
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(base(inputs, training=False)))


def feature_extractor_not_frozen(base, num_classes):
    inputs = keras.Input(shape=base.input_shape[1:])
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(base(inputs, training=False)))


def feature_extractor_logits(base, num_classes):
    base.trainable = False
    inputs = keras.Input(shape=base.input_shape[1:])
    return keras.Model(inputs, keras.layers.Dense(num_classes)(base(inputs, training=False)))


def feature_extractor_copy(base, num_classes):
    copy = keras.models.clone_model(base)
    copy.set_weights(base.get_weights())
    copy.trainable = False
    base.trainable = False
    return feature_extractor(copy, num_classes)


def unfreeze_top(base, layer_count):
    base.trainable = True
    first = len(base.layers) - layer_count
    for index, layer in enumerate(base.layers):
        layer.trainable = index >= first and not isinstance(layer, keras.layers.BatchNormalization)


def unfreeze_top_by_slices(base, layer_count):
    base.trainable = True
    for layer in base.layers[:len(base.layers) - layer_count]:
        layer.trainable = False
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False


def unfreeze_top_with_batch_norm(base, layer_count):
    base.trainable = True
    for layer in base.layers[:len(base.layers) - layer_count]:
        layer.trainable = False


def unfreeze_bottom(base, layer_count):
    base.trainable = True
    for index, layer in enumerate(base.layers):
        layer.trainable = index < layer_count and not isinstance(layer, keras.layers.BatchNormalization)


def unfreeze_top_negative_slice(base, layer_count):
    base.trainable = True
    for layer in base.layers[:-layer_count]:
        layer.trainable = False
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False


def unfreeze_top_without_base(base, layer_count):
    for layer in base.layers[len(base.layers) - layer_count:]:
        layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)


def ensemble(models, inputs, from_logits=False):
    outputs = [model(inputs, training=False) for model in models]
    if from_logits:
        outputs = [ops.softmax(output, axis=-1) for output in outputs]
    return ops.convert_to_numpy(ops.mean(ops.stack(outputs), axis=0))


def ensemble_with_predict(models, inputs, from_logits=False):
    total = 0.0
    for model in models:
        predictions = model.predict(inputs, verbose=0)
        if from_logits:
            predictions = np.exp(predictions - predictions.max(axis=1, keepdims=True))
            predictions /= predictions.sum(axis=1, keepdims=True)
        total = total + predictions
    return total / len(models)


def ensemble_mean_logits(models, inputs, from_logits=False):
    outputs = [model(inputs) for model in models]
    if from_logits:
        return ops.softmax(ops.mean(ops.stack(outputs), axis=0), axis=-1)
    return ops.mean(ops.stack(outputs), axis=0)


def ensemble_no_softmax(models, inputs, from_logits=False):
    return ops.mean(ops.stack([model(inputs) for model in models]), axis=0)


def ensemble_vote(models, inputs, from_logits=False):
    votes = [np.argmax(ops.convert_to_numpy(model(inputs)), axis=1) for model in models]
    classes = int(models[0].output_shape[-1])
    return np.mean([np.eye(classes)[vote] for vote in votes], axis=0)


def checkpoint_ensemble(paths, inputs):
    return ensemble([keras.saving.load_model(path) for path in paths], inputs)


def checkpoint_ensemble_running_mean(paths, inputs):
    """Correct too: keras.models.load_model, predict, and a running mean in float64."""
    mean = None
    for count, path in enumerate(paths, start=1):
        probabilities = keras.models.load_model(path).predict(inputs, verbose=0).astype(np.float64)
        mean = probabilities if mean is None else mean + (probabilities - mean) / count
    return mean


def checkpoint_ensemble_last_only(paths, inputs):
    return ensemble([keras.saving.load_model(paths[-1])], inputs)


def checkpoint_ensemble_first_model_each_time(paths, inputs):
    return ensemble([keras.saving.load_model(paths[0]) for _ in paths], inputs)


def checkpoint_ensemble_sum(paths, inputs):
    return sum(ops.convert_to_numpy(keras.saving.load_model(path)(inputs)) for path in paths)


def checkpoint_ensemble_vote(paths, inputs):
    return ensemble_vote([keras.saving.load_model(path) for path in paths], inputs)


class Snapshots(keras.callbacks.Callback):
    def __init__(self, cycle_epochs, max_learning_rate, min_learning_rate=0.0):
        super().__init__()
        self.cycle_epochs, self.high, self.low = cycle_epochs, max_learning_rate, min_learning_rate
        self.snapshots, self.step = [], 0

    def learning_rate(self, step):
        cycle = self.cycle_epochs * self.params["steps"]
        return self.low + (self.high - self.low) * (1 + math.cos(math.pi * (step % cycle) / cycle)) / 2

    def on_train_begin(self, logs=None):
        self.snapshots, self.step = [], 0

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate = self.learning_rate(self.step)
        self.step += 1

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.cycle_epochs == 0:
            self.snapshots.append(self.model.get_weights())


class SnapshotsFromEpochAndBatch(Snapshots):
    """Correct too: the step from the epoch and the batch index, the learning rate assigned with ops."""

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        step = self.epoch * self.params["steps"] + batch
        self.model.optimizer.learning_rate.assign(ops.cast(self.learning_rate(step), "float32"))

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.cycle_epochs == 0:
            self.snapshots.append([ops.convert_to_numpy(weight) for weight in self.model.weights])


class SnapshotsPerEpoch(Snapshots):
    def learning_rate(self, step):
        position = (step // self.params["steps"] % self.cycle_epochs) / self.cycle_epochs
        return self.low + (self.high - self.low) * (1 + math.cos(math.pi * position)) / 2


class SnapshotsLive(Snapshots):
    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.cycle_epochs == 0:
            self.snapshots.append(self.model.weights)


class SnapshotsAtCycleStart(Snapshots):
    def on_epoch_end(self, epoch, logs=None):
        if epoch % self.cycle_epochs == 0:
            self.snapshots.append(self.model.get_weights())


class SnapshotsNeverReset(Snapshots):
    def on_train_begin(self, logs=None):
        pass


class SnapshotsNoRestart(Snapshots):
    def learning_rate(self, step):
        total = self.params["epochs"] * self.params["steps"]
        return self.low + (self.high - self.low) * (1 + math.cos(math.pi * step / total)) / 2


class Average(keras.callbacks.Callback):
    def __init__(self, momentum=0.99):
        super().__init__()
        self.momentum = momentum
        self.average_weights = None

    def on_train_begin(self, logs=None):
        self.average_weights = None

    def on_train_batch_end(self, batch, logs=None):
        current = [ops.convert_to_numpy(weight) for weight in self.model.trainable_weights]
        if self.average_weights is None:
            self.average_weights = current
        else:
            self.average_weights = [self.momentum * average + (1 - self.momentum) * weight
                                    for average, weight in zip(self.average_weights, current)]

    def on_train_end(self, logs=None):
        for variable, average in zip(self.model.trainable_weights, self.average_weights):
            variable.assign(average)


class AverageWithVariables(keras.callbacks.Callback):
    """Correct too: the averages are keras.Variables updated with ops and a step counter."""

    def __init__(self, momentum=0.99):
        super().__init__()
        self.momentum = momentum

    def on_train_begin(self, logs=None):
        self.average_weights = [keras.Variable(ops.zeros(weight.shape)) for weight in self.model.trainable_weights]
        self.steps = 0

    def on_train_batch_end(self, batch, logs=None):
        momentum = self.momentum if self.steps else 0.0
        for average, weight in zip(self.average_weights, self.model.trainable_weights):
            average.assign(momentum * average + (1.0 - momentum) * weight)
        self.steps += 1

    def on_train_end(self, logs=None):
        for variable, average in zip(self.model.trainable_weights, self.average_weights):
            variable.assign(average)


class AverageReversed(Average):
    def on_train_batch_end(self, batch, logs=None):
        current = [ops.convert_to_numpy(weight) for weight in self.model.trainable_weights]
        if self.average_weights is None:
            self.average_weights = current
        else:
            self.average_weights = [(1 - self.momentum) * average + self.momentum * weight
                                    for average, weight in zip(self.average_weights, current)]


class AverageFromInitialWeights(Average):
    def on_train_begin(self, logs=None):
        self.average_weights = [ops.convert_to_numpy(weight) for weight in self.model.trainable_weights]


class AveragePerEpoch(Average):
    def on_train_batch_end(self, batch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        super().on_train_batch_end(0)


class AverageNotSwappedIn(Average):
    def on_train_end(self, logs=None):
        pass


class AverageKeyedByShape(Average):
    """Wrong: one running average per weight shape, so same-shaped weights (the two biases) share one."""

    def on_train_batch_end(self, batch, logs=None):
        current = {tuple(weight.shape): ops.convert_to_numpy(weight) for weight in self.model.trainable_weights}
        if self.average_weights is None:
            self.averages_by_shape = current
        else:
            self.averages_by_shape = {shape: self.momentum * self.averages_by_shape[shape] + (1 - self.momentum) * value
                                      for shape, value in current.items()}
        self.average_weights = [self.averages_by_shape[tuple(weight.shape)] for weight in self.model.trainable_weights]


NAMESPACE = {name: value for name, value in globals().items() if callable(value)}
NAMESPACE["not_a_class"] = Average()


def outcome(check):
    return checks.evaluate(check, NAMESPACE)


# ---------------------------------------------------------------------------
# The module itself.


def test_import_does_not_load_keras_or_tensorflow():
    code = (
        "import sys, labkit.tuning_probes; "
        "loaded = [name for name in ('keras', 'tensorflow', 'jax', 'torch') if name in sys.modules]; "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------
# Part 1: log-uniform sampling.


@pytest.mark.parametrize("target", ["log_uniform_base10", "log_uniform_natural", "log_uniform_power",
                                    "log_uniform_as_a_tensor"])
@pytest.mark.parametrize("low, high", [(1e-4, 1e-1), (0.5, 2.0), (3.0, 3000.0)])
def test_correct_samplers_pass(target, low, high):
    result = outcome(tuning_probes.log_uniform_matches("sampler", low, high, count=20000, seed=3, target=target))
    assert result.passed, result.message


@pytest.mark.parametrize("target", ["log_uniform_linear", "log_uniform_mixed_bases", "log_uniform_grid",
                                    "log_uniform_global_random"])
def test_wrong_samplers_fail(target):
    for low, high in [(1e-4, 1e-1), (0.5, 2.0)]:
        check = tuning_probes.log_uniform_matches("sampler", low, high, count=20000, target=target)
        assert not outcome(check).passed, (target, low, high)


def test_log_uniform_probe_reports_quantiles_near_the_levels():
    result = tuning_probes.log_uniform_properties(log_uniform_base10, 1e-3, 1.0, count=50000, seed=0)
    np.testing.assert_allclose(result["log_quantiles"], tuning_probes.QUANTILE_LEVELS, atol=0.01)
    assert result["shape"] == "(50000,)" and result["within_bounds"]
    linear = tuning_probes.log_uniform_properties(log_uniform_linear, 1e-3, 1.0, count=50000, seed=0)
    assert linear["log_quantiles"][3] > 0.85  # the median of a linear draw sits in the top decade


def test_student_results_are_read_with_keras_convert_to_numpy():
    # Backend tensors (alone, or in lists) go through keras.ops.convert_to_numpy, which reads every backend's tensors,
    # e.g. torch's that require grad, which np.asarray cannot read; plain values are read by NumPy directly.
    variable = keras.Variable([1.0, 2.0])
    tensor = variable * 2.0
    np.testing.assert_array_equal(tuning_probes._as_float_array(tensor), [2.0, 4.0])
    np.testing.assert_array_equal(tuning_probes._as_float_array([tensor[0], tensor[1]]), [2.0, 4.0])
    np.testing.assert_array_equal(tuning_probes._as_float_array([1, np.float32(2.5), np.asarray(3.0)]), [1, 2.5, 3])
    assert tuning_probes._as_float_array([]).shape == (0,)
    with pytest.raises(ValueError):
        tuning_probes._as_float_array("abc")


def test_sampling_tolerance_is_six_standard_deviations():
    assert tuning_probes.sampling_tolerance(10000) == pytest.approx(0.03)


def test_correct_configurations_pass():
    check = tuning_probes.search_configurations_match("configurations", (1e-5, 1e-1), (1e-6, 1e-2), count=5000,
                                                      target="configurations")
    result = outcome(check)
    assert result.passed, result.message


@pytest.mark.parametrize("target", ["configurations_one_draw", "configurations_swapped_ranges",
                                    "configurations_other_key"])
def test_wrong_configurations_fail(target):
    check = tuning_probes.search_configurations_match("configurations", (1e-5, 1e-1), (1e-6, 1e-2), count=5000,
                                                      target=target)
    assert not outcome(check).passed


# ---------------------------------------------------------------------------
# Part 2: refinement and the boundary check.

VALUES = [1e-3, 2e-3, 5e-4, 1e-2, 3e-2, 1e-4, 4e-3, 7e-3, 2e-4, 6e-2]
SCORES = [0.80, 0.84, 0.71, 0.83, 0.62, 0.45, 0.86, 0.79, 0.52, 0.30]


def test_reference_refined_range_by_hand():
    # The best three (ceil(2.5)) scores 0.86, 0.84, 0.83 belong to 4e-3, 2e-3 and 1e-2.
    assert tuning_probes.reference_refined_range(VALUES, SCORES, 0.25, 2.0)["range"] == pytest.approx([1e-3, 2e-2])
    assert tuning_probes.reference_refined_range(VALUES, SCORES, 0.1, 3.0)["range"] == pytest.approx([4e-3 / 3, 1.2e-2])


@pytest.mark.parametrize("target", ["refine_range", "refine_range_in_log_space", "refine_range_as_tensors"])
def test_correct_refinements_pass(target):
    for fraction, expand in [(0.25, 2.0), (0.5, 1.0), (1.0, 1.5)]:
        result = outcome(tuning_probes.refine_range_matches("refine", VALUES, SCORES, top_fraction=fraction,
                                                            expand=expand, target=target))
        assert result.passed, result.message


@pytest.mark.parametrize("target", ["refine_range_worst", "refine_range_floor", "refine_range_unpaired"])
def test_wrong_refinements_fail(target):
    check = tuning_probes.refine_range_matches("refine", VALUES, SCORES, top_fraction=0.25, expand=2.0, target=target)
    assert not outcome(check).passed


BOUNDARY_CASES = [
    {"values": [2e-5, 1e-3, 5e-2], "scores": [0.84, 0.80, 0.41], "low": 1e-5, "high": 1e-1, "margin": 0.1},
    {"values": [2e-5, 1e-3, 5e-2], "scores": [0.52, 0.86, 0.41], "low": 1e-5, "high": 1e-1, "margin": 0.1},
    {"values": [2e-5, 1e-3, 8e-2], "scores": [0.30, 0.60, 0.71], "low": 1e-5, "high": 1e-1, "margin": 0.1},
    {"values": [1e-4, 1e-2, 6e-2], "scores": [0.88, 0.62, 0.35], "low": 1e-5, "high": 1e-1, "margin": 0.1},
]


def test_reference_boundary_answers():
    assert tuning_probes.reference_boundary_answers(BOUNDARY_CASES) == {"answers": "low; inside; high; inside"}


def test_boundary_checks_pass_and_fail():
    assert outcome(tuning_probes.boundary_answers_match("b", BOUNDARY_CASES, target="boundary")).passed
    for target in ["boundary_linear", "boundary_worst"]:
        assert not outcome(tuning_probes.boundary_answers_match("b", BOUNDARY_CASES, target=target)).passed


# ---------------------------------------------------------------------------
# Part 3: transfer.


@pytest.mark.parametrize("base", sorted(tuning_probes.BASES))
def test_base_table_matches_keras(base):
    model = tuning_probes.build_base(base)
    specification = tuning_probes.BASES[base]
    assert len(model.layers) == len(specification["layers"])
    for layer, (kind, _, trainable, frozen) in zip(model.layers, specification["layers"]):
        assert type(layer).__name__ == kind
        assert sum(int(np.prod(w.shape)) for w in layer.trainable_weights) == trainable
        assert sum(int(np.prod(w.shape)) for w in layer.non_trainable_weights) == frozen
    assert model.output_shape[-1] == specification["features"]


@pytest.mark.parametrize("target", ["feature_extractor", "feature_extractor_sequential",
                                    "feature_extractor_layers_frozen"])
@pytest.mark.parametrize("base, classes", [("small_cnn", 3), ("mlp", 7)])
def test_correct_feature_extractors_pass(target, base, classes):
    result = outcome(tuning_probes.feature_extractor_matches("fe", base=base, num_classes=classes, target=target))
    assert result.passed, result.message


@pytest.mark.parametrize("target", ["feature_extractor_not_frozen", "feature_extractor_logits",
                                    "feature_extractor_copy"])
def test_wrong_feature_extractors_fail(target):
    assert not outcome(tuning_probes.feature_extractor_matches("fe", target=target)).passed


def test_fine_tuning_expected_values_by_hand():
    expected = tuning_probes.expected_fine_tuning_properties("small_cnn", 5, 3)
    # Top five layers: Conv2D, BatchNormalization (kept frozen), Activation, GlobalAveragePooling2D, Dense.
    assert expected["layer_trainable"] == [0, 0, 0, 0, 1, 0, 1, 1, 1]
    assert expected["moved_layers"] == [0, 0, 0, 0, 1, 0, 0, 0, 1]
    assert expected["trainable_parameters"] == 222 + 35 + (5 + 1) * 3


@pytest.mark.parametrize("target", ["unfreeze_top", "unfreeze_top_by_slices"])
@pytest.mark.parametrize("base, layer_count", [("small_cnn", 3), ("small_cnn", 5), ("mlp", 0), ("mlp", 6)])
def test_correct_fine_tuning_passes(target, base, layer_count):
    result = outcome(tuning_probes.fine_tuning_matches("ft", layer_count, base=base, target=target))
    assert result.passed, result.message


@pytest.mark.parametrize("target, base, layer_count", [
    ("unfreeze_top_with_batch_norm", "small_cnn", 5),
    ("unfreeze_bottom", "small_cnn", 3),
    ("unfreeze_top_negative_slice", "mlp", 0),
    ("unfreeze_top_without_base", "small_cnn", 3),
])
def test_wrong_fine_tuning_fails(target, base, layer_count):
    assert not outcome(tuning_probes.fine_tuning_matches("ft", layer_count, base=base, target=target)).passed


# ---------------------------------------------------------------------------
# Part 4: ensembles and snapshots.


@pytest.mark.parametrize("target", ["ensemble", "ensemble_with_predict"])
@pytest.mark.parametrize("from_logits", [False, True])
def test_correct_ensembles_pass(target, from_logits):
    result = outcome(tuning_probes.ensemble_matches("e", member_count=3, from_logits=from_logits, target=target))
    assert result.passed, result.message


@pytest.mark.parametrize("target", ["ensemble_mean_logits", "ensemble_no_softmax", "ensemble_vote"])
def test_wrong_ensembles_fail(target):
    failed = [not outcome(tuning_probes.ensemble_matches("e", from_logits=from_logits, target=target)).passed
              for from_logits in (False, True)]
    assert any(failed)


def test_reference_ensemble_is_a_probability_average():
    probabilities = np.asarray(tuning_probes.reference_ensemble_probabilities(member_count=4)["probabilities"])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)


@pytest.mark.parametrize("target", ["checkpoint_ensemble", "checkpoint_ensemble_running_mean"])
@pytest.mark.parametrize("member_count", [1, 3])
def test_correct_checkpoint_ensembles_pass(target, member_count):
    result = outcome(tuning_probes.checkpoint_ensemble_matches("c", member_count=member_count, target=target))
    assert result.passed, result.message


@pytest.mark.parametrize("target", ["checkpoint_ensemble_last_only", "checkpoint_ensemble_first_model_each_time",
                                    "checkpoint_ensemble_sum", "checkpoint_ensemble_vote"])
def test_wrong_checkpoint_ensembles_fail(target):
    assert not outcome(tuning_probes.checkpoint_ensemble_matches("c", member_count=3, target=target)).passed


def test_checkpoint_probe_leaves_no_files_behind(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    seen = []
    tuning_probes.checkpoint_ensemble_probabilities(lambda paths, inputs: seen.extend(paths) or checkpoint_ensemble(
        paths, inputs), member_count=2)
    assert len(seen) == 2 and all(path.endswith(".keras") for path in seen)
    assert not list(tmp_path.iterdir())


def test_reference_snapshot_run_by_hand():
    expected = tuning_probes.reference_snapshot_run(2, 0.1, 0.0, epochs=3, steps_per_epoch=2)
    np.testing.assert_allclose(expected["learning_rates"], [0.1, 0.05 * (1 + math.cos(math.pi / 4)), 0.05,
                                                            0.05 * (1 + math.cos(3 * math.pi / 4)), 0.1,
                                                            0.05 * (1 + math.cos(math.pi / 4))])
    assert expected["snapshot_epochs"] == [1] and expected["snapshot_count"] == 1


@pytest.mark.parametrize("target", ["Snapshots", "SnapshotsFromEpochAndBatch"])
def test_correct_snapshot_callbacks_pass(target):
    for arguments in [dict(cycle_epochs=2, max_learning_rate=0.1, epochs=6, steps_per_epoch=3),
                      dict(cycle_epochs=3, max_learning_rate=0.2, min_learning_rate=0.01, epochs=7,
                           steps_per_epoch=2, runs=2)]:
        arguments = dict(arguments)
        result = outcome(tuning_probes.snapshot_matches("s", arguments.pop("cycle_epochs"),
                                                        arguments.pop("max_learning_rate"), target=target,
                                                        **arguments))
        assert result.passed, result.message


@pytest.mark.parametrize("target, runs", [("SnapshotsPerEpoch", 1), ("SnapshotsLive", 1),
                                          ("SnapshotsAtCycleStart", 1), ("SnapshotsNeverReset", 2),
                                          ("SnapshotsNoRestart", 1)])
def test_wrong_snapshot_callbacks_fail(target, runs):
    check = tuning_probes.snapshot_matches("s", 2, 0.1, epochs=4, steps_per_epoch=3, runs=runs, target=target)
    assert not outcome(check).passed


# ---------------------------------------------------------------------------
# Part 5: EMA.


@pytest.mark.parametrize("target", ["Average", "AverageWithVariables"])
@pytest.mark.parametrize("momentum, epochs, steps", [(0.9, 2, 4), (0.5, 1, 1), (0.99, 3, 8), (0.0, 2, 3)])
def test_correct_averages_match_keras(target, momentum, epochs, steps):
    check = tuning_probes.ema_matches_keras("ema", momentum, epochs=epochs, steps_per_epoch=steps, target=target)
    result = outcome(check)
    assert result.passed, result.message


@pytest.mark.parametrize("target", ["AverageReversed", "AverageFromInitialWeights", "AveragePerEpoch",
                                    "AverageNotSwappedIn", "AverageKeyedByShape"])
def test_wrong_averages_fail(target):
    assert not outcome(tuning_probes.ema_matches_keras("ema", 0.9, epochs=2, steps_per_epoch=4, target=target)).passed


def test_the_fit_model_has_two_weights_of_one_shape():
    initial_weights, _, _ = tuning_probes._fit_problem(steps_per_epoch=2, seed=0)
    shapes = [weight.shape for weight in initial_weights]
    assert len(set(shapes)) < len(shapes)


class EmaBorrowedFromSGD(keras.optimizers.SGD):
    """Wrong: not a callback at all, an optimizer that would bring Keras's own EMA along."""


def test_keras_optimizers_are_not_accepted_as_the_callback():
    namespace = {**NAMESPACE, "EmaBorrowedFromSGD": EmaBorrowedFromSGD, "ExponentialMovingAverage": keras.optimizers.SGD}
    for target in ("EmaBorrowedFromSGD", "ExponentialMovingAverage"):
        check = tuning_probes.ema_matches_keras("ema", 0.9, epochs=2, steps_per_epoch=4, target=target)
        result = checks.evaluate(check, namespace)
        assert not result.passed and "Callback subclass" in result.message


def test_keras_ema_reference_moves_the_weights_less_than_training():
    averaged = tuning_probes.ema_run(keras.callbacks.SwapEMAWeights, 0.9, epochs=2, steps_per_epoch=4)
    raw = tuning_probes.ema_run(keras.callbacks.SwapEMAWeights, 0.0, epochs=2, steps_per_epoch=4)
    # The average lags behind the raw weights, which keep moving away from the start.
    assert np.linalg.norm(averaged["displacements"]) < np.linalg.norm(raw["displacements"])
    np.testing.assert_array_equal(averaged["displacements"], averaged["average_displacements"])


# ---------------------------------------------------------------------------
# Bad arguments.


@pytest.mark.parametrize("make_check", [
    lambda: tuning_probes.log_uniform_matches("x", 0.0, 1.0),
    lambda: tuning_probes.log_uniform_matches("x", 1.0, 0.1),
    lambda: tuning_probes.log_uniform_matches("x", 1e-3, 1e-1, count=10),
    lambda: tuning_probes.log_uniform_matches("x", 1e-3, 1e-1, seed=-1),
    lambda: tuning_probes.search_configurations_match("x", (1e-3,), (1e-6, 1e-2)),
    lambda: tuning_probes.search_configurations_match("x", (1e-3, 1e-1), "1e-6, 1e-2"),
    lambda: tuning_probes.refine_range_matches("x", [1.0, 2.0], [0.5]),
    lambda: tuning_probes.refine_range_matches("x", [1.0, 2.0], [0.5, 0.5]),
    lambda: tuning_probes.refine_range_matches("x", [1.0, -2.0], [0.5, 0.6]),
    lambda: tuning_probes.refine_range_matches("x", [], []),
    lambda: tuning_probes.refine_range_matches("x", [1.0, 2.0], [0.5, 0.6], top_fraction=0.0),
    lambda: tuning_probes.refine_range_matches("x", [1.0, 2.0], [0.5, 0.6], expand=0.5),
    # 0.28 * 25 is 7.000000000000001 in float arithmetic: ambiguous, refused.
    lambda: tuning_probes.refine_range_matches("x", list(range(1, 26)), [i / 25 for i in range(25)],
                                                 top_fraction=0.28),
    lambda: tuning_probes.boundary_answers_match("x", []),
    lambda: tuning_probes.boundary_answers_match("x", [{"values": [5.0], "scores": [1.0], "low": 1.0, "high": 2.0}]),
    lambda: tuning_probes.boundary_answers_match(
        "x", [{"values": [1.0], "scores": [1.0], "low": 1.0, "high": 2.0, "margin": 0.7}]),
    lambda: tuning_probes.boundary_answers_match(
        "x", [{"values": [10.0], "scores": [1.0], "low": 1.0, "high": 100.0, "margin": 0.5 - 1e-9}]),
    lambda: tuning_probes.boundary_answers_match(
        "x", [{"values": [1.0], "scores": [1.0], "low": 1.0, "high": 2.0, "colour": "red"}]),
    lambda: tuning_probes.feature_extractor_matches("x", base="resnet"),
    lambda: tuning_probes.feature_extractor_matches("x", num_classes=1),
    lambda: tuning_probes.fine_tuning_matches("x", 10, base="mlp"),
    lambda: tuning_probes.fine_tuning_matches("x", -1),
    lambda: tuning_probes.ensemble_matches("x", member_count=0),
    lambda: tuning_probes.ensemble_matches("x", classes=1),
    lambda: tuning_probes.ensemble_matches("x", scale=0.0),
    lambda: tuning_probes.checkpoint_ensemble_matches("x", member_count=0),
    lambda: tuning_probes.checkpoint_ensemble_matches("x", classes=1),
    lambda: tuning_probes.snapshot_matches("x", 0, 0.1),
    lambda: tuning_probes.snapshot_matches("x", 2, 0.1, min_learning_rate=0.2),
    lambda: tuning_probes.snapshot_matches("x", 2, 0.1, epochs=100),
    lambda: tuning_probes.snapshot_matches("x", 2, 0.1, runs=0),
    lambda: tuning_probes.ema_matches_keras("x", 1.5),
    lambda: tuning_probes.ema_matches_keras("x", 0.9, steps_per_epoch=0),
    lambda: tuning_probes.ema_matches_keras("x", 0.9, learning_rate=-0.1),
    lambda: tuning_probes.ema_matches_keras("x", 0.9, learning_rate=3.0),
])
def test_bad_arguments_raise_value_error(make_check):
    with pytest.raises(ValueError):
        make_check()


def test_probes_reject_targets_of_the_wrong_kind():
    with pytest.raises(TypeError):
        tuning_probes.log_uniform_properties(Average, 1e-3, 1e-1)
    with pytest.raises(TypeError):
        tuning_probes.snapshot_run(refine_range, {"cycle_epochs": 1, "max_learning_rate": 0.1})
    with pytest.raises(TypeError):
        tuning_probes.ema_run(Average(), 0.9)
    with pytest.raises(TypeError):
        tuning_probes.checkpoint_ensemble_probabilities(Average, member_count=1)
    result = outcome(tuning_probes.ema_matches_keras("ema", 0.9, target="not_a_class"))
    assert not result.passed and "class" in result.message


def test_probes_reject_bad_arguments_too():
    with pytest.raises(ValueError):
        tuning_probes.refined_range(refine_range, [1.0, 2.0], [0.1])
    with pytest.raises(ValueError):
        tuning_probes.fine_tuning_properties(unfreeze_top, base="mlp", layer_count=7)
    with pytest.raises(ValueError):
        tuning_probes.build_base("vgg16")
