"""autograder.code_scan: safe parsing (also from many threads at once) and dotted names."""

import ast
import concurrent.futures

from autograder import code_scan


def test_parse_returns_none_for_invalid_source():
    assert code_scan.parse("def broken(:\n") is None
    assert code_scan.parse("x = '\0'") is None  # a NUL byte in the source


def test_dotted_name():
    tree = code_scan.parse("tf.keras.optimizers.Adam\nvalue\n(lambda: 1).attr\n")
    names = [code_scan.dotted_name(statement.value) for statement in tree.body]
    assert names == ["tf.keras.optimizers.Adam", "value", None]


def test_parsing_from_many_threads_at_once():
    # Deeply nested source used to trip CPython 3.11's AST validation under concurrency (gh-106905).
    source = "x = " + "(" * 150 + "1" + ")" * 150 + "\n" + "def f():\n    return [i for i in range(3)]\n" * 50
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        trees = list(pool.map(code_scan.parse, [source] * 200))
    assert all(isinstance(tree, ast.Module) for tree in trees)
