"""Tests for labkit.optimizer_probes: probes and check factories, with Keras built-ins as targets."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import ops

from labkit import checks
from labkit import optimizer_probes as probes


class PaperEpsilonAdam(keras.optimizers.Adam):
    """Adam as in the paper's Algorithm 1 (epsilon added to sqrt(v_hat)): differs from Keras for tiny gradients."""

    def update_step(self, gradient, variable, learning_rate):
        learning_rate = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        step = ops.cast(self.iterations + 1, variable.dtype)
        first_moment = self._momentums[self._get_variable_index(variable)]
        second_moment = self._velocities[self._get_variable_index(variable)]
        self.assign(first_moment, self.beta_1 * first_moment + (1 - self.beta_1) * gradient)
        self.assign(second_moment, self.beta_2 * second_moment + (1 - self.beta_2) * ops.square(gradient))
        first_moment_hat = first_moment / (1 - ops.power(self.beta_1, step))
        second_moment_hat = second_moment / (1 - ops.power(self.beta_2, step))
        self.assign_sub(variable, learning_rate * first_moment_hat / (ops.sqrt(second_moment_hat) + self.epsilon))


class ZeroStartAdagrad(keras.optimizers.Adagrad):
    """Adagrad whose accumulators start at 0 instead of initial_accumulator_value."""

    def build(self, variables):
        if self.built:
            return
        keras.optimizers.Optimizer.build(self, variables)
        self._accumulators = [self.add_variable_from_reference(variable, "accumulator") for variable in variables]


class ForgetfulSGD(keras.optimizers.SGD):
    """SGD whose get_config drops `nesterov` (so from_config loses it)."""

    def get_config(self):
        config = super().get_config()
        config.pop("nesterov")
        return config


class SelfDecayingAdamW(keras.optimizers.Adam):
    """AdamW written the lab's way: the decoupled decay happens inside update_step."""

    def __init__(self, weight_decay=0.004, **kwargs):
        super().__init__(**kwargs)
        self.own_weight_decay = weight_decay

    def update_step(self, gradient, variable, learning_rate):
        learning_rate = ops.cast(learning_rate, variable.dtype)
        self.assign_sub(variable, variable * self.own_weight_decay * learning_rate)
        super().update_step(gradient, variable, learning_rate)


class ShapeKeyedMomentumSGD(keras.optimizers.SGD):
    """Wrong: finds a variable's velocity by its shape, so variables of the same shape share one velocity."""

    def update_step(self, gradient, variable, learning_rate):
        velocity = next(slot for slot in self.momentums if tuple(slot.shape) == tuple(variable.shape))
        learning_rate = ops.cast(learning_rate, variable.dtype)
        self.assign(velocity, self.momentum * velocity - learning_rate * gradient)
        self.assign_add(variable, velocity)


class NameKeyedAdagrad(keras.optimizers.Adagrad):
    """Wrong: keeps the accumulators in a dict keyed by variable.name (every Dense kernel is called "kernel")."""

    def build(self, variables):
        if self.built:
            return
        keras.optimizers.Optimizer.build(self, variables)
        self.accumulators_by_name = {}
        for variable in variables:
            if variable.name not in self.accumulators_by_name:
                self.accumulators_by_name[variable.name] = self.add_variable_from_reference(
                    variable, "accumulator", initializer=keras.initializers.Constant(self.initial_accumulator_value)
                )

    def update_step(self, gradient, variable, learning_rate):
        accumulator = self.accumulators_by_name[variable.name]
        self.assign_add(accumulator, ops.square(gradient))
        self.assign_sub(variable, learning_rate * gradient / ops.sqrt(accumulator + self.epsilon))


class LearningRateOutsideVelocitySGD(keras.optimizers.SGD):
    """Wrong: PyTorch's form v <- momentum * v + g, w <- w - lr * v; equals Keras's only for a constant rate."""

    def update_step(self, gradient, variable, learning_rate):
        velocity = self.momentums[self._get_variable_index(variable)]
        learning_rate = ops.cast(learning_rate, variable.dtype)
        self.assign(velocity, self.momentum * velocity + gradient)
        self.assign_sub(variable, learning_rate * velocity)


