"""Probes and check factories for Lab 06: callbacks (EarlyStopping, ReduceLROnPlateau) and learning-rate schedules.

Callbacks are driven by *scripted training*: no data and no gradient steps, only the calls
``model.fit`` makes (``set_model``, ``on_train_begin``, ``on_epoch_begin``/``on_epoch_end`` with
the scripted logs, ``on_train_end``). Before each ``on_epoch_end(epoch)`` every weight of a tiny
model is set to the marker ``epoch + 1`` (0 before training), so the weights left at the end say
which epoch they come from. That makes restoring (in ``on_train_end``), stopping, ``best`` and
learning-rate changes observable in well under a second.

Schedules are evaluated one integer step at a time the way the backend's train step calls them: inside
a compiled function on TensorFlow (``tf.function`` without autograph) and JAX (``jax.jit``), so
Python branching on the step tensor fails here exactly as it would in training. On torch Keras
runs train steps eagerly (``jit_compile`` is off by default there), so a Python ``if`` on the step
works in training and is not detected: that check does not apply on torch
(``branching_on_the_step_is_detected()`` says which case holds). Compiling instead with
``torch.compile(fullgraph=True)`` is no way out: it rejects Keras's own CosineDecay, whose
``ops.cond`` is a Python ``if`` on torch, and takes seconds per schedule.

A schedule meant to be saved with a model must also survive ``from_config(get_config())`` and
``keras.saving``'s serialize/deserialize without ``custom_objects``; ``schedule_round_trip`` checks
both. Schedules composed of other schedules get their components as ``component_schedule_spec``
dicts, since a check's arguments travel to the grading sandbox as JSON.

Keras is imported inside the functions only: the autograder imports this module in a process
that must not load TensorFlow.
"""

import json
import math
import numbers
import warnings

import numpy as np

from labkit import validation
from labkit.checks import Check

PROBE_MODULE = "labkit.callback_probes"
_MODEL_INPUT_FEATURES = 3
_MODEL_CLASSES = 2
_MAX_EPOCHS = 200
_MAX_STEPS = 2000  # per check: probe outputs stay small
_MAX_PLOT_STEPS = 100_000
# The shapes of the component schedules a composed-schedule check builds (see component_schedule_spec).
COMPONENT_KINDS = ("constant", "linear", "exponential", "cosine")

# Tolerances.
# Callbacks: `best` is a value copied from the logs and learning rates are read back from the
# optimizer's float32 variable; an implementation may compute `lr * factor` in float32 instead of
# float64 before storing, which changes the stored value by at most one float32 ulp (6e-8
# relative) per reduction, so rtol=1e-6 is safe for a few reductions while a wrong factor, a
# missed min_lr or a reduction one epoch early/late is off by tens of percent.
CALLBACK_RTOL = 1e-6
CALLBACK_ATOL = 0.0
# Schedules: Keras computes in float32 (the dtype of `initial_learning_rate`). Measured against
# float64 closed forms over steps 0..1600, Keras's built-ins stay within 1.6e-7 of the peak
# learning rate (cosine, log and power each add about one float32 ulp); a correct float32
# implementation written differently has the same order of error, so the difference between two
# correct implementations is below ~4e-7 of the peak. rtol=1e-6 covers large values; near zero
# (end of a cosine, tiny end_learning_rate) relative errors of float32 are meaningless, so an
# absolute tolerance of 1e-6 times the schedule's peak learning rate is added. Every mistake the
# lab targets (staircase, off-by-one steps, wrong periods, missing warm-up) changes some value by
# more than 1e-3 of the peak.
SCHEDULE_RTOL = 1e-6
SCHEDULE_ATOL_FRACTION_OF_PEAK = 1e-6


# ---------------------------------------------------------------------------
# Validation helpers.


def _validated_logs(logs):
    """The scripted epoch logs as a list of plain dicts of floats; ValueError if malformed."""
    if isinstance(logs, (str, bytes, dict)) or not hasattr(logs, "__iter__"):
        raise ValueError(f"logs must be a list of per-epoch dicts such as [{{'val_loss': 1.0}}, ...], got {logs!r}.")
    logs = list(logs)
    if not logs:
        raise ValueError("logs must contain at least one epoch.")
    if len(logs) > _MAX_EPOCHS:
        raise ValueError(f"logs may script at most {_MAX_EPOCHS} epochs, got {len(logs)}.")
    cleaned = []
    for epoch, epoch_logs in enumerate(logs):
        if not isinstance(epoch_logs, dict):
            raise ValueError(f"logs[{epoch}] must be a dict of metric name -> number, got {epoch_logs!r}.")
        for name, value in epoch_logs.items():
            if not isinstance(name, str) or isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ValueError(f"logs[{epoch}] must map metric names to numbers, got {name!r}: {value!r}.")
        cleaned.append({name: float(value) for name, value in epoch_logs.items()})
    return cleaned


