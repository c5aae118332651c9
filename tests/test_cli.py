"""The command line: help for every command and clear errors for bad input."""

import subprocess
import sys

import pytest

from autograder import cli
from tests.support import toy_lab

COMMANDS = ["release", "init-course", "grade", "export", "feedback", "mutants", "demo"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage:" in capsys.readouterr().out


@pytest.mark.parametrize("command, options", [("grade", ["--allow-unsandboxed", "--force", "--isolation"]),
                                              ("mutants", ["--allow-unsandboxed", "--isolation"]),
                                              ("demo", ["--allow-unsandboxed", "--isolation"])])
def test_grading_commands_offer_the_isolation_and_resume_options(command, options, capsys):
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    usage = capsys.readouterr().out
    assert all(option in usage for option in options)


def test_module_entry_point_lists_the_commands():
    completed = subprocess.run([sys.executable, "-m", "autograder", "--help"], capture_output=True, text=True,
                               timeout=120)
    assert completed.returncode == 0
    for command in COMMANDS:
        assert command in completed.stdout


def test_grade_reports_a_missing_folder(tmp_path, capsys):
    toy_lab.build(tmp_path / "solutions")
    code = cli.main(["--solutions", str(tmp_path / "solutions"), "grade", str(tmp_path / "nowhere")])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err


def test_grade_reports_an_empty_folder(tmp_path, capsys):
    toy_lab.build(tmp_path / "solutions")
    (tmp_path / "submissions").mkdir()
    code = cli.main(["--solutions", str(tmp_path / "solutions"), "grade", str(tmp_path / "submissions")])
    assert code == 1
    assert "no submissions found" in capsys.readouterr().err


def test_grade_rejects_an_unknown_lab(tmp_path):
    toy_lab.build(tmp_path / "solutions")
    with pytest.raises(SystemExit, match="unknown lab"):
        cli.main(["--solutions", str(tmp_path / "solutions"), "grade", str(tmp_path), "--lab", "99_nothing"])


def test_release_rejects_an_unknown_lab(tmp_path, capsys):
    toy_lab.build(tmp_path / "solutions")
    code = cli.main(["--solutions", str(tmp_path / "solutions"), "release", "99_nothing"])
    assert code == 2
    assert "no lab '99_nothing'" in capsys.readouterr().err


def test_workers_must_be_positive(tmp_path, capsys):
    source = toy_lab.build(tmp_path / "solutions")
    (tmp_path / "submissions" / "amy").mkdir(parents=True)
    (tmp_path / "submissions" / "amy" / "00_toy.ipynb").write_text(source.read_text())
    code = cli.main(["--solutions", str(tmp_path / "solutions"), "grade", str(tmp_path / "submissions"),
                     "--workers", "0"])
    assert code == 2
    assert "workers must be at least 1" in capsys.readouterr().err
