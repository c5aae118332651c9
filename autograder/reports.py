"""Reports for instructors and students: the CSV of part scores and per-student feedback HTML.

Feedback never reveals hidden tests: for a hidden check it says only whether it passed and
the instructor's hint, never its inputs, expected values or code. A submission that was not
graded (a failure on the grader's side) is never shown as 0 points: the CSV leaves its points
empty, the summary lists it with the reason, and its feedback says it will be graded again.
"""

import csv
import html
import pathlib

CSV_COLUMNS = ("student", "lab", "part", "points", "max_points")
NOT_GRADED = "not graded"


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


def _check_rows(part):
    rows = []
    for check in part.checks:
        mark = "passed" if check.passed else "failed"
        if check.hidden:
            text = "hidden check " + mark
            if not check.passed and check.shown:  # built to leak nothing of the hidden inputs
                text += f": {check.shown}"
            if not check.passed and check.hint:
                text += f" — hint: {check.hint}"
        else:
            text = f"{check.description}: {check.message}"
            if not check.passed and check.hint:
                text += f" — hint: {check.hint}"
        rows.append(f'<li class="{mark}">{html.escape(text)}</li>')
    rows += [f'<li class="failed">{html.escape(problem)}</li>' for problem in part.problems]
    rows += [f'<li class="review">flagged for your instructor to review: {html.escape(reason)}</li>'
             for reason in part.review]
    return "\n".join(rows)


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{lab} feedback for {student}</title>
<style>
body {{ font-family: sans-serif; max-width: 60rem; margin: 2rem auto; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border: 1px solid #ccc; padding: .4rem; vertical-align: top; text-align: left; }}
li.passed {{ color: #176117; }} li.failed {{ color: #a01010; }} li.review {{ color: #8a5a00; }}
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


def feedback_html(result):
    """The feedback page of one submission as an HTML string."""
    if not result.graded:
        return _PAGE.format(lab=html.escape(result.lab_id), student=html.escape(result.student_id),
                            body=_not_graded_body(result))
    part_rows = "\n".join(
        f"<tr><td>{html.escape(part.grade_id)}</td><td>{part.score:g} / {part.max_score:g}</td>"
        f"<td><ul>{_check_rows(part)}</ul></td></tr>"
        for part in result.parts
    )
    notes = result.notes + result.incidents + [
        f"cell `{label}`: {message}" for label, message in result.cell_errors.items()
    ]
    notes_html = "".join(f"<li>{html.escape(note)}</li>" for note in notes) or "<li>none</li>"
    body = f"""<h1>{html.escape(result.lab_id)}: {result.score:g} / {result.max_score:g} points</h1>
<p>Student: {html.escape(result.student_id)}</p>
<table><tr><th>part</th><th>score</th><th>checks</th></tr>
{part_rows}
</table>
<h2>Notes from grading</h2>
<ul>{notes_html}</ul>"""
    return _PAGE.format(lab=html.escape(result.lab_id), student=html.escape(result.student_id), body=body)


def write_feedback(result, directory):
    """Write feedback/<student>/<lab>.html and return its path."""
    path = pathlib.Path(directory) / result.student_id / f"{result.lab_id}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(feedback_html(result), encoding="utf-8")
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
