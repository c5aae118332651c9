"""Student releases: nbgrader's generate_assignment from solutions/ into labs/.

nbgrader removes the solutions (leaving ``# YOUR CODE HERE``), the hidden tests and all
outputs, and adds its checksums. The release is generated, never edited by hand; a test
regenerates it and compares it with what is committed. The student repository named in
pyproject.toml's ``[tool.labkit]`` table is stamped into each lab's install cell first.
"""

import json
import pathlib
import re
import shutil
import tempfile
import tomllib

import nbformat
import traitlets.config
from nbgrader.apps import api as nbgrader_api

from autograder import gradebook, lab as lab_module

PROJECT_FILE = pathlib.Path(__file__).resolve().parents[1] / "pyproject.toml"
_GITHUB_REPOSITORY = re.compile(r"https://github\.com/([A-Za-z0-9][A-Za-z0-9-]*)/([A-Za-z0-9_.-]+?)(?:\.git)?/?")
# Where a notebook names the student repository: the pip install of labkit and Colab links.
_STAMPED_PLACES = (
    (re.compile(r"labkit @ git\+https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+"),
     "labkit @ git+https://github.com/{}"),
    (re.compile(r"https://colab\.research\.google\.com/github/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/blob/main/labs/"),
     "https://colab.research.google.com/github/{}/blob/main/labs/"),
)


def course_settings(project_file=PROJECT_FILE):
    """The ``[tool.labkit]`` table of pyproject.toml: the course's repositories."""
    project_file = pathlib.Path(project_file)
    try:
        with project_file.open("rb") as stream:
            settings = tomllib.load(stream).get("tool", {}).get("labkit", {})
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"cannot read the course settings from {project_file}: {error}") from error
    if not isinstance(settings.get("student_repository"), str):
        raise ValueError(f"{project_file} needs a [tool.labkit] table with "
                         'student_repository = "https://github.com/OWNER/REPO" (the public student repository)')
    return settings


def github_repository(url):
    """'OWNER/REPO' of a GitHub URL such as https://github.com/OWNER/REPO (Colab opens notebooks from GitHub)."""
    match = _GITHUB_REPOSITORY.fullmatch(str(url).strip())
    if not match:
        raise ValueError(f"the student repository must be a GitHub URL like https://github.com/OWNER/REPO, got {url!r}")
    return f"{match.group(1)}/{match.group(2)}"


def student_repository(project_file=PROJECT_FILE):
    """'OWNER/REPO' of the public student repository configured in pyproject.toml."""
    return github_repository(course_settings(project_file)["student_repository"])


def stamp_notebook(notebook, repository):
    """Point a notebook's labkit install and Colab links at repository ('OWNER/REPO'); True if anything changed."""
    changed = False
    for cell in notebook.cells:
        source = cell.source
        for pattern, replacement in _STAMPED_PLACES:
            source = pattern.sub(replacement.format(repository), source)
        if source != cell.source:
            cell.source = source
            changed = True
    return changed


WRITTEN_ANSWER_STUB = "YOUR ANSWER HERE"  # nbgrader's ClearSolutions.text_stub


def is_written_answer(cell):
    """A discussion question's written answer: a markdown cell marked as an (ungraded) nbgrader solution."""
    nbgrader = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "markdown" and bool(nbgrader.get("solution")) and not nbgrader.get("grade")


def clear_written_answers(notebook):
    """Replace each written answer's model answer with nbgrader's "YOUR ANSWER HERE"; True if anything changed.

    nbgrader accepts a markdown solution cell only as a manually graded answer (with points; a 0-point one
    would leave every submission needing manual grading), so the release turns these ungraded ones into plain
    unlocked markdown cells holding the stub before nbgrader runs; the grade_id stays, so feedback finds the
    student's answer."""
    changed = False
    for cell in notebook.cells:
        if is_written_answer(cell):
            cell.source = WRITTEN_ANSWER_STUB
            cell.metadata["nbgrader"]["solution"] = False
            cell.metadata["nbgrader"]["locked"] = False
            changed = True
    return changed


def remove_instructor_cells(notebook):
    """Drop the instructor-only cells (tagged `instructor`: headline checks on experiments); True if any were."""
    kept = [cell for cell in notebook.cells if not lab_module.is_instructor_only(cell)]
    changed = len(kept) != len(notebook.cells)
    notebook.cells = kept
    return changed


def prepare_for_students(notebook, repository):
    """The edits made before nbgrader sees a source notebook: stamp the repository, clear the model answers of
    discussion questions and remove instructor-only cells. True if anything changed."""
    return stamp_notebook(notebook, repository) | clear_written_answers(notebook) | remove_instructor_cells(notebook)


def _unstamped(solutions_directory, repository):
    """(path, stamped notebook) of each source notebook that stamping the repository would change."""
    for lab_id in lab_ids(solutions_directory):
        path = pathlib.Path(solutions_directory) / lab_id / f"{lab_id}.ipynb"
        notebook = nbformat.read(str(path), as_version=4)
        if stamp_notebook(notebook, repository):
            yield path, notebook


