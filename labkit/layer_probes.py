"""Probes and check factories for Lab 02: custom layers (Dense, activations, Softmax) and vanishing gradients.

A layer probe builds the student's layer class (or a Keras built-in) from constructor arguments,
gives it seeded weights and seeded inputs, and returns what a user of the layer can observe:
outputs (called directly, in a Sequential model, after a config or ``.keras`` round trip), output
shapes, weight shapes and gradients. Running the same probe on the Keras built-in gives the
reference; a layer without a built-in (Maxout) is compared with literal values.

``gradient_norms`` calls a student's ``layer_gradient_norms(model, images, labels)`` on a tiny
seeded MLP; the expected norms are computed here in float64 NumPy (forward pass and
backpropagation written out), with no Keras involved.

Keras is imported inside the functions only: the autograder imports this module in a process
that must not load TensorFlow. The probes never use the built-ins the lab forbids
(``keras.layers.Dense``, ...), because the grader disables them while student code runs.
"""

import json
import numbers
import os
import tempfile

import numpy as np

from labkit import autodiff, precision, validation
from labkit.checks import Check

PROBE_MODULE = "labkit.layer_probes"
_MAX_ELEMENTS = 4096  # per probe input: outputs stay small
_MAX_LAYERS = 12
_ACTIVATIONS = ("sigmoid", "relu", "tanh", "linear")

# Tolerances.
# Dense: outputs are sums of at most a few dozen float32 products of O(1) values. Two correct
# implementations (ops.matmul, ops.einsum or ops.tensordot; bias added before or after a reshape)
# may sum in a different order, which moves a result by a few float32 ulps of the largest partial
# sum, i.e. below ~1e-6 in absolute terms. TF32 is switched off inside the probes, so GPUs keep
# full float32 matmuls. A missing bias, a wrong activation or transposed weights change outputs by O(1).
DENSE_RTOL = 1e-5
DENSE_ATOL = 1e-6
# Elementwise activations (LeakyReLU, PReLU, Maxout): max/where/relu and one multiplication by the
# slope are exact or correctly rounded in float32, so any correct formulation agrees to ~1 ulp
# (6e-8 relative); rtol=1e-6 leaves room, and a wrong slope or side is off by tens of percent.
ELEMENTWISE_RTOL = 1e-6
ELEMENTWISE_ATOL = 1e-7
# SiLU: x * sigmoid(x) and x / (1 + exp(-x)) differ by at most 5e-7 relative in float32 over
# [-20, 20] (measured); a sigmoid built from tanh loses absolute precision ~1e-7 far in the
# negative tail where values are ~1e-8. A plain sigmoid or a missing factor is off by O(1).
SILU_RTOL = 1e-5
SILU_ATOL = 1e-6
# ReLU6, GELU, Mish (values and input gradients): each is a few float32 operations (maximum/minimum
# are exact; erf, tanh, softplus and exp are correctly rounded to ~1 ulp), so two correct formulations
# (min(max(x, 0), 6) or clip; x / sqrt(2) or x * 0.7071...; softplus or max(x, 0) + log1p(exp(-|x|));
# 0.5 x (1 + tanh(u)) or x sigmoid(2u)) agree to a few ulps in relative terms, except where
# 1 + erf(.) or 1 + tanh(.) cancels (x < -3): there the results are small and the float32 rounding
# of the 1 (6e-8) times |x| and the seeded output weights (|w| < 4) leaves absolute differences up
# to ~2e-6 in the gradients (measured: 1.2e-6 at x = -5 for the sigmoid form of tanh-GELU).
# Hence rtol=1e-5, atol=1e-5. The mistakes are far larger: the tanh approximation is off the exact
# GELU by up to 4.7e-4 in value and 2.6e-3 in gradient, a wrong constant by >1e-2, a one-sided clip by
# |x| for x < 0, and a naive log(1 + exp(x)) in Mish gives NaN gradients past x = 88.
SMOOTH_ACTIVATION_RTOL = 1e-5
SMOOTH_ACTIVATION_ATOL = 1e-5
# Softmax: exp(x - max) / sum and exp(x - logsumexp(x)) (Keras's own form for several axes) are both
# stable, but the second rounds logsumexp to float32's spacing at |x| (6.1e-5 at 1000), so at
# logits of 1000 their probabilities differ by up to 1.3e-5 relative (measured): rtol=1e-4.
# Gradients p * (w - <p, w>) cancel, and backends differentiate in different orders: absolute
# differences up to 3e-7 (measured), so atol=1e-6. Without the max subtraction, logits of 1000 give
# inf/inf = NaN; the wrong axis changes probabilities by O(1).
SOFTMAX_RTOL = 1e-4
SOFTMAX_ATOL = 1e-6
# Gradient norms: the student computes in float32, the reference in float64 from the same
# float32-rounded weights and inputs. Forward and backward passes through a few small layers
# accumulate a few float32 roundings per operation, ~1e-6 relative (measured below 5e-6 for the
# checks' models, including norms as small as 1e-6 in sigmoid stacks, since relative precision
# survives products). rtol=1e-4 leaves headroom; using biases instead of kernels, summing the
# loss over the batch or skipping a layer changes norms by O(1) factors.
GRADIENT_NORM_RTOL = 1e-4
GRADIENT_NORM_ATOL = 0.0


