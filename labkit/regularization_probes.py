"""Probes and check factories for Lab 04: dropout, batch normalization, weight penalties and decay, augmentation.

Dropout draws random masks, and a student's random stream never equals Keras's, so the dropout
probe reports *properties* rather than values: identity at inference, every output either 0 or
input / (1 - rate) in training, a dropped fraction and a mean within six binomial standard
deviations of what the rate implies, a new mask on each call, the same outputs for the same
seed. Running the same probe on ``keras.layers.Dropout`` gives the reference (all properties
hold for it).

Batch normalization is deterministic: the probes give the student's layer and
``keras.layers.BatchNormalization`` the same seeded gamma, beta and moving statistics, call
them on the same seeded inputs (per-feature means and scales from 0.02 to 3, so that epsilon
and the variance estimator matter) and compare outputs and the changes of the moving
statistics after each training call.

Penalties and SGD steps are compared with the Keras built-ins (``keras.regularizers.L2``,
``keras.optimizers.SGD(weight_decay=...)``) or with float64 closed forms computed here.

Keras is imported inside the functions only: the autograder imports this module in a process
that must not load TensorFlow. The probes never use the built-ins the lab forbids
(``keras.layers.Dropout``, ``keras.layers.BatchNormalization``, ``keras.regularizers.*``,
``keras.random.dropout``, ``keras.ops.batch_normalization``, ``keras.optimizers.SGD``) on the
student's side, because the grader disables them while student code runs; they only reach them
when the reference itself is that built-in.
"""

import math
import numbers

import numpy as np

from labkit import autodiff, validation
from labkit.checks import Check

PROBE_MODULE = "labkit.regularization_probes"
_MAX_DROPOUT_ELEMENTS = 250_000  # dropout outputs are summarized, so large inputs are fine
_MAX_ELEMENTS = 4096  # per probe input whose values are returned
_MAX_CALLS = 8
_MAX_STEPS = 20

# How far the dropout statistics may stray: six standard deviations of the sampling noise. With
# n independent units each dropped with probability p, the dropped fraction has standard
# deviation sqrt(p (1 - p) / n); the output mean has standard deviation
# sqrt(mean(x^2) p / (1 - p) / n) around the input mean. A correct layer misses a six-sigma band
# with probability about 2e-9, while the mistakes the lab targets (no rescaling, keeping instead
# of dropping with probability `rate`) move these statistics by tens of sigmas for n = 1e5.
DROPOUT_SIGMAS = 6.0
# Kept values: x / (1 - rate) and x * (1 / (1 - rate)) differ by at most one float32 rounding
# (6e-8 relative) and the ratio output / input adds another; rtol=1e-6 leaves margin, and a
# missing or wrong rescaling is off by rate / (1 - rate), i.e. at least 5 % for the rates checked.
DROPOUT_RTOL = 1e-6
DROPOUT_ATOL = 0.0
# Batch normalization in float32. Measured against keras.layers.BatchNormalization over inputs
# like the checks' (rank 2 to 4, several axes, momentum and epsilon values, center/scale off),
# implementations written differently (mean of squared deviations, ops.moments, or
# E[x^2] - E[x]^2; dividing by sqrt or multiplying by rsqrt; gamma folded into the scale first)
# differ by at most 4e-6 in absolute terms on outputs of size up to ~40, by 1.7e-6 on training
# outputs near zero, and by 2.4e-7 on the changes of the moving statistics (of size 5e-3 to
# 0.4). rtol=atol=2e-5 leaves a margin of ten or more everywhere; the targeted mistakes (epsilon
# outside the square root, an unbiased variance, batch statistics at inference, a reversed
# momentum) change outputs or moving statistics by more than 1e-3.
BATCH_NORM_RTOL = 2e-5
BATCH_NORM_ATOL = 2e-5
# Penalties: sums of at most a few thousand float32 squares or absolute values; two correct
# implementations (ops.sum of squares, a dot product, a sum of per-row sums) differ by a few
# float32 roundings of the sum, below 1e-6 relative. Gradients (2 * factor * w or factor *
# sign(w)) are exact up to one rounding. A factor of 1/2, squares instead of absolute values or a
# missing factor is off by O(1).
PENALTY_RTOL = 1e-5
PENALTY_ATOL = 1e-9
# SGD steps compared through displacements w_t - w_0: each float32 step rounds a handful of
# operations on weights of size <= ~8, i.e. ~5e-7 absolute per step; measured over 10 steps, a
# float32 implementation differs from the float64 closed form (and from keras.optimizers.SGD) by
# at most 6.2e-7. atol=1e-5 keeps a margin above ten; forgetting the learning rate in the decay, the factor 2 of the L2
# gradient or the decay itself moves displacements by more than 1e-3.
SGD_RTOL = 1e-5
SGD_ATOL = 1e-5


# ---------------------------------------------------------------------------
# Validation helpers.


def _validated_shape(shape, what="shape", min_rank=1, max_elements=_MAX_ELEMENTS):
    """A concrete shape as a tuple of positive ints."""
    return validation.shape(shape, what, min_rank, max_elements)


def _validated_number(value, what, low=None, high=None, high_inclusive=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}.")
    value = float(value)
    too_low = low is not None and value < low
    too_high = high is not None and (value > high if high_inclusive else value >= high)
    if too_low or too_high:
        closing = "]" if high_inclusive else ")"
        raise ValueError(f"{what} must be in [{low}, {high}{closing}, got {value!r}.")
    return value


def _validated_count(value, what, maximum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= value <= maximum:
        raise ValueError(f"{what} must be an integer from 1 to {maximum}, got {value!r}.")
    return int(value)


def _validated_rate(rate):
    return _validated_number(rate, "rate", 0.0, 1.0)


# ---------------------------------------------------------------------------
# Shared machinery.


def _numpy(value):
    """A backend tensor (or anything array-like) as a float64 NumPy array."""
    import keras

    return np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64)


def _seeded_normal(shape, seed, scale=1.0):
    """Seeded standard-normal float32 values (times scale): the same on every machine and backend."""
    return (np.random.RandomState(seed).normal(size=shape) * scale).astype("float32")


