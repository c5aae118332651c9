"""Reports for instructors and students: the CSV of part scores and per-student feedback HTML.

Feedback never reveals hidden tests: for a hidden check it says only whether it passed and
the instructor's hint, never its inputs, expected values or code. A submission that was not
graded (a failure on the grader's side) is never shown as 0 points: the CSV leaves its points
empty, the summary lists it with the reason, and its feedback says it will be graded again.
"""

import contextlib
import csv
import dataclasses
import html
import pathlib
import re
import secrets

import nbformat

from autograder import lab as lab_module, late_penalty, timestamps

CSV_COLUMNS = ("student", "lab", "part", "points", "max_points")
NOT_GRADED = "not graded"
HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
UNATTEMPTED_MARK = "NotImplementedError"
STOPPED_CELL = re.compile(r"^cell `(.+?)` was stopped \((.+)\); it was skipped and grading went on$")
STOPPED_CHECK = re.compile(r"^a check was stopped \((.+)\); grading went on$")
SECRET_FILE = "submission_secret.txt"  # nbgrader's: release_feedback names the released HTML by its hash


def write_csv(results, path):
    """One row per student, lab and graded part."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as csv_file:
        writer = csv.writer(csv_file)
        writer.writerow(CSV_COLUMNS)
        for result in sorted(results, key=lambda item: (item.student_id, item.lab_id)):
            if not result.graded:
                writer.writerow([result.student_id, result.lab_id, NOT_GRADED, "", ""])
                continue
            for part in result.parts:
                writer.writerow([result.student_id, result.lab_id, part.grade_id,
                                 f"{part.score:g}", f"{part.max_score:g}"])
    return path


@dataclasses.dataclass(frozen=True)
class LabOutline:
    """What feedback needs from a source notebook: each part's title and the answer cells it grades."""

    titles: dict  # test cell grade_id -> title from the notebook's headings
    answers: dict  # test cell grade_id -> tuple of the answer cells' grade_ids since the previous test
    discussions: tuple = ()  # (grade_id, question, model answer) of each discussion question (written answer)


def _headings(markdown):
    """(level, text) of each markdown heading line, without the #'s."""
    found = []
    for line in markdown.splitlines():
        match = HEADING.match(line)
        if match:
            found.append((len(match.group(1)), match.group(2).strip().rstrip("#").strip()))
    return found


def read_outline(source_path):
    """The LabOutline of a source notebook (solutions/<lab>/<lab>.ipynb); ValueError when it cannot be read."""
    try:
        notebook = nbformat.read(str(source_path), as_version=4)
    except (OSError, ValueError) as error:
        message = f"the lab notebook {source_path} could not be read ({type(error).__name__}: {error})"
        raise ValueError(message) from error
    titles, answers = {}, {}
    section = subsection = ""
    pending_answers, title_at_answer = [], None
    discussions, previous = [], None
    for cell in notebook.cells:
        nbgrader = cell.get("metadata", {}).get("nbgrader", {})
        before, previous = previous, cell
        if cell.cell_type == "markdown":
            if nbgrader.get("solution"):  # a written answer's cell holds the solution: never a title
                question = before.source.strip() if before is not None and before.cell_type == "markdown" else ""
                discussions.append((nbgrader.get("grade_id", ""), question, lab_module.model_answer(cell.source)))
                continue
            for level, text in _headings(cell.source):
                if level == 2:
                    section, subsection = text, ""
                elif level > 2:
                    subsection = text
            continue
        current = " › ".join(text for text in (section, subsection) if text)
        if nbgrader.get("solution"):
            pending_answers.append(nbgrader.get("grade_id", ""))
            title_at_answer = title_at_answer or current
        elif nbgrader.get("grade") and nbgrader.get("grade_id"):
            titles[nbgrader["grade_id"]] = title_at_answer or current or nbgrader["grade_id"]
            answers[nbgrader["grade_id"]] = tuple(pending_answers)
            pending_answers, title_at_answer = [], None
    return LabOutline(titles, answers, tuple(discussions))


