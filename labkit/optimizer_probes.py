"""Probes and check factories for Lab 05 (optimizers).

A probe runs an optimizer class (or a clipping function) on seeded inputs and returns what
it did as a small dict of numbers, so the same probe can run on a student's class in a
sandbox and on the Keras built-in in a trusted process. The check factories at the end
build the `labkit.checks.Check` objects that the lab's test cells list.

Keras is imported inside the functions only: the grader imports this module to collect
checks in a process that must not load TensorFlow.
"""

import inspect
import numbers

import numpy as np

from labkit import checks, precision

PROBE_MODULE = "labkit.optimizer_probes"
# Two variables share a shape: per-variable state that is really per shape (slots looked up or keyed by
# shape, one moment tensor reused for every variable of that shape) then mixes their updates.
DEFAULT_SHAPES = ((3,), (2, 2), (3,))
# Every probe variable has the same name, as every Dense kernel is called "kernel": state keyed by
# variable.name instead of by variable is shared too.
PROBE_VARIABLE_NAME = "probe_variable"
CLIP_METHODS = {"value": "clipvalue", "norm": "clipnorm", "global_norm": "global_clipnorm"}

# The Keras test protocol of `test_correctness_with_golden` (keras/src/optimizers/*_test.py):
# x starts at ones(10); one step with gradients full(0.01), then steps with arange(0.1, 1.1, 0.1);
# the golden rows are x after each of the first five steps, compared with rtol = atol = 5e-4.
GOLDEN_INITIAL_VALUES = [1.0] * 10
GOLDEN_GRADIENTS = [[0.01] * 10] + [[round(0.1 * (index + 1), 1) for index in range(10)]] * 4
GOLDEN_TOLERANCE = 5e-4


def _tiled(column):
    return [[value] * 10 for value in column]


# Published golden values, copied from `test_correctness_with_golden` in Keras 3.15's
# keras/src/optimizers/<file> (rows: x after steps 1..5 of the protocol above).
KERAS_GOLDEN = {
    "sgd": {
        "source": "sgd_test.py",
        "constructor_arguments": {"nesterov": True},  # momentum 0, so this is plain SGD with lr 0.01
        "values": [
            [0.9999] * 10,
            [0.9989, 0.9979, 0.9969, 0.9959, 0.9949, 0.9939, 0.9929, 0.9919, 0.9909, 0.9899],
            [0.9979, 0.9959, 0.9939, 0.9919, 0.9899, 0.9879, 0.9859, 0.9839, 0.9819, 0.9799],
            [0.9969, 0.9939, 0.9909, 0.9879, 0.9849, 0.9819, 0.9789, 0.9759, 0.9729, 0.9699],
            [0.9959, 0.9919, 0.9879, 0.9839, 0.9799, 0.9759, 0.9719, 0.9679, 0.9639, 0.9599],
        ],
    },
    "adagrad": {
        "source": "adagrad_test.py",
        "constructor_arguments": {"learning_rate": 0.2, "initial_accumulator_value": 0.3, "epsilon": 1e-6},
        "values": [
            [0.9963] * 10,
            [0.9604, 0.9278, 0.9003, 0.8784, 0.8615, 0.8487, 0.8388, 0.8313, 0.8255, 0.8209],
            [0.9251, 0.8629, 0.8137, 0.7768, 0.7497, 0.7298, 0.7151, 0.704, 0.6956, 0.6891],
            [0.8903, 0.8012, 0.7342, 0.6862, 0.6521, 0.6277, 0.6099, 0.5967, 0.5867, 0.579],
            [0.856, 0.7422, 0.6604, 0.6037, 0.5644, 0.5367, 0.5168, 0.5021, 0.491, 0.4825],
        ],
    },
    "rmsprop_centered": {
        "source": "rmsprop_test.py",
        "constructor_arguments": {"centered": True},
        "values": _tiled([0.9967, 0.9933, 0.9908, 0.9885, 0.9864]),
    },
    "adadelta": {
        "source": "adadelta_test.py",
        "constructor_arguments": {"learning_rate": 1.0, "rho": 0.8, "epsilon": 1e-6},
        "values": _tiled([0.9978, 0.9947, 0.9915, 0.9882, 0.9849]),
    },
    "adam_amsgrad": {
        "source": "adam_test.py",
        "constructor_arguments": {"amsgrad": True},
        "values": _tiled([0.999, 0.9982, 0.9974, 0.9965, 0.9955]),
    },
    "adamw": {
        "source": "adamw_test.py",
        "constructor_arguments": {"learning_rate": 1.0, "weight_decay": 0.5, "epsilon": 2},
        "values": [
            [0.4998] * 10,
            [0.2486, 0.2475, 0.2463, 0.2451, 0.244, 0.2428, 0.2417, 0.2405, 0.2394, 0.2382],
            [0.1223, 0.1198, 0.1174, 0.1149, 0.1124, 0.11, 0.1075, 0.1051, 0.1027, 0.1003],
            [0.0586, 0.0549, 0.0512, 0.0475, 0.0439, 0.0402, 0.0366, 0.033, 0.0294, 0.0258],
            [0.0263, 0.0215, 0.0167, 0.012, 0.0073, 0.0026, -0.0021, -0.0067, -0.0113, -0.0159],
        ],
    },
}

