"""Probes and check factories for Lab 08: random search, coarse-to-fine, transfer learning, ensembles and EMA.

Random search draws random numbers, and a student's draws never equal a reference's, so the
sampling probes report *properties*: every value inside the range, the quantiles of the values'
positions on a log scale (uniform for a log-uniform sampler), independence of the two
hyperparameters, and reproducibility (the same seeded ``numpy.random.Generator`` gives the same
values, another seed other values). Coarse-to-fine refinement and the boundary check are closed
forms computed here in float64.

Transfer learning is checked on small seeded bases built here (a convolutional base and an MLP,
both with BatchNormalization layers): trainable and non-trainable parameter counts (closed forms
from the tables below), trainable flags, and which weights one training step moves.

Ensembles average the predicted probabilities of seeded one-layer members whose float64 outputs
are computed here; for ``ensemble_from_checkpoints`` the same members are first saved as ``.keras``
files in a temporary folder (deleted afterwards), and the student's function gets their paths.
The snapshot-ensemble and EMA callbacks run inside a real ``model.fit`` on a tiny seeded problem
(eager, a few steps): the learning rates the snapshot callback sets are compared with the float64
cosine closed form and its snapshots with the weights the model had at the end of each epoch;
the EMA callback's final weights are compared with Keras's own optimizer EMA
(``keras.optimizers.SGD(use_ema=True, ema_momentum=...)``).

Keras is imported inside the functions only: the autograder imports this module in a process
that must not load TensorFlow. The probes never use the built-ins this lab forbids
(``keras.optimizers.schedules.CosineDecay``, ``CosineDecayRestarts``,
``keras.callbacks.SwapEMAWeights``), which the grader disables while student code runs.
"""

import fractions
import math
import numbers

import numpy as np

from labkit import validation
from labkit.checks import Check

PROBE_MODULE = "labkit.tuning_probes"

# ---------------------------------------------------------------------------
# Tolerances.

# Sampling: the positions u = (log v - log low) / (log high - log low) of log-uniform values are
# uniform on [0, 1]. The sample p-quantile of n uniform values has standard deviation
# sqrt(p (1 - p) / n) <= 0.5 / sqrt(n); a correct sampler stays within six of them (a miss has
# probability about 2e-9 per quantile), so atol = 3 / sqrt(n). For n = 20,000 that is 0.021, while
# the mistakes the lab targets move some quantile by more than 0.1 (a linear scale moves the
# median of [0.5, 2] to 0.66 and of [1e-4, 1e-1] to 0.9; natural-log bounds leave the range).
QUANTILE_LEVELS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
SAMPLING_SIGMAS = 6.0
# Two hyperparameters drawn independently have a sample correlation of standard deviation
# about 1 / sqrt(n) between their log values; |r| <= 6 / sqrt(n) is required. Drawing both from
# the same uniform number gives r = 1.
_MIN_SAMPLES = 1000
_MAX_SAMPLES = 100_000
# Refined ranges are float64 closed forms (a min, a max, a product): two correct implementations
# differ by a few float64 roundings, or by float32 rounding (6e-8) if computed with keras.ops;
# rtol=1e-6 accepts both, and a wrong trial selection or widening changes a bound by a factor of
# at least 1.2 in the checks.
RANGE_RTOL = 1e-6
RANGE_ATOL = 0.0
# Ensembles: members compute softmax(x W + b) in float32 with logits of size <= ~10; float32
# rounding of the logits (~1e-6 absolute) and of the softmax gives probabilities within 2e-6 of
# the float64 closed form (measured: 3e-7). atol=1e-5 leaves a margin, while averaging logits,
# forgetting the softmax or voting changes probabilities by more than 1e-2.
ENSEMBLE_RTOL = 1e-5
ENSEMBLE_ATOL = 1e-5
# Snapshot learning rates are stored in the optimizer's float32 variable: one rounding (6e-8
# relative) of a float64 cosine, or a few roundings if computed in float32, where 1 + cos(x)
# near the end of a cycle loses up to ~1e-7 absolute. rtol=1e-6 plus 1e-6 of the peak learning
# rate covers both; a per-epoch instead of per-step cosine, a missing restart or an off-by-one
# step changes some learning rate by more than 1e-3 of the peak.
SNAPSHOT_RTOL = 1e-6
SNAPSHOT_ATOL_FRACTION_OF_PEAK = 1e-6
# EMA: displacements of the final (averaged) weights from the initial weights, of size ~1e-3 to
# 0.6, on weights of size up to ~2. Keras averages in float32 with (1 - momentum) rounded to
# float32; implementations that average NumPy copies in float32 or float64, or keras.Variables
# with ops, differ by a few float32 roundings of the weights per step: measured over up to 24
# steps with momentum 0 to 0.999 and learning rates up to 1 (on the model below, with its two
# same-shaped biases), at most 8.3e-7 absolute (seven float32 ulps at 2). atol=3e-6
# with rtol=1e-5 leaves a margin; a reversed momentum, an average that starts from the initial
# weights or one updated per epoch moves the result by more than 1e-3.
EMA_RTOL = 1e-5
EMA_ATOL = 3e-6
# Larger learning rates grow the weights, and with them the float32 gap between Keras's average
# (which rounds 1 - momentum) and other correct formulations: correct callbacks failed at lr 3.
_MAX_EMA_LEARNING_RATE = 1.0

_MAX_TRIALS = 1000
_MAX_CASES = 20
_MAX_MEMBERS = 8
_MAX_EPOCHS = 12
_MAX_STEPS_PER_EPOCH = 8
_MAX_RUNS = 3


# ---------------------------------------------------------------------------
# Validation helpers.


def _validated_number(value, what, low=None, high=None, low_inclusive=True, high_inclusive=True):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}.")
    value = float(value)
    too_low = low is not None and (value < low if low_inclusive else value <= low)
    too_high = high is not None and (value > high if high_inclusive else value >= high)
    if too_low or too_high:
        opening = "[" if low_inclusive else "("
        closing = "]" if high_inclusive else ")"
        raise ValueError(f"{what} must be in {opening}{low}, {high}{closing}, got {value!r}.")
    return value


