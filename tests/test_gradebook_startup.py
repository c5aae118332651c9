"""Opening the gradebook starts no process: a new one is made here with nbgrader's schema, an existing one is
opened as it is, and nbgrader's own tools read both."""

import os
import sqlite3
import subprocess
import sys

import nbgrader.api
import pytest

from autograder import gradebook
from tests.support import fake_grading


class NoProcesses:
    """subprocess.Popen that refuses to start anything, and counts the attempts."""

    def __init__(self):
        self.attempts = []

    def __call__(self, arguments, *more, **keywords):
        self.attempts.append(arguments)
        raise AssertionError(f"a process was started: {arguments}")


@pytest.fixture
def no_processes(monkeypatch):
    refusing = NoProcesses()
    monkeypatch.setattr(subprocess, "Popen", refusing)
    return refusing


def schema(database_path):
    """Every table, index and column definition of an SQLite file."""
    with sqlite3.connect(database_path) as connection:
        return sorted(connection.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))


def schema_revision(database_path):
    with sqlite3.connect(database_path) as connection:
        return connection.execute("SELECT version_num FROM alembic_version").fetchall()


def test_the_schema_head_is_what_alembic_heads_prints():
    gradebook.ensure_alembic_on_path()
    assert gradebook.nbgrader_schema_head() == nbgrader.api.get_alembic_version()  # the process nbgrader starts


def test_a_new_gradebook_is_made_without_a_process(tmp_path, no_processes):
    database_path = tmp_path / "gradebook.db"
    with gradebook.open_gradebook(database_path) as book:
        book.add_student("amy")
    assert no_processes.attempts == []
    assert schema_revision(database_path) == [(gradebook.nbgrader_schema_head(),)]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["gradebook.db"]  # no temporary file is left


def test_a_new_gradebook_has_the_schema_nbgrader_makes(tmp_path, monkeypatch):
    fake_grading.read_alembic_head_once(monkeypatch)
    nbgrader.api.Gradebook(f"sqlite:///{tmp_path / 'by-nbgrader.db'}").close()
    gradebook.create_gradebook(tmp_path / "by-autograder.db")
    assert schema(tmp_path / "by-autograder.db") == schema(tmp_path / "by-nbgrader.db")
    assert schema_revision(tmp_path / "by-autograder.db") == schema_revision(tmp_path / "by-nbgrader.db")


def test_an_existing_gradebook_opens_without_a_process(tmp_path, monkeypatch):
    database_path = tmp_path / "gradebook.db"
    with gradebook.open_gradebook(database_path) as book:
        book.add_student("amy")
    refusing = NoProcesses()
    monkeypatch.setattr(subprocess, "Popen", refusing)
    with gradebook.open_gradebook(database_path) as book:
        assert [student.id for student in book.students] == ["amy"]
    assert refusing.attempts == []


def test_an_existing_file_is_never_replaced(tmp_path):
    database_path = tmp_path / "gradebook.db"
    database_path.write_bytes(b"someone else's file")
    gradebook.create_gradebook(database_path)
    assert database_path.read_bytes() == b"someone else's file"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["gradebook.db"]


def test_a_failed_creation_leaves_nothing(tmp_path, monkeypatch):
    def broken_migrations():
        raise ValueError("nbgrader's migrations have 2 heads")

    monkeypatch.setattr(gradebook, "nbgrader_schema_head", broken_migrations)
    with pytest.raises(ValueError, match="could not be opened.*2 heads"):
        with gradebook.open_gradebook(tmp_path / "gradebook.db"):
            pass
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_nbgrader_command_line_reads_and_upgrades_a_new_gradebook(tmp_path):
    database_path = tmp_path / "gradebook.db"
    with gradebook.open_gradebook(database_path) as book:
        book.add_student("amy", first_name="Amy", last_name="Example")
    head = schema_revision(database_path)
    nbgrader_command = [os.path.join(os.path.dirname(sys.executable), "nbgrader"), "db"]
    environment = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    listed = subprocess.run(nbgrader_command + ["student", "list", f"--db=sqlite:///{database_path}"],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path, env=environment)
    assert listed.returncode == 0, listed.stderr
    assert "amy" in listed.stdout and "Example" in listed.stdout
    upgraded = subprocess.run(nbgrader_command + ["upgrade", f"--db=sqlite:///{database_path}"],
                              capture_output=True, text=True, timeout=300, cwd=tmp_path, env=environment)
    assert upgraded.returncode == 0, upgraded.stderr
    assert schema_revision(database_path) == head  # already at nbgrader's head: nothing to migrate
