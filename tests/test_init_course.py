"""`python -m autograder init-course COURSE` makes an nbgrader course that nbgrader's own commands accept."""

import json
import pathlib
import stat
import sys

import nbformat
import nbgrader.api
import pytest
from traitlets.config import loader as config_loader

from autograder import cli, course, nbgrader_plugin, release
from tests.support import nbgrader_course, toy_lab

LAB_ID = toy_lab.LAB_ID
REAL_LAB = "01_optimization_basics"


def _cells(path):
    """The cells of a notebook as JSON data (outputs and formatting aside, what a student receives)."""
    return json.loads(nbformat.writes(nbformat.read(str(path), as_version=4)))["cells"]


@pytest.fixture
def solutions(tmp_path):
    folder = tmp_path / "solutions"
    toy_lab.build(folder)
    (folder / LAB_ID / "data.csv").write_text("x,y\n1,2\n")  # a support file the lab ships with
    return folder


def test_init_course_writes_the_config_source_release_and_gradebook(tmp_path, solutions, capsys):
    course_root = tmp_path / "course"
    assert cli.main(["--solutions", str(solutions), "init-course", str(course_root)]) == 0
    config = config_loader.PyFileConfigLoader("nbgrader_config.py", path=str(course_root)).load_config()
    assert config.CourseDirectory.course_id == "course"
    assert config.CourseDirectory.root == str(course_root)
    assert config.CourseDirectory.db_url == f"sqlite:///{course_root / 'gradebook.db'}"
    assert config.Exchange.root == str(course_root / "exchange")
    assert config.Autograde.autograde_preprocessors == list(nbgrader_plugin.AUTOGRADE_PREPROCESSORS)
    assert (course_root / "source" / LAB_ID / "data.csv").read_text() == "x,y\n1,2\n"
    assert _cells(course_root / "source" / LAB_ID / f"{LAB_ID}.ipynb") == _cells(solutions / LAB_ID / f"{LAB_ID}.ipynb")
    with nbgrader.api.Gradebook(config.CourseDirectory.db_url) as book:
        notebook = book.find_notebook(LAB_ID, LAB_ID)
        assert sorted(cell.name for cell in notebook.grade_cells) == ["test_relu", "test_square"]
        assert notebook.max_score == 3.0
        assert book.find_source_cell("test_relu", LAB_ID, LAB_ID).checksum  # what OverwriteCells compares
    fresh = release.release_lab(LAB_ID, solutions, tmp_path / "labs")
    assert _cells(course_root / "release" / LAB_ID / f"{LAB_ID}.ipynb") == _cells(fresh / f"{LAB_ID}.ipynb")
    printed = capsys.readouterr().out
    assert f"nbgrader release_assignment {LAB_ID}" in printed and f"grade {course_root}" in printed
    assert course.is_course_root(course_root)


def test_the_exchange_is_created_writable_for_every_student(tmp_path, solutions):
    exchange = tmp_path / "srv" / "exchange"
    course.init_course(tmp_path / "course", solutions, exchange_root=exchange)
    assert stat.S_IMODE(exchange.stat().st_mode) == course.EXCHANGE_MODE
    text = (tmp_path / "course" / course.CONFIG_NAME).read_text()
    assert f"c.Exchange.root = {str(exchange)!r}" in text


def test_an_existing_config_is_kept_unless_forced(tmp_path, solutions, capsys):
    course_root = tmp_path / "course"
    course_root.mkdir()
    (course_root / course.CONFIG_NAME).write_text("c = get_config()  # the instructor's own\n")
    assert cli.main(["--solutions", str(solutions), "init-course", str(course_root)]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    assert (course_root / course.CONFIG_NAME).read_text() == "c = get_config()  # the instructor's own\n"
    assert not (course_root / "source").exists()
    assert cli.main(["--solutions", str(solutions), "init-course", str(course_root), "--force",
                     "--course-id", "dl-2026"]) == 0
    assert "c.CourseDirectory.course_id = 'dl-2026'" in (course_root / course.CONFIG_NAME).read_text()


def test_forcing_keeps_an_edited_source_in_backups(tmp_path, solutions, capsys):
    course_root = nbgrader_course.make_course(tmp_path, solutions=solutions)
    edited = course_root / "source" / LAB_ID / "data.csv"
    edited.write_text("x,y\n3,4\n")
    course.init_course(course_root, solutions, force=True)
    assert edited.read_text() == "x,y\n1,2\n"
    (backup,) = (course_root / "backups").glob(f"*/source/{LAB_ID}/data.csv")
    assert backup.read_text() == "x,y\n3,4\n"
    assert "the old copy is kept in" in capsys.readouterr().err
    course.init_course(course_root, solutions, force=True)  # unchanged: nothing more to back up
    assert len(list((course_root / "backups").iterdir())) == 1


def test_bad_arguments_are_refused_before_anything_is_written(tmp_path, solutions, capsys):
    assert cli.main(["--solutions", str(solutions), "init-course", str(tmp_path / "a"), "--labs", "99_nope"]) == 2
    assert "unknown lab(s) ['99_nope']" in capsys.readouterr().err
    assert cli.main(["--solutions", str(solutions), "init-course", str(tmp_path / "b"), "--course-id", "a b"]) == 2
    assert "course id 'a b'" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_course_the_sandbox_could_read_is_refused(tmp_path, solutions, capsys):
    inside = pathlib.Path(sys.prefix) / "course-inside-the-virtualenv"
    assert cli.main(["--solutions", str(solutions), "init-course", str(inside)]) == 2
    assert "shows to student code" in capsys.readouterr().err
    assert not inside.exists()


def test_nbgrader_commands_work_in_the_course(tmp_path, solutions):
    course_root = nbgrader_course.make_course(tmp_path, solutions=solutions)
    process = nbgrader_course.nbgrader_command(course_root, "generate_assignment", LAB_ID, "--force", timeout=120)
    assert process.returncode == 0, process.stderr
    process = nbgrader_course.nbgrader_command(course_root, "db", "assignment", "list", timeout=120)
    assert process.returncode == 0 and LAB_ID in process.stdout, process.stderr
    process = nbgrader_course.nbgrader_command(course_root, "release_assignment", LAB_ID, timeout=120)
    assert process.returncode == 0, process.stderr
    assert (course_root / "exchange" / "course" / "outbound" / LAB_ID / f"{LAB_ID}.ipynb").is_file()


def test_a_real_lab_is_released_as_in_labs(tmp_path):
    course_root = nbgrader_course.make_course(tmp_path, [REAL_LAB], nbgrader_course.PROJECT_ROOT / "solutions")
    released = course_root / "release" / REAL_LAB / f"{REAL_LAB}.ipynb"
    assert _cells(released) == _cells(nbgrader_course.PROJECT_ROOT / "labs" / REAL_LAB / f"{REAL_LAB}.ipynb")


def test_next_steps_name_every_command_of_the_workflow(tmp_path):
    text = course.next_steps(tmp_path / "course", [LAB_ID])
    for command in ("generate_assignment", "release_assignment", "collect", "python -m autograder grade",
                    "nbgrader autograde", "Formgrader"):
        assert command in text
