"""Probes and check factories for Lab 03: weight initializers, the symmetry problem, activation statistics.

Initializers are random and a student's random stream need not be Keras's, so the checks compare
*distributions*: summary statistics of one large seeded sample drawn by the student's class on a
given shape (standard deviation, the 99.9th percentile of |w| relative to it, whether the mean is
within sampling noise of zero, shape and dtype) with the *closed forms* of the Keras built-in the
check names (a variance-scaling distribution: uniform, or normal truncated at two standard
deviations), not with a sample of the backend's own sampler. What a seed promises is checked
exactly: the same seed gives the same values, another seed other values, and
get_config/from_config round-trips.

Backends. The probes convert every result with keras.ops.convert_to_numpy and compute statistics
in float64 NumPy. A float64 sample on JAX needs 64-bit mode, which JAX leaves off by default (it
then silently returns float32): initializer_statistics turns it on for the draw when dtype is
"float64" (see _float64_enabled), so an initializer that ignores `dtype` is caught on every backend.

The other probes run plain functions on arrays and small seeded networks whose weights come from
numpy (not from a Keras initializer), compared with literal values computed here in float64.

Keras is imported inside the functions only: the autograder imports this module in a process that
must not load TensorFlow.
"""

import contextlib
import math
import numbers
import statistics

import numpy as np

from labkit import validation
from labkit.checks import Check

PROBE_MODULE = "labkit.initializer_probes"

# Keras's truncated normals are cut at two standard deviations; the standard deviation of a
# standard normal truncated to [-2, 2] is this number, so Keras divides the target standard
# deviation by it before drawing.
TRUNCATED_NORMAL_STDDEV = 0.87962566103423978

# ---------------------------------------------------------------------------
# Tolerances.
#
# Initializer statistics are compared with closed forms (expected_initializer_statistics), so only
# the student's sample carries sampling error. For n independent draws with kurtosis
# k = E[(w - mu)^4] / sigma^4, the sample standard deviation has a relative standard error of
# sqrt((k - 1) / (4 n)): k = 1.8 for a uniform distribution and k = 2.366 for a normal truncated at
# +-2 sigma (the worst case here). Checks use at least MIN_SAMPLES = 200,000 draws, so the standard
# error is at most 0.13 %: STATISTICS_RTOL = 1 % is 7.6 standard errors (a correct implementation
# fails with probability below 1e-12). The tail statistic is the TAIL_QUANTILE = 99.9th percentile
# of |w| divided by the std: its sampling error is sqrt(p (1 - p) / n) / density(q) = 6e-4 sigma
# for a truncated normal (density 0.1155/sigma of |w| there) and 7e-5 limit for a uniform, i.e. at
# most 0.03 % relative, so the ratio carries essentially the std's error. A percentile rather than
# max|w|: the maximum moves with one stray value, and Keras's own truncated normal on torch leaves
# some (it draws four candidates and keeps the first one inside +-2 sigma, or the first one when
# none is, with probability 0.0455^4 = 4.3e-6 per value: ~9 values beyond the cut in 2,000,000,
# which move max|w| by up to 50 % but the 99.9th percentile, with 2,000 values above it, by
# 9 / (n density) < 1e-4 relative, and the std by < 1e-4). The statistics are computed in float64
# from float32 (or float16/bfloat16) values: rounding is unbiased and far below these errors, on
# every backend. The mistakes this lab targets move these statistics by 12 % (no truncation
# correction: factor 0.8796) or more: 29 % (Glorot with fan_in on a 4:1 kernel), 41 % (He without
# the factor 2), 42 % (uniform limit without sqrt(3)), 2x (fan_in/fan_out swapped on a 4:1 kernel),
# 3x (receptive field ignored on a 3x3 kernel); a plain, untruncated normal has a tail ratio of
# 3.29 instead of 2.26, a uniform 1.73. "centered" tests |mean| <= 5 std/sqrt(n): a correct
# sampler fails it with probability 6e-7.
MIN_SAMPLES = 200_000
MAX_SAMPLES = 2_000_000
STATISTICS_RTOL = 1e-2
TAIL_QUANTILE = 0.999
CENTERED_STANDARD_ERRORS = 5.0
# Fans are integers and unit counts are integers: exact.
EXACT_RTOL = 0.0
EXACT_ATOL = 0.0
# Activation statistics: the student's forward pass runs in float32 through Keras; the expected
# values are a float64 numpy forward pass with the same (float32) weights and inputs. On CPU the
# two agree to ~1e-6 relative. On GPUs, TensorFlow may run matmuls in TF32 (10-bit mantissa,
# relative rounding 2^-11 ~ 5e-4 per product, unbiased), which moves single activations by up to
# ~1e-3 relative through a few layers but a mean or std over thousands of them far less:
# rtol = 5e-3 plus atol = 1e-3 (the probe networks keep activations of order 0.1 to 10) covers
# it. The mistakes targeted (pre-activation statistics, per-unit statistics averaged, the input
# counted as a layer, a missing layer) change a statistic by 10 % or more, or the length.
ACTIVATION_RTOL = 5e-3
ACTIVATION_ATOL = 1e-3

