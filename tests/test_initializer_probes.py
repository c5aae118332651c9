"""Tests for labkit.initializer_probes: Keras built-ins match the closed forms on every backend, correct
implementations with their own random streams pass, wrong variants fail, bad input raises."""

import math
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import ops

from labkit import checks
from labkit import initializer_probes

TRUNCATED = initializer_probes.TRUNCATED_NORMAL_STDDEV


# ---------------------------------------------------------------------------
# Fans.


def fans_like_keras(shape):
    shape = tuple(shape)
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def fans_ignoring_receptive_field(shape):
    shape = tuple(shape)
    if len(shape) < 2:
        return fans_like_keras(shape)
    return shape[-2], shape[-1]


def fans_as_floats(shape):
    return tuple(float(fan) for fan in fans_like_keras(shape))


def fans_crashing_on_scalars(shape):
    return shape[-2] if len(shape) > 1 else shape[0], shape[-1]


# ---------------------------------------------------------------------------
# Initializers: correct ones with their own (numpy) random streams, and wrong ones.


class NumpyVarianceScaling(keras.initializers.Initializer):
    """A correct variance-scaling initializer drawing from numpy, not keras.random: a different stream."""

    scale, mode, distribution = 1.0, "fan_avg", "uniform"
    stddev_factor = 1.0  # wrong variants change these class attributes
    truncate = True
    use_seed = True

    def __init__(self, seed=None):
        self.seed = seed

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = fans_like_keras(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        stddev = math.sqrt(self.scale / max(1.0, fan)) * self.stddev_factor
        # Offset the seed so the stream is unrelated to Keras's stream for the same seed.
        random_state = np.random.RandomState(self.seed + 12345 if self.use_seed else None)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0) * stddev
            values = random_state.uniform(-limit, limit, size=shape)
        elif self.truncate:
            values = random_state.normal(0.0, stddev / TRUNCATED, size=shape)
            outside = np.abs(values) > 2 * stddev / TRUNCATED
            while outside.any():  # re-draw outside +-2 sampler standard deviations, as Keras does
                values[outside] = random_state.normal(0.0, stddev / TRUNCATED, size=int(outside.sum()))
                outside = np.abs(values) > 2 * stddev / TRUNCATED
        else:
            values = random_state.normal(0.0, stddev, size=shape)
        return ops.convert_to_tensor(values, dtype=dtype or keras.config.floatx())

    def get_config(self):
        return {"seed": self.seed}


def variant(name, **attributes):
    return type(name, (NumpyVarianceScaling,), attributes)


class FirstOfFourTruncatedNormal(NumpyVarianceScaling):
    """A truncated normal drawn as Keras's torch backend draws it: of four candidates, the first inside +-2 sigma,
    or the first candidate when none is (probability 0.0455^4 per value), so a few values lie beyond the cut."""

    scale, mode, distribution = 2.0, "fan_in", "normal"

    def __call__(self, shape, dtype=None):
        fan_in, _ = fans_like_keras(shape)
        sampler_stddev = math.sqrt(self.scale / max(1.0, fan_in)) / TRUNCATED
        candidates = np.random.RandomState(self.seed + 999).normal(size=tuple(shape) + (4,))
        first_inside = np.argmax(np.abs(candidates) < 2.0, axis=-1)
        values = np.take_along_axis(candidates, first_inside[..., None], axis=-1)[..., 0] * sampler_stddev
        return ops.convert_to_tensor(values, dtype=dtype or keras.config.floatx())


