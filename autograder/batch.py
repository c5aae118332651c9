"""Grades a folder of submissions: discovery, parallel workers, gradebook, results and log.

The sandbox jobs run in a local thread pool or on a Dask cluster (``workers``); whichever runs
them, the results are judged and committed in this process.

Accepted layouts: ``<folder>/<student_id>/<lab_id>.ipynb`` and nbgrader's course layout
``<course>/submitted/<student_id>/<lab_id>/<lab_id>.ipynb``.

Nothing is lost: each result is committed as soon as it is graded, in the main thread
(results/<student>/<lab>.json written to a temporary file, the gradebook transaction, the file
moved into place, then the log), so SIGINT or SIGTERM stops a batch between two commits, and
running it again skips every submission already graded from the same fingerprint. A failure
on the grader's side (sandbox, references, disk, a bug) is never a grade: that submission is
saved as not graded, with the reason, and retried next time.
"""

import contextlib
import dataclasses
import json
import os
import pathlib
import re
import sys
import tempfile

import tqdm

from autograder import fingerprint, gradebook, grading, interruption, late_penalty, reference_cache, reports, sandbox
from autograder import autograded, timestamps
from autograder import workers as workers_module
from labkit import environment as labkit_environment

STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")
STUDENT_ID_RULE = "up to 128 letters, digits and . _ @ -, starting with a letter or digit"
NOT_GRADED_SUFFIX = ".not-graded.json"
KEPT_OUTPUT_CHARACTERS = 20_000

UNSANDBOXED_WARNING = (
    "WARNING: grading WITHOUT the bubblewrap sandbox (--allow-unsandboxed): student code runs with "
    "REDUCED isolation and can read this machine's files and use the network. Grades are still "
    "decided outside the student process."
)


