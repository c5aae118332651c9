"""The public student repository: the released labs and labkit, nothing of the instructor's.

``python -m autograder publish OUT_DIR`` writes labs/ (fresh releases, stamped with the student
repository of pyproject.toml's ``[tool.labkit]``), the labkit package with a pyproject of its own,
a README with an "Open in Colab" badge per lab and the credits, and requirements-student.txt. It
refuses a non-empty folder it did not write, and refuses to publish anything that leaks a
solution, a hidden test or the instructor repository's name (find_leaks).
"""

import json
import pathlib
import re
import shutil
import tempfile

import nbformat

from autograder import release

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
MARKER_FILE = ".labkit-publish.json"
GENERATOR = "python -m autograder publish"
SECRET_BLOCKS = (("### BEGIN SOLUTION", "### END SOLUTION"), ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"))
# A solution is recognised by runs of this many consecutive lines (single lines such as `return loss` or
# `raise ValueError(` are too common), or whole when shorter and at least SHORT_BLOCK_CHARACTERS long;
# a hidden test also by each of its longer string literals.
WINDOW_LINES = 4
SHORT_BLOCK_CHARACTERS = 40
_LONG_STRING = re.compile(r'"((?:[^"\\\n]|\\.){24,})"|\'((?:[^\'\\\n]|\\.){24,})\'')
INSTRUCTOR_ONLY_FOLDERS = ("solutions", "tests", "autograder", "mutants", "benchmarks", "source", "submitted")

CREDITS = """\
MNIST — Yann LeCun, Corinna Cortes, Christopher J.C. Burges (CC BY-SA 3.0). Fashion-MNIST — Zalando Research
(MIT). CIFAR-10 — Alex Krizhevsky, Vinod Nair, Geoffrey Hinton, "Learning Multiple Layers of Features from Tiny
Images", 2009. The labs download the data through Keras the first time; `LABKIT_DATA_DIR` may point to a folder
with `mnist.npz`, the four Fashion-MNIST `*-ubyte.gz` files and `cifar10.npz` (or `cifar-10-batches-py/`) instead.
"""


def _project_version():
    """The instructor distribution's version, given to the student package too."""
    import tomllib

    with (PROJECT_ROOT / "pyproject.toml").open("rb") as stream:
        return tomllib.load(stream)["project"]["version"]


def student_pyproject(repository):
    """pyproject.toml of the student repository: the labkit package alone, at its tested minimum versions."""
    from labkit import environment

    dependencies = ", ".join(f'"{name}>={version}"' for name, version in sorted(environment.TESTED_MINIMUMS.items()))
    return f"""\
# The course helpers the labs import. Install with `pip install --no-deps .` (or the labs' first cell)
# to keep the TensorFlow, Keras and NumPy you already have; the dependencies below are the oldest
# versions labkit is tested with.
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "labkit"
version = "{_project_version()}"
description = "Helpers for the Keras training labs: data loading, plots, self-checks and probes."
requires-python = ">=3.11"
dependencies = [{dependencies}]

[project.urls]
Repository = "https://github.com/{repository}"

[tool.setuptools]
packages = ["labkit"]
"""


def _lab_title(notebook_path):
    """The first line of a lab's title cell, without the leading '#'."""
    notebook = nbformat.read(str(notebook_path), as_version=4)
    first_markdown = next((cell for cell in notebook.cells if cell.cell_type == "markdown"), None)
    title = first_markdown.source.strip().splitlines()[0] if first_markdown and first_markdown.source.strip() else ""
    return title.lstrip("#").strip() or notebook_path.stem


def student_readme(repository, labs_folder):
    """README.md of the student repository: how to start, one Colab badge per lab, the credits."""
    rows = []
    for notebook_path in sorted(pathlib.Path(labs_folder).glob("*/*.ipynb")):
        lab_id = notebook_path.stem
        colab = f"https://colab.research.google.com/github/{repository}/blob/main/labs/{lab_id}/{lab_id}.ipynb"
        badge = f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab})"
        rows.append(f"| [{_lab_title(notebook_path)}](labs/{lab_id}/{lab_id}.ipynb) | {badge} |")
    table = "\n".join(rows)
    return f"""\
# Keras training labs

Graded Jupyter labs in which you build the machinery of training with Keras 3 (optimizers, callbacks,
learning-rate schedules, …) on MNIST, Fashion-MNIST and CIFAR-10.

| lab | open |
| --- | --- |
{table}

## Getting started

* **Colab** (CPU or GPU runtime): use the lab's badge. The first code cell installs the course helpers
  (`labkit`) with `--no-deps`, so the runtime's TensorFlow, Keras and NumPy stay exactly as they are; the
  next cell prints the versions and notes any that is older than the ones the labs are tested with.
* **Your own machine** (Python 3.11+):

  ```bash
  python3 -m venv .venv
  .venv/bin/python -m pip install -r requirements-student.txt   # JupyterLab, TensorFlow, Keras (tested versions)
  .venv/bin/python -m pip install --no-deps .                    # labkit, the course helpers
  .venv/bin/jupyter lab labs/
  ```

Run the cells from the top and fill in every `# YOUR CODE HERE`. The check cell below each exercise prints what
it expected, what your code produced and a hint. Experiment cells that need an unfinished exercise say which
one. Set `LABKIT_MODE=fast` (or `os.environ["LABKIT_MODE"] = "fast"` before the imports cell) for a quick run
on small subsets.

## Data and credits

{CREDITS}"""


