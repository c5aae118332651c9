"""Tests for labkit.callback_probes: Keras built-ins pass against themselves, wrong variants fail, bad input raises."""

import math
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import ops

from labkit import callback_probes
from labkit import checks

SCHEDULES = keras.optimizers.schedules


# ---------------------------------------------------------------------------
# Deliberately wrong (and deliberately different but correct) implementations.


class PatienceOffByOne(keras.callbacks.EarlyStopping):
    """Waits one epoch too long."""

    def __init__(self, patience=0, **kwargs):
        super().__init__(patience=patience + 1, **kwargs)


class RestoresOnlyAfterStop(keras.callbacks.EarlyStopping):
    """Keras 2 behaviour: restore the best weights only when training was stopped early."""

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0:
            super().on_train_end(logs)


class WarnsNothing(keras.callbacks.EarlyStopping):
    """Returns None silently when the monitor is missing."""

    def get_monitor_value(self, logs):
        return (logs or {}).get(self.monitor)


class ForgetsStateBetweenFits(keras.callbacks.EarlyStopping):
    """Does not reset its state in on_train_begin."""

    def on_train_begin(self, logs=None):
        if not hasattr(self, "best"):
            super().on_train_begin(logs)


class NoCooldown(keras.callbacks.ReduceLROnPlateau):
    def __init__(self, cooldown=0, **kwargs):
        super().__init__(cooldown=0, **kwargs)


class NoMinimumRate(keras.callbacks.ReduceLROnPlateau):
    def __init__(self, min_lr=0.0, **kwargs):
        super().__init__(min_lr=0.0, **kwargs)


class BreaksTheOptimizer(keras.callbacks.Callback):
    """Replaces the model's optimizer: the probe's cached model must not be reused afterwards."""

    def __init__(self, **kwargs):
        super().__init__()

    def on_train_begin(self, logs=None):
        self.model.optimizer = keras.optimizers.Adam(learning_rate=0.5)


class ExponentialOffByOne(SCHEDULES.ExponentialDecay):
    def __call__(self, step):
        return super().__call__(ops.cast(step, "float32") + 1.0)


class PythonBranchingDecay(SCHEDULES.ExponentialDecay):
    """Branches in Python on the step tensor: fine eagerly, impossible in a compiled train step."""

    def __call__(self, step):
        if step < self.decay_steps:
            return ops.convert_to_tensor(self.initial_learning_rate)
        return super().__call__(step)


class CorrectButPythonBranching(SCHEDULES.ExponentialDecay):
    """Right values, but a Python `if` on the step tensor: works eagerly, impossible in a compiled train step."""

    def __call__(self, step):
        if step < 0:
            raise ValueError("negative step")
        return super().__call__(step)


class ExponentialViaLogarithms(SCHEDULES.LearningRateSchedule):
    """A correct exponential decay written differently: exp(step / decay_steps * log(rate))."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="ExponentialDecay"):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def __call__(self, step):
        progress = ops.cast(step, "float32") / self.decay_steps
        if self.staircase:
            progress = ops.floor(progress)
        return self.initial_learning_rate * ops.exp(progress * math.log(self.decay_rate))

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class PiecewiseWithWhere(SCHEDULES.PiecewiseConstantDecay):
    """A correct step schedule built from nested ops.where."""

    def __call__(self, step):
        step = ops.cast(step, "int64")
        value = ops.convert_to_tensor(self.values[-1], dtype="float32")
        for boundary, boundary_value in reversed(list(zip(self.boundaries, self.values[:-1]))):
            value = ops.where(step <= boundary, ops.convert_to_tensor(boundary_value, dtype="float32"), value)
        return value


class SmallOneCycle(SCHEDULES.LearningRateSchedule):
    """The lab's one-cycle definition; `shift` moves the peak (0 is correct)."""

    def __init__(self, max_learning_rate, total_steps, pct_start=0.25, div_factor=25.0, final_div_factor=1e4,
                 name="OneCycle", shift=0.0):
        self.config = {
            "max_learning_rate": max_learning_rate, "total_steps": total_steps, "pct_start": pct_start,
            "div_factor": div_factor, "final_div_factor": final_div_factor, "name": name,
        }
        self.shift = shift

    def __call__(self, step):
        peak = self.config["max_learning_rate"]
        start = peak / self.config["div_factor"]
        end = start / self.config["final_div_factor"]
        total = float(self.config["total_steps"])
        warmup = self.config["pct_start"] * total + self.shift
        step = ops.minimum(ops.cast(step, "float32"), total)
        rising = start + (peak - start) * step / warmup
        falling = end + 0.5 * (peak - end) * (1.0 + ops.cos(math.pi * (step - warmup) / (total - warmup)))
        return ops.where(step < warmup, rising, falling)

    def get_config(self):
        return dict(self.config)