def _validated_count(value, what, minimum, maximum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not minimum <= value <= maximum:
        raise ValueError(f"{what} must be an integer from {minimum} to {maximum}, got {value!r}.")
    return int(value)


def _validated_range(value, what):
    """A (low, high) pair of positive numbers with low < high."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise ValueError(f"{what} must be a (low, high) pair of positive numbers, got {value!r}.")
    low = _validated_number(value[0], f"{what}[0]", 0.0, low_inclusive=False)
    high = _validated_number(value[1], f"{what}[1]", 0.0, low_inclusive=False)
    if not low < high:
        raise ValueError(f"{what} must have low < high, got {value!r}.")
    return low, high


def _validated_trials(values, scores):
    """Positive hyperparameter values and distinct finite scores of equal, non-zero length, as lists."""
    for name, sequence in (("values", values), ("scores", scores)):
        if isinstance(sequence, (str, bytes, dict)) or not hasattr(sequence, "__len__"):
            raise ValueError(f"{name} must be a list of numbers, got {sequence!r}.")
    if len(values) != len(scores) or not 1 <= len(values) <= _MAX_TRIALS:
        raise ValueError(
            f"values and scores must have the same length, from 1 to {_MAX_TRIALS}; "
            f"got {len(values)} values and {len(scores)} scores."
        )
    values = [_validated_number(value, "each value", 0.0, low_inclusive=False) for value in values]
    scores = [_validated_number(score, "each score") for score in scores]
    if len(set(scores)) != len(scores):
        raise ValueError("scores must be distinct, so that the best trials are unambiguous.")
    return values, scores


def _top_count(top_fraction, trial_count):
    """ceil(top_fraction * trial_count), at least 1; ValueError where float rounding would make it ambiguous."""
    exact = math.ceil(fractions.Fraction(repr(top_fraction)) * trial_count)
    if math.ceil(top_fraction * trial_count) != exact:
        raise ValueError(
            f"top_fraction={top_fraction!r} times {trial_count} trials is an integer that float arithmetic "
            "rounds up: choose a fraction (e.g. 0.25 or 0.5) whose product is unambiguous."
        )
    return max(1, exact)


def _is_plain(value):
    """Whether NumPy can read the value itself: Python and NumPy numbers and arrays, nested in lists or tuples."""
    if isinstance(value, (list, tuple)):
        return all(_is_plain(item) for item in value)
    return value is None or isinstance(value, (numbers.Number, np.ndarray, np.generic, str, bytes))


def _as_float_array(value):
    """Student output (array, list, backend tensor, list of backend tensors) as a float64 NumPy array.

    Backend tensors go through keras.ops.convert_to_numpy, never np.asarray: NumPy cannot read every
    backend's tensors (a torch tensor that requires grad, one on a GPU), and reads others by luck.
    """
    if _is_plain(value):
        return np.asarray(value, dtype=np.float64)
    if isinstance(value, (list, tuple)):
        return np.asarray([_as_float_array(item) for item in value], dtype=np.float64)
    import keras

    return np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64)


def _numpy(value):
    import keras

    return np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64)


# ---------------------------------------------------------------------------
# Part 1: log-uniform sampling.


def _log_positions(values, low, high):
    """(log v - log low) / (log high - log low): uniform on [0, 1] for log-uniform values."""
    with np.errstate(all="ignore"):
        return (np.log(values) - math.log(low)) / (math.log(high) - math.log(low))


def _within(values, low, high):
    # A bound computed as 10 ** log10(low) may differ from low by a float64 rounding.
    # A float32 sampler's value may sit one float32 rounding (6e-8 relative) beyond a bound.
    return bool(values.size and np.all((values >= low * (1 - 1e-6)) & (values <= high * (1 + 1e-6))))


def _quantiles(values, low, high):
    if values.ndim != 1 or not values.size or not np.all(np.isfinite(values)) or not np.all(values > 0):
        return np.full(len(QUANTILE_LEVELS), np.nan)
    return np.quantile(_log_positions(values, low, high), QUANTILE_LEVELS)


def sampling_tolerance(count):
    """The absolute tolerance of the log-position quantiles of `count` samples (six standard deviations)."""
    return SAMPLING_SIGMAS * 0.5 / math.sqrt(count)


def log_uniform_properties(sample_log_uniform, low, high, count=20_000, seed=0):
    """Properties of ``sample_log_uniform(low, high, count, rng)`` with seeded NumPy Generators.

    Outputs: ``shape``, ``within_bounds``, ``log_quantiles`` (quantiles of the log positions at
    QUANTILE_LEVELS: equal to the levels for a log-uniform sampler), ``same_seed_same_values``
    and ``different_seed_different_values``.
    """
    validation.require_function(sample_log_uniform, "sample_log_uniform(low, high, count, rng)")
    low, high = _validated_range((low, high), "(low, high)")
    count = _validated_count(count, "count", _MIN_SAMPLES, _MAX_SAMPLES)
    seed = validation.seed(seed)
    values = _as_float_array(sample_log_uniform(low, high, count, np.random.default_rng(seed)))
    again = _as_float_array(sample_log_uniform(low, high, count, np.random.default_rng(seed)))
    other = _as_float_array(sample_log_uniform(low, high, count, np.random.default_rng(seed + 1)))
    return {
        "shape": str(tuple(values.shape)),
        "within_bounds": _within(values, low, high),
        "log_quantiles": _quantiles(values.ravel(), low, high),
        "same_seed_same_values": bool(np.array_equal(values, again)),
        "different_seed_different_values": bool(other.shape != values.shape or not np.array_equal(values, other)),
    }


def _configuration_values(configurations):
    """(learning rates, weight decays, key text) from a list of dicts."""
    configurations = list(configurations)
    keys = sorted({str(key) for configuration in configurations for key in dict(configuration)})
    learning_rates = _as_float_array([dict(item).get("learning_rate", np.nan) for item in configurations])
    weight_decays = _as_float_array([dict(item).get("weight_decay", np.nan) for item in configurations])
    return learning_rates, weight_decays, ", ".join(keys)


def search_configuration_properties(random_search_configurations, count, learning_rate_range, weight_decay_range,
                                    seed=0):
    """Properties of ``random_search_configurations(count, learning_rate_range, weight_decay_range, rng)``.

    The function returns a list of dicts with keys ``learning_rate`` and ``weight_decay``.
    Outputs: ``count``, ``keys``, per hyperparameter ``*_within_bounds`` and ``*_log_quantiles``,
    ``independent`` (|correlation of the log values| <= 6 / sqrt(count)), ``same_seed_same_values``
    and ``different_seed_different_values``.
    """
    validation.require_function(random_search_configurations, "random_search_configurations(count, ..., rng)")
    count = _validated_count(count, "count", _MIN_SAMPLES, _MAX_SAMPLES)
    learning_rate_range = _validated_range(learning_rate_range, "learning_rate_range")
    weight_decay_range = _validated_range(weight_decay_range, "weight_decay_range")
    seed = validation.seed(seed)

    def draw(draw_seed):
        return _configuration_values(random_search_configurations(
            count, learning_rate_range, weight_decay_range, np.random.default_rng(draw_seed)
        ))

    learning_rates, weight_decays, keys = draw(seed)
    again = draw(seed)
    other = draw(seed + 1)
    learning_rate_positions = _log_positions(learning_rates, *learning_rate_range)
    weight_decay_positions = _log_positions(weight_decays, *weight_decay_range)
    with np.errstate(all="ignore"):
        correlation = float(np.corrcoef(learning_rate_positions, weight_decay_positions)[0, 1]) if (
            learning_rates.size > 1 and learning_rates.size == weight_decays.size
        ) else float("nan")
    same = np.array_equal(learning_rates, again[0]) and np.array_equal(weight_decays, again[1])
    different = not (
        np.array_equal(learning_rates, other[0]) or np.array_equal(weight_decays, other[1])
    )
    return {
        "count": int(learning_rates.size),
        "keys": keys,
        "learning_rate_within_bounds": _within(learning_rates, *learning_rate_range),
        "weight_decay_within_bounds": _within(weight_decays, *weight_decay_range),
        "learning_rate_log_quantiles": _quantiles(learning_rates, *learning_rate_range),
        "weight_decay_log_quantiles": _quantiles(weight_decays, *weight_decay_range),
        "independent": bool(abs(correlation) <= SAMPLING_SIGMAS / math.sqrt(count)),
        "same_seed_same_values": bool(same),
        "different_seed_different_values": bool(different),
    }


# ---------------------------------------------------------------------------
# Part 2: coarse-to-fine refinement and the boundary check.


def refined_range(refine_range, values, scores, top_fraction=0.25, expand=2.0):
    """``refine_range(values, scores, top_fraction=..., expand=...)`` on float64 arrays: the new (low, high)."""
    validation.require_function(refine_range, "refine_range(values, scores, top_fraction, expand)")
    values, scores = _validated_trials(values, scores)
    top_fraction = _validated_number(top_fraction, "top_fraction", 0.0, 1.0, low_inclusive=False)
    expand = _validated_number(expand, "expand", 1.0)
    result = refine_range(np.asarray(values, dtype=np.float64), np.asarray(scores, dtype=np.float64),
                          top_fraction=top_fraction, expand=expand)
    result = _as_float_array(list(result))
    return {"range": result}


def reference_refined_range(values, scores, top_fraction=0.25, expand=2.0):
    """The closed form: the ceil(top_fraction * n) best-scoring values' [min / expand, max * expand]."""
    values, scores = _validated_trials(values, scores)
    top_fraction = _validated_number(top_fraction, "top_fraction", 0.0, 1.0, low_inclusive=False)
    expand = _validated_number(expand, "expand", 1.0)
    keep = _top_count(top_fraction, len(values))
    best = sorted(range(len(values)), key=lambda index: scores[index], reverse=True)[:keep]
    kept = [values[index] for index in best]
    return {"range": [min(kept) / expand, max(kept) * expand]}


def _validated_boundary_case(case):
    if not isinstance(case, dict):
        raise ValueError(f"each case must be a dict with values, scores, low, high and margin, got {case!r}.")
    unknown = set(case) - {"values", "scores", "low", "high", "margin"}
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)} in a boundary case.")
    values, scores = _validated_trials(case.get("values"), case.get("scores"))
    low, high = _validated_range((case.get("low"), case.get("high")), "(low, high)")
    margin = _validated_number(case.get("margin", 0.1), "margin", 0.0, 0.5, low_inclusive=False, high_inclusive=False)
    if not all(low <= value <= high for value in values):
        raise ValueError(f"every value must lie in [low, high] = [{low}, {high}], got {values!r}.")
    return {"values": values, "scores": scores, "low": low, "high": high, "margin": margin}