def _current_umask():
    """The process umask (read once, at import, before any worker thread creates files)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


RESULT_FILE_MODE = 0o666 & ~_current_umask()  # what a plain open() would give: mkstemp's files are 0600


@dataclasses.dataclass(frozen=True)
class Submission:
    """One notebook to grade."""

    student_id: str
    lab_id: str
    path: pathlib.Path


@dataclasses.dataclass
class Discovery:
    """What a submissions folder holds: the submissions, and why other folders in it were skipped."""

    submissions: list
    skipped: list


class BatchResults(list):
    """The results of a batch in student and lab order, and how many were skipped as unchanged."""

    def __init__(self, results=(), skipped=0):
        super().__init__(sorted(results, key=lambda result: (result.student_id, result.lab_id)))
        self.skipped = skipped

    @property
    def not_graded(self):
        return sum(not result.graded for result in self)

    @property
    def graded(self):
        return len(self) - self.skipped - self.not_graded

    def progress_line(self):
        """'N graded, N skipped (unchanged), N not graded'."""
        return f"{self.graded} graded, {self.skipped} skipped (unchanged), {self.not_graded} not graded"


def _candidates(student_folder, lab_id):
    """Where a lab's notebook may be in a student folder: flat layout first, then nbgrader's."""
    return student_folder / f"{lab_id}.ipynb", student_folder / lab_id / f"{lab_id}.ipynb"


def _is_submitted(candidate):
    """A file (or a link, which grading refuses with a message) where a notebook should be."""
    return candidate.is_symlink() or (candidate.exists() and not candidate.is_dir())


def discover_submissions(folder, lab_ids):
    """Every submitted notebook of a known lab under folder, in either layout, and the folders skipped."""
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise ValueError(f"submissions folder {folder} does not exist")
    root = folder / "submitted" if (folder / "submitted").is_dir() else folder
    found, skipped = [], []
    for student_folder in sorted(root.iterdir()):
        linked = student_folder.is_symlink()
        if not linked and not student_folder.is_dir():
            continue
        name = student_folder.name
        if not STUDENT_ID.fullmatch(name):
            skipped.append(f"skipped folder {ascii(name)}: not a valid student id ({STUDENT_ID_RULE})")
            continue
        found_before = len(found)
        for lab_id in lab_ids:
            flat, nested = _candidates(student_folder, lab_id)
            submitted = next((candidate for candidate in (flat, nested) if _is_submitted(candidate)), None)
            if submitted is not None:
                # Under a linked student folder, name the file through the link itself: grading refuses it.
                found.append(Submission(name, lab_id, flat if linked else submitted))
        if linked and len(found) == found_before:
            skipped.append(f"skipped folder {ascii(name)}: a symbolic link with no submission in it (not followed)")
    return Discovery(found, skipped)


def find_submissions(folder, lab_ids):
    """Every submitted notebook of a known lab under folder, in either layout, sorted."""
    return discover_submissions(folder, lab_ids).submissions


def _result_path(results_folder, student_id, lab_id, graded=True):
    """results/<student>/<lab>.json, or <lab>.not-graded.json, which never replaces a graded result."""
    name = f"{lab_id}.json" if graded else f"{lab_id}{NOT_GRADED_SUFFIX}"
    return pathlib.Path(results_folder) / student_id / name


def _fsync_folder(folder):
    """Make a rename in folder durable."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_temporary(result, path):
    """The result as JSON in a temporary file beside path, on disk; returns the temporary path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = dataclasses.asdict(result)
    data["output"] = data["output"][-KEPT_OUTPUT_CHARACTERS:]
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temporary = pathlib.Path(temporary)
    try:
        os.fchmod(descriptor, RESULT_FILE_MODE)
        with os.fdopen(descriptor, "w", encoding="utf-8") as result_file:
            json.dump(data, result_file, indent=1)
            result_file.flush()
            os.fsync(result_file.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def _move_into_place(temporary, path):
    """Atomically: a reader sees the old file or the new one, never half of one."""
    os.replace(temporary, path)
    _fsync_folder(path.parent)


def save_result(result, results_folder):
    """Keep the full result as JSON, atomically (the feedback command renders it later); returns its path."""
    path = _result_path(results_folder, result.student_id, result.lab_id, result.graded)
    _move_into_place(_write_temporary(result, path), path)
    return path


def _load_result(path):
    """One saved result; ValueError naming the file when it is not one."""
    try:
        data = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
        parts = [
            grading.PartResult(**dict(part, checks=[grading.CheckResult(**check) for check in part["checks"]]))
            for part in data.pop("parts")
        ]
        return grading.SubmissionResult(parts=parts, **data)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"{path} is not a saved grading result ({type(error).__name__}: {error})") from error


def load_results(results_folder):
    """Every saved result under a results folder; a graded result hides a later not-graded retry."""
    by_key = {}
    for path in sorted(pathlib.Path(results_folder).glob("*/*.json")):
        result = _load_result(path)
        key = (result.student_id, result.lab_id)
        if key not in by_key or (result.graded and not by_key[key].graded):
            by_key[key] = result
    return [by_key[key] for key in sorted(by_key)]


def _log_lines(result):
    """The grading.log block of one result."""
    if not result.graded:
        reason = result.reason.replace("\n", "\n    ")
        return [f"{result.student_id} {result.lab_id}: NOT GRADED: {reason}"]
    lines = [f"{result.student_id} {result.lab_id}: {result.score:g}/{result.max_score:g} "
             f"in {result.seconds:.1f} s (isolation: {result.isolation})"]
    lines += [f"  late: {late_penalty.describe(result)}"] if result.seconds_late else []
    lines += [f"  note: {note}" for note in result.notes]
    lines += [f"  incident: {incident}" for incident in result.incidents]
    lines += [f"  cell {label}: {message}" for label, message in result.cell_errors.items()]
    for part in result.parts:
        lines += [f"  {part.grade_id}: {problem}" for problem in part.problems]
        lines += [f"  {part.grade_id}: review: {reason}" for reason in part.review]
    return lines


def _append_log(log_file, lines):
    """Append lines to grading.log and put them on disk; a log that cannot be written is only a warning."""
    try:
        log_file.write("\n".join(lines) + "\n")
        log_file.flush()
        os.fsync(log_file.fileno())
    except OSError as error:
        print(f"WARNING: could not write grading.log ({error}); the results and the gradebook are kept",
              file=sys.stderr)


def _not_graded(student_id, lab_id, reason, isolation, fingerprint_value=""):
    """A result that says grading failed on the grader's side; it is never a grade."""
    return grading.SubmissionResult(student_id, lab_id, [], [], [], {}, "", isolation, 0.0,
                                    status="not_graded", reason=reason, fingerprint=fingerprint_value)


def _failure_reason(error):
    """Why a submission was not graded, from an exception on the trusted side."""
    if isinstance(error, grading.ReferenceComputationError):
        return str(error)
    return f"the grader failed ({type(error).__name__}: {error})"


def _check_folder(folder):
    """A folder that exists and is writable, or can be created."""
    if folder.exists() or folder.is_symlink():
        if not folder.is_dir():
            raise ValueError(f"{folder} exists but is not a folder, so grading cannot write there; "
                             "move it away or choose another --output")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ValueError(f"the folder {folder} is not writable; fix its permissions or choose another --output")
        return
    existing = folder.absolute().parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"the folder {folder} cannot be created ({existing} is not a writable folder)")


