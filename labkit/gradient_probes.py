"""Probes and check factories for Lab 01: gradient descent, gradient checking and minibatch SGD.

A probe calls a student's function on seeded float64 inputs it builds itself and returns what
came back as a small dict, so the same probe runs on a student's code in the grading sandbox.
Every reference of this lab is a literal: a closed form (gradient descent on a quadratic, the
centred difference of sin and exp), a short float64 recurrence written out in the check
factory, or values computed once with Keras autodiff and pasted into the test cell (the helpers
``keras_softmax_cross_entropy`` and ``keras_sgd_epoch`` below recompute them). The Newton step is
compared with the exact minimum of a quadratic, or with a float64 ``np.linalg.solve`` of the same
seeded system computed when the check is built.

Keras is imported inside the functions only: the grader imports this module to collect checks
in a process that must not load TensorFlow.
"""

import math
import numbers

import numpy as np

from labkit import autodiff, precision
from labkit.checks import Check

PROBE_MODULE = "labkit.gradient_probes"
_MAX_STEPS = 500
_MAX_VALUES = 2000  # probe outputs stay small
_MAX_EXAMPLES = 100_000

# Tolerances (everything in this lab is float64, machine epsilon 2.2e-16).
# Gradient descent: the reference iterates the same update x <- x - lr * g(x) or uses the closed
# form (1 - lr * a)**t * x0; two correct float64 implementations differ by a few ulps per step,
# so after at most a few hundred steps the relative difference is below ~1e-13. rtol=1e-9 leaves
# a wide margin, while every mistake the checks target (ascent, missing start, a step too few or
# too many, in-place aliasing) changes values by 1e-2 relative or more.
DESCENT_RTOL = 1e-9
DESCENT_ATOL = 1e-12
# Centred differences: f(x + h) - f(x - h) loses about eps * |f| / h to cancellation, and x + h
# itself is rounded (relative error eps * |x| / h in the step). With |f|, |x| <= 3 and h >= 1e-5
# that is < 1e-10 absolute on derivatives of size ~1; rtol=1e-7 plus atol=1e-9 covers it. A
# one-sided difference is off by h * f'' / 2 (>= 5e-6 at h=1e-5 for the functions below).
DIFFERENCE_RTOL = 1e-7
DIFFERENCE_ATOL = 1e-9
# Relative errors of hand-picked values: one division, a few ulps.
RELATIVE_ERROR_RTOL = 1e-9
RELATIVE_ERROR_ATOL = 1e-15
# Softmax cross-entropy and SGD epochs against Keras autodiff in float64: sums over a handful of
# examples and classes, in a different order than Keras, differ by ~1e-15 relative; logits near
# 800 carry an absolute rounding error of ~1e-13 into the loss. rtol=1e-8, atol=1e-10 keeps a
# wide margin for any float64 implementation but rejects float32 arithmetic (errors ~1e-7 and,
# with large logits, ~1e-4) as well as every wrong formula.
SOFTMAX_RTOL = 1e-8
SOFTMAX_ATOL = 1e-10

DESCENT_PROBLEMS = ("quadratic", "x_cos_pi_x")
DIFFERENCE_FUNCTIONS = ("sin_of_weighted_sum", "exp_of_weighted_sum", "sum_of_cubes")


# ---------------------------------------------------------------------------
# Validation helpers.


def _require_function(target, what):
    if not callable(target):
        raise TypeError(f"expected the function {what}, got {type(target).__name__} {target!r}.")


def _validated_vector(values, name, max_size=_MAX_VALUES):
    """A list (or nested list) of finite numbers as a float64 array; ValueError if malformed."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (nested) list of numbers, got {values!r}.") from None
    if array.size == 0 or array.size > max_size:
        raise ValueError(f"{name} must hold between 1 and {max_size} numbers, got {array.size}.")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must contain finite numbers only, got {values!r}.")
    return array


def _validated_count(value, name, minimum=0, maximum=_MAX_STEPS):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not minimum <= value <= maximum:
        raise ValueError(f"{name} must be an integer from {minimum} to {maximum}, got {value!r}.")
    return int(value)


def _validated_positive(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0 or not math.isfinite(value):
        raise ValueError(f"{name} must be a positive number, got {value!r}.")
    return float(value)


def _as_float64(value, what):
    """The student's result as a float64 array, with a clear error when it is not numeric."""
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be numbers (a numpy array), got {type(value).__name__}.") from None


# ---------------------------------------------------------------------------
# Part 1: gradient descent.