def _validated_boundary_cases(cases):
    if isinstance(cases, (str, bytes, dict)) or not hasattr(cases, "__iter__"):
        raise ValueError(f"cases must be a list of dicts, got {cases!r}.")
    cases = [_validated_boundary_case(case) for case in cases]
    if not 1 <= len(cases) <= _MAX_CASES:
        raise ValueError(f"give from 1 to {_MAX_CASES} cases, got {len(cases)}.")
    return cases


def boundary_answers(best_on_boundary, cases):
    """``best_on_boundary(values, scores, low, high, margin=...)`` for each case, joined as 'low; inside; high'."""
    validation.require_function(best_on_boundary, "best_on_boundary(values, scores, low, high, margin)")
    answers = []
    for case in _validated_boundary_cases(cases):
        answer = best_on_boundary(np.asarray(case["values"]), np.asarray(case["scores"]), case["low"], case["high"],
                                  margin=case["margin"])
        answers.append(str(answer))
    return {"answers": "; ".join(answers)}


def reference_boundary_answers(cases):
    """The closed form: where the best trial sits on the log scale of [low, high] ('low', 'high' or 'inside')."""
    answers = []
    for case in _validated_boundary_cases(cases):
        best = case["values"][max(range(len(case["scores"])), key=lambda index: case["scores"][index])]
        position = (math.log(best) - math.log(case["low"])) / (math.log(case["high"]) - math.log(case["low"]))
        margin = case["margin"]
        if min(abs(position - margin), abs(position - (1.0 - margin))) < 1e-6:
            raise ValueError(f"the best value {best} sits on the margin itself: choose a case that is unambiguous.")
        answers.append("low" if position < margin else "high" if position > 1.0 - margin else "inside")
    return {"answers": "; ".join(answers)}


# ---------------------------------------------------------------------------
# Part 3: transfer learning.

