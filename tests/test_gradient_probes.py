"""Tests for labkit.gradient_probes: correct code in any style passes, wrong variants fail, bad input raises."""

import math
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from autograder import lab as lab_module
from labkit import checks
from labkit import gradient_probes

ROOT = pathlib.Path(__file__).resolve().parents[1]
LAB_PATH = ROOT / "solutions" / "01_optimization_basics" / "01_optimization_basics.ipynb"


# ---------------------------------------------------------------------------
# Correct implementations, written differently from the lab's solution.


def gradient_descent_as_lists(gradient, start, learning_rate, steps):
    """Returns a list of lists, built with a while loop."""
    points = [list(np.asarray(start, dtype=float))]
    while len(points) <= steps:
        current = np.asarray(points[-1])
        points.append(list(current - learning_rate * gradient(current)))
    return points


def numerical_gradient_flat(function, point, step=1e-5):
    """Perturbs a fresh copy per evaluation, walking a flat index."""
    point = np.asarray(point, dtype=float)
    gradient = np.empty(point.size)
    for index in range(point.size):
        plus = point.copy().ravel()
        minus = point.copy().ravel()
        plus[index] += step
        minus[index] -= step
        gradient[index] = (function(plus.reshape(point.shape)) - function(minus.reshape(point.shape))) / (2 * step)
    return gradient.reshape(point.shape)


def numerical_gradient_in_place_arithmetic(function, point, step=1e-5):
    """Perturbs the caller's array in place and undoes it arithmetically (leaves ulp-level residue)."""
    gradient = np.zeros_like(point)
    iterator = np.nditer(point, flags=["multi_index"], op_flags=["readwrite"])
    while not iterator.finished:
        index = iterator.multi_index
        point[index] += step
        plus = function(point)
        point[index] -= 2 * step
        minus = function(point)
        point[index] += step
        gradient[index] = (plus - minus) / (2 * step)
        iterator.iternext()
    return gradient


def relative_error_with_fmax(a, b, tiny=1e-12):
    a, b = np.atleast_1d(a), np.atleast_1d(b)
    return np.max(np.abs(a - b) / np.fmax(np.fmax(np.abs(a), np.abs(b)), tiny))


def softmax_cross_entropy_one_hot(weights, bias, images, labels):
    """Explicit one-hot matrix and einsum."""
    logits = np.einsum("nd,dc->nc", images, weights) + bias
    logits = logits - np.max(logits, axis=-1, keepdims=True)
    log_sum = np.log(np.sum(np.exp(logits), axis=-1, keepdims=True))
    one_hot = np.eye(weights.shape[1])[labels]
    loss = np.mean(np.sum(one_hot * (log_sum - logits), axis=-1))
    difference = (np.exp(logits - log_sum) - one_hot) / len(labels)
    return loss, images.T.dot(difference), np.sum(difference, axis=0)


def minibatches_generator(num_examples, batch_size, rng):
    """A generator over rng.shuffle'd indices."""
    indices = np.arange(num_examples)
    rng.shuffle(indices)
    for start in range(0, num_examples, batch_size):
        yield indices[start:start + batch_size]


def minibatches_with_choice(num_examples, batch_size, rng):
    order = rng.choice(num_examples, size=num_examples, replace=False)
    return np.array_split(order, range(batch_size, num_examples, batch_size))


def sgd_epoch_with_copies(loss_and_gradients, weights, bias, images, labels, batches, learning_rate):
    weights, bias = weights.copy(), bias.copy()
    losses = []
    for batch in batches:
        loss, weight_gradient, bias_gradient = loss_and_gradients(weights, bias, images[batch], labels[batch])
        losses.append(loss)
        weights -= learning_rate * weight_gradient
        bias -= learning_rate * bias_gradient
    return weights, bias, np.array(losses)


def _validated_newton_inputs(point, gradient, hessian):
    point, gradient, hessian = (np.asarray(value, dtype=float) for value in (point, gradient, hessian))
    if hessian.ndim != 2 or hessian.shape[0] != hessian.shape[1]:
        raise ValueError("hessian must be square")
    if gradient.shape != (hessian.shape[0],) or point.shape != gradient.shape:
        raise ValueError("point and gradient must have shape (d,)")
    return point, gradient, hessian


