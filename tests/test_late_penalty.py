"""Late penalties: nbgrader's LateSubmissionPlugin, the due date from the gradebook, and `nbgrader export`."""

import csv
import dataclasses
import datetime
import math
import os
import subprocess
import sys

import nbgrader.api
import nbgrader.plugins
import pytest

from autograder import batch, cli, late_penalty
from tests.support import fake_grading, toy_lab

LAB_ID = toy_lab.LAB_ID
DUE = "2026-01-15 12:00:00 UTC"


class PointPerHourLate(nbgrader.plugins.LateSubmissionPlugin):
    """One point off per started hour late (a course's own plugin, as nbgrader's docs show)."""

    def late_submission_penalty(self, student_id, score, total_seconds_late):
        return math.ceil(total_seconds_late / 3600)


def run_nbgrader(*arguments, cwd=None):
    """The real nbgrader command line, with alembic (beside this Python) on PATH."""
    environment = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    completed = subprocess.run([sys.executable, "-m", "nbgrader", *arguments], capture_output=True, text=True,
                               cwd=cwd, env=environment, timeout=120)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed


def nbgrader_export(database, tmp_path):
    """`nbgrader export` of a gradebook: student id -> its CSV row."""
    target = tmp_path / "nbgrader-export.csv"
    run_nbgrader("export", f"--db=sqlite:///{database}", f"--to={target}", cwd=tmp_path)
    with open(target, newline="") as csv_file:
        return {row["student_id"]: row for row in csv.DictReader(csv_file)}


@pytest.fixture
def late_batch(tmp_path, monkeypatch):
    """Toy-lab submissions by ada (90 minutes late), ben (on time) and cleo (no timestamp), with fake grading."""
    fake_grading.install(monkeypatch)
    source_path = toy_lab.build(tmp_path / "solutions")
    submissions = fake_grading.write_submissions(tmp_path / "submissions", source_path, ["ada", "ben", "cleo"])
    (submissions / "ada" / f"{LAB_ID}.timestamp.txt").write_text("2026-01-15 13:30:00.000000 UTC")
    (submissions / "ben" / f"{LAB_ID}.timestamp.txt").write_text("2026-01-15 11:59:00.000000 UTC")
    output = tmp_path / "grading"
    output.mkdir()
    arguments = ["--solutions", str(tmp_path / "solutions"), "grade", str(submissions), "--output", str(output),
                 "--quiet"]
    return {"arguments": arguments, "database": output / "gradebook.db", "output": output, "tmp_path": tmp_path}


def set_due_date(database, due=DUE):
    run_nbgrader("db", "assignment", "add", LAB_ID, f"--duedate={due}", f"--db=sqlite:///{database}")


def test_a_late_submission_gets_the_plugins_penalty_in_the_gradebook_and_nbgrader_export(late_batch):
    set_due_date(late_batch["database"])
    assert cli.main(late_batch["arguments"] + ["--late-plugin", "tests.test_late_penalty:PointPerHourLate"]) == 0
    with nbgrader.api.Gradebook(f"sqlite:///{late_batch['database']}") as book:
        ada = book.find_submission(LAB_ID, "ada")
        assert ada.timestamp == datetime.datetime(2026, 1, 15, 13, 30)
        assert ada.late_submission_penalty == pytest.approx(2.0)
        assert book.find_submission_notebook(LAB_ID, LAB_ID, "ada").late_submission_penalty == pytest.approx(2.0)
        assert book.find_submission(LAB_ID, "ben").late_submission_penalty == 0.0
        assert book.find_submission(LAB_ID, "cleo").timestamp is None
    rows = nbgrader_export(late_batch["database"], late_batch["tmp_path"])
    assert (rows["ada"]["raw_score"], rows["ada"]["late_submission_penalty"], rows["ada"]["score"]) == (
        "3.0", "2.0", "1.0")
    assert rows["ada"]["timestamp"].startswith("2026-01-15 13:30:00")
    assert (rows["ben"]["late_submission_penalty"], rows["ben"]["score"]) == ("0.0", "3.0")
    assert (rows["cleo"]["late_submission_penalty"], rows["cleo"]["score"]) == ("0.0", "3.0")
    results = {result.student_id: result for result in batch.load_results(late_batch["output"] / "results")}
    assert (results["ada"].seconds_late, results["ada"].late_penalty) == (5400.0, 2.0)
    assert (results["ben"].seconds_late, results["ben"].late_penalty) == (0.0, 0.0)
    assert results["ada"].timestamp == "2026-01-15 13:30:00.000000 UTC"
    log = (late_batch["output"] / "grading.log").read_text()
    assert "late: submitted 1.5 hours after the due date: late penalty of 2 points" in log


