"""Tests for labkit.checks and labkit.function_probes: checks, comparison, encoding and self-checks."""

import json

import keras
import numpy as np
import pytest

from labkit import checks, function_probes


def define(source, label="answer"):
    """Execute source as a notebook cell would be graded (filename "<cell label>") and return its namespace."""
    namespace = {"np": np}
    exec(compile(source, f"<cell {label}>", "exec"), namespace)
    return namespace


# ---------------------------------------------------------------------------
# Check validation.


def test_check_with_reference_is_valid():
    check = checks.Check("abs", "labkit.function_probes.outputs_on", "absolute", reference="numpy.abs")
    assert check.expected is None
    assert check.to_json()["reference"] == "numpy.abs"
    assert check.to_json()["probe"] == "labkit.function_probes.outputs_on"


def test_check_with_expected_is_valid():
    check = checks.Check("abs", "labkit.function_probes.outputs_on", "absolute", expected={"outputs": [1.0]})
    assert check.reference is None


def test_check_needs_reference_or_expected():
    with pytest.raises(ValueError, match="exactly one of `reference`"):
        checks.Check("neither", "labkit.function_probes.outputs_on", "absolute")


def test_check_rejects_both_reference_and_expected():
    with pytest.raises(ValueError, match="exactly one of `reference`"):
        checks.Check("both", "labkit.function_probes.outputs_on", "absolute",
                     reference="numpy.abs", expected={"outputs": [1.0]})


def test_check_reference_must_be_dotted():
    # A bare name would come from the notebook, where it could be the student's own code.
    with pytest.raises(ValueError, match="dotted import path"):
        checks.Check("bare", "labkit.function_probes.outputs_on", "absolute", reference="my_abs")


def test_check_probe_must_be_dotted():
    with pytest.raises(ValueError, match="probe must be a dotted path"):
        checks.Check("bad probe", "outputs_on", "absolute", reference="numpy.abs")


def test_check_is_frozen():
    check = checks.Check("abs", "labkit.function_probes.outputs_on", "absolute", reference="numpy.abs")
    with pytest.raises(AttributeError):
        check.target = "other"


# ---------------------------------------------------------------------------
# resolve_symbol.


def test_resolve_bare_name_from_namespace():
    marker = object()
    assert checks.resolve_symbol("thing", {"thing": marker}) is marker


def test_resolve_missing_bare_name_raises_helpful_name_error():
    with pytest.raises(NameError) as raised:
        checks.resolve_symbol("relu", {})
    message = str(raised.value)
    assert "`relu` is not defined" in message
    assert "Run the cell that defines it" in message


def test_resolve_dotted_name_imports_it():
    assert checks.resolve_symbol("numpy.abs", {}) is np.abs
    assert checks.resolve_symbol("keras.optimizers.Adam", {}) is keras.optimizers.Adam


def test_resolve_dotted_name_ignores_namespace():
    # A dotted reference is always imported, never looked up among the student's names.
    assert checks.resolve_symbol("numpy.abs", {"numpy": None, "numpy.abs": "fake"}) is np.abs


def test_resolve_nested_attribute_path():
    resolved = checks.resolve_symbol("keras.optimizers.schedules.ExponentialDecay", {})
    assert resolved is keras.optimizers.schedules.ExponentialDecay


def test_resolve_attribute_of_a_class():
    # "numpy.ndarray.sum" is not importable as a module path: walk attributes instead.
    assert checks.resolve_symbol("numpy.ndarray.sum", {}) is np.ndarray.sum


def test_resolve_unknown_dotted_name_raises():
    with pytest.raises((ImportError, AttributeError)):
        checks.resolve_symbol("numpy.no_such_function_here", {})


# ---------------------------------------------------------------------------
# relative_error.


def test_relative_error_identical_is_zero():
    assert checks.relative_error([1.0, -2.0, 0.0], [1.0, -2.0, 0.0]) == 0.0


def test_relative_error_is_largest_elementwise():
    assert checks.relative_error([1.0, 2.0], [1.0, 2.5]) == pytest.approx(0.5 / 2.5)
    assert checks.relative_error([10.0, 1.0], [11.0, 1.0]) == pytest.approx(1.0 / 11.0)