def _validated_runs(runs):
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1 or runs > 5:
        raise ValueError(f"runs must be an integer from 1 to 5, got {runs!r}.")
    return runs


def _validated_metrics(metrics):
    if metrics is None:
        return []
    if isinstance(metrics, str) or not all(isinstance(metric, str) for metric in metrics):
        raise ValueError(f"metrics must be a list of metric names such as ['accuracy'], got {metrics!r}.")
    return list(metrics)


def _validated_steps(steps, max_steps=_MAX_STEPS):
    if isinstance(steps, (str, bytes)) or not hasattr(steps, "__iter__"):
        raise ValueError(f"steps must be a list of non-negative integers, got {steps!r}.")
    steps = list(steps)
    if not steps:
        raise ValueError("steps must contain at least one step.")
    if len(steps) > max_steps:
        raise ValueError(f"steps may hold at most {max_steps} steps, got {len(steps)}.")
    for step in steps:
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
            raise ValueError(f"steps must be non-negative integers, got {step!r}.")
    return [int(step) for step in steps]


# ---------------------------------------------------------------------------
# Scripted training for callbacks.


def scripted_logs(values, monitor="val_loss"):
    """Per-epoch logs from monitored values, e.g. [{"val_loss": 1.0}, ...]; None scripts an epoch without it."""
    if not isinstance(monitor, str) or not monitor:
        raise ValueError(f"monitor must be a metric name such as 'val_loss', got {monitor!r}.")
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
        raise ValueError(f"values must be a list of numbers (or None for a missing value), got {values!r}.")
    logs = [{} if value is None else {monitor: value} for value in values]
    return _validated_logs(logs)


_scripted_models = {}


def _build_scripted_model(metrics, learning_rate):
    """A tiny seeded classifier compiled with SGD, its compiled metrics built (so mode='auto' can look them up)."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input(shape=(_MODEL_INPUT_FEATURES,)), keras.layers.Dense(_MODEL_CLASSES, activation="softmax")]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=metrics,
    )
    if metrics:
        # Compiled metrics are built lazily, on the first batch fit() sees; build them now.
        features = keras.ops.zeros((2, _MODEL_INPUT_FEATURES), dtype="float32")
        labels = keras.ops.zeros((2,), dtype="int32")
        model.compute_metrics(features, labels, model(features))
    return model


def _scripted_model(kind, metrics, learning_rate):
    """A fresh-state scripted model: cached per probe kind and metrics (building one costs ~0.1 s), reset on reuse.

    A model whose optimizer, weights or learning rate a previous callback left in a state that cannot be
    reset is replaced by a new one, so one check never affects another.
    """
    import keras

    key = (kind, tuple(metrics))
    model = _scripted_models.pop(key, None)
    if model is not None:
        try:
            # The class SGD() makes on this backend (on torch a backend subclass of keras.optimizers.SGD).
            if type(model.optimizer) is not type(keras.optimizers.SGD()) or len(model.get_weights()) != 2:
                raise ValueError("the cached model was modified")
            model.optimizer.learning_rate = learning_rate
            if not np.isclose(_learning_rate(model), learning_rate, rtol=1e-7, atol=0.0):
                raise ValueError("the learning rate could not be reset")
        except Exception:  # anything odd: build a new model rather than reuse a damaged one
            model = None
    if model is None:
        model = _build_scripted_model(metrics, learning_rate)
    model.stop_training = False
    _scripted_models[key] = model
    return model


def _set_marker(model, marker):
    """Set every weight of the model to the same number (the epoch marker)."""
    model.set_weights([np.full(weight.shape, marker, dtype=weight.dtype) for weight in model.get_weights()])


def _weights_epoch(model):
    """Which epoch's weights the model holds: marker - 1 (-1 means the weights from before training)."""
    values = np.concatenate([np.ravel(weight) for weight in model.get_weights()])
    if not np.all(values == values[0]):
        return "mixed weights (not the weights of a single epoch)"
    return int(round(float(values[0]))) - 1