# ---------------------------------------------------------------------------
# Validation helpers.


def _validated_shape(shape, what="input_shape", min_rank=2):
    """A concrete shape (batch size included) as a tuple of positive ints."""
    return validation.shape(shape, what, min_rank, _MAX_ELEMENTS)


def _validated_inputs(inputs):
    """A non-empty list of arrays (nested lists of numbers), each of rank >= 2 (a batch axis first)."""
    if isinstance(inputs, (str, bytes, dict)) or not hasattr(inputs, "__iter__"):
        raise ValueError(f"inputs must be a list of arrays (nested lists of numbers), got {inputs!r}.")
    arrays = []
    for item in inputs:
        try:
            array = np.asarray(item, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"each input must be a rectangular array of numbers, got {item!r}.") from error
        if array.ndim < 2 or array.size == 0 or array.size > _MAX_ELEMENTS:
            raise ValueError(
                f"each input needs a batch axis and at least one feature axis (rank >= 2, at most "
                f"{_MAX_ELEMENTS} numbers), got shape {array.shape}."
            )
        arrays.append(array)
    if not arrays:
        raise ValueError("inputs must contain at least one array.")
    return arrays


def _dense_units(arguments):
    units = arguments.get("units")
    if isinstance(units, bool) or not isinstance(units, numbers.Integral) or units < 1:
        raise ValueError(f"constructor_arguments must give a positive integer `units`, got {units!r}.")
    return int(units)


# ---------------------------------------------------------------------------
# Shared machinery.


def _seeded(shape, seed, scale=1.0):
    """Seeded standard-normal float32 values (times scale): the same on every machine and backend."""
    return (np.random.RandomState(seed).normal(size=shape) * scale).astype("float32")


def _numpy(value):
    """A backend tensor (or anything array-like) as a float64 NumPy array."""
    import keras

    return np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64)


def _shapes_text(variables):
    """Weight shapes as one string, e.g. '(4, 3), (3,)' (a string compares exactly, ragged lists would not)."""
    return ", ".join(str(tuple(int(size) for size in variable.shape)) for variable in variables)


def _gradients_of_weighted_sum(layer, inputs, output_weights):
    """Gradients of sum(layer(inputs) * output_weights) w.r.t. the layer's trainable weights (None if unconnected)."""
    import keras

    inputs = keras.ops.convert_to_tensor(inputs)
    output_weights = keras.ops.convert_to_tensor(output_weights)
    return autodiff.gradients(lambda: keras.ops.sum(keras.ops.multiply(layer(inputs), output_weights)),
                              layer.trainable_weights)


# ---------------------------------------------------------------------------
# Dense probes.


def _dense_weight_values(arguments, input_dim, seed):
    """Seeded kernel (and bias) values in Keras's order: [kernel (input_dim, units), bias (units,)]."""
    units = _dense_units(arguments)
    values = [_seeded((input_dim, units), seed + 101, scale=0.5)]
    if arguments.get("use_bias", True):
        values.append(_seeded((units,), seed + 202))
    return values


def dense_forward(layer_class, constructor_arguments, input_shape, seed=0, compare_initial_weights=False):
    """A Dense-like layer on seeded inputs: weights created by build, outputs with seeded weights, shapes.

    Outputs: ``weight_shapes_after_build`` (from an explicit ``build`` call: weights must be made
    there), trainable and non-trainable weight counts, ``outputs`` (the layer called on the inputs
    after ``set_weights([kernel, bias])``), ``sequential_outputs`` and ``sequential_output_shape``
    (the same in a Sequential model), ``functional_output_shape`` (symbolic call on
    ``keras.Input``) and, when asked, ``initial_outputs`` with the weights the initializers made
    (use deterministic or seeded initializers for those checks).
    """
    import keras

    validation.require_class(layer_class, "Dense")
    arguments = validation.keyword_arguments(constructor_arguments)
    input_shape = _validated_shape(input_shape)
    seed = validation.seed(seed)
    inputs = _seeded(input_shape, seed)
    weight_values = _dense_weight_values(arguments, input_shape[-1], seed)
    outputs = {}
    with precision.full_precision_matmuls():
        keras.utils.set_random_seed(seed)
        layer = layer_class(**arguments)
        layer.build((None,) + input_shape[1:])
        outputs["weight_shapes_after_build"] = _shapes_text(layer.weights)
        outputs["trainable_weight_count"] = len(layer.trainable_weights)
        outputs["non_trainable_weight_count"] = len(layer.non_trainable_weights)
        if compare_initial_weights:
            outputs["initial_outputs"] = _numpy(layer(inputs))
        layer.set_weights(weight_values)
        outputs["outputs"] = _numpy(layer(inputs))

        model = keras.Sequential([keras.Input(shape=input_shape[1:]), layer_class(**arguments)])
        model.layers[-1].set_weights(weight_values)
        outputs["sequential_outputs"] = _numpy(model(inputs))
        outputs["sequential_output_shape"] = str(tuple(model.output_shape))

        symbolic_inputs = keras.Input(shape=input_shape[1:])
        symbolic_outputs = layer_class(**arguments)(symbolic_inputs)
        outputs["functional_output_shape"] = str(tuple(symbolic_outputs.shape))
    return outputs