def _descent_gradient(problem, curvatures):
    """The gradient function the probe hands to gradient_descent."""
    if problem == "quadratic":
        # f(x) = 1/2 * sum_i a_i x_i**2, so grad f(x) = a * x (a_i < 0 gives a saddle direction).
        return lambda point: curvatures * np.asarray(point, dtype=np.float64)
    if problem == "x_cos_pi_x":
        # f(x) = x cos(pi x), elementwise: f'(x) = cos(pi x) - pi x sin(pi x).
        return lambda point: np.cos(np.pi * np.asarray(point)) - np.pi * np.asarray(point) * np.sin(
            np.pi * np.asarray(point)
        )
    raise ValueError(f"problem must be one of {DESCENT_PROBLEMS}, got {problem!r}.")


def descent_trajectory(gradient_descent, problem, start, learning_rate, steps, curvatures=None):
    """gradient_descent(gradient, start, learning_rate, steps) on a known problem: the trajectory it returns.

    The start is a fresh float64 array of shape (dim,); outputs are the trajectory as a float64
    array (it should have shape (steps + 1, dim), its first row the start) and `start_after`, the
    start array after the call (gradient_descent must not modify it).
    """
    _require_function(gradient_descent, "gradient_descent")
    start = _validated_vector(start, "start")
    if start.ndim != 1:
        raise ValueError(f"start must be a flat list of coordinates, got shape {start.shape}.")
    learning_rate = _validated_positive(learning_rate, "learning_rate")
    steps = _validated_count(steps, "steps")
    curvature_array = None
    if problem == "quadratic":
        curvature_array = _validated_vector(curvatures, "curvatures")
        if curvature_array.shape != start.shape:
            raise ValueError(f"give one curvature per coordinate: start has {start.size}, curvatures {curvature_array.size}.")
    gradient = _descent_gradient(problem, curvature_array)
    start_given = start.copy()
    trajectory = _as_float64(gradient_descent(gradient, start_given, learning_rate, steps), "the trajectory")
    return {"trajectory": trajectory, "start_after": start_given}


def _quadratic_closed_form(start, learning_rate, steps, curvatures):
    """x_t = (1 - lr * a)**t * x_0 coordinate by coordinate, in pure Python floats."""
    return [
        [(1.0 - learning_rate * curvature) ** step * coordinate for coordinate, curvature in zip(start, curvatures)]
        for step in range(steps + 1)
    ]


def _x_cos_pi_x_recurrence(start, learning_rate, steps):
    """Gradient descent on x cos(pi x) written out step by step in pure Python floats."""
    points = [list(start)]
    for _ in range(steps):
        points.append([x - learning_rate * (math.cos(math.pi * x) - math.pi * x * math.sin(math.pi * x))
                       for x in points[-1]])
    return points


def descent_matches(description, problem, start, learning_rate, steps, *, curvatures=None,
                    target="gradient_descent", hint=""):
    """A Check: the trajectory equals the closed form (quadratic) or the written-out recurrence (x cos(pi x))."""
    start = [float(value) for value in _validated_vector(start, "start").ravel()]
    learning_rate = _validated_positive(learning_rate, "learning_rate")
    steps = _validated_count(steps, "steps")
    arguments = {"problem": problem, "start": start, "learning_rate": learning_rate, "steps": steps}
    if problem == "quadratic":
        curvatures = [float(value) for value in _validated_vector(curvatures, "curvatures").ravel()]
        if len(curvatures) != len(start):
            raise ValueError(f"give one curvature per coordinate: {len(start)} coordinates, {len(curvatures)} curvatures.")
        arguments["curvatures"] = curvatures
        trajectory = _quadratic_closed_form(start, learning_rate, steps, curvatures)
    elif problem == "x_cos_pi_x":
        trajectory = _x_cos_pi_x_recurrence(start, learning_rate, steps)
    else:
        raise ValueError(f"problem must be one of {DESCENT_PROBLEMS}, got {problem!r}.")
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.descent_trajectory",
        target=target,
        arguments=arguments,
        expected={"trajectory": trajectory, "start_after": start},
        rtol=DESCENT_RTOL,
        atol=DESCENT_ATOL,
        hint=hint,
    )


# ---------------------------------------------------------------------------
# Part 2: numerical gradient and relative error.


def _difference_function(function_name, coefficients):
    """A scalar function of an array, one of DIFFERENCE_FUNCTIONS."""
    if function_name == "sin_of_weighted_sum":
        return lambda point: math.sin(float(np.sum(coefficients * point)))
    if function_name == "exp_of_weighted_sum":
        return lambda point: math.exp(float(np.sum(coefficients * point)))
    if function_name == "sum_of_cubes":
        return lambda point: float(np.sum(coefficients * point**3))
    raise ValueError(f"function must be one of {DIFFERENCE_FUNCTIONS}, got {function_name!r}.")