def test_without_a_due_date_nobody_is_late(late_batch):
    assert cli.main(late_batch["arguments"] + ["--late-plugin", "tests.test_late_penalty:PointPerHourLate"]) == 0
    rows = nbgrader_export(late_batch["database"], late_batch["tmp_path"])
    assert [rows[student]["score"] for student in ("ada", "ben", "cleo")] == ["3.0", "3.0", "3.0"]
    assert rows["ada"]["late_submission_penalty"] == "0.0"


def test_nbgraders_default_plugin_gives_no_penalty(late_batch):
    set_due_date(late_batch["database"])
    assert cli.main(late_batch["arguments"]) == 0
    with nbgrader.api.Gradebook(f"sqlite:///{late_batch['database']}") as book:
        assert book.find_submission_notebook(LAB_ID, LAB_ID, "ada").late_submission_penalty is None
        assert book.find_submission(LAB_ID, "ada").total_seconds_late == 5400.0


def test_a_timestamps_csv_and_an_extension(late_batch):
    set_due_date(late_batch["database"])
    csv_path = late_batch["tmp_path"] / "times.csv"
    csv_path.write_text("student_id,lab_id,timestamp\nben,00_toy,2026-01-15 14:00:00 UTC\n")
    with nbgrader.api.Gradebook(f"sqlite:///{late_batch['database']}") as book:
        book.add_student("ben")
        book.add_submission(LAB_ID, "ben")
        book.grant_extension(LAB_ID, "ben", hours=1)
    assert cli.main(late_batch["arguments"] + ["--timestamps", str(csv_path),
                                               "--late-plugin", "tests.test_late_penalty:PointPerHourLate"]) == 0
    rows = nbgrader_export(late_batch["database"], late_batch["tmp_path"])
    assert (rows["ben"]["late_submission_penalty"], rows["ben"]["score"]) == ("1.0", "2.0")


def test_a_late_penalty_never_exceeds_the_score_and_keeps_manual_scores(late_batch):
    set_due_date(late_batch["database"], "2026-01-15 08:00:00 UTC")  # ada is 5.5 hours late: 6 points > 3
    plugin = ["--late-plugin", "tests.test_late_penalty:PointPerHourLate"]
    assert cli.main(late_batch["arguments"] + plugin) == 0
    assert nbgrader_export(late_batch["database"], late_batch["tmp_path"])["ada"]["score"] == "0.0"
    with nbgrader.api.Gradebook(f"sqlite:///{late_batch['database']}") as book:
        assert book.find_submission(LAB_ID, "ada").late_submission_penalty == pytest.approx(3.0)


def test_grade_refuses_a_plugin_that_cannot_be_loaded(late_batch, capsys):
    assert cli.main(late_batch["arguments"] + ["--late-plugin", "tests.nowhere:Plugin"]) == 2
    assert "could not be loaded" in capsys.readouterr().err
    assert not (late_batch["output"] / "gradebook.db").exists()


# ---------------------------------------------------------------------------
# The pieces.


def test_load_plugin_class_accepts_both_spellings_and_refuses_others():
    assert late_penalty.load_plugin_class("tests.test_late_penalty:PointPerHourLate") is PointPerHourLate
    assert late_penalty.load_plugin_class("tests.test_late_penalty.PointPerHourLate") is PointPerHourLate
    for spec, message in [("", "empty"), ("nodots", "package.module:Class"), ("os:path", "subclass"),
                          ("tests.test_late_penalty:Missing", "could not be loaded")]:
        with pytest.raises(ValueError, match=message):
            late_penalty.load_plugin_class(spec)