def _value_and_gradient(function, values):
    """function(tensor) as a float and its gradient with respect to the tensor (NaNs if there is none).

    ``labkit.autodiff`` gives no gradient when the function does not depend on the tensor through
    the backend (NumPy inside), on every backend alike.
    """
    result, (gradient,), _ = autodiff.value_and_input_gradients(function, [values])
    value = float(_numpy(result).reshape(()))
    if gradient is None:
        return value, np.full(np.shape(values), np.nan)
    return value, _numpy(gradient)


# ---------------------------------------------------------------------------
# Dropout.


def _within_sigmas(observed, expected, standard_deviation):
    """Whether observed is within DROPOUT_SIGMAS standard deviations of expected (exact when the deviation is 0)."""
    return bool(abs(observed - expected) <= DROPOUT_SIGMAS * standard_deviation)


def _dropped_fraction_ok(outputs, rate):
    """Whether the fraction of zeros matches the rate within the binomial noise."""
    fraction = float(np.mean(outputs == 0.0))
    return _within_sigmas(fraction, rate, math.sqrt(rate * (1.0 - rate) / outputs.size))


def dropout_properties(layer_class, rate, shape=(200, 500), seed=0, layer_seed=1234):
    """A Dropout-like layer on a large seeded input of positive values: properties that any correct layer has.

    The layer is built as ``layer_class(rate=rate, seed=layer_seed)``. Outputs:
    ``default_call_is_identity`` (called without ``training``), ``training_false_is_identity``,
    ``output_shape``, ``dropped_fraction_matches_rate`` and ``mean_is_preserved`` (within six
    standard deviations of the sampling noise), ``only_zeros_and_rescaled_inputs``,
    ``kept_scale_min`` / ``kept_scale_max`` (output / input over the kept units: 1 / (1 - rate)),
    ``new_mask_each_call`` (two training calls drop different units), ``same_seed_same_outputs``
    (a second layer with the same seed gives identical first outputs), and, inside a Sequential
    model, ``model_inference_is_identity`` (``model(x)``) and ``model_training_drops_at_rate``
    (``model(x, training=True)``).
    """
    import keras

    validation.require_class(layer_class, "Dropout")
    rate = _validated_rate(rate)
    shape = _validated_shape(shape, min_rank=2, max_elements=_MAX_DROPOUT_ELEMENTS)
    seed = validation.seed(seed)
    layer_seed = validation.seed(layer_seed, "layer_seed")
    # Positive inputs (uniform in [1, 2)): no input is 0, and the mean is far from 0.
    inputs = np.random.RandomState(seed).uniform(1.0, 2.0, size=shape).astype("float32")
    values = inputs.astype(np.float64)
    keep_probability = 1.0 - rate
    keras.utils.set_random_seed(seed)

    # Training calls on fresh layers first, so a layer that also draws (and discards) random numbers at
    # inference is not penalized in the comparison of two layers with the same seed.
    layer = layer_class(rate=rate, seed=layer_seed)
    first = _numpy(layer(inputs, training=True))
    second = _numpy(layer(inputs, training=True))
    twin_first = _numpy(layer_class(rate=rate, seed=layer_seed)(inputs, training=True))
    inference_layer = layer_class(rate=rate, seed=layer_seed)
    default_outputs = _numpy(inference_layer(inputs))
    inference_outputs = _numpy(inference_layer(inputs, training=False))
    model = keras.Sequential([keras.Input(shape=shape[1:]), layer_class(rate=rate, seed=layer_seed + 1)])
    model_inference = _numpy(model(inputs))
    model_training = _numpy(model(inputs, training=True))

    outputs = {
        "default_call_is_identity": bool(np.array_equal(default_outputs, values)),
        "training_false_is_identity": bool(np.array_equal(inference_outputs, values)),
        "output_shape": str(tuple(first.shape)),
    }
    if first.shape != values.shape:
        return outputs  # the remaining properties compare elementwise
    kept = first != 0.0
    rescaled = np.isclose(first, values / keep_probability, rtol=DROPOUT_RTOL, atol=0.0)
    ratios = first[kept] / values[kept]
    mean_noise = math.sqrt(float(np.mean(values**2)) * rate / keep_probability / values.size)
    outputs.update({
        "dropped_fraction_matches_rate": _dropped_fraction_ok(first, rate),
        "only_zeros_and_rescaled_inputs": bool(np.all(~kept | rescaled)),
        "kept_scale_min": float(ratios.min()) if ratios.size else float("nan"),
        "kept_scale_max": float(ratios.max()) if ratios.size else float("nan"),
        "mean_is_preserved": _within_sigmas(float(first.mean()), float(values.mean()), mean_noise),
        "new_mask_each_call": bool(second.shape == first.shape and np.any((first == 0) != (second == 0))),
        "same_seed_same_outputs": bool(np.array_equal(first, twin_first)),
        "model_inference_is_identity": bool(np.array_equal(model_inference, values)),
        "model_training_drops_at_rate": bool(
            model_training.shape == values.shape and _dropped_fraction_ok(model_training, rate)
        ),
    })
    return outputs


def dropout_rejects(layer_class, rates):
    """For each rate, whether building the layer (and calling it in training mode) raises ValueError."""
    import keras

    validation.require_class(layer_class, "Dropout")
    if isinstance(rates, (str, bytes)) or not hasattr(rates, "__iter__"):
        raise ValueError(f"rates must be a list of numbers, got {rates!r}.")
    rates = [_validated_number(rate, "each rate") for rate in rates]
    if not rates:
        raise ValueError("rates must contain at least one rate.")
    raised = []
    for rate in rates:
        keras.utils.set_random_seed(0)
        try:
            layer_class(rate=rate, seed=0)(np.ones((2, 3), dtype="float32"), training=True)
        except ValueError:
            raised.append(True)
        else:
            raised.append(False)
    return {"raises_value_error": raised}


# ---------------------------------------------------------------------------
# Batch normalization.