def one_cycle_float64(step, max_learning_rate, total_steps, pct_start=0.25, div_factor=25.0, final_div_factor=1e4):
    start = max_learning_rate / div_factor
    end = start / final_div_factor
    warmup = pct_start * total_steps
    step = min(float(step), float(total_steps))
    if step < warmup:
        return start + (max_learning_rate - start) * step / warmup
    return end + 0.5 * (max_learning_rate - end) * (1.0 + math.cos(math.pi * (step - warmup) / (total_steps - warmup)))


NAMESPACE = {
    "PatienceOffByOne": PatienceOffByOne,
    "RestoresOnlyAfterStop": RestoresOnlyAfterStop,
    "WarnsNothing": WarnsNothing,
    "ForgetsStateBetweenFits": ForgetsStateBetweenFits,
    "NoCooldown": NoCooldown,
    "NoMinimumRate": NoMinimumRate,
    "BreaksTheOptimizer": BreaksTheOptimizer,
    "ExponentialOffByOne": ExponentialOffByOne,
    "PythonBranchingDecay": PythonBranchingDecay,
    "CorrectButPythonBranching": CorrectButPythonBranching,
    "ExponentialViaLogarithms": ExponentialViaLogarithms,
    "PiecewiseWithWhere": PiecewiseWithWhere,
    "SmallOneCycle": SmallOneCycle,
    "ShiftedOneCycle": lambda **arguments: SmallOneCycle(shift=-1.0, **arguments),
    "NotAClass": keras.callbacks.EarlyStopping(),
}


def outcome(check):
    return checks.evaluate(check, NAMESPACE)


def early_stopping_check(callback_arguments, values, target="keras.callbacks.EarlyStopping", **kwargs):
    monitor = callback_arguments.get("monitor", "val_loss")
    return callback_probes.early_stopping_matches_keras(
        "scenario", callback_arguments, callback_probes.scripted_logs(values, monitor=monitor), target=target, **kwargs
    )


# ---------------------------------------------------------------------------
# The module itself.