def newton_step_least_squares(point, gradient, hessian):
    """np.linalg.lstsq (an SVD) instead of solve."""
    point, gradient, hessian = _validated_newton_inputs(point, gradient, hessian)
    return point - np.linalg.lstsq(hessian, gradient, rcond=None)[0]


def newton_step_gaussian_elimination(point, gradient, hessian):
    """Hand-written elimination with partial pivoting, then back substitution, on lists."""
    point, gradient, hessian = _validated_newton_inputs(point, gradient, hessian)
    size = len(gradient)
    rows = [list(hessian[row]) + [gradient[row]] for row in range(size)]
    for column in range(size):
        pivot = max(range(column, size), key=lambda row: abs(rows[row][column]))
        rows[column], rows[pivot] = rows[pivot], rows[column]
        for row in range(column + 1, size):
            factor = rows[row][column] / rows[column][column]
            rows[row] = [left - factor * right for left, right in zip(rows[row], rows[column])]
    step = [0.0] * size
    for row in reversed(range(size)):
        step[row] = (rows[row][size] - sum(rows[row][k] * step[k] for k in range(row + 1, size))) / rows[row][row]
    return [coordinate - delta for coordinate, delta in zip(point, step)]


def newton_step_with_inverse(point, gradient, hessian):
    """An explicit inverse: discouraged, but as accurate on these systems; the checks are behavioural."""
    point, gradient, hessian = _validated_newton_inputs(point, gradient, hessian)
    return point - np.linalg.inv(hessian) @ gradient


# ---------------------------------------------------------------------------
# Wrong implementations.


def gradient_descent_aliased(gradient, start, learning_rate, steps):
    """Appends the same array and updates it in place: every row ends up equal (and start is modified)."""
    point = np.asarray(start)
    trajectory = [point]
    for _ in range(steps):
        point -= learning_rate * gradient(point)
        trajectory.append(point)
    return np.array(trajectory)


def gradient_descent_modifies_start(gradient, start, learning_rate, steps):
    point = np.asarray(start)
    trajectory = [point.copy()]
    for _ in range(steps):
        point -= learning_rate * gradient(point)
        trajectory.append(point.copy())
    return np.array(trajectory)


def gradient_descent_one_step_short(gradient, start, learning_rate, steps):
    return gradient_descent_as_lists(gradient, start, learning_rate, max(steps - 1, 0))


def numerical_gradient_not_restored(function, point, step=1e-5):
    point = np.array(point, dtype=float)
    gradient = np.zeros_like(point)
    for index in np.ndindex(point.shape):
        original = point[index]
        point[index] = original + step
        plus = function(point)
        point[index] = original - step
        minus = function(point)
        gradient[index] = (plus - minus) / (2 * step)
    return gradient


def numerical_gradient_fixed_step(function, point, step=1e-5):
    return numerical_gradient_flat(function, point, 1e-5)


def numerical_gradient_flattened_output(function, point, step=1e-5):
    return numerical_gradient_flat(function, point, step).ravel()


def relative_error_sum_denominator(a, b, tiny=1e-12):
    """CS231n's |a - b| / (|a| + |b|): half the lab's value."""
    a, b = np.asarray(a), np.asarray(b)
    return np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), tiny))


def relative_error_without_tiny(a, b, tiny=1e-12):
    a, b = np.asarray(a), np.asarray(b)
    with np.errstate(invalid="ignore"):  # 0 / 0 for two zeros: nan
        return np.max(np.abs(a - b) / np.maximum(np.abs(a), np.abs(b)))


def relative_error_ignores_tiny_argument(a, b, tiny=1e-12):
    return relative_error_with_fmax(a, b)


def softmax_log_of_softmax(weights, bias, images, labels):
    """Subtracts the max, but takes log(softmax): a probability that rounds to 0 gives log(0)."""
    logits = images @ weights + bias
    exponentials = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities = exponentials / exponentials.sum(axis=1, keepdims=True)
    rows = np.arange(len(labels))
    with np.errstate(divide="ignore"):
        loss = -np.mean(np.log(probabilities[rows, labels]))
    probabilities[rows, labels] -= 1.0
    probabilities /= len(labels)
    return loss, images.T @ probabilities, probabilities.sum(axis=0)