def _centred_difference_closed_form(function_name, coefficients, point, step):
    """The exact value of (f(x + h e_i) - f(x - h e_i)) / 2h, coordinate by coordinate.

    sin(s + ch) - sin(s - ch) = 2 cos(s) sin(ch); exp(s + ch) - exp(s - ch) = 2 exp(s) sinh(ch);
    c (x + h)**3 - c (x - h)**3 = c (6 x**2 h + 2 h**3). Here s = sum(c * x).
    """
    flat_point = [float(value) for value in np.ravel(point)]
    flat_coefficients = [float(value) for value in np.ravel(coefficients)]
    weighted_sum = math.fsum(c * x for c, x in zip(flat_coefficients, flat_point))
    if function_name == "sin_of_weighted_sum":
        values = [math.cos(weighted_sum) * math.sin(c * step) / step for c in flat_coefficients]
    elif function_name == "exp_of_weighted_sum":
        values = [math.exp(weighted_sum) * math.sinh(c * step) / step for c in flat_coefficients]
    elif function_name == "sum_of_cubes":
        values = [c * (3.0 * x * x + step * step) for c, x in zip(flat_coefficients, flat_point)]
    else:
        raise ValueError(f"function must be one of {DIFFERENCE_FUNCTIONS}, got {function_name!r}.")
    return np.asarray(values).reshape(np.shape(point)).tolist()


def numerical_gradient_on(numerical_gradient, function, point, coefficients, step=None):
    """numerical_gradient(f, point[, step]) for a known f: the estimate and the point after the call.

    `step=None` leaves the step at the function's default. The point is a fresh float64 array
    of any shape; the estimate should have the same shape, and the point must be unchanged.
    """
    _require_function(numerical_gradient, "numerical_gradient")
    point = _validated_vector(point, "point")
    coefficients = _validated_vector(coefficients, "coefficients")
    if coefficients.shape != point.shape:
        raise ValueError(f"coefficients must have the point's shape {point.shape}, got {coefficients.shape}.")
    scalar_function = _difference_function(function, coefficients)
    point_given = point.copy()
    if step is None:
        estimate = numerical_gradient(scalar_function, point_given)
    else:
        estimate = numerical_gradient(scalar_function, point_given, step=_validated_positive(step, "step"))
    return {"gradient": _as_float64(estimate, "the numerical gradient"), "point_after": point_given}


def numerical_gradient_matches(description, function, point, coefficients, *, step=None, default_step=1e-5,
                               target="numerical_gradient", hint=""):
    """A Check: the estimate equals the exact centred difference of a function with a closed form."""
    point_array = _validated_vector(point, "point")
    coefficient_array = _validated_vector(coefficients, "coefficients")
    if coefficient_array.shape != point_array.shape:
        raise ValueError(f"coefficients must have the point's shape {point_array.shape}, got {coefficient_array.shape}.")
    used_step = _validated_positive(default_step if step is None else step, "step")
    expected = _centred_difference_closed_form(function, coefficient_array, point_array, used_step)
    arguments = {"function": function, "point": point_array.tolist(), "coefficients": coefficient_array.tolist()}
    if step is not None:
        arguments["step"] = used_step
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.numerical_gradient_on",
        target=target,
        arguments=arguments,
        expected={"gradient": expected, "point_after": point_array.tolist()},
        rtol=DIFFERENCE_RTOL,
        atol=DIFFERENCE_ATOL,
        hint=hint,
    )


def relative_errors_on(relative_error, pairs, tiny=None):
    """relative_error(a, b) for each pair (a, b) of float64 arrays: one number per pair."""
    _require_function(relative_error, "relative_error")
    if isinstance(pairs, (str, bytes)) or not hasattr(pairs, "__iter__"):
        raise ValueError(f"pairs must be a list of (a, b) pairs, got {pairs!r}.")
    errors = []
    for pair in pairs:
        if len(pair) != 2:
            raise ValueError(f"each pair must be (a, b), got {pair!r}.")
        first, second = (np.asarray(value, dtype=np.float64) for value in pair)
        if tiny is None:
            result = relative_error(first, second)
        else:
            result = relative_error(first, second, tiny=_validated_positive(tiny, "tiny"))
        result = _as_float64(result, "the relative error")
        if result.size != 1:
            raise ValueError(f"relative_error must return one number, got an array of shape {result.shape}.")
        errors.append(float(result.reshape(())))
    return {"errors": errors}


def relative_error_reference(a, b, tiny=1e-12):
    """max_i |a_i - b_i| / max(|a_i|, |b_i|, tiny), in pure Python floats (the check's literal values)."""
    flat_a = [float(value) for value in np.ravel(a)]
    flat_b = [float(value) for value in np.ravel(b)]
    return max(abs(x - y) / max(abs(x), abs(y), tiny) for x, y in zip(flat_a, flat_b))