NumpyGlorotUniform = variant("NumpyGlorotUniform")
NumpyGlorotNormal = variant("NumpyGlorotNormal", distribution="normal")
NumpyHeNormal = variant("NumpyHeNormal", scale=2.0, mode="fan_in", distribution="normal")
NumpyHeUniform = variant("NumpyHeUniform", scale=2.0, mode="fan_in")
GlorotWithFanIn = variant("GlorotWithFanIn", mode="fan_in")
HeWithFanOut = variant("HeWithFanOut", scale=2.0, mode="fan_out", distribution="normal")
NormalWithoutCorrection = variant("NormalWithoutCorrection", distribution="normal", stddev_factor=TRUNCATED)
UntruncatedNormal = variant("UntruncatedNormal", distribution="normal", truncate=False)
UniformWithoutSqrt3 = variant("UniformWithoutSqrt3", stddev_factor=1.0 / math.sqrt(3.0))
HeUniformScaleOne = variant("HeUniformScaleOne", mode="fan_in")
SeedIgnored = variant("SeedIgnored", use_seed=False)


class GlorotIgnoringDtype(keras.initializers.GlorotUniform):
    def __call__(self, shape, dtype=None):
        return super().__call__(shape)


class GlorotWithoutSeedInConfig(keras.initializers.GlorotUniform):
    def get_config(self):
        return {}


class GlorotReceptiveFieldIgnored(NumpyVarianceScaling):
    def __call__(self, shape, dtype=None):
        fan_in, fan_out = fans_ignoring_receptive_field(shape)
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        return ops.convert_to_tensor(np.random.RandomState(self.seed).uniform(-limit, limit, size=shape), "float32")


# ---------------------------------------------------------------------------
# Symmetry.


def distinct_columns(kernel, tolerance=1e-6):
    kernel = np.asarray(kernel, dtype=np.float64)
    kept = []
    for unit in range(kernel.shape[1]):
        if not any(np.max(np.abs(kernel[:, unit] - other)) <= tolerance for other in kept):
            kept.append(kernel[:, unit])
    return len(kept)


def distinct_columns_by_clustering(kernel, tolerance=1e-6):
    """A different correct definition: connected components of the 'within tolerance' relation."""
    kernel = np.asarray(kernel, dtype=np.float64)
    units = kernel.shape[1]
    labels = list(range(units))
    for first in range(units):
        for second in range(first + 1, units):
            if np.max(np.abs(kernel[:, first] - kernel[:, second])) <= tolerance:
                old, new = labels[second], labels[first]
                labels = [new if label == old else label for label in labels]
    return len(set(labels))


def distinct_columns_as_a_tensor(kernel, tolerance=1e-6):
    """A correct count returned as a backend tensor (the probe converts it with keras.ops.convert_to_numpy)."""
    return ops.convert_to_tensor(distinct_columns(kernel, tolerance), dtype="int32")


def distinct_rows(kernel, tolerance=1e-6):
    return distinct_columns(np.asarray(kernel).T, tolerance)


def distinct_columns_exact(kernel, tolerance=1e-6):
    return int(np.unique(np.asarray(kernel), axis=1).shape[1])


def distinct_columns_fixed_tolerance(kernel, tolerance=1e-6):
    return distinct_columns(kernel)


# ---------------------------------------------------------------------------
# Activation statistics.


def statistics_after_activation(model, inputs):
    means, stds = [], []
    outputs = ops.convert_to_tensor(inputs)
    for layer in model.layers:
        outputs = layer(outputs)
        means.append(float(ops.convert_to_numpy(ops.mean(outputs))))
        stds.append(float(ops.convert_to_numpy(ops.std(outputs))))
    return {"mean": means, "std": stds}


def statistics_with_an_intermediate_model(model, inputs):
    """Another correct style: one functional model with every layer's output, numpy statistics."""
    probe = keras.Model(model.inputs, [layer.output for layer in model.layers])
    outputs = probe([inputs])
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    arrays = [ops.convert_to_numpy(output) for output in outputs]
    return {"mean": np.asarray([array.mean() for array in arrays]),
            "std": np.asarray([array.std() for array in arrays])}


def _tf32(values):
    """Round float32 values to TF32 (10 explicit mantissa bits), as GPU tensor cores do for matmul inputs."""
    bits = np.asarray(values, dtype=np.float32).view(np.uint32)
    rounded = (bits + np.uint32(0x1000)) & np.uint32(0xFFFFE000)
    return rounded.view(np.float32)