def _batch_norm_setup(arguments, input_shape):
    """(axis index, number of features, broadcast shape) for a layer's axis argument and a concrete input shape."""
    axis = arguments.get("axis", -1)
    rank = len(input_shape)
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral) or not -rank <= axis < rank or (
        axis % rank == 0
    ):
        raise ValueError(f"axis must name a feature axis (not the batch axis) of inputs of rank {rank}, got {axis!r}.")
    axis = int(axis) % rank
    broadcast_shape = [1] * rank
    broadcast_shape[axis] = input_shape[axis]
    return axis, input_shape[axis], broadcast_shape


def _batch_norm_inputs(input_shape, axis, calls, seed):
    """Seeded inputs for `calls` calls, with per-feature scales from 0.02 to 3 and means within 2 scales of 0.

    Small scales make the variance comparable to epsilon (so where epsilon goes is visible);
    means within two scales keep the float32 moments accurate whatever formula computes them.
    """
    random = np.random.RandomState(seed)
    features = input_shape[axis]
    scales = np.exp(random.uniform(np.log(0.02), np.log(3.0), size=features))
    offsets = scales * random.uniform(-2.0, 2.0, size=features)
    broadcast_shape = [1] * len(input_shape)
    broadcast_shape[axis] = features
    values = random.normal(size=(calls,) + tuple(input_shape))
    values = values * scales.reshape(broadcast_shape) + offsets.reshape(broadcast_shape)
    return values.astype("float32")


def _seeded_statistics(features, seed):
    """Seeded gamma, beta, moving mean and moving variance (0.005 to 2, so epsilon = 1e-3 matters)."""
    random = np.random.RandomState(seed)
    return {
        "gamma": (1.0 + 0.5 * random.normal(size=features)).astype("float32"),
        "beta": (0.5 * random.normal(size=features)).astype("float32"),
        "moving_mean": (0.5 * random.normal(size=features)).astype("float32"),
        "moving_variance": np.exp(random.uniform(np.log(0.005), np.log(2.0), size=features)).astype("float32"),
    }


def _make_batch_norm(layer_class, arguments, input_shape, seed, trainable, in_model):
    """The layer (inside a Sequential model when asked), built for input_shape, with seeded statistics assigned."""
    import keras

    _, features, _ = _batch_norm_setup(arguments, input_shape)
    keras.utils.set_random_seed(seed)
    layer = layer_class(**arguments)
    model = None
    if in_model:
        model = keras.Sequential([keras.Input(shape=input_shape[1:]), layer])
    else:
        layer.build((None,) + tuple(input_shape[1:]))
    if not trainable:
        layer.trainable = False
    statistics = _seeded_statistics(features, seed + 1)
    wanted = ["moving_mean", "moving_variance"]
    wanted += ["gamma"] if arguments.get("scale", True) else []
    wanted += ["beta"] if arguments.get("center", True) else []
    for name in wanted:
        variable = getattr(layer, name, None)
        if variable is None or not hasattr(variable, "assign"):
            raise AttributeError(
                f"the layer has no weight `self.{name}` after build (make it in build with self.add_weight)."
            )
        variable.assign(statistics[name])
    return layer, model, statistics


def _moving_statistics(layer):
    return _numpy(layer.moving_mean), _numpy(layer.moving_variance)


