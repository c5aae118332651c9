"""Mutation corpus for Lab 05 (optimizers): realistic student mistakes the grading must catch.

Each mutant edits one answer cell of solutions/05_optimizers/05_optimizers.ipynb (every old text
occurs exactly once in that cell) and lists the test cells that must then score 0.
"""

LAB = "05_optimizers"

MUTANTS = {
    # --- SGD -------------------------------------------------------------------------------
    "momentum_wrong_sign": {
        # The velocity already holds -lr * g; subtracting it walks uphill.
        "cell": "sgd",
        "replace": [("            self.assign_add(variable, velocity)", "            self.assign_sub(variable, velocity)")],
        "loses": ["test_sgd_momentum"],
    },
    "momentum_velocity_adds_gradient": {
        # v <- momentum * v + lr * g, then w <- w + v: every step goes up the gradient.
        "cell": "sgd",
        "replace": [
            (
                "self.assign(velocity, momentum * velocity - learning_rate * gradient)",
                "self.assign(velocity, momentum * velocity + learning_rate * gradient)",
            )
        ],
        "loses": ["test_sgd_momentum", "test_sgd_nesterov"],
    },
    "nesterov_gradient_at_wrong_point": {
        # nesterov=True silently treated as plain momentum (no look-ahead).
        "cell": "sgd",
        "replace": [
            (
                "self.assign_add(variable, momentum * velocity - learning_rate * gradient)",
                "self.assign_add(variable, velocity)",
            )
        ],
        "loses": ["test_sgd_nesterov"],
    },
    "nesterov_uses_old_velocity": {
        # Look-ahead computed from the velocity before this step's update.
        "cell": "sgd",
        "replace": [
            (
                "        # v <- momentum * v - lr * g\n"
                "        self.assign(velocity, momentum * velocity - learning_rate * gradient)\n"
                "        if self.nesterov:\n"
                "            # Keras's Nesterov form: w <- w + momentum * v_new - lr * g\n"
                "            self.assign_add(variable, momentum * velocity - learning_rate * gradient)\n",
                "        if self.nesterov:\n"
                "            self.assign_add(variable, momentum * velocity - learning_rate * gradient)\n"
                "        self.assign(velocity, momentum * velocity - learning_rate * gradient)\n"
                "        if self.nesterov:\n"
                "            pass\n",
            )
        ],
        "loses": ["test_sgd_nesterov"],
    },
    "sgd_velocity_found_by_shape": {
        # Looks the velocity up by shape instead of by variable: variables of the same shape share one velocity.
        "cell": "sgd",
        "replace": [
            (
                "        velocity = self.velocities[self._get_variable_index(variable)]",
                "        velocity = next(slot for slot in self.velocities if slot.shape == variable.shape)",
            )
        ],
        "loses": ["test_sgd_momentum", "test_sgd_nesterov"],
    },
    "sgd_learning_rate_outside_velocity": {
        # PyTorch's form, v <- momentum * v + g and w <- w - lr * v (Nesterov: w <- w - lr * (g + momentum * v)):
        # the same as Keras's while the learning rate is constant, not under a schedule.
        "cell": "sgd",
        "replace": [
            (
                "        self.assign(velocity, momentum * velocity - learning_rate * gradient)\n"
                "        if self.nesterov:\n"
                "            # Keras's Nesterov form: w <- w + momentum * v_new - lr * g\n"
                "            self.assign_add(variable, momentum * velocity - learning_rate * gradient)\n"
                "        else:\n"
                "            self.assign_add(variable, velocity)\n",
                "        self.assign(velocity, momentum * velocity + gradient)\n"
                "        if self.nesterov:\n"
                "            self.assign_sub(variable, learning_rate * (gradient + momentum * velocity))\n"
                "        else:\n"
                "            self.assign_sub(variable, learning_rate * velocity)\n",
            )
        ],
        "loses": ["test_sgd_momentum", "test_sgd_nesterov"],
    },
    # --- Adagrad ---------------------------------------------------------------------------
    "adagrad_accumulator_starts_at_zero": {
        "cell": "adagrad",
        "replace": [
            (
                "initializer=keras.initializers.Constant(self.initial_accumulator_value),",
                'initializer="zeros",',
            )
        ],
        "loses": ["test_adagrad"],
    },
    "adagrad_epsilon_outside_sqrt": {
        "cell": "adagrad",
        "replace": [
            (
                "/ ops.sqrt(accumulator + self.epsilon)",
                "/ (ops.sqrt(accumulator) + self.epsilon)",
            )
        ],
        "loses": ["test_adagrad"],
    },
    "adagrad_step_uses_old_accumulator": {
        # The variable is updated before g**2 is added to the accumulator.
        "cell": "adagrad",
        "replace": [
            (
                "        self.assign_add(accumulator, ops.square(gradient))\n"
                "        self.assign_sub(variable, learning_rate * gradient / ops.sqrt(accumulator + self.epsilon))",
                "        self.assign_sub(variable, learning_rate * gradient / ops.sqrt(accumulator + self.epsilon))\n"
                "        self.assign_add(accumulator, ops.square(gradient))",
            )
        ],
        "loses": ["test_adagrad"],
    },
    # --- RMSprop ---------------------------------------------------------------------------
    "rmsprop_centered_term_missing": {
        "cell": "rmsprop",
        "replace": [
            (
                "denominator = mean_square - ops.square(mean_gradient) + self.epsilon",
                "denominator = mean_square + self.epsilon",
            )
        ],
        "loses": ["test_rmsprop_centered"],
    },
    "rmsprop_epsilon_outside_sqrt": {
        "cell": "rmsprop",
        "replace": [
            ("- ops.square(mean_gradient) + self.epsilon", "- ops.square(mean_gradient)"),
            ("denominator = mean_square + self.epsilon", "denominator = mean_square"),
            ("/ ops.sqrt(denominator)", "/ (ops.sqrt(denominator) + self.epsilon)"),
        ],
        "loses": ["test_rmsprop", "test_rmsprop_centered"],
    },
    "rmsprop_momentum_on_raw_gradient": {
        # Momentum accumulates lr * g instead of the normalized increment.
        "cell": "rmsprop",
        "replace": [
            (
                "self.assign(momentum_buffer, self.momentum * momentum_buffer + increment)",
                "self.assign(momentum_buffer, self.momentum * momentum_buffer + learning_rate * gradient)",
            )
        ],
        "loses": ["test_rmsprop", "test_rmsprop_centered"],
    },
    "rmsprop_learning_rate_outside_momentum": {
        # The buffer accumulates g / sqrt(s + eps) and the step multiplies it by the learning rate afterwards:
        # the same as Keras's while the learning rate is constant, not under a schedule.
        "cell": "rmsprop",
        "replace": [
            (
                "increment = learning_rate * gradient / ops.sqrt(denominator)",
                "increment = gradient / ops.sqrt(denominator)",
            ),
            (
                "            self.assign_sub(variable, momentum_buffer)",
                "            self.assign_sub(variable, learning_rate * momentum_buffer)",
            ),
            (
                "            self.assign_sub(variable, increment)",
                "            self.assign_sub(variable, learning_rate * increment)",
            ),
        ],
        "loses": ["test_rmsprop", "test_rmsprop_centered"],
    },
    # --- AdaDelta --------------------------------------------------------------------------
    "adadelta_rho_swapped": {
        # rho and 1 - rho exchanged in both averages: each step nearly forgets the past instead of keeping 95 %.
        "cell": "adadelta",
        "replace": [
            (
                "rho * mean_squared_gradient + (1 - rho) * ops.square(gradient)",
                "(1 - rho) * mean_squared_gradient + rho * ops.square(gradient)",
            ),
            (
                "rho * mean_squared_update + (1 - rho) * ops.square(update)",
                "(1 - rho) * mean_squared_update + rho * ops.square(update)",
            ),
        ],
        "loses": ["test_adadelta"],
    },
    "adadelta_epsilon_outside_sqrt": {
        # RMS written as sqrt(E) + eps: with E[dx**2] = 0 at the start the numerator is eps, so the weights barely move.
        "cell": "adadelta",
        "replace": [
            (
                "update = -ops.sqrt(mean_squared_update + self.epsilon) / ops.sqrt(mean_squared_gradient + self.epsilon)",
                "update = -(ops.sqrt(mean_squared_update) + self.epsilon) / (ops.sqrt(mean_squared_gradient) + self.epsilon)",
            )
        ],
        "loses": ["test_adadelta"],
    },
    "adadelta_gradient_average_after_step": {
        # Accumulators in the wrong order: dx uses E[g**2] from before this step's gradient was added.
        "cell": "adadelta",
        "replace": [
            (
                "        self.assign(mean_squared_gradient, rho * mean_squared_gradient + (1 - rho) * ops.square(gradient))\n",
                "",
            ),
            (
                "        # The average keeps the unscaled update;",
                "        self.assign(mean_squared_gradient, rho * mean_squared_gradient + (1 - rho) * ops.square(gradient))\n"
                "        # The average keeps the unscaled update;",
            ),
        ],
        "loses": ["test_adadelta"],
    },
    "adadelta_numerator_uses_new_update_average": {
        # dx recomputed after E[dx**2] already holds this step's update: the numerator should use the previous steps'.
        "cell": "adadelta",
        "replace": [
            (
                "        self.assign_add(variable, learning_rate * update)",
                "        update = -ops.sqrt(mean_squared_update + self.epsilon) / ops.sqrt(mean_squared_gradient + self.epsilon) * gradient\n"
                "        self.assign_add(variable, learning_rate * update)",
            )
        ],
        "loses": ["test_adadelta"],
    },
    "adadelta_update_average_of_scaled_steps": {
        # Accumulates (learning_rate * dx)**2, the step actually applied: equal to Keras's only for learning_rate=1.
        "cell": "adadelta",
        "replace": [
            (
                "rho * mean_squared_update + (1 - rho) * ops.square(update)",
                "rho * mean_squared_update + (1 - rho) * ops.square(learning_rate * update)",
            )
        ],
        "loses": ["test_adadelta"],
    },
    "adadelta_ignores_learning_rate": {
        # The paper's form, w <- w + dx: Keras scales the step by learning_rate (default 0.001).
        "cell": "adadelta",
        "replace": [("        self.assign_add(variable, learning_rate * update)", "        self.assign_add(variable, update)")],
        "loses": ["test_adadelta"],
    },
    # --- Adam ------------------------------------------------------------------------------
    "adam_without_bias_correction": {
        "cell": "adam",
        "replace": [
            (
                "alpha = learning_rate * ops.sqrt(1 - ops.power(beta_2, step)) / (1 - ops.power(beta_1, step))",
                "alpha = learning_rate",
            )
        ],
        "loses": ["test_adam", "test_adam_amsgrad"],
    },
    "adam_epsilon_inside_sqrt": {
        "cell": "adam",
        "replace": [
            (
                "(ops.sqrt(denominator_moment) + self.epsilon)",
                "ops.sqrt(denominator_moment + self.epsilon)",
            )
        ],
        "loses": ["test_adam", "test_adam_amsgrad"],
    },
    "adam_paper_epsilon": {
        # The paper's Algorithm 1: lr * m_hat / (sqrt(v_hat) + epsilon), not Keras's epsilon-hat form.
        "cell": "adam",
        "replace": [
            (
                "        alpha = learning_rate * ops.sqrt(1 - ops.power(beta_2, step)) / (1 - ops.power(beta_1, step))\n"
                "        self.assign_sub(variable, alpha * first_moment / (ops.sqrt(denominator_moment) + self.epsilon))",
                "        first_moment_hat = first_moment / (1 - ops.power(beta_1, step))\n"
                "        second_moment_hat = denominator_moment / (1 - ops.power(beta_2, step))\n"
                "        self.assign_sub(\n"
                "            variable, learning_rate * first_moment_hat / (ops.sqrt(second_moment_hat) + self.epsilon)\n"
                "        )",
            )
        ],
        "loses": ["test_adam", "test_adam_amsgrad"],
    },
    "adam_step_count_off_by_one": {
        # t = iterations (0 at the first step): 1 - beta**0 = 0, a division by zero.
        "cell": "adam",
        "replace": [
            (
                "step = ops.cast(self.iterations + 1, variable.dtype)",
                "step = ops.cast(self.iterations, variable.dtype)",
            )
        ],
        "loses": ["test_adam", "test_adam_amsgrad"],
    },
    "amsgrad_ignored": {
        # The maximum is kept but the plain second moment is used in the denominator.
        "cell": "adam",
        "replace": [("            denominator_moment = max_second_moment", "            denominator_moment = second_moment")],
        "loses": ["test_adam_amsgrad"],
    },
    "adam_moments_shared_by_shape": {
        # One pair of moments per shape, made the first time a shape comes up: same-shaped variables share them.
        "cell": "adam",
        "replace": [
            (
                "        self.first_moments = [\n"
                "            self.add_variable_from_reference(variable, name=\"first_moment\") for variable in variables\n"
                "        ]\n"
                "        self.second_moments = [\n"
                "            self.add_variable_from_reference(variable, name=\"second_moment\") for variable in variables\n"
                "        ]\n",
                "        self.moments_by_shape = {}\n"
                "        for variable in variables:\n"
                "            if tuple(variable.shape) not in self.moments_by_shape:\n"
                "                self.moments_by_shape[tuple(variable.shape)] = (\n"
                "                    self.add_variable_from_reference(variable, name=\"first_moment\"),\n"
                "                    self.add_variable_from_reference(variable, name=\"second_moment\"),\n"
                "                )\n",
            ),
            (
                "        first_moment = self.first_moments[index]\n        second_moment = self.second_moments[index]\n",
                "        first_moment, second_moment = self.moments_by_shape[tuple(variable.shape)]\n",
            ),
        ],
        "loses": ["test_adam", "test_adam_amsgrad"],
    },
    "adam_learning_rate_read_once_in_build": {
        # Keeps the learning rate build() sees: the same variable for a constant rate, a frozen value under a schedule.
        "cell": "adam",
        "replace": [
            ("        super().build(variables)\n", "        super().build(variables)\n        self.step_size = self.learning_rate\n"),
            (
                "        learning_rate = ops.cast(learning_rate, variable.dtype)\n",
                "        learning_rate = ops.cast(self.step_size, variable.dtype)\n",
            ),
        ],
        "loses": ["test_adam", "test_adam_amsgrad"],
    },
    # --- AdamW -----------------------------------------------------------------------------
    "adamw_coupled_l2": {
        # Weight decay added to the gradient (L2 regularization), so it goes through m and v.
        "cell": "adamw",
        "replace": [
            (
                "self.assign_sub(variable, variable * weight_decay * learning_rate)",
                "gradient = gradient + weight_decay * variable",
            )
        ],
        "loses": ["test_adamw"],
    },
    "adamw_decay_ignores_learning_rate": {
        "cell": "adamw",
        "replace": [
            (
                "self.assign_sub(variable, variable * weight_decay * learning_rate)",
                "self.assign_sub(variable, variable * weight_decay)",
            )
        ],
        "loses": ["test_adamw"],
    },
    "adamw_decay_after_update": {
        # Decay applied to the already-updated weights (Keras decays the weights before the step).
        "cell": "adamw",
        "replace": [
            ("        self.assign_sub(variable, variable * weight_decay * learning_rate)\n", ""),
            (
                "        self.assign_sub(variable, alpha * first_moment / (ops.sqrt(denominator_moment) + self.epsilon))",
                "        self.assign_sub(variable, alpha * first_moment / (ops.sqrt(denominator_moment) + self.epsilon))\n"
                "        self.assign_sub(variable, variable * weight_decay * learning_rate)",
            ),
        ],
        "loses": ["test_adamw"],
    },
    "adamw_decay_missing": {
        # Only Adam: the weight_decay argument is accepted but never used.
        "cell": "adamw",
        "replace": [("        self.assign_sub(variable, variable * weight_decay * learning_rate)\n", "")],
        "loses": ["test_adamw"],
    },
    "adamw_decay_left_to_base_class": {
        # Gets the decay "for free" from the base optimizer instead of implementing it in update_step.
        "cell": "adamw",
        "replace": [
            ("            weight_decay=None,\n", "            weight_decay=weight_decay,\n"),
            ("        self.assign_sub(variable, variable * weight_decay * learning_rate)\n", ""),
        ],
        "loses": ["test_adamw"],
    },
    "adamw_ignores_weight_decay_exclusions": {
        # exclude_from_weight_decay() is accepted (the base class stores it) but every variable is decayed.
        "cell": "adamw",
        "replace": [
            (
                "decay = self.decoupled_weight_decay if self._use_weight_decay(variable) else 0.0",
                "decay = self.decoupled_weight_decay",
            )
        ],
        "loses": ["test_adamw"],
    },
    # --- Clipping --------------------------------------------------------------------------
    "clip_by_value_where_norm_asked": {
        "cell": "clipping",
        "replace": [
            (
                "clipped.append(gradient * clip_norm / ops.maximum(norm, clip_norm))",
                "clipped.append(ops.clip(gradient, -clip_norm, clip_norm))",
            )
        ],
        "loses": ["test_clipping"],
    },
    "global_norm_computed_per_tensor": {
        "cell": "clipping",
        "replace": [
            (
                "    squared_norms = [ops.sum(ops.square(gradient)) for gradient in gradients]\n"
                "    global_norm = ops.sqrt(ops.sum(ops.stack(squared_norms)))\n"
                "    scale = clip_norm / ops.maximum(global_norm, clip_norm)\n"
                "    return [gradient * scale for gradient in gradients]",
                "    return [\n"
                "        gradient * clip_norm / ops.maximum(ops.sqrt(ops.sum(ops.square(gradient))), clip_norm)\n"
                "        for gradient in gradients\n"
                "    ]",
            )
        ],
        "loses": ["test_clipping"],
    },
    "clip_by_norm_always_rescales": {
        # Rescales every tensor to norm clip_norm, even those already under the limit (and 0/0 for zeros).
        "cell": "clipping",
        "replace": [
            (
                "clipped.append(gradient * clip_norm / ops.maximum(norm, clip_norm))",
                "clipped.append(gradient * clip_norm / norm)",
            )
        ],
        "loses": ["test_clipping"],
    },
}
