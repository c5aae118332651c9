"""A record of forbidden TensorFlow kernels (ops) that ran on behalf of student code.

Why kernels: a part that asks for a convolution is not implemented by ``tf.raw_ops.Conv2D``,
``tf.compat.v1.nn.conv2d`` or ``tf.nn.convolution`` either, and there are too many Python
routes to one kernel to list them. Every TensorFlow op, eager or traced into a graph, is
created through one of three entry points (the eager fast path, the eager slow path and
graph op creation); each is wrapped here, so the op's type name is seen whatever route
led there. An op counts against the student when the innermost non-library frame above it
is student code; an op reached through the lab's own code (a probe, a stand-in layer) is
not the student's. Names come from the lab's ``forbidden_kernels`` metadata.
"""

import sys

_OP_NAME_ARGUMENT = {"TFE_Py_FastPathExecute": 1, "TFE_Py_Execute": 2, "TFE_Py_ExecuteCancelable": 2}


class KernelRecorder:
    """Collects (op name, student location) for forbidden ops, grouped by the phase they ran in."""

    def __init__(self, forbidden_names, is_trusted_file, is_lab_file):
        self.forbidden_names = frozenset(forbidden_names)
        self.is_trusted_file = is_trusted_file
        self.is_lab_file = is_lab_file
        self.found = []

    def note(self, op_name):
        if isinstance(op_name, bytes):
            op_name = op_name.decode("ascii", "replace")
        if op_name not in self.forbidden_names:
            return
        frame = sys._getframe(2)
        while frame is not None:
            filename = frame.f_code.co_filename
            if self.is_lab_file(filename):
                return  # the lab's own code (probe or stand-in) asked for it
            if not self.is_trusted_file(filename):
                entry = (op_name, f"{filename.strip('<>')}, line {frame.f_lineno}")
                if entry not in self.found and len(self.found) < 50:
                    self.found.append(entry)
                return
            frame = frame.f_back

    def take(self):
        """What was found since the last call, and forget it."""
        found, self.found = self.found, []
        return found


def _wrap_eager(recorder, original, position):
    def recorded_execute(*arguments):
        if len(arguments) > position:
            recorder.note(arguments[position])
        return original(*arguments)

    return recorded_execute


def install(forbidden_names, is_trusted_file, is_lab_file):
    """Wrap TensorFlow's op entry points (if TensorFlow is loaded); returns the recorder or None."""
    if not forbidden_names or "tensorflow" not in sys.modules:
        return None
    from tensorflow.python import pywrap_tfe
    from tensorflow.python.framework import ops

    recorder = KernelRecorder(forbidden_names, is_trusted_file, is_lab_file)
    modules = [pywrap_tfe] + [module for module in (sys.modules.get("tensorflow.python._pywrap_tfe"),) if module]
    for module in modules:
        for name, position in _OP_NAME_ARGUMENT.items():
            original = getattr(module, name, None)
            if original is not None:
                setattr(module, name, _wrap_eager(recorder, original, position))
    original_create = ops.Graph._create_op_internal

    def recorded_create_op(graph, op_type, *arguments, **keywords):
        recorder.note(op_type)
        return original_create(graph, op_type, *arguments, **keywords)

    ops.Graph._create_op_internal = recorded_create_op
    return recorder