def _validated_batch_norm_problem(layer_class, constructor_arguments, input_shape, seed, calls=1):
    validation.require_class(layer_class, "BatchNormalization")
    arguments = validation.keyword_arguments(constructor_arguments)
    calls = _validated_count(calls, "calls", _MAX_CALLS)
    input_shape = _validated_shape(input_shape, "input_shape", min_rank=2, max_elements=_MAX_ELEMENTS // calls)
    _batch_norm_setup(arguments, input_shape)
    return arguments, input_shape, validation.seed(seed), calls


def batch_norm_training(layer_class, constructor_arguments, input_shape, calls=3, seed=0, trainable=True,
                        in_model=False):
    """A BatchNormalization-like layer called `calls` times in training mode on seeded batches.

    The layer is built for input_shape (batch axis included), its gamma, beta, moving_mean and
    moving_variance are set to seeded values, and it is called with ``training=True`` (inside a
    Sequential model with ``in_model``; frozen with ``layer.trainable = False`` when ``trainable``
    is False). Outputs: ``trainable_weight_count``, ``non_trainable_weight_count``,
    ``weight_shapes`` (sorted), ``training_outputs`` (one row per call) and the changes of the
    moving statistics from their initial values after each call (``moving_mean_change``,
    ``moving_variance_change``).
    """
    arguments, input_shape, seed, calls = _validated_batch_norm_problem(
        layer_class, constructor_arguments, input_shape, seed, calls
    )
    axis, _, _ = _batch_norm_setup(arguments, input_shape)
    layer, model, statistics = _make_batch_norm(layer_class, arguments, input_shape, seed, bool(trainable),
                                                bool(in_model))
    batches = _batch_norm_inputs(input_shape, axis, calls, seed)
    outputs, mean_changes, variance_changes = [], [], []
    for batch in batches:
        called = model(batch, training=True) if model is not None else layer(batch, training=True)
        outputs.append(_numpy(called))
        moving_mean, moving_variance = _moving_statistics(layer)
        mean_changes.append(moving_mean - statistics["moving_mean"])
        variance_changes.append(moving_variance - statistics["moving_variance"])
    return {
        "trainable_weight_count": len(layer.trainable_weights),
        "non_trainable_weight_count": len(layer.non_trainable_weights),
        "weight_shapes": ", ".join(sorted(str(tuple(int(size) for size in weight.shape)) for weight in layer.weights)),
        "training_outputs": np.stack(outputs),
        "moving_mean_change": np.stack(mean_changes),
        "moving_variance_change": np.stack(variance_changes),
    }


def batch_norm_inference(layer_class, constructor_arguments, input_shape, seed=0, in_model=False):
    """A BatchNormalization-like layer with seeded statistics, in inference mode.

    Outputs: ``inference_outputs`` (``training=False``), ``default_call_outputs`` (no
    ``training`` argument), ``moving_statistics_unchanged`` (inference must not update them) and,
    with ``in_model``, ``predict_outputs`` from ``model.predict`` of a Sequential model holding
    the layer (a compiled inference step).
    """
    arguments, input_shape, seed, _ = _validated_batch_norm_problem(layer_class, constructor_arguments,
                                                                    input_shape, seed)
    axis, _, _ = _batch_norm_setup(arguments, input_shape)
    layer, model, statistics = _make_batch_norm(layer_class, arguments, input_shape, seed, True, bool(in_model))
    (batch,) = _batch_norm_inputs(input_shape, axis, 1, seed + 2)
    outputs = {
        "inference_outputs": _numpy(layer(batch, training=False)),
        "default_call_outputs": _numpy(layer(batch)),
    }
    if model is not None:
        outputs["predict_outputs"] = np.asarray(model.predict(batch, verbose=0), dtype=np.float64)
    moving_mean, moving_variance = _moving_statistics(layer)
    outputs["moving_statistics_unchanged"] = bool(
        np.array_equal(moving_mean, statistics["moving_mean"].astype(np.float64))
        and np.array_equal(moving_variance, statistics["moving_variance"].astype(np.float64))
    )
    return outputs


# ---------------------------------------------------------------------------
# Penalties and SGD steps.


def _validated_shapes(shapes):
    if isinstance(shapes, (str, bytes)) or not hasattr(shapes, "__iter__"):
        raise ValueError(f"shapes must be a list of shapes such as [[3, 4], [5]], got {shapes!r}.")
    shapes = [_validated_shape(shape, "each shape") for shape in shapes]
    if not shapes or sum(int(np.prod(shape)) for shape in shapes) > _MAX_ELEMENTS:
        raise ValueError(f"shapes must hold between 1 and {_MAX_ELEMENTS} numbers in all, got {shapes!r}.")
    return shapes


def _penalty_weights(shapes, seed):
    return [_seeded_normal(shape, seed + index) for index, shape in enumerate(shapes)]


def penalty_values(penalty, factor, shapes=((3, 4),), seed=0):
    """A penalty on seeded weight tensors of the given shapes: its values and its gradients.

    ``penalty`` is either a function ``penalty(weights, factor)`` (the student's) or a Keras
    regularizer class such as ``keras.regularizers.L2`` (built as ``penalty(factor)``). Outputs:
    ``values`` (one per tensor) and ``gradients`` (d penalty / d weights, flattened and
    concatenated; NaN where the penalty is not differentiable with the backend, e.g. NumPy inside).
    """
    if isinstance(penalty, type):
        regularizer = penalty(_validated_number(factor, "factor", 0.0))
        function = regularizer
    else:
        validation.require_function(penalty, "penalty(weights, factor)")
        factor = _validated_number(factor, "factor", 0.0)

        def function(weights):
            return penalty(weights, factor)

    values, gradients = [], []
    for weights in _penalty_weights(_validated_shapes(shapes), validation.seed(seed)):
        value, gradient = _value_and_gradient(function, weights)
        values.append(value)
        gradients.append(np.asarray(gradient, dtype=np.float64).ravel())
    return {"values": np.asarray(values), "gradients": np.concatenate(gradients)}


def reference_penalty_values(kind, factor, shapes=((3, 4),), seed=0):
    """The closed forms, in float64 from the same float32 weights: L2 = factor sum(w^2), L1 = factor sum(|w|)."""
    if kind not in ("l1", "l2"):
        raise ValueError(f"kind must be 'l1' or 'l2', got {kind!r}.")
    factor = _validated_number(factor, "factor", 0.0)
    values, gradients = [], []
    for weights in _penalty_weights(_validated_shapes(shapes), validation.seed(seed)):
        weights = weights.astype(np.float64)
        if kind == "l2":
            values.append(factor * float(np.sum(weights**2)))
            gradients.append((2.0 * factor * weights).ravel())
        else:
            values.append(factor * float(np.sum(np.abs(weights))))
            gradients.append((factor * np.sign(weights)).ravel())
    return {"values": np.asarray(values).tolist(), "gradients": np.concatenate(gradients).tolist()}


def _sgd_problem(shape, steps, seed):
    """Seeded float32 initial weights (scale 2) and one seeded gradient per step."""
    weights = _seeded_normal(shape, seed, scale=2.0)
    gradients = [_seeded_normal(shape, seed + 1 + step) for step in range(steps)]
    return weights, gradients


def _validated_sgd_problem(learning_rate, factor, shape, steps, seed):
    learning_rate = _validated_number(learning_rate, "learning_rate", 0.0)
    if learning_rate <= 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate!r}.")
    factor = _validated_number(factor, "factor", 0.0)
    shape = _validated_shape(shape, "shape")
    steps = _validated_count(steps, "steps", _MAX_STEPS)
    if int(np.prod(shape)) * steps > _MAX_ELEMENTS:
        raise ValueError(f"shape {shape} times {steps} steps is more than {_MAX_ELEMENTS} numbers: keep probes small.")
    return learning_rate, factor, shape, steps, validation.seed(seed)


def sgd_displacements(step, learning_rate, factor, shape=(6,), steps=3, seed=0):
    """Several SGD steps from seeded weights with seeded gradients: the displacements w_t - w_0 after each step.

    ``step`` is either a function ``step(weights, gradient, learning_rate, factor)`` returning the
    new weights (the student's) or a Keras optimizer class, built as
    ``step(learning_rate=learning_rate, weight_decay=factor)`` and applied to a variable.
    The gradients are those of the data loss only; they do not depend on the weights.
    """
    import keras

    learning_rate, factor, shape, steps, seed = _validated_sgd_problem(learning_rate, factor, shape, steps, seed)
    initial, gradients = _sgd_problem(shape, steps, seed)
    trajectory = []
    if isinstance(step, type):
        optimizer = step(learning_rate=learning_rate, weight_decay=factor)
        variable = keras.Variable(initial)
        for gradient in gradients:
            optimizer.apply_gradients([(keras.ops.convert_to_tensor(gradient), variable)])
            trajectory.append(_numpy(variable))
    else:
        validation.require_function(step, "step(weights, gradient, learning_rate, factor)")
        weights = keras.ops.convert_to_tensor(initial)
        for gradient in gradients:
            weights = step(weights, keras.ops.convert_to_tensor(gradient), learning_rate, factor)
            trajectory.append(_numpy(weights))
            weights = keras.ops.convert_to_tensor(weights, dtype="float32")
    return {"displacements": np.stack(trajectory) - initial.astype(np.float64)}