def _check_file(path):
    """A file that does not exist yet, or a writable regular file."""
    if path.exists() or path.is_symlink():
        if not path.is_file():
            raise ValueError(f"{path} exists but is not a regular file; move it away or choose another --output")
        if not os.access(path, os.R_OK | os.W_OK):
            raise ValueError(f"{path} is not writable; fix its permissions or choose another --output")


def check_writable(output_folder):
    """Refuse (ValueError) before anything is written when the output cannot be written."""
    output_folder = pathlib.Path(output_folder)
    _check_folder(output_folder)
    _check_folder(output_folder / "results")
    _check_file(output_folder / "gradebook.db")
    _check_file(output_folder / "grading.log")


def _remove_leftover_temporaries(results_folder):
    """Temporary result files of a batch killed outright (SIGKILL, power cut) never count as results."""
    for leftover in results_folder.glob("*/.*.tmp"):
        leftover.unlink(missing_ok=True)


def _fingerprint(item, lab):
    """The submission's fingerprint; "" (graded again) when the lab's source cannot be read."""
    try:
        return fingerprint.submission_fingerprint(item.path, lab.source_path)
    except OSError:
        return ""  # never equal to a saved one: the submission is graded


class _Batch:
    """One run of grade_folder: the open gradebook and log, and what has been committed so far."""

    def __init__(self, labs_by_id, book, results_folder, log_file, signals, isolation):
        self.labs_by_id = labs_by_id
        self.book = book
        self.results_folder = results_folder
        self.log_file = log_file
        self.signals = signals
        self.isolation = isolation
        self.fingerprints = {}
        self.timestamps = {}  # submission -> when it was handed in ("" when unknown)
        self.late_plugin = None  # nbgrader LateSubmissionPlugin instance; None: no late penalties
        self.done = []  # committed in this run: graded and not graded
        self.skipped = []  # saved results of unchanged submissions
        self.course_root = None  # an nbgrader course: its autograded/ notebooks are written for formgrader
        self.paths = {}  # (student_id, lab_id) -> the submitted notebook

    def results(self):
        """Everything so far: committed results and unchanged ones."""
        return BatchResults(self.done + self.skipped, len(self.skipped))

    def commit(self, result):
        """Save one result for good, or as not graded when that fails; a signal waits until it is done."""
        with self.signals.commit_section():
            self.done.append(self._save(result))

    def _save(self, result):
        """Results file to a temporary file, gradebook transaction, file into place, log."""
        path = _result_path(self.results_folder, result.student_id, result.lab_id, result.graded)
        kept_lines = []
        temporary = None
        try:
            if result.graded and self.late_plugin is not None:
                result = late_penalty.assess(self.book, self.labs_by_id[result.lab_id], result, self.late_plugin)
            temporary = _write_temporary(result, path)
            if result.graded:
                kept_lines = gradebook.record_result(self.book, self.labs_by_id[result.lab_id], result)
            os.replace(temporary, path)
        except Exception as error:  # a full disk, a locked or broken gradebook: it costs this submission only
            with contextlib.suppress(Exception):
                self.book.db.rollback()
            if temporary is not None:
                temporary.unlink(missing_ok=True)
            result = _not_graded(result.student_id, result.lab_id,
                                 f"its result could not be saved ({type(error).__name__}: {error})",
                                 result.isolation, result.fingerprint)
            with contextlib.suppress(OSError):
                save_result(result, self.results_folder)
        else:
            with contextlib.suppress(OSError):  # the result is committed; these only tidy up
                _fsync_folder(path.parent)
                if result.graded:
                    _result_path(self.results_folder, result.student_id, result.lab_id, graded=False).unlink(
                        missing_ok=True)
            kept_lines += self.write_autograded(result)
        _append_log(self.log_file, _log_lines(result) + kept_lines)
        return result

    def write_autograded(self, result, only_missing=False):
        """In a course, nbgrader's autograded notebook of a committed result; log lines (a failure only warns)."""
        if self.course_root is None or not result.graded:
            return []
        lab = self.labs_by_id[result.lab_id]
        if only_missing and autograded.autograded_path(self.course_root, result.student_id, lab).is_file():
            return []
        try:
            autograded.write_autograded(self.course_root, lab, self.paths[(result.student_id, result.lab_id)], result)
        except Exception as error:  # the grade is committed: formgrader only lacks the notebook
            return [f"  WARNING: the autograded notebook for formgrader could not be written "
                    f"({type(error).__name__}: {error}); the grade is kept"]
        return []

    def not_graded(self, item, reason):
        """A not-graded result for a submission of this batch."""
        return _not_graded(item.student_id, item.lab_id, reason, self.isolation, self.fingerprints[item])

    def register_labs(self, lab_ids):
        """Write the labs' structure into the gradebook (nbgrader commits it at once)."""
        with self.signals.commit_section():
            for lab_id in lab_ids:
                gradebook.register_lab(self.book, self.labs_by_id[lab_id])

    def _unchanged(self, item):
        """The saved result of item when it was graded from the same fingerprint and is in the gradebook."""
        path = _result_path(self.results_folder, item.student_id, item.lab_id)
        if not self.fingerprints[item] or not path.is_file():
            return None
        try:
            saved = _load_result(path)
        except ValueError:
            return None
        if not saved.graded or saved.fingerprint != self.fingerprints[item]:
            return None
        return saved if gradebook.has_submission(self.book, item.lab_id, item.student_id) else None

    def select(self, submissions, force):
        """The submissions to grade now; the unchanged ones (unless force) go to skipped."""
        to_grade = []
        for item in submissions:
            self.fingerprints[item] = _fingerprint(item, self.labs_by_id[item.lab_id])
            self.paths[(item.student_id, item.lab_id)] = item.path
            saved = None if force else self._unchanged(item)
            if saved is None:
                to_grade.append(item)
            else:
                self.skipped.append(saved)
                warnings = self.write_autograded(saved, only_missing=True)
                if warnings:
                    _append_log(self.log_file, [f"{saved.student_id} {saved.lab_id}: unchanged"] + warnings)
        return to_grade

    def references(self, lab_ids):
        """lab_id -> references, and lab_id -> why they could not be computed."""
        references, failures = {}, {}
        for lab_id in lab_ids:
            try:
                references[lab_id] = reference_cache.lab_references(self.labs_by_id[lab_id], self.isolation)
            except Exception as error:  # ReferenceComputationError, or a bug: that lab waits, the others go on
                failures[lab_id] = _failure_reason(error)
        return references, failures

    def grade(self, to_grade, engine, progress):
        """Run the jobs on the engine (workers.LocalEngine or DaskEngine) and commit each result here, in the
        main thread, as soon as it is in."""
        references, failures = self.references(sorted({item.lab_id for item in to_grade}))
        bar = tqdm.tqdm(total=len(to_grade), desc="grading", unit="notebook", disable=not progress)
        try:
            for item in to_grade:
                if item.lab_id in failures:
                    self.commit(self.not_graded(item, failures[item.lab_id]))
                    bar.update(1)
            for item in to_grade:
                if item.lab_id in references:
                    engine.submit(item, self.labs_by_id[item.lab_id], references[item.lab_id], self.isolation,
                                  self.fingerprints[item])
            for item, outcome in engine.completed():
                try:
                    if isinstance(outcome, Exception):
                        raise outcome
                    result = dataclasses.replace(outcome, fingerprint=self.fingerprints[item],
                                                 timestamp=self.timestamps.get(item, ""))
                except Exception as error:  # a bug on the trusted side costs this submission, not the batch
                    result = self.not_graded(item, _failure_reason(error))
                self.commit(result)
                bar.update(1)
        finally:
            engine.stop()  # on interruption: nothing new starts
            bar.close()