# Each base: input shape, and per layer (kind, Keras arguments, trainable and non-trainable
# parameter counts). The counts are the closed forms the checks expect (tests compare them with
# Keras's count_params()).
BASES = {
    "small_cnn": {
        "input_shape": (8, 8, 1),
        "features": 5,
        "layers": (
            ("Conv2D", {"filters": 4, "kernel_size": 3, "padding": "same", "use_bias": False}, 36, 0),
            ("BatchNormalization", {}, 8, 8),
            ("Activation", {"activation": "relu"}, 0, 0),
            ("MaxPooling2D", {}, 0, 0),
            ("Conv2D", {"filters": 6, "kernel_size": 3}, 222, 0),
            ("BatchNormalization", {}, 12, 12),
            ("Activation", {"activation": "relu"}, 0, 0),
            ("GlobalAveragePooling2D", {}, 0, 0),
            ("Dense", {"units": 5, "activation": "relu"}, 35, 0),
        ),
    },
    "mlp": {
        "input_shape": (6,),
        "features": 4,
        "layers": (
            ("Dense", {"units": 8, "activation": "relu"}, 56, 0),
            ("BatchNormalization", {}, 16, 16),
            ("Dense", {"units": 7}, 63, 0),
            ("BatchNormalization", {}, 14, 14),
            ("Activation", {"activation": "tanh"}, 0, 0),
            ("Dense", {"units": 4, "activation": "relu"}, 32, 0),
        ),
    },
}
_TRANSFER_BATCH = 16
_TRANSFER_LEARNING_RATE = 0.1


def _validated_base(base):
    if base not in BASES:
        raise ValueError(f"base must be one of {sorted(BASES)}, got {base!r}.")
    return base


def build_base(base="small_cnn", seed=0):
    """A seeded Sequential base from BASES (its layers as listed there)."""
    import keras

    specification = BASES[_validated_base(base)]
    keras.utils.set_random_seed(validation.seed(seed))
    layers = [getattr(keras.layers, kind)(**arguments) for kind, arguments, _, _ in specification["layers"]]
    return keras.Sequential([keras.Input(shape=specification["input_shape"])] + layers, name=f"{base}_base")


def _transfer_data(base, num_classes, seed):
    """Seeded inputs (shifted and scaled, so batch statistics differ from the moving ones) and labels."""
    random = np.random.RandomState(seed + 1)
    shape = (_TRANSFER_BATCH,) + BASES[base]["input_shape"]
    inputs = (random.normal(size=shape) * 2.0 + 0.5).astype("float32")
    labels = random.randint(num_classes, size=_TRANSFER_BATCH).astype("int32")
    return inputs, labels


def _parameter_count(weights):
    return int(sum(int(np.prod(weight.shape)) for weight in weights))


def _one_training_step(model, inputs, labels):
    """Compile with SGD and run one eager training step on the batch."""
    import keras

    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=_TRANSFER_LEARNING_RATE),
        loss="sparse_categorical_crossentropy",
        run_eagerly=True,
    )
    model.fit(inputs, labels, batch_size=len(inputs), epochs=1, shuffle=False, verbose=0)


def _layer_values(layer):
    return [np.array(value, copy=True) for value in layer.get_weights()]


def _changed(before, after):
    return any(not np.array_equal(old, new) for old, new in zip(before, after))


def _batch_norm_statistics(base_model):
    import keras

    return [
        [_numpy(layer.moving_mean), _numpy(layer.moving_variance)]
        for layer in base_model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]


def feature_extractor_properties(make_feature_extractor, base="small_cnn", num_classes=3, seed=0):
    """``make_feature_extractor(base_model, num_classes)`` on a seeded base: freezing, counts, what trains.

    Outputs: ``base_is_frozen``, ``uses_the_given_base`` (the model holds the base's own weight
    variables), ``trainable_parameters``, ``non_trainable_parameters``, ``output_shape``,
    ``outputs_are_probabilities``, and ``base_unchanged_by_training`` (BatchNormalization moving
    statistics included) and ``head_changed_by_training`` after one SGD step.
    """
    import keras

    from labkit import precision

    validation.require_function(make_feature_extractor, "make_feature_extractor(base, num_classes)")
    base = _validated_base(base)
    num_classes = _validated_count(num_classes, "num_classes", 2, 20)
    seed = validation.seed(seed)
    inputs, labels = _transfer_data(base, num_classes, seed)
    with precision.full_precision_matmuls():
        base_model = build_base(base, seed)
        model = make_feature_extractor(base_model, num_classes)
        base_ids = {id(weight) for weight in base_model.weights}
        model_ids = {id(weight) for weight in model.weights}
        head_weights = [weight for weight in model.trainable_weights if id(weight) not in base_ids]
        outputs = _numpy(model(inputs, training=False))
        properties = {
            # Freezing the base model or each of its layers are both correct.
            "base_is_frozen": not base_model.trainable or all(not layer.trainable for layer in base_model.layers),
            "uses_the_given_base": bool(base_ids) and base_ids <= model_ids,
            "trainable_parameters": _parameter_count(model.trainable_weights),
            "non_trainable_parameters": _parameter_count(model.non_trainable_weights),
            "output_shape": str(tuple(outputs.shape)),
            "outputs_are_probabilities": bool(
                outputs.ndim == 2 and np.all(outputs >= 0) and np.allclose(outputs.sum(axis=1), 1.0, atol=1e-5)
            ),
        }
        base_before = [_layer_values(layer) for layer in base_model.layers]
        head_before = [_numpy(weight) for weight in head_weights]
        _one_training_step(model, inputs, labels)
        properties["base_unchanged_by_training"] = not any(
            _changed(before, _layer_values(layer)) for before, layer in zip(base_before, base_model.layers)
        )
        properties["head_changed_by_training"] = bool(head_weights) and _changed(
            head_before, [_numpy(weight) for weight in head_weights]
        )
    return properties


def expected_feature_extractor_properties(base="small_cnn", num_classes=3, batch=_TRANSFER_BATCH):
    """The closed form of feature_extractor_properties for a correct implementation."""
    specification = BASES[_validated_base(base)]
    num_classes = _validated_count(num_classes, "num_classes", 2, 20)
    return {
        "base_is_frozen": True,
        "uses_the_given_base": True,
        "trainable_parameters": (specification["features"] + 1) * num_classes,
        "non_trainable_parameters": sum(trainable + frozen for _, _, trainable, frozen in specification["layers"]),
        "output_shape": str((batch, num_classes)),
        "outputs_are_probabilities": True,
        "base_unchanged_by_training": True,
        "head_changed_by_training": True,
    }