# Tolerances. Optimizer updates are elementwise float32 arithmetic (no matmul, so TF32 on GPUs
# does not apply). Two correct, algebraically equivalent updates differ by a few float32 ulps
# of the update; after `variable -= update` the stored float32 variable can differ by one ulp of
# the *variable* (2**-24 * |variable|) per step. Displacements (variable_t - variable_0) are
# therefore compared with rtol = 1e-5 plus an atol of 8 ulps of the largest starting value per
# step (see _displacement_atol); wrong updates differ by 1e-3 relative or (much) more.
FLOAT32_ULP = 2.0**-24
TRAJECTORY_RTOL = 1e-5
# model.fit puts matmuls and nonlinearities between the updates, so ulp-level differences between two
# correct optimizers grow a little over the steps: weight changes are compared with rtol 1e-4. TF32
# (GPU matmuls with 10-bit mantissas) is switched off while the probe trains (labkit.precision.full_precision_matmuls):
# a one-ulp weight difference could otherwise flip a TF32 rounding and cost ~1e-3 relative.
FIT_RTOL = 1e-4
FIT_ATOL = 1e-6
# Hand-computed literal values are float64; the optimizer runs in float32 on values of size ~1.
LITERAL_RTOL = 1e-5
LITERAL_ATOL = 1e-6
# Clipping multiplies each gradient by one float32 factor: a few ulps of relative error.
CLIP_RTOL = 1e-5
CLIP_ATOL = 1e-7


# ---------------------------------------------------------------------------
# Argument validation (probes get their arguments from test cells; say clearly what is wrong).


def _checked_optimizer_class(optimizer_class):
    if not inspect.isclass(optimizer_class):
        raise ValueError(
            f"Expected an optimizer class such as keras.optimizers.Adam, got {optimizer_class!r}."
        )
    return optimizer_class


def _checked_arguments(constructor_arguments):
    if constructor_arguments is None:
        return {}
    if not isinstance(constructor_arguments, dict):
        raise ValueError(
            "constructor_arguments must be a dict of keyword arguments such as "
            f"{{'learning_rate': 0.01}}, got {constructor_arguments!r}."
        )
    return dict(constructor_arguments)


def _checked_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def _checked_positive_float(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}.")
    return float(value)


def _checked_shapes(shapes):
    if not isinstance(shapes, (list, tuple)) or not shapes:
        raise ValueError(f"shapes must be a non-empty list of variable shapes such as [[3], [2, 2]], got {shapes!r}.")
    checked = []
    for shape in shapes:
        if not isinstance(shape, (list, tuple)) or not shape or any(
            isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1 for size in shape
        ):
            raise ValueError(f"each shape must be a non-empty list of positive sizes, got {shape!r}.")
        checked.append(tuple(int(size) for size in shape))
    return checked


def _checked_float_rows(name, rows, length=None):
    """A list of equal-length lists of numbers, as a float64 array of shape (rows, length)."""
    try:
        array = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a list of lists of numbers, got {rows!r}.") from None
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"{name} must be a non-empty list of equal-length lists of numbers, got {rows!r}.")
    if length is not None and array.shape[1] != length:
        raise ValueError(f"each row of {name} must have {length} numbers, got {array.shape[1]}.")
    return array


