"""Names code that hides what it calls, so the instructor can review it (the score is kept).

A trusted static scan of the source text. It complements the sandbox's run-time record:
code built from text, names computed at run time, and reaching into the interpreter's own
machinery can hide a forbidden built-in from any list of names, so such code is flagged for a
person to read rather than silently passed or silently zeroed.
"""

import ast

from autograder import code_scan

# importlib, sys.modules and keras.src are named by forbidden.indirect_access.
# Calls that build or run code from text, or look names up at run time.
CODE_FROM_TEXT = {"exec", "eval", "compile", "__import__"}
NAME_LOOKUPS = {"getattr", "setattr", "delattr"}
INTERPRETER_ATTRIBUTES = {
    "__builtins__", "__code__", "__globals__", "__closure__", "__subclasses__", "__mro__", "__loader__",
    "__spec__", "f_back", "f_locals", "f_globals", "tb_frame", "gi_frame", "cr_frame", "cell_contents",
    "_getframe", "_current_frames", "__dict__",
}
INTROSPECTION_MODULES = {"gc", "inspect", "ctypes", "signal", "threading", "_thread", "multiprocessing",
                         "subprocess", "runpy", "code", "codeop", "marshal", "builtins", "types", "sys", "pty",
                         "labkit"}  # labkit: the grader's helpers, not for answers
_OWN_OBJECTS = {"self", "cls"}


def _imported_modules(tree):
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


def hiding_constructs(source):
    """Lines that hide what they call, e.g. "line 3: exec(...) runs code built from text"."""
    return code_scan.findings(source, _hiding_constructs_in)


def _hiding_constructs_in(tree):
    modules = _imported_modules(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imported = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for name in imported:
                if name.split(".")[0] in INTROSPECTION_MODULES:
                    found.append((node.lineno, f"imports {name}"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name = node.func.id
            if name in CODE_FROM_TEXT:
                found.append((node.lineno, f"{name}(...) runs code built from text"))
            elif name in NAME_LOOKUPS and len(node.args) >= 2 and not isinstance(node.args[1], ast.Constant):
                owner = node.args[0]
                if not (isinstance(owner, ast.Name) and owner.id in _OWN_OBJECTS):
                    found.append((node.lineno, f"{name}(...) with a name computed at run time"))
            elif name == "globals" or (name == "vars" and node.args and isinstance(node.args[0], ast.Name)
                                       and node.args[0].id in modules):
                found.append((node.lineno, f"{name}() reaches a namespace by name"))
        elif isinstance(node, ast.Attribute) and node.attr in INTERPRETER_ATTRIBUTES:
            if not (node.attr == "__dict__" and isinstance(node.value, ast.Name) and node.value.id in _OWN_OBJECTS):
                found.append((node.lineno, f"uses .{node.attr}"))
        elif isinstance(node, ast.Name) and node.id == "__builtins__":
            found.append((node.lineno, "uses __builtins__"))
    return [f"line {line}: {what}" for line, what in sorted(set(found))]