def relative_error_matches(description, pairs, *, tiny=None, target="relative_error", hint=""):
    """A Check: relative_error gives the formula's values (computed here in pure Python) on hand-picked pairs."""
    cleaned = []
    for pair in pairs:
        if len(pair) != 2:
            raise ValueError(f"each pair must be (a, b), got {pair!r}.")
        first, second = (_validated_vector(value, "a value") for value in pair)
        if first.shape != second.shape:
            raise ValueError(f"a and b must have the same shape, got {first.shape} and {second.shape}.")
        cleaned.append((first.tolist(), second.tolist()))
    if not cleaned:
        raise ValueError("give at least one pair.")
    used_tiny = 1e-12 if tiny is None else _validated_positive(tiny, "tiny")
    arguments = {"pairs": cleaned}
    if tiny is not None:
        arguments["tiny"] = used_tiny
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.relative_errors_on",
        target=target,
        arguments=arguments,
        expected={"errors": [relative_error_reference(a, b, used_tiny) for a, b in cleaned]},
        rtol=RELATIVE_ERROR_RTOL,
        atol=RELATIVE_ERROR_ATOL,
        hint=hint,
    )


# ---------------------------------------------------------------------------
# Part 3: softmax cross-entropy.


def softmax_case(seed, num_examples, num_features, num_classes, logit_offset=0.0, weight_scale=1.0):
    """Seeded float64 inputs (weights, bias, images, labels) of a softmax-regression case.

    images ~ U[0, 1), weights ~ N(0, weight_scale**2), bias ~ N(0, 1) + logit_offset (the same
    offset for every class, so the softmax is unchanged but exp(logits) overflows when it is
    large), labels uniform over the classes. Deterministic: numpy's legacy RandomState stream.
    """
    seed = _validated_count(seed, "seed", maximum=2**31 - 1)
    num_examples = _validated_count(num_examples, "num_examples", minimum=1, maximum=1000)
    num_features = _validated_count(num_features, "num_features", minimum=1, maximum=1000)
    num_classes = _validated_count(num_classes, "num_classes", minimum=2, maximum=100)
    if num_features * num_classes > _MAX_VALUES:
        raise ValueError(f"num_features * num_classes must be at most {_MAX_VALUES} (the gradient is returned).")
    if isinstance(logit_offset, bool) or not isinstance(logit_offset, numbers.Real) or not math.isfinite(logit_offset):
        raise ValueError(f"logit_offset must be a finite number, got {logit_offset!r}.")
    weight_scale = _validated_positive(weight_scale, "weight_scale")
    random = np.random.RandomState(seed)
    images = random.uniform(0.0, 1.0, size=(num_examples, num_features))
    weights = random.normal(0.0, weight_scale, size=(num_features, num_classes))
    bias = random.normal(0.0, 1.0, size=(num_classes,)) + float(logit_offset)
    labels = random.randint(0, num_classes, size=(num_examples,)).astype(np.int64)
    return weights, bias, images, labels


def softmax_cross_entropy_reference(weights, bias, images, labels):
    """Mean softmax cross-entropy of images @ weights + bias and its gradients (float64 numpy, stable).

    The probes hand this function to minibatch_sgd_epoch, so that part is graded independently
    of the student's own softmax_cross_entropy.
    """
    logits = images @ weights + bias
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_normalizer = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_probabilities = shifted - log_normalizer
    num_examples = images.shape[0]
    loss = -log_probabilities[np.arange(num_examples), labels].mean()
    logit_gradient = np.exp(log_probabilities)
    logit_gradient[np.arange(num_examples), labels] -= 1.0
    logit_gradient /= num_examples
    return float(loss), images.T @ logit_gradient, logit_gradient.sum(axis=0)


def _case_arguments(seed, num_examples, num_features, num_classes, logit_offset, weight_scale):
    arguments = {"seed": seed, "num_examples": num_examples, "num_features": num_features,
                 "num_classes": num_classes, "logit_offset": float(logit_offset), "weight_scale": float(weight_scale)}
    softmax_case(**arguments)  # validates
    return arguments


def softmax_cross_entropy_outputs(softmax_cross_entropy, seed, num_examples, num_features, num_classes,
                                  logit_offset=0.0, weight_scale=1.0):
    """softmax_cross_entropy(weights, bias, images, labels) on a seeded case: loss and both gradients."""
    _require_function(softmax_cross_entropy, "softmax_cross_entropy")
    weights, bias, images, labels = softmax_case(seed, num_examples, num_features, num_classes,
                                                 logit_offset, weight_scale)
    result = softmax_cross_entropy(weights, bias, images, labels)
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        raise TypeError("softmax_cross_entropy must return a tuple (loss, weight_gradient, bias_gradient).")
    loss, weight_gradient, bias_gradient = result
    loss = _as_float64(loss, "the loss")
    if loss.size != 1:
        raise ValueError(f"the loss must be one number (the mean over the batch), got shape {loss.shape}.")
    return {
        "loss": float(loss.reshape(())),
        "weight_gradient": _as_float64(weight_gradient, "the weight gradient"),
        "bias_gradient": _as_float64(bias_gradient, "the bias gradient"),
    }