_MAX_SHAPES = 50
_MAX_SHAPE_RANK = 6
_MAX_KERNELS = 20
_MAX_KERNEL_VALUES = 5_000
_MAX_LAYERS = 30
_MAX_UNITS = 512
_MAX_BATCH = 1024
_ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid")


# ---------------------------------------------------------------------------
# Validation helpers.


def _is_integer(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _validated_shape(shape, allow_scalar=True):
    """A weight shape as a tuple of positive Python ints; ValueError otherwise."""
    if isinstance(shape, (str, bytes, dict)) or not hasattr(shape, "__iter__"):
        raise ValueError(f"a shape must be a tuple of positive integers such as (784, 10), got {shape!r}.")
    shape = tuple(shape)
    if not allow_scalar and not shape:
        raise ValueError("a shape must have at least one dimension here, got ().")
    if len(shape) > _MAX_SHAPE_RANK:
        raise ValueError(f"a shape may have at most {_MAX_SHAPE_RANK} dimensions, got {shape!r}.")
    if not all(_is_integer(size) and size > 0 for size in shape):
        raise ValueError(f"a shape must be a tuple of positive integers such as (784, 10), got {shape!r}.")
    return tuple(int(size) for size in shape)


def _validated_shapes(shapes):
    if isinstance(shapes, (str, bytes, dict)) or not hasattr(shapes, "__iter__"):
        raise ValueError(f"shapes must be a list of shapes such as [(784, 10), (3, 3, 16, 32)], got {shapes!r}.")
    shapes = [_validated_shape(shape) for shape in shapes]
    if not shapes or len(shapes) > _MAX_SHAPES:
        raise ValueError(f"give between 1 and {_MAX_SHAPES} shapes, got {len(shapes)}.")
    return shapes


def _validated_dtype(dtype):
    if dtype is not None and dtype not in ("float16", "bfloat16", "float32", "float64"):
        raise ValueError(f"dtype must be None or a float dtype name such as 'float64', got {dtype!r}.")
    return dtype


def _sample_count(shape):
    return math.prod(shape)


# ---------------------------------------------------------------------------
# Fans.


def fans_of(function, shapes):
    """A compute_fans-like function applied to each shape: the (fan_in, fan_out) pairs, and whether all are integers."""
    validation.require_function(function, "compute_fans")
    shapes = _validated_shapes(shapes)
    fans, integers = [], True
    for shape in shapes:
        result = function(shape)
        if isinstance(result, (str, bytes, dict)) or not hasattr(result, "__iter__"):
            raise ValueError(f"compute_fans{shape} must return a pair (fan_in, fan_out), got {result!r}.")
        result = tuple(result)
        if len(result) != 2:
            raise ValueError(f"compute_fans{shape} must return a pair (fan_in, fan_out), got {result!r}.")
        integers = integers and all(_is_integer(value) for value in result)
        fans.append([float(value) for value in result])
    return {"fans": np.asarray(fans, dtype=np.float64), "integers": bool(integers)}


# ---------------------------------------------------------------------------
# Initializers.


def _to_numpy(values):
    import keras

    return np.asarray(keras.ops.convert_to_numpy(values))


def _plain_numpy(value, name):
    """A student's result as a NumPy array: Python and NumPy values as they are, backend tensors through
    keras.ops.convert_to_numpy (np.asarray cannot read every backend's tensors, e.g. torch's with a gradient)."""
    if value is None or isinstance(value, (numbers.Number, np.ndarray, np.generic)):
        return np.asarray(value)
    try:
        return _to_numpy(value)
    except Exception as error:  # noqa: BLE001 - any unreadable result is the student's error
        raise ValueError(f"{name} must return a number, got {value!r}.") from error


def _float64_enabled(dtype):
    """A context in which the backend can hold `dtype`: JAX's 64-bit mode for "float64", else nothing.

    JAX keeps 64-bit types off unless asked (jax_enable_x64) and then turns a float64 request into
    float32 without an error, so without this an initializer that ignores `dtype` would look right.
    The mode is switched on for the draw only (jax.enable_x64 is scoped) and restored afterwards.
    TensorFlow and torch hold float64 anyway.
    """
    if dtype != "float64":
        return contextlib.nullcontext()
    import keras

    if keras.backend.backend() != "jax":
        return contextlib.nullcontext()
    import jax

    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(True)
    from jax.experimental import enable_x64  # older JAX

    return enable_x64()


# The Keras variance-scaling built-ins the statistics checks know: (scale, mode, distribution).
VARIANCE_SCALING = {
    "GlorotUniform": (1.0, "fan_avg", "uniform"),
    "GlorotNormal": (1.0, "fan_avg", "truncated_normal"),
    "HeUniform": (2.0, "fan_in", "uniform"),
    "HeNormal": (2.0, "fan_in", "truncated_normal"),
    "LecunUniform": (1.0, "fan_in", "uniform"),
    "LecunNormal": (1.0, "fan_in", "truncated_normal"),
}


def keras_fans(shape):
    """Keras's compute_fans, written out: (fan_in, fan_out) of a weight shape, receptive field included."""
    shape = _validated_shape(shape)
    if not shape:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def tail_ratio(distribution, quantile=TAIL_QUANTILE):
    """The `quantile` of |w| divided by the standard deviation of w, exactly, for a zero-mean distribution.

    "uniform" on [-a, a]: |w| is uniform on [0, a] and the std is a / sqrt(3), so the ratio is
    quantile * sqrt(3). "truncated_normal" (a normal of std s cut at +-2 s, as Keras draws it): |w|/s
    has the distribution function (2 Phi(x) - 1) / (2 Phi(2) - 1) on [0, 2] and the std is
    TRUNCATED_NORMAL_STDDEV * s. "normal": Phi^-1((1 + quantile) / 2).
    """
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must be between 0 and 1, got {quantile!r}.")
    normal = statistics.NormalDist()
    if distribution == "uniform":
        return quantile * math.sqrt(3.0)
    if distribution == "truncated_normal":
        inside = 2.0 * normal.cdf(2.0) - 1.0
        return normal.inv_cdf(0.5 + quantile * inside / 2.0) / TRUNCATED_NORMAL_STDDEV
    if distribution == "normal":
        return normal.inv_cdf(0.5 + quantile / 2.0)
    raise ValueError(f"distribution must be 'uniform', 'truncated_normal' or 'normal', got {distribution!r}.")


def _initializer_name(reference):
    """The class name of a reference such as "keras.initializers.GlorotUniform"; ValueError if no closed form."""
    name = reference.rpartition(".")[2] if isinstance(reference, str) else None
    if not isinstance(reference, str) or not reference.startswith("keras.initializers.") or (
            name not in VARIANCE_SCALING):
        known = ", ".join(f"keras.initializers.{known}" for known in VARIANCE_SCALING)
        raise ValueError(f"reference must name a Keras variance-scaling initializer, one of {known}; "
                         f"got {reference!r}.")
    return name


def expected_initializer_statistics(reference, shape, dtype=None):
    """The closed-form outputs of initializer_statistics for the Keras built-in `reference` on `shape`.

    A variance-scaling initializer draws with std sqrt(scale / max(1, fan)) whatever the
    distribution (Keras widens its truncated normal by 1 / TRUNCATED_NORMAL_STDDEV to get there),
    fan = fan_in, fan_out or their mean; the tail ratio is tail_ratio(distribution); the mean is 0,
    so a correct sample is "centered"; the dtype is the one asked for, float32 (Keras's default
    floatx, which the labs keep) when None.
    """
    scale, mode, distribution = VARIANCE_SCALING[_initializer_name(reference)]
    shape = _validated_shape(shape, allow_scalar=False)
    fan_in, fan_out = keras_fans(shape)
    fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[mode]
    return {
        "shape": str(shape),
        "dtype": _validated_dtype(dtype) or "float32",
        "std": math.sqrt(scale / max(1.0, fan)),
        "abs_quantile_over_std": tail_ratio(distribution),
        "centered": True,
    }


def initializer_statistics(initializer_class, shape, seed, dtype=None):
    """Summary statistics of one seeded sample: shape, dtype, std, 99.9th percentile of |w| / std, mean ~ 0 or not.

    `initializer_class(seed=seed)(shape, dtype=dtype)` is drawn once (with JAX's 64-bit mode on for
    dtype "float64", see _float64_enabled); the statistics are computed in float64. "centered" is
    True when |mean| <= 5 std / sqrt(n), i.e. within sampling noise of 0.
    """
    validation.require_class(initializer_class, "initializer")
    shape = _validated_shape(shape, allow_scalar=False)
    seed = validation.seed(seed)
    dtype = _validated_dtype(dtype)
    count = _sample_count(shape)
    if not MIN_SAMPLES <= count <= MAX_SAMPLES:
        raise ValueError(f"shape {shape} has {count} entries; statistics need {MIN_SAMPLES} to {MAX_SAMPLES}.")
    initializer = initializer_class(seed=seed)
    with _float64_enabled(dtype):
        values = _to_numpy(initializer(shape, dtype=dtype))
    sample = values.astype(np.float64).ravel()
    if not np.all(np.isfinite(sample)):
        raise ValueError(f"the initializer returned non-finite values for shape {shape}.")
    std = float(sample.std())
    mean = float(sample.mean())
    tail = float(np.quantile(np.abs(sample), TAIL_QUANTILE))
    return {
        "shape": str(tuple(int(size) for size in values.shape)),
        "dtype": str(values.dtype),
        "std": std,
        "abs_quantile_over_std": tail / std if std > 0 else float("inf"),
        "centered": bool(abs(mean) <= CENTERED_STANDARD_ERRORS * std / math.sqrt(sample.size)),
    }


def initializer_determinism(initializer_class, shape, seed):
    """What a seed promises: same seed -> same values (new instance or repeated call), other seed -> other values,
    get_config() keeps the seed and from_config(get_config()) draws the same values."""
    validation.require_class(initializer_class, "initializer")
    shape = _validated_shape(shape, allow_scalar=False)
    seed = validation.seed(seed)
    if _sample_count(shape) > 100_000:
        raise ValueError(f"shape {shape} is larger than needed for a determinism check.")
    initializer = initializer_class(seed=seed)
    first = _to_numpy(initializer(shape))
    again = _to_numpy(initializer(shape))
    same_seed = _to_numpy(initializer_class(seed=seed)(shape))
    other_seed = _to_numpy(initializer_class(seed=seed + 1)(shape))
    config = initializer.get_config()
    if not isinstance(config, dict):
        raise ValueError(f"get_config() must return a dict, got {config!r}.")
    restored = _to_numpy(type(initializer).from_config(dict(config))(shape))
    config_seed = config.get("seed", "missing")
    return {
        "shape": str(tuple(int(size) for size in first.shape)),
        "repeated_call_same_values": bool(np.array_equal(first, again)),
        "same_seed_same_values": bool(np.array_equal(first, same_seed)),
        "other_seed_other_values": not bool(np.array_equal(first, other_seed)),
        "config_seed": config_seed if config_seed is None or isinstance(config_seed, (int, str)) else repr(config_seed),
        "from_config_same_values": bool(np.array_equal(first, restored)),
    }


def sample_values(initializer, shape, dtype=None):
    """One initializer object's values for a shape, as a float64 numpy array (for histograms)."""
    shape = _validated_shape(shape)
    return _to_numpy(initializer(shape, dtype=dtype)).astype(np.float64)


# ---------------------------------------------------------------------------
# Symmetry: distinct hidden units.


def _kernel_and_assignment(fan_in, units, distinct, seed, jitter=0.0, spread=1.0):
    """The kernel of symmetric_kernel and, for each column, the index of its prototype."""
    for name, value in (("fan_in", fan_in), ("units", units), ("distinct", distinct)):
        if not _is_integer(value) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if distinct > units:
        raise ValueError(f"distinct ({distinct}) cannot exceed units ({units}).")
    if fan_in * units > _MAX_KERNEL_VALUES:
        raise ValueError(f"a kernel may hold at most {_MAX_KERNEL_VALUES} values, got {fan_in}x{units}.")
    for name, value in (("jitter", jitter), ("spread", spread)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or value < 0:
            raise ValueError(f"{name} must be a non-negative number, got {value!r}.")
    random_state = np.random.RandomState(validation.seed(seed))
    prototypes = random_state.normal(0.0, spread, size=(fan_in, distinct))
    assignment = np.concatenate([np.arange(distinct), random_state.randint(0, distinct, size=units - distinct)])
    random_state.shuffle(assignment)
    noise = random_state.uniform(-jitter, jitter, size=(fan_in, units))
    return (prototypes[:, assignment] + noise).astype(np.float32), assignment


def symmetric_kernel(fan_in, units, distinct, seed, jitter=0.0, spread=1.0):
    """A (fan_in, units) kernel whose columns are `distinct` random prototypes plus uniform noise of size `jitter`.

    Every prototype is used at least once, so the kernel has exactly `distinct` different hidden
    units as long as the noise is far below the tolerance and the prototypes are far apart.
    """
    return _kernel_and_assignment(fan_in, units, distinct, seed, jitter, spread)[0]


def _min_group_distance(kernel, groups):
    """Smallest max-abs distance between two columns of different groups (validates literal expectations)."""
    distances = [
        np.max(np.abs(kernel[:, first] - kernel[:, second]))
        for index, group in enumerate(groups) for other in groups[index + 1:]
        for first in group for second in other
    ]
    return min(distances) if distances else float("inf")


def distinct_unit_counts(function, kernels, tolerances):
    """A count_distinct_units-like function applied to each kernel (with its tolerance, None = the default)."""
    validation.require_function(function, "count_distinct_units")
    if not isinstance(kernels, (list, tuple)) or not kernels or len(kernels) > _MAX_KERNELS:
        raise ValueError(f"kernels must be a list of 1 to {_MAX_KERNELS} kernels, got {type(kernels).__name__}.")
    if not isinstance(tolerances, (list, tuple)) or len(tolerances) != len(kernels):
        raise ValueError("give one tolerance (or None for the default) per kernel.")
    counts = []
    for kernel, tolerance in zip(kernels, tolerances):
        kernel = np.asarray(kernel, dtype=np.float32)
        if kernel.ndim != 2:
            raise ValueError(f"each kernel must be a 2-D (fan_in, units) array, got shape {kernel.shape}.")
        result = function(kernel) if tolerance is None else function(kernel, tolerance=float(tolerance))
        result = _plain_numpy(result, "count_distinct_units")
        if result.size != 1 or result.dtype.kind not in "iuf":
            raise ValueError(f"count_distinct_units must return one number, got {result!r}.")
        counts.append(float(result.reshape(())))
    return {"counts": np.asarray(counts, dtype=np.float64)}


# ---------------------------------------------------------------------------
# Activation statistics.


def _validated_layers(layers):
    """Layer specs [{"units", "activation", "weight_stddev", "bias_stddev"}, ...] with defaults filled in."""
    if not isinstance(layers, (list, tuple)) or not layers or len(layers) > _MAX_LAYERS:
        raise ValueError(f"layers must be a list of 1 to {_MAX_LAYERS} layer specifications, got {layers!r}.")
    cleaned = []
    for index, layer in enumerate(layers):
        if not isinstance(layer, dict) or not set(layer) <= {"units", "activation", "weight_stddev", "bias_stddev"}:
            raise ValueError(
                f"layers[{index}] must be a dict with keys units, activation, weight_stddev, bias_stddev, "
                f"got {layer!r}."
            )
        units = layer.get("units")
        if not _is_integer(units) or not 1 <= units <= _MAX_UNITS:
            raise ValueError(f"layers[{index}]['units'] must be an integer from 1 to {_MAX_UNITS}, got {units!r}.")
        activation = layer.get("activation", "linear")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"layers[{index}]['activation'] must be one of {_ACTIVATIONS}, got {activation!r}.")
        weight_stddev = layer.get("weight_stddev")
        bias_stddev = layer.get("bias_stddev", 0.0)
        for name, value in (("weight_stddev", weight_stddev), ("bias_stddev", bias_stddev)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or value < 0:
                raise ValueError(f"layers[{index}]['{name}'] must be a non-negative number, got {value!r}.")
        cleaned.append({"units": int(units), "activation": activation,
                        "weight_stddev": float(weight_stddev), "bias_stddev": float(bias_stddev)})
    return cleaned


def _validated_network_sizes(input_size, batch_size):
    if not _is_integer(input_size) or not 1 <= input_size <= _MAX_UNITS:
        raise ValueError(f"input_size must be an integer from 1 to {_MAX_UNITS}, got {input_size!r}.")
    if not _is_integer(batch_size) or not 2 <= batch_size <= _MAX_BATCH:
        raise ValueError(f"batch_size must be an integer from 2 to {_MAX_BATCH}, got {batch_size!r}.")
    return int(input_size), int(batch_size)


def _network_arrays(layers, input_size, batch_size, seed, input_mean):
    """The inputs and the (kernel, bias) of every layer, float32, from one numpy RandomState."""
    random_state = np.random.RandomState(validation.seed(seed))
    inputs = (random_state.normal(0.0, 1.0, size=(batch_size, input_size)) + input_mean).astype(np.float32)
    weights = []
    fan_in = input_size
    for layer in layers:
        kernel = random_state.normal(0.0, layer["weight_stddev"], size=(fan_in, layer["units"]))
        bias = random_state.normal(0.0, layer["bias_stddev"], size=(layer["units"],))
        weights.append((kernel.astype(np.float32), bias.astype(np.float32)))
        fan_in = layer["units"]
    return inputs, weights


def _numpy_activation(name, values):
    if name == "relu":
        return np.maximum(values, 0.0)
    if name == "tanh":
        return np.tanh(values)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-values))
    return values


