"""Trusted grading inside `nbgrader autograde` (command line and formgrader's Autograde button).

nbgrader's Autograde runs its `autograde_preprocessors` on each sanitized submission. In a
course made by `python -m autograder init-course`, `TrustedGrading` takes the place of
nbgrader's Execute: instead of running the notebook (and its hidden tests) in the student's
kernel, it grades the submitted notebook with the project's sandboxed grading and writes
each test cell's outputs, which nbgrader's own SaveAutoGrades then scores. `FlagForReview`,
after SaveAutoGrades, marks the parts the grader flagged as needing a manual grade, with the
reason in the comment. Grading fails closed: without a working sandbox, or when grading fails
on the grader's side, it raises, so nbgrader reports the error and writes no scores.
"""

import dataclasses
import pathlib

import traitlets
from nbgrader import api as nbgrader_api
from nbgrader import preprocessors as nbgrader_preprocessors

from autograder import autograded, batch, fingerprint, gradebook, grading, reference_cache, sandbox, timestamps
from autograder import lab as lab_module

RESOURCE_KEY = "labkit_grading"
RESULTS_FOLDER = pathlib.Path("autograder") / "results"  # under the course root, as `grade COURSE` keeps them
TRUSTED_GRADING = "autograder.nbgrader_plugin.TrustedGrading"
FLAG_FOR_REVIEW = "autograder.nbgrader_plugin.FlagForReview"
AUTOGRADE_PREPROCESSORS = (
    TRUSTED_GRADING,
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    FLAG_FOR_REVIEW,
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
    # Last, so the autograded notebook (what generate_feedback shows students) has no hidden tests.
    "nbgrader.preprocessors.ClearHiddenTests",
)


# nbgrader's sanitizing steps, with ForgetUntrackedCells before OverwriteCells.
FORGET_UNTRACKED_CELLS = "autograder.nbgrader_plugin.ForgetUntrackedCells"
SANITIZE_PREPROCESSORS = (
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    FORGET_UNTRACKED_CELLS,
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
)


class TrustedGradingError(RuntimeError):
    """The submission could not be graded on the grader's side; nbgrader records no score for it."""


def config_lines():
    """The nbgrader_config.py lines that make `nbgrader autograde` grade with this project."""
    listed = ",\n".join(f"    {name!r}" for name in AUTOGRADE_PREPROCESSORS)
    sanitizing = ",\n".join(f"    {name!r}" for name in SANITIZE_PREPROCESSORS)
    return [
        "# Trusted grading: the project's sandboxed grader replaces nbgrader's Execute step.",
        f"c.Autograde.autograde_preprocessors = [\n{listed},\n]",
        "# Cells nbgrader does not track (predict-first experiments, written answers) lose their nbgrader metadata first.",
        f"c.Autograde.sanitize_preprocessors = [\n{sanitizing},\n]",
        "# Test cells a student deleted are put back, so every part gets its score.",
        "c.OverwriteCells.add_missing_cells = True",
    ]


class ForgetUntrackedCells(nbgrader_preprocessors.NbGraderPreprocessor):
    """Drop the nbgrader metadata of submitted cells that the gradebook does not track.

    nbgrader records only graded, answer and locked cells. A lab's predict-first experiments and its
    written answers are unlocked cells that keep a grade_id (the project's grader finds them by it);
    nbgrader 0.9.6's OverwriteCells deletes an untracked cell's grade_id but keeps the rest of its
    nbgrader metadata, and then, putting back deleted test cells, fails on it (KeyError: 'grade_id').
    Only nbgrader's sanitized copy changes: trusted grading reads the submitted file itself.
    """

    def preprocess(self, nb, resources):
        information = resources["nbgrader"]
        with nbgrader_api.Gradebook(information["db_url"]) as course_gradebook:
            notebook = course_gradebook.find_notebook(information["notebook"], information["assignment"])
            tracked = {cell.name for cell in notebook.source_cells}
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if "nbgrader" in cell.metadata and grade_id not in tracked:
                del cell.metadata["nbgrader"]
        return nb, resources


def _course_directory(preprocessor):
    """nbgrader's CourseDirectory of the converter running this preprocessor (exporter -> converter)."""
    owner = preprocessor.parent
    while owner is not None:
        course_directory = getattr(owner, "coursedir", None)
        if course_directory is not None:
            return course_directory
        owner = getattr(owner, "parent", None)
    raise TrustedGradingError("TrustedGrading must run inside nbgrader's Autograde converter (no course directory)")