def reference_sgd_displacements(rule, learning_rate, factor, shape=(6,), steps=3, seed=0):
    """The float64 closed form of the same steps.

    ``rule="l2"``: w <- w - lr (g + 2 factor w), the gradient of the data loss plus factor * sum(w^2).
    ``rule="weight_decay"``: w <- w - lr factor w - lr g, Keras's decoupled weight decay then the SGD step.
    """
    if rule not in ("l2", "weight_decay"):
        raise ValueError(f"rule must be 'l2' or 'weight_decay', got {rule!r}.")
    learning_rate, factor, shape, steps, seed = _validated_sgd_problem(learning_rate, factor, shape, steps, seed)
    initial, gradients = _sgd_problem(shape, steps, seed)
    weights = initial.astype(np.float64)
    trajectory = []
    for gradient in gradients:
        gradient = gradient.astype(np.float64)
        if rule == "l2":
            weights = weights - learning_rate * (gradient + 2.0 * factor * weights)
        else:
            weights = weights - learning_rate * factor * weights - learning_rate * gradient
        trajectory.append(weights)
    return {"displacements": (np.stack(trajectory) - initial.astype(np.float64)).tolist()}


# ---------------------------------------------------------------------------
# Augmentation.

# The constructor settings the checks compare, per layer type (config key -> shown name).
_AUGMENTATION_SETTINGS = {
    "RandomFlip": ("mode", "seed"),
    "RandomTranslation": ("height_factor", "width_factor", "fill_mode", "seed"),
    "RandomRotation": ("factor", "fill_mode", "seed"),
    "RandomZoom": ("height_factor", "width_factor", "fill_mode", "seed"),
}
_SYMMETRIC_FACTORS = ("factor", "height_factor", "width_factor")


def _setting_text(key, value):
    """One setting as text; a single factor f is written as Keras reads it, the range (-f, f)."""
    if key in _SYMMETRIC_FACTORS and value is not None:
        if isinstance(value, numbers.Real):
            value = (-float(value), float(value))
        value = tuple(float(item) for item in value)
    return f"{key}={value!r}"


def describe_augmentation_layer(class_name, config):
    """'RandomRotation(factor=(-0.05, 0.05), fill_mode='constant', seed=3)' from a layer's class name and config."""
    keys = _AUGMENTATION_SETTINGS.get(class_name, ())
    return f"{class_name}({', '.join(_setting_text(key, config.get(key)) for key in keys)})"


def augmentation_pipeline(factory, arguments=None, image_shape=(28, 28, 1), batch_size=4, seed=0):
    """The augmentation model returned by ``factory(**arguments)``: its layers and what it does to seeded images.

    Outputs: ``is_sequential``, ``layers`` (each layer's type and main settings, as text),
    ``inference_is_identity`` (``model(images, training=False)`` returns the images),
    ``training_output_shape`` and ``training_changes_images``.
    """
    import keras

    validation.require_function(factory, "make_augmentation(...)")
    arguments = validation.keyword_arguments(arguments, "arguments")
    image_shape = _validated_shape(image_shape, "image_shape", min_rank=3)
    batch_size = _validated_count(batch_size, "batch_size", 16)
    seed = validation.seed(seed)
    images = np.random.RandomState(seed).uniform(0.0, 1.0, size=(batch_size,) + image_shape).astype("float32")
    keras.utils.set_random_seed(seed)
    model = factory(**arguments)
    layers = list(getattr(model, "layers", []))
    description = "; ".join(describe_augmentation_layer(type(layer).__name__, layer.get_config()) for layer in layers)
    inference = _numpy(model(images, training=False))
    training = _numpy(model(images, training=True))
    return {
        "is_sequential": isinstance(model, keras.Sequential),
        "layers": description,
        "inference_is_identity": bool(inference.shape == images.shape and np.allclose(inference, images, atol=1e-6)),
        "training_output_shape": str(tuple(training.shape)),
        "training_changes_images": bool(training.shape != images.shape or not np.allclose(training, images)),
    }


# ---------------------------------------------------------------------------
# Check factories.


def dropout_matches_keras(description, rate, *, shape=(200, 500), seed=0, layer_seed=1234, target="Dropout",
                          hint=""):
    """A Check: the student's Dropout has every property keras.layers.Dropout has (same probe, same inputs)."""
    arguments = {
        "rate": _validated_rate(rate),
        "shape": list(_validated_shape(shape, min_rank=2, max_elements=_MAX_DROPOUT_ELEMENTS)),
        "seed": validation.seed(seed),
        "layer_seed": validation.seed(layer_seed, "layer_seed"),
    }
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.dropout_properties",
        target=target,
        arguments=arguments,
        reference="keras.layers.Dropout",
        rtol=DROPOUT_RTOL,
        atol=DROPOUT_ATOL,
        hint=hint,
    )


def dropout_rejects_rates(description, rates, raises, *, target="Dropout", hint=""):
    """A Check against literal values: which rates must raise ValueError (Keras itself accepts rate=1)."""
    rates = [_validated_number(rate, "each rate") for rate in rates]
    raises = [bool(item) for item in raises]
    if len(rates) != len(raises) or not rates:
        raise ValueError("give one expected True/False per rate.")
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.dropout_rejects",
        target=target,
        arguments={"rates": rates},
        expected={"raises_value_error": raises},
        hint=hint,
    )


def _batch_norm_arguments(constructor_arguments, input_shape, seed, calls=1):
    arguments = validation.keyword_arguments(constructor_arguments)
    calls = _validated_count(calls, "calls", _MAX_CALLS)
    input_shape = _validated_shape(input_shape, "input_shape", min_rank=2, max_elements=_MAX_ELEMENTS // calls)
    _batch_norm_setup(arguments, input_shape)
    return arguments, list(input_shape), validation.seed(seed), calls


def batch_norm_training_matches_keras(description, constructor_arguments, input_shape, *, calls=3, seed=0,
                                      trainable=True, in_model=False, target="BatchNormalization", hint=""):
    """A Check: training-mode outputs and moving-statistic updates equal keras.layers.BatchNormalization's."""
    arguments, input_shape, seed, calls = _batch_norm_arguments(constructor_arguments, input_shape, seed, calls)
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.batch_norm_training",
        target=target,
        arguments={"constructor_arguments": arguments, "input_shape": input_shape, "calls": calls, "seed": seed,
                   "trainable": bool(trainable), "in_model": bool(in_model)},
        reference="keras.layers.BatchNormalization",
        rtol=BATCH_NORM_RTOL,
        atol=BATCH_NORM_ATOL,
        hint=hint,
    )


