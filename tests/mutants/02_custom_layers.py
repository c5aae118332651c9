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