def test_relative_error_is_symmetric_in_scale():
    assert checks.relative_error(2.0, 1.0) == pytest.approx(checks.relative_error(1.0, 2.0))


def test_relative_error_of_empty_arrays_is_zero():
    assert checks.relative_error([], []) == 0.0


def test_relative_error_nan_against_nan_is_zero():
    assert checks.relative_error([1.0, np.nan], [1.0, np.nan]) == 0.0


def test_relative_error_nan_against_number_is_infinite():
    assert checks.relative_error([1.0, np.nan], [1.0, 2.0]) == np.inf
    assert checks.relative_error([1.0, 2.0], [1.0, np.nan]) == np.inf


def test_relative_error_infinities():
    assert checks.relative_error([np.inf, -np.inf], [np.inf, -np.inf]) == 0.0
    assert checks.relative_error(np.inf, 1.0) == np.inf
    assert checks.relative_error(np.inf, -np.inf) == np.inf


# ---------------------------------------------------------------------------
# compare_outputs.


def test_compare_matching_outputs_pass():
    outcome = checks.compare_outputs({"x": [1.0, 2.0], "loss": 0.5}, {"x": np.array([1.0, 2.0]), "loss": 0.5})
    assert outcome.passed
    assert outcome.message.startswith("matches")
    assert outcome.max_relative_error == 0.0


def test_compare_within_tolerance_passes():
    outcome = checks.compare_outputs({"x": [1.0]}, {"x": [1.0 + 1e-7]}, rtol=1e-5)
    assert outcome.passed
    assert "max relative error" in outcome.message


def test_compare_shape_mismatch_message():
    outcome = checks.compare_outputs({"x": [1.0, 2.0, 3.0]}, {"x": [1.0, 2.0]})
    assert not outcome.passed
    assert outcome.message == "`x`: expected shape (3,), got shape (2,)"


def test_compare_value_mismatch_message_names_index_expected_got_and_error():
    outcome = checks.compare_outputs({"x": [[1.0, 2.0], [3.0, 4.0]]}, {"x": [[1.0, 2.0], [3.0, 5.0]]})
    assert not outcome.passed
    assert "`x` at index (1, 1)" in outcome.message
    assert "expected 4" in outcome.message
    assert "got 5" in outcome.message
    assert "max relative error 2.00e-01" in outcome.message
    assert "rtol=1e-05" in outcome.message
    assert outcome.max_relative_error == pytest.approx(0.2)


def test_compare_value_mismatch_names_first_failing_index():
    outcome = checks.compare_outputs({"x": [1.0, 2.0, 3.0]}, {"x": [1.0, 9.0, 8.0]})
    assert "at index (1,)" in outcome.message


def test_compare_scalar_mismatch_has_no_index():
    outcome = checks.compare_outputs({"loss": 1.0}, {"loss": 2.0})
    assert not outcome.passed
    assert outcome.message.startswith("`loss`: expected 1, got 2 ")
    assert "index" not in outcome.message


def test_compare_uses_given_tolerances():
    assert checks.compare_outputs({"x": [1.0]}, {"x": [1.01]}, rtol=0.1).passed
    assert not checks.compare_outputs({"x": [1.0]}, {"x": [1.01]}, rtol=1e-3).passed


def test_compare_nan_against_nan_passes():
    assert checks.compare_outputs({"x": [1.0, np.nan]}, {"x": [1.0, np.nan]}).passed


def test_compare_nan_against_number_fails():
    outcome = checks.compare_outputs({"x": [1.0, np.nan]}, {"x": [1.0, 2.0]})
    assert not outcome.passed
    assert "at index (1,)" in outcome.message
    assert "expected nan" in outcome.message
    assert "got 2" in outcome.message
    outcome = checks.compare_outputs({"x": [1.0, 2.0]}, {"x": [1.0, np.nan]})
    assert not outcome.passed
    assert "got nan" in outcome.message


def test_compare_strings():
    assert checks.compare_outputs({"name": "adam"}, {"name": "adam"}).passed
    outcome = checks.compare_outputs({"name": "adam"}, {"name": "sgd"})
    assert not outcome.passed
    assert outcome.message == "`name`: expected 'adam', got 'sgd'"