def _make_optimizer(optimizer_class, constructor_arguments, schedule=None):
    """Instantiate the optimizer, optionally with an ExponentialDecay learning-rate schedule."""
    import keras

    arguments = _checked_arguments(constructor_arguments)
    if schedule is not None:
        if not isinstance(schedule, dict):
            raise ValueError(
                "schedule must be the keyword arguments of keras.optimizers.schedules.ExponentialDecay, "
                f"e.g. {{'initial_learning_rate': 0.1, 'decay_steps': 1, 'decay_rate': 0.5}}, got {schedule!r}."
            )
        arguments["learning_rate"] = keras.optimizers.schedules.ExponentialDecay(**schedule)
    return _checked_optimizer_class(optimizer_class)(**arguments)


def _config_without_name(optimizer):
    config = dict(optimizer.get_config())
    config.pop("name", None)
    return config


# ---------------------------------------------------------------------------
# Probes: each is called as probe(target, **arguments) and returns a dict.


def seeded_problem(seed=0, steps=5, shapes=DEFAULT_SHAPES, gradient_scale=1.0, variable_scale=1.0):
    """Seeded starting values (uniform in ±variable_scale) and per-step normal gradients (× gradient_scale)."""
    steps = _checked_positive_int("steps", steps)
    shapes = _checked_shapes(shapes)
    gradient_scale = _checked_positive_float("gradient_scale", gradient_scale)
    variable_scale = _checked_positive_float("variable_scale", variable_scale)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    random = np.random.RandomState(int(seed))
    initial_values = [
        (random.uniform(-1.0, 1.0, size=shape) * variable_scale).astype("float32") for shape in shapes
    ]
    gradients = [
        [(random.normal(size=shape) * gradient_scale).astype("float32") for shape in shapes]
        for _ in range(steps)
    ]
    return initial_values, gradients


def trajectory(
    optimizer_class,
    constructor_arguments=None,
    seed=0,
    steps=5,
    shapes=DEFAULT_SHAPES,
    gradient_scale=1.0,
    variable_scale=1.0,
    schedule=None,
):
    """Apply seeded gradients for several steps; return every variable's displacement after each step.

    Output "displacements" has shape (steps, total number of elements): row t is
    variable_{t+1} - variable_0 for all variables, flattened and concatenated.
    """
    initial_values, gradients = seeded_problem(seed, steps, shapes, gradient_scale, variable_scale)
    optimizer = _make_optimizer(optimizer_class, constructor_arguments, schedule)
    return {"displacements": _displacements(optimizer, initial_values, gradients)}


def _probe_variables(initial_values):
    """Fresh float32 variables holding the starting values, all with the same name (see PROBE_VARIABLE_NAME)."""
    import keras

    return [keras.Variable(value, dtype="float32", name=PROBE_VARIABLE_NAME) for value in initial_values]


def _displacements(optimizer, initial_values, gradients):
    """Run the optimizer on fresh float32 variables; row t is (variables after step t+1) - (start)."""
    import keras

    variables = _probe_variables(initial_values)
    start = np.concatenate([value.ravel() for value in initial_values]).astype(np.float64)
    rows = []
    for step_gradients in gradients:
        tensors = [keras.ops.convert_to_tensor(gradient) for gradient in step_gradients]
        optimizer.apply_gradients(zip(tensors, variables))
        now = np.concatenate([np.asarray(keras.ops.convert_to_numpy(variable)).ravel() for variable in variables])
        rows.append(now.astype(np.float64) - start)
    return np.stack(rows)