def _largest_difference(first, second):
    """max |first - second| of two output tensors (inf when the shapes differ)."""
    first, second = _numpy(first), _numpy(second)
    if first.shape != second.shape:
        return float("inf")
    return float(np.max(np.abs(first - second))) if first.size else 0.0


def _same_weights(first_layer, second_layer):
    """Whether two layers hold weights of the same shapes and values, in the same order."""
    first, second = first_layer.get_weights(), second_layer.get_weights()
    return len(first) == len(second) and all(
        np.shape(a) == np.shape(b) and np.array_equal(a, b) for a, b in zip(first, second)
    )


def dense_config_round_trip(layer_class, constructor_arguments, input_shape, seed=0):
    """Rebuild a layer with ``from_config`` from its ``get_config()`` passed through JSON (as a .keras file stores it).

    The outputs compare the rebuilt layer with the original, not with Keras, so that this part
    is about the config alone: ``initial_weights_match`` (built with the same random seed, the
    rebuilt layer's initializers make the same weights as a layer made from the constructor
    arguments: same count, shapes and values), and ``max_output_difference`` between the rebuilt
    layer, given the original's seeded weights, and the original (0 for a faithful config).
    """
    import keras

    validation.require_class(layer_class, "Dense")
    arguments = validation.keyword_arguments(constructor_arguments)
    input_shape = _validated_shape(input_shape)
    seed = validation.seed(seed)
    inputs = _seeded(input_shape, seed)
    build_shape = (None,) + input_shape[1:]
    with precision.full_precision_matmuls():
        # Unseeded initializers draw their seed when constructed, and draw values when the layer is
        # built: reseed before both, so a faithful config gives identical initial weights.
        keras.utils.set_random_seed(seed)
        original = layer_class(**arguments)
        config = json.loads(json.dumps(original.get_config()))
        keras.utils.set_random_seed(seed)
        rebuilt = layer_class.from_config(config)
        keras.utils.set_random_seed(seed)
        original.build(build_shape)
        keras.utils.set_random_seed(seed)
        rebuilt.build(build_shape)
        outputs = {
            "rebuilt_is_same_class": type(rebuilt) is layer_class,
            "initial_weights_match": _same_weights(original, rebuilt),
        }
        original.set_weights(_dense_weight_values(arguments, input_shape[-1], seed))
        rebuilt.set_weights(original.get_weights())
        outputs["max_output_difference"] = _largest_difference(original(inputs), rebuilt(inputs))
    return outputs


def saving_round_trip(layer_class, constructor_arguments, input_shape, seed=0, functional=False):
    """Save a model holding the layer as ``.keras`` (in a temporary folder), load it back, compare.

    Outputs: whether the loaded model's layer is an instance of exactly ``layer_class`` (an
    unregistered class would not load as itself) and the largest difference between the outputs
    of the model before saving and after loading (0 when the config and weights survive).
    """
    import keras

    validation.require_class(layer_class, "layer")
    arguments = validation.keyword_arguments(constructor_arguments)
    input_shape = _validated_shape(input_shape)
    seed = validation.seed(seed)
    inputs = _seeded(input_shape, seed)
    with precision.full_precision_matmuls():
        keras.utils.set_random_seed(seed)
        if functional:
            symbolic_inputs = keras.Input(shape=input_shape[1:])
            model = keras.Model(symbolic_inputs, layer_class(**arguments)(symbolic_inputs))
        else:
            model = keras.Sequential([keras.Input(shape=input_shape[1:]), layer_class(**arguments)])
        layer = model.layers[-1]
        # Seeded weights of the layer's own shapes: the round trip must keep whatever the layer holds.
        layer.set_weights([_seeded(tuple(weight.shape), seed + 7 + index, scale=0.5)
                           for index, weight in enumerate(layer.weights)])
        original_outputs = model(inputs)
        with tempfile.TemporaryDirectory(prefix="labkit-saving-") as folder:
            path = os.path.join(folder, "model.keras")
            model.save(path)
            loaded = keras.saving.load_model(path)
        return {
            "loaded_layer_is_same_class": type(loaded.layers[-1]) is layer_class,
            "max_output_difference": _largest_difference(original_outputs, loaded(inputs)),
        }


# ---------------------------------------------------------------------------
# Activation probes.