def _reference_head(base_model, num_classes):
    """The lab's feature extractor, written here so fine-tuning checks do not depend on the student's."""
    import keras

    inputs = keras.Input(shape=base_model.input_shape[1:])
    features = base_model(inputs, training=False)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(features)
    return keras.Model(inputs, outputs)


def fine_tuning_properties(unfreeze_top, base="small_cnn", layer_count=3, num_classes=3, seed=0):
    """``unfreeze_top(base_model, layer_count)`` on a frozen seeded base under a new head: flags, counts, what trains.

    Outputs: ``base_trainable``, ``layer_trainable`` (1/0 per layer of ``base_model.layers``),
    ``trainable_parameters`` (base and head), ``moved_layers`` (1 for each base layer whose weights
    one SGD step changed) and ``batch_norm_statistics_unchanged`` (the moving mean and variance
    after that step: in Keras 3 a BatchNormalization layer runs in inference mode when it is not
    trainable, whereas the ``training=False`` given when the head was built is overridden by
    ``fit``, see keras-team/keras#20285).
    """
    import keras

    from labkit import precision

    validation.require_function(unfreeze_top, "unfreeze_top(base, layer_count)")
    base = _validated_base(base)
    layer_count = _validated_count(layer_count, "layer_count", 0, len(BASES[base]["layers"]))
    num_classes = _validated_count(num_classes, "num_classes", 2, 20)
    seed = validation.seed(seed)
    inputs, labels = _transfer_data(base, num_classes, seed)
    with precision.full_precision_matmuls():
        base_model = build_base(base, seed)
        base_model.trainable = False
        model = _reference_head(base_model, num_classes)
        keras.utils.set_random_seed(seed)
        unfreeze_top(base_model, layer_count)
        properties = {
            "base_trainable": bool(base_model.trainable),
            "layer_trainable": [int(bool(layer.trainable)) for layer in base_model.layers],
            "trainable_parameters": _parameter_count(model.trainable_weights),
        }
        before = [_layer_values(layer) for layer in base_model.layers]
        statistics_before = _batch_norm_statistics(base_model)
        _one_training_step(model, inputs, labels)
        properties["moved_layers"] = [
            int(_changed(old, _layer_values(layer))) for old, layer in zip(before, base_model.layers)
        ]
        properties["batch_norm_statistics_unchanged"] = not any(
            _changed(old, new) for old, new in zip(statistics_before, _batch_norm_statistics(base_model))
        )
    return properties


def expected_fine_tuning_properties(base="small_cnn", layer_count=3, num_classes=3):
    """The closed form: the top layer_count layers trainable, except BatchNormalization layers."""
    specification = BASES[_validated_base(base)]
    layers = specification["layers"]
    layer_count = _validated_count(layer_count, "layer_count", 0, len(layers))
    num_classes = _validated_count(num_classes, "num_classes", 2, 20)
    first_unfrozen = len(layers) - layer_count
    trainable = [
        int(index >= first_unfrozen and kind != "BatchNormalization") for index, (kind, _, _, _) in enumerate(layers)
    ]
    moved = [int(flag and count > 0) for flag, (_, _, count, _) in zip(trainable, layers)]
    unfrozen_parameters = sum(count for flag, (_, _, count, _) in zip(trainable, layers) if flag)
    return {
        "base_trainable": True,
        "layer_trainable": trainable,
        "trainable_parameters": unfrozen_parameters + (specification["features"] + 1) * num_classes,
        "moved_layers": moved,
        "batch_norm_statistics_unchanged": True,
    }


# ---------------------------------------------------------------------------
# Part 4: ensembles.


def _member_parameters(seed, member, features, classes, scale):
    random = np.random.RandomState(seed * 100 + member + 1)
    kernel = random.normal(size=(features, classes)) * scale
    bias = random.normal(size=(classes,)) * scale
    return kernel.astype("float32"), bias.astype("float32")


def _ensemble_inputs(seed, batch, features):
    return np.random.RandomState(seed * 100).normal(size=(batch, features)).astype("float32")


def _validated_ensemble(member_count, features, classes, batch, scale, seed):
    return (
        _validated_count(member_count, "member_count", 1, _MAX_MEMBERS),
        _validated_count(features, "features", 1, 16),
        _validated_count(classes, "classes", 2, 16),
        _validated_count(batch, "batch", 1, 64),
        _validated_number(scale, "scale", 0.0, 10.0, low_inclusive=False),
        validation.seed(seed),
    )


def ensemble_probabilities(ensemble_predict, member_count=3, features=4, classes=5, batch=6, from_logits=False,
                           scale=1.5, seed=0):
    """``ensemble_predict(members, inputs, from_logits=...)`` on seeded one-layer members: the averaged probabilities.

    Each member is ``Sequential([Input((features,)), Dense(classes)])`` with seeded weights, with a
    softmax activation unless ``from_logits`` (then the members output logits).
    """
    import keras

    from labkit import precision

    validation.require_function(ensemble_predict, "ensemble_predict(models, inputs, from_logits=False)")
    member_count, features, classes, batch, scale, seed = _validated_ensemble(
        member_count, features, classes, batch, scale, seed
    )
    members = []
    for member in range(member_count):
        model = keras.Sequential([
            keras.Input(shape=(features,)),
            keras.layers.Dense(classes, activation=None if from_logits else "softmax"),
        ])
        model.set_weights(list(_member_parameters(seed, member, features, classes, scale)))
        members.append(model)
    inputs = _ensemble_inputs(seed, batch, features)
    with precision.full_precision_matmuls():
        result = ensemble_predict(members, inputs, from_logits=bool(from_logits))
    return {"probabilities": _numpy(result)}


