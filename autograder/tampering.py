"""Names monkeypatching in a student's code, so feedback and log can say what was tried.

Monkeypatching cannot change a grade (checks are decided outside the student's process), but
instructors and students should see it. This is a static scan of the source text in the
trusted process: assignments to attributes of library modules, `setattr` on them, and
rebinding of builtins.
"""

import ast

from autograder import code_scan

WATCHED_MODULES = ("numpy", "keras", "tensorflow", "builtins", "labkit", "math", "sys", "os", "jax", "torch")


def _imports(tree):
    """Local name -> module path, for every import in the source (np -> numpy, c -> labkit.checks)."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _watched(path):
    return path is not None and path.split(".")[0] in WATCHED_MODULES


def monkeypatches(source):
    """Lines that replace something in a library module, e.g. 'line 2: numpy.allclose'."""
    return code_scan.findings(source, _monkeypatches_in)


def _monkeypatches_in(tree):
    imported = _imports(tree)

    def resolve(name):
        head, _, rest = name.partition(".")
        if head not in imported:
            return None
        return f"{imported[head]}.{rest}" if rest else imported[head]

    found = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for target in targets:
            if isinstance(target, ast.Attribute):
                path = resolve(code_scan.dotted_name(target) or "")
                if _watched(path):
                    found.append((node.lineno, path))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr"):
            if node.args:
                owner = resolve(code_scan.dotted_name(node.args[0]) or "")
                if _watched(owner):
                    found.append((node.lineno, f"{owner}.* (via {node.func.id})"))
        if isinstance(node, ast.Name) and node.id == "__builtins__":
            found.append((node.lineno, "__builtins__"))
    return [f"line {line}: {path}" for line, path in sorted(set(found))]