def stamp_solutions(solutions_directory="solutions", repository=None):
    """Stamp the student repository into every source notebook in place; returns the notebooks changed."""
    changed = []
    for path, notebook in _unstamped(solutions_directory, repository or student_repository()):
        nbformat.write(notebook, str(path))
        changed.append(path)
    return changed


def unstamped_solutions(solutions_directory="solutions", repository=None):
    """Source notebooks that do not name the configured student repository yet."""
    return [path for path, _ in _unstamped(solutions_directory, repository or student_repository())]


def _nbgrader(solutions_directory, release_directory, database_path):
    gradebook.ensure_alembic_on_path()
    gradebook.create_gradebook(database_path)  # made here, without the process nbgrader starts for a new one
    solutions_directory = pathlib.Path(solutions_directory).resolve()
    release_directory = pathlib.Path(release_directory).resolve()
    config = traitlets.config.Config()
    config.CourseDirectory.root = str(solutions_directory.parent)
    config.CourseDirectory.source_directory = solutions_directory.name
    config.CourseDirectory.release_directory = str(release_directory)
    config.CourseDirectory.db_url = f"sqlite:///{database_path}"
    config.Exchange.assignment_dir = str(solutions_directory.parent)
    return nbgrader_api.NbGraderAPI(config=config)


def release_lab(lab_id, solutions_directory="solutions", release_directory="labs", repository=None):
    """Generate the student version of one lab into release_directory/<lab_id>/, stamped with repository."""
    source = pathlib.Path(solutions_directory) / lab_id
    if not source.is_dir():
        raise ValueError(f"no lab {lab_id!r} in {solutions_directory}/ (expected the folder {source})")
    repository = repository or student_repository()
    with tempfile.TemporaryDirectory() as scratch:
        # Generate from a stamped copy into a scratch folder, then swap in: a failed release never
        # leaves a half-written lab, and the solutions are never modified here.
        stamped_sources = pathlib.Path(scratch) / "source"
        shutil.copytree(source, stamped_sources / lab_id)
        for notebook_path in (stamped_sources / lab_id).glob("*.ipynb"):
            notebook = nbformat.read(str(notebook_path), as_version=4)
            if prepare_for_students(notebook, repository):
                nbformat.write(notebook, str(notebook_path))
        staging = pathlib.Path(scratch) / "release"
        api = _nbgrader(stamped_sources, staging, pathlib.Path(scratch) / "gradebook.db")
        outcome = api.generate_assignment(lab_id, force=True, create=True)
        if not outcome.get("success"):
            raise RuntimeError(f"nbgrader could not release {lab_id}:\n{outcome.get('log')}\n{outcome.get('error')}")
        for notebook_path in (staging / lab_id).glob("*.ipynb"):
            _normalise(notebook_path)
        target = pathlib.Path(release_directory) / lab_id
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(staging / lab_id, target)
    return target


def _normalise(notebook_path):
    """Store the release like the sources: no outputs, stable JSON formatting."""
    notebook = nbformat.read(str(notebook_path), as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nbformat.write(notebook, str(notebook_path))


def lab_ids(solutions_directory="solutions"):
    """The ids of every lab with a source notebook solutions/<id>/<id>.ipynb."""
    root = pathlib.Path(solutions_directory)
    return sorted(path.parent.name for path in root.glob("*/*.ipynb") if path.stem == path.parent.name)


def release_all(solutions_directory="solutions", release_directory="labs"):
    """Release every lab; returns the generated folders."""
    return [release_lab(lab_id, solutions_directory, release_directory) for lab_id in lab_ids(solutions_directory)]


def release_differences(solutions_directory="solutions", release_directory="labs"):
    """Files under release_directory that differ from a fresh release, and unstamped sources (empty when in sync)."""
    differences = [str(path) for path in unstamped_solutions(solutions_directory)]
    with tempfile.TemporaryDirectory() as scratch:
        fresh_root = pathlib.Path(scratch) / "labs"
        for lab_id in lab_ids(solutions_directory):
            fresh = release_lab(lab_id, solutions_directory, fresh_root)
            committed = pathlib.Path(release_directory) / lab_id
            fresh_files = {path.relative_to(fresh) for path in fresh.rglob("*") if path.is_file()}
            committed_files = (
                {path.relative_to(committed) for path in committed.rglob("*") if path.is_file()}
                if committed.is_dir() else set()
            )
            for relative in sorted(fresh_files | committed_files):
                a, b = fresh / relative, committed / relative
                if not (a.is_file() and b.is_file()) or _content(a) != _content(b):
                    differences.append(str(pathlib.Path(release_directory) / lab_id / relative))
    return differences


def _content(path):
    if path.suffix == ".ipynb":
        return json.loads(path.read_text())
    return path.read_bytes()