def test_compare_bools():
    assert checks.compare_outputs({"stopped": True}, {"stopped": True}).passed
    outcome = checks.compare_outputs({"stopped": True}, {"stopped": False})
    assert not outcome.passed
    assert outcome.message == "`stopped`: expected True, got False"


def test_compare_dicts_and_none():
    assert checks.compare_outputs({"config": {"a": 1, "b": "x"}}, {"config": {"a": 1, "b": "x"}}).passed
    outcome = checks.compare_outputs({"config": {"a": 1}}, {"config": {"a": 2}})
    assert not outcome.passed
    assert "`config`: expected {'a': 1}, got {'a': 2}" == outcome.message
    assert checks.compare_outputs({"value": None}, {"value": None}).passed
    assert not checks.compare_outputs({"value": None}, {"value": 0}).passed


def test_compare_missing_key():
    outcome = checks.compare_outputs({"x": [1.0], "y": [2.0]}, {"x": [1.0]})
    assert not outcome.passed
    assert outcome.message == "`y` is missing from what your code produced"


def test_compare_reports_every_problem():
    outcome = checks.compare_outputs({"x": [1.0], "y": [2.0], "name": "a"}, {"x": [3.0], "name": "b"})
    assert not outcome.passed
    assert "`x`" in outcome.message and "`y` is missing" in outcome.message and "`name`" in outcome.message
    assert outcome.message.split("; ")[-2:] == ["`y` is missing from what your code produced",
                                                "`name`: expected 'a', got 'b'"]


def test_compare_extra_keys_are_ignored():
    assert checks.compare_outputs({"x": [1.0]}, {"x": [1.0], "extra": "anything"}).passed


def test_compare_non_dict_output():
    outcome = checks.compare_outputs({"x": [1.0]}, [1.0])
    assert not outcome.passed
    assert outcome.message == "the probe produced list, not a dict of outputs"


def test_compare_non_numeric_got_for_numeric_expected():
    outcome = checks.compare_outputs({"x": [1.0, 2.0]}, {"x": "not numbers"})
    assert not outcome.passed
    assert "expected numbers like" in outcome.message


# ---------------------------------------------------------------------------
# encode_outputs / decode_outputs.


def test_encode_decode_round_trip_nested():
    outputs = {
        "weights": np.arange(6, dtype=np.float32).reshape(2, 3),
        "nested": {"losses": [np.array([0.5, 0.25]), np.array(1.0)], "name": "adam", "none": None},
        "steps": (1, 2),
        "empty": np.zeros((0, 3)),
    }
    encoded = checks.encode_outputs(outputs)
    decoded = checks.decode_outputs(json.loads(json.dumps(encoded)))
    assert decoded["weights"].dtype == np.float64
    np.testing.assert_array_equal(decoded["weights"], outputs["weights"])
    assert decoded["weights"].shape == (2, 3)
    np.testing.assert_array_equal(decoded["nested"]["losses"][0], [0.5, 0.25])
    assert decoded["nested"]["losses"][1].shape == ()
    assert float(decoded["nested"]["losses"][1]) == 1.0
    assert decoded["nested"]["name"] == "adam"
    assert decoded["nested"]["none"] is None
    assert decoded["steps"] == [1, 2]
    assert decoded["empty"].shape == (0, 3)


def test_encode_numpy_scalars_become_python_values():
    encoded = checks.encode_outputs({"f": np.float32(1.5), "i": np.int64(3), "b": np.bool_(True), "plain": True})
    assert encoded == {"f": 1.5, "i": 3, "b": True, "plain": True}
    assert type(encoded["f"]) is float
    assert type(encoded["i"]) is int
    assert type(encoded["b"]) is bool
    assert type(encoded["plain"]) is bool
    assert checks.decode_outputs(json.loads(json.dumps(encoded))) == encoded


def test_encode_integer_and_bool_arrays():
    decoded = checks.decode_outputs(checks.encode_outputs({"i": np.array([1, 2]), "b": np.array([True, False])}))
    np.testing.assert_array_equal(decoded["i"], [1.0, 2.0])
    np.testing.assert_array_equal(decoded["b"], [1.0, 0.0])


