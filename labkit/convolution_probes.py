"""Probes and check factories for Lab 07: cross-correlation, Conv2D, pooling, 1x1 convolutions, LeNet-5, ResNet and
DenseNet blocks.

Convolution and pooling layers are deterministic once their weights are fixed, so the probes
give the student's layer and the Keras built-in the same seeded kernel and bias (found by
shape, whatever the variables are called), call both on the same seeded inputs and compare
outputs, the output shape of a symbolic call (``keras.Input``), the gradients with respect to
the inputs and the weights, and what a layer rebuilt from ``get_config()`` computes.
Functions (cross-correlation, output sizes, padding, parameter counts) are compared with the
Keras built-ins or with float64 closed forms computed here, in the trusted process.

Architectures (LeNet-5, residual and dense blocks) are built by the student with a ``conv_layer``
(and ``pooling_layer``) argument. The grader switches the Keras convolution and pooling
built-ins off while student code runs, so the probes pass stand-ins defined here instead:

* ``conv_layer`` stand-in: records its settings and creates the same weights as
  ``keras.layers.Conv2D`` (kernel ``(kh, kw, in, filters)``, optional bias), but uses only
  the kernel's centre tap ``kernel[(kh - 1) // 2, (kw - 1) // 2]`` at the positions a real
  convolution (with Keras's "same" padding) would centre it on. With a kernel that is zero
  off the centre it computes exactly what ``keras.layers.Conv2D`` computes, which lets a
  float64 closed form predict a whole residual block; it is not a usable convolution.
* ``pooling_layer`` stand-in: records its settings and keeps the top-left pixel of each window
  (shapes as ``keras.layers.MaxPooling2D``).

The dense-block probe compares with a trusted reference, ``labkit.dense_block_reference.KerasDenseBlock``
(Keras layers; imported only by the check), run through the same probe with the same stand-ins:
every convolution and batch normalization gets seeded values chosen by its shape, which a
correct block makes unique, so both blocks compute with the same weights whatever order or
names the student gives them.

Probes that multiply matrices or convolve run with TF32 switched off (``labkit.precision``),
so the float32 tolerances below hold on GPUs too.

Keras is imported inside the functions only: the autograder imports this module in a process
that must not load TensorFlow. On the student's side the probes never call the built-ins the
lab forbids (``keras.layers.Conv2D``, the pooling layers, ``keras.ops.conv``,
``keras.ops.max_pool``, ...); they only reach them when the reference itself is that built-in.
"""

import functools
import math
import numbers

import numpy as np

from labkit import autodiff, precision, validation
from labkit.checks import Check

PROBE_MODULE = "labkit.convolution_probes"
_MAX_ELEMENTS = 4096  # per probe input or output whose values are returned
_MAX_CASES = 64
_PADDINGS = ("valid", "same")
BATCH_NORM_EPSILON = 1e-3  # keras.layers.BatchNormalization's default, used by the residual-block closed form

# Tolerances.
# Cross-correlation and 1x1 convolutions of float32 inputs of size ~1: each output is a sum of at
# most a few dozen float32 products. Measured against the float64 closed form over random images
# and kernels up to 4x4, a float32 implementation (any summation order: ops slices, NumPy loops,
# matmul) is off by at most 1.4e-6 absolute on outputs of size <= ~7; rtol=atol=1e-5 (a band of
# at least 1e-5 + 1e-5 |value|) leaves a margin of ten or more, and a flipped kernel, a transposed
# kernel, a one-pixel shift or a missing bias changes outputs by O(1).
VALUE_RTOL = 1e-5
VALUE_ATOL = 1e-5
# Conv2D and pooling against the Keras layers (float32 on both sides). Outputs sum up to
# kh * kw * channels_in products (<= ~100 here) in an order that differs between a slice-and-matmul
# implementation and the backend's convolution kernel. Measured over 40 random layers (kernels up
# to 5x5, strides up to 3, both paddings): at most 1e-6 absolute on outputs (size up to ~4) and
# 4.8e-6 on kernel gradients (sums over batch and positions, size up to ~10). rtol=atol=5e-5
# keeps a margin of ten, and every targeted mistake (padding on the wrong side, a flipped kernel,
# wrong strides, pooling over the wrong axes, a missing bias or activation) changes some output by
# more than 1e-2.
LAYER_RTOL = 5e-5
LAYER_ATOL = 5e-5
# Residual blocks against a float64 closed form: two batch normalizations divide by batch
# standard deviations, which amplifies float32 rounding a little; over 100 seeded blocks the
# differences stay below 1.2e-6 on outputs of size up to ~6. rtol=atol=1e-4 keeps a wide margin;
# a missing shortcut, a ReLU before the addition, a missing normalization or a stride in the wrong
# convolution changes outputs by more than 0.05.
BLOCK_RTOL = 1e-4
BLOCK_ATOL = 1e-4


# ---------------------------------------------------------------------------
# Validation helpers.


def _positive_int(value, what, maximum=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"{what} must be at most {maximum} (keep probes small), got {value!r}.")
    return int(value)


def _pair(value, what):
    """(a, a) for a positive integer a, or a pair of positive integers, as a tuple."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(f"{what} must be a positive integer or a pair of them, got {value!r}.")
        return tuple(_positive_int(item, what) for item in value)
    size = _positive_int(value, what)
    return (size, size)


def _padding(value):
    if not isinstance(value, str) or value.lower() not in _PADDINGS:
        raise ValueError(f"padding must be 'valid' or 'same', got {value!r}.")
    return value.lower()


def _validated_shape(shape, what="shape", rank=None, max_elements=_MAX_ELEMENTS):
    """A concrete shape as a tuple of positive ints, of the given rank."""
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
        raise ValueError(f"{what} must be a list of positive integers such as [2, 8, 8, 3], got {shape!r}.")
    shape = list(shape)
    if (rank is not None and len(shape) != rank) or not shape or any(
        isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1 for size in shape
    ):
        wanted = f"{rank} positive integers" if rank else "positive integers"
        raise ValueError(f"{what} must hold {wanted}, got {shape!r}.")
    if int(np.prod(shape)) > max_elements:
        raise ValueError(f"{what} {shape} has more than {max_elements} elements: keep probes small.")
    return tuple(int(size) for size in shape)


def _validated_matrix(values, what):
    """A 2-D list of finite numbers as a float32 array."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a 2-D list of numbers, got {values!r}.") from None
    if array.ndim != 2 or array.size == 0 or not np.all(np.isfinite(array)):
        raise ValueError(f"{what} must be a non-empty 2-D list of finite numbers, got shape {array.shape}.")
    if array.size > _MAX_ELEMENTS:
        raise ValueError(f"{what} has more than {_MAX_ELEMENTS} elements: keep probes small.")
    return array.astype(np.float32)


def _validated_cases(cases, what, converter):
    """A non-empty list of at most _MAX_CASES cases, each normalized by converter."""
    if isinstance(cases, (str, bytes, dict)) or not hasattr(cases, "__iter__"):
        raise ValueError(f"{what} must be a list of cases, got {cases!r}.")
    cases = list(cases)
    if not 1 <= len(cases) <= _MAX_CASES:
        raise ValueError(f"{what} must hold 1 to {_MAX_CASES} cases, got {len(cases)}.")
    return [converter(case) for case in cases]