def activation_outputs(activation, inputs, constructor_arguments=None, round_trip_config=False,
                       symbolic_input_shapes=None):
    """An activation layer class (or a plain activation function) applied to literal float32 inputs.

    Outputs ``outputs_0``, ``outputs_1``, ... (one per input). With ``round_trip_config`` the layer
    is also rebuilt from its JSON-decoded ``get_config()`` (``rebuilt_outputs_i``); with
    ``symbolic_input_shapes`` (shapes without the batch axis) a fresh layer is called on
    ``keras.Input`` of each shape (``symbolic_output_shape_i``).
    """
    import keras

    arrays = _validated_inputs(inputs)
    arguments = validation.keyword_arguments(constructor_arguments)
    if isinstance(activation, type):
        layer = activation(**arguments)
        function = layer
    elif callable(activation):
        if round_trip_config or symbolic_input_shapes:
            raise ValueError("round_trip_config and symbolic_input_shapes need a layer class, not a function.")
        layer = None
        function = lambda values: activation(values, **arguments)  # noqa: E731
    else:
        raise TypeError(f"expected an activation layer class or function, got {type(activation).__name__}.")
    outputs = {}
    for index, array in enumerate(arrays):
        outputs[f"outputs_{index}"] = _numpy(function(array.astype("float32")))
    if round_trip_config:
        rebuilt = activation.from_config(json.loads(json.dumps(layer.get_config())))
        for index, array in enumerate(arrays):
            outputs[f"rebuilt_outputs_{index}"] = _numpy(rebuilt(array.astype("float32")))
    for index, shape in enumerate(symbolic_input_shapes or []):
        shape = _validated_shape(shape, "symbolic_input_shapes item", min_rank=1)
        symbolic_outputs = activation(**arguments)(keras.Input(shape=shape))
        outputs[f"symbolic_output_shape_{index}"] = str(tuple(symbolic_outputs.shape))
    return outputs


def raises_value_error(layer_class, constructor_arguments=None, input_shape=(1, 1)):
    """Whether constructing the layer and calling it on zeros of input_shape raises ValueError (a user error)."""
    validation.require_class(layer_class, "layer")
    arguments = validation.keyword_arguments(constructor_arguments)
    input_shape = _validated_shape(input_shape)
    try:
        layer_class(**arguments)(np.zeros(input_shape, dtype="float32"))
    except ValueError:
        return {"raises_value_error": True}
    return {"raises_value_error": False}


def _prelu_alpha_shape(input_shape, shared_axes):
    """Keras's PReLU slope shape: one slope per element of input_shape[1:], size 1 along shared axes."""
    shape = list(input_shape[1:])
    if shared_axes is not None:
        for axis in [shared_axes] if isinstance(shared_axes, numbers.Integral) else shared_axes:
            if isinstance(axis, bool) or not isinstance(axis, numbers.Integral) or not 1 <= axis < len(input_shape):
                raise ValueError(f"shared_axes must name axes 1..{len(input_shape) - 1}, got {shared_axes!r}.")
            shape[axis - 1] = 1
    return tuple(shape)


def prelu_probe(layer_class, constructor_arguments, input_shape, seed=0):
    """A PReLU-like layer: outputs with its initial and with seeded slopes, and gradients w.r.t. its trainable weights.

    Outputs: ``initial_outputs`` (alpha from the initializer), ``weight_shapes``,
    ``trainable_weight_count``, ``outputs`` after ``set_weights([alpha])`` with seeded slopes of
    Keras's shape (input_shape[1:] with 1 along ``shared_axes``), and ``trainable_gradients``: the
    gradients of sum(outputs * seeded weights) with respect to the trainable weights, flattened
    and concatenated (NaN where a weight does not receive a gradient).
    """
    import keras

    validation.require_class(layer_class, "PReLU")
    arguments = validation.keyword_arguments(constructor_arguments)
    input_shape = _validated_shape(input_shape)
    seed = validation.seed(seed)
    inputs = _seeded(input_shape, seed)
    output_weights = _seeded(input_shape, seed + 1)
    alpha = _seeded(_prelu_alpha_shape(input_shape, arguments.get("shared_axes")), seed + 2, scale=0.3)
    keras.utils.set_random_seed(seed)
    layer = layer_class(**arguments)
    outputs = {"initial_outputs": _numpy(layer(inputs))}
    outputs["weight_shapes"] = _shapes_text(layer.weights)
    outputs["trainable_weight_count"] = len(layer.trainable_weights)
    layer.set_weights([alpha])
    outputs["outputs"] = _numpy(layer(inputs))
    gradients = _gradients_of_weighted_sum(layer, inputs, output_weights)
    flattened = [
        np.full(int(np.prod(variable.shape)), np.nan) if gradient is None else _numpy(gradient).ravel()
        for variable, gradient in zip(layer.trainable_weights, gradients)
    ]
    outputs["trainable_gradients"] = np.concatenate(flattened) if flattened else np.zeros(0)
    return outputs


def _checked_axis(axis):
    """A softmax axis: an integer, or a non-empty list of distinct integers (JSON has no tuples)."""
    items = axis if isinstance(axis, (list, tuple)) else [axis]
    if not items or len(set(items)) != len(items) or any(
        isinstance(item, bool) or not isinstance(item, numbers.Integral) for item in items
    ):
        raise ValueError(f"axis must be an integer or a list of distinct integers, got {axis!r}.")
    return [int(item) for item in items] if isinstance(axis, (list, tuple)) else int(axis)