def lab_outlines(solutions_folder):
    """lab_id -> LabOutline for every lab in a solutions (or nbgrader source/) folder; a lab that cannot be read
    is left out, so its feedback shows the raw part ids."""
    outlines = {}
    for path in sorted(pathlib.Path(solutions_folder).glob("*/*.ipynb")):
        if path.stem == path.parent.name:
            with contextlib.suppress(ValueError):
                outlines[path.stem] = read_outline(path)
    return outlines


def describe_stop(reason):
    """Why the sandbox stopped a cell or a check, as words for students that follow "was"."""
    reason = reason.removeprefix("stopped: ").strip()
    time_limit = re.search(r"exceeded (?:the|its) (\d+) s time limit", reason)
    if time_limit and "whole notebook" in reason:
        return f"stopped after the whole notebook's {time_limit.group(1)} s time limit"
    if time_limit:
        return f"stopped after the {time_limit.group(1)} s time limit"
    memory = re.search(r"used more than (\d+) MB", reason)
    if memory:
        return f"stopped because it used more than {memory.group(1)} MB of memory"
    if "ended unexpectedly" in reason:
        status = re.search(r"exit status (-?\d+)", reason)
        code = f" (exit status {status.group(1)})" if status else ""
        return f"stopped because the Python process ended while it ran{code}: the code exited or crashed it"
    return f"stopped: {reason}"


def _is_stop(message):
    return isinstance(message, str) and message.startswith("stopped: ")


def _check_text(check):
    """The line a student reads for one check: a hidden one shows only its verdict, the allowed text and the hint."""
    if check.gated:  # an earlier core check failed: its own verdict and hint would mislead
        return f"{'hidden check' if check.hidden else check.description}: {check.gated}"
    mark = "passed" if check.passed else "failed"
    if check.hidden:
        text = "hidden check " + mark
        if not check.passed and check.shown:  # built to leak nothing of the hidden inputs
            text += ": " + (f"it was {describe_stop(check.shown)}" if _is_stop(check.shown) else check.shown)
    else:
        message = f"this check was {describe_stop(check.message)}" if _is_stop(check.message) else check.message
        text = f"{check.description}: {message}"
    if not check.passed and check.hint:
        text += f" — hint: {check.hint}"
    return text


def _unattempted(part):
    """True when every failed check of a part failed because its answer still raises NotImplementedError."""
    failed = [check for check in part.checks if not check.passed]
    return bool(failed) and not part.problems and all(
        UNATTEMPTED_MARK in (check.shown if check.hidden else check.message) for check in failed)


def _stopped_cells(result, outline, part):
    """(cell label, reason) of the answer cells of part that the sandbox stopped; without an outline, the stopped
    cells a failed check names ("`label` is not defined")."""
    stopped = [(label, reason) for label, reason in result.cell_errors.items() if _is_stop(reason)]
    if outline is not None and part.grade_id in outline.answers:
        return [(label, reason) for label, reason in stopped if label in outline.answers[part.grade_id]]
    messages = " ".join(check.message for check in part.checks if not check.passed)
    return [(label, reason) for label, reason in stopped if f"`{label}` is not defined" in messages]


def _review_rows(part):
    rows = [f'<li class="failed">{html.escape(problem)}</li>' for problem in part.problems]
    rows += [f'<li class="review">flagged for your instructor to review: {html.escape(reason)}</li>'
             for reason in part.review]
    return rows


def _check_class(check):
    if check.gated:
        return "skipped"
    return "passed" if check.passed else "failed"


