"""Mutation corpus for Lab 07 (convolutional networks).

Each mutant is a realistic student mistake applied to one answer cell of
solutions/07_convolutions/07_convolutions.ipynb; every test cell listed in "loses" must fail at
least one of its checks (visible or hidden) for that mutant.
"""

LAB = "07_convolutions"

MUTANTS = {
    # --- Cross-correlation ---------------------------------------------------------------------
    "correlation_flips_the_kernel": {
        # The textbook convolution: the kernel is flipped, which deep-learning layers do not do.
        "cell": "cross_correlation",
        "replace": [(
            "            output = output + kernel[u, v] * image[u:u + output_height, v:v + output_width]",
            "            output = output + kernel[kernel_height - 1 - u, kernel_width - 1 - v] * "
            "image[u:u + output_height, v:v + output_width]",
        )],
        "loses": ["test_cross_correlation"],
    },
    # --- Geometry -----------------------------------------------------------------------------
    "same_padding_extra_zero_first": {
        # Puts the odd zero at the top/left (before) instead of Keras's bottom/right.
        "cell": "geometry",
        "replace": [("    return total // 2, total - total // 2", "    return total - total // 2, total // 2")],
        "loses": ["test_geometry", "test_conv2d"],
    },
    "same_padding_negative_when_stride_exceeds_kernel": {
        # The formula without max(..., 0): right while the stride is at most the kernel, negative beyond it.
        "cell": "geometry",
        "replace": [(
            "    total = max((output_size - 1) * strides + kernel_size - size, 0)",
            "    total = (output_size - 1) * strides + kernel_size - size",
        )],
        "loses": ["test_geometry", "test_conv2d"],
    },
    # --- Conv2D ---------------------------------------------------------------------------------
    "conv_slices_ignore_strides": {
        # Takes contiguous slices of the output size: right for stride 1 only.
        "cell": "conv2d",
        "replace": [(
            "                window = inputs[:, u:u + stride_height * (output_height - 1) + 1:stride_height,\n"
            "                                v:v + stride_width * (output_width - 1) + 1:stride_width, :]",
            "                window = inputs[:, u:u + output_height, v:v + output_width, :]",
        )],
        "loses": ["test_conv2d"],
    },
    "conv_same_padding_of_stride_one": {
        # Always pads k - 1 zeros (the stride-1 amount, extra zero after): right for stride 1 and for strides that
        # need the same amount, wrong once the stride exceeds the kernel and less (or no) padding is needed.
        "cell": "conv2d",
        "replace": [(
            "            top, bottom = same_padding(height, kernel_height, stride_height)\n"
            "            left, right = same_padding(width, kernel_width, stride_width)\n",
            "            top, bottom = (kernel_height - 1) // 2, kernel_height // 2\n"
            "            left, right = (kernel_width - 1) // 2, kernel_width // 2\n",
        )],
        "loses": ["test_conv2d"],
    },
    "conv_activation_before_bias": {
        "cell": "conv2d",
        "replace": [(
            "        if self.use_bias:\n"
            "            outputs = outputs + self.bias\n"
            "        return self.activation(outputs)",
            "        outputs = self.activation(outputs)\n"
            "        if self.use_bias:\n"
            "            outputs = outputs + self.bias\n"
            "        return outputs",
        )],
        "loses": ["test_conv2d"],
    },
    # --- Pooling --------------------------------------------------------------------------------
    "average_pooling_sums_the_window": {
        "cell": "pooling",
        "replace": [(
            "        return ops.mean(ops.stack(self.windows(inputs)), axis=0)",
            "        return ops.sum(ops.stack(self.windows(inputs)), axis=0)",
        )],
        "loses": ["test_pooling"],
    },
    # --- 1x1 convolutions and parameter counts ----------------------------------------------------
    "pointwise_without_bias": {
        "cell": "pointwise",
        "replace": [("    return ops.matmul(images, weights) + bias", "    return ops.matmul(images, weights)")],
        "loses": ["test_pointwise"],
    },
    "conv_parameters_without_bias": {
        # Counts the kernel only and forgets the one bias per filter.
        "cell": "parameters",
        "replace": [(
            "    return kernel_height * kernel_width * input_channels * filters + (filters if use_bias else 0)",
            "    return kernel_height * kernel_width * input_channels * filters",
        )],
        "loses": ["test_parameter_counts"],
    },
    # --- Architectures --------------------------------------------------------------------------
    "lenet_first_convolution_valid": {
        # Forgets padding="same" on 28x28 inputs: the maps shrink to 24x24 and the first Dense layer to 256 inputs.
        "cell": "lenet",
        "replace": [(
            '        conv_layer(6, 5, padding="same", activation=activation),',
            "        conv_layer(6, 5, activation=activation),",
        )],
        "loses": ["test_lenet"],
    },
    "residual_relu_before_addition": {
        # Activates the main path before adding the shortcut and not after the sum.
        "cell": "residual_block",
        "replace": [("        return ops.relu(outputs + shortcut)", "        return ops.relu(outputs) + shortcut")],
        "loses": ["test_residual_block"],
    },
    "residual_projection_without_stride": {
        # The 1x1 projection keeps the resolution: the shortcut no longer matches a strided main path.
        "cell": "residual_block",
        "replace": [(
            "            self.projection = self.conv_layer(self.filters, 1, strides=self.strides, use_bias=False)",
            "            self.projection = self.conv_layer(self.filters, 1, use_bias=False)",
        )],
        "loses": ["test_residual_block"],
    },
    # --- Dense blocks -----------------------------------------------------------------------------
    "dense_concatenates_only_the_last_output": {
        # Keeps only the newest layer's output (a plain stack of convolutions): no concatenation at all.
        "cell": "dense_block",
        "replace": [(
            "            features = ops.concatenate([features, new_features], axis=-1)",
            "            features = new_features",
        )],
        "loses": ["test_dense_block"],
    },
    "dense_concatenates_along_the_width": {
        # The wrong axis: the maps grow wider instead of the channels.
        "cell": "dense_block",
        "replace": [(
            "            features = ops.concatenate([features, new_features], axis=-1)",
            "            features = ops.concatenate([features, new_features], axis=2)",
        )],
        "loses": ["test_dense_block"],
    },
    "dense_new_features_first": {
        # The new channels first: same shape and parameters, but the inputs are no longer the first channels.
        "cell": "dense_block",
        "replace": [(
            "            features = ops.concatenate([features, new_features], axis=-1)",
            "            features = ops.concatenate([new_features, features], axis=-1)",
        )],
        "loses": ["test_dense_block"],
    },
    "dense_convolution_without_bn_relu": {
        # Convolves the raw features: no pre-activation BN -> ReLU (and the batch normalizations go unused).
        "cell": "dense_block",
        "replace": [(
            "            new_features = convolution(ops.relu(norm(features, training=training)))",
            "            new_features = convolution(features)",
        )],
        "loses": ["test_dense_block"],
    },
    "dense_growth_from_the_input_channels": {
        # Each layer makes as many channels as the block's input instead of growth_rate.
        "cell": "dense_block",
        "replace": [(
            "        self.convolutions = [self.conv_layer(self.growth_rate, 3, padding=\"same\", use_bias=False)\n"
            "                             for _ in range(self.num_layers)]",
            "        self.convolutions = [self.conv_layer(int(input_shape[-1]), 3, padding=\"same\", use_bias=False)\n"
            "                             for _ in range(self.num_layers)]",
        )],
        "loses": ["test_dense_block"],
    },
    "dense_config_without_transition": {
        # get_config forgets transition_filters: a block rebuilt from its config has no transition.
        "cell": "dense_block",
        "replace": [(
            "        return {**super().get_config(), \"num_layers\": self.num_layers, \"growth_rate\": self.growth_rate,\n"
            "                \"transition_filters\": self.transition_filters}",
            "        return {**super().get_config(), \"num_layers\": self.num_layers, \"growth_rate\": self.growth_rate}",
        )],
        "loses": ["test_dense_block"],
    },
}
