"""Tests for autograder.timestamps: nbgrader's timestamp.txt, per-notebook files and the --timestamps CSV."""

import datetime
import json

import pytest

from autograder import batch, grading, timestamps

NOON_UTC = "2026-01-15 12:00:00.000000 UTC"


def test_parse_timestamp_reads_nbgrader_formats():
    assert timestamps.parse_timestamp(NOON_UTC) == datetime.datetime(2026, 1, 15, 12)
    half_past = datetime.datetime(2026, 1, 15, 12, 30, 0, 500000)
    assert timestamps.parse_timestamp("2026-01-15 13:30:00.5 +0100") == half_past
    assert timestamps.parse_timestamp("2026-01-15T12:00:00Z\n") == datetime.datetime(2026, 1, 15, 12)


@pytest.mark.parametrize("text", ["", "   ", "yesterday-ish", "2026-13-45 99:00:00"])
def test_parse_timestamp_refuses_what_is_not_a_timestamp(text):
    with pytest.raises(ValueError, match="timestamp|empty"):
        timestamps.parse_timestamp(text)


def test_normalize_and_format_round_trip():
    assert timestamps.normalize("2026-01-15 07:00:00 -0500") == NOON_UTC
    assert timestamps.format_timestamp(datetime.datetime(2026, 1, 15, 12)) == NOON_UTC


def test_read_timestamp_file(tmp_path):
    assert timestamps.read_timestamp_file(tmp_path / "absent.txt") == ("", None)
    good = tmp_path / "timestamp.txt"
    good.write_text(NOON_UTC)
    assert timestamps.read_timestamp_file(good) == (NOON_UTC, None)
    bad = tmp_path / "bad.txt"
    bad.write_text("not a date")
    timestamp, warning = timestamps.read_timestamp_file(bad)
    assert timestamp == "" and "ignored the timestamp" in warning and "not late" in warning
    huge = tmp_path / "huge.txt"
    huge.write_text("2" * 5000)
    assert "larger than" in timestamps.read_timestamp_file(huge)[1]
    (tmp_path / "folder.txt").mkdir()
    assert "not a regular file" in timestamps.read_timestamp_file(tmp_path / "folder.txt")[1]
    link = tmp_path / "link.txt"
    link.symlink_to(good)
    assert "not a regular file" in timestamps.read_timestamp_file(link)[1]


def test_timestamp_file_for_both_layouts(tmp_path):
    nbgrader_notebook = tmp_path / "submitted" / "ada" / "00_toy" / "00_toy.ipynb"
    assert timestamps.timestamp_file_for(nbgrader_notebook, "00_toy") == nbgrader_notebook.parent / "timestamp.txt"
    flat_notebook = tmp_path / "ada" / "00_toy.ipynb"
    assert timestamps.timestamp_file_for(flat_notebook, "00_toy") == tmp_path / "ada" / "00_toy.timestamp.txt"


def test_read_timestamps_csv(tmp_path):
    path = tmp_path / "times.csv"
    path.write_text("student_id,lab_id,timestamp\nada,00_toy,2026-01-15 12:00:00 UTC\nben,00_toy,soon\n")
    table, warnings = timestamps.read_timestamps_csv(path)
    assert table == {("ada", "00_toy"): NOON_UTC}
    assert len(warnings) == 1 and "line 3" in warnings[0] and "ben 00_toy" in warnings[0]


def test_read_timestamps_csv_refuses_a_missing_file_or_column(tmp_path):
    with pytest.raises(ValueError, match="could not be read"):
        timestamps.read_timestamps_csv(tmp_path / "absent.csv")
    path = tmp_path / "times.csv"
    path.write_text("student,lab,when\nada,00_toy,2026-01-15\n")
    with pytest.raises(ValueError, match="lacks the column"):
        timestamps.read_timestamps_csv(path)


def test_submission_timestamps_csv_wins_and_bad_files_only_warn(tmp_path):
    ada = batch.Submission("ada", "00_toy", tmp_path / "ada" / "00_toy.ipynb")
    ben = batch.Submission("ben", "00_toy", tmp_path / "submitted" / "ben" / "00_toy" / "00_toy.ipynb")
    cleo = batch.Submission("cleo", "00_toy", tmp_path / "cleo" / "00_toy.ipynb")
    (tmp_path / "ada").mkdir()
    (tmp_path / "ada" / "00_toy.timestamp.txt").write_text("2026-01-10 09:00:00 UTC")
    ben.path.parent.mkdir(parents=True)
    (ben.path.parent / "timestamp.txt").write_text("garbage")
    csv_path = tmp_path / "times.csv"
    csv_path.write_text(f"student_id,lab_id,timestamp\nada,00_toy,{NOON_UTC}\n")
    found, warnings = timestamps.submission_timestamps([ada, ben, cleo], csv_path)
    assert found == {ada: NOON_UTC, ben: "", cleo: ""}
    assert len(warnings) == 1 and warnings[0].startswith("ben 00_toy: ignored the timestamp")
    found, _ = timestamps.submission_timestamps([ada])
    assert found == {ada: "2026-01-10 09:00:00.000000 UTC"}


def test_old_saved_results_without_timestamp_still_load(tmp_path):
    result = grading.SubmissionResult("ada", "00_toy", [], [], [], {}, "", "bwrap", 1.0)
    path = batch.save_result(result, tmp_path)
    data = json.loads(path.read_text())
    for field in ("timestamp", "seconds_late", "late_penalty"):
        data.pop(field)
    path.write_text(json.dumps(data))
    (loaded,) = batch.load_results(tmp_path)
    assert (loaded.timestamp, loaded.seconds_late, loaded.late_penalty) == ("", 0.0, 0.0)