def _check_rows(part, stopped=()):
    """The list items of one part: its checks, collapsed into one line when the part was not attempted or its
    answer cell was stopped, then its problems and review flags."""
    failed = [check for check in part.checks if not check.passed]
    if stopped and failed:
        label, reason = stopped[0]
        text = (f"cell `{label}` was {describe_stop(reason)}, so what it defines was never checked "
                f"({len(failed)} checks not passed)")
        rows = [f'<li class="failed">{html.escape(text)}</li>']
    elif _unattempted(part):
        hints = "".join(f"<li>{html.escape(check.hint)}</li>" for check in failed
                        if check.hint and not check.gated)
        summary = html.escape(f"not attempted yet: the answer still raises NotImplementedError "
                              f"({len(failed)} checks not passed)")
        rows = [f'<li class="failed"><details><summary>{summary}</summary><ul>{hints or "<li>no hints</li>"}'
                "</ul></details></li>"]
    else:
        rows = [f'<li class="{_check_class(check)}">{html.escape(_check_text(check))}</li>' for check in part.checks]
    return "\n".join(rows + _review_rows(part))


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{lab} feedback for {student}</title>
<style>
body {{ font-family: sans-serif; max-width: 60rem; margin: 2rem auto; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border: 1px solid #ccc; padding: .4rem; vertical-align: top; text-align: left; }}
td small {{ color: #666; }}
li.passed {{ color: #176117; }} li.failed {{ color: #a01010; }} li.review {{ color: #8a5a00; }}
li.skipped {{ color: #666; }}
details summary {{ cursor: pointer; }}
.question, .model-answer {{ white-space: pre-wrap; }} .model-answer {{ border-left: 3px solid #176117; padding-left: .6rem; }}
</style></head><body>
{body}
</body></html>
"""


def _not_graded_body(result):
    """The reason stays out (it may quote the grader's own output): it is in the log for instructors."""
    return (f"<h1>{html.escape(result.lab_id)}: not graded yet</h1>\n"
            f"<p>Student: {html.escape(result.student_id)}</p>\n"
            "<p>Grading this submission failed on the grader's side, not because of your notebook. "
            "It will be graded again; no points were recorded.</p>")


def _part_title(part, outline):
    title = outline.titles.get(part.grade_id) if outline else None
    if not title or title == part.grade_id:
        return html.escape(part.grade_id)
    return f"{html.escape(title)}<br><small>{html.escape(part.grade_id)}</small>"


def _submission_lines(result):
    """When it was submitted and the late penalty, as paragraphs."""
    lines = [f"<p>Submitted: {html.escape(result.timestamp)}</p>"] if result.timestamp else []
    if result.backend:
        lines.append(f"<p>Graded with Keras on the {html.escape(result.backend)} backend.</p>")
    if result.seconds_late:
        lines.append(f"<p>{html.escape(late_penalty.describe(result))}; "
                     f"score after the penalty: {max(0.0, result.score - result.late_penalty):g} / "
                     f"{result.max_score:g}</p>")
    return "\n".join(lines)


def _incident_note(incident):
    """A sandbox incident in the feedback's words: what was stopped, and why (see describe_stop)."""
    cell = STOPPED_CELL.match(incident)
    if cell:
        return f"cell `{cell.group(1)}` was {describe_stop(cell.group(2))}; it was skipped and grading went on"
    check = STOPPED_CHECK.match(incident)
    if check:
        return f"a check was {describe_stop(check.group(1))}; grading went on"
    return incident


def _notes(result):
    """Notes, incidents and cell errors; a stopped cell is named once, by its incident."""
    cell_notes = [f"cell `{label}`: {message}" for label, message in result.cell_errors.items()
                  if not _is_stop(message)]
    return result.notes + [_incident_note(incident) for incident in result.incidents] + cell_notes


def _model_answers_section(outline):
    """The discussion questions with the instructor's model answers (only when the instructor asks for them)."""
    if not outline or not outline.discussions:
        return ""
    items = "\n".join(
        f'<li><div class="question">{html.escape(question)}</div>'
        f'<div class="model-answer">{html.escape(answer)}</div><small>{html.escape(grade_id)}</small></li>'
        for grade_id, question, answer in outline.discussions)
    return f"\n<h2>Discussion questions: model answers</h2>\n<ol>{items}</ol>"


def feedback_html(result, outline=None, model_answers=False):
    """The feedback page of one submission as an HTML string; outline (a LabOutline) gives the part titles.

    With model_answers (off by default: `feedback --model-answers`) the page ends with the lab's discussion
    questions and their model answers, taken from the source notebook's written-answer cells."""
    if not result.graded:
        return _PAGE.format(lab=html.escape(result.lab_id), student=html.escape(result.student_id),
                            body=_not_graded_body(result))
    part_rows = "\n".join(
        f"<tr><td>{_part_title(part, outline)}</td><td>{part.score:g} / {part.max_score:g}</td>"
        f"<td><ul>{_check_rows(part, _stopped_cells(result, outline, part))}</ul></td></tr>"
        for part in result.parts
    )
    notes_html = "".join(f"<li>{html.escape(note)}</li>" for note in _notes(result)) or "<li>none</li>"
    body = f"""<h1>{html.escape(result.lab_id)}: {result.score:g} / {result.max_score:g} points</h1>
<p>Student: {html.escape(result.student_id)}</p>
{_submission_lines(result)}
<table><tr><th>part</th><th>score</th><th>checks</th></tr>
{part_rows}
</table>
<h2>Notes from grading</h2>
<ul>{notes_html}</ul>{_model_answers_section(outline) if model_answers else ""}"""
    return _PAGE.format(lab=html.escape(result.lab_id), student=html.escape(result.student_id), body=body)


def write_feedback(result, directory, outline=None, model_answers=False):
    """Write feedback/<student>/<lab>.html and return its path."""
    path = pathlib.Path(directory) / result.student_id / f"{result.lab_id}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(feedback_html(result, outline, model_answers), encoding="utf-8")
    return path


def write_course_feedback(result, course_root, outline=None, model_answers=False):
    """Write COURSE/feedback/<student>/<lab>/<lab>.html with the timestamp.txt and submission_secret.txt that
    `nbgrader release_feedback` reads (copied from submitted/, where `nbgrader collect` put them); returns the
    HTML's path. Without a submitted secret a new one is written: release works, the student fetches nothing."""
    course_root = pathlib.Path(course_root)
    folder = course_root / "feedback" / result.student_id / result.lab_id
    submitted = course_root / "submitted" / result.student_id / result.lab_id
    folder.mkdir(parents=True, exist_ok=True)
    for name, fallback in ((timestamps.NBGRADER_FILE, result.timestamp or "unknown"),
                           (SECRET_FILE, secrets.token_hex(64))):
        source = submitted / name
        text = source.read_text(encoding="utf-8") if source.is_file() and not source.is_symlink() else fallback
        (folder / name).write_text(text, encoding="utf-8")
    path = folder / f"{result.lab_id}.html"
    path.write_text(feedback_html(result, outline, model_answers), encoding="utf-8")
    return path


def _first_line(text):
    """The first line of a reason, for the one-line listing (the log has all of it)."""
    return text.strip().splitlines()[0] if text.strip() else "no reason given"


def summary_table(results):
    """A plain-text table: one row per student, one column per lab, plus the total of what was graded.

    Submissions that were not graded show as "not graded" and are listed below with the reason.
    """
    labs = sorted({result.lab_id for result in results})
    students = sorted({result.student_id for result in results})
    by_key = {(result.student_id, result.lab_id): result for result in results}
    header = ["student"] + labs + ["total"]
    rows = []
    for student in students:
        row, total, total_max = [student], 0.0, 0.0
        for lab_id in labs:
            result = by_key.get((student, lab_id))
            if result is None:
                row.append("-")
            elif not result.graded:
                row.append(NOT_GRADED)
            else:
                row.append(f"{result.score:g}/{result.max_score:g}")
                total += result.score
                total_max += result.max_score
        row.append(f"{total:g}/{total_max:g}")
        rows.append(row)
    widths = [max(len(str(line[index])) for line in [header] + rows) for index in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)) for line in [header] + rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    lines += [f"{NOT_GRADED}: {result.student_id} {result.lab_id}: {_first_line(result.reason)}"
              for result in sorted(results, key=lambda item: (item.student_id, item.lab_id)) if not result.graded]
    return "\n".join(lines)