class OneRootAdadelta(keras.optimizers.Optimizer):
    """Right, in another style: one square root of the ratio, and the averages updated as E += (1 - rho) (x - E)."""

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho, self.epsilon = rho, epsilon

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.averages = [(self.add_variable_from_reference(variable, "gradient_average"),
                          self.add_variable_from_reference(variable, "update_average")) for variable in variables]

    def update_step(self, gradient, variable, learning_rate):
        gradient_average, update_average = self.averages[self._get_variable_index(variable)]
        self.assign_add(gradient_average, (1 - self.rho) * (ops.square(gradient) - gradient_average))
        update = -gradient * ops.sqrt((update_average + self.epsilon) / (gradient_average + self.epsilon))
        self.assign_add(update_average, (1 - self.rho) * (ops.square(update) - update_average))
        self.assign_add(variable, ops.cast(learning_rate, variable.dtype) * update)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class ScaledUpdateAverageAdadelta(keras.optimizers.Adadelta):
    """Wrong: accumulates the applied step (learning_rate * dx)**2; the same as Keras's only for learning_rate=1."""

    def update_step(self, gradient, variable, learning_rate):
        learning_rate = ops.cast(learning_rate, variable.dtype)
        gradient_average = self._accumulated_grads[self._get_variable_index(variable)]
        update_average = self._accumulated_delta_vars[self._get_variable_index(variable)]
        self.assign(gradient_average, self.rho * gradient_average + (1 - self.rho) * ops.square(gradient))
        step = -learning_rate * ops.sqrt(update_average + self.epsilon) / ops.sqrt(gradient_average + self.epsilon) * gradient
        self.assign(update_average, self.rho * update_average + (1 - self.rho) * ops.square(step))
        self.assign_add(variable, step)


class StaleGradientAverageAdadelta(keras.optimizers.Adadelta):
    """Wrong order: dx is computed with E[g**2] from before this step's gradient is added."""

    def update_step(self, gradient, variable, learning_rate):
        learning_rate = ops.cast(learning_rate, variable.dtype)
        gradient_average = self._accumulated_grads[self._get_variable_index(variable)]
        update_average = self._accumulated_delta_vars[self._get_variable_index(variable)]
        update = -ops.sqrt(update_average + self.epsilon) / ops.sqrt(gradient_average + self.epsilon) * gradient
        self.assign(gradient_average, self.rho * gradient_average + (1 - self.rho) * ops.square(gradient))
        self.assign(update_average, self.rho * update_average + (1 - self.rho) * ops.square(update))
        self.assign_add(variable, learning_rate * update)


def per_tensor_global_clip(gradients, clip_norm):
    """Wrong: clips each tensor by its own norm where the global norm was asked for."""
    return [g * clip_norm / ops.maximum(ops.sqrt(ops.sum(ops.square(g))), clip_norm) for g in gradients]


def global_clip(gradients, clip_norm):
    """Right: one factor for all tensors."""
    global_norm = ops.sqrt(sum(ops.sum(ops.square(g)) for g in gradients))
    return [g * clip_norm / ops.maximum(global_norm, clip_norm) for g in gradients]


NAMESPACE = {
    "Adam": keras.optimizers.Adam,
    "Adagrad": keras.optimizers.Adagrad,
    "SGD": keras.optimizers.SGD,
    "RMSprop": keras.optimizers.RMSprop,
    "AdamW": keras.optimizers.AdamW,
    "Adadelta": keras.optimizers.Adadelta,
    "OneRootAdadelta": OneRootAdadelta,
    "ScaledUpdateAverageAdadelta": ScaledUpdateAverageAdadelta,
    "StaleGradientAverageAdadelta": StaleGradientAverageAdadelta,
    "PaperEpsilonAdam": PaperEpsilonAdam,
    "ZeroStartAdagrad": ZeroStartAdagrad,
    "ForgetfulSGD": ForgetfulSGD,
    "SelfDecayingAdamW": SelfDecayingAdamW,
    "ShapeKeyedMomentumSGD": ShapeKeyedMomentumSGD,
    "NameKeyedAdagrad": NameKeyedAdagrad,
    "LearningRateOutsideVelocitySGD": LearningRateOutsideVelocitySGD,
    "per_tensor_global_clip": per_tensor_global_clip,
    "global_clip": global_clip,
}


def evaluate(check):
    return checks.evaluate(check, NAMESPACE)