def expected_layer_statistics(layers, input_size, batch_size, seed, input_mean=0.0):
    """The float64 mean and standard deviation (over examples and units) of every layer's output."""
    layers = _validated_layers(layers)
    input_size, batch_size = _validated_network_sizes(input_size, batch_size)
    inputs, weights = _network_arrays(layers, input_size, batch_size, seed, float(input_mean))
    values = inputs.astype(np.float64)
    means, stds = [], []
    for layer, (kernel, bias) in zip(layers, weights):
        values = _numpy_activation(layer["activation"], values @ kernel.astype(np.float64) + bias)
        means.append(float(values.mean()))
        stds.append(float(values.std()))
    return {"mean": means, "std": stds}


def build_network(layers, input_size, batch_size, seed, input_mean=0.0):
    """A Sequential stack of Dense layers with numpy-drawn weights (no Keras initializer), and its inputs."""
    import keras

    layers = _validated_layers(layers)
    input_size, batch_size = _validated_network_sizes(input_size, batch_size)
    inputs, weights = _network_arrays(layers, input_size, batch_size, seed, float(input_mean))
    # Explicit "zeros" initializers: the grader disables the built-in Glorot/He classes (the default
    # kernel initializer) while it runs student code, and the weights are overwritten anyway.
    model = keras.Sequential(
        [keras.Input(shape=(input_size,))]
        + [
            keras.layers.Dense(layer["units"], activation=layer["activation"],
                               kernel_initializer="zeros", bias_initializer="zeros")
            for layer in layers
        ]
    )
    model.set_weights([array for pair in weights for array in pair])
    return model, inputs