def softmax_cross_entropy_matches(description, case, *, loss, weight_gradient, bias_gradient,
                                  target="softmax_cross_entropy", hint=""):
    """A Check against literal values (computed once with Keras autodiff: see keras_softmax_cross_entropy)."""
    arguments = _case_arguments(**{"logit_offset": 0.0, "weight_scale": 1.0, **case})
    expected = {
        "loss": float(loss),
        "weight_gradient": _validated_vector(weight_gradient, "weight_gradient").tolist(),
        "bias_gradient": _validated_vector(bias_gradient, "bias_gradient").tolist(),
    }
    expected_shape = (arguments["num_features"], arguments["num_classes"])
    if np.shape(expected["weight_gradient"]) != expected_shape:
        raise ValueError(f"weight_gradient must have shape {expected_shape}, got {np.shape(expected['weight_gradient'])}.")
    if np.shape(expected["bias_gradient"]) != (arguments["num_classes"],):
        raise ValueError(f"bias_gradient must have shape ({arguments['num_classes']},).")
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.softmax_cross_entropy_outputs",
        target=target,
        arguments=arguments,
        expected=expected,
        rtol=SOFTMAX_RTOL,
        atol=SOFTMAX_ATOL,
        hint=hint,
    )


def keras_softmax_cross_entropy(weights, bias, images, labels):
    """(loss, weight gradient, bias gradient) from keras.losses.sparse_categorical_crossentropy and autodiff.

    An independent reference for the lab's hand-derived gradient: Keras computes the loss from
    logits and the backend differentiates it (``labkit.autodiff``), in float64 on every backend
    (JAX's x64 mode is on for the call only: ``labkit.precision.float64_arithmetic``).
    """
    import keras

    with precision.float64_arithmetic():
        images_tensor = keras.ops.convert_to_tensor(np.asarray(images, dtype=np.float64))
        labels_tensor = keras.ops.convert_to_tensor(np.asarray(labels, dtype=np.int64))

        def mean_loss(weight_tensor, bias_tensor):
            # einsum and sum / n, not matmul and mean: on JAX and torch, Keras 3.15 computes those two
            # (and a product with a Python float) in float32 even for float64 tensors.
            logits = keras.ops.add(keras.ops.einsum("ni,ik->nk", images_tensor, weight_tensor), bias_tensor)
            losses = keras.losses.sparse_categorical_crossentropy(labels_tensor, logits, from_logits=True)
            return keras.ops.divide(keras.ops.sum(losses), int(losses.shape[0]))

        loss, (weight_gradient, bias_gradient), _ = autodiff.value_and_input_gradients(
            mean_loss, [np.asarray(weights, dtype=np.float64), np.asarray(bias, dtype=np.float64)])
        return float(autodiff.as_numpy(loss)), autodiff.as_numpy(weight_gradient), autodiff.as_numpy(bias_gradient)


# ---------------------------------------------------------------------------
# Part 4: minibatches and the SGD epoch.


def minibatch_run(iterate_minibatches, num_examples, batch_size, seed, epochs=2):
    """iterate_minibatches(num_examples, batch_size, rng) for a few epochs with np.random.default_rng(seed).

    Outputs: batch_sizes (of the first epoch), each_index_once (every epoch covers every index
    exactly once), integer_indices, shuffled (the first epoch is not in the order 0, 1, 2, ...),
    epochs_differ (the second epoch's order differs from the first's), reproducible (a fresh
    generator with the same seed gives the same batches again).
    """
    _require_function(iterate_minibatches, "iterate_minibatches")
    num_examples = _validated_count(num_examples, "num_examples", minimum=1, maximum=_MAX_EXAMPLES)
    batch_size = _validated_count(batch_size, "batch_size", minimum=1, maximum=_MAX_EXAMPLES)
    seed = _validated_count(seed, "seed", maximum=2**31 - 1)
    epochs = _validated_count(epochs, "epochs", minimum=2, maximum=5)

    def run_epochs():
        rng = np.random.default_rng(seed)
        runs = []
        for _ in range(epochs):
            batches = [np.asarray(batch) for batch in iterate_minibatches(num_examples, batch_size, rng)]
            if len(batches) > _MAX_EXAMPLES:
                raise ValueError(f"more batches than examples ({len(batches)}).")
            runs.append(batches)
        return runs

    runs = run_epochs()
    again = run_epochs()
    integer_indices = all(batch.dtype.kind in "iu" and batch.ndim == 1 for batches in runs for batch in batches)
    orders = [np.concatenate(batches) if batches else np.zeros(0) for batches in runs]
    each_index_once = all(
        order.size == num_examples and np.array_equal(np.sort(order), np.arange(num_examples)) for order in orders
    )
    return {
        "batch_sizes": [int(batch.size) for batch in runs[0]],
        "each_index_once": bool(each_index_once),
        "integer_indices": bool(integer_indices),
        "shuffled": bool(not np.array_equal(orders[0], np.arange(orders[0].size))),
        "epochs_differ": bool(not np.array_equal(orders[0], orders[1])),
        "reproducible": bool(
            len(runs) == len(again)
            and all(len(first) == len(second) and all(np.array_equal(a, b) for a, b in zip(first, second))
                    for first, second in zip(runs, again))
        ),
    }


