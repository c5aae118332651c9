"""Grades submissions: student code runs in the sandbox, every verdict is made here.

For each lab, the references are computed once per batch by running the checks' probes on
trusted Keras built-ins in a job that contains no student code (literal expected values need
no run at all). For each submission, the student's program and the same probes run in the
sandbox; only the probe outputs come back. This process then compares outputs with
references, applies the static scan for forbidden built-ins and scores each part: all of a
part's checks must pass for its points.
"""

import dataclasses
import time

from autograder import findings, forbidden, obfuscation, sandbox, submission, tampering
from labkit import checks as labkit_checks

GRADING_ENVIRONMENT = {"LABKIT_MODE": "fast"}


@dataclasses.dataclass
class CheckResult:
    """The verdict of one check, with what the student may see of it."""

    description: str
    hidden: bool
    passed: bool
    message: str  # for the instructor (a hidden check's expected and actual values included)
    hint: str
    shown: str = ""  # what a student may read of a failed hidden check: never its inputs or values
    # Set when an earlier core check of the part failed: what the student reads instead of this check's verdict
    # and hint ('not checked until "<core description>" passes'; a hidden core check is not named). The check
    # was still run and judged: `passed` and `message` are its real verdict, for scores and instructors.
    gated: str = ""


@dataclasses.dataclass
class PartResult:
    """Score of one graded part."""

    grade_id: str
    score: float
    max_score: float
    checks: list
    problems: list  # reasons the part scored 0 beyond failed checks (forbidden built-in, ...)
    review: list = dataclasses.field(default_factory=list)  # reasons an instructor should look (score kept)


@dataclasses.dataclass
class SubmissionResult:
    """Everything the gradebook, the CSV and the feedback need about one submission."""

    student_id: str
    lab_id: str
    parts: list
    notes: list  # tampering and structure notes (edited test cells, missing cells, ...)
    incidents: list  # what happened in the sandbox (time-outs, crashes, reduced isolation)
    cell_errors: dict  # cell label -> error message
    output: str
    isolation: str
    seconds: float
    status: str = "graded"  # "graded", or "not_graded" when grading itself failed (never a grade)
    reason: str = ""  # why it was not graded (sandbox did not start, references failed, disk full, ...)
    fingerprint: str = ""  # what was graded: notebook content, lab source and grader version
    timestamp: str = ""  # when it was submitted, in UTC as nbgrader writes it; "" when unknown (never late)
    seconds_late: float = 0.0  # after the gradebook's due date (and the student's extension)
    late_penalty: float = 0.0  # points the course's LateSubmissionPlugin takes off
    backend: str = ""  # the Keras backend the submission was graded on ("" in results saved before it was kept)

    @property
    def graded(self):
        return self.status == "graded"

    @property
    def score(self):
        return sum(part.score for part in self.parts)

    @property
    def max_score(self):
        return sum(part.max_score for part in self.parts)


class ReferenceComputationError(RuntimeError):
    """A reference could not be computed: the lab's checks are broken (an instructor error)."""


def _probe_request(graded, symbol):
    return {
        "key": graded.key,
        "probe": graded.check.probe,
        "symbol": symbol,
        "arguments": graded.check.arguments,
        "hidden": graded.hidden,
    }


def compute_references(lab, isolation="auto"):
    """Expected outputs of every check: literal values, or probes run on Keras built-ins."""
    references = {}
    requests = []
    for graded in lab.all_checks():
        if graded.check.expected is not None:
            references[graded.key] = graded.check.expected
        else:
            requests.append(_probe_request(graded, graded.check.reference))
    if requests:
        job = {"cells": [], "probes": requests, "forbidden": [], "environment": GRADING_ENVIRONMENT}
        result = sandbox.run_job(job, lab.limits, isolation)
        if result.infrastructure_error:
            raise ReferenceComputationError(f"{lab.lab_id}: references could not be computed: "
                                            f"{result.infrastructure_error}")
        for request in requests:
            outcome = result.probes.get(request["key"], {"error": "no result"})
            if "outputs" not in outcome:
                raise ReferenceComputationError(
                    f"{lab.lab_id}: the reference for check {request['key']} ({request['symbol']}) "
                    f"failed: {outcome.get('error')}\n{result.output[-2000:]}"
                )
            references[request["key"]] = labkit_checks.decode_outputs(outcome["outputs"])
    return references


