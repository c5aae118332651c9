"""Experiment cells that need an exercise: one line naming what to finish, not a cascade of errors.

An experiment cell starts with ``labkit.exercises.require(globals(), "gradient_descent")``. While the
exercise is unfinished (still nbgrader's ``raise NotImplementedError()``) or its cell was not run, the
cell stops with one line that names it, and IPython shows no traceback.
"""

import types


class ExerciseUnfinished(Exception):
    """Raised by require when an experiment needs an exercise that is not done yet."""

    def _render_traceback_(self):
        """What IPython shows instead of a traceback: the message alone."""
        return str(self).splitlines()


def _code_objects(value):
    """The code objects of a function, or of the methods a class defines itself (properties included)."""
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    if isinstance(value, property):
        return [code for accessor in (value.fget, value.fset) if accessor for code in _code_objects(accessor)]
    if isinstance(value, types.FunctionType):
        return [value.__code__]
    if isinstance(value, type):
        return [code for member in vars(value).values() for code in _code_objects(member)]
    return []


def _raises_not_implemented(code):
    """True when a code object (or one nested in it) names NotImplementedError: nbgrader's stub."""
    if "NotImplementedError" in code.co_names:
        return True
    return any(_raises_not_implemented(constant) for constant in code.co_consts if isinstance(constant, types.CodeType))


def unfinished(namespace, names):
    """The names among `names` that are missing from namespace or still hold an unfinished stub."""
    if isinstance(names, str):
        raise ValueError(f"names must be a list of exercise names, got the string {names!r}; write [{names!r}]")
    return [name for name in names
            if name not in namespace or any(_raises_not_implemented(code) for code in _code_objects(namespace[name]))]


def require(namespace, *names):
    """Stop an experiment cell with one line naming the exercises it needs that are not finished yet."""
    missing = unfinished(namespace, names)
    if missing:
        listed = ", ".join(f"`{name}`" for name in missing)
        if len(missing) == 1:
            which, cell = "which is not finished yet: complete it", "its cell"
        else:
            which, cell = "not finished yet: complete them", "their cells"
        raise ExerciseUnfinished(
            f"This experiment uses {listed}, {which} above (removing `raise NotImplementedError()`), "
            f"run {cell}, then run this cell again."
        )
