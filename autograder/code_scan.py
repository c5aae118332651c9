"""Parsing student source safely for the static scans (forbidden built-ins, monkeypatching).

`ast.parse` is serialised: CPython 3.11 can fail with "AST constructor recursion depth
mismatch" when several threads parse at once (gh-106905), and grading runs submissions in a
thread pool. Source that cannot be scanned at all (nested too deeply, too long) raises
UnscannableSource, so that a scan can never pass it silently.
"""

import ast
import threading

# Longer answers are refused rather than parsed in the trusted process (parsing time and memory grow with it).
MAX_SOURCE_CHARACTERS = 1_000_000

_parse_lock = threading.Lock()


class UnscannableSource(ValueError):
    """Valid or not, the source could not be scanned: nested too deeply, or too long."""


def parse(source):
    """The syntax tree of source, or None when it is not valid Python; raises UnscannableSource."""
    if len(source) > MAX_SOURCE_CHARACTERS:
        raise UnscannableSource(f"longer than {MAX_SOURCE_CHARACTERS:,} characters")
    with _parse_lock:
        try:
            return ast.parse(source)
        except (RecursionError, MemoryError) as error:
            raise UnscannableSource("nested too deeply") from error
        except (SyntaxError, ValueError):
            return None


def findings(source, scan_tree):
    """scan_tree(tree) for valid source; [the unscannable finding] for source that cannot be scanned;
    [] for invalid Python (it fails in the sandbox anyway)."""
    try:
        tree = parse(source)
    except UnscannableSource as error:
        return [unscannable_finding(error)]
    return [] if tree is None else scan_tree(tree)


def unscannable_finding(error):
    """The finding a scan reports for source it could not scan, e.g. 'line ?: ... (nested too deeply)'."""
    return f"line ?: the code could not be scanned ({error})"


def dotted_name(node):
    """'keras.optimizers.Adam' for an Attribute/Name chain, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None