def batch_norm_inference_matches_keras(description, constructor_arguments, input_shape, *, seed=0, in_model=False,
                                       target="BatchNormalization", hint=""):
    """A Check: inference outputs (training=False, no training argument, model.predict) equal Keras's."""
    arguments, input_shape, seed, _ = _batch_norm_arguments(constructor_arguments, input_shape, seed)
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.batch_norm_inference",
        target=target,
        arguments={"constructor_arguments": arguments, "input_shape": input_shape, "seed": seed,
                   "in_model": bool(in_model)},
        reference="keras.layers.BatchNormalization",
        rtol=BATCH_NORM_RTOL,
        atol=BATCH_NORM_ATOL,
        hint=hint,
    )


def penalty_matches_keras(description, target, reference, factor, *, shapes=((3, 4),), seed=0, hint=""):
    """A Check: the student's penalty(weights, factor) equals the Keras regularizer's value and gradient."""
    if reference not in ("keras.regularizers.L1", "keras.regularizers.L2"):
        raise ValueError(f"reference must be 'keras.regularizers.L1' or 'keras.regularizers.L2', got {reference!r}.")
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.penalty_values",
        target=target,
        arguments={"factor": _validated_number(factor, "factor", 0.0),
                   "shapes": [list(shape) for shape in _validated_shapes(shapes)], "seed": validation.seed(seed)},
        reference=reference,
        rtol=PENALTY_RTOL,
        atol=PENALTY_ATOL,
        hint=hint,
    )


def penalty_matches_closed_form(description, target, kind, factor, *, shapes=((3, 4),), seed=0, hint=""):
    """A Check against the float64 closed form of an L2 (factor sum w^2) or L1 (factor sum |w|) penalty."""
    shapes = [list(shape) for shape in _validated_shapes(shapes)]
    factor = _validated_number(factor, "factor", 0.0)
    seed = validation.seed(seed)
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.penalty_values",
        target=target,
        arguments={"factor": factor, "shapes": shapes, "seed": seed},
        expected=reference_penalty_values(kind, factor, shapes, seed),
        rtol=PENALTY_RTOL,
        atol=PENALTY_ATOL,
        hint=hint,
    )


def sgd_step_matches_closed_form(description, target, rule, learning_rate, factor, *, expected_factor=None,
                                 shape=(6,), steps=3, seed=0, hint=""):
    """A Check: repeated calls of the student's step function follow the float64 closed form of `rule`.

    The student's function gets `factor`; the closed form uses `expected_factor` (default: the
    same). E.g. rule="weight_decay", expected_factor=wd and factor=wd / 2 checks that an L2 step
    with half the decay coincides with decoupled weight decay.
    """
    expected_factor = factor if expected_factor is None else expected_factor
    learning_rate, factor, shape, steps, seed = _validated_sgd_problem(learning_rate, factor, shape, steps, seed)
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.sgd_displacements",
        target=target,
        arguments={"learning_rate": learning_rate, "factor": factor, "shape": list(shape), "steps": steps,
                   "seed": seed},
        expected=reference_sgd_displacements(rule, learning_rate, expected_factor, shape, steps, seed),
        rtol=SGD_RTOL,
        atol=SGD_ATOL,
        hint=hint,
    )


def weight_decay_matches_keras_sgd(description, learning_rate, weight_decay, *, shape=(6,), steps=3, seed=0,
                                   target="sgd_step_with_weight_decay", hint=""):
    """A Check: the student's step equals keras.optimizers.SGD(learning_rate, weight_decay=...) step after step."""
    learning_rate, weight_decay, shape, steps, seed = _validated_sgd_problem(
        learning_rate, weight_decay, shape, steps, seed
    )
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.sgd_displacements",
        target=target,
        arguments={"learning_rate": learning_rate, "factor": weight_decay, "shape": list(shape), "steps": steps,
                   "seed": seed},
        reference="keras.optimizers.SGD",
        rtol=SGD_RTOL,
        atol=SGD_ATOL,
        hint=hint,
    )


def augmentation_matches(description, arguments, expected_layers, *, image_shape=(28, 28, 1), seed=0,
                         target="make_augmentation", hint=""):
    """A Check against literal values: the Sequential's layers (types and settings) and its behaviour on images.

    ``expected_layers`` lists (class name, config) pairs, e.g.
    ``[("RandomRotation", {"factor": 0.05, "fill_mode": "constant", "seed": 3})]``.
    """
    arguments = validation.keyword_arguments(arguments, "arguments")
    image_shape = _validated_shape(image_shape, "image_shape", min_rank=3)
    batch_size = 4
    if not expected_layers:
        raise ValueError("expected_layers must list at least one layer.")
    for class_name, config in expected_layers:
        if class_name not in _AUGMENTATION_SETTINGS or not isinstance(config, dict):
            raise ValueError(f"expected_layers items must be (one of {sorted(_AUGMENTATION_SETTINGS)}, config dict), "
                             f"got {(class_name, config)!r}.")
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.augmentation_pipeline",
        target=target,
        arguments={"arguments": arguments, "image_shape": list(image_shape), "batch_size": batch_size,
                   "seed": validation.seed(seed)},
        expected={
            "is_sequential": True,
            "layers": "; ".join(describe_augmentation_layer(name, config) for name, config in expected_layers),
            "inference_is_identity": True,
            "training_output_shape": str((batch_size,) + image_shape),
            "training_changes_images": True,
        },
        hint=hint,
    )


# ---------------------------------------------------------------------------
# Layer and group normalization: per-example statistics, no running state.