def _as_vector(values, key, length):
    """Per-layer values (list of floats or backend scalars, or an array/tensor) as a float64 vector."""
    import keras

    if isinstance(values, (list, tuple)):
        vector = [float(np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64).reshape(()))
                  for value in values]
    else:
        vector = np.asarray(keras.ops.convert_to_numpy(values), dtype=np.float64)
        if vector.ndim != 1:
            raise ValueError(f"result[{key!r}] must hold one number per layer, got shape {vector.shape}.")
    vector = np.asarray(vector, dtype=np.float64)
    if vector.shape != (length,):
        raise ValueError(f"result[{key!r}] must hold one number per layer ({length} layers), got {vector.size}.")
    return vector


def layer_statistics(function, layers, input_size, batch_size, seed, input_mean=0.0):
    """An activation_statistics-like function run on a seeded Dense network and batch: per-layer mean and std."""
    validation.require_function(function, "activation_statistics")
    model, inputs = build_network(layers, input_size, batch_size, seed, input_mean)
    result = function(model, inputs)
    if not isinstance(result, dict) or not {"mean", "std"} <= set(result):
        raise ValueError(f"activation_statistics must return a dict with keys 'mean' and 'std', got {result!r}.")
    length = len(model.layers)
    return {"mean": _as_vector(result["mean"], "mean", length), "std": _as_vector(result["std"], "std", length)}