def minibatches_match(description, num_examples, batch_size, *, seed=0, shuffle_checks=True,
                      target="iterate_minibatches", hint=""):
    """A Check: batch sizes (full batches, then the partial one), coverage, and, for larger sets, shuffling."""
    num_examples = _validated_count(num_examples, "num_examples", minimum=1, maximum=_MAX_EXAMPLES)
    batch_size = _validated_count(batch_size, "batch_size", minimum=1, maximum=_MAX_EXAMPLES)
    full_batches, remainder = divmod(num_examples, batch_size)
    expected = {
        "batch_sizes": [batch_size] * full_batches + ([remainder] if remainder else []),
        "each_index_once": True,
        "integer_indices": True,
        "reproducible": True,
    }
    if shuffle_checks:
        # A random permutation of >= 20 indices is the identity, or repeats, with probability <= 2 / 20!.
        if num_examples < 20:
            raise ValueError("shuffle checks need num_examples >= 20, so that a shuffle cannot look unshuffled.")
        expected["shuffled"] = True
        expected["epochs_differ"] = True
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.minibatch_run",
        target=target,
        arguments={"num_examples": num_examples, "batch_size": batch_size, "seed": _validated_count(seed, "seed",
                                                                                                  maximum=2**31 - 1)},
        expected=expected,
        rtol=0.0,
        atol=0.0,
        hint=hint,
    )


def _validated_batches(batches, num_examples):
    if isinstance(batches, (str, bytes)) or not hasattr(batches, "__iter__"):
        raise ValueError(f"batches must be a list of lists of example indices, got {batches!r}.")
    cleaned = []
    for batch in batches:
        indices = np.asarray(batch)
        if indices.ndim != 1 or indices.size == 0 or indices.dtype.kind not in "iu":
            raise ValueError(f"each batch must be a non-empty list of integer indices, got {batch!r}.")
        if indices.min() < 0 or indices.max() >= num_examples:
            raise ValueError(f"batch indices must be in [0, {num_examples}), got {batch!r}.")
        cleaned.append(indices.astype(np.int64).tolist())
    if not cleaned or len(cleaned) > _MAX_STEPS:
        raise ValueError(f"give between 1 and {_MAX_STEPS} batches.")
    return cleaned


def _valid_during_this_probe(function):
    """(a stand-in for function, a call that ends it): a reference handed to student code for one
    probe cannot be kept and used as the answer to another part afterwards."""
    alive = [True]

    def handed_over(*arguments, **keywords):
        if not alive[0]:
            raise RuntimeError("this loss function was lent for one check only; call your own implementation")
        return function(*arguments, **keywords)

    def expire():
        alive[0] = False

    return handed_over, expire


def sgd_epoch_run(minibatch_sgd_epoch, case, batches, learning_rate):
    """minibatch_sgd_epoch(loss_and_gradients, weights, bias, images, labels, batches, learning_rate).

    The data and starting parameters come from softmax_case(**case); the loss function handed
    over is softmax_cross_entropy_reference, so this part does not depend on the student's own.
    Outputs: the returned weights, bias and per-batch losses, and whether the arrays passed in
    were left unchanged.
    """
    _require_function(minibatch_sgd_epoch, "minibatch_sgd_epoch")
    weights, bias, images, labels = softmax_case(**case)
    batches = _validated_batches(batches, images.shape[0])
    learning_rate = _validated_positive(learning_rate, "learning_rate")
    originals = [array.copy() for array in (weights, bias, images, labels)]
    loss_and_gradients, expire = _valid_during_this_probe(softmax_cross_entropy_reference)
    try:
        result = minibatch_sgd_epoch(
            loss_and_gradients, weights, bias, images, labels,
            [np.asarray(batch, dtype=np.int64) for batch in batches], learning_rate,
        )
    finally:
        expire()
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        raise TypeError("minibatch_sgd_epoch must return a tuple (weights, bias, batch_losses).")
    new_weights, new_bias, batch_losses = result
    inputs_unchanged = all(np.array_equal(original, array)
                           for original, array in zip(originals, (weights, bias, images, labels)))
    return {
        "weights": _as_float64(new_weights, "the returned weights"),
        "bias": _as_float64(new_bias, "the returned bias"),
        "batch_losses": _as_float64([np.asarray(loss, dtype=np.float64).reshape(()) for loss in batch_losses],
                                    "the batch losses"),
        "inputs_unchanged": bool(inputs_unchanged),
    }


