"""Static scan of a student's answer for built-ins (Keras's and its backends') the lab asks them to implement.

This runs in the trusted process on the source text only (nothing is executed). It is one of
two defences: the sandbox also disables the same built-ins at run time, so calling them
through an alias the scan cannot see still fails.
"""

import ast

from autograder import code_scan

# Ways to reach a module's attributes by name, which would let code hide a built-in from this scan.
INDIRECT_ACCESS = {"importlib", "__import__", "reload", "sys.modules", "keras.src"}
# Private modules and raw operator registries of the backends: every built-in is reachable through them under
# another name (torch.ops.aten.conv2d, torch._C._nn.linear, jax._src.lax.convolution), past both defences.
PRIVATE_MODULES = ("keras.src", "torch._C", "torch.ops", "jax._src")


def _module_aliases(tree):
    """Local names of imported modules: {"tf": "tensorflow", "ks": "keras", ...} (tf by convention too)."""
    aliases = {"tf": "tensorflow"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                # "from keras import optimizers as o" makes o.Adam mean keras.optimizers.Adam.
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def defining_sources(answers, symbol):
    """The answer cells (grade_id -> source) that define a class or function named symbol."""
    found = {}
    for grade_id, source in answers.items():
        try:
            tree = code_scan.parse(source)
        except code_scan.UnscannableSource:
            found[grade_id] = source  # what it defines is unknown: scan it, so the scan reports it
            continue
        if tree is None:
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name == symbol:
                found[grade_id] = source
    return found


def imported_names(trusted_sources):
    """The module aliases that trusted cells (the lab's setup cells) define for the answers after them, e.g.
    {"ops": "keras.ops"} from `from keras import ops`; a cell that is not Python (`%pip ...`) adds none."""
    aliases = {}
    for source in trusted_sources:
        try:
            tree = code_scan.parse(source)
        except code_scan.UnscannableSource:
            continue
        if tree is not None:
            aliases.update(_module_aliases(tree))
    return aliases


def forbidden_uses(source, forbidden_paths, inherited_aliases=None):
    """Lines of source that use a forbidden built-in (by its dotted path or last name after import).

    inherited_aliases (from imported_names) resolve names the answer uses without importing them itself, such
    as `ops` imported by the lab's setup cell."""
    uses = code_scan.findings(source, lambda tree: _forbidden_uses_in(tree, forbidden_paths, inherited_aliases))
    return uses if uses and "could not be scanned" in uses[0] else uses + indirect_access(source)


def _forbidden_uses_in(tree, forbidden_paths, inherited_aliases=None):
    short_names = {path.rsplit(".", 1)[-1] for path in forbidden_paths}
    aliases = {**(inherited_aliases or {}), **_module_aliases(tree)}
    uses = []
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if alias.name in short_names and (full in forbidden_paths or "optimizers" in full
                                                  or "callbacks" in full or "schedules" in full):
                    imported.add(alias.asname or alias.name)
                    uses.append((node.lineno, full))
        elif isinstance(node, (ast.Attribute, ast.Name)):
            name = code_scan.dotted_name(node)
            if name is None:
                continue
            written = name
            head, _, rest = name.partition(".")
            name = f"{aliases.get(head, head)}.{rest}" if rest else name
            last = name.rsplit(".", 1)[-1]
            qualified = "." in name and last in short_names and name.split(".")[-2] in (
                "optimizers", "callbacks", "schedules", "adam", "sgd", "rmsprop", "adagrad", "adamw")
            # Any forbidden path written out in full, e.g. keras.ops.relu or tf.keras.activations.relu.
            qualified = qualified or any(name == path or name.endswith("." + path) for path in forbidden_paths)
            if qualified or written in imported:
                uses.append((node.lineno, written))
    return [f"line {line}: {name}" for line, name in sorted(set(uses))]


def indirect_access(source):
    """Lines that reach modules by name (importlib, __import__, sys.modules) or private modules (keras.src,
    torch._C, torch.ops, jax._src), hiding what they use."""
    return code_scan.findings(source, _indirect_access_in)


def _names_a_private_module(name):
    return any(name == prefix or name.startswith(prefix + ".") for prefix in PRIVATE_MODULES)


def _indirect_access_in(tree):
    uses = []
    aliases = _module_aliases(tree)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:  # "from torch import _C" imports torch._C
                modules = [node.module or ""] + [f"{node.module}.{alias.name}" for alias in node.names if node.module]
            for module in modules:
                if module.split(".")[0] == "importlib" or _names_a_private_module(module):
                    uses.append((node.lineno, module))
                    break
        elif isinstance(node, (ast.Attribute, ast.Name)):
            name = code_scan.dotted_name(node)
            if not name:
                continue
            head, _, rest = name.partition(".")
            resolved = f"{aliases[head]}.{rest}" if rest and head in aliases else name
            if name in INDIRECT_ACCESS or any(name.startswith(prefix + ".") for prefix in INDIRECT_ACCESS):
                uses.append((node.lineno, name))
            elif _names_a_private_module(resolved) and "." in resolved:
                uses.append((node.lineno, name))
    return [f"line {line}: {name}" for line, name in sorted(set(uses))]
