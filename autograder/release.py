"""Student releases: nbgrader's generate_assignment from solutions/ into labs/.

nbgrader removes the solutions (leaving ``# YOUR CODE HERE``), the hidden tests and all
outputs, and adds its checksums. The release is generated, never edited by hand; a test
regenerates it and compares it with what is committed.
"""

import json
import pathlib
import shutil
import tempfile

import nbformat
import traitlets.config
from nbgrader.apps import api as nbgrader_api

from autograder import gradebook


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


def release_lab(lab_id, solutions_directory="solutions", release_directory="labs"):
    """Generate the student version of one lab into release_directory/<lab_id>/."""
    source = pathlib.Path(solutions_directory) / lab_id
    if not source.is_dir():
        raise ValueError(f"no lab {lab_id!r} in {solutions_directory}/ (expected the folder {source})")
    with tempfile.TemporaryDirectory() as scratch:
        # Generate into a scratch copy, then swap in, so a failed release never leaves a half-written lab.
        staging = pathlib.Path(scratch) / "release"
        api = _nbgrader(solutions_directory, staging, pathlib.Path(scratch) / "gradebook.db")
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
    """Files under release_directory that differ from a fresh release (empty when in sync)."""
    differences = []
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