def trajectory_with_exclusions(optimizer_class, constructor_arguments=None, seed=0, steps=4, names=(),
                               excluded_names=(), excluded_indices=()):
    """trajectory() after `optimizer.exclude_from_weight_decay(var_list=..., var_names=...)`.

    Variable i is named names[i] (PROBE_VARIABLE_NAME past the list's end); excluded_names are the patterns
    passed as var_names, excluded_indices pick the variables passed as var_list.
    """
    import keras

    steps = _checked_positive_int("steps", steps)
    initial_values, gradients = seeded_problem(seed, steps, DEFAULT_SHAPES)
    names = [str(name) for name in names] + [PROBE_VARIABLE_NAME] * max(0, len(initial_values) - len(names))
    for index in excluded_indices:
        if isinstance(index, bool) or not isinstance(index, numbers.Integral) or not 0 <= index < len(initial_values):
            raise ValueError(f"excluded_indices must index the {len(initial_values)} probe variables, got {index!r}.")
    variables = [keras.Variable(value, dtype="float32", name=name) for value, name in zip(initial_values, names)]
    optimizer = _make_optimizer(optimizer_class, constructor_arguments)
    optimizer.exclude_from_weight_decay(var_list=[variables[index] for index in excluded_indices] or None,
                                        var_names=[str(name) for name in excluded_names] or None)
    start = np.concatenate([value.ravel() for value in initial_values]).astype(np.float64)
    rows = []
    for step_gradients in gradients:
        optimizer.apply_gradients(zip([keras.ops.convert_to_tensor(gradient) for gradient in step_gradients],
                                      variables))
        now = np.concatenate([np.asarray(keras.ops.convert_to_numpy(variable)).ravel() for variable in variables])
        rows.append(now.astype(np.float64) - start)
    return {"displacements": np.stack(rows)}


def literal_steps(optimizer_class, constructor_arguments=None, initial_values=None, gradients=None):
    """Apply the given gradients, one list per step, to one 1-D variable; return its values after each step."""
    import keras

    if initial_values is None or gradients is None:
        raise ValueError("literal_steps needs initial_values (a list of numbers) and gradients (one list per step).")
    start = _checked_float_rows("initial_values", [initial_values])[0]
    gradient_rows = _checked_float_rows("gradients", gradients, length=start.size)
    optimizer = _make_optimizer(optimizer_class, constructor_arguments)
    variable = keras.Variable(start.astype("float32"), dtype="float32", name=PROBE_VARIABLE_NAME)
    values = []
    for row in gradient_rows:
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(row.astype("float32")), variable)])
        values.append(np.asarray(keras.ops.convert_to_numpy(variable), dtype=np.float64))
    return {"values": np.stack(values)}


def update_step_with_zero_gradient(optimizer_class, constructor_arguments=None, seed=0, shapes=DEFAULT_SHAPES):
    """Call the optimizer's own update_step once with all-zero gradients; return how the variables moved.

    With a zero gradient, Adam's step is exactly 0, so what is left is what update_step does by itself,
    e.g. AdamW's decoupled weight decay (which Keras's built-in applies outside update_step, in apply()).
    """
    import keras

    initial_values, _ = seeded_problem(seed, 1, shapes)
    optimizer = _make_optimizer(optimizer_class, constructor_arguments)
    variables = _probe_variables(initial_values)
    optimizer.build(variables)
    for variable in variables:
        optimizer.update_step(keras.ops.zeros(variable.shape, dtype="float32"), variable, optimizer.learning_rate)
    now = np.concatenate([keras.ops.convert_to_numpy(variable).ravel() for variable in variables]).astype(np.float64)
    start = np.concatenate([value.ravel() for value in initial_values]).astype(np.float64)
    return {"displacement": now - start}


def configuration(optimizer_class, constructor_arguments=None):
    """The optimizer's get_config() without 'name', plus its sorted keys as one string."""
    config = _config_without_name(_make_optimizer(optimizer_class, constructor_arguments))
    return {"keys": ", ".join(sorted(config)), "config": config}


def _is_default_name(optimizer_class, default):
    """Whether a `name` default is the incidental one: None (Keras 3.15) or the class's name (Keras 3.11: "SGD", "adam")."""
    return default is None or (isinstance(default, str) and default.lower() == optimizer_class.__name__.lower())


def constructor_signature(optimizer_class):
    """The constructor's parameters with their defaults, as one string (the drop-in contract).

    The default of `name` is incidental and changed between Keras versions (None in 3.15, "SGD" or "adam" in 3.11):
    None and the class's own name, in any case, both read as `name=None`, so the reference does not depend on the
    installed Keras.
    """
    optimizer_class = _checked_optimizer_class(optimizer_class)
    parameters = inspect.signature(optimizer_class.__init__).parameters
    described = []
    for name, parameter in parameters.items():
        if name == "self":
            continue
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            described.append(f"**{name}")
        elif parameter.default is inspect.Parameter.empty:
            described.append(name)
        elif name == "name" and _is_default_name(optimizer_class, parameter.default):
            described.append("name=None")
        else:
            described.append(f"{name}={parameter.default!r}")
    return {"signature": ", ".join(described)}