def softmax_in_float32(weights, bias, images, labels):
    loss, weight_gradient, bias_gradient = softmax_cross_entropy_one_hot(
        weights.astype(np.float32), bias.astype(np.float32), images.astype(np.float32), labels
    )
    return loss, weight_gradient, bias_gradient


def softmax_sum_loss(weights, bias, images, labels):
    loss, weight_gradient, bias_gradient = softmax_cross_entropy_one_hot(weights, bias, images, labels)
    return loss * len(labels), weight_gradient, bias_gradient


def softmax_naive(weights, bias, images, labels):
    """exp(z) / sum(exp(z)) straight: overflows for logits near 800."""
    logits = images @ weights + bias
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        rows = np.arange(len(labels))
        loss = -np.mean(np.log(probabilities[rows, labels]))
    probabilities[rows, labels] -= 1.0
    probabilities /= len(labels)
    return loss, images.T @ probabilities, probabilities.sum(axis=0)


def minibatches_global_random(num_examples, batch_size, rng):
    order = np.random.permutation(num_examples)
    return [order[start:start + batch_size] for start in range(0, num_examples, batch_size)]


def minibatches_same_order_every_epoch(num_examples, batch_size, rng):
    order = np.random.default_rng(0).permutation(num_examples)
    return [order[start:start + batch_size] for start in range(0, num_examples, batch_size)]


def minibatches_with_replacement(num_examples, batch_size, rng):
    order = rng.integers(0, num_examples, size=num_examples)
    return [order[start:start + batch_size] for start in range(0, num_examples, batch_size)]


def minibatches_float_indices(num_examples, batch_size, rng):
    order = rng.permutation(num_examples).astype(float)
    return [order[start:start + batch_size] for start in range(0, num_examples, batch_size)]


def sgd_epoch_in_place(loss_and_gradients, weights, bias, images, labels, batches, learning_rate):
    losses = []
    for batch in batches:
        loss, weight_gradient, bias_gradient = loss_and_gradients(weights, bias, images[batch], labels[batch])
        weights -= learning_rate * weight_gradient
        bias -= learning_rate * bias_gradient
        losses.append(loss)
    return weights, bias, losses


def sgd_epoch_loss_after_update(loss_and_gradients, weights, bias, images, labels, batches, learning_rate):
    losses = []
    for batch in batches:
        _, weight_gradient, bias_gradient = loss_and_gradients(weights, bias, images[batch], labels[batch])
        weights = weights - learning_rate * weight_gradient
        bias = bias - learning_rate * bias_gradient
        losses.append(loss_and_gradients(weights, bias, images[batch], labels[batch])[0])
    return weights, bias, losses


def sgd_epoch_bias_not_updated(loss_and_gradients, weights, bias, images, labels, batches, learning_rate):
    losses = []
    for batch in batches:
        loss, weight_gradient, _ = loss_and_gradients(weights, bias, images[batch], labels[batch])
        weights = weights - learning_rate * weight_gradient
        losses.append(loss)
    return weights, bias, losses


def newton_step_by_cholesky(point, gradient, hessian):
    """Right only where H is positive definite: at a saddle the Cholesky factorisation does not exist."""
    point, gradient, hessian = _validated_newton_inputs(point, gradient, hessian)
    lower = np.linalg.cholesky(hessian)
    return point - np.linalg.solve(lower.T, np.linalg.solve(lower, gradient))


def newton_step_uphill(point, gradient, hessian):
    point, gradient, hessian = _validated_newton_inputs(point, gradient, hessian)
    return point + np.linalg.solve(hessian, gradient)


def newton_step_multiplies_by_hessian(point, gradient, hessian):
    point, gradient, hessian = _validated_newton_inputs(point, gradient, hessian)
    return point - hessian @ gradient


def newton_step_in_float32(point, gradient, hessian):
    point, gradient, hessian = _validated_newton_inputs(point, gradient, hessian)
    return point - np.linalg.solve(hessian.astype(np.float32), gradient.astype(np.float32))


def newton_step_without_shape_checks(point, gradient, hessian):
    """np.linalg.solve alone: refuses a non-square matrix, but broadcasts a column gradient silently."""
    return np.asarray(point, dtype=float) - np.linalg.solve(hessian, gradient)


def newton_step_in_place(point, gradient, hessian):
    _validated_newton_inputs(point, gradient, hessian)
    point -= np.linalg.solve(hessian, gradient)
    return point