def _layer_arguments(arguments, allowed, what):
    """Constructor arguments as a dict with kernel_size/strides/pool_size as tuples (JSON turns tuples into lists)."""
    arguments = validation.keyword_arguments(arguments, what)
    unknown = set(arguments) - set(allowed)
    if unknown:
        raise ValueError(f"{what} may only use {sorted(allowed)}, got {sorted(unknown)}.")
    for key in ("kernel_size", "strides", "pool_size"):
        if key in arguments and arguments[key] is not None:
            value = arguments[key]
            arguments[key] = tuple(value) if isinstance(value, (list, tuple)) else value
            _pair(arguments[key], key)
    if "padding" in arguments:
        arguments["padding"] = _padding(arguments["padding"])
    return arguments


# ---------------------------------------------------------------------------
# Closed forms (float64 NumPy, trusted).


def output_size(size, kernel_size, strides, padding):
    """Keras's output length along one axis: floor((n - k) / s) + 1 for 'valid', ceil(n / s) for 'same'."""
    size = _positive_int(size, "size")
    kernel_size = _positive_int(kernel_size, "kernel_size")
    strides = _positive_int(strides, "strides")
    if _padding(padding) == "same":
        return -(-size // strides)
    if kernel_size > size:
        raise ValueError(f"a kernel of {kernel_size} does not fit in {size} pixels with 'valid' padding.")
    return (size - kernel_size) // strides + 1


def same_padding_amounts(size, kernel_size, strides):
    """(before, after) padding of Keras/TensorFlow 'same': total max((out - 1) s + k - n, 0), the extra pixel after."""
    total = max((output_size(size, kernel_size, strides, "same") - 1) * strides + kernel_size - size, 0)
    return total // 2, total - total // 2


def reference_cross_correlation(image, kernel):
    """'Valid' 2-D cross-correlation in float64: out[i, j] = sum_uv image[i + u, j + v] kernel[u, v]."""
    image = np.asarray(image, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    rows, columns = image.shape[0] - kernel.shape[0] + 1, image.shape[1] - kernel.shape[1] + 1
    if rows < 1 or columns < 1:
        raise ValueError(f"kernel {kernel.shape} is larger than image {image.shape}.")
    output = np.zeros((rows, columns))
    for u in range(kernel.shape[0]):
        for v in range(kernel.shape[1]):
            output += kernel[u, v] * image[u:u + rows, v:v + columns]
    return output


def reference_conv2d(inputs, kernel, bias=None, strides=(1, 1), padding="valid"):
    """Keras's Conv2D (channels last, 'same' with the extra padding at the bottom/right) in float64."""
    inputs = np.asarray(inputs, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    (kernel_height, kernel_width), (stride_height, stride_width) = kernel.shape[:2], _pair(strides, "strides")
    padding = _padding(padding)
    if padding == "same":
        top, bottom = same_padding_amounts(inputs.shape[1], kernel_height, stride_height)
        left, right = same_padding_amounts(inputs.shape[2], kernel_width, stride_width)
        inputs = np.pad(inputs, [(0, 0), (top, bottom), (left, right), (0, 0)])
    rows = (inputs.shape[1] - kernel_height) // stride_height + 1
    columns = (inputs.shape[2] - kernel_width) // stride_width + 1
    output = np.zeros((inputs.shape[0], rows, columns, kernel.shape[3]))
    for u in range(kernel_height):
        for v in range(kernel_width):
            window = inputs[:, u:u + stride_height * (rows - 1) + 1:stride_height,
                            v:v + stride_width * (columns - 1) + 1:stride_width, :]
            output += window @ kernel[u, v]
    return output if bias is None else output + np.asarray(bias, dtype=np.float64)


def conv_parameter_count(kernel_size, input_channels, filters, use_bias=True):
    """kh * kw * input_channels * filters weights, plus one bias per filter."""
    kernel_height, kernel_width = _pair(kernel_size, "kernel_size")
    count = kernel_height * kernel_width * _positive_int(input_channels, "input_channels") * _positive_int(
        filters, "filters")
    return count + (filters if use_bias else 0)


def dense_parameter_count(input_units, units, use_bias=True):
    """input_units * units weights, plus one bias per unit."""
    return _positive_int(input_units, "input_units") * _positive_int(units, "units") + (units if use_bias else 0)


# ---------------------------------------------------------------------------
# Shared machinery.


def _numpy(value):
    """A backend tensor (or anything array-like) as a float64 NumPy array."""
    import keras

    return np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64)


def _seeded_normal(shape, seed, scale=1.0):
    """Seeded standard-normal float32 values (times scale): the same on every machine and backend."""
    return (np.random.RandomState(seed).normal(size=shape) * scale).astype("float32")


def _shape_text(shape):
    return str(tuple(None if size is None else int(size) for size in shape))


def _weights_by_shape(layer, kernel_shape, bias_shape):
    """(kernel variable, bias variable or None, description of the trainable weight shapes)."""
    weights = list(layer.trainable_weights)
    shapes = sorted((tuple(int(size) for size in weight.shape) for weight in weights), key=lambda s: (-len(s), s))
    description = ", ".join(str(shape) for shape in shapes) or "no trainable weights"
    kernels = [weight for weight in weights if tuple(weight.shape) == tuple(kernel_shape)]
    biases = [weight for weight in weights if bias_shape is not None and tuple(weight.shape) == tuple(bias_shape)]
    return (kernels[0] if len(kernels) == 1 else None), (biases[0] if len(biases) == 1 else None), description


def _full_precision(probe):
    """Run a probe with TF32 off: matrix products and convolutions in full float32 on GPUs too."""

    @functools.wraps(probe)
    def wrapped(*args, **kwargs):
        with precision.full_precision_matmuls():
            return probe(*args, **kwargs)

    return wrapped


def _outputs_and_gradients(call, inputs, variables, seed):
    """call(inputs) and the gradients of sum(call(inputs) * r), for a seeded r, with respect to inputs and variables.

    One forward pass gives both (``labkit.autodiff`` on any backend). Gradients that do not exist
    (code the backend cannot differentiate, such as NumPy inside the call) are reported as NaNs.
    """
    import keras

    shapes = [np.shape(inputs)] + [tuple(variable.shape) for variable in variables]

    def objective(tensor):
        outputs = call(tensor)
        # r as a backend tensor of the outputs' dtype: a NumPy array in a product with a tensor that
        # autodiff tracks would be converted the wrong way round (torch refuses to).
        weights = keras.ops.convert_to_tensor(_seeded_normal(tuple(outputs.shape), seed),
                                              dtype=keras.backend.standardize_dtype(outputs.dtype))
        return keras.ops.sum(keras.ops.multiply(outputs, weights)), outputs

    (_, outputs), input_gradients, variable_gradients = autodiff.value_and_input_gradients(
        objective, [inputs], variables, has_aux=True)
    return _numpy(outputs), [np.full(shape, np.nan) if gradient is None else _numpy(gradient)
                             for gradient, shape in zip(input_gradients + variable_gradients, shapes)]


def _built(layer, inputs):
    """The layer, built for the inputs' shape (by a call if build() alone created no weights)."""
    layer.build(tuple(inputs.shape))
    if not layer.weights:
        layer(inputs)
    return layer


# ---------------------------------------------------------------------------
# Part 1: cross-correlation.


@_full_precision
def cross_correlation_outputs(function, image, kernel):
    """The student's cross_correlate2d(image, kernel) on float32 arrays, as a float64 array."""
    validation.require_function(function, "cross_correlate2d(image, kernel)")
    image = _validated_matrix(image, "image")
    kernel = _validated_matrix(kernel, "kernel")
    return {"outputs": _numpy(function(image, kernel))}


# ---------------------------------------------------------------------------
# Part 2: output sizes and "same" padding.


def _geometry_case(case):
    if not isinstance(case, (list, tuple)) or len(case) != 4:
        raise ValueError(f"each case must be [size, kernel_size, strides, padding], got {case!r}.")
    size, kernel_size, strides, padding = case
    output_size(size, kernel_size, strides, padding)  # validates, and rejects kernels larger than the input
    return [int(size), int(kernel_size), int(strides), _padding(padding)]


def _is_keras_layer(target, *names):
    """Whether target is one of the named keras.layers classes (a reference), not the student's function."""
    import keras

    return isinstance(target, type) and any(target is getattr(keras.layers, name) for name in names)


def output_sizes(target, cases):
    """Output lengths for [size, kernel_size, strides, padding] cases.

    ``target`` is the student's ``conv_output_size(size, kernel_size, strides, padding)`` or
    the ``keras.layers.Conv2D`` class, whose ``compute_output_shape`` answers for square inputs.
    """
    cases = _validated_cases(cases, "cases", _geometry_case)
    reference = _is_keras_layer(target, "Conv2D")
    if not reference:
        validation.require_function(target, "conv_output_size(size, kernel_size, strides, padding)")
    sizes = []
    for size, kernel_size, strides, padding in cases:
        if reference:
            layer = target(filters=1, kernel_size=kernel_size, strides=strides, padding=padding)
            sizes.append(int(layer.compute_output_shape((1, size, size, 1))[1]))
        else:
            sizes.append(target(size, kernel_size, strides, padding))
    return {"output_sizes": sizes}


def _padding_case(case):
    if not isinstance(case, (list, tuple)) or len(case) != 3:
        raise ValueError(f"each case must be [size, kernel_size, strides], got {case!r}.")
    size, kernel_size, strides = case
    output_size(size, kernel_size, strides, "same")
    return [int(size), int(kernel_size), int(strides)]


def same_paddings(function, cases):
    """[before, after] for each [size, kernel_size, strides] case, from the student's same_padding(...)."""
    validation.require_function(function, "same_padding(size, kernel_size, strides)")
    cases = _validated_cases(cases, "cases", _padding_case)
    amounts = []
    for size, kernel_size, strides in cases:
        result = function(size, kernel_size, strides)
        # Any pair (tuple, list, NumPy array) is accepted; anything else is reported as not a pair.
        pair = np.asarray(result, dtype=object).ravel().tolist() if not isinstance(result, (str, bytes)) else []
        amounts.append(pair if len(pair) == 2 else [float("nan"), float("nan")])
    return {"paddings": amounts}


# ---------------------------------------------------------------------------
# Part 3: Conv2D.

_CONV_ARGUMENTS = ("filters", "kernel_size", "strides", "padding", "activation", "use_bias")


@_full_precision
def conv2d_layer(layer_class, constructor_arguments, input_shape, seed=0, symbolic=False):
    """A Conv2D-like layer with seeded weights on seeded inputs: what it computes, and what it is made of.

    The layer is made as ``layer_class(**constructor_arguments)``, built for the input shape and
    given a seeded kernel ``(kh, kw, channels_in, filters)`` and bias ``(filters,)`` (found by
    shape). Outputs: ``weight_shapes`` (trainable weights); ``symbolic_output_shape`` (only with
    ``symbolic=True``: a fresh layer called on a ``keras.Input``, which traces the call and takes
    a few tenths of a second for a layer written with ops); ``outputs``; ``input_gradient``,
    ``kernel_gradient`` and ``bias_gradient`` (of sum(outputs * r) for a seeded r); and
    ``same_after_from_config`` (a layer rebuilt from ``get_config()`` with the same weights
    computes the same outputs).
    """
    import keras

    validation.require_class(layer_class, "Conv2D")
    arguments = _layer_arguments(constructor_arguments, _CONV_ARGUMENTS, "constructor_arguments")
    input_shape = _validated_shape(input_shape, "input_shape", rank=4)
    seed = validation.seed(seed)
    filters = _positive_int(arguments.get("filters"), "filters")
    kernel_height, kernel_width = _pair(arguments.get("kernel_size"), "kernel_size")
    kernel_shape = (kernel_height, kernel_width, input_shape[-1], filters)
    use_bias = arguments.get("use_bias", True)
    inputs = _seeded_normal(input_shape, seed)
    kernel_values = _seeded_normal(kernel_shape, seed + 1, 1.0 / math.sqrt(kernel_height * kernel_width))
    bias_values = _seeded_normal((filters,), seed + 2, 0.5)
    keras.utils.set_random_seed(seed)

    outputs = {}
    if symbolic:
        symbolic_outputs = layer_class(**arguments)(keras.Input(shape=input_shape[1:]))
        outputs["symbolic_output_shape"] = _shape_text(symbolic_outputs.shape)
    layer = _built(layer_class(**arguments), inputs)
    kernel, bias, description = _weights_by_shape(layer, kernel_shape, (filters,) if use_bias else None)
    outputs["weight_shapes"] = description
    if kernel is None or (use_bias and bias is None):
        return outputs  # the weights cannot be set: the shapes already tell what is wrong
    kernel.assign(kernel_values)
    variables = [kernel]
    if use_bias:
        bias.assign(bias_values)
        variables.append(bias)
    values, gradients = _outputs_and_gradients(layer, inputs, variables, seed + 3)
    outputs.update({"outputs": values, "input_gradient": gradients[0], "kernel_gradient": gradients[1]})
    if use_bias:
        outputs["bias_gradient"] = gradients[2]
    clone = _built(type(layer).from_config(layer.get_config()), inputs)
    clone_kernel, clone_bias, _ = _weights_by_shape(clone, kernel_shape, (filters,) if use_bias else None)
    same = clone_kernel is not None and (bias is None or clone_bias is not None)
    if same:
        clone_kernel.assign(kernel_values)
        if use_bias:
            clone_bias.assign(bias_values)
        clone_values = _numpy(clone(inputs))
        same = bool(clone_values.shape == values.shape and np.allclose(clone_values, values, rtol=LAYER_RTOL,
                                                                       atol=LAYER_ATOL))
    outputs["same_after_from_config"] = same
    return outputs


# ---------------------------------------------------------------------------
# Part 4: pooling.

_POOLING_ARGUMENTS = ("pool_size", "strides", "padding")


@_full_precision
def pooling_layer(layer_class, constructor_arguments, input_shape, seed=0):
    """A pooling layer on seeded inputs: outputs, symbolic output shape, input gradient, weights, config round trip."""
    import keras

    validation.require_class(layer_class, "pooling layer")
    arguments = _layer_arguments(constructor_arguments, _POOLING_ARGUMENTS, "constructor_arguments")
    input_shape = _validated_shape(input_shape, "input_shape", rank=4)
    seed = validation.seed(seed)
    inputs = _seeded_normal(input_shape, seed)
    keras.utils.set_random_seed(seed)
    symbolic = layer_class(**arguments)(keras.Input(shape=input_shape[1:]))
    layer = layer_class(**arguments)
    values, (input_gradient,) = _outputs_and_gradients(layer, inputs, [], seed + 3)
    clone = type(layer).from_config(layer.get_config())
    clone_values = _numpy(clone(inputs))
    return {
        "symbolic_output_shape": _shape_text(symbolic.shape),
        "outputs": values,
        "input_gradient": input_gradient,
        "weight_count": len(layer.weights),
        "same_after_from_config": bool(clone_values.shape == values.shape and np.allclose(
            clone_values, values, rtol=LAYER_RTOL, atol=LAYER_ATOL)),
    }


# ---------------------------------------------------------------------------
# Part 5: 1x1 convolutions.


@_full_precision
def pointwise_outputs(target, input_shape, output_channels, seed=0):
    """A 1x1 convolution of seeded images with a seeded kernel (1, 1, channels_in, channels_out) and bias.

    ``target`` is the student's ``pointwise_mix(images, kernel, bias)``, or ``keras.layers.Conv2D``
    (built with ``kernel_size=1``) or ``keras.layers.Dense`` (the kernel reshaped to
    ``(channels_in, channels_out)``), which compute the same thing.
    """
    import keras

    input_shape = _validated_shape(input_shape, "input_shape")
    if len(input_shape) < 2:
        raise ValueError(f"input_shape needs at least a pixel axis and a channel axis, got {input_shape!r}.")
    output_channels = _positive_int(output_channels, "output_channels", maximum=64)
    seed = validation.seed(seed)
    images = _seeded_normal(input_shape, seed)
    kernel = _seeded_normal((1, 1, input_shape[-1], output_channels), seed + 1, 1.0 / math.sqrt(input_shape[-1]))
    bias = _seeded_normal((output_channels,), seed + 2)
    if _is_keras_layer(target, "Dense", "Conv2D"):
        if target is keras.layers.Dense:
            layer = target(output_channels)
            layer.build(input_shape)
            layer.set_weights([kernel[0, 0], bias])
        else:
            if len(input_shape) != 4:
                raise ValueError("keras.layers.Conv2D needs images of shape (batch, height, width, channels).")
            layer = target(output_channels, kernel_size=1)
            layer.build(input_shape)
            layer.set_weights([kernel, bias])
        values = layer(images)
    else:
        validation.require_function(target, "pointwise_mix(images, kernel, bias)")
        values = target(images, kernel, bias)
    return {"outputs": _numpy(values)}


# ---------------------------------------------------------------------------
# Part 6: parameter counts.


def _conv_count_case(case):
    if not isinstance(case, (list, tuple)) or len(case) != 4:
        raise ValueError(f"each case must be [kernel_size, input_channels, filters, use_bias], got {case!r}.")
    kernel_size, input_channels, filters, use_bias = case
    kernel_size = _positive_int(kernel_size, "kernel_size (a single int: square kernels)")
    conv_parameter_count(kernel_size, input_channels, filters, use_bias)
    if not isinstance(use_bias, bool):
        raise ValueError(f"use_bias must be True or False, got {use_bias!r}.")
    return [int(kernel_size), int(input_channels), int(filters), use_bias]


def conv_parameter_counts(target, cases):
    """Parameter counts for [kernel_size, input_channels, filters, use_bias] cases.

    ``target`` is the student's ``conv_parameter_count(kernel_size, input_channels, filters, use_bias)``
    or ``keras.layers.Conv2D`` (built on an input with that many channels, then ``count_params()``).
    """
    cases = _validated_cases(cases, "cases", _conv_count_case)
    reference = _is_keras_layer(target, "Conv2D")
    if not reference:
        validation.require_function(target, "conv_parameter_count(kernel_size, input_channels, filters, use_bias)")
    counts = []
    for kernel_size, input_channels, filters, use_bias in cases:
        if reference:
            layer = target(filters, kernel_size, use_bias=use_bias)
            layer.build((None, kernel_size + 2, kernel_size + 2, input_channels))
            counts.append(layer.count_params())
        else:
            counts.append(target(kernel_size, input_channels, filters, use_bias))
    return {"parameter_counts": counts}


def _dense_count_case(case):
    if not isinstance(case, (list, tuple)) or len(case) != 3:
        raise ValueError(f"each case must be [input_units, units, use_bias], got {case!r}.")
    input_units, units, use_bias = case
    dense_parameter_count(input_units, units, use_bias)
    if not isinstance(use_bias, bool):
        raise ValueError(f"use_bias must be True or False, got {use_bias!r}.")
    return [int(input_units), int(units), use_bias]


def dense_parameter_counts(target, cases):
    """Parameter counts for [input_units, units, use_bias] cases: the student's function or keras.layers.Dense."""
    cases = _validated_cases(cases, "cases", _dense_count_case)
    reference = _is_keras_layer(target, "Dense")
    if not reference:
        validation.require_function(target, "dense_parameter_count(input_units, units, use_bias)")
    counts = []
    for input_units, units, use_bias in cases:
        if reference:
            layer = target(units, use_bias=use_bias)
            layer.build((None, input_units))
            counts.append(layer.count_params())
        else:
            counts.append(target(input_units, units, use_bias))
    return {"parameter_counts": counts}


# ---------------------------------------------------------------------------
# Stand-in layers for the architectures.


def _activation_name(activation):
    import keras

    function = keras.activations.get(activation)
    return getattr(function, "__name__", type(function).__name__)


def describe_conv(filters, kernel_size, strides=1, padding="valid", activation=None, use_bias=True):
    """How the architecture probes write a convolution's settings."""
    return (f"conv_layer(filters={int(filters)}, kernel_size={_pair(kernel_size, 'kernel_size')}, "
            f"strides={_pair(strides, 'strides')}, padding={_padding(padding)!r}, "
            f"activation={activation!r}, use_bias={bool(use_bias)})")


def describe_pooling(pool_size, strides=None, padding="valid"):
    """How the architecture probes write a pooling layer's settings."""
    pool_size = _pair(pool_size, "pool_size")
    strides = pool_size if strides is None else _pair(strides, "strides")
    return f"pooling_layer(pool_size={pool_size}, strides={strides}, padding={_padding(padding)!r})"


def describe_dense(units, activation=None, use_bias=True):
    """How the architecture probes write a Dense layer's settings."""
    return f"Dense(units={int(units)}, activation={activation!r}, use_bias={bool(use_bias)})"


@functools.cache
def _stand_in_classes():
    """(conv stand-in class, pooling stand-in class), made once Keras is imported."""
    import keras
    from keras import ops

    class StandInConv2D(keras.layers.Layer):
        """Conv2D's settings and weights; computes with the kernel's centre tap only (see the module docstring)."""

        created = []  # every instance, in creation order, so a probe can find and set their kernels

        # Keras's 5th positional argument is data_format, not activation: the rest is keyword-only here.
        def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", *, activation=None, use_bias=True,
                     **kwargs):
            for key in ("kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
                        "activity_regularizer", "kernel_constraint", "bias_constraint"):
                kwargs.pop(key, None)  # irrelevant to what is checked
            for key, default in (("data_format", None), ("dilation_rate", (1, 1)), ("groups", 1)):
                value = kwargs.pop(key, default)
                if value not in (default, "channels_last", 1, (1, 1), [1, 1]):
                    raise ValueError(f"the grader's conv_layer supports only the default {key}, got {value!r}.")
            super().__init__(**kwargs)
            self.filters = int(filters)
            self.kernel_size = _pair(tuple(kernel_size) if isinstance(kernel_size, list) else kernel_size,
                                     "kernel_size")
            self.strides = _pair(tuple(strides) if isinstance(strides, list) else strides, "strides")
            self.padding = _padding(padding)
            self.activation_name = _activation_name(activation)
            self.activation = keras.activations.get(activation)
            self.use_bias = bool(use_bias)
            StandInConv2D.created.append(self)

        def description(self):
            # A 1x1 kernel never pads: 'same' and 'valid' are the same convolution, described as 'valid'.
            padding = "valid" if self.kernel_size == (1, 1) else self.padding
            return describe_conv(self.filters, self.kernel_size, self.strides, padding, self.activation_name,
                                 self.use_bias)

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(*self.kernel_size, int(input_shape[-1]), self.filters),
                                          initializer="glorot_uniform", name="kernel")
            self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias") if self.use_bias \
                else None

        def _rows(self, axis, size):
            """(first input index, number of outputs, stride) of the centre tap along one spatial axis."""
            kernel_size, strides = self.kernel_size[axis], self.strides[axis]
            count = output_size(size, kernel_size, strides, self.padding)
            before = same_padding_amounts(size, kernel_size, strides)[0] if self.padding == "same" else 0
            return (kernel_size - 1) // 2 - before, count, strides

        def compute_output_shape(self, input_shape):
            sizes = [None if size is None else self._rows(axis, int(size))[1]
                     for axis, size in enumerate(input_shape[1:3])]
            return (input_shape[0], *sizes, self.filters)

        def call(self, inputs):
            (top, rows, row_step), (left, columns, column_step) = (
                self._rows(0, int(inputs.shape[1])), self._rows(1, int(inputs.shape[2])))
            centre = inputs[:, top:top + row_step * (rows - 1) + 1:row_step,
                            left:left + column_step * (columns - 1) + 1:column_step, :]
            outputs = ops.matmul(centre, self.kernel[(self.kernel_size[0] - 1) // 2, (self.kernel_size[1] - 1) // 2])
            if self.use_bias:
                outputs = outputs + self.bias
            return self.activation(outputs)

    class StandInPooling2D(keras.layers.Layer):
        """A pooling layer's settings and output shape; keeps the top-left pixel of each window."""

        created = []  # every instance, in creation order, so a probe can list the ones a block used

        def __init__(self, pool_size=(2, 2), strides=None, padding="valid", **kwargs):
            kwargs.pop("data_format", None)
            super().__init__(**kwargs)
            self.used = False  # stateless layers count as built from the start: record the first call instead
            StandInPooling2D.created.append(self)
            self.pool_size = _pair(tuple(pool_size) if isinstance(pool_size, list) else pool_size, "pool_size")
            self.strides = self.pool_size if strides is None else _pair(
                tuple(strides) if isinstance(strides, list) else strides, "strides")
            self.padding = _padding(padding)

        def description(self):
            return describe_pooling(self.pool_size, self.strides, self.padding)

        def compute_output_shape(self, input_shape):
            sizes = [None if size is None else output_size(int(size), pool, stride, self.padding)
                     for size, pool, stride in zip(input_shape[1:3], self.pool_size, self.strides)]
            return (input_shape[0], *sizes, input_shape[3])

        def call(self, inputs):
            self.used = True
            rows, columns = self.compute_output_shape(inputs.shape)[1:3]
            return inputs[:, :self.strides[0] * (rows - 1) + 1:self.strides[0],
                          :self.strides[1] * (columns - 1) + 1:self.strides[1], :]

    return StandInConv2D, StandInPooling2D


def _describe_layer(layer):
    """One layer's kind and settings, as the architecture probes report it."""
    import keras

    if hasattr(layer, "description") and callable(layer.description) and type(layer).__module__ == __name__:
        return layer.description()
    if isinstance(layer, keras.layers.Dense):
        return describe_dense(layer.units, _activation_name(layer.activation), layer.use_bias)
    return type(layer).__name__


# ---------------------------------------------------------------------------
# Part 7: LeNet-5.


def lenet_architecture(factory, arguments=None, batch_size=2, seed=0):
    """The model returned by ``factory(**arguments, conv_layer=..., pooling_layer=...)`` with the grader's stand-ins.

    Outputs: ``layer_count`` (model.layers, without the input layer), ``layer_1``, ``layer_2``, ...
    (each layer's kind, settings, output shape and parameter count), ``total_parameters`` and
    ``output_shape`` (the model called on a seeded batch).
    """
    import keras

    validation.require_function(factory, "build_lenet5(...)")
    arguments = validation.keyword_arguments(arguments, "arguments")
    batch_size = _positive_int(batch_size, "batch_size", maximum=8)
    seed = validation.seed(seed)
    conv_class, pooling_class = _stand_in_classes()
    keras.utils.set_random_seed(seed)
    try:
        model = factory(**arguments, conv_layer=conv_class, pooling_layer=pooling_class)
    finally:
        conv_class.created.clear()  # the registries only serve the block probes
        pooling_class.created.clear()
    input_shape = _validated_shape(arguments.get("input_shape", (28, 28, 1)), "input_shape", rank=3,
                                   max_elements=65536)
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    outputs = {"layer_count": len(layers)}
    tensor = keras.Input(shape=input_shape)
    for index, layer in enumerate(layers, start=1):
        tensor = layer(tensor)
        outputs[f"layer_{index}"] = (f"{_describe_layer(layer)} -> {_shape_text(tensor.shape)}, "
                                     f"{layer.count_params()} parameters")
    images = _seeded_normal((batch_size, *input_shape), seed)
    # Call first: a Sequential made without keras.Input is only built by its first call.
    outputs["output_shape"] = _shape_text(_numpy(model(images)).shape)
    outputs["total_parameters"] = model.count_params()
    return outputs


def expected_lenet(input_shape=(28, 28, 1), num_classes=10, activation="relu", batch_size=2):
    """The probe's outputs for LeNet-5 as the lab defines it (closed form).

    conv 6@5x5 'same' -> pool 2 -> conv 16@5x5 'valid' -> pool 2 -> Flatten -> Dense 120 -> Dense 84
    -> Dense num_classes softmax; the convolutions and hidden Dense layers use `activation`.
    """
    height, width, channels = _validated_shape(input_shape, "input_shape", rank=3)
    num_classes = _positive_int(num_classes, "num_classes")
    layers = []

    def add(description, shape, parameters):
        layers.append(f"{description} -> {_shape_text((None, *shape))}, {parameters} parameters")

    add(describe_conv(6, 5, 1, "same", activation), (height, width, 6), conv_parameter_count(5, channels, 6))
    height, width = output_size(height, 2, 2, "valid"), output_size(width, 2, 2, "valid")
    add(describe_pooling(2), (height, width, 6), 0)
    height, width = output_size(height, 5, 1, "valid"), output_size(width, 5, 1, "valid")
    add(describe_conv(16, 5, 1, "valid", activation), (height, width, 16), conv_parameter_count(5, 6, 16))
    height, width = output_size(height, 2, 2, "valid"), output_size(width, 2, 2, "valid")
    add(describe_pooling(2), (height, width, 16), 0)
    flat = height * width * 16
    add("Flatten", (flat,), 0)
    previous = flat
    for units, unit_activation in ((120, activation), (84, activation), (num_classes, "softmax")):
        add(describe_dense(units, unit_activation), (units,), dense_parameter_count(previous, units))
        previous = units
    total = (conv_parameter_count(5, channels, 6) + conv_parameter_count(5, 6, 16) + dense_parameter_count(flat, 120)
             + dense_parameter_count(120, 84) + dense_parameter_count(84, num_classes))
    expected = {"layer_count": len(layers)}
    expected.update({f"layer_{index}": text for index, text in enumerate(layers, start=1)})
    expected.update({"total_parameters": total, "output_shape": _shape_text((batch_size, num_classes))})
    return expected


# ---------------------------------------------------------------------------
# Part 8: residual blocks.


def _centre_tap_kernel(kernel_shape, seed):
    """A seeded kernel that is zero except at its centre tap; the same for the same shape and seed."""
    kernel_height, kernel_width, channels_in, channels_out = kernel_shape
    random = np.random.RandomState([seed, kernel_height, kernel_width, channels_in, channels_out])
    kernel = np.zeros(kernel_shape, dtype="float32")
    kernel[(kernel_height - 1) // 2, (kernel_width - 1) // 2] = (
        random.normal(size=(channels_in, channels_out)) / math.sqrt(channels_in)).astype("float32")
    return kernel


def _validated_block(filters, strides, input_shape, seed):
    filters = _positive_int(filters, "filters", maximum=32)
    strides = _positive_int(strides, "strides", maximum=3)
    input_shape = _validated_shape(input_shape, "input_shape", rank=4, max_elements=2048)
    return filters, strides, input_shape, validation.seed(seed)


@_full_precision
def residual_block(block_class, filters, strides, input_shape, seed=0):
    """A residual block built as ``block_class(filters, strides=strides, conv_layer=<stand-in>)`` on seeded inputs.

    After a first call (inference, which builds it), every stand-in convolution gets a seeded
    kernel that is zero off its centre tap (the same values for the same kernel shape); batch
    normalization layers keep their initial state. Outputs: ``convolutions`` (the sorted settings of
    every convolution made), ``trainable_parameters``, ``non_trainable_parameters``,
    ``output_shape``, ``inference_outputs`` (``training=False``) and ``training_outputs``
    (``training=True``, batch statistics).
    """
    import keras

    validation.require_class(block_class, "ResidualBlock")
    filters, strides, input_shape, seed = _validated_block(filters, strides, input_shape, seed)
    conv_class, _ = _stand_in_classes()
    inputs = _seeded_normal(input_shape, seed)
    keras.utils.set_random_seed(seed)
    conv_class.created.clear()
    try:
        block = block_class(filters, strides=strides, conv_layer=conv_class)
        block(inputs)
        # Only the convolutions the block uses (built by the first call) count; one made but never used does not.
        convolutions = [convolution for convolution in conv_class.created if convolution.built]
    finally:
        conv_class.created.clear()
    for convolution in convolutions:
        convolution.kernel.assign(_centre_tap_kernel(tuple(convolution.kernel.shape), seed))
    inference = _numpy(block(inputs, training=False))
    training = _numpy(block(inputs, training=True))
    return {
        "convolutions": "; ".join(sorted(convolution.description() for convolution in convolutions)),
        "trainable_parameters": int(sum(int(np.prod(weight.shape)) for weight in block.trainable_weights)),
        "non_trainable_parameters": int(sum(int(np.prod(weight.shape)) for weight in block.non_trainable_weights)),
        "output_shape": _shape_text(inference.shape),
        "inference_outputs": inference,
        "training_outputs": training,
    }


def _centre_tap_conv(inputs, kernel, strides, padding):
    """The closed form of the stand-in convolution (float64)."""
    kernel_height, kernel_width = kernel.shape[:2]
    rows = []
    for axis, kernel_size in ((1, kernel_height), (2, kernel_width)):
        size = inputs.shape[axis]
        count = output_size(size, kernel_size, strides, padding)
        before = same_padding_amounts(size, kernel_size, strides)[0] if padding == "same" else 0
        rows.append((kernel_size - 1) // 2 - before + strides * np.arange(count))
    centre = inputs[:, rows[0]][:, :, rows[1]]
    return centre @ kernel[(kernel_height - 1) // 2, (kernel_width - 1) // 2].astype(np.float64)


def _batch_norm(values, training):
    """keras.layers.BatchNormalization in its initial state (gamma 1, beta 0, moving mean 0, variance 1)."""
    if training:
        mean = values.mean(axis=(0, 1, 2))
        variance = values.var(axis=(0, 1, 2))
        return (values - mean) / np.sqrt(variance + BATCH_NORM_EPSILON)
    return values / np.sqrt(1.0 + BATCH_NORM_EPSILON)


def expected_residual_block(filters, strides, input_shape, seed=0):
    """The probe's outputs for the lab's residual block, in float64 (closed form).

    main path: conv 3x3 (strides, 'same', no bias) -> BN -> ReLU -> conv 3x3 ('same', no bias) -> BN;
    shortcut: the input, or conv 1x1 (strides, no bias) -> BN when the stride or the channels change;
    output: ReLU(main + shortcut).
    """
    filters, strides, input_shape, seed = _validated_block(filters, strides, input_shape, seed)
    channels = input_shape[-1]
    inputs = _seeded_normal(input_shape, seed).astype(np.float64)
    project = strides != 1 or channels != filters
    first_kernel = _centre_tap_kernel((3, 3, channels, filters), seed)
    second_kernel = _centre_tap_kernel((3, 3, filters, filters), seed)
    outputs = {}
    for mode in ("inference", "training"):
        training = mode == "training"
        hidden = np.maximum(_batch_norm(_centre_tap_conv(inputs, first_kernel, strides, "same"), training), 0.0)
        main = _batch_norm(_centre_tap_conv(hidden, second_kernel, 1, "same"), training)
        shortcut = inputs
        if project:
            shortcut = _batch_norm(
                _centre_tap_conv(inputs, _centre_tap_kernel((1, 1, channels, filters), seed), strides, "valid"),
                training)
        outputs[f"{mode}_outputs"] = np.maximum(main + shortcut, 0.0).tolist()
    convolutions = [describe_conv(filters, 3, strides, "same", "linear", False),
                    describe_conv(filters, 3, 1, "same", "linear", False)]
    trainable = 9 * channels * filters + 9 * filters * filters + 2 * 2 * filters
    non_trainable = 2 * 2 * filters
    if project:
        convolutions.append(describe_conv(filters, 1, strides, "valid", "linear", False))
        trainable += channels * filters + 2 * filters
        non_trainable += 2 * filters
    height = output_size(input_shape[1], 3, strides, "same")
    width = output_size(input_shape[2], 3, strides, "same")
    return {
        "convolutions": "; ".join(sorted(convolutions)),
        "trainable_parameters": trainable,
        "non_trainable_parameters": non_trainable,
        "output_shape": _shape_text((input_shape[0], height, width, filters)),
        **outputs,
    }


# ---------------------------------------------------------------------------
# DenseNet blocks.


def _validated_dense_block(num_layers, growth_rate, input_shape, transition_filters, seed):
    num_layers = _positive_int(num_layers, "num_layers", maximum=6)
    growth_rate = _positive_int(growth_rate, "growth_rate", maximum=16)
    input_shape = _validated_shape(input_shape, "input_shape", rank=4, max_elements=2048)
    if transition_filters is not None:
        transition_filters = _positive_int(transition_filters, "transition_filters", maximum=32)
        if min(input_shape[1:3]) < 2:
            raise ValueError(f"a transition pools 2x2 windows: input_shape {input_shape} needs height and width >= 2.")
    return num_layers, growth_rate, input_shape, transition_filters, validation.seed(seed)


def _seed_batch_normalization(layer, seed):
    """Seeded gamma, beta, moving mean and variance, chosen by the channel count (unique per BN in a dense block)."""
    channels = int(layer.moving_mean.shape[0])
    random = np.random.RandomState([seed, channels, 17])
    values = {"gamma": random.uniform(0.5, 1.5, channels), "beta": random.normal(size=channels) * 0.3,
              "moving_mean": random.normal(size=channels) * 0.3,
              "moving_variance": random.uniform(0.5, 2.0, channels)}
    for name, value in values.items():
        variable = getattr(layer, name, None)
        if variable is not None:
            variable.assign(value.astype("float32"))


def _dense_block_configuration(config):
    """The dense-block settings a config holds, as one line (missing keys show as such)."""
    return ", ".join(f"{key}={config.get(key, '<missing>')!r}"
                     for key in ("num_layers", "growth_rate", "transition_filters"))


@_full_precision
def dense_block(block_class, num_layers, growth_rate, input_shape, transition_filters=None, seed=0):
    """A dense block ``block_class(num_layers, growth_rate[, transition_filters], conv_layer=..., pooling_layer=...)``.

    The grader's stand-ins are passed for the convolution and pooling classes. After a first call (which builds
    it), every stand-in convolution gets a seeded centre-tap kernel and every BatchNormalization seeded gamma,
    beta and moving statistics, each chosen by the weight's shape. Outputs: the sorted settings of the
    convolutions and pooling layers used, ``trainable_parameters``, ``non_trainable_parameters``,
    ``output_shape`` and ``symbolic_output_shape`` (a call on ``keras.Input``), ``inference_outputs`` and
    ``training_outputs``, ``leading_channels_are_the_inputs`` (without a transition: the first input-channels
    output channels are the inputs, exactly), ``configuration`` (from ``get_config()``), ``rebuilt_outputs``
    (inference outputs of ``from_config(get_config())`` with the same seeded weights) and ``registered``
    (registered for Keras serialization under the class's own name).
    """
    import keras

    validation.require_class(block_class, "DenseBlock")
    num_layers, growth_rate, input_shape, transition_filters, seed = _validated_dense_block(
        num_layers, growth_rate, input_shape, transition_filters, seed)
    conv_class, pooling_class = _stand_in_classes()
    inputs = _seeded_normal(input_shape, seed)
    settings = {} if transition_filters is None else {"transition_filters": transition_filters}

    def built_with_seeded_weights(make):
        """(block, convolutions used, pooling layers used): make() builds the block, its first call builds it."""
        keras.utils.set_random_seed(seed)
        conv_class.created.clear()
        pooling_class.created.clear()
        try:
            block = make()
            block(inputs, training=False)
            convolutions = [convolution for convolution in conv_class.created if convolution.built]
            poolings = [pooling for pooling in pooling_class.created if pooling.used]
        finally:
            conv_class.created.clear()
            pooling_class.created.clear()
        for convolution in convolutions:
            convolution.kernel.assign(_centre_tap_kernel(tuple(convolution.kernel.shape), seed))
        for layer in block._flatten_layers(include_self=False):  # Keras has no public recursive list of sub-layers
            if isinstance(layer, keras.layers.BatchNormalization) and layer.built:  # one never called has no weights
                _seed_batch_normalization(layer, seed)
        return block, convolutions, poolings

    block, convolutions, poolings = built_with_seeded_weights(
        lambda: block_class(num_layers, growth_rate, **settings, conv_layer=conv_class, pooling_layer=pooling_class))
    inference = _numpy(block(inputs, training=False))
    training = _numpy(block(inputs, training=True))  # updates the moving statistics: after the inference call
    outputs = {
        "convolutions": "; ".join(sorted(convolution.description() for convolution in convolutions)),
        "pooling_layers": "; ".join(sorted(pooling.description() for pooling in poolings)) or "none",
        "trainable_parameters": int(sum(int(np.prod(weight.shape)) for weight in block.trainable_weights)),
        "non_trainable_parameters": int(sum(int(np.prod(weight.shape)) for weight in block.non_trainable_weights)),
        "output_shape": _shape_text(inference.shape),
        "symbolic_output_shape": _shape_text(block(keras.Input(shape=input_shape[1:])).shape),
        "inference_outputs": inference,
        "training_outputs": training,
    }
    if transition_filters is None:
        channels = input_shape[-1]
        outputs["leading_channels_are_the_inputs"] = bool(
            inference.shape[:3] == inputs.shape[:3] and inference.shape[-1] >= channels
            and np.array_equal(inference[..., :channels], inputs.astype(np.float64)))
    config = block.get_config()
    outputs["configuration"] = _dense_block_configuration(config)
    try:
        rebuilt, _, _ = built_with_seeded_weights(
            lambda: block_class.from_config({**config, "conv_layer": conv_class, "pooling_layer": pooling_class}))
        outputs["rebuilt_outputs"] = _numpy(rebuilt(inputs, training=False))
    except Exception as error:  # noqa: BLE001 - reported as the output, so the check says what went wrong
        outputs["rebuilt_outputs"] = f"from_config(get_config()) raised {type(error).__name__}"
    name = keras.saving.get_registered_name(block_class)
    outputs["registered"] = name != block_class.__name__ and keras.saving.get_registered_object(name) is block_class
    return outputs


# ---------------------------------------------------------------------------
# Check factories.


def cross_correlation_matches_closed_form(description, *, image=None, kernel=None, image_shape=None,
                                          kernel_shape=None, seed=0, target="cross_correlate2d", hint=""):
    """A Check: cross_correlate2d(image, kernel) equals the float64 closed form.

    Give literal ``image`` and ``kernel`` (2-D lists), or shapes for seeded ones.
    """
    seed = validation.seed(seed)
    if image is None:
        image = _seeded_normal(_validated_shape(image_shape, "image_shape", rank=2), seed)
    if kernel is None:
        kernel = _seeded_normal(_validated_shape(kernel_shape, "kernel_shape", rank=2), seed + 1)
    image = _validated_matrix(image, "image")
    kernel = _validated_matrix(kernel, "kernel")
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.cross_correlation_outputs",
        target=target,
        arguments={"image": image.tolist(), "kernel": kernel.tolist()},
        expected={"outputs": reference_cross_correlation(image, kernel).tolist()},
        rtol=VALUE_RTOL,
        atol=VALUE_ATOL,
        hint=hint,
    )


def output_sizes_match_keras(description, cases, *, target="conv_output_size", hint=""):
    """A Check: conv_output_size(size, kernel_size, strides, padding) equals keras.layers.Conv2D's output sizes."""
    cases = _validated_cases(cases, "cases", _geometry_case)
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.output_sizes",
        target=target,
        arguments={"cases": cases},
        reference="keras.layers.Conv2D",
        rtol=0.0,
        atol=0.0,  # integers
        hint=hint,
    )


def same_paddings_match_closed_form(description, cases, *, target="same_padding", hint=""):
    """A Check: same_padding(size, kernel_size, strides) equals Keras/TensorFlow's (before, after) 'same' padding."""
    cases = _validated_cases(cases, "cases", _padding_case)
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.same_paddings",
        target=target,
        arguments={"cases": cases},
        expected={"paddings": [list(same_padding_amounts(*case)) for case in cases]},
        rtol=0.0,
        atol=0.0,
        hint=hint,
    )


def conv2d_matches_keras(description, constructor_arguments, input_shape, *, seed=0, symbolic=False, target="Conv2D",
                         hint=""):
    """A Check: the student's Conv2D computes what keras.layers.Conv2D computes with the same weights.

    ``symbolic=True`` also compares the output shape of a call on ``keras.Input`` (slower: it traces the call).
    """
    arguments = _layer_arguments(constructor_arguments, _CONV_ARGUMENTS, "constructor_arguments")
    _positive_int(arguments.get("filters"), "filters")
    _pair(arguments.get("kernel_size"), "kernel_size")
    input_shape = _validated_shape(input_shape, "input_shape", rank=4)
    json_arguments = {key: list(value) if isinstance(value, tuple) else value for key, value in arguments.items()}
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.conv2d_layer",
        target=target,
        arguments={"constructor_arguments": json_arguments, "input_shape": list(input_shape),
                   "seed": validation.seed(seed), "symbolic": bool(symbolic)},
        reference="keras.layers.Conv2D",
        rtol=LAYER_RTOL,
        atol=LAYER_ATOL,
        hint=hint,
    )