def test_module_does_not_import_keras():
    code = "import sys, labkit.optimizer_probes; sys.exit('keras' in sys.modules or 'tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_trajectory_shape_and_first_step_of_sgd():
    outputs = probes.trajectory(keras.optimizers.SGD, {"learning_rate": 0.5}, seed=4, steps=3, shapes=[[2], [1, 3]])
    assert outputs["displacements"].shape == (3, 5)
    _, gradients = probes.seeded_problem(seed=4, steps=3, shapes=[[2], [1, 3]])
    first_gradient = np.concatenate([g.ravel() for g in gradients[0]])
    np.testing.assert_allclose(outputs["displacements"][0], -0.5 * first_gradient, rtol=1e-6)


def test_trajectory_is_deterministic_and_seed_dependent():
    first = probes.trajectory(keras.optimizers.Adam, {"learning_rate": 0.01}, seed=1, steps=2)["displacements"]
    again = probes.trajectory(keras.optimizers.Adam, {"learning_rate": 0.01}, seed=1, steps=2)["displacements"]
    other = probes.trajectory(keras.optimizers.Adam, {"learning_rate": 0.01}, seed=2, steps=2)["displacements"]
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


@pytest.mark.parametrize(
    "target, reference, arguments",
    [
        ("Adam", "keras.optimizers.Adam", {"learning_rate": 0.01, "amsgrad": True}),
        ("SGD", "keras.optimizers.SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
        ("RMSprop", "keras.optimizers.RMSprop", {"learning_rate": 0.01, "centered": True, "momentum": 0.5}),
    ],
)
def test_builtin_matches_itself(target, reference, arguments):
    outcome = evaluate(probes.matches_keras(target, reference, arguments, seed=5, steps=4, gradient_scale=1e-4))
    assert outcome.passed, outcome.message


def test_schedule_argument_builds_exponential_decay():
    schedule = {"initial_learning_rate": 1.0, "decay_steps": 1, "decay_rate": 0.5}
    outputs = probes.trajectory(keras.optimizers.SGD, {}, seed=0, steps=2, shapes=[[1]], schedule=schedule)
    _, gradients = probes.seeded_problem(seed=0, steps=2, shapes=[[1]])
    expected_second = -(1.0 * gradients[0][0][0] + 0.5 * gradients[1][0][0])
    np.testing.assert_allclose(outputs["displacements"][1, 0], expected_second, rtol=1e-6)


def test_default_problem_has_two_variables_of_one_shape_and_one_name():
    shapes = [tuple(shape) for shape in probes.DEFAULT_SHAPES]
    assert len(set(shapes)) < len(shapes) and len(set(shapes)) > 1
    variables = probes._probe_variables(probes.seeded_problem(seed=0, steps=1)[0])
    assert {variable.name for variable in variables} == {probes.PROBE_VARIABLE_NAME}
    assert len({id(variable) for variable in variables}) == len(shapes)


def test_state_shared_between_same_shaped_variables_is_caught():
    arguments = {"learning_rate": 0.05, "momentum": 0.9}
    # With one variable per shape, the shape-keyed velocity is right: the blind spot the default shapes close.
    distinct = probes.matches_keras("ShapeKeyedMomentumSGD", "keras.optimizers.SGD", arguments, seed=3,
                                    shapes=[[3], [2, 2]])
    assert evaluate(distinct).passed
    outcome = evaluate(probes.matches_keras("ShapeKeyedMomentumSGD", "keras.optimizers.SGD", arguments, seed=3))
    assert not outcome.passed and "displacements" in outcome.message


def test_state_keyed_by_variable_name_is_caught():
    assert not evaluate(probes.matches_keras("NameKeyedAdagrad", "keras.optimizers.Adagrad", {"learning_rate": 0.1},
                                             seed=3)).passed


def test_learning_rate_folded_into_the_velocity_needs_a_schedule_to_be_seen():
    arguments = {"learning_rate": 0.1, "momentum": 0.9}
    assert evaluate(probes.matches_keras("LearningRateOutsideVelocitySGD", "keras.optimizers.SGD", arguments,
                                         seed=4, steps=6)).passed
    schedule = {"initial_learning_rate": 0.1, "decay_steps": 1, "decay_rate": 0.7}
    scheduled = probes.matches_keras("LearningRateOutsideVelocitySGD", "keras.optimizers.SGD", {"momentum": 0.9},
                                     seed=4, steps=6, schedule=schedule)
    assert not evaluate(scheduled).passed
    assert evaluate(probes.matches_keras("SGD", "keras.optimizers.SGD", {"momentum": 0.9}, seed=4, steps=6,
                                         schedule=schedule)).passed


def test_paper_epsilon_adam_passes_normal_gradients_but_fails_tiny_ones():
    normal = probes.matches_keras("PaperEpsilonAdam", "keras.optimizers.Adam", {"learning_rate": 0.01}, seed=0, steps=5)
    tiny = probes.matches_keras(
        "PaperEpsilonAdam", "keras.optimizers.Adam", {"learning_rate": 0.01}, seed=0, steps=5, gradient_scale=1e-4
    )
    assert evaluate(normal).passed
    outcome = evaluate(tiny)
    assert not outcome.passed
    assert "displacements" in outcome.message


def test_zero_start_adagrad_fails_trajectory_and_golden():
    assert not evaluate(probes.matches_keras("ZeroStartAdagrad", "keras.optimizers.Adagrad", {"learning_rate": 0.1})).passed
    assert not evaluate(probes.matches_golden("ZeroStartAdagrad", "adagrad")).passed


@pytest.mark.parametrize("golden_name, target", [
    ("sgd", "SGD"), ("adagrad", "Adagrad"), ("rmsprop_centered", "RMSprop"), ("adam_amsgrad", "Adam"), ("adamw", "AdamW"),
    ("adadelta", "Adadelta"),
])
def test_keras_builtins_reproduce_their_golden_values(golden_name, target):
    outcome = evaluate(probes.matches_golden(target, golden_name))
    assert outcome.passed, outcome.message


ADADELTA_ARGUMENTS = [{"learning_rate": 1.0}, {"learning_rate": 0.5, "rho": 0.8, "epsilon": 1e-4}]


@pytest.mark.parametrize("arguments", ADADELTA_ARGUMENTS)
def test_adadelta_in_another_style_matches_keras(arguments):
    outcome = evaluate(probes.matches_keras("OneRootAdadelta", "keras.optimizers.Adadelta", arguments, seed=101, steps=8))
    assert outcome.passed, outcome.message
    assert evaluate(probes.matches_golden("OneRootAdadelta", "adadelta")).passed


def test_adadelta_scaling_the_update_average_needs_a_learning_rate_other_than_one():
    assert evaluate(probes.matches_keras("ScaledUpdateAverageAdadelta", "keras.optimizers.Adadelta", ADADELTA_ARGUMENTS[0],
                                         seed=0, steps=6)).passed
    assert not evaluate(probes.matches_keras("ScaledUpdateAverageAdadelta", "keras.optimizers.Adadelta",
                                             ADADELTA_ARGUMENTS[1], seed=101, steps=8)).passed


def test_adadelta_with_the_old_gradient_average_is_caught():
    assert not evaluate(probes.matches_keras("StaleGradientAverageAdadelta", "keras.optimizers.Adadelta",
                                             {"learning_rate": 1.0}, seed=0, steps=6)).passed
    assert not evaluate(probes.matches_golden("StaleGradientAverageAdadelta", "adadelta")).passed


def test_adadelta_hand_computed_steps_hold_for_keras():
    # The lab's literal checks: two steps by hand (rho=0.5, epsilon=0.01) and Keras's test_single_step.
    by_hand = probes.steps_equal("Adadelta", {"learning_rate": 1.0, "rho": 0.5, "epsilon": 0.01}, [1.0, -2.0],
                                 [[1.0, -0.5], [0.5, 0.5]], [[0.8599719916, -1.8639172365], [0.7465714214, -2.0200543852]],
                                 description="two steps")
    single = probes.steps_equal("Adadelta", {"learning_rate": 0.5}, [1.0, 2.0, 3.0, 4.0], [[1.0, 6.0, 7.0, 2.0]],
                                [[0.999292893926, 1.999292893238, 2.999292893233, 3.999292893396]], description="one")
    assert evaluate(by_hand).passed and evaluate(single).passed
    assert not evaluate(checks.Check(**{**by_hand.to_json(), "target": "StaleGradientAverageAdadelta"})).passed


def test_decay_inside_update_step():
    arguments = {"learning_rate": 0.05, "weight_decay": 0.2}
    assert evaluate(probes.matches_keras("SelfDecayingAdamW", "keras.optimizers.AdamW", arguments, seed=1)).passed
    assert evaluate(probes.decays_in_update_step("SelfDecayingAdamW", learning_rate=0.1, weight_decay=0.5)).passed
    # Keras's own AdamW decays in apply(), outside update_step, so its update_step alone does not decay.
    assert not evaluate(probes.decays_in_update_step("AdamW", learning_rate=0.1, weight_decay=0.5)).passed


def test_literal_steps_against_hand_computed_momentum():
    check = probes.steps_equal(
        "SGD", {"learning_rate": 0.1, "momentum": 0.9}, [1.0, -2.0], [[1.0, 0.5], [1.0, -1.0]],
        [[0.9, -2.05], [0.71, -1.995]], description="momentum by hand",
    )
    assert evaluate(check).passed
    wrong = probes.steps_equal(
        "SGD", {"learning_rate": 0.1, "momentum": 0.9}, [1.0, -2.0], [[1.0, 0.5], [1.0, -1.0]],
        [[0.9, -2.05], [0.8, -1.95]], description="plain SGD numbers",
    )
    assert not evaluate(wrong).passed


def test_configuration_probe_and_checks():
    outputs = probes.configuration(keras.optimizers.AdamW)
    assert "name" not in outputs["config"]
    assert outputs["config"]["weight_decay"] == 0.004
    assert outputs["keys"] == ", ".join(sorted(outputs["config"]))
    assert evaluate(probes.same_config("AdamW", "keras.optimizers.AdamW")).passed
    assert not evaluate(probes.same_config("Adam", "keras.optimizers.AdamW")).passed
    assert not evaluate(probes.same_config("ForgetfulSGD", "keras.optimizers.SGD")).passed


def test_signature_probe():
    signature = probes.constructor_signature(keras.optimizers.SGD)["signature"]
    assert signature.startswith("learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None")
    assert signature.endswith("name=None, **kwargs")
    assert evaluate(probes.same_signature("SGD", "keras.optimizers.SGD")).passed
    assert not evaluate(probes.same_signature("Adam", "keras.optimizers.SGD")).passed


def _sgd_named(default_name):
    """keras.optimizers.SGD whose constructor's `name` default is default_name (Keras 3.11's is "SGD", 3.15's None)."""

    class SGD(keras.optimizers.SGD):
        def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, clipnorm=None,
                     clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                     ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None,
                     name=default_name, **kwargs):
            super().__init__(learning_rate=learning_rate, name=name, **kwargs)

    return SGD