def _learning_rate(model):
    import keras

    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


def _as_number(value):
    """A monitored value (float, numpy or backend scalar) as a Python float; None stays None."""
    if value is None:
        return None
    return float(np.asarray(value, dtype=np.float64).reshape(()))


def _drive(callback, model, logs, monitor):
    """One scripted fit(): returns what happened, epoch by epoch."""
    model.stop_training = False
    callback.set_params({"verbose": 0, "epochs": len(logs), "steps": 1})
    callback.on_train_begin(logs=None)
    epochs_run = 0
    warning_epochs = []
    learning_rates = []
    for epoch, epoch_logs in enumerate(logs):
        callback.on_epoch_begin(epoch, logs=None)
        _set_marker(model, epoch + 1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            callback.on_epoch_end(epoch, logs=dict(epoch_logs))
        if any(
            monitor in str(warning.message) and not issubclass(warning.category, DeprecationWarning)
            for warning in caught
        ):
            warning_epochs.append(epoch)
        epochs_run += 1
        learning_rates.append(_learning_rate(model))
        if model.stop_training:
            break
    callback.on_train_end(logs=dict(logs[epochs_run - 1]))
    return {
        "epochs_run": epochs_run,
        "stopped_epoch": getattr(callback, "stopped_epoch", None),
        "final_weights_epoch": _weights_epoch(model),
        "best": _as_number(getattr(callback, "best", None)),
        "warning_epochs": warning_epochs,
        "learning_rates": learning_rates,
    }


def _scripted_runs(callback_class, callback_arguments, logs, metrics, runs, learning_rate, keys):
    """Run one callback instance through `runs` scripted fit() calls and keep the keys asked for."""
    callback_arguments = validation.keyword_arguments(callback_arguments, "callback_arguments")
    logs = _validated_logs(logs)
    metrics = _validated_metrics(metrics)
    runs = _validated_runs(runs)
    if not isinstance(learning_rate, numbers.Real) or not learning_rate > 0:
        raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}.")
    monitor = callback_arguments.get("monitor", "val_loss")
    model = _scripted_model(keys, metrics, float(learning_rate))
    callback = callback_class(**callback_arguments)
    callback.set_model(model)
    _set_marker(model, 0)
    results = [_drive(callback, model, logs, monitor) for _ in range(runs)]
    outputs = {}
    for key in keys:
        values = [result[key] for result in results]
        if runs == 1:
            outputs[key] = values[0]
        elif key == "best":
            outputs[key] = [np.nan if value is None else value for value in values]
        else:
            outputs[key] = values
    if runs > 1 and "warning_epochs" in outputs:
        # Lists of different lengths do not make an array: count the warnings of each run instead.
        outputs["warning_epochs"] = [len(value) for value in outputs["warning_epochs"]]
    return outputs


def early_stopping_run(callback_class, callback_arguments=None, logs=(), metrics=None, runs=1):
    """Scripted training with an EarlyStopping-like class: epochs run, stopped_epoch, final weights, best, warnings.

    `logs` is the list of per-epoch logs; `metrics` are compiled into the model (e.g. ["accuracy"]
    so that mode="auto" can resolve "val_accuracy"); `runs` > 1 reuses the same instance for
    several fit() calls (on_train_begin must reset its state) and returns one value per run.
    Outputs: epochs_run, stopped_epoch, final_weights_epoch (-1 = weights from before training),
    best, warning_epochs (epochs whose on_epoch_end warned about a missing monitor).
    """
    validation.require_class(callback_class, "EarlyStopping")
    keys = ("epochs_run", "stopped_epoch", "final_weights_epoch", "best", "warning_epochs")
    return _scripted_runs(callback_class, callback_arguments, logs, metrics, runs, 0.1, keys)


def reduce_lr_run(callback_class, callback_arguments=None, logs=(), metrics=None, runs=1, learning_rate=0.1):
    """Scripted training with a ReduceLROnPlateau-like class: the learning rate after every epoch, best, warnings.

    The model is compiled with SGD(learning_rate); `learning_rates[i]` is the optimizer's learning
    rate after on_epoch_end(i). With `runs` > 1 the same instance and model are reused, so the
    learning rate carries over while on_train_begin resets the callback's counters.
    """
    validation.require_class(callback_class, "ReduceLROnPlateau")
    keys = ("learning_rates", "best", "warning_epochs")
    return _scripted_runs(callback_class, callback_arguments, logs, metrics, runs, learning_rate, keys)


