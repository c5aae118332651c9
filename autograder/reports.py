"""Reports for instructors and students: the CSV of part scores and per-student feedback HTML.

Feedback never reveals hidden tests: for a hidden check it says only whether it passed and
the instructor's hint, never its inputs, expected values or code.
"""

import csv
import html
import pathlib

CSV_COLUMNS = ("student", "lab", "part", "points", "max_points")


def write_csv(results, path):
    """One row per student, lab and graded part."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as csv_file:
        writer = csv.writer(csv_file)
        writer.writerow(CSV_COLUMNS)
        for result in sorted(results, key=lambda item: (item.student_id, item.lab_id)):
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
            if not check.passed and check.hint:
                text += f" — hint: {check.hint}"
        else:
            text = f"{check.description}: {check.message}"
            if not check.passed and check.hint:
                text += f" — hint: {check.hint}"
        rows.append(f'<li class="{mark}">{html.escape(text)}</li>')
    rows += [f'<li class="failed">{html.escape(problem)}</li>' for problem in part.problems]
    return "\n".join(rows)


def feedback_html(result):
    """The feedback page of one submission as an HTML string."""
    part_rows = "\n".join(
        f"<tr><td>{html.escape(part.grade_id)}</td><td>{part.score:g} / {part.max_score:g}</td>"
        f"<td><ul>{_check_rows(part)}</ul></td></tr>"
        for part in result.parts
    )
    notes = result.notes + result.incidents + [
        f"cell `{label}`: {message}" for label, message in result.cell_errors.items()
    ]
    notes_html = "".join(f"<li>{html.escape(note)}</li>" for note in notes) or "<li>none</li>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(result.lab_id)} feedback for {html.escape(result.student_id)}</title>
<style>
body {{ font-family: sans-serif; max-width: 60rem; margin: 2rem auto; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border: 1px solid #ccc; padding: .4rem; vertical-align: top; text-align: left; }}
li.passed {{ color: #176117; }} li.failed {{ color: #a01010; }}
</style></head><body>
<h1>{html.escape(result.lab_id)}: {result.score:g} / {result.max_score:g} points</h1>
<p>Student: {html.escape(result.student_id)}</p>
<table><tr><th>part</th><th>score</th><th>checks</th></tr>
{part_rows}
</table>
<h2>Notes from grading</h2>
<ul>{notes_html}</ul>
</body></html>
"""


def write_feedback(result, directory):
    """Write feedback/<student>/<lab>.html and return its path."""
    path = pathlib.Path(directory) / result.student_id / f"{result.lab_id}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(feedback_html(result), encoding="utf-8")
    return path


def summary_table(results):
    """A plain-text table: one row per student, one column per lab, plus the total."""
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
                continue
            row.append(f"{result.score:g}/{result.max_score:g}")
            total += result.score
            total_max += result.max_score
        row.append(f"{total:g}/{total_max:g}")
        rows.append(row)
    widths = [max(len(str(line[index])) for line in [header] + rows) for index in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)) for line in [header] + rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