@pytest.mark.parametrize("default_name", [None, "SGD", "sgd"])
def test_signature_reads_the_incidental_name_default_as_none(default_name):
    # The default `name` changed between Keras versions (None in 3.15, "SGD", "adam", ... in 3.11): both read the same.
    signature = probes.constructor_signature(_sgd_named(default_name))["signature"]
    assert signature == probes.constructor_signature(keras.optimizers.SGD)["signature"]
    assert signature.endswith("name=None, **kwargs")
    check = probes.same_signature("NamedSGD", "keras.optimizers.SGD")
    assert checks.evaluate(check, {"NamedSGD": _sgd_named(default_name)}).passed


def test_signature_keeps_a_name_default_that_is_not_the_class_name():
    signature = probes.constructor_signature(_sgd_named("momentum"))["signature"]
    assert signature.endswith("name='momentum', **kwargs")
    check = probes.same_signature("NamedSGD", "keras.optimizers.SGD")
    assert not checks.evaluate(check, {"NamedSGD": _sgd_named("momentum")}).passed


def test_config_round_trip():
    outputs = probes.config_round_trip(keras.optimizers.RMSprop, {"rho": 0.8, "centered": True})
    assert outputs["same_class"] is True and outputs["same_config"] is True
    assert evaluate(probes.survives_config_round_trip("RMSprop", "keras.optimizers.RMSprop", {"rho": 0.8})).passed
    forgetful = probes.survives_config_round_trip(
        "ForgetfulSGD", "keras.optimizers.SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}
    )
    assert not evaluate(forgetful).passed


