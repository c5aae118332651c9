"""A lab as the grader sees it, read from the instructor's source notebook.

The source notebook is the single source of truth: its nbgrader metadata names the answer
cells and the graded test cells (with points); its test cells declare checks through
``labkit.checks.run_checks``. Here those test cells are executed in this trusted process
under ``labkit.checks.collecting()`` — without any student code — to learn which checks
each graded part has, and which of them are hidden.
"""

import dataclasses
import hashlib
import json
import pathlib
import re

import nbformat

from autograder import sandbox
from labkit import checks as labkit_checks

HIDDEN_TESTS = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS[ \t]*\n(.*?)^[ \t]*### END HIDDEN TESTS[ \t]*$", re.S | re.M)
EXPERIMENT_TAG = "experiment"
INSTRUCTOR_TAG = "instructor"  # instructor-only cells (headline checks): never graded, removed from releases


def is_instructor_only(cell):
    """A cell tagged `instructor` (e.g. a headline check on an experiment): run in CI, never graded or released."""
    return INSTRUCTOR_TAG in cell.get("metadata", {}).get("tags", [])


@dataclasses.dataclass(frozen=True)
class GradedCheck:
    """A check of a graded part, with a stable key and whether students can see it."""

    key: str
    check: labkit_checks.Check
    hidden: bool


@dataclasses.dataclass(frozen=True)
class SourceCell:
    """A code cell of the source notebook and its role: setup, answer, test or experiment."""

    grade_id: str
    role: str
    source: str
    editable: bool = False  # an unlocked experiment cell (a "predict first" cell): students are meant to edit it


@dataclasses.dataclass(frozen=True)
class WrittenAnswer:
    """An ungraded written answer: a markdown solution cell (a discussion question's answer), never run or scored.

    The model answer between ``### BEGIN SOLUTION`` / ``### END SOLUTION`` is nbgrader's to clear in the release
    ("YOUR ANSWER HERE"); feedback shows it only when the instructor asks for model answers."""

    grade_id: str
    question: str  # the markdown cell just above it
    model_answer: str


@dataclasses.dataclass(frozen=True)
class Part:
    """A graded test cell: its grade_id, points and checks (all must pass for the points)."""

    grade_id: str
    points: float
    checks: tuple


@dataclasses.dataclass(frozen=True)
class Lab:
    """Everything the grader needs to know about one lab."""

    lab_id: str
    notebook_name: str
    source_path: pathlib.Path
    cells: tuple  # SourceCell for every code cell, in notebook order
    parts: tuple
    forbidden_builtins: dict  # student symbol -> Keras built-ins it may not use
    limits: sandbox.Limits
    forbidden_kernels: dict = dataclasses.field(default_factory=dict)  # symbol -> TensorFlow op names
    # symbol -> built-ins refused in its answer by the static scan only: never disabled while grading, because
    # checks or Keras itself call them (a Softmax layer may not call keras.ops.softmax; Dense(activation=
    # "softmax") still does)
    forbidden_in_source: dict = dataclasses.field(default_factory=dict)
    student_tools: tuple = ()  # labkit modules the lab lends to answers (e.g. labkit.autodiff); the rest refuse
    written_answers: tuple = ()  # WrittenAnswer of every discussion question: ungraded, no points

    @property
    def max_points(self):
        return sum(part.points for part in self.parts)

    def answer_ids(self):
        return [cell.grade_id for cell in self.cells if cell.role == "answer"]

    def all_checks(self):
        return [graded for part in self.parts for graded in part.checks]


class LabDefinitionError(ValueError):
    """The source notebook breaks a convention the grader relies on (an instructor error)."""