# ---------------------------------------------------------------------------
# Schedules.


def branching_on_the_step_is_detected():
    """Whether schedule probes on the current backend fail a schedule that branches in Python on the step tensor.

    True on TensorFlow and JAX (schedules run compiled, as in their train steps); False on torch and
    numpy, where Keras's train steps, and so these probes, run eagerly and such a schedule works.
    """
    import keras

    return keras.backend.backend() in ("tensorflow", "jax")


def _compiled(function):
    """`function(step)` compiled like a train step of the current backend (eager for numpy/torch, see
    branching_on_the_step_is_detected)."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow

        # No autograph: a Python `if` on the step tensor must fail, as it does for graph code.
        compiled = tensorflow.function(
            function, autograph=False, input_signature=[tensorflow.TensorSpec([], tensorflow.int64)]
        )
        return lambda step: compiled(tensorflow.constant(step, dtype=tensorflow.int64))
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        compiled = jax.jit(function)
        return lambda step: compiled(jnp.asarray(step, dtype=jnp.int32))
    return lambda step: function(keras.ops.convert_to_tensor(step, dtype="int64"))


def evaluate_schedule(schedule, steps):
    """A schedule object's values at integer steps as a float64 array, compiled once (fast enough to plot 1,000 steps)."""
    import keras

    if not callable(schedule):
        raise TypeError(f"expected a learning-rate schedule (a callable), got {type(schedule).__name__}.")
    steps = _validated_steps(steps, max_steps=_MAX_PLOT_STEPS)
    evaluate = _compiled(lambda step: schedule(step))
    values = []
    for step in steps:
        value = np.asarray(keras.ops.convert_to_numpy(evaluate(step)), dtype=np.float64)
        if value.size != 1:
            raise ValueError(f"the schedule must return one number per step, got shape {value.shape} at step {step}.")
        values.append(float(value.reshape(())))
    return np.asarray(values)


def schedule_values(schedule_class, arguments=None, steps=(0,)):
    """A learning-rate schedule's value at each integer step (evaluated compiled) and its get_config()."""
    validation.require_class(schedule_class, "learning-rate schedule")
    arguments = validation.keyword_arguments(arguments, "arguments")
    steps = _validated_steps(steps)
    schedule = schedule_class(**arguments)
    return {"values": evaluate_schedule(schedule, steps), "config": schedule.get_config()}


def component_schedule_spec(kind, start, end=None, steps=1):
    """A JSON-able description of a simple schedule used as a component of a composed-schedule check.

    kind "constant": `start`; "linear": from `start` to `end` in `steps` steps, then `end`; "exponential":
    start * (end / start) ** (step / steps), not clamped; "cosine": half a cosine from `start` to `end` in `steps`
    steps, then `end`. (Keras's own schedules cannot be the components: the grading sandbox disables the
    built-ins a lab asks students to re-implement.)
    """
    if kind not in COMPONENT_KINDS:
        raise ValueError(f"kind must be one of {COMPONENT_KINDS}, got {kind!r}.")
    end = start if end is None else end
    for name, value in (("start", start), ("end", end)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
            raise ValueError(f"{name} must be a non-negative learning rate, got {value!r}.")
        if kind == "exponential" and not value > 0:
            raise ValueError(f"an exponential component needs positive rates, got {name}={value!r}.")
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}.")
    return {"component": kind, "start": float(start), "end": float(end), "steps": int(steps)}


_component_class = []


def component_schedule_class():
    """The registered LearningRateSchedule class that component_schedule_spec dicts describe (made on first use,
    so that importing this module does not load Keras)."""
    if _component_class:
        return _component_class[0]
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="labkit_probes")
    class ComponentSchedule(keras.optimizers.schedules.LearningRateSchedule):
        """A constant, linear, exponential or cosine schedule (see component_schedule_spec)."""

        def __init__(self, component, start, end, steps):
            self.component, self.start, self.end, self.steps = component, start, end, steps

        def __call__(self, step):
            start = ops.convert_to_tensor(self.start, dtype="float32")
            end = ops.convert_to_tensor(self.end, dtype="float32")
            progress = ops.cast(step, "float32") / float(self.steps)
            clamped = ops.minimum(progress, 1.0)
            if self.component == "linear":
                return start + (end - start) * clamped
            if self.component == "exponential":
                return start * ops.power(end / start, progress)
            if self.component == "cosine":
                return end + (start - end) * 0.5 * (1.0 + ops.cos(np.pi * clamped))
            return start + 0.0 * progress

        def get_config(self):
            return {"component": self.component, "start": self.start, "end": self.end, "steps": self.steps}

    _component_class.append(ComponentSchedule)
    return ComponentSchedule