def pooling_matches_keras(description, target, reference, constructor_arguments, input_shape, *, seed=0, hint=""):
    """A Check: the student's pooling layer computes what the Keras pooling layer computes."""
    if reference not in ("keras.layers.MaxPooling2D", "keras.layers.AveragePooling2D"):
        raise ValueError("reference must be 'keras.layers.MaxPooling2D' or 'keras.layers.AveragePooling2D', "
                         f"got {reference!r}.")
    arguments = _layer_arguments(constructor_arguments, _POOLING_ARGUMENTS, "constructor_arguments")
    if "pool_size" not in arguments:
        raise ValueError("give pool_size: keras.layers.AveragePooling2D has no default for it.")
    input_shape = _validated_shape(input_shape, "input_shape", rank=4)
    json_arguments = {key: list(value) if isinstance(value, tuple) else value for key, value in arguments.items()}
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.pooling_layer",
        target=target,
        arguments={"constructor_arguments": json_arguments, "input_shape": list(input_shape),
                   "seed": validation.seed(seed)},
        reference=reference,
        rtol=LAYER_RTOL,
        atol=LAYER_ATOL,
        hint=hint,
    )


def pointwise_matches_keras(description, input_shape, output_channels, *, reference="keras.layers.Conv2D", seed=0,
                            target="pointwise_mix", hint=""):
    """A Check: pointwise_mix(images, kernel, bias) equals a 1x1 keras.layers.Conv2D (or keras.layers.Dense)."""
    if reference not in ("keras.layers.Conv2D", "keras.layers.Dense"):
        raise ValueError(f"reference must be 'keras.layers.Conv2D' or 'keras.layers.Dense', got {reference!r}.")
    input_shape = _validated_shape(input_shape, "input_shape")
    if reference == "keras.layers.Conv2D" and len(input_shape) != 4:
        raise ValueError("keras.layers.Conv2D needs input_shape (batch, height, width, channels).")
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.pointwise_outputs",
        target=target,
        arguments={"input_shape": list(input_shape), "output_channels": _positive_int(output_channels,
                                                                                      "output_channels", 64),
                   "seed": validation.seed(seed)},
        reference=reference,
        rtol=VALUE_RTOL,
        atol=VALUE_ATOL,
        hint=hint,
    )


