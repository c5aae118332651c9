"""labkit's functions refuse to be called by student code while it is graded.

Why: labkit holds the probes and, with them, reference implementations (a stable softmax
cross-entropy, the output size of a convolution, ...) that would pass a check if a student
called them as their answer. During grading, every function defined in a labkit module is
replaced by a guard that refuses a call made directly from student code (the audit hook
records it); calls from labkit itself, the runner and Keras pass. A probe that lends a
reference to the student's code on purpose hands over its own short-lived stand-in. A lab may
lend whole modules that are tools, not answers (``labkit.autodiff`` where a lab asks students to
take gradients); they stay callable.
"""

import importlib
import pkgutil
import sys
import types

_STUDENT_WRITABLE = ("/scratch/", "/tmp/")
_TRUSTED_PSEUDO_FILES = ("<frozen ", "<setup ")


def _called_by_student(filename):
    if filename.startswith("<"):
        return not filename.startswith(_TRUSTED_PSEUDO_FILES)
    return filename.startswith(_STUDENT_WRITABLE)


def guard(function, getframe=sys._getframe, audit=sys.audit):
    """function, refused when its caller is student code."""
    what = f"{function.__module__}.{getattr(function, '__qualname__', '?')} (labkit's grading helpers are not answers)"

    def guarded(*arguments, **keywords):
        if _called_by_student(getframe(1).f_code.co_filename):
            audit("grader.refuse", what)
        return function(*arguments, **keywords)

    guarded.__name__ = guarded.__qualname__ = getattr(function, "__name__", "guarded")
    guarded.__doc__ = getattr(function, "__doc__", None)
    guarded.__module__ = function.__module__
    return guarded


def _is_function(value):
    """A plain function or a wrapped one (functools.cache and the like), not a class."""
    return isinstance(value, types.FunctionType) or (callable(value) and hasattr(value, "__wrapped__")
                                                     and not isinstance(value, type))


def install(lent_modules=()):
    """Guard every function defined in a labkit module except the lent ones; returns the guards."""
    import labkit

    guards = []
    for module_info in pkgutil.iter_modules(labkit.__path__):
        module = importlib.import_module(f"labkit.{module_info.name}")
        if module.__name__ in lent_modules:
            continue
        for name, value in list(vars(module).items()):
            if _is_function(value) and getattr(value, "__module__", None) == module.__name__:
                replacement = guard(value)
                setattr(module, name, replacement)
                guards.append(replacement)
    return guards
