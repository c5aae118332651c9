"""Checks: one comparison between what a student's code produces and a trusted reference.

A check names a *probe* (a public function in a labkit module), the student's *target*
symbol, and either a *reference* symbol or literal *expected* outputs. The same check
runs in two places:

* in a notebook, ``run_checks(globals(), [...])`` calls the probe on the student's object
  and on the reference, compares the outputs and prints expected-vs-got feedback;
* in the autograder, the test cell is executed under ``collecting()``, so checks are only
  recorded; the probe then runs on the student's code in a sandbox, the reference runs in a
  trusted process, and the comparison happens in the grader, which never runs student code.
"""

import contextlib
import dataclasses
import importlib
import os
import traceback

import numpy as np

# References are trusted by construction: either a dotted import path of a Keras built-in
# ("keras.optimizers.Adam"), run through the same probe, or literal expected values written
# by the instructor (closed forms, hand-computed steps, published golden values). A reference
# is never a name from the notebook, so a self-check cannot compare student code with itself.


@dataclasses.dataclass(frozen=True)
class Check:
    """One probe run on a student symbol, compared with a reference or literal values."""

    description: str
    probe: str
    target: str
    arguments: dict = dataclasses.field(default_factory=dict)
    reference: str | None = None
    expected: dict | None = None
    rtol: float = 1e-5
    atol: float = 1e-7
    hint: str = ""
    # A core check tests what the part's other checks build on (an optimizer's update values, before its
    # config): once a core check of a part has failed, the part's later checks that are not core are *gated*,
    # reported as "not checked until ... passes" instead of with their own, misleading, failures and hints.
    core: bool = False

    def __post_init__(self):
        if (self.reference is None) == (self.expected is None):
            raise ValueError(
                f"Check {self.description!r}: give exactly one of `reference` (a symbol) "
                "or `expected` (literal outputs)."
            )
        if self.reference is not None and "." not in self.reference:
            raise ValueError(
                f"Check {self.description!r}: reference must be a dotted import path of a trusted "
                f"object such as 'keras.optimizers.Adam', got {self.reference!r}."
            )
        if "." not in self.probe:
            raise ValueError(
                f"Check {self.description!r}: probe must be a dotted path such as "
                f"'labkit.optimizer_probes.trajectory', got {self.probe!r}."
            )

    def to_json(self):
        """A JSON-able description, used to send the probe to the sandbox and to cache references."""
        data = dataclasses.asdict(self)
        if not self.core:  # left out when False: a check's JSON (and the grader's key for it) stays as before
            del data["core"]
        return data


def core(check):
    """A copy of check marked core: when it fails, the later checks of its part that are not core are gated."""
    if not isinstance(check, Check):
        raise TypeError(f"core takes a Check, got {type(check).__name__}")
    return dataclasses.replace(check, core=True)


def gates(checks, passed):
    """For each check, the index of the failed core check that gates it, or None.

    checks are one part's checks in notebook order (visible, then hidden) and passed their verdicts. Once a
    core check has failed, every later check that is not core is gated by the first such core check; core
    checks are never gated. A verdict of None (not run) counts as not failed.
    """
    gating, result = None, []
    for check, verdict in zip(checks, passed):
        result.append(gating if gating is not None and not check.core else None)
        if gating is None and check.core and verdict is False:
            gating = len(result) - 1
    return result


def not_checked_text(core_description):
    """What a gated check says instead of its verdict (core_description: a failed core check's description)."""
    return f'not checked until "{core_description}" passes'


class CheckFailed(AssertionError):
    """Raised by run_checks when a self-check fails; the message says what and how to fix it."""

    def _render_traceback_(self):
        """What IPython shows instead of a traceback: the message only (the traceback is labkit's, not the student's)."""
        return [f"{type(self).__name__}: {line}" if index == 0 else line
                for index, line in enumerate(str(self).splitlines())]


@dataclasses.dataclass
class Outcome:
    """The verdict of one comparison, with a message written for the student."""

    passed: bool
    message: str
    max_relative_error: float | None = None


# ---------------------------------------------------------------------------
# Collecting checks without running them (used by the autograder).

_collectors = []


@contextlib.contextmanager
def collecting():
    """Within this block, run_checks records its checks instead of running them."""
    recorded = []
    _collectors.append(recorded)
    try:
        yield recorded
    finally:
        _collectors.pop()


# ---------------------------------------------------------------------------
# Running probes.