def _split_blocks(source):
    """(blocks, public): the stripped lines of each solution or hidden-test block, and of the rest of a cell."""
    blocks, public, inside = [], [], None
    for line in source.splitlines():
        stripped = line.strip()
        starts = [end for begin, end in SECRET_BLOCKS if stripped.startswith(begin)]
        if inside is None and starts:
            inside = starts[0]
            blocks.append((starts[0], []))
        elif inside is not None and stripped.startswith(inside):
            inside = None
        elif inside is not None:
            blocks[-1][1].append(stripped)
        else:
            public.append(stripped)
    return blocks, public


def _windows(lines, size=WINDOW_LINES):
    """Every run of `size` consecutive non-empty lines."""
    lines = [line for line in lines if line]
    return {tuple(lines[index:index + size]) for index in range(len(lines) - size + 1)}


def _secret_runs(lines):
    """The runs that identify a block: its WINDOW_LINES-line runs, or the whole block when shorter but distinctive."""
    lines = [line for line in lines if line]
    if len(lines) >= WINDOW_LINES:
        return _windows(lines)
    return {tuple(lines)} if len("".join(lines)) >= SHORT_BLOCK_CHARACTERS else set()


def _long_strings(text):
    return {first or second for first, second in _LONG_STRING.findall(text)}


def secrets(solutions_directory="solutions"):
    """(line runs, strings) of the solutions and hidden tests found nowhere else in the labs: never to be published."""
    secret_windows, secret_strings, public_windows, public_text = set(), set(), set(), []
    for lab_id in release.lab_ids(solutions_directory):
        notebook = nbformat.read(str(pathlib.Path(solutions_directory) / lab_id / f"{lab_id}.ipynb"), as_version=4)
        for cell in notebook.cells:
            blocks, public = _split_blocks(cell.source)
            public_windows |= {run for size in range(1, WINDOW_LINES + 1) for run in _windows(public, size)}
            public_text.append("\n".join(public))
            for end_marker, lines in blocks:
                secret_windows |= _secret_runs(lines)
                if "HIDDEN" in end_marker:
                    secret_strings |= _long_strings("\n".join(lines))
    public_text = "\n".join(public_text)
    return secret_windows - public_windows, {text for text in secret_strings if text not in public_text}