def config_round_trip(optimizer_class, constructor_arguments=None, seed=0, steps=3):
    """Rebuild the optimizer with from_config(get_config()) and check it is the same optimizer.

    Returns whether the class and config survive the trip, and the rebuilt optimizer's displacements
    on a short seeded problem (so a config that loses a hyperparameter shows up as different updates).
    """
    original = _make_optimizer(optimizer_class, constructor_arguments)
    config = original.get_config()
    rebuilt = optimizer_class.from_config(dict(config))
    rebuilt_config = rebuilt.get_config()
    outputs = {
        # The class the constructor itself makes: on torch, keras.optimizers.RMSprop() is a backend subclass
        # (keras.src.backend.torch.optimizers.torch_rmsprop.RMSprop), and so is what from_config makes.
        "same_class": type(rebuilt) is type(original) and isinstance(rebuilt, optimizer_class),
        "same_config": _config_without_name(original) == {k: v for k, v in rebuilt_config.items() if k != "name"},
    }
    initial_values, gradients = seeded_problem(seed, steps)
    outputs["displacements"] = _displacements(rebuilt, initial_values, gradients)
    return outputs


def fit_weights(
    optimizer_class, constructor_arguments=None, seed=0, epochs=2, samples=32, batch_size=8, jit_compile=True
):
    """Train a tiny seeded regression MLP with model.fit; return how much each weight moved.

    The train step always runs as a compiled graph; with jit_compile=True (TensorFlow and JAX) it is
    also XLA-compiled, as Keras does by default on GPUs. So the update must be traceable and
    XLA-compatible: keras.ops and self.assign*, no .numpy(), no Python branching on tensor values.
    """
    import keras

    epochs = _checked_positive_int("epochs", epochs)
    samples = _checked_positive_int("samples", samples)
    batch_size = _checked_positive_int("batch_size", batch_size)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    random = np.random.RandomState(seed)
    inputs = random.normal(size=(samples, 5)).astype("float32")
    targets = np.stack([np.sin(inputs[:, 0]) + inputs[:, 1] * inputs[:, 2], inputs[:, 3] - inputs[:, 4]], axis=1)
    targets = (targets + 0.1 * random.normal(size=targets.shape)).astype("float32")
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input(shape=(5,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(2)]
    )
    start = [np.asarray(keras.ops.convert_to_numpy(weight), dtype=np.float64) for weight in model.weights]
    optimizer = _make_optimizer(optimizer_class, constructor_arguments)
    # XLA costs ~0.6 s more per fit than a plain graph; torch's jit_compile (torch.compile) is skipped.
    use_xla = bool(jit_compile) and keras.backend.backend() != "torch"
    model.compile(optimizer=optimizer, loss="mean_squared_error", jit_compile=use_xla)
    with precision.full_precision_matmuls():
        model.fit(inputs, targets, epochs=epochs, batch_size=batch_size, shuffle=False, verbose=0)
    changes = [
        np.asarray(keras.ops.convert_to_numpy(weight), dtype=np.float64).ravel() - before.ravel()
        for weight, before in zip(model.weights, start)
    ]
    return {"weight_changes": np.concatenate(changes)}


def _clip_with_optimizer(optimizer_class, method, clip_value, gradients):
    """What an optimizer's own clipping does: SGD(learning_rate=1.0, clip...) from zero variables moves by -clipped."""
    import keras

    optimizer = optimizer_class(learning_rate=1.0, **{CLIP_METHODS[method]: clip_value})
    variables = [keras.Variable(np.zeros(g.shape, "float32"), dtype="float32") for g in gradients]
    optimizer.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in gradients], variables))
    # 0 - 1.0 * clipped is exact in float32, so this recovers the clipped gradients exactly.
    return [-np.asarray(keras.ops.convert_to_numpy(variable)) for variable in variables]