def reference_ensemble_probabilities(member_count=3, features=4, classes=5, batch=6, scale=1.5, seed=0):
    """The float64 closed form: the mean over members of softmax(x W_m + b_m) (the same whatever from_logits)."""
    member_count, features, classes, batch, scale, seed = _validated_ensemble(
        member_count, features, classes, batch, scale, seed
    )
    inputs = _ensemble_inputs(seed, batch, features).astype(np.float64)
    total = np.zeros((batch, classes))
    for member in range(member_count):
        kernel, bias = _member_parameters(seed, member, features, classes, scale)
        logits = inputs @ kernel.astype(np.float64) + bias.astype(np.float64)
        exponentials = np.exp(logits - logits.max(axis=1, keepdims=True))
        total += exponentials / exponentials.sum(axis=1, keepdims=True)
    return {"probabilities": (total / member_count).tolist()}


def checkpoint_ensemble_probabilities(ensemble_from_checkpoints, member_count=3, features=4, classes=5, batch=6,
                                      scale=1.5, seed=0):
    """``ensemble_from_checkpoints(paths, inputs)`` on seeded softmax members saved as ``.keras`` files.

    The members are those of ``ensemble_probabilities`` (softmax outputs), each saved with
    ``model.save`` into a temporary folder that is deleted afterwards; the function gets the list
    of their paths (strings, in member order).
    """
    import tempfile

    import keras

    from labkit import precision

    validation.require_function(ensemble_from_checkpoints, "ensemble_from_checkpoints(paths, inputs)")
    member_count, features, classes, batch, scale, seed = _validated_ensemble(
        member_count, features, classes, batch, scale, seed
    )
    with tempfile.TemporaryDirectory(prefix="labkit_checkpoints_") as folder:
        paths = []
        for member in range(member_count):
            model = keras.Sequential([
                keras.Input(shape=(features,)),
                keras.layers.Dense(classes, activation="softmax"),
            ])
            model.set_weights(list(_member_parameters(seed, member, features, classes, scale)))
            path = f"{folder}/member_{member}.keras"
            model.save(path)
            paths.append(path)
        inputs = _ensemble_inputs(seed, batch, features)
        with precision.full_precision_matmuls():
            result = ensemble_from_checkpoints(list(paths), inputs)
        return {"probabilities": _numpy(result)}


# ---------------------------------------------------------------------------
# Callbacks in a real fit: snapshot ensembles and EMA.

_FIT_FEATURES = 5
_FIT_HIDDEN = 4
# As many classes as hidden units: the two biases have the same shape, so per-weight state kept by
# shape (averages in a dict keyed by weight.shape) mixes them up.
_FIT_CLASSES = _FIT_HIDDEN
_FIT_BATCH = 4
# Short fits run eagerly; longer ones are compiled once (tracing costs about as much as ten eager steps).
_EAGER_STEPS = 10


def _validated_fit(epochs, steps_per_epoch, runs=1):
    return (
        _validated_count(epochs, "epochs", 1, _MAX_EPOCHS),
        _validated_count(steps_per_epoch, "steps_per_epoch", 1, _MAX_STEPS_PER_EPOCH),
        _validated_count(runs, "runs", 1, _MAX_RUNS),
    )


def _fit_problem(steps_per_epoch, seed):
    """A seeded two-layer classifier's initial weights, and a data set of steps_per_epoch batches."""
    random = np.random.RandomState(seed + 7)
    weights = [
        random.normal(size=(_FIT_FEATURES, _FIT_HIDDEN)) * 0.8,
        random.normal(size=(_FIT_HIDDEN,)) * 0.1,
        random.normal(size=(_FIT_HIDDEN, _FIT_CLASSES)) * 0.8,
        random.normal(size=(_FIT_CLASSES,)) * 0.1,
    ]
    inputs = random.normal(size=(steps_per_epoch * _FIT_BATCH, _FIT_FEATURES))
    labels = random.randint(_FIT_CLASSES, size=steps_per_epoch * _FIT_BATCH)
    return [weight.astype("float32") for weight in weights], inputs.astype("float32"), labels.astype("int32")


def _fit_model(initial_weights, optimizer, total_steps):
    import keras

    model = keras.Sequential([
        keras.Input(shape=(_FIT_FEATURES,)),
        keras.layers.Dense(_FIT_HIDDEN, activation="tanh"),
        keras.layers.Dense(_FIT_CLASSES, activation="softmax"),
    ])
    model.set_weights(initial_weights)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", run_eagerly=total_steps <= _EAGER_STEPS)
    return model