def resolve_symbol(name, namespace):
    """The object a target or reference name stands for: dotted paths are imported, bare names looked up."""
    if "." not in name:
        if name not in namespace:
            raise NameError(
                f"`{name}` is not defined. Run the cell that defines it (and the cells above it) first."
            )
        return namespace[name]
    module_name, _, attribute = name.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError):
        # e.g. "keras.optimizers.schedules.CosineDecay": walk attributes from the top package.
        parts = name.split(".")
        value = importlib.import_module(parts[0])
        for part in parts[1:]:
            value = getattr(value, part)
        return value


def run_probe(probe_path, target_object, arguments):
    """Call a probe function on an object and return its outputs as a dict."""
    module_name, _, function_name = probe_path.rpartition(".")
    probe_function = getattr(importlib.import_module(module_name), function_name)
    outputs = probe_function(target_object, **arguments)
    if not isinstance(outputs, dict):
        raise TypeError(f"probe {probe_path} must return a dict, got {type(outputs).__name__}")
    return outputs


# ---------------------------------------------------------------------------
# Comparing outputs.


def _format_number(value):
    return f"{value:.6g}" if isinstance(value, float) else repr(value)


def relative_error(expected, got):
    """Largest elementwise |got - expected| / max(|expected|, |got|, tiny): 0 means identical."""
    expected = np.asarray(expected, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    scale = np.maximum(np.maximum(np.abs(expected), np.abs(got)), 1e-300)
    with np.errstate(invalid="ignore"):
        errors = np.abs(got - expected) / scale
    # Equal values (infinities included) and NaN against NaN count as identical; any other NaN
    # (NaN against a number, inf against a finite value, inf against -inf) is an infinite error.
    same = (expected == got) | (np.isnan(expected) & np.isnan(got))
    errors = np.where(same, 0.0, np.where(np.isnan(errors), np.inf, errors))
    return float(np.max(errors)) if errors.size else 0.0


def _compare_value(key, expected, got, rtol, atol):
    """Compare one output; returns (passed, message, relative error or None)."""
    expected_is_numeric = isinstance(expected, (int, float, np.ndarray, np.number, list, tuple)) and not (
        isinstance(expected, bool)
    )
    if isinstance(expected, (str, bool, dict)) or expected is None or not expected_is_numeric:
        if got == expected:
            return True, "", None
        return False, f"`{key}`: expected {expected!r}, got {got!r}", None
    try:
        expected_array = np.asarray(expected, dtype=np.float64)
        got_array = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return False, f"`{key}`: expected numbers like {expected!r}, got {got!r}", None
    if expected_array.shape != got_array.shape:
        return (
            False,
            f"`{key}`: expected shape {expected_array.shape}, got shape {got_array.shape}",
            None,
        )
    error = relative_error(expected_array, got_array)
    close = np.isclose(got_array, expected_array, rtol=rtol, atol=atol, equal_nan=True)
    if bool(np.all(close)):
        return True, "", error
    index = np.unravel_index(int(np.argmin(close.ravel()) if close.size else 0), close.shape)
    where = f" at index {tuple(int(i) for i in index)}" if expected_array.ndim else ""
    message = (
        f"`{key}`{where}: expected {_format_number(float(expected_array[index]))}, "
        f"got {_format_number(float(got_array[index]))} "
        f"(max relative error {error:.2e}; tolerance rtol={rtol:g}, atol={atol:g})"
    )
    return False, message, error


def compare_outputs(expected, got, rtol=1e-5, atol=1e-7):
    """Compare every output the reference produced with the student's; all must match."""
    if not isinstance(got, dict):
        return Outcome(False, f"the probe produced {type(got).__name__}, not a dict of outputs")
    problems = []
    errors = []
    for key, expected_value in expected.items():
        if key not in got:
            problems.append(f"`{key}` is missing from what your code produced")
            continue
        passed, message, error = _compare_value(key, expected_value, got[key], rtol, atol)
        if error is not None:
            errors.append(error)
        if not passed:
            problems.append(message)
    max_error = max(errors) if errors else None
    if problems:
        return Outcome(False, "; ".join(problems), max_error)
    summary = "matches" if max_error is None else f"matches (max relative error {max_error:.1e})"
    return Outcome(True, summary, max_error)


# ---------------------------------------------------------------------------
# Encoding outputs for the trip out of the sandbox.


def encode_outputs(outputs):
    """Turn probe outputs into JSON-able data (arrays become tagged lists)."""

    def encode(value):
        if isinstance(value, dict):
            return {str(key): encode(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [encode(item) for item in value]
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if isinstance(value, (int, np.integer)):
            return int(value)
        if isinstance(value, (float, np.floating)):
            return float(value)
        if isinstance(value, np.ndarray) or hasattr(value, "numpy") or hasattr(value, "__array__"):
            array = np.asarray(value)
            if array.dtype.kind in "fc":
                array = array.astype(np.float64)
            return {"__ndarray__": array.tolist(), "shape": list(array.shape)}
        if value is None or isinstance(value, str):
            return value
        return repr(value)

    return encode(outputs)


def decode_outputs(data):
    """Inverse of encode_outputs."""
    if isinstance(data, dict):
        if "__ndarray__" in data:
            return np.asarray(data["__ndarray__"], dtype=np.float64).reshape(data["shape"])
        return {key: decode_outputs(item) for key, item in data.items()}
    if isinstance(data, list):
        return [decode_outputs(item) for item in data]
    return data


def expected_outputs(check, namespace):
    """The reference outputs of a check: literal values, or the probe run on the reference symbol."""
    if check.expected is not None:
        return check.expected
    reference_object = resolve_symbol(check.reference, namespace)
    return decode_outputs(encode_outputs(run_probe(check.probe, reference_object, check.arguments)))


def evaluate(check, namespace):
    """Run one check in this process and return its Outcome (used in notebooks)."""
    try:
        target_object = resolve_symbol(check.target, namespace)
        got = decode_outputs(encode_outputs(run_probe(check.probe, target_object, check.arguments)))
    except NotImplementedError:
        return Outcome(False, f"`{check.target}` is not implemented yet (it raised NotImplementedError)")
    except Exception as error:  # the student's code may raise anything; report it, don't crash
        return Outcome(False, f"your code raised {describe_exception(error)}")
    expected = expected_outputs(check, namespace)
    return compare_outputs(expected, got, rtol=check.rtol, atol=check.atol)


def describe_exception(error):
    """One line naming an exception and where in the student's code it was raised."""
    frames = traceback.extract_tb(error.__traceback__)
    # Student code is compiled as "<cell ...>" by the grader and as ".../ipykernel_*/N.py" by Jupyter;
    # library frames (site-packages, labkit itself) are never the student's.
    library_folders = ("site-packages", "dist-packages", os.path.dirname(os.path.abspath(__file__)))
    student_frames = [frame for frame in frames
                      if frame.filename.startswith("<") or not frame.filename.startswith(library_folders)
                      and "ipykernel" in frame.filename]
    where = ""
    if student_frames:
        frame = student_frames[-1]
        where = f" (in {frame.name}, line {frame.lineno}: {frame.line or ''})".replace(": )", ")")
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {message}{where}" if message else f"{type(error).__name__}{where}"


def run_checks(namespace, checks, title=None):
    """Run self-checks in a notebook and print expected-vs-got feedback; raise CheckFailed on failure."""
    checks = list(checks)
    for check in checks:
        if not isinstance(check, Check):
            raise TypeError(f"run_checks takes Check objects, got {type(check).__name__}")
    if _collectors:
        _collectors[-1].extend(checks)
        return None
    failures, skipped, failed_core = [], [], None
    if title:
        print(title)
    for check in checks:
        if failed_core is not None and not check.core:
            # Gated: its outcome would only repeat the core failure above, often with a misleading hint,
            # so it is not run (grading runs it, and shows the same line instead of its verdict).
            print(f"  [SKIP] {check.description}: {not_checked_text(failed_core.description)}")
            skipped.append(check)
            continue
        outcome = evaluate(check, namespace)
        mark = "PASS" if outcome.passed else "FAIL"
        print(f"  [{mark}] {check.description}: {outcome.message}")
        if not outcome.passed:
            if check.hint:
                print(f"         hint: {check.hint}")
            failures.append(check)
            if check.core and failed_core is None:
                failed_core = check
    if failures:
        names = ", ".join(check.description for check in failures)
        not_checked = (f"; {len(skipped)} not checked until \"{failed_core.description}\" passes"
                       if skipped else "")
        raise CheckFailed(
            f"{len(failures)} of {len(checks)} checks failed ({names}){not_checked}. "
            "Read the expected-vs-got lines and hints printed above."
        )
    print(f"  All {len(checks)} checks passed.")
    return None