def _nbgrader(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def _collect(source, origin):
    """Execute test-cell code with no student namespace and return the checks it declares."""
    namespace = {"__name__": "__lab_test_cell__"}
    with labkit_checks.collecting() as recorded:
        try:
            exec(compile(source, origin, "exec"), namespace)
        except Exception as error:
            raise LabDefinitionError(
                f"{origin}: test cells may only import labkit and call run_checks with Check objects "
                f"(targets as strings); collecting its checks failed with {type(error).__name__}: {error}"
            ) from error
    return list(recorded)


SOLUTION_REGION = re.compile(r"^[ \t]*### BEGIN SOLUTION[ \t]*\n(.*?)^[ \t]*### END SOLUTION[ \t]*$", re.S | re.M)


def model_answer(markdown):
    """The model answer of a written-answer cell: its solution region, or the whole cell without one."""
    regions = SOLUTION_REGION.findall(markdown)
    return ("\n".join(regions) if regions else markdown).strip()


def _written_answer(cell, previous, origin):
    if _nbgrader(cell).get("grade"):
        raise LabDefinitionError(f"{origin}: written answers are ungraded here (no points): set grade to false")
    question = previous["source"].strip() if previous is not None and previous.cell_type == "markdown" else ""
    return WrittenAnswer(_nbgrader(cell)["grade_id"], question, model_answer(cell["source"]))


def _check_key(grade_id, index, check):
    digest = hashlib.sha256(json.dumps(check.to_json(), sort_keys=True, default=str).encode()).hexdigest()[:10]
    return f"{grade_id}:{index}:{digest}"


def _parts_from(cell, origin):
    grade_id = _nbgrader(cell)["grade_id"]
    source = cell["source"]
    hidden_sources = HIDDEN_TESTS.findall(source)
    visible_source = HIDDEN_TESTS.sub("", source)
    visible = _collect(visible_source, origin)
    hidden = []
    # Hidden blocks run after the visible code, in the same namespace, as in the notebook.
    if hidden_sources:
        everything = _collect(visible_source + "\n" + "\n".join(hidden_sources), origin)
        hidden = everything[len(visible):]
    graded = [(check, False) for check in visible] + [(check, True) for check in hidden]
    if not graded:
        raise LabDefinitionError(f"{origin}: a graded test cell must declare at least one check")
    return tuple(
        GradedCheck(_check_key(grade_id, index, check), check, is_hidden)
        for index, (check, is_hidden) in enumerate(graded)
    )


def load_lab(source_path):
    """Read a source notebook into a Lab, checking the conventions on the way."""
    source_path = pathlib.Path(source_path)
    notebook = nbformat.read(str(source_path), as_version=4)
    lab_id = source_path.parent.name
    settings = notebook.metadata.get("labkit", {})
    cells, parts, written = [], [], []
    seen = set()
    previous = None
    for cell in notebook.cells:
        metadata, before, previous = _nbgrader(cell), previous, cell
        if cell.cell_type == "markdown" and metadata.get("solution"):  # a discussion question's written answer
            grade_id = metadata.get("grade_id")
            origin = f"{source_path.name} cell {grade_id!r}"
            if not grade_id or grade_id in seen:
                raise LabDefinitionError(f"{origin}: a written answer needs a grade_id of its own")
            seen.add(grade_id)
            written.append(_written_answer(cell, before, origin))
            continue
        if cell.cell_type != "code" or is_instructor_only(cell):
            continue
        grade_id = metadata.get("grade_id")
        origin = f"{source_path.name} cell {grade_id!r}"
        if not grade_id:
            raise LabDefinitionError(f"{source_path.name}: every code cell needs an nbgrader grade_id")
        if grade_id in seen:
            raise LabDefinitionError(f"{origin}: grade_id used twice")
        seen.add(grade_id)
        if metadata.get("solution"):
            role = "answer"
        elif metadata.get("grade"):
            role = "test"
            points = metadata.get("points")
            if not points or points <= 0:
                raise LabDefinitionError(f"{origin}: graded test cells need positive points")
            parts.append(Part(grade_id, float(points), _parts_from(cell, origin)))
        elif EXPERIMENT_TAG in cell.get("metadata", {}).get("tags", []):
            role = "experiment"
        else:
            role = "setup"
        editable = role == "experiment" and metadata.get("locked") is False
        cells.append(SourceCell(grade_id, role, cell["source"], editable))
    if not parts:
        raise LabDefinitionError(f"{source_path.name}: no graded test cells")
    forbidden = settings.get("forbidden_builtins", {})
    if not isinstance(forbidden, dict):
        raise LabDefinitionError(f"{source_path.name}: metadata labkit.forbidden_builtins must map names to lists")
    kernels = settings.get("forbidden_kernels", {})
    if not isinstance(kernels, dict) or not all(isinstance(names, list) for names in kernels.values()):
        raise LabDefinitionError(f"{source_path.name}: metadata labkit.forbidden_kernels must map names to lists "
                                 "of TensorFlow op names such as 'Conv2D'")
    in_source = settings.get("forbidden_in_source", {})
    if not isinstance(in_source, dict) or not all(isinstance(paths, list) for paths in in_source.values()):
        raise LabDefinitionError(f"{source_path.name}: metadata labkit.forbidden_in_source must map names to lists "
                                 "of dotted paths such as 'keras.ops.softmax'")
    tools = settings.get("student_tools", [])
    if not isinstance(tools, list) or not all(isinstance(name, str) and name.startswith("labkit.") for name in tools):
        raise LabDefinitionError(f"{source_path.name}: metadata labkit.student_tools must list labkit modules "
                                 "such as 'labkit.autodiff'")
    return Lab(
        lab_id=lab_id,
        notebook_name=source_path.name,
        source_path=source_path,
        cells=tuple(cells),
        parts=tuple(parts),
        forbidden_builtins={name: list(paths) for name, paths in forbidden.items()},
        limits=sandbox.Limits.from_dict(settings.get("limits", {})),
        forbidden_kernels={name: list(names) for name, names in kernels.items()},
        forbidden_in_source={name: list(paths) for name, paths in in_source.items()},
        student_tools=tuple(tools),
        written_answers=tuple(written),
    )


def find_lab_paths(solutions_directory):
    """lab_id -> source notebook of every lab in a solutions folder (solutions/<lab_id>/<lab_id>.ipynb), by id."""
    notebooks = sorted(pathlib.Path(solutions_directory).glob("*/*.ipynb"))
    return {path.parent.name: path for path in notebooks if path.stem == path.parent.name}


def find_labs(solutions_directory):
    """Every lab in a solutions folder: solutions/<lab_id>/<lab_id>.ipynb, sorted by id."""
    return [load_lab(path) for path in find_lab_paths(solutions_directory).values()]