# ---------------------------------------------------------------------------
# Check factories.


def fans_match_keras(description, shapes, *, target="compute_fans", hint=""):
    """A Check: the student's compute_fans gives Keras's (fan_in, fan_out), as integers, on every shape."""
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.fans_of",
        target=target,
        arguments={"shapes": [list(shape) for shape in _validated_shapes(shapes)]},
        reference="keras.src.initializers.random_initializers.compute_fans",
        rtol=EXACT_RTOL,
        atol=EXACT_ATOL,
        hint=hint,
    )


def fans_match_values(description, shapes, fans, *, target="compute_fans", hint=""):
    """A Check against literal (fan_in, fan_out) pairs worked out by hand."""
    shapes = _validated_shapes(shapes)
    fans = [[int(fan_in), int(fan_out)] for fan_in, fan_out in fans]
    if len(fans) != len(shapes):
        raise ValueError(f"give one (fan_in, fan_out) pair per shape: {len(shapes)} shapes, {len(fans)} pairs.")
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.fans_of",
        target=target,
        arguments={"shapes": [list(shape) for shape in shapes]},
        expected={"fans": [[float(fan) for fan in pair] for pair in fans], "integers": True},
        rtol=EXACT_RTOL,
        atol=EXACT_ATOL,
        hint=hint,
    )