class SGDRebuiltAsPlainSGD(keras.optimizers.SGD):
    """from_config builds the parent class instead of this one."""

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return keras.optimizers.SGD.from_config(config)


def test_config_round_trip_compares_with_the_class_the_constructor_makes():
    # On torch, keras.optimizers.SGD() is an instance of a backend subclass; a round trip must give that same class,
    # and a from_config that builds another class still fails on every backend.
    original = keras.optimizers.SGD()
    assert probes.config_round_trip(keras.optimizers.SGD)["same_class"] is True
    assert isinstance(original, keras.optimizers.SGD)
    assert probes.config_round_trip(SGDRebuiltAsPlainSGD)["same_class"] is False


def test_fit_check_passes_for_builtin_and_fails_for_wrong_optimizer():
    assert evaluate(probes.trains_like_keras("Adagrad", "keras.optimizers.Adagrad", {"learning_rate": 0.1})).passed
    assert not evaluate(
        probes.trains_like_keras("ZeroStartAdagrad", "keras.optimizers.Adagrad", {"learning_rate": 0.1})
    ).passed


def test_clipping_against_optimizer_options():
    for method, clip_value in [("value", 0.5), ("norm", 1.0), ("global_norm", 1.0)]:
        reference = probes.clipped(keras.optimizers.SGD, method, clip_value, seed=3)
        assert reference["shapes"] == "(3,); (2, 2); (3,)"
    assert evaluate(probes.clips_like_keras("global_clip", "global_norm", 1.0, seed=2)).passed
    assert not evaluate(probes.clips_like_keras("per_tensor_global_clip", "global_norm", 1.0, seed=2)).passed
    assert evaluate(probes.clips_like_keras("per_tensor_global_clip", "norm", 1.0, seed=2)).passed