NAMESPACE = {function.__name__: function for function in [
    gradient_descent_as_lists, numerical_gradient_flat, numerical_gradient_in_place_arithmetic,
    relative_error_with_fmax, softmax_cross_entropy_one_hot, minibatches_generator, minibatches_with_choice,
    sgd_epoch_with_copies, gradient_descent_aliased, gradient_descent_modifies_start,
    gradient_descent_one_step_short, numerical_gradient_not_restored, numerical_gradient_fixed_step,
    numerical_gradient_flattened_output, relative_error_sum_denominator, relative_error_without_tiny,
    relative_error_ignores_tiny_argument, softmax_log_of_softmax, softmax_in_float32, softmax_sum_loss,
    softmax_naive, minibatches_global_random, minibatches_same_order_every_epoch, minibatches_with_replacement,
    minibatches_float_indices, sgd_epoch_in_place, sgd_epoch_loss_after_update, sgd_epoch_bias_not_updated,
    newton_step_least_squares, newton_step_gaussian_elimination, newton_step_with_inverse,
    newton_step_by_cholesky, newton_step_uphill, newton_step_multiplies_by_hessian, newton_step_in_float32,
    newton_step_without_shape_checks, newton_step_in_place,
]}
NAMESPACE["not_a_function"] = 3.0


def outcome(check, target):
    return checks.evaluate(checks.Check(**{**check.to_json(), "target": target}), NAMESPACE)


@pytest.fixture(scope="module")
def lab_checks():
    """Every check of the lab's test cells (visible and hidden), by test cell."""
    lab = lab_module.load_lab(LAB_PATH)
    return {part.grade_id: [graded.check for graded in part.checks] for part in lab.parts}


# ---------------------------------------------------------------------------
# The module itself.