def component_schedule_float64(spec, step):
    """A component schedule's value at an integer step, in float64 (the reference of composed-schedule checks)."""
    spec = component_schedule_spec(spec["component"], spec["start"], spec["end"], spec["steps"])
    start, end, progress = spec["start"], spec["end"], step / spec["steps"]
    clamped = min(progress, 1.0)
    if spec["component"] == "linear":
        return start + (end - start) * clamped
    if spec["component"] == "exponential":
        return start * (end / start) ** progress
    if spec["component"] == "cosine":
        return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * clamped))
    return start


def _is_component_spec(value):
    return isinstance(value, dict) and "component" in value


def _built_arguments(arguments):
    """The arguments with every component_schedule_spec (also inside a list) replaced by the schedule it describes."""

    def build(value):
        if _is_component_spec(value):
            spec = component_schedule_spec(value["component"], value["start"], value["end"], value["steps"])
            return component_schedule_class()(spec["component"], spec["start"], spec["end"], spec["steps"])
        if isinstance(value, (list, tuple)):
            return [build(item) for item in value]
        return value

    return {name: build(value) for name, value in arguments.items()}


def schedule_round_trip(schedule_class, arguments=None, steps=(0,)):
    """A schedule's values at integer steps, and the same after from_config(get_config()) and after a save-style
    round trip (keras.saving serialize, JSON, deserialize without custom_objects: only a registered class comes back).

    `arguments` may hold component_schedule_spec dicts (alone or in lists), built into schedules first.
    `round_trip_error` is None when every stage worked, else what went wrong first.
    """
    import keras

    validation.require_class(schedule_class, "learning-rate schedule")
    arguments = validation.keyword_arguments(arguments, "arguments")
    steps = _validated_steps(steps)
    schedule = schedule_class(**_built_arguments(arguments))
    outputs = {
        "values": evaluate_schedule(schedule, steps),
        "values_from_config": np.full(len(steps), np.nan),
        "values_deserialized": np.full(len(steps), np.nan),
        "deserialized_same_class": False,
        "round_trip_error": None,
    }
    try:
        config = json.loads(json.dumps(schedule.get_config()))
    except (TypeError, ValueError) as error:
        outputs["round_trip_error"] = (
            "get_config() must return JSON-serializable values (numbers, strings, lists, dicts); serialize nested "
            f"schedules with keras.optimizers.schedules.serialize ({type(error).__name__}: {error})"
        )
        return outputs
    try:
        outputs["values_from_config"] = evaluate_schedule(schedule_class.from_config(config), steps)
    except Exception as error:  # a student's from_config may fail in any way: report it as the check's outcome
        outputs["round_trip_error"] = f"from_config(get_config()) failed: {type(error).__name__}: {error}"
        return outputs
    try:
        serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(schedule)))
        rebuilt = keras.saving.deserialize_keras_object(serialized)
        outputs["values_deserialized"] = evaluate_schedule(rebuilt, steps)
        outputs["deserialized_same_class"] = type(rebuilt) is schedule_class
    except Exception as error:  # as above: the outcome, not a crash of the grader
        outputs["round_trip_error"] = (
            "keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule)) failed "
            f"(is the class registered with @keras.saving.register_keras_serializable?): {type(error).__name__}: {error}"
        )
    return outputs


# ---------------------------------------------------------------------------
# Check factories.


def early_stopping_matches_keras(description, callback_arguments, logs, *, metrics=None, runs=1,
                                 target="EarlyStopping", hint=""):
    """A Check: the student's EarlyStopping behaves like keras.callbacks.EarlyStopping on scripted epoch logs."""
    arguments = {
        "callback_arguments": validation.keyword_arguments(callback_arguments, "callback_arguments"),
        "logs": _validated_logs(logs),
        "metrics": _validated_metrics(metrics),
        "runs": _validated_runs(runs),
    }
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.early_stopping_run",
        target=target,
        arguments=arguments,
        # Keras 3.15's behaviour whatever Keras is installed (3.11 keeps `best` across fit() calls).
        reference="labkit.keras_references.EarlyStopping",
        rtol=CALLBACK_RTOL,
        atol=CALLBACK_ATOL,
        hint=hint,
    )


