"""Keras's own unit tests, run against the solution classes that the labs call drop-ins.

Keras ships its unit tests in the wheel (`keras/src/**/*_test.py`). For each solution class this module
imports the matching Keras test module, substitutes the solution class for Keras's in that module (only
there: the rest of Keras keeps its own classes), and runs, with `unittest`, every test method whose source
names the class. `EXCLUSIONS` lists the tests that exercise what a lab deliberately leaves out, each with
its reason; tests/test_drop_in.py requires every other test to pass and every excluded one to still fail
(so the list cannot rot). The solution classes come from executing the lab's setup and answer cells, as
benchmarks/run.py does.

`python -m benchmarks.drop_in` prints the counts and rewrites its section of benchmarks/RESULTS.md
(between its markers, below the "kept" line); `--no-write` only prints.
"""

import argparse
import contextlib
import importlib
import importlib.util
import inspect
import io
import os
import pathlib
import platform
import sys
import time
import types
import unittest

from benchmarks import scale

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
BEGIN_MARKER = "<!-- drop-in: begin (rewritten by `python -m benchmarks.drop_in`) -->"
END_MARKER = "<!-- drop-in: end -->"

# lab -> [(class, Keras test module, how the test module reaches the class)]. The last item is either
# ("name", None): the module imported the class itself (`from keras.src.optimizers.sgd import SGD`), or
# ("module", "attribute"): it reaches it through a module (`layers.Dense`), replaced by a copy of that
# module in which only the attribute is the solution's.
SUITES = {
    "02_custom_layers": [
        ("Dense", "keras.src.layers.core.dense_test", ("layers", "Dense")),
        ("LeakyReLU", "keras.src.layers.activations.leaky_relu_test", ("leaky_relu", "LeakyReLU")),
        ("PReLU", "keras.src.layers.activations.prelu_test", ("prelu", "PReLU")),
        ("Softmax", "keras.src.layers.activations.softmax_test", ("softmax", "Softmax")),
    ],
    # 03_initializers: Keras's random_initializers_test tests VarianceScaling (Glorot and He are presets of it)
    # and never names GlorotUniform, GlorotNormal, HeNormal or HeUniform: no Keras test applies.
    "04_regularization": [
        ("Dropout", "keras.src.layers.regularization.dropout_test", ("layers", "Dropout")),
        ("BatchNormalization", "keras.src.layers.normalization.batch_normalization_test",
         ("layers", "BatchNormalization")),
        ("LayerNormalization", "keras.src.layers.normalization.layer_normalization_test",
         ("layers", "LayerNormalization")),
        ("GroupNormalization", "keras.src.layers.normalization.group_normalization_test",
         ("layers", "GroupNormalization")),
    ],
    "05_optimizers": [
        (name, f"keras.src.optimizers.{name.lower()}_test", (name, None))
        for name in ("SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "AdamW")
    ],
    "06_callbacks": [
        ("EarlyStopping", "keras.src.callbacks.early_stopping_test", ("callbacks", "EarlyStopping")),
        ("ReduceLROnPlateau", "keras.src.callbacks.reduce_lr_on_plateau_test", ("callbacks", "ReduceLROnPlateau")),
    ] + [
        (name, "keras.src.optimizers.schedules.learning_rate_schedule_test", ("schedules", name))
        for name in ("ExponentialDecay", "InverseTimeDecay", "PolynomialDecay", "PiecewiseConstantDecay",
                     "CosineDecay", "CosineDecayRestarts")
    ],
    "07_convolutions": [
        ("Conv2D", "keras.src.layers.convolutional.conv_test", ("layers", "Conv2D")),
        ("MaxPooling2D", "keras.src.layers.pooling.max_pooling_test", ("layers", "MaxPooling2D")),
        ("AveragePooling2D", "keras.src.layers.pooling.average_pooling_test", ("layers", "AveragePooling2D")),
    ],
}

_LORA = "LoRA (enable_lora, lora_rank): not part of the lab"
_QUANTIZATION = "quantization (int8/int4/float8, GPTQ, AWQ): not part of the lab"
_CONSTRAINTS = "kernel/bias constraints and regularizers: not arguments of the lab's class (refused as unknown keywords)"

_SOFTMAX_MASKS = "masks (masked logits get probability 0): the lab's Softmax.call takes no mask"
_GROUPS_LAST_AXIS = "axis other than -1: the lab's GroupNormalization groups the channels-last axis only (and refuses others)"
_OWN_WORDING = ("matches Keras's exact error message; the lab's layer refuses the same input with a ValueError "
                "worded its own way")

# class -> {test id (TestClass.method) or a prefix ending in "*": why the lab leaves it out}.
EXCLUSIONS = {
    "Dense": {
        "DenseTest.test_enable_lora*": _LORA,
        "DenseTest.test_lora_*": _LORA,
        "DenseTest.test_dense_constraints": _CONSTRAINTS,
        "DenseTest.test_dense_basics": "its run_layer_test cases pass kernel and bias regularizers",
        "DenseTest.test_quantize_int*": _QUANTIZATION,
        "DenseTest.test_quantize_on_subclass*": _QUANTIZATION,
        "DenseTest.test_quantize_when_already_quantized*": _QUANTIZATION,
        "DenseTest.test_quantize_by_setting_dtype_policy*": _QUANTIZATION,
        "DenseTest.test_quantize_invalid_mode*": _QUANTIZATION,
        "DenseTest.test_quantize_dtype_argument*": _QUANTIZATION,
        "DenseTest.test_quantize_lora_integration*": _QUANTIZATION,
        "DenseTest.test_quantize_float8*": _QUANTIZATION,
        "DenseTest.test_dense_quantize*": _QUANTIZATION,
        "DenseTest.test_dense_int*": _QUANTIZATION,
        "DenseTest.test_int4*": _QUANTIZATION,
        "DenseTest.test_gptq*": _QUANTIZATION,
        "DenseTest.test_awq*": _QUANTIZATION,
        "DenseTest.test_legacy_load_own_variables*": _QUANTIZATION,
    },
    "PReLU": {
        "PReLUTest.test_prelu": "alpha_regularizer and alpha_constraint: not arguments of the lab's PReLU",
        "PReLUTest.test_prelu_correctness": "alpha_regularizer and alpha_constraint: not arguments of the lab's PReLU",
    },
    "Softmax": {
        "SoftmaxTest.test_softmax": "expects supports_masking=True: the lab's Softmax takes no mask (and says so)",
        "SoftmaxTest.test_softmax_correctness_with_mask": _SOFTMAX_MASKS,
        "SoftmaxTest.test_softmax_mask_*": _SOFTMAX_MASKS,
        "SoftmaxTest.test_softmax_masked_values_are_zero*": _SOFTMAX_MASKS,
    },
    "Dropout": {
        "DropoutTest.test_dropout_partial_noise_shape*": "noise_shape: not an argument of the lab's Dropout",
        "DropoutTest.test_validate_noise_shape*": "noise_shape: not an argument of the lab's Dropout",
    },
    "BatchNormalization": {
        "BatchNormalizationTest.test_correctness*": "moving_mean_initializer / moving_variance_initializer (and the "
                                                    "other initializer arguments): not arguments of the lab's layer",
        "BatchNormalizationTest.test_bachnorm_ignore_masked_values*": "masks (statistics over unmasked steps only): "
                                                                      "the lab's call takes no mask",
        "BatchNormalizationTest.test_masked_broadcast_normalization": "masks: the lab's call takes no mask",
        "BatchNormalizationTest.test_input_fully_masked*": "masks and `synchronized`: not part of the lab",
        "BatchNormalizationTest.test_renorm*": "batch renormalization (renorm): not part of the lab",
        "BatchNormalizationTest.test_serialization": "its config round trip uses renorm, not part of the lab",
        "BatchNormalizationTest.test_bn_basics": "its run_layer_test cases pass beta/gamma regularizers and constraints",
    },
    "LayerNormalization": {
        "LayerNormalizationTest.test_invalid_axis": "a list or dict of axes: the lab's layer takes one integer axis",
        "LayerNormalizationTest.test_unsorted_axis": "a list of axes: the lab's layer takes one integer axis",
        "LayerNormalizationTest.test_ln_basics": "its run_layer_test cases pass beta/gamma regularizers",
        "LayerNormalizationTest.test_output": "beta_initializer / gamma_initializer: not arguments of the lab's layer",
        "LayerNormalizationTest.test_output_with_rms_scaling": "rms_scaling (RMSNorm): not part of the lab",
    },
    "GroupNormalization": {
        "GroupNormalizationTest.test_groupnorm": "its run_layer_test cases pass beta/gamma regularizers",
        "GroupNormalizationTest.test_broadcasting_2d_channels_first": _GROUPS_LAST_AXIS,
        "GroupNormalizationTest.test_correctness_1d": _GROUPS_LAST_AXIS,
        "GroupNormalizationTest.test_correctness_2d": _GROUPS_LAST_AXIS,
        "GroupNormalizationTest.test_groups_bigger_than_dim_error": _OWN_WORDING,
        "GroupNormalizationTest.test_groups_not_a_multiple_of_dim_error": _OWN_WORDING,
        "GroupNormalizationTest.test_groups_rejects_invalid_values": _OWN_WORDING,
        "GroupNormalizationTest.test_undefined_dim_error": _OWN_WORDING,
    },
    "EarlyStopping": {
        "EarlyStoppingTest.test_early_stopping": "reads Keras's private attribute `monitor_op` (the lab's class compares "
                                                 "with its own logic)",
    },
    "ReduceLROnPlateau": {
        "ReduceLROnPlateauTest.test_verbose_logging": "expects the message through Keras's absl logger "
                                                      "(io_utils.print_msg); the lab's class prints it",
    },
    "Conv2D": {
        "ConvBasicTest.test_enable_lora_conv2d*": _LORA,
        "ConvBasicTest.test_enable_lora_with_alpha": _LORA,
        "ConvBasicTest.test_lora_*": _LORA,
        "ConvBasicTest.test_bad_init_args": "checks Conv1D's and dilation_rate's messages; the lab has neither",
        "ConvBasicTest.test_conv2d_basic1": "dilation_rate and groups: the lab's Conv2D refuses values other than 1",
        "ConvBasicTest.test_conv2d_basic2": "groups: the lab's Conv2D refuses groups other than 1",
        "ConvCorrectnessTest.test_conv2d2": "dilation_rate: the lab's Conv2D refuses values other than 1",
        "ConvCorrectnessTest.test_conv2d3": "dilation_rate: the lab's Conv2D refuses values other than 1",
        "ConvCorrectnessTest.test_conv2d4": "groups: the lab's Conv2D refuses groups other than 1",
        "ConvCorrectnessTest.test_conv2d5": "channels_first: the lab's Conv2D is channels-last only (and refuses it)",
        "ConvCorrectnessTest.test_conv_constraints": _CONSTRAINTS,
        "ConvCorrectnessTest.test_conv_raises_exception_on_zero_dims": "an input smaller than a 'valid' kernel: the "
                                                                        "lab's Conv2D returns an empty output",
    },
    "MaxPooling2D": {
        "MaxPoolingCorrectnessTest.test_max_pooling2d2": "padding='same': the lab's pooling is 'valid' only",
        "MaxPoolingCorrectnessTest.test_max_pooling2d4": "padding='same': the lab's pooling is 'valid' only",
    },
    "AveragePooling2D": {
        "AveragePoolingBasicTest.test_average_pooling2d1": "padding='same': the lab's pooling is 'valid' only",
        "AveragePoolingBasicTest.test_average_pooling2d5": "padding='same': the lab's pooling is 'valid' only",
        "AveragePoolingCorrectnessTest.test_average_pooling2d_same_padding0": "padding='same': not in the lab",
        "AveragePoolingCorrectnessTest.test_average_pooling2d_same_padding2": "padding='same': not in the lab",
    },
}
# Tests whose parameters ask for channels-first images: the lab's layers are channels-last only and refuse them.
# (They are excluded by the message of that refusal, channels_last_only() in lab 07's setup, not one by one.)
CHANNELS_FIRST = "channels_first: the lab's layers are channels-last only (and refuse it with a clear ValueError)"
CHANNELS_FIRST_REFUSAL = "supports only data_format='channels_last'"


def _solution_namespace(lab_id):
    """The lab's setup and answer cells, executed (trusted instructor code)."""
    from benchmarks.run import _solution_namespace as execute

    return execute(lab_id)


class _FakeConftest(types.ModuleType):
    """Keras's repository conftest (not in the wheel): `skip_if_backend` is all its tests import from it."""

    def __init__(self):
        super().__init__("conftest")

        def skip_if_backend(given_backend, reason):
            import keras

            return unittest.skipIf(keras.backend.backend() == given_backend, reason)

        self.skip_if_backend = skip_if_backend


@contextlib.contextmanager
def _keras_conftest():
    saved = sys.modules.get("conftest")
    sys.modules["conftest"] = _FakeConftest()
    try:
        yield
    finally:
        if saved is None:
            sys.modules.pop("conftest", None)
        else:
            sys.modules["conftest"] = saved


def _load_test_module(module_name):
    """A fresh copy of a Keras test module (fresh, so substitutions never leak into another suite)."""
    with _keras_conftest():
        spec = importlib.util.find_spec(module_name)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


def _substitute(module, how, solution_class):
    name, attribute = how
    if attribute is None:
        setattr(module, name, solution_class)
        return
    original = getattr(module, name)
    copy = types.ModuleType(original.__name__)
    copy.__dict__.update(original.__dict__)
    setattr(copy, attribute, solution_class)
    setattr(module, name, copy)


def _test_function(test):
    function = getattr(type(test), test._testMethodName)
    return inspect.unwrap(function)


def _source(function):
    try:
        return inspect.getsource(function)
    except (OSError, TypeError):
        return ""


def _pytest_skip_reason(function):
    """Why the test's pytest marks skip it here (`skipif` with a true condition), or None."""
    for mark in getattr(function, "pytestmark", []):
        if mark.name == "skipif" and mark.args and mark.args[0]:
            return mark.kwargs.get("reason", "pytest skipif")
        if mark.name == "skip":
            return mark.kwargs.get("reason", "pytest skip")
    return None


def _names_class(test, class_name, module_name):
    """Whether this test is about class_name: its source names it (or its test class is named after it)."""
    if type(test).__name__.startswith(class_name):
        return True
    source = _source(_test_function(test))
    token = f".{class_name}(" if not module_name.endswith(("sgd_test", "adagrad_test", "rmsprop_test",
                                                             "adam_test", "adamw_test")) else f"{class_name}("
    return token in source or f".{class_name}," in source or f".{class_name}\n" in source


def _excluded(class_name, test_id):
    for pattern, reason in EXCLUSIONS.get(class_name, {}).items():
        if test_id == pattern or (pattern.endswith("*") and test_id.startswith(pattern[:-1])):
            return reason
    return None


def run_class(lab_id, class_name, module_name, how, namespace):
    """{test id: ("passed" | "failed" | "skipped", detail)} for one solution class."""
    module = _load_test_module(module_name)
    _substitute(module, how, namespace[class_name])
    outcomes = {}
    for test in _iterate(unittest.defaultTestLoader.loadTestsFromModule(module)):
        if not _names_class(test, class_name, module_name):
            continue
        test_id = f"{type(test).__name__}.{test._testMethodName}"
        reason = _pytest_skip_reason(_test_function(test))
        if reason:
            outcomes[test_id] = ("skipped", reason)
            continue
        result = unittest.TestResult()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            test.run(result)
        if result.skipped:
            outcomes[test_id] = ("skipped", result.skipped[0][1])
        elif result.failures or result.errors:
            trace = (result.failures + result.errors)[0][1].strip().splitlines()
            outcomes[test_id] = ("failed", trace[-1][:300] if trace else "")
        else:
            outcomes[test_id] = ("passed", "")
    return outcomes


def _iterate(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from _iterate(item)
        else:
            yield item


def run_all(lab_ids=None):
    """{lab: {class: outcomes}} for every suite (or those of lab_ids); keeps Keras's global state as it was."""
    import keras

    results = {}
    for lab_id, entries in SUITES.items():
        if lab_ids and lab_id not in lab_ids:
            continue
        namespace = _solution_namespace(lab_id)
        results[lab_id] = {}
        for class_name, module_name, how in entries:
            policy, interactive = keras.config.dtype_policy(), keras.config.is_interactive_logging_enabled()
            try:
                results[lab_id][class_name] = run_class(lab_id, class_name, module_name, how, namespace)
            finally:
                keras.config.set_dtype_policy(policy)
                (keras.config.enable_interactive_logging if interactive else keras.config.disable_interactive_logging)()
                keras.backend.clear_session()
    return results


def summarize(outcomes, class_name):
    """(passed, excluded, skipped, total, problems): problems lists non-excluded failures and stale exclusions."""
    passed = excluded = skipped = 0
    problems = []
    for test_id, (status, detail) in outcomes.items():
        reason = _excluded(class_name, test_id)
        if reason is None and status == "failed" and CHANNELS_FIRST_REFUSAL in detail:
            reason = CHANNELS_FIRST
        if status == "skipped":
            skipped += 1
        elif reason is not None:
            excluded += 1
            if status == "passed":
                problems.append(f"{class_name}: {test_id} is excluded ({reason}) but passes: drop the exclusion")
        elif status == "passed":
            passed += 1
        else:
            problems.append(f"{class_name}: {test_id} fails: {detail}")
    for pattern in EXCLUSIONS.get(class_name, {}):
        if not any(test_id == pattern or (pattern.endswith("*") and test_id.startswith(pattern[:-1]))
                   for test_id in outcomes):
            problems.append(f"{class_name}: the exclusion {pattern!r} matches no test: drop it")
    return passed, excluded, skipped, len(outcomes), problems


def section_lines(results, seconds):
    import keras

    lines = [
        "## Drop-in: Keras's own unit tests against the solutions",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, Keras {keras.__version__} "
        f"({keras.backend.backend()} backend), {seconds:.0f} s in all, by `python -m benchmarks.drop_in` "
        "(checked by tests/test_drop_in.py). Each class runs the tests of Keras's test module that name it, "
        "with the solution class in place of Keras's; excluded tests exercise features the lab leaves out "
        "(reasons in `benchmarks.drop_in.EXCLUSIONS`) and must still fail; skipped ones do not apply to this "
        "backend.",
        "",
        "| lab | class | Keras test module | passed | excluded | skipped | total |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for lab_id, classes in results.items():
        modules = {name: module for name, module, _ in SUITES[lab_id]}
        for class_name, outcomes in classes.items():
            passed, excluded, skipped, total, _ = summarize(outcomes, class_name)
            lines.append(f"| {lab_id} | {class_name} | `{modules[class_name].removeprefix('keras.src.')}` | "
                         f"{passed} | {excluded} | {skipped} | {total} |")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", action="append", help="only this lab (repeatable)")
    parser.add_argument("--no-write", action="store_true", help="print without rewriting RESULTS.md")
    parser.add_argument("--verbose", action="store_true", help="print every failure")
    arguments = parser.parse_args(argv)
    started = time.perf_counter()
    results = run_all(arguments.lab)
    seconds = time.perf_counter() - started
    lines = section_lines(results, seconds)
    print("\n".join(lines))
    problems = [problem for classes in results.values() for name, outcomes in classes.items()
                for problem in summarize(outcomes, name)[4]]
    for problem in problems:
        print("PROBLEM:", problem)
    if arguments.verbose:
        for classes in results.values():
            for name, outcomes in classes.items():
                for test_id, (status, detail) in outcomes.items():
                    if status == "failed":
                        print(f"{name} {test_id}: {detail}")
    if not arguments.no_write and not arguments.lab:
        text = RESULTS.read_text() if RESULTS.exists() else ""
        RESULTS.write_text(scale.replace_marked_section(text, lines, BEGIN_MARKER, END_MARKER))
        print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
