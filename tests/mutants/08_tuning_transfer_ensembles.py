"""Mutation corpus for Lab 08 (tuning, transfer and ensembles).

Each mutant is a realistic student mistake applied to one answer cell of
solutions/08_tuning_transfer_ensembles/08_tuning_transfer_ensembles.ipynb; every test cell listed
in "loses" must fail at least one of its checks (visible or hidden) for that mutant.
"""

LAB = "08_tuning_transfer_ensembles"

MUTANTS = {
    # --- Random search -----------------------------------------------------------------------
    "log_uniform_on_a_linear_scale": {
        # Samples the values, not their exponents: 90 % of [1e-4, 1e-1] lands in the top decade.
        "cell": "random_search",
        "replace": [(
            "    exponents = rng.uniform(math.log10(low), math.log10(high), size=count)\n"
            "    return 10.0**exponents",
            "    return rng.uniform(low, high, size=count)",
        )],
        "loses": ["test_log_uniform"],
    },
    "search_one_draw_for_both_hyperparameters": {
        # One uniform number per trial drives both hyperparameters: they are perfectly correlated.
        "cell": "random_search",
        "replace": [(
            "    learning_rates = sample_log_uniform(*learning_rate_range, count, rng)\n"
            "    weight_decays = sample_log_uniform(*weight_decay_range, count, rng)",
            "    positions = rng.uniform(size=count)\n"
            "    (lr_low, lr_high), (wd_low, wd_high) = learning_rate_range, weight_decay_range\n"
            "    learning_rates = lr_low * (lr_high / lr_low) ** positions\n"
            "    weight_decays = wd_low * (wd_high / wd_low) ** positions",
        )],
        "loses": ["test_log_uniform"],
    },
    # --- Coarse to fine ----------------------------------------------------------------------
    "refine_keeps_the_worst_trials": {
        # argsort is ascending: without the reversal the lowest scores are kept.
        "cell": "coarse_to_fine",
        "replace": [(
            "    best = np.argsort(scores)[::-1][:keep]  # indices of the highest scores",
            "    best = np.argsort(scores)[:keep]",
        )],
        "loses": ["test_refine_range"],
    },
    "boundary_margin_on_a_linear_scale": {
        "cell": "coarse_to_fine",
        "replace": [(
            "    position = (math.log(best_value) - math.log(low)) / (math.log(high) - math.log(low))",
            "    position = (best_value - low) / (high - low)",
        )],
        "loses": ["test_boundary_check"],
    },
    # --- Transfer ----------------------------------------------------------------------------
    "feature_extractor_base_not_frozen": {
        # Trains the whole network: the pretrained features are overwritten by the random head's gradients.
        "cell": "transfer",
        "replace": [("    base.trainable = False\n", "")],
        "loses": ["test_feature_extractor"],
    },
    "fine_tuning_unfreezes_batch_norm": {
        "cell": "transfer",
        "replace": [(
            "        layer.trainable = index >= first_trainable and not is_batch_norm",
            "        layer.trainable = index >= first_trainable",
        )],
        "loses": ["test_fine_tuning"],
    },
    # --- Ensembles ---------------------------------------------------------------------------
    "ensemble_forgets_the_softmax": {
        # Averages the logits of members that output logits, and returns them as "probabilities".
        "cell": "ensembles",
        "replace": [("            outputs = ops.softmax(outputs, axis=-1)", "            pass")],
        "loses": ["test_ensemble"],
    },
    "snapshot_cosine_per_epoch": {
        # The learning rate changes once per epoch instead of at every step.
        "cell": "ensembles",
        "replace": [(
            "        position = (step % cycle_steps) / cycle_steps",
            "        position = (step // steps_per_epoch % self.cycle_epochs) / self.cycle_epochs",
        )],
        "loses": ["test_snapshot_ensemble"],
    },
    "snapshot_keeps_the_live_variables": {
        # Stores references to the variables: every "snapshot" ends up holding the final weights.
        "cell": "ensembles",
        "replace": [(
            "            self.snapshots.append(self.model.get_weights())  # NumPy copies, not the live variables",
            "            self.snapshots.append(self.model.weights)",
        )],
        "loses": ["test_snapshot_ensemble"],
    },
    # --- Checkpoints ---------------------------------------------------------------------------
    "checkpoint_ensemble_loads_only_the_last": {
        # Keeps the last checkpoint only: one model's probabilities, not the ensemble's.
        "cell": "checkpoint_ensemble",
        "replace": [(
            "    models = [keras.saving.load_model(path) for path in paths]",
            "    models = [keras.saving.load_model(paths[-1])]",
        )],
        "loses": ["test_checkpoint_ensemble"],
    },
    "checkpoint_ensemble_reloads_the_first_path": {
        # The loop loads the same file every time: M copies of the first model.
        "cell": "checkpoint_ensemble",
        "replace": [(
            "    models = [keras.saving.load_model(path) for path in paths]",
            "    models = [keras.saving.load_model(paths[0]) for _ in paths]",
        )],
        "loses": ["test_checkpoint_ensemble"],
    },
    "checkpoint_ensemble_sums_the_probabilities": {
        # Forgets to divide by the number of models: rows sum to M, not 1.
        "cell": "checkpoint_ensemble",
        "replace": [(
            "    return ensemble_predict(models, inputs)",
            "    return sum(ops.convert_to_numpy(model(inputs, training=False)) for model in models)",
        )],
        "loses": ["test_checkpoint_ensemble"],
    },
    "checkpoint_ensemble_majority_vote": {
        # Averages one-hot votes: the members' confidence is thrown away.
        "cell": "checkpoint_ensemble",
        "replace": [(
            "    return ensemble_predict(models, inputs)",
            "    votes = [np.argmax(ops.convert_to_numpy(model(inputs, training=False)), axis=-1) for model in models]\n"
            "    classes = int(models[0].output_shape[-1])\n"
            "    return np.mean([np.eye(classes)[vote] for vote in votes], axis=0)",
        )],
        "loses": ["test_checkpoint_ensemble"],
    },
    # --- EMA ---------------------------------------------------------------------------------
    "ema_averages_keyed_by_shape": {
        # One running average per weight shape: weights of the same shape (two biases) share one average.
        "cell": "ema",
        "replace": [(
            "        current = [ops.convert_to_numpy(weight) for weight in self.model.trainable_weights]\n"
            "        if self.average_weights is None:\n"
            "            self.average_weights = current\n"
            "            return\n"
            "        self.average_weights = [\n"
            "            self.momentum * average + (1.0 - self.momentum) * weight\n"
            "            for average, weight in zip(self.average_weights, current)\n"
            "        ]\n",
            "        current = {\n"
            "            tuple(weight.shape): ops.convert_to_numpy(weight) for weight in self.model.trainable_weights\n"
            "        }\n"
            "        if self.average_weights is None:\n"
            "            self.averages_by_shape = current\n"
            "        else:\n"
            "            self.averages_by_shape = {\n"
            "                shape: self.momentum * self.averages_by_shape[shape] + (1.0 - self.momentum) * weight\n"
            "                for shape, weight in current.items()\n"
            "            }\n"
            "        self.average_weights = [self.averages_by_shape[tuple(weight.shape)]\n"
            "                                for weight in self.model.trainable_weights]\n",
        )],
        "loses": ["test_ema"],
    },
    "ema_momentum_the_wrong_way_round": {
        # The momentum weighs the new weights instead of the old average.
        "cell": "ema",
        "replace": [(
            "            self.momentum * average + (1.0 - self.momentum) * weight",
            "            (1.0 - self.momentum) * average + self.momentum * weight",
        )],
        "loses": ["test_ema"],
    },
}