def _forbidden_problems(lab, program, targets):
    """Messages for each target symbol whose defining answer cell names a forbidden built-in (those disabled
    while grading, and those refused in the source only: lab.forbidden_in_source).

    Reaching modules by name (importlib, keras.src, sys.modules) is not zeroed here: the
    sandbox disables the built-ins themselves and records a module run again, so such code is
    flagged for review instead (see _static_notes_and_review).
    """
    problems = []
    setup_aliases = forbidden.imported_names(cell.source for cell in lab.cells if cell.role == "setup")
    for symbol in sorted(targets):
        paths = lab.forbidden_builtins.get(symbol, []) + lab.forbidden_in_source.get(symbol, [])
        if not paths:
            continue
        for grade_id, source in forbidden.defining_sources(program.answers, symbol).items():
            indirect = set(forbidden.indirect_access(source)) - {forbidden.code_scan.unscannable_finding("")}
            uses = [use for use in forbidden.forbidden_uses(source, paths, setup_aliases)
                    if use not in indirect or "could not be scanned" in use]
            if uses:
                problems.append(
                    f"`{symbol}` (cell `{grade_id}`) uses a Keras built-in this part asks you to implement "
                    f"yourself ({'; '.join(uses)}), so the part scores 0"
                )
    return problems


def _all_forbidden(lab):
    return sorted({path for paths in lab.forbidden_builtins.values() for path in paths})


def _all_kernels(lab):
    return sorted({name for names in lab.forbidden_kernels.values() for name in names})


def _error_message(graded, outcome, program):
    """What a student may read about an error: all of it for visible checks; for hidden ones only
    the exception's built-in type and the student's own line (text made while hidden inputs were
    in scope, such as the exception's message, could carry them out)."""
    error = outcome.get("error") or "no result"
    if outcome.get("stopped") or outcome.get("missing"):  # set by the grader, never by the sandbox's events
        return error
    if not graded.hidden:
        return f"your code raised {error}"
    kind = outcome.get("error_type") or "an exception of a class defined in your code"
    line_text = _student_line(program, outcome.get("error_cell"), outcome.get("error_line"))
    where = f" at cell `{outcome['error_cell']}`, line {outcome['error_line']}" if line_text is not None else ""
    return f"your code raised {kind}{where}" + (f": {line_text}" if line_text else "")


def _student_line(program, cell_label, line_number):
    """The source line of one of the student's cells, taken from the submission (never from the sandbox)."""
    if not isinstance(cell_label, str) or not isinstance(line_number, int):
        return None
    for cell in program.cells:
        if cell["label"] == cell_label:
            lines = cell["source"].splitlines()
            return lines[line_number - 1].strip()[:200] if 0 < line_number <= len(lines) else None
    return None


def _judge(graded, outcome, reference, program, voided=None):
    """Compare one probe outcome with its reference; hidden checks show no values, only the hint."""
    check = graded.check
    shown = ""
    if voided:
        verdict = labkit_checks.Outcome(False, voided)
        shown = voided
    elif "outputs" not in outcome:
        verdict = labkit_checks.Outcome(False, _error_message(graded, outcome, program))
        shown = verdict.message
    else:
        try:
            got = labkit_checks.decode_outputs(outcome["outputs"])
            verdict = labkit_checks.compare_outputs(reference, got, rtol=check.rtol, atol=check.atol)
        except Exception as error:  # outputs shaped by student code must never break the grader
            verdict = labkit_checks.Outcome(False, f"your code's outputs could not be compared ({type(error).__name__})")
    if graded.hidden and not verdict.passed and not shown:
        shown = "your code's results differ from the reference"
    return CheckResult(check.description, graded.hidden, verdict.passed, verdict.message, check.hint,
                       shown if graded.hidden else "")


def _gate(part, check_results):
    """Mark the results that a failed core check of the part gates (see labkit.checks.gates); scores do not change:
    a part with a failed check earns nothing, gated or not."""
    gating = labkit_checks.gates([graded.check for graded in part.checks], [item.passed for item in check_results])
    for item, index in zip(check_results, gating):
        if index is not None:
            core = part.checks[index]
            item.gated = (labkit_checks.not_checked_text(core.check.description) if not core.hidden
                          else "not checked until a hidden check passes")


def _not_graded(lab, student_id, reason, started, notes=()):
    """A result that records why grading failed; it is never written to the gradebook as a grade."""
    parts = [PartResult(part.grade_id, 0.0, part.points, [], []) for part in lab.parts]
    return SubmissionResult(student_id, lab.lab_id, parts, list(notes), [], {}, "", "none",
                            round(time.monotonic() - started, 2), status="not_graded", reason=reason)


def _static_notes_and_review(program):
    """Monkeypatching notes and code that hides what it calls (for review), from the trusted scans."""
    notes, hidden_calls = [], []
    for cell in program.cells:
        if cell["origin"] == "setup":
            continue
        for patch in tampering.monkeypatches(cell["source"]):
            notes.append(f"cell `{cell['label']}` monkeypatches {patch}; this changes nothing in grading, "
                         "which is decided outside your code")
        hidden_calls += [f"cell `{cell['label']}` {use}" for use in obfuscation.hiding_constructs(cell["source"])]
        hidden_calls += [f"cell `{cell['label']}` reaches library modules by name: {use}"
                         for use in forbidden.indirect_access(cell["source"])]
    return notes, hidden_calls


