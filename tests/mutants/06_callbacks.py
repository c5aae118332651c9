"""Mutation corpus for Lab 06 (callbacks and learning-rate schedules).

Each mutant is a realistic student mistake applied to one answer cell of
solutions/06_callbacks/06_callbacks.ipynb; every test cell listed in "loses" must fail at least
one of its checks (visible or hidden) for that mutant.
"""

LAB = "06_callbacks"

MUTANTS = {
    # --- EarlyStopping -----------------------------------------------------------------------
    "early_stopping_never_restores": {
        "cell": "early_stopping",
        "replace": [("            self.model.set_weights(self.best_weights)", "            pass")],
        "loses": ["test_early_stopping_restore"],
    },
    "early_stopping_restores_only_after_early_stop": {
        # Keras 2 behaviour: restore only when training was actually stopped early.
        "cell": "early_stopping",
        "replace": [(
            "        if self.restore_best_weights and self.best_weights is not None:",
            "        if self.restore_best_weights and self.best_weights is not None and self.stopped_epoch > 0:",
        )],
        "loses": ["test_early_stopping_restore"],
    },
    "early_stopping_stores_live_weights": {
        # Keeps references to the variables instead of copies: "restoring" gives the last weights.
        "cell": "early_stopping",
        "replace": [(
            "                self.best_weights = self.model.get_weights()  # numpy copies, not the live variables",
            "                self.best_weights = self.model.weights",
        )],
        "loses": ["test_early_stopping_restore"],
    },
    "patience_off_by_one": {
        "cell": "early_stopping",
        "replace": [("        if self.wait >= self.patience:", "        if self.wait > self.patience:")],
        "loses": ["test_early_stopping_patience", "test_early_stopping_restore"],
    },
    "min_delta_wrong_sign": {
        # In min mode the delta is added to the best instead of subtracted: slack instead of a margin.
        "cell": "early_stopping",
        "replace": [("        return current + min_delta < reference", "        return current - min_delta < reference")],
        "loses": ["test_early_stopping_patience"],
    },
    "min_delta_not_absolute": {
        "cell": "early_stopping",
        "replace": [("        min_delta = abs(self.min_delta)", "        min_delta = self.min_delta")],
        "loses": ["test_early_stopping_patience"],
    },
    "improvement_not_strict": {
        "cell": "early_stopping",
        "replace": [("        return current + min_delta < reference", "        return current + min_delta <= reference")],
        "loses": ["test_early_stopping_patience"],
    },
    "mode_ignored": {
        # Always minimizes, whatever mode (or the metric) says.
        "cell": "early_stopping",
        "replace": [(
            "        if self.direction == \"max\":\n            return current - min_delta > reference\n",
            "",
        )],
        "loses": ["test_early_stopping_patience", "test_early_stopping_restore"],
    },
    "baseline_ignored": {
        "cell": "early_stopping",
        "replace": [(
            "            if self.baseline is None or self._is_improvement(current, self.baseline):",
            "            if True:",
        )],
        "loses": ["test_early_stopping_restore"],
    },
    "start_from_epoch_ignored": {
        "cell": "early_stopping",
        "replace": [(
            "        if current is None or epoch < self.start_from_epoch:",
            "        if current is None:",
        )],
        "loses": ["test_early_stopping_restore"],
    },
    "missing_monitor_not_warned": {
        "cell": "early_stopping",
        "replace": [(
            "        if monitor_value is None:\n            warnings.warn(",
            "        if monitor_value is None and False:\n            warnings.warn(",
        )],
        "loses": ["test_early_stopping_patience"],
    },
    "state_not_reset_on_train_begin": {
        "cell": "early_stopping",
        "replace": [(
            "        self.wait = 0\n        self.stopped_epoch = 0\n        self.best = None\n"
            "        self.best_weights = None\n        self.best_epoch = 0\n        ### END SOLUTION",
            "        pass\n        ### END SOLUTION",
        )],
        "loses": ["test_early_stopping_patience", "test_early_stopping_restore"],
    },
    # --- Schedules ---------------------------------------------------------------------------
    "exponential_staircase_ignored": {
        "cell": "exponential_decay",
        "replace": [(
            "        if self.staircase:  # a hyperparameter, fixed at construction: fine to branch on\n"
            "            exponent = ops.floor(exponent)\n",
            "",
        )],
        "loses": ["test_exponential_decay"],
    },
    "exponential_python_branch_on_step": {
        # Works eagerly, fails in a compiled train step: Python `if` on the step tensor.
        "cell": "exponential_decay",
        "replace": [(
            "        if self.staircase:  # a hyperparameter, fixed at construction: fine to branch on\n"
            "            exponent = ops.floor(exponent)\n",
            "        if self.staircase and step >= self.decay_steps:\n"
            "            exponent = ops.floor(exponent)\n",
        )],
        "loses": ["test_exponential_decay"],
    },
    "schedule_off_by_one_step": {
        # Counts steps from 1: the first update already uses the decayed rate.
        "cell": "inverse_time_decay",
        "replace": [(
            "        progress = ops.cast(step, dtype) / ops.cast(self.decay_steps, dtype)",
            "        progress = (ops.cast(step, dtype) + 1.0) / ops.cast(self.decay_steps, dtype)",
        )],
        "loses": ["test_inverse_time_decay"],
    },
    "inverse_time_staircase_ignored": {
        "cell": "inverse_time_decay",
        "replace": [("        if self.staircase:\n            progress = ops.floor(progress)\n", "")],
        "loses": ["test_inverse_time_decay"],
    },
    "polynomial_cycle_ignored": {
        "cell": "polynomial_decay",
        "replace": [("        if self.cycle:", "        if False:")],
        "loses": ["test_polynomial_decay"],
    },
    "polynomial_not_clamped": {
        "cell": "polynomial_decay",
        "replace": [("            step = ops.minimum(step, decay_steps)", "            step = step")],
        "loses": ["test_polynomial_decay"],
    },
    "piecewise_boundary_off_by_one": {
        # step >= boundary switches one step too early: the boundary step must keep the old value.
        "cell": "piecewise_constant_decay",
        "replace": [("ops.greater(step, boundaries)", "ops.greater_equal(step, boundaries)")],
        "loses": ["test_piecewise_constant"],
    },
    "cosine_warmup_missing": {
        "cell": "cosine_decay",
        "replace": [(
            "            warmup_steps = ops.cast(self.warmup_steps, dtype)",
            "            warmup_steps = ops.cast(0, dtype)",
        )],
        "loses": ["test_cosine_warmup"],
    },
    "cosine_warmup_without_target": {
        # Warms up whenever warmup_steps > 0, although Keras skips the warm-up without a warmup_target.
        "cell": "cosine_decay",
        "replace": [(
            "            peak_learning_rate = initial_learning_rate\n            warmup_steps = ops.cast(0, dtype)",
            "            peak_learning_rate = initial_learning_rate\n"
            "            warmup_steps = ops.cast(self.warmup_steps, dtype)",
        )],
        "loses": ["test_cosine_warmup"],
    },
    "cosine_not_clamped": {
        "cell": "cosine_decay",
        "replace": [(
            "        step = ops.minimum(ops.cast(step, dtype), warmup_steps + decay_steps)",
            "        step = ops.cast(step, dtype)",
        )],
        "loses": ["test_cosine_warmup"],
    },
    "restarts_period_not_growing": {
        # Every period lasts first_decay_steps: t_mul is ignored.
        "cell": "cosine_decay_restarts",
        "replace": [("        if self.t_mul == 1.0:  # all periods equally long", "        if True:")],
        "loses": ["test_cosine_restarts"],
    },
    "restarts_m_mul_ignored": {
        "cell": "cosine_decay_restarts",
        "replace": [("        height = ops.power(ops.cast(self.m_mul, dtype), restart)", "        height = 1.0")],
        "loses": ["test_cosine_restarts"],
    },
    "restarts_alpha_scaled_by_m_mul": {
        # Applies m_mul to the whole decayed value (alpha floor included).
        "cell": "cosine_decay_restarts",
        "replace": [(
            "        return initial_learning_rate * ((1.0 - self.alpha) * cosine + self.alpha)",
            "        return initial_learning_rate * ((1.0 - self.alpha) * cosine + self.alpha * height)",
        )],
        "loses": ["test_cosine_restarts"],
    },
    "one_cycle_peak_at_wrong_step": {
        # PyTorch habit: the warm-up ends one step early (peak at W - 1).
        "cell": "one_cycle_schedule",
        "replace": [(
            "        warmup_steps = ops.cast(self.pct_start * self.total_steps, dtype)",
            "        warmup_steps = ops.cast(self.pct_start * self.total_steps - 1, dtype)",
        )],
        "loses": ["test_one_cycle"],
    },
    "one_cycle_anneals_to_start_rate": {
        # Forgets final_div_factor: anneals back to max / div_factor only.
        "cell": "one_cycle_schedule",
        "replace": [(
            "        end_learning_rate = start_learning_rate / self.final_div_factor",
            "        end_learning_rate = start_learning_rate",
        )],
        "loses": ["test_one_cycle"],
    },
    "one_cycle_warmup_from_zero": {
        "cell": "one_cycle_schedule",
        "replace": [(
            "        warmup = start_learning_rate + (max_learning_rate - start_learning_rate) * step / warmup_steps",
            "        warmup = max_learning_rate * step / warmup_steps",
        )],
        "loses": ["test_one_cycle"],
    },
    # --- PyTorch-style schedules -------------------------------------------------------------
    "multi_step_drops_after_milestone": {
        # Off by one at the milestones: the PiecewiseConstantDecay habit (the milestone step keeps the old rate).
        "cell": "multi_step_decay",
        "replace": [("ops.greater_equal(step, milestones)", "ops.greater(step, milestones)")],
        "loses": ["test_multi_step_decay"],
    },
    "multi_step_gamma_applied_once": {
        # Multiplies by gamma once after the first milestone instead of once per milestone reached.
        "cell": "multi_step_decay",
        "replace": [(
            "        return initial_learning_rate * ops.power(ops.cast(self.gamma, dtype), reached)",
            "        return initial_learning_rate * ops.where(reached > 0, ops.cast(self.gamma, dtype), 1.0)",
        )],
        "loses": ["test_multi_step_decay"],
    },
    "multi_step_python_branch_on_step": {
        # Works eagerly, fails in a compiled train step: Python `if` on the step tensor.
        "cell": "multi_step_decay",
        "replace": [(
            "        return initial_learning_rate * ops.power(ops.cast(self.gamma, dtype), reached)",
            "        if step < self.milestones[0]:\n            return initial_learning_rate\n"
            "        return initial_learning_rate * ops.power(ops.cast(self.gamma, dtype), reached)",
        )],
        "loses": ["test_multi_step_decay"],
    },
    "sequential_not_restarted_at_boundary": {
        # Later schedules see the global step instead of the steps since their boundary.
        "cell": "sequential_schedule",
        "replace": [("            local_step = ops.maximum(step - boundary, 0)", "            local_step = step")],
        "loses": ["test_sequential_schedule"],
    },
    "sequential_switches_one_step_late": {
        "cell": "sequential_schedule",
        "replace": [("ops.where(ops.greater_equal(step, boundary),", "ops.where(ops.greater(step, boundary),")],
        "loses": ["test_sequential_schedule"],
    },
    "sequential_config_holds_objects": {
        # Puts the schedule objects into the config: not JSON, so a model using it cannot be saved.
        "cell": "sequential_schedule",
        "replace": [(
            '            "schedules": [keras.optimizers.schedules.serialize(schedule) for schedule in self.schedules],',
            '            "schedules": self.schedules,',
        )],
        "loses": ["test_sequential_schedule"],
    },
    "sequential_from_config_not_deserializing": {
        # Passes the serialized dicts on unbuilt: calling one of them fails after a reload.
        "cell": "sequential_schedule",
        "replace": [(
            '        config["schedules"] = [keras.optimizers.schedules.deserialize(schedule) for schedule in config["schedules"]]\n',
            "",
        )],
        "loses": ["test_sequential_schedule"],
    },
    # --- ReduceLROnPlateau -------------------------------------------------------------------
    "reduce_lr_cooldown_ignored": {
        "cell": "reduce_lr_on_plateau",
        "replace": [("                self.cooldown_counter = self.cooldown", "                self.cooldown_counter = 0")],
        "loses": ["test_reduce_lr_on_plateau"],
    },
    "reduce_lr_min_lr_ignored": {
        "cell": "reduce_lr_on_plateau",
        "replace": [(
            "        new_learning_rate = max(old_learning_rate * self.factor, self.min_lr)",
            "        new_learning_rate = old_learning_rate * self.factor",
        )],
        "loses": ["test_reduce_lr_on_plateau"],
    },
    "reduce_lr_patience_off_by_one": {
        "cell": "reduce_lr_on_plateau",
        "replace": [(
            "            if self.wait >= self.patience and self._reduce_learning_rate(epoch):",
            "            if self.wait > self.patience and self._reduce_learning_rate(epoch):",
        )],
        "loses": ["test_reduce_lr_on_plateau"],
    },
    "reduce_lr_wait_not_reset_after_reduction": {
        "cell": "reduce_lr_on_plateau",
        "replace": [(
            "                self.cooldown_counter = self.cooldown\n                self.wait = 0\n",
            "                self.cooldown_counter = self.cooldown\n",
        )],
        "loses": ["test_reduce_lr_on_plateau"],
    },
    "reduce_lr_cooldown_counted_after_test": {
        # Decrements the cooldown after the improvement test: one more idle epoch than Keras.
        "cell": "reduce_lr_on_plateau",
        "replace": [(
            "        if self.in_cooldown():\n            self.cooldown_counter -= 1\n            self.wait = 0\n"
            "        if self._is_improvement(current, self.best):\n            self.best = current\n"
            "            self.wait = 0\n        elif not self.in_cooldown():",
            "        if self._is_improvement(current, self.best):\n            self.best = current\n"
            "            self.wait = 0\n        elif self.in_cooldown():\n            self.cooldown_counter -= 1\n"
            "            self.wait = 0\n        else:",
        )],
        "loses": ["test_reduce_lr_on_plateau"],
    },
}