def sgd_epoch_matches(description, case, batches, learning_rate, *, weights, bias, batch_losses,
                      target="minibatch_sgd_epoch", hint=""):
    """A Check against literal values computed once with Keras (see keras_sgd_epoch)."""
    case = _case_arguments(**{"logit_offset": 0.0, "weight_scale": 1.0, **case})
    batches = _validated_batches(batches, case["num_examples"])
    learning_rate = _validated_positive(learning_rate, "learning_rate")
    expected = {
        "weights": _validated_vector(weights, "weights").tolist(),
        "bias": _validated_vector(bias, "bias").tolist(),
        "batch_losses": _validated_vector(batch_losses, "batch_losses").tolist(),
        "inputs_unchanged": True,
    }
    if len(expected["batch_losses"]) != len(batches):
        raise ValueError(f"give one loss per batch: {len(batches)} batches, {len(expected['batch_losses'])} losses.")
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.sgd_epoch_run",
        target=target,
        arguments={"case": case, "batches": batches, "learning_rate": learning_rate},
        expected=expected,
        rtol=SOFTMAX_RTOL,
        atol=SOFTMAX_ATOL,
        hint=hint,
    )


def keras_sgd_epoch(case, batches, learning_rate):
    """(weights, bias, batch losses) of plain SGD over the batches, with Keras autodiff and keras.optimizers.SGD.

    Float64 throughout: the loss is keras.losses.sparse_categorical_crossentropy on the logits of
    the batch, its gradients come from the backend's autodiff, and keras.optimizers.SGD applies
    them. Used to produce the literal expected values of the SGD-epoch checks.
    """
    import keras

    weights, bias, images, labels = softmax_case(**case)
    batches = _validated_batches(batches, images.shape[0])
    with precision.float64_arithmetic():  # float64 on JAX too (x64 on for this call only)
        optimizer = keras.optimizers.SGD(learning_rate=learning_rate)
        weight_variable = keras.Variable(weights, dtype="float64")
        bias_variable = keras.Variable(bias, dtype="float64")
        optimizer.build([weight_variable, bias_variable])
        losses = []
        for batch in batches:
            loss, weight_gradient, bias_gradient = keras_softmax_cross_entropy(
                keras.ops.convert_to_numpy(weight_variable), keras.ops.convert_to_numpy(bias_variable),
                images[batch], labels[batch],
            )
            optimizer.apply(
                [keras.ops.convert_to_tensor(weight_gradient), keras.ops.convert_to_tensor(bias_gradient)],
                [weight_variable, bias_variable],
            )
            losses.append(loss)
        return keras.ops.convert_to_numpy(weight_variable), keras.ops.convert_to_numpy(bias_variable), losses


# ---------------------------------------------------------------------------
# Part 1b: the Newton step.

# Tolerances of the Newton step. The systems below have condition numbers of at most 1e3 and entries of size
# ~1, so a backward-stable solve (LU with pivoting, QR, SVD, even an explicit inverse) is accurate to about
# condition * dimension * eps ~ 1e3 * 8 * 2.2e-16 ~ 2e-12 relative to the step; rtol=1e-9 with atol=1e-10 leaves
# a wide margin. A float32 solve (errors ~1e-7 * condition) and every wrong formula (sign, H g, H^T) miss by
# 1e-4 to 1e0.
NEWTON_RTOL = 1e-9
NEWTON_ATOL = 1e-10
NEWTON_KINDS = ("symmetric_positive_definite", "symmetric_indefinite", "quadratic")
_MAX_NEWTON_DIMENSION = 8
_MAX_NEWTON_CONDITION = 1e3


def _orthogonal(random, dimension):
    """A random orthogonal matrix (QR of a Gaussian matrix, signs fixed so the stream decides it)."""
    orthogonal, upper = np.linalg.qr(random.normal(size=(dimension, dimension)))
    return orthogonal * np.sign(np.diag(upper))


