"""Turns what the sandbox observed into per-part verdicts: problems (score 0) and review reasons.

Each observation has a phase: a cell, a probe, or the cells as a whole. A probe belongs to
one part; a cell to the parts whose targets it defines; anything else (a setup cell, a cell
the student added, the cells as a whole) to every part. Then:

* forbidden execution scores the part 0 when the part forbids built-ins, and is flagged
  otherwise: a forbidden kernel counts for the part whose code reached it, a library module
  run again or copied library source for every part (the copy can serve any of them later);
* protected state changed while a probe ran voids that probe's check; changed by the cells,
  it was restored before any probe, so it is only flagged;
* everything else the hook recorded (code built from text, frame inspection, blocked calls)
  and events forged on the results channel are flagged for the instructor's review.
"""

import dataclasses

from autograder import forbidden



@dataclasses.dataclass
class PartFindings:
    """What the sandbox observation means for one part."""

    problems: list = dataclasses.field(default_factory=list)
    review: list = dataclasses.field(default_factory=list)
    voided_keys: dict = dataclasses.field(default_factory=dict)  # check key -> why its result does not count


def _parts_in_phase(lab, program, phase):
    """The grade_ids of the parts a phase ("probe:<key>", "cell:<index>", "cells") concerns."""
    kind, _, identifier = phase.partition(":")
    every_part = [part.grade_id for part in lab.parts]
    if kind == "probe":
        return [part.grade_id for part in lab.parts if any(graded.key == identifier for graded in part.checks)]
    if kind == "cell" and identifier.isdigit() and int(identifier) < len(program.cells):
        cell = program.cells[int(identifier)]
        if cell["origin"] == "answer":
            concerned = [part.grade_id for part in lab.parts
                         if any(cell["label"] in forbidden.defining_sources(program.answers, graded.check.target)
                                for graded in part.checks)]
            return concerned or every_part
    return every_part


def _forbids_something(lab, part):
    targets = {graded.check.target for graded in part.checks}
    return any(lab.forbidden_builtins.get(symbol) or lab.forbidden_kernels.get(symbol) for symbol in targets)


def _concerned(lab, part, concerned_builtins):
    """Whether library code run again concerns a part: it defines a built-in the part forbids.

    When the sandbox could not say which built-ins the code defines (None), every part that
    forbids something is concerned.
    """
    if not _forbids_something(lab, part):
        return False
    if concerned_builtins is None:
        return True
    targets = {graded.check.target for graded in part.checks}
    return any(path in lab.forbidden_builtins.get(symbol, []) for symbol in targets for path in concerned_builtins)


def _kernel_forbidden_for(lab, part, op_name):
    return any(op_name in lab.forbidden_kernels.get(graded.check.target, []) for graded in part.checks)


def interpret(lab, program, job_result):
    """grade_id -> PartFindings for every part of the lab."""
    by_part = {part.grade_id: PartFindings() for part in lab.parts}
    parts = {part.grade_id: part for part in lab.parts}
    for finding in job_result.findings:
        message = finding["message"]
        # Library code run again or copied can serve any part later, wherever it happened.
        phase = "cells" if finding["kind"] == "forbidden" else finding["phase"]
        for grade_id in _parts_in_phase(lab, program, phase):
            part, verdict = parts[grade_id], by_part[grade_id]
            if finding["kind"] == "kernel":
                op_name = message.rsplit(" ", 1)[-1]  # "...: ran the TensorFlow kernel Conv2D" (or a routine)
                if _kernel_forbidden_for(lab, part, op_name):
                    _add(verdict.problems, f"{message}: this part asks for your own implementation, so it scores 0")
            elif finding["kind"] == "forbidden" and _concerned(lab, part, finding.get("concerns")):
                _add(verdict.problems, f"{message}: this part asks for your own implementation, so it scores 0")
            else:
                _add(verdict.review, message)
    for change in job_result.changed:
        described = ", ".join(change["changes"])
        phase = change["phase"]
        for grade_id in _parts_in_phase(lab, program, phase):
            verdict = by_part[grade_id]
            if phase.startswith("probe:"):
                key = phase.partition(":")[2]
                verdict.voided_keys[key] = f"your code changed {described} while this check ran"
                _add(verdict.review, f"changed {described} while a check ran; that check does not count")
            else:
                _add(verdict.review, f"your code changed {described}; it was put back before the checks ran")
    if job_result.forged_events:
        for verdict in by_part.values():
            _add(verdict.review, f"{job_result.forged_events} events on the grader's results channel were not "
                                 "written by the grader (forged or garbage); they were ignored")
    return by_part


def _add(items, message):
    if message not in items:
        items.append(message)