def activation_with_gradients(activation, inputs, keyword_arguments=None, compare_gradients=True,
                              round_trip_config=False, seed=0):
    """An activation function, or an activation layer class, on float32 inputs: values, input gradients, dtype.

    ``activation`` is called as ``activation(x, **keyword_arguments)`` (a function such as
    ``keras.activations.gelu``) or built as ``activation(**keyword_arguments)`` (a layer class such
    as ``keras.layers.Softmax``). Outputs per input i: ``outputs_i``; with ``compare_gradients``,
    ``gradients_i`` = d sum(f(x) * w) / dx for seeded weights w (NaN where no gradient reaches x),
    which is f'(x) weighted, and a Jacobian-vector product for softmax; ``float16_output_dtype``
    (float16 inputs, and a layer built with ``dtype="float16"``: the dtype must be kept); for a
    layer with ``round_trip_config``, ``rebuilt_outputs_0`` of the layer rebuilt from its
    JSON-decoded ``get_config()``.
    """
    import keras

    arrays = _validated_inputs(inputs)
    arguments = validation.keyword_arguments(keyword_arguments, "keyword_arguments")
    seed = validation.seed(seed)
    if isinstance(activation, type):
        layer = activation(**arguments)
        function = layer
        float16_function = activation(**{**arguments, "dtype": "float16"})
    elif callable(activation):
        if round_trip_config:
            raise ValueError("round_trip_config needs a layer class, not a function.")
        layer = None
        function = lambda values: activation(values, **arguments)  # noqa: E731
        float16_function = function
    else:
        raise TypeError(f"expected an activation function or layer class, got {type(activation).__name__}.")
    outputs = {}
    for index, array in enumerate(arrays):
        values = keras.ops.convert_to_tensor(array.astype("float32"))
        outputs[f"outputs_{index}"] = _numpy(function(values))
        if compare_gradients:
            output_weights = keras.ops.convert_to_tensor(_seeded(array.shape, seed + 31 + index))
            _, (gradient,), _ = autodiff.value_and_input_gradients(
                lambda tensor: keras.ops.sum(keras.ops.multiply(function(tensor), output_weights)), [values])
            outputs[f"gradients_{index}"] = np.full(array.shape, np.nan) if gradient is None else _numpy(gradient)
    float16_outputs = float16_function(keras.ops.convert_to_tensor(arrays[0].astype("float16")))
    outputs["float16_output_dtype"] = keras.backend.standardize_dtype(float16_outputs.dtype)
    if round_trip_config:
        rebuilt = activation.from_config(json.loads(json.dumps(layer.get_config())))
        outputs["rebuilt_outputs_0"] = _numpy(rebuilt(keras.ops.convert_to_tensor(arrays[0].astype("float32"))))
    return outputs


# ---------------------------------------------------------------------------
# Gradient norms.


def _gradient_problem(hidden_units, input_shape, num_classes, batch_size, seed):
    """The seeded MLP problem: float32 weights [(kernel, bias)], images and integer labels."""
    features = int(np.prod(input_shape))
    sizes = [features] + list(hidden_units) + [num_classes]
    random = np.random.RandomState(seed)
    weights = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        # Glorot-normal scale, so signals neither explode nor die before the last layer.
        kernel = random.normal(size=(fan_in, fan_out)) * np.sqrt(2.0 / (fan_in + fan_out))
        bias = random.normal(size=(fan_out,)) * 0.1
        weights.append((kernel.astype("float32"), bias.astype("float32")))
    images = random.normal(size=(batch_size,) + tuple(input_shape)).astype("float32")
    labels = random.randint(0, num_classes, size=(batch_size,)).astype("int32")
    return weights, images, labels