def statistics_with_tf32_matmuls(model, inputs):
    """Correct statistics of a forward pass whose matmuls round their inputs to TF32 (a GPU's default)."""
    outputs = np.asarray(inputs, dtype=np.float32)
    means, stds = [], []
    for layer in model.layers:
        kernel = ops.convert_to_numpy(layer.kernel)
        bias = ops.convert_to_numpy(layer.bias)
        preactivations = (_tf32(outputs) @ _tf32(kernel)).astype(np.float32) + bias
        outputs = ops.convert_to_numpy(layer.activation(preactivations))
        means.append(float(outputs.mean()))
        stds.append(float(outputs.std()))
    return {"mean": means, "std": stds}


def statistics_of_preactivations(model, inputs):
    outputs = ops.convert_to_tensor(inputs)
    means, stds = [], []
    for layer in model.layers:
        preactivations = ops.matmul(outputs, layer.kernel) + layer.bias
        means.append(float(ops.convert_to_numpy(ops.mean(preactivations))))
        stds.append(float(ops.convert_to_numpy(ops.std(preactivations))))
        outputs = layer.activation(preactivations)
    return {"mean": means, "std": stds}


def statistics_averaged_over_units(model, inputs):
    outputs = ops.convert_to_tensor(inputs)
    means, stds = [], []
    for layer in model.layers:
        outputs = layer(outputs)
        means.append(float(ops.convert_to_numpy(ops.mean(outputs))))
        stds.append(float(ops.convert_to_numpy(ops.mean(ops.std(outputs, axis=0)))))
    return {"mean": means, "std": stds}


def statistics_including_the_input(model, inputs):
    result = statistics_after_activation(model, inputs)
    inputs = np.asarray(inputs)
    return {"mean": [float(inputs.mean())] + result["mean"], "std": [float(inputs.std())] + result["std"]}


def statistics_with_wrong_keys(model, inputs):
    result = statistics_after_activation(model, inputs)
    return {"means": result["mean"], "stds": result["std"]}


NAMESPACE = {name: value for name, value in globals().items() if callable(value) and not name.startswith("_")}
NAMESPACE["NotAClass"] = keras.initializers.GlorotUniform(seed=1)


def outcome(check):
    return checks.evaluate(check, NAMESPACE)


# ---------------------------------------------------------------------------
# The module itself.


