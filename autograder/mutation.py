"""Mutation testing: known-wrong implementations of a lab must each lose points.

A mutant file (tests/mutants/<lab_id>.py) defines LAB and MUTANTS: name -> {"cell": answer
grade_id, "replace": [(old, new), ...], "loses": [test grade_ids that must score 0]}. Every
mutant is applied to the solution, graded through the real sandboxed pipeline, and counted
as killed when each part it lists scores 0.
"""

import dataclasses
import importlib.util
import pathlib
import tempfile

from autograder import batch, lab as lab_module, release, samples


@dataclasses.dataclass
class MutantOutcome:
    """Whether the grader caught one mutant."""

    name: str
    expected_losses: list
    lost: list  # parts that scored 0
    score: float
    max_score: float

    @property
    def killed(self):
        return all(grade_id in self.lost for grade_id in self.expected_losses)


def load_mutants(path):
    """(lab_id, mutants dict) from a mutant file."""
    spec = importlib.util.spec_from_file_location(f"mutants_{pathlib.Path(path).stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.LAB, module.MUTANTS


def run_mutants(mutant_path, solutions_folder="solutions", workers=1, isolation="auto", allow_unsandboxed=False):
    """Grade every mutant of a lab and return one MutantOutcome each."""
    lab_id, mutants = load_mutants(mutant_path)
    source_path = pathlib.Path(solutions_folder) / lab_id / f"{lab_id}.ipynb"
    lab = lab_module.load_lab(source_path)
    known_parts = {part.grade_id for part in lab.parts}
    answers = samples.solution_answers(source_path)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = pathlib.Path(scratch)
        release_folder = release.release_lab(lab_id, solutions_folder, scratch / "labs")
        release_path = release_folder / f"{lab_id}.ipynb"
        submissions = []
        for name, mutant in mutants.items():
            if mutant["cell"] not in answers:
                raise ValueError(f"mutant {name}: {mutant['cell']!r} is not an answer cell of {lab_id}")
            unknown = set(mutant["loses"]) - known_parts
            if unknown:
                raise ValueError(f"mutant {name}: unknown test cells {sorted(unknown)}")
            mutated = samples.apply_replacements(answers[mutant["cell"]], mutant["replace"], f"mutant {name}")
            notebook = samples.make_submission(release_path, source_path, {mutant["cell"]: mutated})
            path = samples.write_notebook(notebook, scratch / "submissions" / name / f"{lab_id}.ipynb")
            submissions.append(batch.Submission(name, lab_id, path))
        results = batch.grade_folder(submissions, [lab], scratch / "graded", workers, isolation, progress=False,
                                     allow_unsandboxed=allow_unsandboxed)
    outcomes = []
    for result in results:
        mutant = mutants[result.student_id]
        lost = [part.grade_id for part in result.parts if part.score == 0]
        outcomes.append(MutantOutcome(result.student_id, list(mutant["loses"]), lost, result.score, result.max_score))
    return outcomes


def format_report(lab_id, outcomes):
    """Lines naming each mutant, whether it was killed, and the mutation score."""
    killed = sum(outcome.killed for outcome in outcomes)
    lines = [f"{lab_id}: mutation score {killed}/{len(outcomes)} killed"]
    for outcome in outcomes:
        status = "killed" if outcome.killed else "SURVIVED"
        lines.append(f"  {status:8s} {outcome.name}: {outcome.score:g}/{outcome.max_score:g}, "
                     f"lost {', '.join(outcome.lost) or 'nothing'}")
    return lines