@dataclasses.dataclass
class PreparedSubmission:
    """One submission made ready for the sandbox: its program, the trusted scans' notes and the job.

    Only `job` (a plain JSON-able dict) leaves this process; the program and the scans stay here,
    where the verdicts are made. `result` is set instead of `job` when there is nothing to run
    (an unreadable notebook): it is already final.
    """

    student_id: str
    lab_id: str
    program: object  # submission.Program: the student's cells as the grader read them
    notes: list  # tampering, structure and monkeypatching notes
    hidden_calls: list  # code that hides what it calls: reviewed, the score is kept
    job: dict = None
    result: SubmissionResult = None
    seconds: float = 0.0  # spent preparing, counted in the result's seconds


def prepare_submission(lab, notebook_path, student_id):
    """Read a notebook and build its sandbox job; trusted work only, no student code runs here."""
    started = time.monotonic()
    program = submission.build_program(lab, notebook_path)
    if not program.readable:
        parts = [PartResult(part.grade_id, 0.0, part.points, [], ["the notebook could not be read"])
                 for part in lab.parts]
        result = SubmissionResult(student_id, lab.lab_id, parts, program.notes, [], {}, "", "none",
                                  round(time.monotonic() - started, 2))
        return PreparedSubmission(student_id, lab.lab_id, program, list(program.notes), [], result=result,
                                  seconds=time.monotonic() - started)
    static_notes, hidden_calls = _static_notes_and_review(program)
    notes = list(program.notes) + static_notes
    requests = [_probe_request(graded, graded.check.target) for graded in lab.all_checks()]
    job = {
        "cells": [{"label": cell["label"], "source": cell["source"], "origin": cell["origin"]}
                  for cell in program.cells],
        "probes": requests,
        "forbidden": _all_forbidden(lab),
        "forbidden_kernels": _all_kernels(lab),
        "student_tools": list(lab.student_tools),
        "environment": GRADING_ENVIRONMENT,
    }
    return PreparedSubmission(student_id, lab.lab_id, program, notes, hidden_calls, job=job,
                              seconds=time.monotonic() - started)


def judge_submission(lab, prepared, job_result, references):
    """Score a prepared submission from what its sandbox job returned; every verdict is made here.

    A job whose sandbox failed (job_result.infrastructure_error) gives a "not_graded" result
    with the reason: a failure of the grader's machinery is never a grade.
    """
    if prepared.result is not None:
        return prepared.result
    program, student_id = prepared.program, prepared.student_id
    started = time.monotonic() - prepared.seconds - job_result.seconds  # seconds: preparing, sandbox, judging
    if job_result.infrastructure_error:
        return _not_graded(lab, student_id, job_result.infrastructure_error, started, prepared.notes)
    observed = findings.interpret(lab, program, job_result)
    parts = []
    for part in lab.parts:
        verdict = observed[part.grade_id]
        check_results = [
            _judge(graded, job_result.probes.get(graded.key, {"error": "the check did not run", "missing": True}),
                   references[graded.key], program, verdict.voided_keys.get(graded.key))
            for graded in part.checks
        ]
        _gate(part, check_results)
        problems = _forbidden_problems(lab, program, {graded.check.target for graded in part.checks})
        problems += verdict.problems
        review = verdict.review + [f"code that hides what it calls: {use}" for use in prepared.hidden_calls]
        # What the sandbox saw is recorded at run time, not read from the code: a person confirms the 0.
        review += [f"scored 0 for what the sandbox saw: {problem}" for problem in verdict.problems]
        passed = all(item.passed for item in check_results) and not problems
        parts.append(PartResult(part.grade_id, part.points if passed else 0.0, part.points, check_results, problems,
                                review))
    cell_errors = {
        program.cells[index]["label"]: status
        for index, status in sorted(job_result.cells.items())
        if status != "ok"
    }
    return SubmissionResult(
        student_id=student_id,
        lab_id=lab.lab_id,
        parts=parts,
        notes=prepared.notes,
        incidents=job_result.incidents,
        cell_errors=cell_errors,
        output=job_result.output,
        isolation=job_result.isolation,
        backend=job_result.backend,
        seconds=round(time.monotonic() - started, 2),
    )


def grade_notebook(lab, notebook_path, student_id, references, isolation="bwrap"):
    """Grade one student's notebook for one lab; never raises for anything the student did.

    Prepares the job here, runs it in the sandbox and judges its outputs here (the Dask engine
    runs the same three steps with the sandbox on a worker). A failure of the grading machinery
    itself (the sandbox did not start) gives a result with status "not_graded" and the reason,
    which must never be recorded as a grade.
    """
    prepared = prepare_submission(lab, notebook_path, student_id)
    if prepared.result is not None:
        return prepared.result
    job_result = sandbox.run_job(prepared.job, lab.limits, isolation)
    return judge_submission(lab, prepared, job_result, references)