def test_encode_tensor_and_dict_keys():
    tensor = keras.ops.convert_to_tensor(np.array([1.0, 2.0], dtype="float32"))
    encoded = checks.encode_outputs({1: tensor})
    assert list(encoded) == ["1"]
    np.testing.assert_array_equal(checks.decode_outputs(encoded)["1"], [1.0, 2.0])


def test_encode_unknown_object_becomes_repr():
    class Thing:
        def __repr__(self):
            return "Thing()"

    assert checks.encode_outputs({"thing": Thing()}) == {"thing": "Thing()"}


# ---------------------------------------------------------------------------
# function_probes.


def test_outputs_on_applies_function_to_each_input():
    outputs = function_probes.outputs_on(np.abs, [[-1.0, 2.0], [[-3.0], [4.0]]])
    assert list(outputs) == ["outputs"]
    np.testing.assert_array_equal(outputs["outputs"][0], [1.0, 2.0])
    np.testing.assert_array_equal(outputs["outputs"][1], [[3.0], [4.0]])
    assert all(item.dtype == np.float64 for item in outputs["outputs"])


def test_outputs_on_passes_arrays_of_the_given_dtype():
    seen = []

    def record(values):
        seen.append(values.dtype)
        return values

    function_probes.outputs_on(record, [[1.0]])
    function_probes.outputs_on(record, [[1.0]], dtype="float64")
    assert seen == [np.float32, np.float64]


def test_outputs_on_rejects_non_callable_and_empty_inputs():
    with pytest.raises(TypeError, match="expected a function"):
        function_probes.outputs_on(42, [[1.0]])
    with pytest.raises(ValueError, match="non-empty list"):
        function_probes.outputs_on(np.abs, [])
    with pytest.raises(ValueError, match="non-empty list"):
        function_probes.outputs_on(np.abs, np.array([1.0]))


def test_matches_builds_a_reference_check():
    check = function_probes.matches("absolute", "abs works", [np.array([-1.0, 2.0])], reference="numpy.abs",
                                    hint="drop the sign")
    assert check.probe == "labkit.function_probes.outputs_on"
    assert check.target == "absolute"
    assert check.reference == "numpy.abs"
    assert check.expected is None
    assert check.arguments == {"inputs": [[-1.0, 2.0]]}
    assert check.hint == "drop the sign"
    json.dumps(check.to_json())  # the arguments travel to the sandbox as JSON


def test_matches_builds_a_literal_check():
    check = function_probes.matches("absolute", "abs works", [[-1.0, 2.0]], expected_outputs=[[1.0, 2.0]])
    assert check.reference is None
    np.testing.assert_array_equal(check.expected["outputs"][0], [1.0, 2.0])


def test_matches_needs_reference_or_expected():
    with pytest.raises(ValueError, match="exactly one"):
        function_probes.matches("absolute", "abs works", [[-1.0]])


# ---------------------------------------------------------------------------
# evaluate and describe_exception.


ABS_CHECK = function_probes.matches("absolute", "absolute matches numpy.abs", [[-1.0, 0.0, 2.5]],
                                    reference="numpy.abs", hint="drop the sign")
LITERAL_CHECK = function_probes.matches("absolute", "absolute of literal values", [[-3.0, 4.0]],
                                        expected_outputs=[[3.0, 4.0]], hint="works on negatives")


def test_evaluate_correct_function_passes():
    namespace = define("def absolute(values):\n    return np.abs(values)\n")
    assert checks.evaluate(ABS_CHECK, namespace).passed
    assert checks.evaluate(LITERAL_CHECK, namespace).passed


def test_evaluate_wrong_function_fails_with_expected_vs_got():
    namespace = define("def absolute(values):\n    return values\n")
    outcome = checks.evaluate(ABS_CHECK, namespace)
    assert not outcome.passed
    assert "`outputs`" in outcome.message
    assert "expected 1, got -1" in outcome.message


def test_evaluate_undefined_target():
    outcome = checks.evaluate(ABS_CHECK, {})
    assert not outcome.passed
    assert "NameError" in outcome.message
    assert "`absolute` is not defined" in outcome.message