def _recorder():
    """A callback that records the learning rate before every batch and the weights after every epoch."""
    import keras

    class Recorder(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.learning_rates = []
            self.epoch_weights = []

        def on_train_begin(self, logs=None):
            self.epoch_weights = []

        def on_train_batch_begin(self, batch, logs=None):
            self.learning_rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

        def on_epoch_end(self, epoch, logs=None):
            self.epoch_weights.append([np.array(value, copy=True) for value in self.model.get_weights()])

    return Recorder()


def _matching_epoch(snapshot, epoch_weights):
    """The epoch whose end-of-epoch weights equal the snapshot, or -1."""
    try:
        arrays = [_numpy(value) for value in snapshot]
    except Exception:  # not a list of arrays: matches nothing
        return -1
    for epoch, weights in enumerate(epoch_weights):
        if len(arrays) == len(weights) and all(
            array.shape == weight.shape and np.array_equal(array, weight) for array, weight in zip(arrays, weights)
        ):
            return epoch
    return -1


def snapshot_run(callback_class, arguments=None, epochs=6, steps_per_epoch=3, runs=1, seed=0):
    """A snapshot-ensemble callback in ``model.fit`` (SGD, eager): learning rates per batch and the snapshots.

    The callback is built as ``callback_class(**arguments)`` and used for ``runs`` fit() calls of
    ``epochs`` epochs. Outputs: ``learning_rates`` (the optimizer's learning rate seen before every
    batch, all runs), ``snapshot_count`` and ``snapshot_epochs`` (after the last run: for each
    entry of ``callback.snapshots``, the epoch of that run whose end-of-epoch weights it equals, or
    -1).
    """
    import keras

    from labkit import precision

    validation.require_class(callback_class, "SnapshotEnsemble")
    arguments = validation.keyword_arguments(arguments, "arguments")
    epochs, steps_per_epoch, runs = _validated_fit(epochs, steps_per_epoch, runs)
    seed = validation.seed(seed)
    initial_weights, inputs, labels = _fit_problem(steps_per_epoch, seed)
    with precision.full_precision_matmuls():
        model = _fit_model(initial_weights, keras.optimizers.SGD(learning_rate=0.5), epochs * steps_per_epoch * runs)
        callback = callback_class(**arguments)
        recorder = _recorder()
        for _ in range(runs):
            model.fit(inputs, labels, batch_size=_FIT_BATCH, epochs=epochs, shuffle=False, verbose=0,
                      callbacks=[callback, recorder])
    snapshots = list(getattr(callback, "snapshots", None) or [])
    return {
        "learning_rates": np.asarray(recorder.learning_rates),
        "snapshot_count": len(snapshots),
        "snapshot_epochs": [_matching_epoch(snapshot, recorder.epoch_weights) for snapshot in snapshots],
    }


def reference_snapshot_run(cycle_epochs, max_learning_rate, min_learning_rate=0.0, epochs=6, steps_per_epoch=3,
                           runs=1):
    """The float64 closed form: a cosine from max to min over each cycle of steps, restarted at every cycle.

    With C = cycle_epochs * steps_per_epoch and t the batch index since the start of fit():
    lr(t) = min + (max - min) (1 + cos(pi (t mod C) / C)) / 2; a snapshot after every epoch e
    with (e + 1) a multiple of cycle_epochs.
    """
    epochs, steps_per_epoch, runs = _validated_fit(epochs, steps_per_epoch, runs)
    cycle_epochs = _validated_count(cycle_epochs, "cycle_epochs", 1, _MAX_EPOCHS)
    max_learning_rate = _validated_number(max_learning_rate, "max_learning_rate", 0.0, low_inclusive=False)
    min_learning_rate = _validated_number(min_learning_rate, "min_learning_rate", 0.0, max_learning_rate)
    cycle_steps = cycle_epochs * steps_per_epoch
    learning_rates = [
        min_learning_rate
        + (max_learning_rate - min_learning_rate) * (1.0 + math.cos(math.pi * (step % cycle_steps) / cycle_steps)) / 2
        for step in range(epochs * steps_per_epoch)
    ] * runs
    snapshot_epochs = [epoch for epoch in range(epochs) if (epoch + 1) % cycle_epochs == 0]
    return {
        "learning_rates": learning_rates,
        "snapshot_count": len(snapshot_epochs),
        "snapshot_epochs": snapshot_epochs,
    }


def ema_run(target, momentum, epochs=2, steps_per_epoch=4, learning_rate=0.2, seed=0):
    """Training with EMA weight averaging: the final weights' and the averages' displacements from the initial weights.

    ``target`` is either the student's callback class, used as ``target(momentum=momentum)`` with
    ``keras.optimizers.SGD(learning_rate)``, or ``keras.callbacks.SwapEMAWeights`` (the reference):
    then Keras's own EMA runs, ``SGD(learning_rate, use_ema=True, ema_momentum=momentum)``, with a
    ``SwapEMAWeights()`` callback, and fit() ends by copying the averages into the weights.
    Instantiating SwapEMAWeights matters: the grader disables it in the student's sandbox, so a
    student name bound to it fails there. Outputs: ``displacements`` (final trainable weights minus
    initial, flattened) and ``average_displacements`` (the callback's ``average_weights``, or the
    averaged weights, minus initial).
    """
    import keras

    from labkit import precision

    validation.require_class(target, "ExponentialMovingAverage")
    is_reference = target is keras.callbacks.SwapEMAWeights
    if not is_reference and not issubclass(target, keras.callbacks.Callback):
        raise TypeError(f"expected ExponentialMovingAverage to be a keras.callbacks.Callback subclass, got {target!r}.")
    momentum = _validated_number(momentum, "momentum", 0.0, 1.0)
    epochs, steps_per_epoch, _ = _validated_fit(epochs, steps_per_epoch)
    learning_rate = _validated_number(learning_rate, "learning_rate", 0.0, _MAX_EMA_LEARNING_RATE,
                                      low_inclusive=False)
    seed = validation.seed(seed)
    initial_weights, inputs, labels = _fit_problem(steps_per_epoch, seed)
    with precision.full_precision_matmuls():
        if is_reference:
            optimizer = keras.optimizers.SGD(learning_rate=learning_rate, use_ema=True, ema_momentum=momentum)
            callbacks = [target()]
        else:
            optimizer = keras.optimizers.SGD(learning_rate=learning_rate)
            callbacks = [target(momentum=momentum)]
        model = _fit_model(initial_weights, optimizer, epochs * steps_per_epoch)
        model.fit(inputs, labels, batch_size=_FIT_BATCH, epochs=epochs, shuffle=False, verbose=0, callbacks=callbacks)
    start = np.concatenate([weight.astype(np.float64).ravel() for weight in initial_weights])
    final = np.concatenate([_numpy(weight).ravel() for weight in model.trainable_weights])
    if is_reference:
        averages = model.trainable_weights  # fit() has copied Keras's averages into the weights
    else:
        averages = getattr(callbacks[0], "average_weights", None)
    try:
        average = np.concatenate([_numpy(value).ravel() for value in averages])
    except Exception:  # missing or not a list of arrays
        average = np.full(1, np.nan)
    return {"displacements": final - start, "average_displacements": average - start}


# ---------------------------------------------------------------------------
# Check factories.


def log_uniform_matches(description, low, high, *, count=20_000, seed=0, target="sample_log_uniform", hint=""):
    """A Check: the student's sampler is log-uniform on [low, high], seeded by the Generator it is given."""
    low, high = _validated_range((low, high), "(low, high)")
    count = _validated_count(count, "count", _MIN_SAMPLES, _MAX_SAMPLES)
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.log_uniform_properties",
        target=target,
        arguments={"low": low, "high": high, "count": count, "seed": validation.seed(seed)},
        expected={
            "shape": str((count,)),
            "within_bounds": True,
            "log_quantiles": list(QUANTILE_LEVELS),
            "same_seed_same_values": True,
            "different_seed_different_values": True,
        },
        rtol=0.0,
        atol=sampling_tolerance(count),
        hint=hint,
    )