def test_make_plugin_reads_the_course_configuration(tmp_path):
    assert type(late_penalty.make_plugin()) is nbgrader.plugins.LateSubmissionPlugin
    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()\nc.AssignLatePenalties.plugin_class = 'tests.test_late_penalty.PointPerHourLate'\n")
    assert isinstance(late_penalty.make_plugin(tmp_path), PointPerHourLate)
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.LateSubmissionPlugin.penalty_method = 'zero'\n")
    plugin = late_penalty.make_plugin(tmp_path)
    assert plugin.late_submission_penalty("ada", 2.5, 60.0) == 2.5
    assert isinstance(late_penalty.make_plugin(tmp_path, "tests.test_late_penalty:PointPerHourLate"), PointPerHourLate)
    (tmp_path / "nbgrader_config.py").write_text("c = get_config(\n")
    with pytest.raises(ValueError, match="could not be read"):
        late_penalty.make_plugin(tmp_path)


def test_seconds_late_bounded_penalty_and_describe():
    due = datetime.datetime(2026, 1, 15, 12)
    assert late_penalty.seconds_late("2026-01-15 12:30:00 UTC", due) == 1800.0
    assert late_penalty.seconds_late("2026-01-15 12:30:00 UTC", due, datetime.timedelta(hours=1)) == 0.0
    assert late_penalty.seconds_late("", due) == 0.0
    assert late_penalty.seconds_late("2026-01-15 12:30:00 UTC", None) == 0.0
    assert late_penalty.bounded_penalty(None, 3.0) == 0.0
    assert late_penalty.bounded_penalty(-1, 3.0) == 0.0
    assert late_penalty.bounded_penalty(5, 3.0) == 3.0
    assert late_penalty.bounded_penalty(1.5, 3.0) == 1.5
    result = fake_grading.grading.SubmissionResult("ada", LAB_ID, [], [], [], {}, "", "bwrap", 0.0,
                                                   seconds_late=1800.0, late_penalty=1.0)
    assert late_penalty.describe(result) == "submitted 30 minutes after the due date: late penalty of 1 point"
    assert late_penalty.describe(fake_grading.grading.SubmissionResult(
        "ada", LAB_ID, [], [], [], {}, "", "bwrap", 0.0)) == ""


def test_assess_reads_the_due_date_and_never_fails_on_a_bad_timestamp(tmp_path, monkeypatch):
    from autograder import gradebook, lab as lab_module

    fake_grading.read_alembic_head_once(monkeypatch)
    lab = lab_module.load_lab(toy_lab.build(tmp_path / "solutions"))
    late = dataclasses.replace(fake_grading.full_marks(lab, "ada"), timestamp="2026-01-15 14:00:00.000000 UTC")
    with gradebook.open_gradebook(tmp_path / "gradebook.db") as book:
        plugin = PointPerHourLate()
        assert late_penalty.assess(book, lab, late, plugin).late_penalty == 0.0  # the lab is not in the gradebook
        gradebook.register_lab(book, lab)
        book.update_or_create_assignment(LAB_ID, duedate=DUE)
        assessed = late_penalty.assess(book, lab, late, plugin)
        assert (assessed.seconds_late, assessed.late_penalty) == (7200.0, 2.0)
        garbled = dataclasses.replace(late, timestamp="not a time")
        assert late_penalty.assess(book, lab, garbled, plugin).seconds_late == 0.0


def test_from_gradebook_reads_what_nbgrader_recorded(late_batch):
    set_due_date(late_batch["database"])
    assert cli.main(late_batch["arguments"] + ["--late-plugin", "tests.test_late_penalty:PointPerHourLate"]) == 0
    saved = {result.student_id: result for result in batch.load_results(late_batch["output"] / "results")}
    bare = dataclasses.replace(saved["ada"], timestamp="", seconds_late=0.0, late_penalty=0.0)
    with nbgrader.api.Gradebook(f"sqlite:///{late_batch['database']}") as book:
        assert late_penalty.from_gradebook(book, bare) == saved["ada"]
        stranger = dataclasses.replace(bare, student_id="zed")
        assert late_penalty.from_gradebook(book, stranger) is stranger