def test_import_does_not_load_keras_or_tensorflow():
    code = (
        "import sys, labkit.gradient_probes; "
        "loaded = [name for name in ('keras', 'tensorflow', 'jax', 'torch') if name in sys.modules]; "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_softmax_case_is_deterministic_and_offset_keeps_probabilities():
    first = gradient_probes.softmax_case(7, 4, 3, 5)
    again = gradient_probes.softmax_case(7, 4, 3, 5)
    shifted = gradient_probes.softmax_case(7, 4, 3, 5, logit_offset=800.0)
    for left, right in zip(first, again):
        np.testing.assert_array_equal(left, right)
    np.testing.assert_allclose(shifted[1] - first[1], 800.0)
    assert first[3].dtype == np.int64 and first[3].max() < 5


def test_reference_softmax_matches_the_numerical_gradient():
    weights, bias, images, labels = gradient_probes.softmax_case(3, 6, 4, 3)
    loss, weight_gradient, bias_gradient = gradient_probes.softmax_cross_entropy_reference(
        weights, bias, images, labels)
    numerical = numerical_gradient_flat(
        lambda w: gradient_probes.softmax_cross_entropy_reference(w, bias, images, labels)[0], weights)
    np.testing.assert_allclose(weight_gradient, numerical, rtol=1e-6, atol=1e-9)
    assert loss == pytest.approx(-np.mean(np.log(
        np.exp(images @ weights + bias)[np.arange(6), labels] / np.exp(images @ weights + bias).sum(axis=1))))
    assert bias_gradient.shape == (3,)


def test_keras_helpers_agree_with_the_float64_closed_form():
    case = {"seed": 1, "num_examples": 5, "num_features": 3, "num_classes": 4, "logit_offset": 800.0}
    inputs = gradient_probes.softmax_case(**case)
    keras_values = gradient_probes.keras_softmax_cross_entropy(*inputs)
    reference = gradient_probes.softmax_cross_entropy_reference(*inputs)
    for keras_value, reference_value in zip(keras_values, reference):
        np.testing.assert_allclose(keras_value, reference_value, rtol=1e-12, atol=1e-13)
    weights, bias, losses = gradient_probes.keras_sgd_epoch(case, [[0, 1], [2, 3, 4]], 0.5)
    expected = sgd_epoch_with_copies(gradient_probes.softmax_cross_entropy_reference, *inputs,
                                     [np.array([0, 1]), np.array([2, 3, 4])], 0.5)
    np.testing.assert_allclose(weights, expected[0], rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(bias, expected[1], rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(losses, expected[2], rtol=1e-12)


def test_literal_values_in_the_lab_reproduce_with_keras(lab_checks):
    """The numbers pasted into the test cells are what the Keras helpers compute today."""
    compared = 0
    for found in lab_checks.values():
        for check in found:
            if check.probe.endswith("softmax_cross_entropy_outputs"):
                loss, weight_gradient, bias_gradient = gradient_probes.keras_softmax_cross_entropy(
                    *gradient_probes.softmax_case(**check.arguments))
                got = {"loss": loss, "weight_gradient": weight_gradient, "bias_gradient": bias_gradient}
            elif check.probe.endswith("sgd_epoch_run"):
                weights, bias, losses = gradient_probes.keras_sgd_epoch(
                    check.arguments["case"], check.arguments["batches"], check.arguments["learning_rate"])
                got = {"weights": weights, "bias": bias, "batch_losses": losses, "inputs_unchanged": True}
            else:
                continue
            result = checks.compare_outputs(check.expected, got, rtol=1e-12, atol=1e-13)
            assert result.passed, (check.description, result.message)
            compared += 1
    assert compared == 10


# ---------------------------------------------------------------------------
# Every check of the lab accepts correct code written in other styles.

CORRECT = {
    "test_gradient_descent": ["gradient_descent_as_lists"],
    "test_numerical_gradient": ["numerical_gradient_flat", "numerical_gradient_in_place_arithmetic"],
    "test_relative_error": ["relative_error_with_fmax"],
    "test_softmax_cross_entropy": ["softmax_cross_entropy_one_hot"],
    "test_minibatches": ["minibatches_generator", "minibatches_with_choice"],
    "test_minibatch_sgd": ["sgd_epoch_with_copies"],
    "test_newton_step": ["newton_step_least_squares", "newton_step_gaussian_elimination", "newton_step_with_inverse"],
}

WRONG = {
    "test_gradient_descent": ["gradient_descent_aliased", "gradient_descent_modifies_start",
                              "gradient_descent_one_step_short", "not_a_function"],
    "test_numerical_gradient": ["numerical_gradient_not_restored", "numerical_gradient_fixed_step",
                                "numerical_gradient_flattened_output"],
    "test_relative_error": ["relative_error_sum_denominator", "relative_error_without_tiny",
                            "relative_error_ignores_tiny_argument"],
    "test_softmax_cross_entropy": ["softmax_log_of_softmax", "softmax_in_float32", "softmax_sum_loss",
                                   "softmax_naive"],
    "test_minibatches": ["minibatches_global_random", "minibatches_same_order_every_epoch",
                         "minibatches_with_replacement", "minibatches_float_indices"],
    "test_minibatch_sgd": ["sgd_epoch_in_place", "sgd_epoch_loss_after_update", "sgd_epoch_bias_not_updated"],
    "test_newton_step": ["newton_step_by_cholesky", "newton_step_uphill", "newton_step_multiplies_by_hessian",
                         "newton_step_in_float32", "newton_step_without_shape_checks", "newton_step_in_place",
                         "not_a_function"],
}


@pytest.mark.parametrize("part, target", [(part, target) for part, targets in CORRECT.items() for target in targets])
def test_correct_styles_pass_every_check_of_the_part(lab_checks, part, target):
    for check in lab_checks[part]:
        result = outcome(check, target)
        assert result.passed, (check.description, result.message)


@pytest.mark.parametrize("part, target", [(part, target) for part, targets in WRONG.items() for target in targets])
def test_wrong_variants_fail_some_check_of_the_part(lab_checks, part, target):
    assert not all(outcome(check, target).passed for check in lab_checks[part])


def test_the_global_random_variant_passes_visible_coverage_but_not_reproducibility():
    check = gradient_probes.minibatches_match("n=50", 50, 16, seed=0)
    outputs = gradient_probes.minibatch_run(minibatches_global_random, 50, 16, seed=0)
    assert outputs["each_index_once"] and outputs["shuffled"] and not outputs["reproducible"]
    assert not outcome(check, "minibatches_global_random").passed


# ---------------------------------------------------------------------------
# Closed forms behind the factories.


def test_descent_closed_form_matches_iteration():
    check = gradient_probes.descent_matches("q", "quadratic", [1.0, -2.0], 0.1, 7, curvatures=[3.0, -1.0])
    expected = np.asarray(check.expected["trajectory"])
    point = np.array([1.0, -2.0])
    for step in range(8):
        np.testing.assert_allclose(expected[step], point, rtol=1e-14)
        point = point - 0.1 * np.array([3.0, -1.0]) * point


def test_centred_difference_closed_forms_match_direct_evaluation():
    point = np.array([[0.3, -0.7], [1.1, 0.2]])
    coefficients = np.array([[1.0, -0.5], [2.0, 0.25]])
    for function in gradient_probes.DIFFERENCE_FUNCTIONS:
        check = gradient_probes.numerical_gradient_matches(
            function, function, point.tolist(), coefficients.tolist(), step=0.05)
        direct = numerical_gradient_flat(gradient_probes._difference_function(function, coefficients), point, 0.05)
        np.testing.assert_allclose(check.expected["gradient"], direct, rtol=1e-12, atol=1e-14)


def test_relative_error_reference_values():
    assert gradient_probes.relative_error_reference([1.0, 2.0], [1.0, 2.5]) == pytest.approx(0.2)
    assert gradient_probes.relative_error_reference([0.0], [0.0]) == 0.0
    assert gradient_probes.relative_error_reference([1e-13], [3e-13]) == pytest.approx(0.2)
    assert gradient_probes.relative_error_reference([1e-13], [3e-13], tiny=1e-20) == pytest.approx(2 / 3)


@pytest.mark.parametrize("kind", gradient_probes.NEWTON_KINDS)
def test_newton_cases_have_the_promised_structure(kind):
    point, gradient, hessian, minimum = gradient_probes.newton_case(5, 6, kind, condition_number=1000.0)
    singular_values = np.linalg.svd(hessian, compute_uv=False)
    assert singular_values.max() / singular_values.min() == pytest.approx(1000.0, rel=1e-9)
    assert np.array_equal(hessian, hessian.T)
    eigenvalues = np.linalg.eigvalsh(hessian)
    if kind == "symmetric_indefinite":
        assert eigenvalues.min() < 0 < eigenvalues.max()  # a saddle: no Cholesky factorisation
    else:
        assert np.all(eigenvalues > 0)
    if kind == "quadratic":
        np.testing.assert_allclose(np.linalg.solve(hessian, gradient), point - minimum, rtol=1e-11)
    else:
        assert minimum is None
    again = gradient_probes.newton_case(5, 6, kind, condition_number=1000.0)
    assert all(np.array_equal(left, right) for left, right in zip((point, gradient, hessian), again[:3]))


def test_newton_refusals_need_more_than_numpy_broadcasting():
    """np.linalg.solve alone refuses a non-square matrix but not a column gradient or a one-number point."""
    outputs = gradient_probes.newton_step_refusals(newton_step_without_shape_checks,
                                                   list(gradient_probes.NEWTON_BAD_INPUTS))
    assert outputs["raises_value_error"][0] and not all(outputs["raises_value_error"])


def test_minibatch_expectations():
    check = gradient_probes.minibatches_match("n", 10, 4, shuffle_checks=False)
    assert check.expected["batch_sizes"] == [4, 4, 2] and "shuffled" not in check.expected
    assert gradient_probes.minibatches_match("n", 64, 32).expected["batch_sizes"] == [32, 32]
    assert gradient_probes.minibatches_match("n", 25, 64).expected["batch_sizes"] == [25]


def test_one_sided_difference_is_outside_the_tolerance_at_the_default_step():
    """The visible sin check must separate centred from one-sided differences by a clear margin."""
    point, coefficients = np.array([0.3, -1.2, 2.0]), np.array([1.0, 2.0, -0.5])
    function = gradient_probes._difference_function("sin_of_weighted_sum", coefficients)
    step = 1e-5
    one_sided = np.array([(function(point + step * unit) - function(point)) / step for unit in np.eye(3)])
    centred = numerical_gradient_flat(function, point)
    exact = math.cos(float(coefficients @ point)) * coefficients
    assert np.max(np.abs(one_sided - exact) / np.abs(exact)) > 3 * gradient_probes.DIFFERENCE_RTOL
    assert np.max(np.abs(centred - exact)) < 0.01 * gradient_probes.DIFFERENCE_RTOL


# ---------------------------------------------------------------------------
# Bad arguments.


@pytest.mark.parametrize(
    "make_check",
    [
        lambda: gradient_probes.descent_matches("d", "cubic", [1.0], 0.1, 3),
        lambda: gradient_probes.descent_matches("d", "quadratic", [1.0, 2.0], 0.1, 3, curvatures=[1.0]),
        lambda: gradient_probes.descent_matches("d", "quadratic", [1.0], -0.1, 3, curvatures=[1.0]),
        lambda: gradient_probes.descent_matches("d", "quadratic", [1.0], 0.1, -1, curvatures=[1.0]),
        lambda: gradient_probes.descent_matches("d", "quadratic", [], 0.1, 3, curvatures=[]),
        lambda: gradient_probes.descent_matches("d", "x_cos_pi_x", [math.nan], 0.1, 3),
        lambda: gradient_probes.numerical_gradient_matches("n", "tan", [1.0], [1.0]),
        lambda: gradient_probes.numerical_gradient_matches("n", "sum_of_cubes", [1.0, 2.0], [1.0]),
        lambda: gradient_probes.numerical_gradient_matches("n", "sum_of_cubes", [1.0], [1.0], step=0.0),
        lambda: gradient_probes.relative_error_matches("r", []),
        lambda: gradient_probes.relative_error_matches("r", [([1.0, 2.0], [1.0])]),
        lambda: gradient_probes.relative_error_matches("r", [([1.0], [1.0])], tiny=-1.0),
        lambda: gradient_probes.softmax_cross_entropy_matches(
            "s", {"seed": 0, "num_examples": 0, "num_features": 2, "num_classes": 2},
            loss=1.0, weight_gradient=[[0.0, 0.0], [0.0, 0.0]], bias_gradient=[0.0, 0.0]),
        lambda: gradient_probes.softmax_cross_entropy_matches(
            "s", {"seed": 0, "num_examples": 2, "num_features": 2, "num_classes": 2},
            loss=1.0, weight_gradient=[[0.0, 0.0]], bias_gradient=[0.0, 0.0]),
        lambda: gradient_probes.newton_step_matches("n", 0, 3, "diagonal"),
        lambda: gradient_probes.newton_step_matches("n", 0, 0, "quadratic"),
        lambda: gradient_probes.newton_step_matches("n", 0, 3, "symmetric_indefinite", condition_number=1e6),
        lambda: gradient_probes.newton_refusals_match("n", ["hessian_singular"]),
        lambda: gradient_probes.newton_refusals_match("n", []),
        lambda: gradient_probes.minibatches_match("m", 10, 4),  # shuffle checks need >= 20 examples
        lambda: gradient_probes.minibatches_match("m", 10, 0, shuffle_checks=False),
        lambda: gradient_probes.sgd_epoch_matches(
            "e", {"seed": 0, "num_examples": 3, "num_features": 2, "num_classes": 2}, [[0, 5]], 0.1,
            weights=[[0.0, 0.0], [0.0, 0.0]], bias=[0.0, 0.0], batch_losses=[1.0]),
        lambda: gradient_probes.sgd_epoch_matches(
            "e", {"seed": 0, "num_examples": 3, "num_features": 2, "num_classes": 2}, [[0, 1], [2]], 0.1,
            weights=[[0.0, 0.0], [0.0, 0.0]], bias=[0.0, 0.0], batch_losses=[1.0]),
    ],
)
def test_bad_arguments_raise_value_error(make_check):
    with pytest.raises(ValueError):
        make_check()


def test_probes_reject_a_target_that_is_not_a_function():
    with pytest.raises(TypeError):
        gradient_probes.descent_trajectory(3.0, "quadratic", [1.0], 0.1, 2, curvatures=[1.0])
    result = outcome(gradient_probes.relative_error_matches("r", [([1.0], [2.0])]), "not_a_function")
    assert not result.passed and "function" in result.message


def test_a_lent_reference_works_during_its_probe_only():
    lent, expire = gradient_probes._valid_during_this_probe(lambda value: 2 * value)
    assert lent(3) == 6
    expire()
    with pytest.raises(RuntimeError, match="one check only"):
        lent(3)