def test_import_does_not_load_keras_or_tensorflow():
    code = (
        "import sys, labkit.callback_probes; "
        "loaded = [name for name in ('keras', 'tensorflow', 'jax', 'torch') if name in sys.modules]; "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_scripted_logs_builds_one_dict_per_epoch():
    assert callback_probes.scripted_logs([1, None, 0.5], monitor="val_score") == [
        {"val_score": 1.0}, {}, {"val_score": 0.5}
    ]


# ---------------------------------------------------------------------------
# EarlyStopping.

EARLY_STOPPING_SCENARIOS = [
    ({"patience": 2}, [1.0, 0.8, 0.9, 0.85, 0.7, 0.75], {}),
    ({"patience": 0, "min_delta": -0.25}, [2.0, 1.75, 1.5, 1.0], {}),
    ({"monitor": "val_accuracy", "patience": 1}, [0.5, 0.6, 0.55], {"metrics": ["accuracy"]}),
    ({"patience": 2, "baseline": 0.5, "restore_best_weights": True}, [1.0, 0.9, 0.8, 0.85, 0.7], {}),
    ({"patience": 1, "start_from_epoch": 2, "restore_best_weights": True}, [0.1, 0.2, 1.0, 1.1], {}),
    ({"patience": 1}, [1.0, None, 1.2], {"runs": 2}),
]


@pytest.mark.parametrize("callback_arguments, values, extra", EARLY_STOPPING_SCENARIOS)
def test_keras_early_stopping_matches_itself(callback_arguments, values, extra):
    target = _builtin_target("EarlyStopping", extra)
    result = outcome(early_stopping_check(callback_arguments, values, target=target, **extra))
    assert result.passed, result.message


def _builtin_target(name, extra):
    """keras.callbacks.<name>; for several fit() calls on a Keras older than 3.15 (which keeps `best` between
    fits, unlike the reference), the reference class itself, labkit.keras_references.<name>."""
    if extra.get("runs", 1) > 1 and tuple(int(part) for part in keras.__version__.split(".")[:2]) < (3, 15):
        return f"labkit.keras_references.{name}"
    return f"keras.callbacks.{name}"


def test_early_stopping_probe_reports_the_keras_semantics():
    logs = callback_probes.scripted_logs([1.0, 0.6, 0.7, 0.8])
    stopped = callback_probes.early_stopping_run(
        keras.callbacks.EarlyStopping, {"patience": 2, "restore_best_weights": True}, logs
    )
    assert stopped == {"epochs_run": 4, "stopped_epoch": 3, "final_weights_epoch": 1, "best": 0.6,
                       "warning_epochs": []}
    # Training that ends without an early stop still restores the best weights in Keras 3.
    not_stopped = callback_probes.early_stopping_run(
        keras.callbacks.EarlyStopping, {"patience": 5, "restore_best_weights": True}, logs
    )
    assert not_stopped["stopped_epoch"] == 0 and not_stopped["final_weights_epoch"] == 1
    missing = callback_probes.early_stopping_run(
        keras.callbacks.EarlyStopping, {"patience": 2}, callback_probes.scripted_logs([1.0, None, 1.1, None])
    )
    assert missing["warning_epochs"] == [1, 3]


@pytest.mark.parametrize(
    "target, callback_arguments, values, extra",
    [
        ("PatienceOffByOne", {"patience": 2}, [1.0, 0.8, 0.9, 0.85, 0.7, 0.75], {}),
        ("RestoresOnlyAfterStop", {"patience": 10, "restore_best_weights": True}, [1.0, 0.6, 0.7, 0.8], {}),
        ("WarnsNothing", {"patience": 2}, [1.0, None, 1.2], {}),
        ("ForgetsStateBetweenFits", {"patience": 1}, [1.0, 0.8, 0.9, 0.7], {"runs": 2}),
    ],
)
def test_wrong_early_stopping_fails(target, callback_arguments, values, extra):
    result = outcome(early_stopping_check(callback_arguments, values, target=target, **extra))
    assert not result.passed


class Keras311EarlyStopping(keras.callbacks.EarlyStopping):
    """Keras 3.11's EarlyStopping: on_train_begin resets wait and the weights but keeps the first fit's `best`."""

    def on_train_begin(self, logs=None):
        best = getattr(self, "best", None)
        super().on_train_begin(logs)
        self.best = best


class Keras311ReduceLROnPlateau(keras.callbacks.ReduceLROnPlateau):
    """Keras 3.11's ReduceLROnPlateau: _reset (on_train_begin) keeps `best`."""

    def _reset(self):
        best = getattr(self, "best", None)
        super()._reset()
        self.best = best


def test_keras_references_module_does_not_load_keras_on_import():
    code = (
        "import sys, labkit.keras_references; "
        "loaded = [name for name in ('keras', 'tensorflow', 'jax', 'torch') if name in sys.modules]; "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_checks_compare_with_keras_3_15_behaviour_whatever_keras_is_installed():
    from labkit import keras_references

    assert early_stopping_check({"patience": 1}, [1.0]).reference == "labkit.keras_references.EarlyStopping"
    assert reduce_lr_check({"patience": 1}, [1.0]).reference == "labkit.keras_references.ReduceLROnPlateau"
    assert issubclass(keras_references.EarlyStopping, keras.callbacks.EarlyStopping)
    assert keras_references.EarlyStopping is keras_references.EarlyStopping  # made once
    # Literal Keras 3.15 outputs: the second fit() starts from best=None and runs the same three epochs.
    # (Keras 3.11 keeps best=0.8, so its second fit stops after two epochs, and its rate falls at epoch 0.)
    logs = callback_probes.scripted_logs([1.0, 0.8, 0.9])
    stopped = callback_probes.early_stopping_run(keras_references.EarlyStopping, {"patience": 1}, logs, runs=2)
    assert stopped["epochs_run"] == [3, 3] and stopped["stopped_epoch"] == [2, 2]
    np.testing.assert_allclose(stopped["best"], [0.8, 0.8])
    reduced = callback_probes.reduce_lr_run(
        keras_references.ReduceLROnPlateau, {"factor": 0.5, "patience": 1}, logs, runs=2
    )
    np.testing.assert_allclose(reduced["learning_rates"], [[0.1, 0.1, 0.05], [0.05, 0.05, 0.025]], rtol=1e-6)
    np.testing.assert_allclose(reduced["best"], [0.8, 0.8])


def test_a_keras_3_11_callback_that_keeps_best_between_fits_fails():
    from labkit import keras_references

    namespace = {"EarlyStopping": Keras311EarlyStopping, "ReduceLROnPlateau": Keras311ReduceLROnPlateau}
    early = early_stopping_check({"patience": 1}, [1.0, 0.8, 0.9], target="EarlyStopping", runs=2)
    reduce = reduce_lr_check({"factor": 0.5, "patience": 1}, [1.0, 0.8, 0.9], target="ReduceLROnPlateau", runs=2)
    assert not checks.evaluate(early, namespace).passed
    assert not checks.evaluate(reduce, namespace).passed
    assert checks.evaluate(early, {"EarlyStopping": keras_references.EarlyStopping}).passed


def test_a_target_that_is_not_a_class_fails_with_a_clear_message():
    result = outcome(early_stopping_check({"patience": 1}, [1.0, 2.0], target="NotAClass"))
    assert not result.passed and "class" in result.message


# ---------------------------------------------------------------------------
# ReduceLROnPlateau.

REDUCE_LR_SCENARIOS = [
    ({"factor": 0.5, "patience": 2}, [1.0, 0.9, 0.95, 0.97, 0.96, 0.99], {}),
    ({"factor": 0.5, "patience": 1, "cooldown": 3}, [1.0] * 8, {}),
    ({"factor": 0.5, "patience": 1, "min_lr": 0.02}, [1.0] * 6, {}),
    ({"monitor": "val_accuracy", "factor": 0.2, "patience": 1}, [0.5, 0.6, 0.6, 0.7], {"metrics": ["accuracy"]}),
    ({"factor": 0.5, "patience": 1, "cooldown": 2}, [1.0, 1.0, 1.0], {"runs": 2, "learning_rate": 0.3}),
]


def reduce_lr_check(callback_arguments, values, target="keras.callbacks.ReduceLROnPlateau", **kwargs):
    monitor = callback_arguments.get("monitor", "val_loss")
    return callback_probes.reduce_lr_matches_keras(
        "scenario", callback_arguments, callback_probes.scripted_logs(values, monitor=monitor), target=target, **kwargs
    )


@pytest.mark.parametrize("callback_arguments, values, extra", REDUCE_LR_SCENARIOS)
def test_keras_reduce_lr_matches_itself(callback_arguments, values, extra):
    target = _builtin_target("ReduceLROnPlateau", extra)
    result = outcome(reduce_lr_check(callback_arguments, values, target=target, **extra))
    assert result.passed, result.message


def test_reduce_lr_probe_follows_the_learning_rate():
    result = callback_probes.reduce_lr_run(
        keras.callbacks.ReduceLROnPlateau, {"factor": 0.5, "patience": 1, "min_lr": 0.02},
        callback_probes.scripted_logs([1.0] * 5),
    )
    np.testing.assert_allclose(result["learning_rates"], [0.1, 0.05, 0.025, 0.02, 0.02], rtol=1e-6)


@pytest.mark.parametrize(
    "target, callback_arguments",
    [
        ("NoCooldown", {"factor": 0.5, "patience": 1, "cooldown": 3}),
        ("NoMinimumRate", {"factor": 0.5, "patience": 1, "min_lr": 0.02}),
    ],
)
def test_wrong_reduce_lr_fails(target, callback_arguments):
    result = outcome(reduce_lr_check(callback_arguments, [1.0] * 8, target=target))
    assert not result.passed


def test_a_callback_that_damages_the_model_does_not_affect_the_next_check():
    damaged = outcome(reduce_lr_check({"factor": 0.5, "patience": 1}, [1.0] * 4, target="BreaksTheOptimizer"))
    assert not damaged.passed
    result = outcome(reduce_lr_check({"factor": 0.5, "patience": 1}, [1.0] * 4))
    assert result.passed, result.message


# ---------------------------------------------------------------------------
# Schedules.

SCHEDULE_SCENARIOS = [
    ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5, "staircase": True}),
    ("InverseTimeDecay", {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5}),
    ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 20, "power": 2.0, "cycle": True}),
    ("PiecewiseConstantDecay", {"boundaries": [10, 20], "values": [0.1, 0.01, 0.001]}),
    ("CosineDecay", {"initial_learning_rate": 0.0, "decay_steps": 40, "warmup_target": 0.1, "warmup_steps": 10}),
    ("CosineDecayRestarts", {"initial_learning_rate": 0.1, "first_decay_steps": 10, "t_mul": 1.5, "m_mul": 0.8}),
]
STEPS = [0, 1, 9, 10, 11, 19, 20, 21, 49, 50, 51, 150, 1000]