def conv_parameter_counts_match_keras(description, cases, *, target="conv_parameter_count", hint=""):
    """A Check: conv_parameter_count(...) equals keras.layers.Conv2D(...).count_params() for each case."""
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.conv_parameter_counts",
        target=target,
        arguments={"cases": _validated_cases(cases, "cases", _conv_count_case)},
        reference="keras.layers.Conv2D",
        rtol=0.0,
        atol=0.0,
        hint=hint,
    )


def dense_parameter_counts_match_keras(description, cases, *, target="dense_parameter_count", hint=""):
    """A Check: dense_parameter_count(...) equals keras.layers.Dense(...).count_params() for each case."""
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.dense_parameter_counts",
        target=target,
        arguments={"cases": _validated_cases(cases, "cases", _dense_count_case)},
        reference="keras.layers.Dense",
        rtol=0.0,
        atol=0.0,
        hint=hint,
    )


def lenet_matches(description, arguments=None, *, target="build_lenet5", hint=""):
    """A Check against the closed form: LeNet-5's layers, settings, output shapes and parameter counts."""
    arguments = validation.keyword_arguments(arguments, "arguments")
    unknown = set(arguments) - {"input_shape", "num_classes", "activation"}
    if unknown:
        raise ValueError(f"arguments may only set input_shape, num_classes and activation, got {sorted(unknown)}.")
    expected = expected_lenet(**arguments)
    json_arguments = {key: list(value) if isinstance(value, tuple) else value for key, value in arguments.items()}
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.lenet_architecture",
        target=target,
        arguments={"arguments": json_arguments, "batch_size": 2, "seed": 0},
        expected=expected,
        rtol=0.0,
        atol=0.0,
        hint=hint,
    )