def test_evaluate_not_implemented():
    namespace = define("def absolute(values):\n    raise NotImplementedError()\n")
    outcome = checks.evaluate(ABS_CHECK, namespace)
    assert not outcome.passed
    assert outcome.message == "`absolute` is not implemented yet (it raised NotImplementedError)"


def test_evaluate_exception_names_student_line():
    namespace = define("def absolute(values):\n    scale = 1\n    return values / undefined_name\n", label="absolute")
    outcome = checks.evaluate(ABS_CHECK, namespace)
    assert not outcome.passed
    assert outcome.message.startswith("your code raised NameError: name 'undefined_name' is not defined")
    assert "(in absolute, line 3)" in outcome.message


def test_describe_exception_uses_innermost_student_frame():
    namespace = define("def inner():\n    raise ValueError('bad value\\nsecond line')\n"
                       "def outer():\n    inner()\n", label="helpers")
    with pytest.raises(ValueError) as raised:
        namespace["outer"]()
    assert checks.describe_exception(raised.value) == "ValueError: bad value (in inner, line 2)"


def test_describe_exception_without_message_or_student_frames():
    try:
        raise KeyError()
    except KeyError as error:
        assert checks.describe_exception(error) == "KeyError"
    try:
        raise RuntimeError("plain")
    except RuntimeError as error:
        assert checks.describe_exception(error) == "RuntimeError: plain"


# ---------------------------------------------------------------------------
# run_checks and collecting.


def test_run_checks_all_pass(capsys):
    namespace = define("def absolute(values):\n    return np.abs(values)\n")
    assert checks.run_checks(namespace, [ABS_CHECK, LITERAL_CHECK], title="absolute") is None
    printed = capsys.readouterr().out
    assert printed.splitlines()[0] == "absolute"
    assert "[PASS] absolute matches numpy.abs: matches" in printed
    assert "[PASS] absolute of literal values" in printed
    assert "All 2 checks passed." in printed
    assert "hint" not in printed


def test_run_checks_failure_prints_and_raises(capsys):
    namespace = define("def absolute(values):\n    return np.where(values > -2, np.abs(values), values)\n")
    with pytest.raises(checks.CheckFailed) as raised:
        checks.run_checks(namespace, [ABS_CHECK, LITERAL_CHECK])
    printed = capsys.readouterr().out
    assert "[PASS] absolute matches numpy.abs" in printed
    assert "[FAIL] absolute of literal values: `outputs` at index (0, 0): expected 3, got -3" in printed
    assert "hint: works on negatives" in printed
    assert "hint: drop the sign" not in printed
    assert "All" not in printed
    assert isinstance(raised.value, AssertionError)
    message = str(raised.value)
    assert message
    assert "1 of 2 checks failed (absolute of literal values)" in message


def test_run_checks_not_implemented_fails(capsys):
    namespace = define("def absolute(values):\n    raise NotImplementedError()\n")
    with pytest.raises(checks.CheckFailed, match="2 of 2 checks failed"):
        checks.run_checks(namespace, [ABS_CHECK, LITERAL_CHECK])
    assert capsys.readouterr().out.count("not implemented yet") == 2


def test_run_checks_rejects_non_checks():
    with pytest.raises(TypeError, match="takes Check objects"):
        checks.run_checks({}, ["not a check"])


def test_collecting_records_without_running(capsys):
    with checks.collecting() as recorded:
        # The namespace is empty: running would fail, collecting must not run anything.
        assert checks.run_checks({}, [ABS_CHECK], title="ignored") is None
        checks.run_checks({}, (check for check in [LITERAL_CHECK]))
    assert recorded == [ABS_CHECK, LITERAL_CHECK]
    assert capsys.readouterr().out == ""
    assert checks._collectors == []


def test_collecting_nested_records_innermost_and_cleans_up():
    with checks.collecting() as outer:
        with checks.collecting() as inner:
            checks.run_checks({}, [ABS_CHECK])
        checks.run_checks({}, [LITERAL_CHECK])
    assert inner == [ABS_CHECK]
    assert outer == [LITERAL_CHECK]
    with pytest.raises(RuntimeError):
        with checks.collecting():
            raise RuntimeError("boom")
    assert checks._collectors == []
    with pytest.raises(checks.CheckFailed):
        checks.run_checks({}, [ABS_CHECK])


