"""When each submission was handed in: nbgrader's timestamp.txt, a per-notebook file or a CSV.

Timestamps decide late penalties, so a timestamp that cannot be read is never guessed: it is
a warning and the submission has no timestamp (so it is not late), and its grade is kept.
Stored timestamps use nbgrader's own format in UTC ("2026-01-15 10:00:00.000000 UTC").
"""

import csv
import datetime
import pathlib
import re

from dateutil import parser as dateutil_parser
from nbgrader import utils as nbgrader_utils

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f UTC"
CSV_COLUMNS = ("student_id", "lab_id", "timestamp")
NBGRADER_FILE = "timestamp.txt"
FLAT_SUFFIX = ".timestamp.txt"
MAX_FILE_BYTES = 1000
NUMERIC_OFFSET = re.compile(r"\s[+-]\d{2}:?\d{2}$")


def parse_timestamp(text):
    """A naive UTC datetime from a timestamp as nbgrader writes or reads it; ValueError when it is not one."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("the timestamp is empty")
    text = text.strip()
    try:
        if NUMERIC_OFFSET.search(text):  # nbgrader's parse_utc would read "+0100" as 100 seconds
            parsed = nbgrader_utils.parse_utc(dateutil_parser.parse(text))
        else:
            parsed = nbgrader_utils.parse_utc(text)
    except (ValueError, OverflowError, TypeError) as error:
        raise ValueError(f"{text[:80]!r} is not a timestamp (expected for example "
                         f"'2026-01-15 10:00:00.000000 UTC'): {error}") from error
    if not isinstance(parsed, datetime.datetime):
        raise ValueError(f"{text[:80]!r} is not a date and time")
    return parsed


def format_timestamp(moment):
    """A naive UTC datetime in nbgrader's timestamp format."""
    return moment.strftime(TIMESTAMP_FORMAT)


def normalize(text):
    """A timestamp string rewritten in nbgrader's format in UTC; ValueError when it cannot be read."""
    return format_timestamp(parse_timestamp(text))


def read_timestamp_file(path):
    """(timestamp, warning) from a timestamp file: ("", None) when there is none, ("", warning) when unreadable."""
    path = pathlib.Path(path)
    if not path.exists() and not path.is_symlink():
        return "", None
    try:
        if path.is_symlink() or not path.is_file():
            raise ValueError("it is not a regular file")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ValueError(f"it is larger than {MAX_FILE_BYTES} bytes")
        return normalize(path.read_text(encoding="utf-8")), None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return "", f"ignored the timestamp {path} ({error}); the submission counts as not late"


def read_timestamps_csv(path):
    """(student_id, lab_id) -> timestamp from a CSV with the columns student_id, lab_id, timestamp, and warnings.

    A file that is missing or lacks the columns raises ValueError (before anything is graded);
    a row whose timestamp cannot be read is only a warning.
    """
    path = pathlib.Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as csv_file:
            rows = list(csv.DictReader(csv_file))
            header = rows[0].keys() if rows else []
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"the timestamps CSV {path} could not be read ({type(error).__name__}: {error})") from error
    missing = [column for column in CSV_COLUMNS if column not in header]
    if rows and missing:
        raise ValueError(f"the timestamps CSV {path} lacks the column(s) {missing}; "
                         f"its first line must be {','.join(CSV_COLUMNS)}")
    table, warnings = {}, []
    for line_number, row in enumerate(rows, start=2):
        key = ((row.get("student_id") or "").strip(), (row.get("lab_id") or "").strip())
        try:
            table[key] = normalize(row.get("timestamp") or "")
        except ValueError as error:
            warnings.append(f"{path} line {line_number}: ignored the timestamp of {key[0]} {key[1]} ({error}); "
                            "the submission counts as not late")
    return table, warnings


def timestamp_file_for(notebook_path, lab_id):
    """Where a submission's timestamp file is: nbgrader's timestamp.txt beside it, or <lab>.timestamp.txt."""
    notebook_path = pathlib.Path(notebook_path)
    if notebook_path.parent.name == lab_id:  # nbgrader's submitted/<student>/<lab>/<lab>.ipynb
        return notebook_path.parent / NBGRADER_FILE
    return notebook_path.with_name(lab_id + FLAT_SUFFIX)


def submission_timestamps(submissions, csv_path=None):
    """submission -> timestamp ("" when none) for batch.Submission items, and the warnings to show.

    A timestamp from the CSV (if given) wins over the submission's timestamp file.
    """
    table, warnings = read_timestamps_csv(csv_path) if csv_path else ({}, [])
    found = {}
    for item in submissions:
        if (item.student_id, item.lab_id) in table:
            found[item] = table[(item.student_id, item.lab_id)]
            continue
        timestamp, warning = read_timestamp_file(timestamp_file_for(item.path, item.lab_id))
        found[item] = timestamp
        if warning:
            warnings.append(f"{item.student_id} {item.lab_id}: {warning}")
    return found, warnings
