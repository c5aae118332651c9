"""Mutation corpus for Lab 04 (regularization and normalization).

Each mutant is a realistic student mistake applied to one answer cell of
solutions/04_regularization/04_regularization.ipynb; every test cell listed in "loses" must fail at
least one of its checks (visible or hidden) for that mutant.
"""

LAB = "04_regularization"

MUTANTS = {
    # --- Dropout -----------------------------------------------------------------------------
    "dropout_without_rescaling": {
        # Original (non-inverted) dropout in training: the expected activation shrinks by 1 - rate.
        "cell": "dropout",
        "replace": [(
            "        return ops.where(keep, inputs / keep_probability, ops.zeros_like(inputs))",
            "        return ops.where(keep, inputs, ops.zeros_like(inputs))",
        )],
        "loses": ["test_dropout"],
    },
    "dropout_active_at_inference": {
        # Only an explicit training=False switches dropout off: a plain call or model(x) still drops.
        "cell": "dropout",
        "replace": [("        if not training or self.rate == 0:", "        if training is False or self.rate == 0:")],
        "loses": ["test_dropout"],
    },
    # --- Batch normalization -----------------------------------------------------------------
    "batchnorm_batch_stats_at_inference": {
        # Ignores the training flag: batch statistics (and moving-average updates) at inference too.
        "cell": "batch_norm",
        "replace": [("        if training and self.trainable:", "        if self.trainable:")],
        "loses": ["test_batch_norm_inference"],
    },
    "batchnorm_momentum_reversed": {
        # PyTorch's convention: momentum weighs the new batch instead of the old moving value.
        "cell": "batch_norm",
        "replace": [
            ("self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))",
             "self.moving_mean.assign(self.moving_mean * (1.0 - self.momentum) + mean * self.momentum)"),
            ("self.moving_variance.assign(self.moving_variance * self.momentum + "
             "variance * (1.0 - self.momentum))",
             "self.moving_variance.assign(self.moving_variance * (1.0 - self.momentum) + "
             "variance * self.momentum)"),
        ],
        "loses": ["test_batch_norm_training"],
    },
    "batchnorm_epsilon_outside_sqrt": {
        "cell": "batch_norm",
        "replace": [(
            "        outputs = (inputs - mean) / ops.sqrt(variance + self.epsilon)",
            "        outputs = (inputs - mean) / (ops.sqrt(variance) + self.epsilon)",
        )],
        "loses": ["test_batch_norm_training", "test_batch_norm_inference"],
    },
    "batchnorm_unbiased_variance": {
        # Divides by N - 1 (NumPy's ddof=1, PyTorch's torch.var default) instead of Keras's biased N.
        "cell": "batch_norm",
        "replace": [(
            "            variance = ops.mean(ops.square(centered), axis=self._reduction_axes)  # biased: divide by N",
            "            count = np.prod([inputs.shape[index] for index in self._reduction_axes])\n"
            "            variance = ops.sum(ops.square(centered), axis=self._reduction_axes) / (count - 1)",
        )],
        "loses": ["test_batch_norm_training"],
    },
    # --- Layer and group normalization ------------------------------------------------------
    "groupnorm_over_the_batch_axis": {
        # Reduces over the batch axis too: one set of statistics for the whole batch, as if it were BN.
        "cell": "group_norm",
        "replace": [(
            "        axes = [index for index in range(1, rank) if index != rank - 2]",
            "        axes = [index for index in range(0, rank) if index != rank - 2]",
        )],
        "loses": ["test_group_norm"],
    },
    "layernorm_over_the_batch_axis": {
        # Normalizes each feature over the batch (batch normalization without moving statistics).
        "cell": "layer_norm",
        "replace": [
            ("        mean = ops.mean(inputs, axis=self._normalized_axis, keepdims=True)",
             "        mean = ops.mean(inputs, axis=0, keepdims=True)"),
            ("        variance = ops.mean(ops.square(inputs - mean), axis=self._normalized_axis, keepdims=True)",
             "        variance = ops.mean(ops.square(inputs - mean), axis=0, keepdims=True)"),
        ],
        "loses": ["test_layer_norm"],
    },
    "layernorm_unbiased_variance": {
        # torch.var's default (divide by n - 1) instead of the biased variance Keras uses.
        "cell": "layer_norm",
        "replace": [(
            "        variance = ops.mean(ops.square(inputs - mean), axis=self._normalized_axis, keepdims=True)",
            "        variance = ops.sum(ops.square(inputs - mean), axis=self._normalized_axis, keepdims=True) / (\n"
            "            inputs.shape[self._normalized_axis] - 1)",
        )],
        "loses": ["test_layer_norm"],
    },
    "groupnorm_unbiased_variance": {
        "cell": "group_norm",
        "replace": [(
            "        variance = ops.mean(ops.square(grouped - mean), axis=axes, keepdims=True)",
            "        count = np.prod([grouped.shape[index] for index in axes])\n"
            "        variance = ops.sum(ops.square(grouped - mean), axis=axes, keepdims=True) / (count - 1)",
        )],
        "loses": ["test_group_norm"],
    },
    "layernorm_epsilon_outside_sqrt": {
        "cell": "layer_norm",
        "replace": [(
            "        outputs = (inputs - mean) / ops.sqrt(variance + self.epsilon)",
            "        outputs = (inputs - mean) / (ops.sqrt(variance) + self.epsilon)",
        )],
        "loses": ["test_layer_norm"],
    },
    "groupnorm_epsilon_outside_sqrt": {
        "cell": "group_norm",
        "replace": [(
            "ops.reshape((grouped - mean) / ops.sqrt(variance + self.epsilon), shape)",
            "ops.reshape((grouped - mean) / (ops.sqrt(variance) + self.epsilon), shape)",
        )],
        "loses": ["test_group_norm"],
    },
    "groupnorm_groups_along_the_wrong_axis": {
        # Reshapes to (..., C // groups, groups): a "group" is every groups-th channel, interleaved.
        "cell": "group_norm",
        "replace": [
            ("        grouped = ops.reshape(inputs, (shape[0], *shape[1:-1], self.groups, channels // self.groups))",
             "        grouped = ops.reshape(inputs, (shape[0], *shape[1:-1], channels // self.groups, self.groups))"),
            ("        axes = [index for index in range(1, rank) if index != rank - 2]",
             "        axes = [index for index in range(1, rank) if index != rank - 1]"),
        ],
        "loses": ["test_group_norm"],
    },
    "groupnorm_keeps_moving_statistics": {
        # Adds BN-style running statistics: non-trainable weights a batch-independent layer must not have.
        "cell": "group_norm",
        "replace": [(
            "        if self.scale:\n            self.gamma = self.add_weight(shape=(channels,)",
            "        self.moving_mean = self.add_weight(shape=(channels,), initializer=\"zeros\", trainable=False)\n"
            "        if self.scale:\n            self.gamma = self.add_weight(shape=(channels,)",
        )],
        "loses": ["test_group_norm"],
    },
    # --- Penalties and weight decay ----------------------------------------------------------
    "l2_with_one_half": {
        # The textbook (lambda / 2) ||w||^2 instead of Keras's factor * sum(w^2).
        "cell": "penalties",
        "replace": [(
            "    return factor * ops.sum(ops.square(weights))",
            "    return 0.5 * factor * ops.sum(ops.square(weights))",
        )],
        "loses": ["test_penalties"],
    },
    "l1_uses_squares": {
        "cell": "penalties",
        "replace": [(
            "    return factor * ops.sum(ops.abs(weights))",
            "    return factor * ops.sum(ops.square(weights))",
        )],
        "loses": ["test_penalties"],
    },
    "weight_decay_ignores_learning_rate": {
        # PyTorch-paper habit: w <- w - d * w, whereas Keras scales the decay by the learning rate.
        "cell": "weight_decay",
        "replace": [(
            "    decayed = weights - learning_rate * weight_decay * weights",
            "    decayed = weights - weight_decay * weights",
        )],
        "loses": ["test_weight_decay_equivalence"],
    },
    # --- Augmentation ------------------------------------------------------------------------
    "augmentation_default_fill_mode": {
        # Keeps RandomTranslation's default fill_mode="reflect", which mirrors strokes in from the border.
        "cell": "augmentation",
        "replace": [(
            'keras.layers.RandomTranslation(translation, translation, fill_mode="constant", seed=seed)',
            "keras.layers.RandomTranslation(translation, translation, seed=seed)",
        )],
        "loses": ["test_augmentation"],
    },
}