def clipped(clip_function, method="norm", clip_value=1.0, seed=0, shapes=DEFAULT_SHAPES, gradient_scale=1.0, gradients=None):
    """Clip seeded (or given) gradients; return them flattened and concatenated, plus their shapes.

    `clip_function` is either a function `f(gradients, clip_value)` returning a list of tensors,
    or an optimizer class: then its own `clipvalue` / `clipnorm` / `global_clipnorm` (chosen by
    `method`) is used, by applying the gradients with learning_rate=1.0 to zero variables.
    """
    import keras

    if method not in CLIP_METHODS:
        raise ValueError(f"method must be one of {sorted(CLIP_METHODS)}, got {method!r}.")
    clip_value = _checked_positive_float("clip_value", clip_value)
    if gradients is None:
        _, seeded = seeded_problem(seed, 1, shapes, gradient_scale)
        arrays = seeded[0]
    else:
        if not isinstance(gradients, (list, tuple)) or not gradients:
            raise ValueError(f"gradients must be a non-empty list of (nested) lists of numbers, got {gradients!r}.")
        arrays = [np.asarray(gradient, dtype="float32") for gradient in gradients]
    if inspect.isclass(clip_function):
        results = _clip_with_optimizer(clip_function, method, clip_value, arrays)
    elif callable(clip_function):
        results = clip_function([keras.ops.convert_to_tensor(array) for array in arrays], clip_value)
        results = [np.asarray(keras.ops.convert_to_numpy(result)) for result in results]
    else:
        raise ValueError(f"Expected a clipping function or an optimizer class, got {clip_function!r}.")
    return {
        "shapes": "; ".join(str(tuple(int(size) for size in np.shape(result))) for result in results),
        "clipped": np.concatenate([np.asarray(result, dtype=np.float64).ravel() for result in results]),
    }


# ---------------------------------------------------------------------------
# Check factories (used by the test cells).


def _displacement_atol(variable_scale, steps):
    """Absolute tolerance for displacements: 8 float32 ulps of the largest starting value, per step."""
    return 8 * FLOAT32_ULP * max(float(variable_scale), 1.0) * steps


def _describe_arguments(constructor_arguments):
    if not constructor_arguments:
        return "default arguments"
    return ", ".join(f"{key}={value!r}" for key, value in constructor_arguments.items())


def matches_keras(
    target,
    reference,
    constructor_arguments=None,
    seed=0,
    steps=5,
    shapes=DEFAULT_SHAPES,
    gradient_scale=1.0,
    variable_scale=1.0,
    schedule=None,
    description=None,
    hint="",
):
    """Check: the target's displacements over several seeded steps equal the Keras built-in's."""
    steps = _checked_positive_int("steps", steps)
    arguments = {
        "constructor_arguments": _checked_arguments(constructor_arguments),
        "seed": seed,
        "steps": steps,
        "shapes": [list(shape) for shape in _checked_shapes(shapes)],
        "gradient_scale": _checked_positive_float("gradient_scale", gradient_scale),
        "variable_scale": _checked_positive_float("variable_scale", variable_scale),
        "schedule": schedule,
    }
    if description is None:
        description = f"{target}({_describe_arguments(constructor_arguments)}) matches {reference} over {steps} steps"
    return checks.Check(
        description=description,
        probe=f"{PROBE_MODULE}.trajectory",
        target=target,
        arguments=arguments,
        reference=reference,
        rtol=TRAJECTORY_RTOL,
        atol=_displacement_atol(variable_scale, steps),
        hint=hint,
    )


def steps_equal(target, constructor_arguments, initial_values, gradients, expected_values, description, hint=""):
    """Check: applying the given gradients gives the given (hand-computed) values after each step."""
    start = _checked_float_rows("initial_values", [initial_values])[0]
    gradient_rows = _checked_float_rows("gradients", gradients, length=start.size)
    expected = _checked_float_rows("expected_values", expected_values, length=start.size)
    if expected.shape[0] != gradient_rows.shape[0]:
        raise ValueError(
            f"expected_values needs one row per step: {gradient_rows.shape[0]} steps, {expected.shape[0]} rows."
        )
    return checks.Check(
        description=description,
        probe=f"{PROBE_MODULE}.literal_steps",
        target=target,
        arguments={
            "constructor_arguments": _checked_arguments(constructor_arguments),
            "initial_values": start.tolist(),
            "gradients": gradient_rows.tolist(),
        },
        expected={"values": expected.tolist()},
        rtol=LITERAL_RTOL,
        atol=LITERAL_ATOL,
        hint=hint,
    )