@pytest.mark.parametrize("name, arguments", SCHEDULE_SCENARIOS)
def test_keras_schedules_match_themselves(name, arguments):
    reference = f"keras.optimizers.schedules.{name}"
    check = callback_probes.schedule_matches_keras(
        name, reference, reference, arguments, STEPS, peak_learning_rate=0.1
    )
    result = outcome(check)
    assert result.passed, result.message


def test_schedule_probe_returns_values_and_config():
    arguments = {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5, "staircase": True}
    result = callback_probes.schedule_values(SCHEDULES.ExponentialDecay, arguments, [0, 9, 10, 25])
    np.testing.assert_allclose(result["values"], [0.1, 0.1, 0.05, 0.025], rtol=1e-6)
    assert result["config"] == {**arguments, "name": "ExponentialDecay"}


def test_evaluate_schedule_gives_one_value_per_step():
    values = callback_probes.evaluate_schedule(SCHEDULES.CosineDecay(0.1, decay_steps=100), range(201))
    assert values.shape == (201,)
    assert values[0] == pytest.approx(0.1) and values[100] == pytest.approx(0.0, abs=1e-8)


@pytest.mark.parametrize(
    "target, name, arguments",
    [
        ("ExponentialViaLogarithms", "ExponentialDecay",
         {"initial_learning_rate": 0.1, "decay_steps": 7, "decay_rate": 0.9, "staircase": False}),
        ("PiecewiseWithWhere", "PiecewiseConstantDecay", {"boundaries": [3, 7, 50], "values": [0.5, 1.0, 0.25, 0.01]}),
    ],
)
def test_a_differently_written_correct_schedule_passes(target, name, arguments):
    check = callback_probes.schedule_matches_keras(
        name, target, f"keras.optimizers.schedules.{name}", arguments, STEPS, peak_learning_rate=1.0
    )
    result = outcome(check)
    assert result.passed, result.message