# ---------------------------------------------------------------------------
# Core checks: a failed core check gates the later checks of its part that are not core.

SIGN_CHECK = function_probes.matches("absolute", "absolute keeps positives", [[1.0, 2.5]],
                                     expected_outputs=[[1.0, 2.5]], hint="positives stay as they are")
NEGATIVES_BROKEN = "def absolute(values):\n    return np.where(values > -2, np.abs(values), values)\n"


def test_core_marks_a_copy_and_keeps_json_and_keys_of_other_checks():
    marked = checks.core(LITERAL_CHECK)
    assert marked.core and not LITERAL_CHECK.core and marked.description == LITERAL_CHECK.description
    assert "core" not in LITERAL_CHECK.to_json()  # unchanged JSON, so unchanged grader keys for unmarked checks
    assert marked.to_json()["core"] is True
    simple = checks.Check("simple", "labkit.function_probes.outputs_on", "absolute", expected={"outputs": 1.0})
    assert checks.Check(**json.loads(json.dumps(checks.core(simple).to_json()))) == checks.core(simple)
    assert checks.Check(**json.loads(json.dumps(simple.to_json()))) == simple
    with pytest.raises(TypeError, match="takes a Check"):
        checks.core("not a check")


def test_gates_follow_the_first_failed_core_check():
    plain, core = LITERAL_CHECK, checks.core(LITERAL_CHECK)
    assert checks.gates([core, plain, core, plain], [False, False, True, True]) == [None, 0, None, 0]
    assert checks.gates([core, plain, plain], [True, False, False]) == [None, None, None]
    assert checks.gates([plain, core, plain], [False, True, False]) == [None, None, None]
    assert checks.gates([plain, plain, core], [False, False, False]) == [None, None, None]  # order matters
    assert checks.gates([core, core, plain], [True, False, None]) == [None, None, 1]


def test_run_checks_failed_core_check_skips_the_later_checks(capsys):
    namespace = define(NEGATIVES_BROKEN)
    with pytest.raises(checks.CheckFailed) as raised:
        checks.run_checks(namespace, [SIGN_CHECK, checks.core(LITERAL_CHECK), ABS_CHECK, checks.core(SIGN_CHECK)])
    printed = capsys.readouterr().out
    assert "[PASS] absolute keeps positives" in printed
    assert "[FAIL] absolute of literal values" in printed and "hint: works on negatives" in printed
    assert ('[SKIP] absolute matches numpy.abs: not checked until "absolute of literal values" passes'
            in printed)
    assert "hint: drop the sign" not in printed  # a skipped check prints no hint
    assert printed.count("[PASS] absolute keeps positives") == 2  # core checks are never skipped
    assert ('1 of 4 checks failed (absolute of literal values); 1 not checked until "absolute of literal values" '
            "passes" in str(raised.value))


def test_run_checks_passing_core_or_failing_plain_check_gates_nothing(capsys):
    namespace = define("def absolute(values):\n    return np.where(values > -0.5, np.abs(values), values)\n")
    # The core check passes (positives are kept); the plain checks after it fail on negatives, both reported.
    with pytest.raises(checks.CheckFailed, match=r"2 of 3 checks failed \(absolute matches numpy.abs, absolute of "
                                                 r"literal values\)\. Read"):
        checks.run_checks(namespace, [checks.core(SIGN_CHECK), ABS_CHECK, LITERAL_CHECK])
    printed = capsys.readouterr().out
    assert "SKIP" not in printed and "hint: drop the sign" in printed and "hint: works on negatives" in printed
    # A failing check that is not core, before a core check, gates nothing either.
    with pytest.raises(checks.CheckFailed, match=r"2 of 3 checks failed \(absolute of literal values, "):
        checks.run_checks(namespace, [LITERAL_CHECK, checks.core(SIGN_CHECK), ABS_CHECK])
    printed = capsys.readouterr().out
    assert "SKIP" not in printed and "hint: works on negatives" in printed


def test_collecting_keeps_the_core_flag():
    with checks.collecting() as recorded:
        checks.run_checks({}, [checks.core(ABS_CHECK), LITERAL_CHECK])
    assert [check.core for check in recorded] == [True, False]