def matches_golden(target, golden_name, hint=""):
    """Check: Keras's published `test_correctness_with_golden` values (5 steps, rtol = atol = 5e-4, as Keras)."""
    if golden_name not in KERAS_GOLDEN:
        raise ValueError(f"golden_name must be one of {sorted(KERAS_GOLDEN)}, got {golden_name!r}.")
    golden = KERAS_GOLDEN[golden_name]
    arguments = golden["constructor_arguments"]
    return checks.Check(
        description=f"{target}({_describe_arguments(arguments)}) reproduces Keras's published golden values "
        f"(keras/src/optimizers/{golden['source']})",
        probe=f"{PROBE_MODULE}.literal_steps",
        target=target,
        arguments={
            "constructor_arguments": dict(arguments),
            "initial_values": list(GOLDEN_INITIAL_VALUES),
            "gradients": [list(row) for row in GOLDEN_GRADIENTS],
        },
        expected={"values": np.asarray(golden["values"], dtype=np.float64).tolist()},
        rtol=GOLDEN_TOLERANCE,
        atol=GOLDEN_TOLERANCE,
        hint=hint,
    )


def same_config(target, reference, constructor_arguments=None, hint=""):
    """Check: get_config() (without 'name') has the built-in's keys and values, defaults included."""
    return checks.Check(
        description=f"{target}({_describe_arguments(constructor_arguments)}).get_config() equals {reference}'s",
        probe=f"{PROBE_MODULE}.configuration",
        target=target,
        arguments={"constructor_arguments": _checked_arguments(constructor_arguments)},
        reference=reference,
        hint=hint or "Keep the constructor and get_config from the scaffolding: same keys and defaults as Keras.",
    )


def same_signature(target, reference, hint=""):
    """Check: the constructor takes the built-in's arguments, in its order, with its defaults."""
    return checks.Check(
        description=f"{target}'s constructor arguments and defaults equal {reference}'s",
        probe=f"{PROBE_MODULE}.constructor_signature",
        target=target,
        reference=reference,
        hint=hint or "Keep the constructor from the scaffolding: a drop-in replacement takes the same arguments.",
    )


def survives_config_round_trip(target, reference, constructor_arguments=None, hint=""):
    """Check: from_config(get_config()) rebuilds an optimizer with the same config and the same updates."""
    return checks.Check(
        description=f"{target}.from_config({target}({_describe_arguments(constructor_arguments)}).get_config()) "
        "is the same optimizer",
        probe=f"{PROBE_MODULE}.config_round_trip",
        target=target,
        arguments={"constructor_arguments": _checked_arguments(constructor_arguments)},
        reference=reference,
        rtol=TRAJECTORY_RTOL,
        atol=_displacement_atol(1.0, 3),
        hint=hint or "Every hyperparameter the constructor takes must be stored and returned by get_config.",
    )


def trains_like_keras(target, reference, constructor_arguments=None, seed=0, epochs=2, jit_compile=True, hint=""):
    """Check: model.fit with the target (compiled, XLA by default) moves a tiny model's weights as the built-in does."""
    compiled = "XLA-compiled " if jit_compile else ""
    return checks.Check(
        description=f"{compiled}model.fit with {target}({_describe_arguments(constructor_arguments)}) "
        f"trains a small model like {reference}",
        probe=f"{PROBE_MODULE}.fit_weights",
        target=target,
        arguments={
            "constructor_arguments": _checked_arguments(constructor_arguments),
            "seed": seed,
            "epochs": _checked_positive_int("epochs", epochs),
            "jit_compile": bool(jit_compile),
        },
        reference=reference,
        rtol=FIT_RTOL,
        atol=FIT_ATOL,
        hint=hint or (
            "Inside model.fit the update runs compiled: use keras.ops and self.assign/assign_add/assign_sub, "
            "and no Python `if` on tensor values."
        ),
    )