def test_wrong_schedule_fails():
    check = callback_probes.schedule_matches_keras(
        "off by one", "ExponentialOffByOne", "keras.optimizers.schedules.ExponentialDecay",
        {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5}, STEPS, peak_learning_rate=0.1,
    )
    assert not outcome(check).passed


def test_python_branching_on_the_step_fails_like_in_a_compiled_train_step():
    arguments = {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5}
    reference = "keras.optimizers.schedules.ExponentialDecay"
    wrong = outcome(callback_probes.schedule_matches_keras(
        "python if", "PythonBranchingDecay", reference, arguments, STEPS, peak_learning_rate=0.1))
    right_values = outcome(callback_probes.schedule_matches_keras(
        "python if", "CorrectButPythonBranching", reference, arguments, STEPS, peak_learning_rate=0.1))
    if keras.backend.backend() == "torch":
        # Not applicable on torch: Keras runs torch train steps eagerly (jit_compile is off by default), where the
        # Python `if` works, and so do the probes (the probe module says so). Only wrong values fail.
        assert not callback_probes.branching_on_the_step_is_detected()
        assert right_values.passed, right_values.message
        assert not wrong.passed and "raised" not in wrong.message
    else:
        assert callback_probes.branching_on_the_step_is_detected()
        for result in (right_values, wrong):  # the tracer refuses to be a Python bool
            assert not result.passed and "raised" in result.message and "NameError" not in result.message
            assert "bool" in result.message.lower(), result.message


def test_branching_detection_is_documented_per_backend():
    detected = {"tensorflow": True, "jax": True, "torch": False}[keras.backend.backend()]
    assert callback_probes.branching_on_the_step_is_detected() is detected
    assert "does not apply on torch" in callback_probes.__doc__.replace("\n", " ")
    if keras.backend.backend() == "torch":
        # What a torch train step does with the schedule: call it eagerly on the step counter; the `if` runs.
        schedule = CorrectButPythonBranching(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5)
        optimizer = keras.optimizers.SGD(learning_rate=schedule)
        variable = keras.Variable([1.0])
        for _ in range(2):
            optimizer.apply_gradients([(ops.convert_to_tensor([1.0]), variable)])
        expected = 1.0 - 0.1 - 0.1 * 0.5 ** 0.1
        assert float(ops.convert_to_numpy(variable)[0]) == pytest.approx(expected, rel=1e-6)


def one_cycle_check(target):
    arguments = {"max_learning_rate": 0.1, "total_steps": 100, "pct_start": 0.3}
    steps = [0, 1, 15, 29, 30, 31, 60, 99, 100, 120]
    config = {"max_learning_rate": 0.1, "total_steps": 100, "pct_start": 0.3, "div_factor": 25.0,
              "final_div_factor": 1e4, "name": "OneCycle"}
    return callback_probes.schedule_matches_values(
        "one cycle", target, arguments, steps, [one_cycle_float64(step, **arguments) for step in steps], config,
        peak_learning_rate=0.1,
    )


