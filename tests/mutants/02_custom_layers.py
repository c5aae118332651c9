"""Mutation corpus for Lab 02 (custom layers and activations).

Each mutant is a realistic student mistake applied to one answer cell of
solutions/02_custom_layers/02_custom_layers.ipynb; every test cell listed in "loses" must fail at
least one of its checks (visible or hidden) for that mutant.
"""

LAB = "02_custom_layers"

_DENSE_BUILD_BODY = (
    "        input_dim = input_shape[-1]\n"
    "        self.kernel = self.add_weight(\n"
    "            shape=(input_dim, self.units), initializer=self.kernel_initializer, name=\"kernel\"\n"
    "        )\n"
    "        if self.use_bias:\n"
    "            self.bias = self.add_weight(shape=(self.units,), initializer=self.bias_initializer, name=\"bias\")\n"
    "        else:\n"
    "            self.bias = None\n"
)

MUTANTS = {
    # --- Dense -------------------------------------------------------------------------------
    "dense_weights_created_in_call": {
        # Creates the weights lazily in call, where the input size is known: Keras locks a built layer's state.
        "cell": "dense",
        "replace": [
            (_DENSE_BUILD_BODY, "        pass\n"),
            (
                "        outputs = ops.matmul(inputs, self.kernel)\n",
                "        self.kernel = self.add_weight(\n"
                "            shape=(inputs.shape[-1], self.units), initializer=self.kernel_initializer,\n"
                "            name=\"kernel\",\n"
                "        )\n"
                "        self.bias = None\n"
                "        if self.use_bias:\n"
                "            self.bias = self.add_weight(shape=(self.units,), initializer=self.bias_initializer)\n"
                "        outputs = ops.matmul(inputs, self.kernel)\n",
            ),
        ],
        "loses": ["test_dense_forward", "test_dense_config_and_saving"],
    },
    "dense_bias_ignored": {
        # The bias weight exists but is never added.
        "cell": "dense",
        "replace": [("        if self.bias is not None:\n            outputs = outputs + self.bias\n", "")],
        "loses": ["test_dense_forward"],
    },
    "dense_kernel_size_from_axis_1": {
        # Works for (batch, features) inputs only: rank-3 inputs get a kernel of the wrong size.
        "cell": "dense",
        "replace": [("        input_dim = input_shape[-1]\n", "        input_dim = input_shape[1]\n")],
        "loses": ["test_dense_forward"],
    },
    "dense_config_missing_units": {
        # from_config(get_config()) then fails: units is a required argument.
        "cell": "dense",
        "replace": [('                "units": self.units,\n', "")],
        "loses": ["test_dense_config_and_saving"],
    },
    # --- Activations -------------------------------------------------------------------------
    "leaky_relu_wrong_slope_side": {
        # The slope multiplies the positive inputs instead of the negative ones.
        "cell": "leaky_relu",
        "replace": [(
            "        return ops.where(inputs >= 0, inputs, self.negative_slope * inputs)",
            "        return ops.where(inputs >= 0, self.negative_slope * inputs, inputs)",
        )],
        "loses": ["test_leaky_relu"],
    },
    "prelu_slope_not_trainable": {
        # The slope is a weight, but the optimizer would never update it (and it receives no gradient).
        "cell": "prelu",
        "replace": [('name="alpha", trainable=True', 'name="alpha", trainable=False')],
        "loses": ["test_prelu"],
    },
    "prelu_shared_axes_ignored": {
        # Always one slope per element, whatever shared_axes says.
        "cell": "prelu",
        "replace": [("            alpha_shape[axis - 1] = 1\n", "            pass\n")],
        "loses": ["test_prelu"],
    },
    "maxout_over_wrong_axis": {
        # Groups every units-th feature (reshape to (..., k, units)) instead of k consecutive features.
        "cell": "maxout",
        "replace": [(
            "        pieces = ops.reshape(inputs, tuple(shape[:-1]) + (units, self.num_pieces))\n"
            "        return ops.max(pieces, axis=-1)",
            "        pieces = ops.reshape(inputs, tuple(shape[:-1]) + (self.num_pieces, units))\n"
            "        return ops.max(pieces, axis=-2)",
        )],
        "loses": ["test_maxout"],
    },
    "silu_missing_multiplication": {
        # A plain sigmoid: the factor x is forgotten.
        "cell": "silu",
        "replace": [("        return inputs * ops.sigmoid(inputs)", "        return ops.sigmoid(inputs)")],
        "loses": ["test_silu"],
    },
    "relu6_clipped_only_above": {
        # min(x, 6) without the max(x, 0): negative inputs pass through unchanged.
        "cell": "modern_activations",
        "replace": [("    return ops.minimum(ops.maximum(x, 0.0), 6.0)", "    return ops.minimum(x, 6.0)")],
        "loses": ["test_modern_activations"],
    },
    "mish_naive_softplus": {
        # ln(1 + exp(x)) written out: right values, but exp overflows past x = 88 and the gradient is NaN.
        "cell": "modern_activations",
        "replace": [("    return x * ops.tanh(ops.softplus(x))", "    return x * ops.tanh(ops.log(1.0 + ops.exp(x)))")],
        "loses": ["test_modern_activations"],
    },
    "gelu_tanh_approximation_always": {
        # The tanh formula whatever `approximate` says (ops.gelu's default is approximate=True).
        "cell": "modern_activations",
        "replace": [("    if approximate:\n", "    if True:\n")],
        "loses": ["test_modern_activations"],
    },
    "gelu_erf_without_sqrt_two": {
        # erf(x / 2) instead of erf(x / sqrt(2)): the wrong constant.
        "cell": "modern_activations",
        "replace": [("ops.erf(x / math.sqrt(2.0))", "ops.erf(x / 2.0)")],
        "loses": ["test_modern_activations"],
    },
    "softmax_without_max_subtraction": {
        # The textbook exp(x) / sum(exp(x)): NaN for logits of 1000.
        "cell": "softmax_layer",
        "replace": [("        shifted = inputs - ops.max(inputs, axis=self.axis, keepdims=True)\n",
                     "        shifted = inputs\n")],
        "loses": ["test_softmax_layer"],
    },
    "softmax_over_last_axis_always": {
        # Ignores `axis`: always normalizes over the last axis.
        "cell": "softmax_layer",
        "replace": [("        shifted = inputs - ops.max(inputs, axis=self.axis, keepdims=True)\n"
                     "        exponentials = ops.exp(shifted)\n"
                     "        return exponentials / ops.sum(exponentials, axis=self.axis, keepdims=True)",
                     "        shifted = inputs - ops.max(inputs, axis=-1, keepdims=True)\n"
                     "        exponentials = ops.exp(shifted)\n"
                     "        return exponentials / ops.sum(exponentials, axis=-1, keepdims=True)")],
        "loses": ["test_softmax_layer"],
    },
    "softmax_config_missing_axis": {
        # from_config then rebuilds a softmax over the default axis.
        "cell": "softmax_layer",
        "replace": [('        config.update({"axis": self.axis})\n', "")],
        "loses": ["test_softmax_layer"],
    },
    "softmax_built_in_function": {
        # Calls the functional built-in, which grading cannot disable (the Dense checks use it): the static scan
        # refuses it in this answer (forbidden_in_source) on every backend; on TensorFlow the Softmax kernel
        # reached from the answer is recorded too.
        "cell": "softmax_layer",
        "replace": [("        shifted = inputs - ops.max(inputs, axis=self.axis, keepdims=True)\n"
                     "        exponentials = ops.exp(shifted)\n"
                     "        return exponentials / ops.sum(exponentials, axis=self.axis, keepdims=True)",
                     "        return ops.softmax(inputs, axis=self.axis)")],
        "loses": ["test_softmax_layer"],
    },
    # --- Gradient norms ----------------------------------------------------------------------
    "gradient_norms_of_biases_instead_of_kernels": {
        "cell": "gradient_norms",
        "replace": [(
            "    kernels = [layer.kernel for layer in model.layers if hasattr(layer, \"kernel\")]",
            "    kernels = [layer.bias for layer in model.layers if hasattr(layer, \"kernel\")]",
        )],
        "loses": ["test_gradient_norms"],
    },
}