def _validated_initializer_reference(reference):
    if not isinstance(reference, str) or not reference.startswith("keras.initializers."):
        raise ValueError(f"reference must name a Keras initializer such as 'keras.initializers.GlorotUniform', "
                         f"got {reference!r}.")
    return reference


def initializer_matches_keras(description, target, reference, shape, *, seed, dtype=None, hint=""):
    """A Check: a large seeded sample of the student's initializer has the distribution of the Keras built-in.

    `reference` names the built-in (keras.initializers.GlorotUniform, ...; see VARIANCE_SCALING); the
    check compares with its closed-form statistics (expected_initializer_statistics), not with a
    sample from the backend's sampler, so the verdict does not depend on the backend.
    """
    shape = _validated_shape(shape, allow_scalar=False)
    count = _sample_count(shape)
    if not MIN_SAMPLES <= count <= MAX_SAMPLES:
        raise ValueError(f"shape {shape} has {count} entries: use {MIN_SAMPLES} to {MAX_SAMPLES} so that "
                         f"the {STATISTICS_RTOL:.0%} tolerance is several standard errors wide.")
    dtype = _validated_dtype(dtype)
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.initializer_statistics",
        target=target,
        arguments={"shape": list(shape), "seed": validation.seed(seed), "dtype": dtype},
        expected=expected_initializer_statistics(reference, shape, dtype),
        rtol=STATISTICS_RTOL,
        atol=0.0,
        hint=hint,
    )