def test_literal_values_check_accepts_a_correct_float32_implementation():
    result = outcome(one_cycle_check("SmallOneCycle"))
    assert result.passed, result.message


def test_literal_values_check_rejects_a_peak_one_step_early():
    assert not outcome(one_cycle_check("ShiftedOneCycle")).passed


# ---------------------------------------------------------------------------
# Bad arguments.


@pytest.mark.parametrize(
    "make_check",
    [
        lambda: callback_probes.early_stopping_matches_keras("empty", {}, []),
        lambda: callback_probes.early_stopping_matches_keras("not dicts", {}, [1.0, 2.0]),
        lambda: callback_probes.early_stopping_matches_keras("text value", {}, [{"val_loss": "low"}]),
        lambda: callback_probes.early_stopping_matches_keras("arguments", ["patience"], [{"val_loss": 1.0}]),
        lambda: callback_probes.early_stopping_matches_keras("runs", {}, [{"val_loss": 1.0}], runs=0),
        lambda: callback_probes.early_stopping_matches_keras("metrics", {}, [{"val_loss": 1.0}], metrics="accuracy"),
        lambda: callback_probes.reduce_lr_matches_keras("rate", {}, [{"val_loss": 1.0}], learning_rate=0.0),
        lambda: callback_probes.schedule_matches_keras(
            "no steps", "S", "keras.optimizers.schedules.ExponentialDecay", {}, [], peak_learning_rate=0.1),
        lambda: callback_probes.schedule_matches_keras(
            "negative step", "S", "keras.optimizers.schedules.ExponentialDecay", {}, [-1], peak_learning_rate=0.1),
        lambda: callback_probes.schedule_matches_keras(
            "float step", "S", "keras.optimizers.schedules.ExponentialDecay", {}, [1.5], peak_learning_rate=0.1),
        lambda: callback_probes.schedule_matches_keras(
            "not keras", "S", "mymodule.ExponentialDecay", {}, [0], peak_learning_rate=0.1),
        lambda: callback_probes.schedule_matches_keras(
            "no peak", "S", "keras.optimizers.schedules.ExponentialDecay", {}, [0], peak_learning_rate=0),
        lambda: callback_probes.schedule_matches_values(
            "lengths", "S", {}, [0, 1], [0.1], {"name": "S"}, peak_learning_rate=0.1),
        lambda: callback_probes.scripted_logs("1.0, 2.0"),
        lambda: callback_probes.scripted_logs([1.0], monitor=""),
    ],
)
def test_bad_arguments_raise_value_error(make_check):
    with pytest.raises(ValueError):
        make_check()


def test_probes_reject_bad_arguments_too():
    with pytest.raises(ValueError):
        callback_probes.early_stopping_run(keras.callbacks.EarlyStopping, {}, logs=[])
    with pytest.raises(ValueError):
        callback_probes.schedule_values(SCHEDULES.CosineDecay, {"initial_learning_rate": 0.1, "decay_steps": 5},
                                        steps=[0, -3])
    with pytest.raises(TypeError):
        callback_probes.schedule_values(SCHEDULES.CosineDecay(0.1, 5), {}, steps=[0])


# ---------------------------------------------------------------------------
# PyTorch-style schedules: MultiStepDecay (MultiStepLR) and SequentialSchedule (SequentialLR).


def multi_step_float64(step, initial_learning_rate, milestones, gamma=0.1):
    """PyTorch's MultiStepLR in float64: the rate is multiplied by gamma at (from) every milestone."""
    return initial_learning_rate * gamma ** sum(step >= milestone for milestone in milestones)


def sequential_float64(step, schedules, boundaries):
    """PyTorch's SequentialLR in float64: schedules[i] from boundaries[i-1] on, counting its steps from there."""
    index = sum(step >= boundary for boundary in boundaries)
    start = boundaries[index - 1] if index else 0
    return callback_probes.component_schedule_float64(schedules[index], step - start)


