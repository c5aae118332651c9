"""Module state that probes rely on, snapshotted before student code, restored after every cell and probe.

Why state and not routes: a module attribute can be replaced by assignment, ``setattr``,
``vars(module)[...]``, ``module.__dict__.update`` or ``sys.modules`` surgery, and a function
by swapping its ``__code__``; comparing against a snapshot catches every route at once. The
snapshot covers the modules a probe's logic and the runner depend on: labkit, this sandbox
package, the runner (``__main__``), NumPy, Keras's public API, ``builtins``, ``sys``,
``importlib``, ``json``, ``signal`` and ``threading``; the ``sys.modules`` entries of all of them;
for labkit, this package and the runner, each function's code, defaults and closure and each
class's attributes; the grader's own wrappers and guards (``protect``); and the grader's import hooks'
places at the front of ``sys.meta_path`` (``protect(finders=...)``). What differs is put
back and reported, so the grader can void the probe that ran while the state was changed and
name what was changed.

Keras's internal modules and TensorFlow are left out on purpose: they keep caches in module
globals that legitimately change while a model runs, and changing them can only alter the
student's own outputs, which the student controls anyway.
"""

import sys
import types

PROTECTED_PREFIXES = ("labkit", "autograder.sandboxed", "__main__", "numpy", "keras", "builtins", "importlib",
                      "json", "signal", "_signal", "_thread", "threading", "faulthandler", "sys")
_INTERNAL_KERAS = ("keras.src", "keras._tf_keras")
_DEEP_PREFIXES = ("labkit", "autograder.sandboxed", "__main__")
_MISSING = object()
_UNPROTECTED_KEYS = {"__warningregistry__"}  # the warnings machinery's own per-module cache
# pybind11 extension modules keep their shared type registry in ``builtins`` under these names, added the first
# time such a module is imported (TensorFlow's are, lazily, by Keras's data pipeline on every backend).
_LIBRARY_REGISTRY_PREFIXES = ("__pybind11_internals_",)


def _unprotected(key):
    return key in _UNPROTECTED_KEYS or (isinstance(key, str) and key.startswith(_LIBRARY_REGISTRY_PREFIXES))


def _protected(name):
    if name.startswith(_INTERNAL_KERAS):
        return False
    return any(name == prefix or name.startswith(prefix + ".") for prefix in PROTECTED_PREFIXES)


def _function_state(function):
    cells = tuple(_cell_value(cell) for cell in function.__closure__ or ())
    return (function.__code__, function.__defaults__, function.__kwdefaults__, cells)


def _cell_value(cell):
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell
        return _MISSING


class Snapshot:
    """The protected state at one moment; restore() puts it back and lists what had changed."""

    def __init__(self):
        self.modules = {name: module for name, module in list(sys.modules.items())
                        if module is not None and _protected(name)}
        self.dictionaries = {name: dict(vars(module)) for name, module in self.modules.items()}
        self.functions = {}
        self.classes = {}
        self.finders = []
        for name, module in self.modules.items():
            if name.startswith(_DEEP_PREFIXES):
                for value in list(vars(module).values()):
                    self._remember(value, name)

    def protect(self, modules=(), classes=(), functions=(), finders=()):
        """Also protect these (e.g. the grader's own wrappers installed inside TensorFlow).

        ``finders`` are the grader's import hooks: each must stay at the front of ``sys.meta_path``,
        ahead of any finder added since (``sys`` is protected by identity only, and a list changes in place).
        """
        self.finders += list(finders)
        for module in modules:
            self.modules[module.__name__] = module
            self.dictionaries[module.__name__] = dict(vars(module))
        for cls in classes:
            self.classes[cls] = dict(vars(cls))
        for function in functions:
            self.functions[function] = _function_state(function)

    def _remember(self, value, module_name):
        if isinstance(value, types.FunctionType) and value.__module__ == module_name:
            self.functions[value] = _function_state(value)
        elif isinstance(value, type) and value.__module__ == module_name and value not in self.classes:
            self.classes[value] = dict(vars(value))
            for member in list(vars(value).values()):
                function = getattr(member, "__func__", member)
                if isinstance(function, types.FunctionType):
                    self.functions[function] = _function_state(function)

    def restore(self):
        """Put every protected value back; returns descriptions of what had been changed."""
        changes = []
        for name, module in self.modules.items():
            if sys.modules.get(name) is not module:
                changes.append(f"sys.modules[{name!r}]")
                sys.modules[name] = module
            changes += self._restore_dictionary(name, vars(module), self.dictionaries[name])
        meta_path = sys.meta_path  # the saved list again, if student code had replaced it
        for position, finder in enumerate(self.finders):
            if position >= len(meta_path) or meta_path[position] is not finder:
                changes.append(f"sys.meta_path (the grader's import hook {getattr(finder, '__name__', '?')})")
                while finder in meta_path:
                    meta_path.remove(finder)
                meta_path.insert(position, finder)
        for function, state in self.functions.items():
            if _function_state(function) != state:
                changes.append(f"the code of {function.__module__}.{function.__qualname__}")
                function.__code__, function.__defaults__, function.__kwdefaults__ = state[:3]
                for cell, value in zip(function.__closure__ or (), state[3]):
                    if value is not _MISSING:
                        cell.cell_contents = value
        for cls, attributes in self.classes.items():
            current = dict(vars(cls))
            for key, value in attributes.items():
                if current.get(key, _MISSING) is not value:
                    changes.append(f"{cls.__module__}.{cls.__qualname__}.{key}")
                    setattr(cls, key, value)
            for key in set(current) - set(attributes):
                changes.append(f"{cls.__module__}.{cls.__qualname__}.{key} (added)")
                delattr(cls, key)
        return changes

    @staticmethod
    def _restore_dictionary(name, current, saved):
        changes = []
        for key, value in saved.items():
            if _unprotected(key):
                continue
            if current.get(key, _MISSING) is not value:
                changes.append(f"{name}.{key}")
                current[key] = value
        for key in [key for key in current if key not in saved]:
            if isinstance(current[key], types.ModuleType) or _unprotected(key):
                continue  # a submodule imported since: the import system adds it to its parent
            changes.append(f"{name}.{key} (added)")
            del current[key]
        return changes