def residual_block_matches(description, filters, strides, input_shape, *, seed=0, target="ResidualBlock", hint=""):
    """A Check against the float64 closed form of the lab's residual block (structure, parameters, outputs)."""
    filters, strides, input_shape, seed = _validated_block(filters, strides, input_shape, seed)
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.residual_block",
        target=target,
        arguments={"filters": filters, "strides": strides, "input_shape": list(input_shape), "seed": seed},
        expected=expected_residual_block(filters, strides, input_shape, seed),
        rtol=BLOCK_RTOL,
        atol=BLOCK_ATOL,
        hint=hint,
    )


def dense_block_matches(description, num_layers, growth_rate, input_shape, *, transition_filters=None, seed=0,
                        target="DenseBlock", hint=""):
    """A Check against a DenseBlock built from Keras layers with the same seeded weights (structure, outputs, config)."""
    num_layers, growth_rate, input_shape, transition_filters, seed = _validated_dense_block(
        num_layers, growth_rate, input_shape, transition_filters, seed)
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.dense_block",
        target=target,
        arguments={"num_layers": num_layers, "growth_rate": growth_rate, "input_shape": list(input_shape),
                   "transition_filters": transition_filters, "seed": seed},
        reference="labkit.dense_block_reference.KerasDenseBlock",
        rtol=BLOCK_RTOL,
        atol=BLOCK_ATOL,
        hint=hint,
    )