@keras.saving.register_keras_serializable(package="test_callback_probes")
class MultiStepByLoop(SCHEDULES.LearningRateSchedule):
    """A correct MultiStepLR written as a Python loop over the milestones (a hyperparameter) with ops.where."""

    def __init__(self, initial_learning_rate, milestones, gamma=0.1, name="MultiStepDecay", after=False,
                 gamma_once=False):
        self.initial_learning_rate, self.milestones, self.gamma, self.name = initial_learning_rate, milestones, gamma, name
        self.after, self.gamma_once = after, gamma_once  # the two wrong variants below

    def __call__(self, step):
        step = ops.cast(step, "int32")
        learning_rate = ops.convert_to_tensor(self.initial_learning_rate, dtype="float32")
        for milestone in self.milestones:
            reached = step > milestone if self.after else step >= milestone
            decayed = self.initial_learning_rate * self.gamma if self.gamma_once else learning_rate * self.gamma
            learning_rate = ops.where(reached, decayed, learning_rate)
        return learning_rate

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "milestones": self.milestones,
                "gamma": self.gamma, "name": self.name}


@keras.saving.register_keras_serializable(package="test_callback_probes")
class MultiStepAfterMilestone(MultiStepByLoop):
    """Off by one: drops one step after each milestone, as PiecewiseConstantDecay does at its boundaries."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, after=True, **kwargs)


@keras.saving.register_keras_serializable(package="test_callback_probes")
class MultiStepGammaOnce(MultiStepByLoop):
    """Multiplies by gamma once, whatever the number of milestones passed."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, gamma_once=True, **kwargs)


@keras.saving.register_keras_serializable(package="test_callback_probes")
class SequentialByStacking(SCHEDULES.LearningRateSchedule):
    """A correct SequentialLR: every schedule on its local step, stacked, the one in charge taken by index."""

    def __init__(self, schedules, boundaries, name="SequentialSchedule", restart=True):
        self.schedules, self.boundaries, self.name, self.restart = list(schedules), list(boundaries), name, restart

    def __call__(self, step):
        step = ops.cast(step, "int32")
        starts = [0] + self.boundaries
        index = sum((ops.cast(step >= boundary, "int32") for boundary in self.boundaries), ops.zeros((), "int32"))
        values = [
            ops.cast(schedule(ops.maximum(step - start, 0) if self.restart else step), "float32")
            for schedule, start in zip(self.schedules, starts)
        ]
        return ops.take(ops.stack(values), index)

    def get_config(self):
        return {"schedules": [keras.saving.serialize_keras_object(schedule) for schedule in self.schedules],
                "boundaries": self.boundaries, "name": self.name}

    @classmethod
    def from_config(cls, config):
        schedules = [keras.saving.deserialize_keras_object(schedule) for schedule in config["schedules"]]
        return cls(schedules, config["boundaries"], config["name"])


@keras.saving.register_keras_serializable(package="test_callback_probes")
class SequentialNotRestarted(SequentialByStacking):
    """Passes the global step to every schedule: a later schedule does not start from its own step 0."""

    def __init__(self, schedules, boundaries, name="SequentialSchedule"):
        super().__init__(schedules, boundaries, name, restart=False)


@keras.saving.register_keras_serializable(package="test_callback_probes")
class SequentialWithoutFromConfig(SequentialByStacking):
    """Serializes its schedules but keeps the default from_config, which passes their dicts on unbuilt."""

    from_config = classmethod(SCHEDULES.LearningRateSchedule.from_config.__func__)


@keras.saving.register_keras_serializable(package="test_callback_probes")
class SequentialWithObjectsInConfig(SequentialByStacking):
    """Puts the schedule objects themselves into its config: not JSON, so the model cannot be saved."""

    def get_config(self):
        return {"schedules": self.schedules, "boundaries": self.boundaries, "name": self.name}


NAMESPACE.update({
    name: globals()[name] for name in (
        "MultiStepByLoop", "MultiStepAfterMilestone", "MultiStepGammaOnce", "SequentialByStacking",
        "SequentialNotRestarted", "SequentialWithoutFromConfig", "SequentialWithObjectsInConfig",
    )
})

MULTI_STEP_ARGUMENTS = {"initial_learning_rate": 0.1, "milestones": [3, 7, 8], "gamma": 0.5}
MULTI_STEP_STEPS = [0, 1, 2, 3, 4, 6, 7, 8, 9, 50]
COMPONENTS = [
    callback_probes.component_schedule_spec("linear", 0.0, 0.1, steps=10),
    callback_probes.component_schedule_spec("exponential", 0.1, 0.05, steps=5),
    callback_probes.component_schedule_spec("cosine", 0.05, 0.005, steps=20),
]
SEQUENTIAL_ARGUMENTS = {"schedules": COMPONENTS, "boundaries": [10, 25]}
SEQUENTIAL_STEPS = [0, 1, 9, 10, 11, 15, 24, 25, 26, 35, 45, 46, 300]


