"""Grades a folder of submissions: discovery, parallel workers, gradebook, results and log.

Accepted layouts: ``<folder>/<student_id>/<lab_id>.ipynb`` and nbgrader's course layout
``<course>/submitted/<student_id>/<lab_id>/<lab_id>.ipynb``.
"""

import concurrent.futures
import dataclasses
import json
import pathlib
import re

import tqdm

from autograder import gradebook, grading, reports

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")


@dataclasses.dataclass(frozen=True)
class Submission:
    """One notebook to grade."""

    student_id: str
    lab_id: str
    path: pathlib.Path


def find_submissions(folder, lab_ids):
    """Every submitted notebook of a known lab under folder, in either layout, sorted."""
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise ValueError(f"submissions folder {folder} does not exist")
    root = folder / "submitted" if (folder / "submitted").is_dir() else folder
    found = []
    for student_folder in sorted(path for path in root.iterdir() if path.is_dir()):
        if not STUDENT_ID.match(student_folder.name):
            continue
        for lab_id in lab_ids:
            for candidate in (student_folder / f"{lab_id}.ipynb", student_folder / lab_id / f"{lab_id}.ipynb"):
                if candidate.is_file():
                    found.append(Submission(student_folder.name, lab_id, candidate))
                    break
    return found


def save_result(result, results_folder):
    """Keep the full result as JSON (the feedback command renders it later)."""
    path = pathlib.Path(results_folder) / result.student_id / f"{result.lab_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = dataclasses.asdict(result)
    data["output"] = data["output"][-20_000:]
    path.write_text(json.dumps(data, indent=1))
    return path


def load_results(results_folder):
    """Every saved result under a results folder."""
    results = []
    for path in sorted(pathlib.Path(results_folder).glob("*/*.json")):
        data = json.loads(path.read_text())
        parts = [
            grading.PartResult(**dict(part, checks=[grading.CheckResult(**check) for check in part["checks"]]))
            for part in data.pop("parts")
        ]
        results.append(grading.SubmissionResult(parts=parts, **data))
    return results


def _log_lines(result):
    lines = [f"{result.student_id} {result.lab_id}: {result.score:g}/{result.max_score:g} "
             f"in {result.seconds:.1f} s (isolation: {result.isolation})"]
    lines += [f"  note: {note}" for note in result.notes]
    lines += [f"  incident: {incident}" for incident in result.incidents]
    lines += [f"  cell {label}: {message}" for label, message in result.cell_errors.items()]
    for part in result.parts:
        for problem in part.problems:
            lines.append(f"  {part.grade_id}: {problem}")
    return lines


def grade_folder(submissions, labs, output_folder, workers=1, isolation="auto", progress=True):
    """Grade submissions into output_folder/{gradebook.db, results/, grading.log}; returns results."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    output_folder = pathlib.Path(output_folder)
    output_folder.mkdir(parents=True, exist_ok=True)
    labs_by_id = {lab.lab_id: lab for lab in labs}
    needed = sorted({item.lab_id for item in submissions})
    references = {lab_id: grading.compute_references(labs_by_id[lab_id], isolation) for lab_id in needed}
    results = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [
            pool.submit(grading.grade_notebook, labs_by_id[item.lab_id], item.path, item.student_id,
                        references[item.lab_id], isolation)
            for item in submissions
        ]
        bar = tqdm.tqdm(total=len(futures), desc="grading", unit="notebook", disable=not progress)
        for future in concurrent.futures.as_completed(futures):
            results.append(future.result())
            bar.update(1)
        bar.close()
    results.sort(key=lambda result: (result.student_id, result.lab_id))
    with gradebook.open_gradebook(output_folder / "gradebook.db") as book:
        for lab_id in needed:
            gradebook.register_lab(book, labs_by_id[lab_id])
        for result in results:
            gradebook.record_result(book, labs_by_id[result.lab_id], result)
    log_lines = []
    for result in results:
        save_result(result, output_folder / "results")
        log_lines += _log_lines(result)
    with open(output_folder / "grading.log", "a") as log_file:
        log_file.write("\n".join(log_lines) + "\n")
    return results


def export_csv(output_folder, csv_path=None):
    """CSV of part scores from the saved results of a grading folder."""
    output_folder = pathlib.Path(output_folder)
    return reports.write_csv(load_results(output_folder / "results"), csv_path or output_folder / "grades.csv")


def write_all_feedback(output_folder, feedback_folder=None):
    """Feedback HTML for every saved result; returns the paths."""
    output_folder = pathlib.Path(output_folder)
    feedback_folder = feedback_folder or output_folder / "feedback"
    return [reports.write_feedback(result, feedback_folder) for result in load_results(output_folder / "results")]
