"""An nbgrader course folder made from solutions/, set up for the project's trusted grading.

`init_course` writes COURSE/nbgrader_config.py (course id, root, gradebook, exchange and the
trusted-grading plugin), copies each lab into COURSE/source/<lab>/ (stamped with the student
repository, as `release` does) and runs nbgrader's generate_assignment there, which registers
the lab in COURSE/gradebook.db and writes COURSE/release/<lab>/. From then on the ordinary
nbgrader commands work in COURSE.
"""

import datetime
import pathlib
import re
import shutil
import sys
import tempfile

import nbformat
import traitlets.config
from nbgrader.apps import api as nbgrader_api

from autograder import gradebook, nbgrader_plugin, release, sandbox

CONFIG_NAME = "nbgrader_config.py"
EXCHANGE_MODE = 0o777  # every student writes into the exchange's inbound folder, as nbgrader's docs set it up
COURSE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
COPY_IGNORED = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", ".*")


class CourseExistsError(ValueError):
    """The folder already holds an nbgrader course (its nbgrader_config.py is never overwritten without force)."""


def is_course_root(folder):
    """True when folder holds an nbgrader course: an nbgrader_config.py and a submitted/ folder."""
    folder = pathlib.Path(folder)
    return (folder / CONFIG_NAME).is_file() and (folder / "submitted").is_dir()


def config_text(course_root, course_id, exchange_root):
    """The nbgrader_config.py of a course (absolute paths, so nbgrader and formgrader work from anywhere)."""
    course_root = pathlib.Path(course_root).absolute()
    lines = [
        '"""nbgrader settings of this course, written by `python -m autograder init-course`."""',
        "",
        "c = get_config()  # noqa: F821 (nbgrader provides get_config)",
        f"c.CourseDirectory.course_id = {course_id!r}",
        f"c.CourseDirectory.root = {str(course_root)!r}",
        f"c.CourseDirectory.db_url = {'sqlite:///' + str(course_root / 'gradebook.db')!r}",
        f"c.Exchange.root = {str(pathlib.Path(exchange_root).absolute())!r}",
        "",
        *nbgrader_plugin.config_lines(),
        "",
    ]
    return "\n".join(lines)


def _api(course_root, exchange_root, course_id):
    """nbgrader's API on the course, configured as nbgrader_config.py says."""
    config = traitlets.config.Config()
    config.CourseDirectory.root = str(course_root)
    config.CourseDirectory.course_id = course_id
    config.CourseDirectory.db_url = f"sqlite:///{course_root / 'gradebook.db'}"
    config.Exchange.root = str(exchange_root)
    return nbgrader_api.NbGraderAPI(config=config)


def _tree(folder):
    """Relative path -> bytes of every file under folder that a copy keeps."""
    return {path.relative_to(folder): path.read_bytes() for path in sorted(folder.rglob("*"))
            if path.is_file() and not any(part.startswith(".") or part == "__pycache__"
                                          for part in path.relative_to(folder).parts)}


def _stamped_copy(origin, folder, repository):
    """A copy of a lab folder under folder, its notebooks stamped with the student repository as `release` does."""
    copy = folder / origin.name
    shutil.copytree(origin, copy, ignore=COPY_IGNORED)
    for notebook_path in copy.glob("*.ipynb"):
        notebook = nbformat.read(str(notebook_path), as_version=4)
        if release.prepare_for_students(notebook, repository):
            nbformat.write(notebook, str(notebook_path))
    return copy


def _copy_lab(solutions, lab_id, course_root, backups, repository):
    """solutions/<lab>/ (notebook and support files) -> COURSE/source/<lab>/; an edited older copy is moved to
    backups/ first, never deleted. Returns where it was moved, or None."""
    target = course_root / "source" / lab_id
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".init-course-") as scratch:
        fresh = _stamped_copy(pathlib.Path(solutions) / lab_id, pathlib.Path(scratch), repository)
        moved = None
        if target.exists():
            if _tree(target) == _tree(fresh):
                return None
            moved = backups / "source" / lab_id
            moved.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(target), str(moved))
        shutil.move(str(fresh), str(target))
    return moved


def init_course(course_root, solutions="solutions", lab_ids=None, exchange_root=None, course_id=None, force=False):
    """Create an nbgrader course in course_root from solutions/; returns the lab ids released there."""
    course_root = pathlib.Path(course_root).absolute()
    if sandbox.shown_to_students(course_root):
        raise ValueError(f"{course_root} lies in a folder the grading sandbox shows to student code (the system "
                         "or the virtualenv), which would expose source/ and the gradebook; choose another folder")
    config_path = course_root / CONFIG_NAME
    if config_path.exists() and not force:
        raise CourseExistsError(f"{config_path} already exists; pass --force to rewrite it and refresh source/ "
                                "(the gradebook, submissions and grades are kept; edited sources are backed up)")
    available = release.lab_ids(solutions)
    wanted = list(lab_ids) if lab_ids else available
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        raise ValueError(f"unknown lab(s) {unknown}; labs in {solutions}/: {available}")
    course_id = course_id or course_root.name
    if not COURSE_ID.fullmatch(course_id):
        raise ValueError(f"course id {course_id!r} must be up to 64 letters, digits and . _ -, starting with "
                         "a letter or digit; pass --course-id")
    exchange_root = pathlib.Path(exchange_root).absolute() if exchange_root else course_root / "exchange"
    course_root.mkdir(parents=True, exist_ok=True)
    exchange_root.mkdir(parents=True, exist_ok=True)
    exchange_root.chmod(EXCHANGE_MODE)
    backups = course_root / "backups" / datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    repository = release.student_repository()
    for lab_id in wanted:
        moved = _copy_lab(solutions, lab_id, course_root, backups, repository)
        if moved is not None:
            print(f"source/{lab_id}/ differed from {solutions}/{lab_id}/: the old copy is kept in {moved}",
                  file=sys.stderr)
    gradebook.ensure_alembic_on_path()
    database_path = course_root / "gradebook.db"
    if not database_path.exists():
        gradebook.create_gradebook(database_path)
    api = _api(course_root, exchange_root, course_id)
    for lab_id in wanted:
        outcome = api.generate_assignment(lab_id, force=True, create=True)
        if not outcome.get("success"):
            raise RuntimeError(f"nbgrader generate_assignment {lab_id} failed:\n{outcome.get('log')}\n"
                               f"{outcome.get('error')}")
    (course_root / "submitted").mkdir(exist_ok=True)
    config_path.write_text(config_text(course_root, course_id, exchange_root), encoding="utf-8")
    return wanted


def next_steps(course_root, lab_ids):
    """What the instructor runs next, from releasing a lab to formgrader."""
    course_root = pathlib.Path(course_root).absolute()
    lab = lab_ids[0] if lab_ids else "LAB"
    return "\n".join([
        f"Next steps, in {course_root} with this project's virtualenv active:",
        f"  nbgrader release_assignment {lab}     # students: nbgrader fetch_assignment, then nbgrader submit",
        f"  nbgrader collect {lab}",
        f"  nbgrader autograde {lab}              # trusted grading in the sandbox",
        "  jupyter lab                        # Nbgrader > Formgrader: review flagged parts, adjust scores",
        "Or grade from the project folder (parallel, resumable; the same scores):",
        f"  python -m autograder grade {course_root} --lab {lab}",
        f"After editing source/{lab}/: nbgrader generate_assignment {lab} --force",
    ])