def test_clips_to_literal_values():
    check = probes.clips_to(
        "global_clip", "global_norm", 1.0, [[3.0, 0.0], [0.0, 4.0]], [[0.6, 0.0], [0.0, 0.8]], description="3-4-5"
    )
    assert evaluate(check).passed
    assert not evaluate(checks.Check(**{**check.to_json(), "target": "per_tensor_global_clip"})).passed


def test_checks_are_json_able():
    made = [
        probes.matches_keras("Adam", "keras.optimizers.Adam", {"learning_rate": 0.01}, schedule={"initial_learning_rate": 0.1,
                             "decay_steps": 1, "decay_rate": 0.5}),
        probes.steps_equal("SGD", {}, [1.0], [[1.0]], [[0.99]], description="one step"),
        probes.matches_golden("Adam", "adam_amsgrad"),
        probes.same_config("Adam", "keras.optimizers.Adam"),
        probes.clips_to("global_clip", "global_norm", 1.0, [[3.0, 4.0]], [[0.6, 0.8]], description="d"),
    ]
    for check in made:
        assert json.loads(json.dumps(check.to_json())) == check.to_json()


@pytest.mark.parametrize(
    "call",
    [
        lambda: probes.trajectory(keras.optimizers.SGD, steps=0),
        lambda: probes.trajectory(keras.optimizers.SGD, seed=-1),
        lambda: probes.trajectory(keras.optimizers.SGD, shapes=[]),
        lambda: probes.trajectory(keras.optimizers.SGD, shapes=[[0, 2]]),
        lambda: probes.trajectory(keras.optimizers.SGD, gradient_scale=0.0),
        lambda: probes.trajectory(keras.optimizers.SGD, constructor_arguments=[0.1]),
        lambda: probes.trajectory(keras.optimizers.SGD, schedule=0.5),
        lambda: probes.trajectory("keras.optimizers.SGD"),
        lambda: probes.literal_steps(keras.optimizers.SGD, {}, [1.0, 2.0], [[1.0]]),
        lambda: probes.literal_steps(keras.optimizers.SGD, {}),
        lambda: probes.clipped(global_clip, method="l1"),
        lambda: probes.clipped(global_clip, method="norm", clip_value=-1.0),
        lambda: probes.clipped(42, method="norm"),
        lambda: probes.fit_weights(keras.optimizers.SGD, epochs=0),
        lambda: probes.matches_keras("Adam", "keras.optimizers.Adam", steps=-3),
        lambda: probes.matches_golden("Adam", "nadam"),
        lambda: probes.clips_like_keras("global_clip", "l1", 1.0),
        lambda: probes.steps_equal("SGD", {}, [1.0], [[1.0], [2.0]], [[0.99]], description="rows"),
    ],
)
def test_bad_arguments_raise_value_error(call):
    with pytest.raises(ValueError):
        call()