def lab_paths(course_directory, lab_id, student_id, notebook_id):
    """(source notebook, submitted notebook) of one submission in an nbgrader course."""
    source = pathlib.Path(course_directory.format_path(course_directory.source_directory, ".", lab_id))
    submitted = pathlib.Path(course_directory.format_path(course_directory.submitted_directory, student_id, lab_id))
    return source / f"{notebook_id}.ipynb", submitted / f"{notebook_id}.ipynb"


def grade_submission(source_path, submitted_path, student_id, isolation="auto"):
    """Grade one submitted notebook with the project's trusted grading; raises when it was not graded."""
    lab = lab_module.load_lab(source_path)
    resolved = sandbox.resolve_isolation(isolation, allow_unsandboxed=False)  # fail closed
    references = reference_cache.lab_references(lab, resolved)
    result = grading.grade_notebook(lab, submitted_path, student_id, references, resolved)
    if not result.graded:
        raise TrustedGradingError(f"{student_id} {lab.lab_id} was not graded: {result.reason}")
    return lab, result


class TrustedGrading(nbgrader_preprocessors.NbGraderPreprocessor):
    """Grades the submission in the sandbox and writes each test cell's outputs for SaveAutoGrades."""

    isolation = traitlets.Enum(("auto", "bwrap"), "auto",
                               help="the grading sandbox; grading never runs without one").tag(config=True)

    def preprocess(self, nb, resources):
        details = resources["nbgrader"]
        course_directory = _course_directory(self)
        source_path, submitted_path = lab_paths(course_directory, details["assignment"], details["student"],
                                                details["notebook"])
        if not source_path.is_file():
            raise TrustedGradingError(f"no source notebook {source_path} for {details['assignment']}")
        lab, result = grade_submission(source_path, submitted_path, details["student"], self.isolation)
        missing = autograded.apply_outputs(nb, result)
        if missing:
            raise TrustedGradingError(f"the test cells {missing} are missing from the sanitized notebook; "
                                      "set c.OverwriteCells.add_missing_cells = True in nbgrader_config.py")
        for line in result.notes + result.incidents:
            self.log.info("%s %s: %s", result.student_id, result.lab_id, line)
        self.log.info("%s %s: %g/%g (trusted grading, isolation %s)", result.student_id, result.lab_id,
                      result.score, result.max_score, result.isolation)
        self._save(result, lab, submitted_path, pathlib.Path(course_directory.root))
        resources[RESOURCE_KEY] = {"lab": lab, "result": result}
        return nb, resources

    def _save(self, result, lab, submitted_path, course_root):
        """Keep the result where `grade COURSE` keeps it, for the feedback command; a failure only warns."""
        try:
            timestamp, _ = timestamps.read_timestamp_file(timestamps.timestamp_file_for(submitted_path, lab.lab_id))
            saved = dataclasses.replace(result, timestamp=timestamp,
                                        fingerprint=fingerprint.submission_fingerprint(submitted_path, lab.source_path))
            batch.save_result(saved, course_root / RESULTS_FOLDER)
        except Exception as error:  # the scores still go into the gradebook through nbgrader
            self.log.warning("%s %s: the result could not be saved under %s (%s: %s)", result.student_id,
                             result.lab_id, course_root / RESULTS_FOLDER, type(error).__name__, error)


def flag_parts(book, lab, result):
    """Mark each part the grader flagged as needing a manual grade, its reasons in the answer's comment."""
    notebook_name = lab.notebook_name.removesuffix(".ipynb")
    comment_cells = gradebook._comment_cells(lab)  # the answer cell whose comment holds a part's notes
    for part in result.parts:
        if not part.review:
            continue
        grade = book.find_grade(part.grade_id, notebook_name, lab.lab_id, result.student_id)
        grade.needs_manual_grade = True
        answer_id = comment_cells.get(part.grade_id)
        if answer_id is None:
            continue
        comment = book.find_comment(answer_id, notebook_name, lab.lab_id, result.student_id)
        reasons = [f"{part.grade_id}: please review: {reason}" for reason in part.review]
        comment.auto_comment = "\n".join(([comment.auto_comment] if comment.auto_comment else []) + reasons)
    book.db.commit()


class FlagForReview(nbgrader_preprocessors.NbGraderPreprocessor):
    """After SaveAutoGrades: the parts the trusted grader flagged go to formgrader's manual-grading queue."""

    def preprocess(self, nb, resources):
        graded = resources.get(RESOURCE_KEY)
        if graded is None:
            raise TrustedGradingError("FlagForReview needs TrustedGrading earlier in autograde_preprocessors")
        with nbgrader_api.Gradebook(resources["nbgrader"]["db_url"]) as book:
            flag_parts(book, graded["lab"], graded["result"])
        return nb, resources
