"""Late penalties through nbgrader's LateSubmissionPlugin, with the due date from the gradebook.

The plugin is the one `nbgrader autograde` would use: nbgrader's default (no penalty), the
class a course names in `c.AssignLatePenalties.plugin_class`, or one given as `module:Class`.
It is called as nbgrader calls it (student id, the notebook's score, seconds late) and its
answer is kept between 0 and the score, as nbgrader does.
"""

import dataclasses
import datetime
import importlib
import pathlib

from nbgrader import api as nbgrader_api
from nbgrader import plugins as nbgrader_plugins
from traitlets.config import loader as config_loader

from autograder import timestamps

CONFIG_FILE = "nbgrader_config.py"


def load_plugin_class(spec):
    """The class named by "package.module:Class" (or "package.module.Class"); ValueError when it is not a plugin."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("a late-penalty plugin is named as package.module:Class, got an empty name")
    spec = spec.strip()
    module_name, separator, class_name = spec.partition(":") if ":" in spec else spec.rpartition(".")
    if not separator or not module_name or not class_name:
        raise ValueError(f"the late-penalty plugin {spec!r} must be named as package.module:Class")
    try:
        plugin_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"the late-penalty plugin {spec!r} could not be loaded ({type(error).__name__}: {error}); "
                         "is its module on PYTHONPATH?") from error
    return require_plugin_class(plugin_class, spec)


def require_plugin_class(plugin_class, name):
    """plugin_class when it is an nbgrader plugin with late_submission_penalty; ValueError otherwise."""
    if not (isinstance(plugin_class, type) and issubclass(plugin_class, nbgrader_plugins.BasePlugin)
            and callable(getattr(plugin_class, "late_submission_penalty", None))):
        raise ValueError(f"the late-penalty plugin {name!r} must be a subclass of "
                         "nbgrader.plugins.LateSubmissionPlugin (a BasePlugin with late_submission_penalty)")
    return plugin_class


def load_course_config(course_root):
    """The traitlets configuration of an nbgrader course (its nbgrader_config.py); empty when it has none."""
    path = pathlib.Path(course_root) / CONFIG_FILE
    if not path.is_file():
        return config_loader.Config()
    try:
        return config_loader.PyFileConfigLoader(CONFIG_FILE, path=str(path.parent)).load_config()
    except Exception as error:  # the instructor's file: a syntax error, a failing import, ...
        raise ValueError(f"{path} could not be read ({type(error).__name__}: {error})") from error


def make_plugin(course_root=None, spec=None):
    """The late-penalty plugin instance: spec if given, else the course's configured class, else nbgrader's default."""
    config = load_course_config(course_root) if course_root else config_loader.Config()
    if spec:
        plugin_class = load_plugin_class(spec)
    else:
        configured = config.AssignLatePenalties.get("plugin_class", nbgrader_plugins.LateSubmissionPlugin)
        if isinstance(configured, str):
            plugin_class = load_plugin_class(configured)
        else:
            plugin_class = require_plugin_class(configured, getattr(configured, "__name__", repr(configured)))
    return plugin_class(config=config)


def seconds_late(timestamp, duedate, extension=None):
    """Seconds after the due date (plus extension) a submission came in; 0 without a timestamp or due date."""
    if not timestamp or duedate is None:
        return 0.0
    deadline = duedate + (extension or datetime.timedelta(0))
    return max(0.0, (timestamps.parse_timestamp(timestamp) - deadline).total_seconds())


def bounded_penalty(penalty, score):
    """The plugin's penalty kept between 0 and the score, as nbgrader's AssignLatePenalties does (None: none)."""
    if penalty is None:
        return 0.0
    return float(min(max(float(penalty), 0.0), max(score, 0.0)))


def _effective_score(gradebook, lab, result):
    """The notebook's score as nbgrader counts it: a kept manual score over the new automatic one, plus extra credit."""
    notebook_name = lab.notebook_name.removesuffix(".ipynb")
    total = 0.0
    for part in result.parts:
        try:
            grade = gradebook.find_grade(part.grade_id, notebook_name, lab.lab_id, result.student_id)
        except nbgrader_api.MissingEntry:
            total += part.score
            continue
        total += (grade.manual_score if grade.manual_score is not None else part.score) + (grade.extra_credit or 0.0)
    return total


def assess(gradebook, lab, result, plugin):
    """result with seconds_late and late_penalty set from the gradebook's due date; reads the gradebook only."""
    try:
        assignment = gradebook.find_assignment(lab.lab_id)
    except nbgrader_api.MissingEntry:
        return dataclasses.replace(result, seconds_late=0.0, late_penalty=0.0)
    try:
        extension = gradebook.find_submission(lab.lab_id, result.student_id).extension
    except nbgrader_api.MissingEntry:
        extension = None
    try:
        late = seconds_late(result.timestamp, assignment.duedate, extension)
    except ValueError:  # a saved result edited by hand: not late, never a crash
        late = 0.0
    if late <= 0:
        return dataclasses.replace(result, seconds_late=0.0, late_penalty=0.0)
    score = _effective_score(gradebook, lab, result)
    penalty = bounded_penalty(plugin.late_submission_penalty(result.student_id, score, late), score)
    return dataclasses.replace(result, seconds_late=late, late_penalty=penalty)


def describe(result):
    """One sentence on lateness for the feedback and the log; "" when the submission was not late."""
    if not getattr(result, "seconds_late", 0):
        return ""
    hours = result.seconds_late / 3600
    late = f"{hours:.1f} hours" if hours >= 1 else f"{result.seconds_late / 60:.0f} minutes"
    if result.late_penalty:
        unit = "point" if result.late_penalty == 1 else "points"
        return f"submitted {late} after the due date: late penalty of {result.late_penalty:g} {unit}"
    return f"submitted {late} after the due date (no late penalty)"


def from_gradebook(gradebook, result):
    """result with the timestamp, lateness and penalty the gradebook holds (what `nbgrader autograde` or a later
    due date set); unchanged when the gradebook has no such submission."""
    try:
        submission = gradebook.find_submission(result.lab_id, result.student_id)
    except nbgrader_api.MissingEntry:
        return result
    timestamp = timestamps.format_timestamp(submission.timestamp) if submission.timestamp else result.timestamp
    return dataclasses.replace(result, timestamp=timestamp, seconds_late=float(submission.total_seconds_late),
                               late_penalty=float(submission.late_submission_penalty or 0.0))
