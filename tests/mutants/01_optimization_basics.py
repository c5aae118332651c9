"""Mutation corpus for Lab 01 (optimization basics): realistic student mistakes the grading must catch.

Each mutant edits one answer cell of solutions/01_optimization_basics/01_optimization_basics.ipynb (every
old text occurs exactly once in that cell) and lists the test cells that must then score 0.
"""

LAB = "01_optimization_basics"

MUTANTS = {
    # --- Gradient descent --------------------------------------------------------------------
    "gradient_descent_wrong_sign": {
        # Gradient *ascent*: x + lr * g walks uphill.
        "cell": "gradient_descent",
        "replace": [("        point = point - learning_rate * np.asarray(", "        point = point + learning_rate * np.asarray(")],
        "loses": ["test_gradient_descent"],
    },
    "trajectory_missing_start": {
        # Records only the points after each update: shape (steps, dim) instead of (steps + 1, dim).
        "cell": "gradient_descent",
        "replace": [("    trajectory = [point]\n", "    trajectory = []\n")],
        "loses": ["test_gradient_descent"],
    },
    # --- Newton step ---------------------------------------------------------------------------
    "newton_step_uphill": {
        # Sign error: x + H^{-1} g moves away from the minimum of a convex quadratic.
        "cell": "newton_step",
        "replace": [("    return point - np.linalg.solve(hessian, gradient)", "    return point + np.linalg.solve(hessian, gradient)")],
        "loses": ["test_newton_step"],
    },
    "newton_step_multiplies_by_hessian": {
        # H g instead of H^{-1} g: scales the gradient by the curvature instead of dividing by it.
        "cell": "newton_step",
        "replace": [("    return point - np.linalg.solve(hessian, gradient)", "    return point - hessian @ gradient")],
        "loses": ["test_newton_step"],
    },
    "newton_step_by_cholesky": {
        # A Cholesky solve: right where H is positive definite, an error at a saddle (an indefinite Hessian).
        "cell": "newton_step",
        "replace": [("    return point - np.linalg.solve(hessian, gradient)",
                     "    lower = np.linalg.cholesky(hessian)\n"
                     "    return point - np.linalg.solve(lower.T, np.linalg.solve(lower, gradient))")],
        "loses": ["test_newton_step"],
    },
    "newton_step_without_shape_checks": {
        # Leaves shape checking to NumPy, which broadcasts a (d, 1) gradient or a one-number point silently.
        "cell": "newton_step",
        "replace": [("    if gradient.shape != (dimension,) or point.shape != (dimension,):",
                     "    if False:")],
        "loses": ["test_newton_step"],
    },
    # --- Numerical gradient and relative error ------------------------------------------------
    "one_sided_difference": {
        # Forward difference (f(x + h) - f(x)) / h: error O(h) instead of O(h^2).
        "cell": "numerical_gradient",
        "replace": [
            ("        point[index] = original - step\n", "        point[index] = original\n"),
            ("(value_plus - value_minus) / (2 * step)", "(value_plus - value_minus) / step"),
        ],
        "loses": ["test_numerical_gradient"],
    },
    "relative_error_without_max_denominator": {
        # Divides by |b| only: not symmetric, and relative to whichever argument comes second.
        "cell": "relative_error",
        "replace": [(
            "    denominator = np.maximum(np.maximum(np.abs(a), np.abs(b)), tiny)",
            "    denominator = np.maximum(np.abs(b), tiny)",
        )],
        "loses": ["test_relative_error"],
    },
    # --- Softmax cross-entropy ----------------------------------------------------------------
    "softmax_without_max_subtraction": {
        # Mathematically the same, but exp(800) overflows to inf (and exp(-750) underflows to 0).
        "cell": "softmax_cross_entropy",
        "replace": [(
            "    shifted = logits - logits.max(axis=1, keepdims=True)",
            "    shifted = logits",
        )],
        "loses": ["test_softmax_cross_entropy"],
    },
    "gradient_not_averaged_over_batch": {
        # The loss is a mean but the gradients are sums: N times too large.
        "cell": "softmax_cross_entropy",
        "replace": [("    logit_gradient /= num_examples\n", "")],
        "loses": ["test_softmax_cross_entropy"],
    },
    "bias_gradient_wrong_axis": {
        # Sums over classes instead of over the batch: shape (N,) instead of (C,).
        "cell": "softmax_cross_entropy",
        "replace": [("    bias_gradient = logit_gradient.sum(axis=0)", "    bias_gradient = logit_gradient.sum(axis=1)")],
        "loses": ["test_softmax_cross_entropy"],
    },
    # --- Minibatches and the SGD epoch --------------------------------------------------------
    "minibatches_without_shuffling": {
        # Batches in file order, identical every epoch.
        "cell": "iterate_minibatches",
        "replace": [("    order = rng.permutation(num_examples)", "    order = np.arange(num_examples)")],
        "loses": ["test_minibatches"],
    },
    "last_partial_batch_dropped": {
        # drop_last: the remainder examples are never used in that epoch.
        "cell": "iterate_minibatches",
        "replace": [(
            "for start in range(0, num_examples, batch_size)",
            "for start in range(0, num_examples - batch_size + 1, batch_size)",
        )],
        "loses": ["test_minibatches"],
    },
    "sgd_step_uses_whole_dataset": {
        # Every step uses the full-batch gradient: gradient descent, whatever the batches say.
        "cell": "minibatch_sgd_epoch",
        "replace": [(
            "loss_and_gradients(weights, bias, images[batch], labels[batch])",
            "loss_and_gradients(weights, bias, images, labels)",
        )],
        "loses": ["test_minibatch_sgd"],
    },
}