def reduce_lr_matches_keras(description, callback_arguments, logs, *, metrics=None, runs=1, learning_rate=0.1,
                            target="ReduceLROnPlateau", hint=""):
    """A Check: the student's ReduceLROnPlateau sets the same learning rates as keras.callbacks.ReduceLROnPlateau."""
    if not isinstance(learning_rate, numbers.Real) or not learning_rate > 0:
        raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}.")
    arguments = {
        "callback_arguments": validation.keyword_arguments(callback_arguments, "callback_arguments"),
        "logs": _validated_logs(logs),
        "metrics": _validated_metrics(metrics),
        "runs": _validated_runs(runs),
        "learning_rate": float(learning_rate),
    }
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.reduce_lr_run",
        target=target,
        arguments=arguments,
        # Keras 3.15's behaviour whatever Keras is installed (3.11 keeps `best` across fit() calls).
        reference="labkit.keras_references.ReduceLROnPlateau",
        rtol=CALLBACK_RTOL,
        atol=CALLBACK_ATOL,
        hint=hint,
    )


def _schedule_atol(peak_learning_rate):
    if not isinstance(peak_learning_rate, numbers.Real) or not peak_learning_rate > 0:
        raise ValueError(
            f"peak_learning_rate (the largest value the schedule takes) must be a positive number, "
            f"got {peak_learning_rate!r}."
        )
    return SCHEDULE_ATOL_FRACTION_OF_PEAK * float(peak_learning_rate)


def schedule_matches_keras(description, target, reference, arguments, steps, *, peak_learning_rate, hint=""):
    """A Check: the student's schedule gives the Keras schedule's values (and config) at the given steps."""
    if not isinstance(reference, str) or not reference.startswith("keras.optimizers.schedules."):
        raise ValueError(f"reference must name a Keras schedule such as "
                         f"'keras.optimizers.schedules.ExponentialDecay', got {reference!r}.")
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.schedule_values",
        target=target,
        arguments={"arguments": validation.keyword_arguments(arguments, "arguments"), "steps": _validated_steps(steps)},
        reference=reference,
        rtol=SCHEDULE_RTOL,
        atol=_schedule_atol(peak_learning_rate),
        hint=hint,
    )


def schedule_matches_values(description, target, arguments, steps, values, config, *, peak_learning_rate, hint=""):
    """A Check against literal values (a float64 closed form computed by the instructor) and a literal config."""
    steps = _validated_steps(steps)
    values = [float(value) for value in values]
    if len(values) != len(steps):
        raise ValueError(f"give one expected value per step: {len(steps)} steps but {len(values)} values.")
    if not isinstance(config, dict):
        raise ValueError(f"config must be the expected get_config() dict, got {config!r}.")
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.schedule_values",
        target=target,
        arguments={"arguments": validation.keyword_arguments(arguments, "arguments"), "steps": steps},
        expected={"values": values, "config": dict(config)},
        rtol=SCHEDULE_RTOL,
        atol=_schedule_atol(peak_learning_rate),
        hint=hint,
    )


def schedule_round_trip_matches_values(description, target, arguments, steps, values, *, peak_learning_rate, hint=""):
    """A Check against literal float64 values that must also hold after from_config(get_config()) and after
    keras.saving's serialize/deserialize (the class registered, nested schedules serialized)."""
    steps = _validated_steps(steps)
    values = [float(value) for value in values]
    if len(values) != len(steps):
        raise ValueError(f"give one expected value per step: {len(steps)} steps but {len(values)} values.")
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.schedule_round_trip",
        target=target,
        arguments={"arguments": validation.keyword_arguments(arguments, "arguments"), "steps": steps},
        expected={
            "values": values,
            "values_from_config": values,
            "values_deserialized": values,
            "deserialized_same_class": True,
            "round_trip_error": None,
        },
        rtol=SCHEDULE_RTOL,
        atol=_schedule_atol(peak_learning_rate),
        hint=hint,
    )