def grade_folder(submissions, labs, output_folder, workers=1, isolation="auto", progress=True,
                 allow_unsandboxed=False, force=False, skipped_folders=(), engine=None, timestamps_csv=None,
                 late_plugin=None, course_root=None):
    """Grade submissions into output_folder/{gradebook.db, results/, grading.log}; returns BatchResults.

    For an nbgrader course_root, the gradebook is course_root/gradebook.db instead, and each graded
    submission's course_root/autograded/<student>/<lab>/<lab>.ipynb is written for formgrader.

    Timestamps come from timestamps_csv or each submission's timestamp file (autograder.timestamps);
    late penalties from late_plugin (an nbgrader LateSubmissionPlugin; default: nbgrader's, no penalty).

    The sandbox jobs run on engine (an open workers.DaskEngine, say), by default in a pool of
    `workers` threads here; either way, every result is judged and committed here. Before
    anything is written, raises sandbox.SandboxUnavailableError when the sandbox cannot
    run (unless allow_unsandboxed) and ValueError when the output cannot be written. Submissions
    graded before from the same fingerprint are skipped unless force. SIGINT or SIGTERM raises
    interruption.BatchInterrupted, with everything committed so far kept.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    labs_by_id = {lab.lab_id: lab for lab in labs}
    lab_ids = sorted({item.lab_id for item in submissions})
    unknown = sorted(set(lab_ids) - set(labs_by_id))
    if unknown:
        raise ValueError(f"submissions for unknown lab(s) {unknown}; labs given: {sorted(labs_by_id)}")
    isolation = sandbox.resolve_isolation(isolation, allow_unsandboxed)
    output_folder = pathlib.Path(output_folder)
    check_writable(output_folder)
    database_path = (output_folder if course_root is None else pathlib.Path(course_root)) / "gradebook.db"
    _check_file(database_path)
    submitted_at, timestamp_warnings = timestamps.submission_timestamps(submissions, timestamps_csv)
    for warning in timestamp_warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if isolation != "bwrap":
        print(UNSANDBOXED_WARNING, file=sys.stderr)
    # Another Keras, TensorFlow or NumPy than requirements.txt's: graded all the same, but said loudly and logged.
    version_warnings = labkit_environment.grader_version_mismatches()
    for warning in version_warnings:
        print(warning, file=sys.stderr)
    output_folder.mkdir(parents=True, exist_ok=True)
    results_folder = output_folder / "results"
    engine = engine if engine is not None else workers_module.LocalEngine(workers)
    with interruption.Interruption() as signals, gradebook.open_gradebook(database_path) as book:
        results_folder.mkdir(exist_ok=True)
        _remove_leftover_temporaries(results_folder)
        with open(output_folder / "grading.log", "a", encoding="utf-8", errors="backslashreplace") as log_file:
            header = [f"batch started: {len(submissions)} submissions, isolation: {isolation}, "
                      f"sandbox jobs on: {engine.description}"]
            header += [UNSANDBOXED_WARNING] if isolation != "bwrap" else []
            header += version_warnings
            _append_log(log_file, header + list(skipped_folders) + timestamp_warnings)
            batch = _Batch(labs_by_id, book, results_folder, log_file, signals, isolation)
            batch.course_root = course_root
            batch.timestamps = submitted_at
            batch.late_plugin = late_plugin if late_plugin is not None else late_penalty.make_plugin()
            try:
                batch.register_labs(lab_ids)
                batch.grade(batch.select(submissions, force), engine, progress)
            except interruption.BatchInterrupted as interrupted:
                interrupted.results = batch.results()
                _append_log(log_file, [f"batch interrupted: {interrupted.results.progress_line()}"])
                raise
            _append_log(log_file, [f"batch done: {batch.results().progress_line()}"])
    return batch.results()


def export_csv(output_folder, csv_path=None):
    """CSV of part scores from the saved results of a grading folder."""
    output_folder = pathlib.Path(output_folder)
    return reports.write_csv(load_results(output_folder / "results"), csv_path or output_folder / "grades.csv")


def write_all_feedback(output_folder, feedback_folder=None, solutions=None, course=None, model_answers=False):
    """Feedback HTML for every saved result, titled from the labs in solutions (or the course's source/);
    for an nbgrader course also in its feedback/ layout for `nbgrader release_feedback`. Returns the first paths.
    model_answers: end each page with the lab's discussion questions and their model answers."""
    output_folder = pathlib.Path(output_folder)
    feedback_folder = feedback_folder or output_folder / "feedback"
    if course is not None and not (pathlib.Path(course) / "submitted").is_dir():
        raise ValueError(f"{course} is not an nbgrader course with submissions (it has no submitted/ folder)")
    outlines = reports.lab_outlines(solutions) if solutions else {}
    if course is not None:
        for lab_id, outline in reports.lab_outlines(pathlib.Path(course) / "source").items():
            # the course's source/ holds released written answers: the model answers are the solutions'
            known = outlines.get(lab_id)
            outlines[lab_id] = dataclasses.replace(outline, discussions=known.discussions) if known else outline
    results = load_results(output_folder / "results")
    course_gradebook = pathlib.Path(course) / "gradebook.db" if course is not None else None
    if course_gradebook is not None and course_gradebook.is_file():  # lateness as nbgrader recorded it
        with gradebook.open_gradebook(course_gradebook) as book:
            results = [late_penalty.from_gradebook(book, result) if result.graded else result for result in results]
    paths = []
    for result in results:
        outline = outlines.get(result.lab_id)
        paths.append(reports.write_feedback(result, feedback_folder, outline, model_answers))
        if course is not None:
            reports.write_course_feedback(result, course, outline, model_answers)
    return paths