def initializer_seeding_matches_keras(description, target, reference, shape=(40, 30), *, seed, hint=""):
    """A Check: the student's initializer keeps the promises of a seed exactly as the Keras built-in does."""
    shape = _validated_shape(shape, allow_scalar=False)
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.initializer_determinism",
        target=target,
        arguments={"shape": list(shape), "seed": validation.seed(seed)},
        reference=_validated_initializer_reference(reference),
        rtol=EXACT_RTOL,
        atol=EXACT_ATOL,
        hint=hint,
    )


def distinct_units_match(description, cases, *, target="count_distinct_units", hint=""):
    """A Check: count_distinct_units gives the number of distinct columns of kernels built with known groups.

    `cases` is a list of dicts: fan_in, units, distinct, seed, and optionally jitter (noise added to
    each copy), spread (scale of the prototypes) and tolerance (passed to the function; None or
    absent = its default of 1e-6). Each case is validated so that every sensible definition of
    "the same unit" gives `distinct`: copies lie within the tolerance (2 * jitter <= tolerance / 2),
    different prototypes are more than 20 tolerances apart.
    """
    if not isinstance(cases, (list, tuple)) or not cases:
        raise ValueError("cases must be a non-empty list of dicts.")
    kernels, tolerances, expected = [], [], []
    for index, case in enumerate(cases):
        if not isinstance(case, dict) or not {"fan_in", "units", "distinct", "seed"} <= set(case) or not set(
            case) <= {"fan_in", "units", "distinct", "seed", "jitter", "spread", "tolerance"}:
            raise ValueError(f"cases[{index}] must be a dict with keys fan_in, units, distinct, seed and optionally "
                             f"jitter, spread, tolerance; got {case!r}.")
        case = dict(case)
        tolerance = case.pop("tolerance", None)
        effective_tolerance = 1e-6 if tolerance is None else float(tolerance)
        kernel, assignment = _kernel_and_assignment(**case)
        jitter = case.get("jitter", 0.0)
        groups = [np.flatnonzero(assignment == prototype) for prototype in range(case["distinct"])]
        if 2 * jitter > effective_tolerance / 2:
            raise ValueError(f"cases[{index}]: jitter {jitter} is too large for tolerance {effective_tolerance}.")
        if _min_group_distance(kernel, groups) <= 20 * effective_tolerance:
            raise ValueError(f"cases[{index}]: two prototypes are too close for tolerance {effective_tolerance}; "
                             "change the seed or the spread.")
        kernels.append(kernel.tolist())
        tolerances.append(tolerance)
        expected.append(case["distinct"])
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.distinct_unit_counts",
        target=target,
        arguments={"kernels": kernels, "tolerances": tolerances},
        expected={"counts": [float(count) for count in expected]},
        rtol=EXACT_RTOL,
        atol=EXACT_ATOL,
        hint=hint,
    )


def activation_statistics_match(description, layers, *, input_size, batch_size, seed, input_mean=0.0,
                                target="activation_statistics", hint=""):
    """A Check: activation_statistics gives the float64 per-layer mean and std of a seeded Dense network."""
    layers = _validated_layers(layers)
    input_size, batch_size = _validated_network_sizes(input_size, batch_size)
    if not isinstance(input_mean, numbers.Real):
        raise ValueError(f"input_mean must be a number, got {input_mean!r}.")
    arguments = {"layers": layers, "input_size": input_size, "batch_size": batch_size,
                 "seed": validation.seed(seed), "input_mean": float(input_mean)}
    return Check(
        description=description,
        probe=f"{PROBE_MODULE}.layer_statistics",
        target=target,
        arguments=arguments,
        expected=expected_layer_statistics(**arguments),
        rtol=ACTIVATION_RTOL,
        atol=ACTIVATION_ATOL,
        hint=hint,
    )