# Keras's LayerNormalization and GroupNormalization in float32 against implementations written
# differently (ops.moments or mean of squared deviations; dividing by sqrt or multiplying by
# rsqrt; gamma folded in first; groups reshaped to (N, ..., G, C / G) or transposed), measured on
# the checks' inputs (per-example scales 0.02 to 3, so a variance can be ~1e-3 and epsilon
# matters) with four seeds: outputs of size up to 4.5 differ by at most 8e-7, gradients with
# respect to gamma and beta by 3.4e-6, and input gradients, which reach 110 where a tiny
# variance divides them, by 1.2e-5 (1e-7 relative). The float32 layers differ from the float64
# NumPy references by at most 5e-7. rtol=atol=1e-4 keeps a margin of eight or more; the targeted
# mistakes (statistics over the batch axis, an unbiased variance on groups of 2 to 8 values,
# epsilon outside the square root, channels interleaved into groups) move outputs by 0.1 or more.
GROUP_NORM_RTOL = 1e-4
GROUP_NORM_ATOL = 1e-4
_NORMALIZATION_CONFIG_KEYS = ("axis", "epsilon", "center", "scale", "groups")


def _normalization_inputs(input_shape, seed):
    """Seeded inputs whose examples have scales from 0.02 to 3 and offsets within two scales of 0.

    Per-example (and per-channel) scales make the statistics differ from example to example, so
    statistics taken over the batch axis are visibly wrong; small scales make the variance
    comparable to epsilon, so where epsilon goes is visible.
    """
    random = np.random.RandomState(seed)
    batch, channels = input_shape[0], input_shape[-1]
    example_scales = np.exp(random.uniform(np.log(0.02), np.log(3.0), size=batch))
    channel_scales = np.exp(random.uniform(np.log(0.3), np.log(3.0), size=channels))
    broadcast = (batch,) + (1,) * (len(input_shape) - 1)
    scales = example_scales.reshape(broadcast) * channel_scales
    offsets = scales * random.uniform(-2.0, 2.0, size=(batch,) + (1,) * (len(input_shape) - 2) + (channels,))
    return (random.normal(size=input_shape) * scales + offsets).astype("float32")


def _normalization_weights(layer, seed):
    """Assign seeded values to the layer's gamma and beta (when it has them); return them as NumPy arrays."""
    random = np.random.RandomState(seed)
    assigned = {}
    for name, make in (("gamma", lambda size: 1.0 + 0.5 * random.normal(size=size)),
                       ("beta", lambda size: 0.5 * random.normal(size=size))):
        variable = getattr(layer, name, None)
        if variable is None:
            continue
        if not hasattr(variable, "assign"):
            raise AttributeError(f"`self.{name}` must be a weight made in build with self.add_weight.")
        values = make(tuple(int(size) for size in variable.shape)).astype("float32")
        variable.assign(values)
        assigned[name] = values
    return assigned