def newton_case(seed, dimension, kind, condition_number=100.0):
    """Seeded float64 (point, gradient, hessian, minimum) of a Newton-step case; minimum is None unless quadratic.

    symmetric_positive_definite: H = Q diag(s) Q^T with eigenvalues s from 1 to condition_number;
    symmetric_indefinite: the same with every other eigenvalue negated, the Hessian at a saddle point (lab 01's
    saddles): Newton's step is still point - H^{-1} g there, but a Cholesky factorisation does not exist;
    quadratic: f(x) = 1/2 (x - m)^T H (x - m) with H as in the first kind, whose gradient at the point is
    H (point - m): one Newton step lands exactly on the minimum m.
    """
    if kind not in NEWTON_KINDS:
        raise ValueError(f"kind must be one of {NEWTON_KINDS}, got {kind!r}.")
    seed = _validated_count(seed, "seed", maximum=2**31 - 1)
    dimension = _validated_count(dimension, "dimension", minimum=1, maximum=_MAX_NEWTON_DIMENSION)
    condition_number = _validated_positive(condition_number, "condition_number")
    if not 1.0 <= condition_number <= _MAX_NEWTON_CONDITION:
        raise ValueError(f"condition_number must be from 1 to {_MAX_NEWTON_CONDITION:g}, got {condition_number!r}.")
    random = np.random.RandomState(seed)
    scales = np.geomspace(1.0, condition_number, dimension) if dimension > 1 else np.array([condition_number])
    if kind == "symmetric_indefinite":
        scales = scales * np.where(np.arange(dimension) % 2 == 0, 1.0, -1.0)
    orthogonal = _orthogonal(random, dimension)
    hessian = (orthogonal * scales) @ orthogonal.T
    hessian = (hessian + hessian.T) / 2.0  # exactly symmetric
    point = random.normal(size=dimension)
    if kind == "quadratic":
        minimum = random.normal(size=dimension)
        return point, hessian @ (point - minimum), hessian, minimum
    return point, random.normal(size=dimension), hessian, None


def newton_step_on(newton_step, seed, dimension, kind, condition_number=100.0):
    """newton_step(point, gradient, hessian) on a seeded case: the new point, and whether the inputs were left alone."""
    _require_function(newton_step, "newton_step")
    point, gradient, hessian, _ = newton_case(seed, dimension, kind, condition_number)
    originals = [array.copy() for array in (point, gradient, hessian)]
    new_point = _as_float64(newton_step(point, gradient, hessian), "the new point")
    return {
        "new_point": new_point,
        "inputs_unchanged": bool(all(np.array_equal(original, array)
                                     for original, array in zip(originals, (point, gradient, hessian)))),
    }


def newton_step_matches(description, seed, dimension, kind, *, condition_number=100.0, target="newton_step",
                        hint=""):
    """A Check: the quadratic's exact minimum, or point - H^{-1} g from a float64 np.linalg.solve."""
    point, gradient, hessian, minimum = newton_case(seed, dimension, kind, condition_number)
    expected_point = minimum if minimum is not None else point - np.linalg.solve(hessian, gradient)
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.newton_step_on",
        target=target,
        arguments={"seed": seed, "dimension": dimension, "kind": kind, "condition_number": float(condition_number)},
        expected={"new_point": expected_point.tolist(), "inputs_unchanged": True},
        rtol=NEWTON_RTOL,
        atol=NEWTON_ATOL,
        hint=hint,
    )


# Inputs newton_step must refuse. Each would otherwise give a wrong answer or a confusing NumPy error deep
# inside: a (2, 1) gradient or a one-coordinate point broadcast silently into a (2, 2) "point".
NEWTON_BAD_INPUTS = {
    "hessian_not_square": ([0.0, 0.0], [1.0, 2.0], [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]),
    "hessian_one_dimensional": ([0.0, 0.0], [1.0, 2.0], [1.0, 1.0]),
    "gradient_too_long": ([0.0, 0.0], [1.0, 2.0, 3.0], [[2.0, 0.0], [0.0, 4.0]]),
    "gradient_a_column": ([0.0, 0.0], [[1.0], [2.0]], [[2.0, 0.0], [0.0, 4.0]]),
    "point_one_coordinate": ([0.0], [1.0, 2.0], [[2.0, 0.0], [0.0, 4.0]]),
}


def _validated_refusal_cases(cases):
    if isinstance(cases, (str, bytes)) or not cases or any(case not in NEWTON_BAD_INPUTS for case in cases):
        raise ValueError(f"cases must be a list of names from {sorted(NEWTON_BAD_INPUTS)}, got {cases!r}.")
    return list(cases)


def newton_step_refusals(newton_step, cases):
    """newton_step on mismatched shapes (NEWTON_BAD_INPUTS): for each case, whether it raised ValueError."""
    _require_function(newton_step, "newton_step")
    cases = _validated_refusal_cases(cases)
    raised = []
    for case in cases:
        point, gradient, hessian = (np.asarray(value, dtype=np.float64) for value in NEWTON_BAD_INPUTS[case])
        try:
            newton_step(point, gradient, hessian)
        except ValueError:  # numpy.linalg.LinAlgError is a ValueError too
            raised.append(True)
        else:
            raised.append(False)
    return {"raises_value_error": raised}


def newton_refusals_match(description, cases, *, target="newton_step", hint=""):
    """A Check: newton_step raises ValueError on every one of the named mismatched inputs."""
    cases = _validated_refusal_cases(cases)
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.newton_step_refusals",
        target=target,
        arguments={"cases": cases},
        expected={"raises_value_error": [True] * len(cases)},
        rtol=0.0,
        atol=0.0,
        hint=hint,
    )
