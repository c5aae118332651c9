"""A record of forbidden TensorFlow kernels (ops) that ran on behalf of student code.

Why kernels: a part that asks for a convolution is not implemented by ``tf.raw_ops.Conv2D``,
``tf.compat.v1.nn.conv2d`` or ``tf.nn.convolution`` either, and there are too many Python
routes to one kernel to list them. Every TensorFlow op, eager or traced into a graph, is
created through one of three entry points (the eager fast path, the eager slow path and
graph op creation); each is wrapped here, so the op's type name is seen whatever route
led there. Each wrapper only raises a ``grader.kernel`` audit event with the op's name; the audit hook
(``autograder.sandboxed.audit``) decides: an op counts against the student when the innermost
non-library frame above it is student code, and an op reached through the lab's own code (a
probe, a stand-in layer) is not the student's. Names come from the lab's ``forbidden_kernels``.
"""

import sys

_OP_NAME_ARGUMENT = {"TFE_Py_FastPathExecute": 1, "TFE_Py_Execute": 2, "TFE_Py_ExecuteCancelable": 2}


def _wrap_eager(original, position, audit=sys.audit):
    def recorded_execute(*arguments):
        if len(arguments) > position:
            audit("grader.kernel", arguments[position])
        return original(*arguments)

    return recorded_execute


def install():
    """Wrap TensorFlow's op entry points (if TensorFlow is loaded); returns the wrappers installed."""
    if "tensorflow" not in sys.modules:
        return []
    from tensorflow.python.framework import ops

    wrappers = []
    for module in wrapped_modules()[0]:
        for name, position in _OP_NAME_ARGUMENT.items():
            original = getattr(module, name, None)
            if original is not None:
                wrapper = _wrap_eager(original, position)
                wrappers.append(wrapper)
                setattr(module, name, wrapper)
    original_create = ops.Graph._create_op_internal

    def recorded_create_op(graph, op_type, *arguments, audit=sys.audit, **keywords):
        audit("grader.kernel", op_type)
        return original_create(graph, op_type, *arguments, **keywords)

    ops.Graph._create_op_internal = recorded_create_op
    wrappers.append(recorded_create_op)
    return wrappers


def watch_routines(paths):
    """Wrap library functions and methods named by dotted path (e.g. Keras's private clipping
    helpers, built from ordinary ops so no kernel tells them apart) so that each call raises a
    ``grader.kernel`` event with the path; returns the wrappers and the classes changed."""
    from labkit import checks

    wrappers, classes = [], []
    for path in paths:
        owner_path, _, name = path.rpartition(".")
        try:
            owner = checks.resolve_symbol(owner_path, {})
            original = getattr(owner, name)
        except Exception:  # a path this Keras version lacks: nothing to watch
            continue
        wrapper = _wrap_routine(original, path)
        wrappers.append(wrapper)
        if isinstance(owner, type):
            setattr(owner, name, wrapper)
            classes.append(owner)
            continue
        for module in list(sys.modules.values()):
            for key, value in list(getattr(module, "__dict__", {}).items()):
                if value is original:
                    setattr(module, key, wrapper)
    return wrappers, classes


def _wrap_routine(original, path, audit=sys.audit):
    def watched(*arguments, **keywords):
        audit("grader.kernel", path)
        return original(*arguments, **keywords)

    watched.__name__ = watched.__qualname__ = getattr(original, "__name__", "watched")
    return watched


def wrapped_modules():
    """Module and class namespaces holding the wrappers (protected by the integrity snapshot)."""
    from tensorflow.python import pywrap_tfe
    from tensorflow.python.framework import ops

    return [module for module in (pywrap_tfe, sys.modules.get("tensorflow.python._pywrap_tfe")) if module], [ops.Graph]
