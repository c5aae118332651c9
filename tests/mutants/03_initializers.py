"""Mutation corpus for Lab 03 (weight initializers).

Each mutant is a realistic student mistake applied to one answer cell of
solutions/03_initializers/03_initializers.ipynb; every test cell listed in "loses" must fail at least
one of its checks (visible or hidden) for that mutant. The initializers call the student's
compute_fans, so a wrong compute_fans also costs the initializer parts that test convolution kernels.
"""

LAB = "03_initializers"

MUTANTS = {
    # --- compute_fans ---------------------------------------------------------------------------
    "conv_fans_ignore_receptive_field": {
        # Treats a convolution kernel like a Dense kernel: only the channel counts.
        "cell": "compute_fans",
        "replace": [(
            "    fan_in = shape[-2] * receptive_field_size\n    fan_out = shape[-1] * receptive_field_size",
            "    fan_in = shape[-2]\n    fan_out = shape[-1]",
        )],
        "loses": ["test_compute_fans", "test_glorot_uniform", "test_glorot_normal", "test_he_normal",
                  "test_he_uniform"],
    },
    # --- Glorot ---------------------------------------------------------------------------------
    "uniform_limit_missing_sqrt3": {
        # Uses the target standard deviation sqrt(scale / n) as the uniform's limit.
        "cell": "glorot_uniform",
        "replace": [("        limit = math.sqrt(3.0 / fan_average)", "        limit = math.sqrt(1.0 / fan_average)")],
        "loses": ["test_glorot_uniform"],
    },
    "seed_ignored": {
        # Never passes the seed: every call draws new values, so seeded initialization is not reproducible.
        "cell": "glorot_uniform",
        "replace": [(
            "        return keras.random.uniform(shape, minval=-limit, maxval=limit, dtype=dtype, seed=self.seed)",
            "        return keras.random.uniform(shape, minval=-limit, maxval=limit, dtype=dtype)",
        )],
        "loses": ["test_glorot_uniform"],
    },
    "glorot_with_fan_in_only": {
        # Confuses Glorot with LeCun: scales by fan_in instead of the average fan.
        "cell": "glorot_normal",
        "replace": [(
            "        fan_average = max(1.0, (fan_in + fan_out) / 2.0)",
            "        fan_average = max(1.0, fan_in)",
        )],
        "loses": ["test_glorot_normal"],
    },
    "normal_without_truncation_correction": {
        # Asks the truncated sampler for the target std: the weights end up 12 % too narrow.
        "cell": "glorot_normal",
        "replace": [(
            "        stddev = math.sqrt(1.0 / fan_average) / TRUNCATED_NORMAL_STDDEV",
            "        stddev = math.sqrt(1.0 / fan_average)",
        )],
        "loses": ["test_glorot_normal"],
    },
    # --- He -------------------------------------------------------------------------------------
    "he_with_fan_out": {
        "cell": "he_normal",
        "replace": [
            ("        fan_in, _ = compute_fans(shape)", "        _, fan_out = compute_fans(shape)"),
            ("math.sqrt(2.0 / max(1.0, fan_in))", "math.sqrt(2.0 / max(1.0, fan_out))"),
        ],
        "loses": ["test_he_normal"],
    },
    "he_normal_untruncated": {
        # The right standard deviation from a plain normal: no truncation, outliers beyond 2 sigma.
        "cell": "he_normal",
        "replace": [
            ("        stddev = math.sqrt(2.0 / max(1.0, fan_in)) / TRUNCATED_NORMAL_STDDEV",
             "        stddev = math.sqrt(2.0 / max(1.0, fan_in))"),
            ("keras.random.truncated_normal(", "keras.random.normal("),
        ],
        "loses": ["test_he_normal"],
    },
    "he_uniform_scale_one": {
        # Forgets the factor 2 that compensates for ReLU (that is LeCun uniform).
        "cell": "he_uniform",
        "replace": [("        scale = 2.0 / max(1.0, fan_in)", "        scale = 1.0 / max(1.0, fan_in)")],
        "loses": ["test_he_uniform"],
    },
    # --- symmetry -------------------------------------------------------------------------------
    "distinct_units_counts_rows": {
        # Takes the rows of a (fan_in, units) kernel as the units.
        "cell": "count_distinct_units",
        "replace": [(
            "    for unit in range(kernel.shape[1]):\n        weights = kernel[:, unit]",
            "    for unit in range(kernel.shape[0]):\n        weights = kernel[unit, :]",
        )],
        "loses": ["test_symmetry"],
    },
    # --- activation statistics --------------------------------------------------------------------
    "activation_stats_of_preactivations": {
        # Records x @ kernel + bias, before the activation, and applies the activation afterwards.
        "cell": "activation_statistics",
        "replace": [(
            "        outputs = layer(outputs)\n"
            "        means.append(float(ops.convert_to_numpy(ops.mean(outputs))))\n"
            "        stds.append(float(ops.convert_to_numpy(ops.std(outputs))))",
            "        preactivations = ops.matmul(outputs, layer.kernel) + layer.bias\n"
            "        means.append(float(ops.convert_to_numpy(ops.mean(preactivations))))\n"
            "        stds.append(float(ops.convert_to_numpy(ops.std(preactivations))))\n"
            "        outputs = layer.activation(preactivations)",
        )],
        "loses": ["test_activation_statistics"],
    },
}