def test_import_does_not_load_keras_or_tensorflow():
    code = (
        "import sys, labkit.initializer_probes; "
        "loaded = [name for name in ('keras', 'tensorflow', 'jax', 'torch') if name in sys.modules]; "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_truncation_constant_is_the_std_of_a_normal_truncated_at_two():
    grid = np.linspace(-2.0, 2.0, 400001)
    density = np.exp(-grid**2 / 2)
    variance = np.trapezoid(grid**2 * density, grid) / np.trapezoid(density, grid)
    assert math.sqrt(variance) == pytest.approx(TRUNCATED, rel=1e-9)


# ---------------------------------------------------------------------------
# compute_fans.

FAN_SHAPES = [(), (7,), (784, 10), (10, 784), (3, 3, 16, 32), (5, 8, 4), (3, 3, 3, 4, 8), (1, 1, 128, 64)]


def test_keras_compute_fans_matches_itself_and_the_hand_values():
    reference = "keras.src.initializers.random_initializers.compute_fans"
    assert outcome(initializer_probes.fans_match_keras("fans", FAN_SHAPES, target=reference)).passed
    literal = initializer_probes.fans_match_values(
        "fans", [(784, 10), (3, 3, 16, 32), (), (7,)], [(784, 10), (144, 288), (1, 1), (7, 7)], target=reference
    )
    result = outcome(literal)
    assert result.passed, result.message


def test_a_correct_compute_fans_passes():
    result = outcome(initializer_probes.fans_match_keras("fans", FAN_SHAPES, target="fans_like_keras"))
    assert result.passed, result.message


@pytest.mark.parametrize("target", ["fans_ignoring_receptive_field", "fans_as_floats", "fans_crashing_on_scalars"])
def test_wrong_compute_fans_fails(target):
    assert not outcome(initializer_probes.fans_match_keras("fans", FAN_SHAPES, target=target)).passed


# ---------------------------------------------------------------------------
# Initializer statistics.

KERAS_NAMES = ["GlorotUniform", "GlorotNormal", "HeNormal", "HeUniform"]
STATISTICS_SHAPES = [(1600, 400), (400, 1600), (3, 3, 128, 256), (400000,)]


def statistics_check(target, reference, shape, seed=1, dtype=None):
    return initializer_probes.initializer_matches_keras(
        "statistics", target, f"keras.initializers.{reference}", shape, seed=seed, dtype=dtype
    )


@pytest.mark.parametrize("name", KERAS_NAMES)
@pytest.mark.parametrize("shape, dtype", [((1600, 400), None), ((3, 3, 128, 256), None), ((1000, 250), "float64")])
def test_keras_initializers_match_their_closed_forms(name, shape, dtype):
    # Keras's own samplers, on whatever backend runs the tests, against the closed forms: well inside the 1 %.
    result = outcome(statistics_check(f"keras.initializers.{name}", name, shape, dtype=dtype))
    assert result.passed and result.max_relative_error < initializer_probes.STATISTICS_RTOL / 2, result.message


def test_the_check_compares_with_closed_forms_not_with_a_sampler():
    check = statistics_check("GlorotUniform", "GlorotUniform", (1600, 400), dtype="float64")
    assert check.reference is None
    assert check.expected == {"shape": "(1600, 400)", "dtype": "float64", "std": math.sqrt(2.0 / 2000),
                              "abs_quantile_over_std": 0.999 * math.sqrt(3.0), "centered": True}
    he_normal = statistics_check("HeNormal", "HeNormal", (3, 3, 128, 256)).expected
    assert he_normal["std"] == pytest.approx(math.sqrt(2.0 / (9 * 128)), rel=1e-15)
    assert he_normal["abs_quantile_over_std"] == initializer_probes.tail_ratio("truncated_normal")
    assert he_normal["dtype"] == "float32" and he_normal["shape"] == "(3, 3, 128, 256)"
    # Mode and scale of every variant, on a 4:1 kernel and on a 1-D shape (fan_in = fan_out = its length).
    stds = {name: initializer_probes.expected_initializer_statistics(f"keras.initializers.{name}", (1600, 400))["std"]
            for name in initializer_probes.VARIANCE_SCALING}
    assert stds == pytest.approx({"GlorotUniform": math.sqrt(1 / 1000), "GlorotNormal": math.sqrt(1 / 1000),
                                  "HeUniform": math.sqrt(2 / 1600), "HeNormal": math.sqrt(2 / 1600),
                                  "LecunUniform": math.sqrt(1 / 1600), "LecunNormal": math.sqrt(1 / 1600)}, rel=1e-15)
    flat = initializer_probes.expected_initializer_statistics("keras.initializers.GlorotNormal", (400000,))
    assert flat["std"] == pytest.approx(math.sqrt(1 / 400000), rel=1e-15)


@pytest.mark.parametrize("name", ["GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform",
                                  "LecunNormal"])
def test_the_closed_form_table_is_what_keras_configures(name):
    initializer = getattr(keras.initializers, name)()
    assert isinstance(initializer, keras.initializers.VarianceScaling)
    assert (initializer.scale, initializer.mode, initializer.distribution) == initializer_probes.VARIANCE_SCALING[name]


def test_keras_fans_are_keras_compute_fans():
    from keras.src.initializers.random_initializers import compute_fans

    for shape in FAN_SHAPES:
        assert initializer_probes.keras_fans(shape) == tuple(int(fan) for fan in compute_fans(shape))


def test_tail_ratios_are_the_closed_forms_of_the_three_distributions():
    # Uniform on [-a, a]: |w| uniform on [0, a], std a / sqrt(3).
    assert initializer_probes.tail_ratio("uniform") == pytest.approx(0.999 * math.sqrt(3.0), rel=1e-15)
    # Plain normal: the two-sided 99.9 % point, 3.2905.
    assert initializer_probes.tail_ratio("normal") == pytest.approx(3.2905267, rel=1e-7)
    # Normal cut at +-2: invert the numerically integrated distribution function of |w|.
    grid = np.linspace(0.0, 2.0, 2_000_001)
    density = np.exp(-grid**2 / 2)
    cumulative = np.concatenate([[0.0], np.cumsum((density[1:] + density[:-1]) / 2 * np.diff(grid))])
    cumulative /= cumulative[-1]
    quantile = np.interp(0.999, cumulative, grid)
    assert initializer_probes.tail_ratio("truncated_normal") == pytest.approx(quantile / TRUNCATED, rel=1e-6)
    # And large NumPy samples of each distribution agree with them (n = 2,000,000: 0.03 % sampling error).
    random_state = np.random.RandomState(0)
    normal = random_state.normal(size=4_000_000)
    samples = {"uniform": random_state.uniform(-1.0, 1.0, size=2_000_000), "normal": normal[:2_000_000],
               "truncated_normal": normal[np.abs(normal) < 2.0][:2_000_000]}
    for distribution, sample in samples.items():
        ratio = np.quantile(np.abs(sample), 0.999) / sample.std()
        assert ratio == pytest.approx(initializer_probes.tail_ratio(distribution), rel=2e-3), distribution
    # The mistakes are far outside the 1 % tolerance: a plain normal, a uniform where a normal is expected.
    assert initializer_probes.tail_ratio("normal") > 1.4 * initializer_probes.tail_ratio("truncated_normal")
    assert initializer_probes.tail_ratio("uniform") < 0.8 * initializer_probes.tail_ratio("truncated_normal")


def test_statistics_are_the_closed_forms():
    uniform = initializer_probes.initializer_statistics(keras.initializers.GlorotUniform, (1600, 400), seed=3)
    assert uniform["std"] == pytest.approx(math.sqrt(2.0 / 2000), rel=5e-3)
    assert uniform["abs_quantile_over_std"] == pytest.approx(0.999 * math.sqrt(3.0), rel=5e-3)
    assert uniform["centered"] and uniform["shape"] == "(1600, 400)" and uniform["dtype"] == "float32"
    normal = initializer_probes.initializer_statistics(keras.initializers.HeNormal, (3, 3, 128, 256), seed=3,
                                                       dtype="float64")
    assert normal["std"] == pytest.approx(math.sqrt(2.0 / (9 * 128)), rel=5e-3)
    assert normal["abs_quantile_over_std"] == pytest.approx(initializer_probes.tail_ratio("truncated_normal"),
                                                            rel=5e-3)
    assert normal["dtype"] == "float64"  # on JAX too: the probe turns on 64-bit mode for the draw


def test_a_few_values_beyond_the_truncation_do_not_fail_a_correct_initializer():
    # Keras's torch truncated_normal leaves ~4e-6 of its values beyond +-2 sigma; a correct initializer built on it
    # must pass. Such values move max|w| (what an earlier version compared) but not the 99.9th percentile.
    shape = (1000, 2000)
    values = ops.convert_to_numpy(FirstOfFourTruncatedNormal(seed=1)(shape)).astype(np.float64)
    sampler_stddev = math.sqrt(2.0 / 1000) / TRUNCATED
    assert np.sum(np.abs(values) > 2 * sampler_stddev) >= 1  # the sample does hold such values
    assert np.max(np.abs(values)) / values.std() > 1.1 * 2 / TRUNCATED
    result = outcome(statistics_check("FirstOfFourTruncatedNormal", "HeNormal", shape, seed=1))
    assert result.passed, result.message


@pytest.mark.parametrize("target, reference", [
    ("NumpyGlorotUniform", "GlorotUniform"), ("NumpyGlorotNormal", "GlorotNormal"),
    ("NumpyHeNormal", "HeNormal"), ("NumpyHeUniform", "HeUniform"),
])
@pytest.mark.parametrize("shape", STATISTICS_SHAPES)
@pytest.mark.parametrize("seed", [1, 2])
def test_correct_initializers_with_their_own_random_stream_pass(target, reference, shape, seed):
    result = outcome(statistics_check(target, reference, shape, seed=seed))
    assert result.passed, result.message


@pytest.mark.parametrize("target, reference, shape", [
    ("GlorotWithFanIn", "GlorotUniform", (1600, 400)),
    ("GlorotWithFanIn", "GlorotUniform", (400, 1600)),
    ("HeWithFanOut", "HeNormal", (1600, 400)),
    ("NormalWithoutCorrection", "GlorotNormal", (1600, 400)),
    ("UntruncatedNormal", "GlorotNormal", (1600, 400)),
    ("UniformWithoutSqrt3", "GlorotUniform", (1600, 400)),
    ("HeUniformScaleOne", "HeUniform", (1600, 400)),
    ("NumpyGlorotUniform", "GlorotNormal", (1600, 400)),  # uniform where a normal is expected
    ("GlorotReceptiveFieldIgnored", "GlorotUniform", (3, 3, 128, 256)),
])
def test_wrong_initializers_fail(target, reference, shape):
    assert not outcome(statistics_check(target, reference, shape)).passed


def test_an_ignored_dtype_fails():
    # On every backend, JAX included (the probe enables its 64-bit mode for the draw).
    assert outcome(statistics_check("keras.initializers.GlorotUniform", "GlorotUniform", (1000, 250),
                                    dtype="float64")).passed
    assert outcome(statistics_check("NumpyGlorotUniform", "GlorotUniform", (1000, 250), dtype="float64")).passed
    result = outcome(statistics_check("GlorotIgnoringDtype", "GlorotUniform", (1000, 250), dtype="float64"))
    assert not result.passed and "`dtype`: expected 'float64', got 'float32'" in result.message


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX's 64-bit mode")
def test_on_jax_float64_is_enabled_for_the_draw_only():
    import jax
    import jax.numpy as jnp

    assert not jax.config.read("jax_enable_x64")  # the default, in which JAX turns float64 into float32
    statistics = initializer_probes.initializer_statistics(keras.initializers.HeUniform, (1000, 250), seed=1,
                                                           dtype="float64")
    assert statistics["dtype"] == "float64"
    assert not jax.config.read("jax_enable_x64")
    with pytest.warns(UserWarning, match="not available"):
        assert jnp.zeros(2, dtype="float64").dtype == jnp.float32


def test_a_target_that_is_not_a_class_fails_with_a_clear_message():
    result = outcome(statistics_check("NotAClass", "GlorotUniform", (1600, 400)))
    assert not result.passed and "class" in result.message


# ---------------------------------------------------------------------------
# Seeds.


def seeding_check(target, reference="GlorotUniform"):
    return initializer_probes.initializer_seeding_matches_keras(
        "seeding", target, f"keras.initializers.{reference}", seed=5
    )


@pytest.mark.parametrize("name", KERAS_NAMES)
def test_keras_seeding_matches_itself(name):
    result = outcome(seeding_check(f"keras.initializers.{name}", name))
    assert result.passed, result.message


def test_keras_seeding_promises():
    result = initializer_probes.initializer_determinism(keras.initializers.HeUniform, (30, 20), seed=4)
    assert result == {"shape": "(30, 20)", "repeated_call_same_values": True, "same_seed_same_values": True,
                      "other_seed_other_values": True, "config_seed": 4, "from_config_same_values": True}


def test_a_numpy_stream_keeps_the_seed_promises_too():
    result = outcome(seeding_check("NumpyGlorotUniform"))
    assert result.passed, result.message


@pytest.mark.parametrize("target", ["SeedIgnored", "GlorotWithoutSeedInConfig"])
def test_broken_seeding_fails(target):
    assert not outcome(seeding_check(target)).passed


# ---------------------------------------------------------------------------
# Distinct units.

UNIT_CASES = [
    {"fan_in": 6, "units": 10, "distinct": 3, "seed": 0},
    {"fan_in": 15, "units": 9, "distinct": 4, "seed": 3, "jitter": 1e-7},
    {"fan_in": 10, "units": 20, "distinct": 6, "seed": 5, "jitter": 0.02, "spread": 3.0, "tolerance": 0.1},
    {"fan_in": 3, "units": 40, "distinct": 5, "seed": 6},
]


def test_symmetric_kernel_has_the_planned_groups():
    kernel = initializer_probes.symmetric_kernel(fan_in=6, units=10, distinct=3, seed=0)
    assert kernel.shape == (6, 10) and kernel.dtype == np.float32
    assert len({tuple(column) for column in kernel.T}) == 3


@pytest.mark.parametrize("target", ["distinct_columns", "distinct_columns_by_clustering",
                                    "distinct_columns_as_a_tensor"])
def test_correct_unit_counts_pass(target):
    result = outcome(initializer_probes.distinct_units_match("units", UNIT_CASES, target=target))
    assert result.passed, result.message


@pytest.mark.parametrize("target, case", [
    ("distinct_rows", UNIT_CASES[0]),
    ("distinct_columns_exact", UNIT_CASES[1]),
    ("distinct_columns_fixed_tolerance", UNIT_CASES[2]),
])
def test_wrong_unit_counts_fail(target, case):
    assert not outcome(initializer_probes.distinct_units_match("units", [case], target=target)).passed


# ---------------------------------------------------------------------------
# Activation statistics.

TANH_LAYERS = [{"units": 48, "activation": "tanh", "weight_stddev": 0.18, "bias_stddev": 0.3}] * 4
RELU_LAYERS = [{"units": 40, "activation": "relu", "weight_stddev": 0.25, "bias_stddev": 0.3}] * 3
MIXED_LAYERS = [
    {"units": 64, "activation": "relu", "weight_stddev": 0.2, "bias_stddev": 0.5},
    {"units": 24, "activation": "sigmoid", "weight_stddev": 0.3, "bias_stddev": 0.5},
    {"units": 10, "activation": "linear", "weight_stddev": 0.3, "bias_stddev": 0.5},
]


def activation_check(target, layers, seed=0):
    return initializer_probes.activation_statistics_match(
        "statistics", layers, input_size=32, batch_size=128, seed=seed, input_mean=0.5, target=target
    )


@pytest.mark.parametrize("target", [
    "statistics_after_activation", "statistics_with_an_intermediate_model", "statistics_with_tf32_matmuls",
])
@pytest.mark.parametrize("layers", [TANH_LAYERS, RELU_LAYERS, MIXED_LAYERS])
def test_correct_activation_statistics_pass(target, layers):
    result = outcome(activation_check(target, layers))
    assert result.passed, result.message


@pytest.mark.parametrize("target", [
    "statistics_of_preactivations", "statistics_averaged_over_units", "statistics_including_the_input",
    "statistics_with_wrong_keys",
])
@pytest.mark.parametrize("layers", [TANH_LAYERS, RELU_LAYERS])
def test_wrong_activation_statistics_fail(target, layers):
    assert not outcome(activation_check(target, layers)).passed


def test_expected_statistics_follow_the_numpy_forward_pass():
    expected = initializer_probes.expected_layer_statistics(RELU_LAYERS, input_size=32, batch_size=128, seed=0,
                                                            input_mean=0.5)
    model, inputs = initializer_probes.build_network(RELU_LAYERS, input_size=32, batch_size=128, seed=0,
                                                     input_mean=0.5)
    outputs = ops.convert_to_numpy(model(inputs))
    assert len(expected["mean"]) == 3
    assert expected["mean"][-1] == pytest.approx(float(outputs.mean()), rel=1e-5)
    assert expected["std"][-1] == pytest.approx(float(outputs.std()), rel=1e-5)


def test_probe_networks_do_not_need_the_disabled_builtins():
    # The grader disables Keras's Glorot/He classes (the Dense default) while student code runs.
    code = (
        "import keras\n"
        "from autograder.sandboxed import runner\n"
        "from labkit import initializer_probes\n"
        "runner.disable_builtins(['keras.initializers.GlorotUniform', 'keras.initializers.VarianceScaling',\n"
        "                         'keras.src.initializers.random_initializers.compute_fans'])\n"
        "layers = [{'units': 8, 'activation': 'relu', 'weight_stddev': 0.3, 'bias_stddev': 0.1}] * 2\n"
        "model, inputs = initializer_probes.build_network(layers, input_size=4, batch_size=16, seed=0)\n"
        "assert model(inputs).shape == (16, 8)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------
# Bad arguments.


@pytest.mark.parametrize(
    "make_check",
    [
        lambda: initializer_probes.fans_match_keras("none", []),
        lambda: initializer_probes.fans_match_keras("negative", [(3, -1)]),
        lambda: initializer_probes.fans_match_keras("text", ["3, 3"]),
        lambda: initializer_probes.fans_match_values("lengths", [(3, 4)], [(3, 4), (1, 1)]),
        lambda: statistics_check("G", "GlorotUniform", (40, 30)),  # too few samples for the tolerance
        lambda: statistics_check("G", "GlorotUniform", (1600, 400), seed=-1),
        lambda: statistics_check("G", "GlorotUniform", (1600, 400), dtype="int32"),
        lambda: initializer_probes.initializer_matches_keras("ref", "G", "mymodule.GlorotUniform", (1600, 400),
                                                             seed=1),
        lambda: initializer_probes.initializer_matches_keras("no closed form", "G", "keras.initializers.RandomNormal",
                                                             (1600, 400), seed=1),
        lambda: initializer_probes.initializer_seeding_matches_keras("shape", "G", "keras.initializers.HeNormal",
                                                                     (), seed=1),
        lambda: initializer_probes.distinct_units_match("empty", []),
        lambda: initializer_probes.distinct_units_match(
            "noise too large", [{"fan_in": 4, "units": 6, "distinct": 2, "seed": 0, "jitter": 1e-6}]),
        lambda: initializer_probes.distinct_units_match(
            "prototypes too close", [{"fan_in": 4, "units": 6, "distinct": 2, "seed": 0, "spread": 1e-6}]),
        lambda: initializer_probes.distinct_units_match(
            "more groups than units", [{"fan_in": 4, "units": 2, "distinct": 3, "seed": 0}]),
        lambda: initializer_probes.activation_statistics_match(
            "activation", [{"units": 4, "activation": "swish", "weight_stddev": 0.1}],
            input_size=4, batch_size=8, seed=0),
        lambda: initializer_probes.activation_statistics_match(
            "keys", [{"units": 4, "activation": "relu", "std": 0.1}], input_size=4, batch_size=8, seed=0),
        lambda: initializer_probes.activation_statistics_match(
            "batch", [{"units": 4, "activation": "relu", "weight_stddev": 0.1}], input_size=4, batch_size=1, seed=0),
        lambda: initializer_probes.activation_statistics_match("layers", [], input_size=4, batch_size=8, seed=0),
    ],
)
def test_bad_arguments_raise_value_error(make_check):
    with pytest.raises(ValueError):
        make_check()


def test_probes_reject_bad_arguments_too():
    with pytest.raises(ValueError):
        initializer_probes.initializer_statistics(keras.initializers.GlorotUniform, (10, 10), seed=1)
    with pytest.raises(ValueError):
        initializer_probes.initializer_determinism(keras.initializers.GlorotUniform, (1000, 1000), seed=1)
    with pytest.raises(TypeError):
        initializer_probes.fans_of(keras.initializers.GlorotUniform, [(3, 4)])
    with pytest.raises(ValueError):
        initializer_probes.distinct_unit_counts(distinct_columns, [[1.0, 2.0]], [None])