def decays_in_update_step(target, learning_rate, weight_decay, seed=0, hint=""):
    """Check: update_step itself applies w <- w - learning_rate * weight_decay * w (zero gradient, one call)."""
    initial_values, _ = seeded_problem(seed, 1, DEFAULT_SHAPES)
    start = np.concatenate([value.ravel() for value in initial_values]).astype(np.float64)
    learning_rate = _checked_positive_float("learning_rate", learning_rate)
    weight_decay = _checked_positive_float("weight_decay", weight_decay)
    # The Adam part of a step with a zero gradient is exactly 0 (m = 0), so only the decay moves w.
    expected = -learning_rate * weight_decay * start
    return checks.Check(
        description=f"{target}.update_step applies the decoupled weight decay itself",
        probe=f"{PROBE_MODULE}.update_step_with_zero_gradient",
        target=target,
        arguments={
            "constructor_arguments": {"learning_rate": learning_rate, "weight_decay": weight_decay},
            "seed": seed,
        },
        expected={"displacement": expected.tolist()},
        rtol=TRAJECTORY_RTOL,
        atol=_displacement_atol(1.0, 1),
        hint=hint or (
            "Apply the decay in your update_step: the scaffolding passes weight_decay=None to the base class, "
            "so nothing else decays the weights."
        ),
    )


def honours_weight_decay_exclusions(target, reference, constructor_arguments, names, excluded_names=(),
                                    excluded_indices=(), seed=0, steps=4, hint=""):
    """Check: after exclude_from_weight_decay(var_list=..., var_names=...), the same displacements as Keras's."""
    steps = _checked_positive_int("steps", steps)
    arguments = {
        "constructor_arguments": _checked_arguments(constructor_arguments),
        "seed": seed,
        "steps": steps,
        "names": [str(name) for name in names],
        "excluded_names": [str(name) for name in excluded_names],
        "excluded_indices": [int(index) for index in excluded_indices],
    }
    return checks.Check(
        description=f"{target} skips the weight decay of variables excluded with exclude_from_weight_decay(), "
                    f"as {reference} does",
        probe=f"{PROBE_MODULE}.trajectory_with_exclusions",
        target=target,
        arguments=arguments,
        reference=reference,
        rtol=TRAJECTORY_RTOL,
        atol=_displacement_atol(1.0, steps),
        hint=hint or ("Variables excluded with exclude_from_weight_decay() are not decayed: ask the base class "
                      "with self._use_weight_decay(variable)."),
    )


def clips_like_keras(target, method, clip_value, seed=0, shapes=DEFAULT_SHAPES, gradient_scale=1.0,
                     reference="keras.optimizers.SGD", hint=""):
    """Check: the clipping function equals what Keras's optimizer option (clipvalue/clipnorm/global_clipnorm) does."""
    if method not in CLIP_METHODS:
        _unknown_method(method)
    return checks.Check(
        description=f"{target}(gradients, {clip_value!r}) equals {reference}({CLIP_METHODS[method]}={clip_value!r})'s "
        "clipping",
        probe=f"{PROBE_MODULE}.clipped",
        target=target,
        arguments={
            "method": method,
            "clip_value": _checked_positive_float("clip_value", clip_value),
            "seed": seed,
            "shapes": [list(shape) for shape in _checked_shapes(shapes)],
            "gradient_scale": _checked_positive_float("gradient_scale", gradient_scale),
        },
        reference=reference,
        rtol=CLIP_RTOL,
        atol=CLIP_ATOL,
        hint=hint,
    )


def clips_to(target, method, clip_value, gradients, expected, description, hint=""):
    """Check: clipping the given gradients gives the given (hand-computed) tensors."""
    if method not in CLIP_METHODS:
        _unknown_method(method)
    flat_expected = np.concatenate([np.asarray(item, dtype=np.float64).ravel() for item in expected])
    shapes = "; ".join(str(tuple(np.shape(item))) for item in expected)
    return checks.Check(
        description=description,
        probe=f"{PROBE_MODULE}.clipped",
        target=target,
        arguments={"method": method, "clip_value": _checked_positive_float("clip_value", clip_value),
                   "gradients": [np.asarray(item, dtype=np.float64).tolist() for item in gradients]},
        expected={"shapes": shapes, "clipped": flat_expected.tolist()},
        rtol=CLIP_RTOL,
        atol=CLIP_ATOL,
        hint=hint,
    )


def _unknown_method(method):
    raise ValueError(f"method must be one of {sorted(CLIP_METHODS)}, got {method!r}.")