def search_configurations_match(description, learning_rate_range, weight_decay_range, *, count=5000, seed=0,
                                target="random_search_configurations", hint=""):
    """A Check: the configurations are independent log-uniform draws of both hyperparameters, seeded by the rng."""
    learning_rate_range = _validated_range(learning_rate_range, "learning_rate_range")
    weight_decay_range = _validated_range(weight_decay_range, "weight_decay_range")
    count = _validated_count(count, "count", _MIN_SAMPLES, _MAX_SAMPLES)
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.search_configuration_properties",
        target=target,
        arguments={"count": count, "learning_rate_range": list(learning_rate_range),
                   "weight_decay_range": list(weight_decay_range), "seed": validation.seed(seed)},
        expected={
            "count": count,
            "keys": "learning_rate, weight_decay",
            "learning_rate_within_bounds": True,
            "weight_decay_within_bounds": True,
            "learning_rate_log_quantiles": list(QUANTILE_LEVELS),
            "weight_decay_log_quantiles": list(QUANTILE_LEVELS),
            "independent": True,
            "same_seed_same_values": True,
            "different_seed_different_values": True,
        },
        rtol=0.0,
        atol=sampling_tolerance(count),
        hint=hint,
    )


def refine_range_matches(description, values, scores, *, top_fraction=0.25, expand=2.0, target="refine_range",
                         hint=""):
    """A Check against the float64 closed form of the refined range."""
    expected = reference_refined_range(values, scores, top_fraction, expand)
    values, scores = _validated_trials(values, scores)
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.refined_range",
        target=target,
        arguments={"values": values, "scores": scores, "top_fraction": float(top_fraction), "expand": float(expand)},
        expected=expected,
        rtol=RANGE_RTOL,
        atol=RANGE_ATOL,
        hint=hint,
    )


def boundary_answers_match(description, cases, *, target="best_on_boundary", hint=""):
    """A Check against the closed form: 'low', 'high' or 'inside' for each case."""
    cases = _validated_boundary_cases(cases)
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.boundary_answers",
        target=target,
        arguments={"cases": cases},
        expected=reference_boundary_answers(cases),
        hint=hint,
    )


def feature_extractor_matches(description, *, base="small_cnn", num_classes=3, seed=0,
                              target="make_feature_extractor", hint=""):
    """A Check: frozen base, new softmax head, counts and training behaviour match the closed form."""
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.feature_extractor_properties",
        target=target,
        arguments={"base": _validated_base(base), "num_classes": num_classes, "seed": validation.seed(seed)},
        expected=expected_feature_extractor_properties(base, num_classes),
        hint=hint,
    )


def fine_tuning_matches(description, layer_count, *, base="small_cnn", num_classes=3, seed=0, target="unfreeze_top",
                        hint=""):
    """A Check: the top layer_count layers (BatchNormalization excepted) train, nothing else."""
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.fine_tuning_properties",
        target=target,
        arguments={"base": _validated_base(base), "layer_count": layer_count, "num_classes": num_classes,
                   "seed": validation.seed(seed)},
        expected=expected_fine_tuning_properties(base, layer_count, num_classes),
        hint=hint,
    )


def ensemble_matches(description, *, member_count=3, features=4, classes=5, batch=6, from_logits=False, scale=1.5,
                     seed=0, target="ensemble_predict", hint=""):
    """A Check: the ensemble's output is the mean of the members' probabilities (float64 closed form)."""
    expected = reference_ensemble_probabilities(member_count, features, classes, batch, scale, seed)
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.ensemble_probabilities",
        target=target,
        arguments={"member_count": member_count, "features": features, "classes": classes, "batch": batch,
                   "from_logits": bool(from_logits), "scale": float(scale), "seed": seed},
        expected=expected,
        rtol=ENSEMBLE_RTOL,
        atol=ENSEMBLE_ATOL,
        hint=hint,
    )


def checkpoint_ensemble_matches(description, *, member_count=3, features=4, classes=5, batch=6, scale=1.5, seed=0,
                                target="ensemble_from_checkpoints", hint=""):
    """A Check: the models loaded from the checkpoints give the mean of their probabilities (float64 closed form)."""
    expected = reference_ensemble_probabilities(member_count, features, classes, batch, scale, seed)
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.checkpoint_ensemble_probabilities",
        target=target,
        arguments={"member_count": member_count, "features": features, "classes": classes, "batch": batch,
                   "scale": float(scale), "seed": seed},
        expected=expected,
        rtol=ENSEMBLE_RTOL,
        atol=ENSEMBLE_ATOL,
        hint=hint,
    )


def snapshot_matches(description, cycle_epochs, max_learning_rate, *, min_learning_rate=0.0, epochs=6,
                     steps_per_epoch=3, runs=1, seed=0, target="SnapshotEnsemble", hint=""):
    """A Check: per-batch cosine learning rates restarted every cycle, and a snapshot at the end of each cycle."""
    expected = reference_snapshot_run(cycle_epochs, max_learning_rate, min_learning_rate, epochs, steps_per_epoch,
                                      runs)
    arguments = {"cycle_epochs": cycle_epochs, "max_learning_rate": float(max_learning_rate),
                 "min_learning_rate": float(min_learning_rate)}
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.snapshot_run",
        target=target,
        arguments={"arguments": arguments, "epochs": epochs, "steps_per_epoch": steps_per_epoch, "runs": runs,
                   "seed": validation.seed(seed)},
        expected=expected,
        rtol=SNAPSHOT_RTOL,
        atol=SNAPSHOT_ATOL_FRACTION_OF_PEAK * float(max_learning_rate),
        hint=hint,
    )


def ema_matches_keras(description, momentum, *, epochs=2, steps_per_epoch=4, learning_rate=0.2, seed=0,
                      target="ExponentialMovingAverage", hint=""):
    """A Check: the callback's averaged weights equal Keras's EMA (SGD(use_ema=True, ema_momentum=...), SwapEMAWeights)."""
    momentum = _validated_number(momentum, "momentum", 0.0, 1.0)
    epochs, steps_per_epoch, _ = _validated_fit(epochs, steps_per_epoch)
    learning_rate = _validated_number(learning_rate, "learning_rate", 0.0, _MAX_EMA_LEARNING_RATE,
                                      low_inclusive=False)
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.ema_run",
        target=target,
        arguments={"momentum": momentum, "epochs": epochs, "steps_per_epoch": steps_per_epoch,
                   "learning_rate": learning_rate, "seed": validation.seed(seed)},
        reference="keras.callbacks.SwapEMAWeights",
        rtol=EMA_RTOL,
        atol=EMA_ATOL,
        hint=hint,
    )