def _validated_normalization_problem(layer_class, constructor_arguments, input_shape, seed):
    validation.require_class(layer_class, "normalization layer")
    arguments = validation.keyword_arguments(constructor_arguments)
    input_shape = _validated_shape(input_shape, "input_shape", min_rank=2, max_elements=_MAX_ELEMENTS // 4)
    if input_shape[0] < 2:
        raise ValueError(f"input_shape needs a batch of at least 2 examples, got {input_shape!r}.")
    return arguments, input_shape, validation.seed(seed)


def normalization_outputs(layer_class, constructor_arguments, input_shape, seed=0):
    """A LayerNormalization- or GroupNormalization-like layer on seeded inputs, with seeded gamma and beta.

    Outputs: ``outputs`` (a plain call), ``training_flag_ignored`` (training=True and training=False
    give the same outputs: no batch statistics), ``non_trainable_weight_count`` (0: no running
    statistics), ``weight_shapes``, ``input_gradients`` and ``weight_gradients`` of a seeded
    weighted sum of the outputs (labkit.autodiff), ``config`` (the main settings of an unbuilt
    layer), ``config_round_trip`` (from_config(get_config()) of the built layer gives the same
    config and the same outputs) and ``deserializes_without_custom_objects`` (registered for
    serialization).
    """
    import keras

    arguments, input_shape, seed = _validated_normalization_problem(layer_class, constructor_arguments,
                                                                    input_shape, seed)
    unbuilt_config = layer_class(**arguments).get_config()
    config = {key: unbuilt_config[key] for key in _NORMALIZATION_CONFIG_KEYS if key in unbuilt_config}
    layer = layer_class(**arguments)
    layer.build((None,) + tuple(input_shape[1:]))
    assigned = _normalization_weights(layer, seed + 1)
    inputs = _normalization_inputs(input_shape, seed)
    outputs = _numpy(layer(inputs))
    in_training = _numpy(layer(inputs, training=True))
    at_inference = _numpy(layer(inputs, training=False))

    weighting = np.random.RandomState(seed + 2).normal(size=input_shape).astype("float32")
    variables = [getattr(layer, name) for name in ("gamma", "beta") if name in assigned]

    def weighted_sum(tensor):
        return keras.ops.sum(layer(tensor) * weighting)

    _, (input_gradient,), variable_gradients = autodiff.value_and_input_gradients(weighted_sum, [inputs], variables)
    weight_gradients = [np.full(tuple(variable.shape), np.nan) if gradient is None else _numpy(gradient).ravel()
                        for variable, gradient in zip(variables, variable_gradients)]

    rebuilt = layer_class.from_config(layer.get_config())
    rebuilt.build((None,) + tuple(input_shape[1:]))
    for name, values in assigned.items():
        getattr(rebuilt, name).assign(values)
    same_config = rebuilt.get_config() == layer.get_config()
    round_trip = bool(same_config and np.array_equal(_numpy(rebuilt(inputs)), outputs))
    try:
        restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
        deserializes = type(restored) is layer_class
    except (TypeError, ValueError):
        deserializes = False
    return {
        "outputs": outputs,
        "training_flag_ignored": bool(np.array_equal(in_training, outputs) and np.array_equal(at_inference, outputs)),
        "non_trainable_weight_count": len(layer.non_trainable_weights),
        "weight_shapes": ", ".join(sorted(str(tuple(int(size) for size in weight.shape)) for weight in layer.weights)),
        "input_gradients": np.full(input_shape, np.nan) if input_gradient is None else _numpy(input_gradient),
        "weight_gradients": np.concatenate(weight_gradients) if weight_gradients else np.zeros(0),
        "config": config,
        "config_round_trip": round_trip,
        "deserializes_without_custom_objects": bool(deserializes),
    }


def normalization_rejects(layer_class, cases):
    """Which (constructor arguments, input shape) cases raise ValueError when the layer is made and built.

    Output: ``raises_value_error``, one True/False per case; any other exception is reported by name,
    so a TypeError where a clear ValueError is wanted shows up as such.
    """
    validation.require_class(layer_class, "normalization layer")
    if isinstance(cases, (str, bytes)) or not hasattr(cases, "__iter__"):
        raise ValueError(f"cases must be a list of [constructor arguments, input shape] pairs, got {cases!r}.")
    raised = []
    for arguments, input_shape in cases:
        arguments = validation.keyword_arguments(arguments)
        input_shape = _validated_shape(input_shape, "input_shape", min_rank=2)
        try:
            layer_class(**arguments).build((None,) + tuple(input_shape[1:]))
        except ValueError:
            raised.append(True)
        except Exception as error:  # reported, not raised: the comparison shows which exception came instead
            raised.append(type(error).__name__)
        else:
            raised.append(False)
    return {"raises_value_error": raised}


def reference_normalization(inputs, reduction_axes, epsilon, gamma=None, beta=None):
    """Float64 (x - mean) / sqrt(biased variance + epsilon) * gamma + beta, statistics over reduction_axes."""
    values = np.asarray(inputs, dtype=np.float64)
    mean = values.mean(axis=tuple(reduction_axes), keepdims=True)
    variance = ((values - mean) ** 2).mean(axis=tuple(reduction_axes), keepdims=True)
    outputs = (values - mean) / np.sqrt(variance + epsilon)
    if gamma is not None:
        outputs = outputs * np.asarray(gamma, dtype=np.float64)
    if beta is not None:
        outputs = outputs + np.asarray(beta, dtype=np.float64)
    return outputs


def reference_group_norm_special_case(case, input_shape, epsilon=1e-3, seed=0):
    """The float64 outputs GroupNormalization must give with groups=1 or groups=channels, without gamma and beta.

    ``case="layer_norm"``: groups=1 is layer normalization over every axis but the batch axis
    (for images, over height, width and channels together). ``case="instance_norm"``: groups equal
    to the channels is instance normalization, each channel of each example over its own height
    and width. Written directly from those definitions, not through a reshape into groups.
    """
    input_shape = _validated_shape(input_shape, "input_shape", min_rank=3, max_elements=_MAX_ELEMENTS // 4)
    inputs = _normalization_inputs(input_shape, validation.seed(seed))
    everything_but_batch = range(1, len(input_shape))
    if case == "layer_norm":
        outputs = reference_normalization(inputs, everything_but_batch, epsilon)
    elif case == "instance_norm":
        outputs = reference_normalization(inputs, range(1, len(input_shape) - 1), epsilon)
    else:
        raise ValueError(f"case must be 'layer_norm' or 'instance_norm', got {case!r}.")
    return {"outputs": outputs.tolist()}


_NORMALIZATION_REFERENCES = ("keras.layers.LayerNormalization", "keras.layers.GroupNormalization")


def normalization_matches_keras(description, target, reference, constructor_arguments, input_shape, *, seed=0,
                                hint=""):
    """A Check: outputs, gradients, weights, config and serialization equal Keras's LayerNormalization's or
    GroupNormalization's for the same arguments on the same seeded inputs."""
    if reference not in _NORMALIZATION_REFERENCES:
        raise ValueError(f"reference must be one of {_NORMALIZATION_REFERENCES}, got {reference!r}.")
    arguments = validation.keyword_arguments(constructor_arguments)
    input_shape = _validated_shape(input_shape, "input_shape", min_rank=2, max_elements=_MAX_ELEMENTS // 4)
    if input_shape[0] < 2:
        raise ValueError(f"input_shape needs a batch of at least 2 examples, got {input_shape!r}.")
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.normalization_outputs",
        target=target,
        arguments={"constructor_arguments": arguments, "input_shape": list(input_shape),
                   "seed": validation.seed(seed)},
        reference=reference,
        rtol=GROUP_NORM_RTOL,
        atol=GROUP_NORM_ATOL,
        hint=hint,
    )


def group_norm_special_case_matches(description, case, input_shape, *, epsilon=1e-3, seed=0,
                                    target="GroupNormalization", hint=""):
    """A Check against float64 NumPy: groups=1 is layer norm over all but the batch axis ("layer_norm"), groups
    equal to the channels is instance norm ("instance_norm"); the layer is built without gamma and beta."""
    input_shape = _validated_shape(input_shape, "input_shape", min_rank=3, max_elements=_MAX_ELEMENTS // 4)
    epsilon = _validated_number(epsilon, "epsilon", 0.0)
    seed = validation.seed(seed)
    groups = {"layer_norm": 1, "instance_norm": input_shape[-1]}.get(case)
    if groups is None:
        raise ValueError(f"case must be 'layer_norm' or 'instance_norm', got {case!r}.")
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.normalization_outputs",
        target=target,
        arguments={"constructor_arguments": {"groups": groups, "epsilon": epsilon, "center": False, "scale": False},
                   "input_shape": list(input_shape), "seed": seed},
        expected=reference_group_norm_special_case(case, input_shape, epsilon, seed),
        rtol=GROUP_NORM_RTOL,
        atol=GROUP_NORM_ATOL,
        hint=hint,
    )


def normalization_rejects_arguments(description, target, cases, raises, *, hint=""):
    """A Check against literal values: which (constructor arguments, input shape) cases must raise ValueError."""
    cases = [[validation.keyword_arguments(arguments), list(_validated_shape(shape, "input_shape", min_rank=2))]
             for arguments, shape in cases]
    raises = [bool(item) for item in raises]
    if len(cases) != len(raises) or not cases:
        raise ValueError("give one expected True/False per case.")
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.normalization_rejects",
        target=target,
        arguments={"cases": cases},
        expected={"raises_value_error": raises},
        hint=hint,
    )