def _validated_gradient_problem(hidden_units, activation, input_shape, num_classes, batch_size, seed):
    if isinstance(hidden_units, (str, bytes)) or not hasattr(hidden_units, "__iter__"):
        raise ValueError(f"hidden_units must be a list of layer widths such as [5, 5], got {hidden_units!r}.")
    hidden_units = list(hidden_units)
    if not hidden_units or len(hidden_units) > _MAX_LAYERS or any(
        isinstance(units, bool) or not isinstance(units, numbers.Integral) or not 1 <= units <= 64
        for units in hidden_units
    ):
        raise ValueError(f"hidden_units must hold 1 to {_MAX_LAYERS} widths between 1 and 64, got {hidden_units!r}.")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {_ACTIVATIONS}, got {activation!r}.")
    input_shape = _validated_shape(input_shape, "input_shape (without the batch axis)", min_rank=1)
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or not 2 <= num_classes <= 20:
        raise ValueError(f"num_classes must be an integer from 2 to 20, got {num_classes!r}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or not 1 <= batch_size <= 64:
        raise ValueError(f"batch_size must be an integer from 1 to 64, got {batch_size!r}.")
    return [int(units) for units in hidden_units], activation, input_shape, int(num_classes), int(batch_size), \
        validation.seed(seed)


_probe_dense_classes = {}


def _probe_dense_class():
    """A minimal dense layer (kernel and bias attributes) that is not keras.layers.Dense, disabled while grading."""
    import keras

    if "class" not in _probe_dense_classes:

        class ProbeDense(keras.layers.Layer):
            """activation(inputs @ kernel + bias), for the gradient-norm probe's models."""

            def __init__(self, units, activation="linear", **kwargs):
                super().__init__(**kwargs)
                self.units = units
                self.activation = keras.activations.get(activation)

            def build(self, input_shape):
                self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
                self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

            def call(self, inputs):
                return self.activation(keras.ops.matmul(inputs, self.kernel) + self.bias)

        _probe_dense_classes["class"] = ProbeDense
    return _probe_dense_classes["class"]


def _gradient_model(hidden_units, activation, input_shape, num_classes, functional, weights):
    """The probe's MLP (Flatten first for inputs of rank > 1), with the given weights."""
    import keras

    dense = _probe_dense_class()
    layers = []
    if len(input_shape) > 1:
        layers.append(keras.layers.Flatten())
    layers += [dense(units, activation=activation) for units in hidden_units]
    layers.append(dense(num_classes, activation="softmax"))
    if functional:
        symbolic_inputs = keras.Input(shape=input_shape)
        values = symbolic_inputs
        for layer in layers:
            values = layer(values)
        model = keras.Model(symbolic_inputs, values)
    else:
        model = keras.Sequential([keras.Input(shape=input_shape)] + layers)
    dense_layers = [layer for layer in layers if isinstance(layer, dense)]
    for layer, (kernel, bias) in zip(dense_layers, weights):
        layer.set_weights([kernel, bias])
    return model


def gradient_norms(norms_function, hidden_units, activation, input_shape=(6,), num_classes=4, batch_size=8,
                   seed=0, functional=False):
    """Call ``norms_function(model, images, labels)`` on a seeded MLP; return its per-kernel gradient norms.

    The model: optional Flatten, Dense-like layers with ``hidden_units`` and ``activation``, then a
    softmax layer with ``num_classes`` units; each dense layer has ``kernel`` and ``bias``
    attributes. Seeded weights, images (float32) and integer labels.
    """
    import keras

    if not callable(norms_function):
        raise TypeError(f"expected a function, got {type(norms_function).__name__}.")
    hidden_units, activation, input_shape, num_classes, batch_size, seed = _validated_gradient_problem(
        hidden_units, activation, input_shape, num_classes, batch_size, seed
    )
    weights, images, labels = _gradient_problem(hidden_units, input_shape, num_classes, batch_size, seed)
    with precision.full_precision_matmuls():
        keras.utils.set_random_seed(seed)
        model = _gradient_model(hidden_units, activation, input_shape, num_classes, functional, weights)
        norms = norms_function(model, images, labels)
    if isinstance(norms, (str, bytes, dict)) or not hasattr(norms, "__iter__"):
        raise TypeError(f"layer_gradient_norms must return a list of numbers, got {type(norms).__name__}.")
    return {"norms": np.asarray([float(_numpy(norm).reshape(())) for norm in norms], dtype=np.float64)}


def _float64_activation(name, values):
    """The activation and its derivative, in float64."""
    if name == "sigmoid":
        result = 1.0 / (1.0 + np.exp(-values))
        return result, result * (1.0 - result)
    if name == "tanh":
        result = np.tanh(values)
        return result, 1.0 - result**2
    if name == "relu":
        return np.maximum(values, 0.0), (values > 0).astype(np.float64)
    return values, np.ones_like(values)


def reference_gradient_norms(hidden_units, activation, input_shape=(6,), num_classes=4, batch_size=8, seed=0):
    """The norms of d(mean cross-entropy)/d(kernel) for the probe's MLP, by float64 backpropagation in NumPy."""
    hidden_units, activation, input_shape, num_classes, batch_size, seed = _validated_gradient_problem(
        hidden_units, activation, input_shape, num_classes, batch_size, seed
    )
    weights, images, labels = _gradient_problem(hidden_units, input_shape, num_classes, batch_size, seed)
    weights = [(kernel.astype(np.float64), bias.astype(np.float64)) for kernel, bias in weights]
    activations = [images.astype(np.float64).reshape(batch_size, -1)]
    derivatives = []
    for kernel, bias in weights[:-1]:
        value, derivative = _float64_activation(activation, activations[-1] @ kernel + bias)
        activations.append(value)
        derivatives.append(derivative)
    logits = activations[-1] @ weights[-1][0] + weights[-1][1]
    logits -= logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    # Mean cross-entropy through a softmax: d loss / d logits = (p - one_hot(labels)) / batch_size.
    delta = probabilities
    delta[np.arange(batch_size), labels] -= 1.0
    delta /= batch_size
    norms = []
    for index in range(len(weights) - 1, -1, -1):
        norms.append(float(np.linalg.norm(activations[index].T @ delta)))
        if index > 0:
            delta = (delta @ weights[index][0].T) * derivatives[index - 1]
    return norms[::-1]


# ---------------------------------------------------------------------------
# Check factories.


def seeded_values(shape, seed=0, scale=1.0):
    """Seeded normal values (times scale) as nested lists: check inputs a test cell can write in one line."""
    shape = _validated_shape(shape, "shape", min_rank=1)
    if not isinstance(scale, numbers.Real) or not scale > 0:
        raise ValueError(f"scale must be a positive number, got {scale!r}.")
    return _seeded(shape, validation.seed(seed), float(scale)).astype(np.float64).tolist()



def dense_matches_keras(description, constructor_arguments, input_shape, *, seed=0, compare_initial_weights=False,
                        target="Dense", hint=""):
    """A Check: the student's Dense behaves like keras.layers.Dense (weights from build, outputs, shapes)."""
    arguments = validation.keyword_arguments(constructor_arguments)
    _dense_units(arguments)
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.dense_forward",
        target=target,
        arguments={"constructor_arguments": arguments, "input_shape": list(_validated_shape(input_shape)),
                   "seed": validation.seed(seed), "compare_initial_weights": bool(compare_initial_weights)},
        reference="keras.layers.Dense",
        rtol=DENSE_RTOL,
        atol=DENSE_ATOL,
        hint=hint,
    )