def _text_lines(path):
    """The stripped lines of a text file (of each cell, for a notebook); None for a binary file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None
    if path.suffix == ".ipynb":
        try:
            cells = json.loads(text).get("cells", [])
            text = "\n".join("".join(cell.get("source", "")) for cell in cells)
        except (ValueError, AttributeError):
            pass
    return [line.strip() for line in text.splitlines()]


def find_leaks(folder, solutions_directory="solutions", forbidden_names=None):
    """Each file under folder that holds a solution, a hidden test, an instructor folder or a forbidden name."""
    folder = pathlib.Path(folder)
    if forbidden_names is None:
        settings = release.course_settings()
        forbidden_names = [release.github_repository(settings["instructor_repository"])] \
            if settings.get("instructor_repository") else []
    secret_windows, secret_strings = secrets(solutions_directory)
    markers = [marker for block in SECRET_BLOCKS for marker in block]
    leaks = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if ".git" in relative.parts or not path.is_file():
            continue
        if any(part in INSTRUCTOR_ONLY_FOLDERS for part in relative.parts[:-1]):
            leaks.append(f"{relative}: an instructor folder")
            continue
        lines = _text_lines(path)
        if lines is None:
            continue
        text = "\n".join(lines)
        found = [marker for marker in markers if marker in text]
        found += [name for name in forbidden_names if name.lower() in text.lower()]
        runs = {run for size in range(1, WINDOW_LINES + 1) for run in _windows(lines, size)}
        found += [" / ".join(window) for window in sorted(secret_windows & runs)[:2]]
        found += sorted(string for string in secret_strings if string in text)[:2]
        if found:
            leaks.append(f"{relative}: {'; '.join(repr(item) for item in found)}")
    return leaks


def _check_destination(output_directory):
    """The files an earlier publish wrote there; ValueError for a folder that is not empty and not a publish."""
    if output_directory.exists() and not output_directory.is_dir():
        raise ValueError(f"{output_directory} is a file, not a folder: nothing was published")
    if not output_directory.is_dir() or not any(output_directory.iterdir()):
        return []
    marker = output_directory / MARKER_FILE
    try:
        record = json.loads(marker.read_text())
    except (OSError, ValueError):
        record = None
    if not isinstance(record, dict) or record.get("generator") != GENERATOR:
        raise ValueError(f"{output_directory} is not empty and is not an earlier publish output (no valid "
                         f"{MARKER_FILE}): choose an empty or new folder. Nothing was written.")
    return [str(name) for name in record.get("files", [])]


def _build(staging, solutions_directory, repository):
    """Write the whole student repository into an empty staging folder."""
    for lab_id in release.lab_ids(solutions_directory):
        release.release_lab(lab_id, solutions_directory, staging / "labs", repository=repository)
    shutil.copytree(PROJECT_ROOT / "labkit", staging / "labkit", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (staging / "pyproject.toml").write_text(student_pyproject(repository))
    (staging / "README.md").write_text(student_readme(repository, staging / "labs"))
    shutil.copy2(PROJECT_ROOT / "requirements-student.txt", staging / "requirements-student.txt")


def publish(output_directory, solutions_directory="solutions"):
    """Write the student repository into output_directory (empty, or an earlier publish output); returns it."""
    output_directory = pathlib.Path(output_directory)
    previous_files = _check_destination(output_directory)
    repository = release.student_repository()
    with tempfile.TemporaryDirectory() as scratch:
        staging = pathlib.Path(scratch) / "student"
        staging.mkdir()
        _build(staging, solutions_directory, repository)
        leaks = find_leaks(staging, solutions_directory)
        if leaks:
            raise ValueError("refusing to publish, instructor material would leak:\n  " + "\n  ".join(leaks))
        files = sorted(str(path.relative_to(staging)) for path in staging.rglob("*") if path.is_file())
        # Only now touch the destination: remove what the previous publish wrote (other files, such as
        # .git, stay), then copy the new files in and record them.
        root = output_directory.resolve()
        for relative in previous_files:
            stale = (output_directory / relative).resolve()
            if relative not in files and stale.is_relative_to(root) and stale.is_file():
                stale.unlink()
                for folder in stale.parents:  # folders the stale file leaves empty
                    if folder == root or any(folder.iterdir()):
                        break
                    folder.rmdir()
        for relative in files:
            target = output_directory / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(staging / relative, target)
    record = {"generator": GENERATOR, "student_repository": repository, "files": files}
    (output_directory / MARKER_FILE).write_text(json.dumps(record, indent=1) + "\n")
    return output_directory