def multi_step_check(target):
    return callback_probes.schedule_round_trip_matches_values(
        "multi-step", target, MULTI_STEP_ARGUMENTS, MULTI_STEP_STEPS,
        [multi_step_float64(step, **MULTI_STEP_ARGUMENTS) for step in MULTI_STEP_STEPS], peak_learning_rate=0.1,
    )


def sequential_check(target):
    return callback_probes.schedule_round_trip_matches_values(
        "sequential", target, SEQUENTIAL_ARGUMENTS, SEQUENTIAL_STEPS,
        [sequential_float64(step, **SEQUENTIAL_ARGUMENTS) for step in SEQUENTIAL_STEPS], peak_learning_rate=0.1,
    )


@pytest.mark.parametrize("spec", COMPONENTS + [callback_probes.component_schedule_spec("constant", 0.02)])
def test_component_schedules_match_their_float64_reference_and_round_trip(spec):
    component = callback_probes.component_schedule_class()(**spec)
    values = callback_probes.evaluate_schedule(component, SEQUENTIAL_STEPS)
    expected = [callback_probes.component_schedule_float64(spec, step) for step in SEQUENTIAL_STEPS]
    np.testing.assert_allclose(values, expected, rtol=callback_probes.SCHEDULE_RTOL, atol=1e-7)
    rebuilt = SCHEDULES.deserialize(SCHEDULES.serialize(component))
    assert type(rebuilt) is type(component) and rebuilt.get_config() == spec


def test_multi_step_reference_is_piecewise_constant_with_boundaries_one_step_earlier():
    # MultiStepLR drops AT a milestone, PiecewiseConstantDecay one step AFTER a boundary.
    milestones, gamma = MULTI_STEP_ARGUMENTS["milestones"], MULTI_STEP_ARGUMENTS["gamma"]
    keras_schedule = SCHEDULES.PiecewiseConstantDecay(
        [milestone - 1 for milestone in milestones], [0.1 * gamma ** index for index in range(len(milestones) + 1)])
    values = callback_probes.evaluate_schedule(keras_schedule, range(12))
    np.testing.assert_allclose(values, [multi_step_float64(step, **MULTI_STEP_ARGUMENTS) for step in range(12)],
                               rtol=callback_probes.SCHEDULE_RTOL)


@pytest.mark.parametrize("make_check, target", [
    (multi_step_check, "MultiStepByLoop"), (sequential_check, "SequentialByStacking"),
])
def test_differently_written_correct_pytorch_style_schedules_pass(make_check, target):
    result = outcome(make_check(target))
    assert result.passed, result.message


@pytest.mark.parametrize("make_check, target, message", [
    (multi_step_check, "MultiStepAfterMilestone", "`values`"),
    (multi_step_check, "MultiStepGammaOnce", "`values`"),
    (sequential_check, "SequentialNotRestarted", "`values`"),
    (sequential_check, "SequentialWithoutFromConfig", "from_config(get_config()) failed"),
    (sequential_check, "SequentialWithObjectsInConfig", "JSON-serializable"),
])
def test_wrong_pytorch_style_schedules_fail(make_check, target, message):
    result = outcome(make_check(target))
    assert not result.passed and message in result.message, result.message


def test_round_trip_probe_reports_an_unregistered_class():
    class Unregistered(SCHEDULES.ExponentialDecay):
        pass

    arguments = {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5}
    outputs = callback_probes.schedule_round_trip(Unregistered, arguments, [0, 10])
    np.testing.assert_allclose(outputs["values_from_config"], [0.1, 0.05], rtol=1e-6)
    assert not outputs["deserialized_same_class"] and "register_keras_serializable" in outputs["round_trip_error"]


@pytest.mark.parametrize("make", [
    lambda: callback_probes.component_schedule_spec("staircase", 0.1),
    lambda: callback_probes.component_schedule_spec("exponential", 0.0, 0.1, steps=10),
    lambda: callback_probes.component_schedule_spec("linear", -0.1, 0.1, steps=10),
    lambda: callback_probes.component_schedule_spec("linear", 0.1, 0.01, steps=0),
    lambda: callback_probes.schedule_round_trip_matches_values("lengths", "S", {}, [0, 1], [0.1],
                                                               peak_learning_rate=0.1),
])
def test_pytorch_style_check_factories_reject_bad_arguments(make):
    with pytest.raises(ValueError):
        make()