def dense_config_matches_keras(description, constructor_arguments, input_shape, *, seed=0, target="Dense", hint=""):
    """A Check: from_config(JSON of get_config()) rebuilds the same layer (same initial weights, same outputs)."""
    arguments = validation.keyword_arguments(constructor_arguments)
    _dense_units(arguments)
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.dense_config_round_trip",
        target=target,
        arguments={"constructor_arguments": arguments, "input_shape": list(_validated_shape(input_shape)),
                   "seed": validation.seed(seed)},
        reference="keras.layers.Dense",
        rtol=DENSE_RTOL,
        atol=DENSE_ATOL,
        hint=hint,
    )


def saving_matches_keras(description, constructor_arguments, input_shape, *, functional=False, seed=0,
                         target="Dense", reference="keras.layers.Dense", hint=""):
    """A Check: a model holding the layer survives model.save(".keras") / keras.saving.load_model like the built-in."""
    if not isinstance(reference, str) or not reference.startswith("keras.layers."):
        raise ValueError(f"reference must name a Keras layer such as 'keras.layers.Dense', got {reference!r}.")
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.saving_round_trip",
        target=target,
        arguments={"constructor_arguments": validation.keyword_arguments(constructor_arguments),
                   "input_shape": list(_validated_shape(input_shape)), "seed": validation.seed(seed),
                   "functional": bool(functional)},
        reference=reference,
        rtol=DENSE_RTOL,
        atol=DENSE_ATOL,
        hint=hint,
    )


def _inputs_as_lists(inputs):
    return [array.tolist() for array in _validated_inputs(inputs)]


def activation_matches_keras(description, target, reference, inputs, constructor_arguments=None, *,
                             round_trip_config=False, rtol=ELEMENTWISE_RTOL, atol=ELEMENTWISE_ATOL, hint=""):
    """A Check: the student's activation layer gives the Keras activation's outputs (layer class or function)."""
    if not isinstance(reference, str) or not reference.startswith(("keras.layers.", "keras.activations.")):
        raise ValueError(f"reference must name a Keras activation layer or function, got {reference!r}.")
    if round_trip_config and not reference.startswith("keras.layers."):
        raise ValueError("round_trip_config needs a Keras layer class as the reference.")
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.activation_outputs",
        target=target,
        arguments={"inputs": _inputs_as_lists(inputs),
                   "constructor_arguments": validation.keyword_arguments(constructor_arguments),
                   "round_trip_config": bool(round_trip_config)},
        reference=reference,
        rtol=rtol,
        atol=atol,
        hint=hint,
    )


def activation_matches_values(description, target, inputs, expected_outputs, constructor_arguments=None, *,
                              symbolic_input_shapes=None, expected_symbolic_shapes=None, hint=""):
    """A Check against literal outputs (and, optionally, literal symbolic output shapes such as '(None, 5, 2)')."""
    arrays = _validated_inputs(inputs)
    if isinstance(expected_outputs, (str, bytes)) or len(expected_outputs) != len(arrays):
        raise ValueError(f"give one expected output per input: {len(arrays)} inputs.")
    expected = {f"outputs_{index}": np.asarray(value, dtype=np.float64).tolist()
                for index, value in enumerate(expected_outputs)}
    symbolic_input_shapes = [list(_validated_shape(shape, "symbolic_input_shapes item", min_rank=1))
                             for shape in symbolic_input_shapes or []]
    expected_symbolic_shapes = list(expected_symbolic_shapes or [])
    if len(expected_symbolic_shapes) != len(symbolic_input_shapes) or not all(
        isinstance(shape, str) for shape in expected_symbolic_shapes
    ):
        raise ValueError("give one expected shape string such as '(None, 3)' per symbolic input shape.")
    for index, shape in enumerate(expected_symbolic_shapes):
        expected[f"symbolic_output_shape_{index}"] = shape
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.activation_outputs",
        target=target,
        arguments={"inputs": [array.tolist() for array in arrays],
                   "constructor_arguments": validation.keyword_arguments(constructor_arguments),
                   "symbolic_input_shapes": symbolic_input_shapes},
        expected=expected,
        rtol=ELEMENTWISE_RTOL,
        atol=ELEMENTWISE_ATOL,
        hint=hint,
    )


def rejects_input(description, target, constructor_arguments, input_shape, *, hint=""):
    """A Check: constructing the layer and calling it on input_shape raises ValueError (a helpful user error)."""
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.raises_value_error",
        target=target,
        arguments={"constructor_arguments": validation.keyword_arguments(constructor_arguments),
                   "input_shape": list(_validated_shape(input_shape))},
        expected={"raises_value_error": True},
        hint=hint,
    )


def silu_matches_keras(description, inputs, *, target="SiLU", hint=""):
    """A Check: the student's SiLU layer gives keras.activations.silu's outputs (SiLU tolerances)."""
    return activation_matches_keras(description, target, "keras.activations.silu", inputs,
                                    rtol=SILU_RTOL, atol=SILU_ATOL, hint=hint)


def prelu_matches_keras(description, constructor_arguments, input_shape, *, seed=0, target="PReLU", hint=""):
    """A Check: the student's PReLU gives keras.layers.PReLU's outputs, slope shape and slope gradients."""
    arguments = validation.keyword_arguments(constructor_arguments)
    input_shape = _validated_shape(input_shape)
    _prelu_alpha_shape(input_shape, arguments.get("shared_axes"))
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.prelu_probe",
        target=target,
        arguments={"constructor_arguments": arguments, "input_shape": list(input_shape),
                   "seed": validation.seed(seed)},
        reference="keras.layers.PReLU",
        rtol=ELEMENTWISE_RTOL,
        atol=ELEMENTWISE_ATOL,
        hint=hint,
    )


def gradient_norms_match(description, hidden_units, activation, *, input_shape=(6,), num_classes=4, batch_size=8,
                         seed=0, functional=False, target="layer_gradient_norms", hint=""):
    """A Check: the student's per-kernel gradient norms equal the float64 backpropagation values computed here."""
    expected = reference_gradient_norms(hidden_units, activation, input_shape, num_classes, batch_size, seed)
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.gradient_norms",
        target=target,
        arguments={"hidden_units": list(hidden_units), "activation": activation, "input_shape": list(input_shape),
                   "num_classes": num_classes, "batch_size": batch_size, "seed": seed,
                   "functional": bool(functional)},
        expected={"norms": expected},
        rtol=GRADIENT_NORM_RTOL,
        atol=GRADIENT_NORM_ATOL,
        hint=hint,
    )


_SMOOTH_REFERENCES = {"relu6": "keras.activations.relu6", "mish": "keras.activations.mish",
                      "gelu": "keras.activations.gelu"}


def activation_function_matches_keras(description, target, inputs, keyword_arguments=None, *,
                                      compare_gradients=True, hint=""):
    """A Check: the student's relu6 / mish / gelu function gives Keras's values, input gradients and dtype.

    Use ``compare_gradients=False`` for inputs at a kink (relu6 at 0 and 6), where backends pick different
    subgradients.
    """
    if target not in _SMOOTH_REFERENCES:
        raise ValueError(f"target must be one of {sorted(_SMOOTH_REFERENCES)}, got {target!r}.")
    arguments = validation.keyword_arguments(keyword_arguments, "keyword_arguments")
    if set(arguments) - ({"approximate"} if target == "gelu" else set()):
        raise ValueError(f"{target} takes no keyword arguments {sorted(arguments)} (gelu takes approximate).")
    if "approximate" in arguments and not isinstance(arguments["approximate"], bool):
        raise ValueError(f"approximate must be True or False, got {arguments['approximate']!r}.")
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.activation_with_gradients",
        target=target,
        arguments={"inputs": _inputs_as_lists(inputs), "keyword_arguments": arguments,
                   "compare_gradients": bool(compare_gradients)},
        reference=_SMOOTH_REFERENCES[target],
        rtol=SMOOTH_ACTIVATION_RTOL,
        atol=SMOOTH_ACTIVATION_ATOL,
        hint=hint,
    )


def softmax_matches_keras(description, inputs, axis=-1, *, round_trip_config=False, target="Softmax", hint=""):
    """A Check: the student's Softmax layer gives keras.layers.Softmax's probabilities, gradients and dtype."""
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.activation_with_gradients",
        target=target,
        arguments={"inputs": _inputs_as_lists(inputs), "keyword_arguments": {"axis": _checked_axis(axis)},
                   "compare_gradients": True, "round_trip_config": bool(round_trip_config)},
        reference="keras.layers.Softmax",
        rtol=SOFTMAX_RTOL,
        atol=SOFTMAX_ATOL,
        hint=hint,
    )
