"""Adversarial and broken submissions of the toy lab, each with its exact expected score.

The toy lab has two parts: `test_relu` (2 points, target `relu`) and `test_square` (1 point).
Each entry: name -> (answers to override by grade_id, an optional notebook edit, expected
points per part). Answers not overridden keep the solution.
"""

import json

WRONG_RELU = "def relu(values):\n    return values\n"
CORRECT_RELU = "import numpy as np\n\ndef relu(values):\n    return np.maximum(values, 0.0)\n"
# A different but correct style: no numpy.maximum, arithmetic only.
CORRECT_RELU_OTHER_STYLE = "def relu(values):\n    positive = values > 0\n    return values * positive\n"
CORRECT_SQUARE = "def square(values):\n    return values ** 2\n"


def _cells_with(notebook, predicate):
    return [cell for cell in notebook.cells if predicate(cell.get("metadata", {}).get("nbgrader", {}))]


def _gut_tests(notebook):
    for cell in _cells_with(notebook, lambda nbgrader: nbgrader.get("grade")):
        cell.source = "print('tests removed')"


def _delete_tests(notebook):
    notebook.cells = [cell for cell in notebook.cells
                      if not cell.get("metadata", {}).get("nbgrader", {}).get("grade")]


def _duplicate_and_retag_tests(notebook):
    tests = _cells_with(notebook, lambda nbgrader: nbgrader.get("grade"))
    for cell in tests:
        copy = json.loads(json.dumps(cell))
        notebook.cells.append(type(cell)(copy))
        # Re-tag the original as an answer cell with a new id and a pass-everything body.
        cell.metadata["nbgrader"].update(grade=False, solution=True, grade_id=cell.metadata["nbgrader"]["grade_id"] + "_mine")
        cell.source = "import labkit.checks\nlabkit.checks.run_checks = lambda *a, **k: None\n"


def _edit_setup(notebook):
    for cell in _cells_with(notebook, lambda nbgrader: nbgrader.get("grade_id") == "imports"):
        cell.source = "import numpy as np\nnp.maximum = lambda a, b: a  # sabotage the reference?\n"


def _break_json(path):
    path.write_text("{ this is not a notebook")


CASES = {
    "complete": ({}, None, {"test_relu": 2, "test_square": 1}),
    "other_correct_style": ({"relu": CORRECT_RELU_OTHER_STYLE, "square": CORRECT_SQUARE}, None,
                            {"test_relu": 2, "test_square": 1}),
    "monkeypatch_numpy": ({"relu": "import numpy as np\nnp.allclose = lambda *a, **k: True\n"
                                   "np.isclose = lambda *a, **k: np.array(True)\n" + WRONG_RELU},
                          None, {"test_relu": 0, "test_square": 1}),
    "monkeypatch_checks": ({"relu": "import labkit.checks as c\nc.compare_outputs = lambda *a, **k: c.Outcome(True, 'ok')\n"
                                    "c.run_checks = lambda *a, **k: None\n" + WRONG_RELU},
                           None, {"test_relu": 0, "test_square": 1}),
    "forged_probe_outputs": ({"relu": "import numpy as np\nimport labkit.function_probes as fp\n"
                                      "fp.outputs_on = lambda f, inputs, dtype='float32': "
                                      "{'outputs': [np.array([0.0, 0.0, 2.5])]}\n" + WRONG_RELU},
                             # The patch is undone after the cell: the honest part keeps its point, the wrong one not.
                             None, {"test_relu": 0, "test_square": 1}),
    "monkeypatch_builtins": ({"relu": "import builtins\nbuiltins.isinstance = lambda *a: True\n"
                                      "builtins.len = lambda *a: 0\n" + WRONG_RELU},
                             None, {"test_relu": 0, "test_square": 1}),
    "tests_gutted": ({"square": "def square(values):\n    return values * 2\n"}, _gut_tests,
                     {"test_relu": 2, "test_square": 0}),
    "tests_deleted": ({}, _delete_tests, {"test_relu": 2, "test_square": 1}),
    "tests_duplicated_and_retagged": ({"relu": WRONG_RELU}, _duplicate_and_retag_tests,
                                      {"test_relu": 0, "test_square": 1}),
    "setup_cell_edited": ({}, _edit_setup, {"test_relu": 2, "test_square": 1}),
    "os_exit": ({"square": "import os\nos._exit(0)\n" + CORRECT_SQUARE}, None, {"test_relu": 2, "test_square": 0}),
    "sys_exit": ({"relu": "raise SystemExit('bye')\n" + CORRECT_RELU}, None, {"test_relu": 0, "test_square": 1}),
    "exit_inside_function": ({"relu": "import os\n\ndef relu(values):\n    os._exit(1)\n"}, None,
                             {"test_relu": 0, "test_square": 1}),
    "infinite_loop_at_import": ({"square": "while True:\n    pass\n"}, None, {"test_relu": 2, "test_square": 0}),
    "infinite_loop_when_called": ({"relu": "def relu(values):\n    while True:\n        pass\n"}, None,
                                  {"test_relu": 0, "test_square": 1}),
    "memory_bomb": ({"square": "import numpy as np\nhog = np.ones((40_000, 40_000))\n" + CORRECT_SQUARE}, None,
                    {"test_relu": 2, "test_square": 0}),
    "huge_output": ({"square": "print('x' * 5_000_000)\n" + CORRECT_SQUARE}, None, {"test_relu": 2, "test_square": 1}),
    "syntax_error": ({"square": "def square(values)\n    return values * values\n"}, None,
                     {"test_relu": 2, "test_square": 0}),
    "missing_function": ({"relu": "def my_relu(values):\n    return values * (values > 0)\n"}, None,
                         {"test_relu": 0, "test_square": 1}),
    "uses_builtin": ({"relu": "import keras\n\ndef relu(values):\n    return keras.activations.relu(values)\n"}, None,
                     {"test_relu": 0, "test_square": 1}),
    "uses_builtin_hidden_by_getattr": ({"relu": "import keras\n\ndef relu(values):\n"
                                                "    return getattr(keras.activations, 're' + 'lu')(values)\n"},
                                       None, {"test_relu": 0, "test_square": 1}),
    # A fresh copy of the built-in, reloaded in another cell, escapes the run-time disabling; the scan sees it.
    "builtin_reloaded_in_another_cell": ({"square": "import importlib\n"
                                                    "fresh = importlib.reload(importlib.import_module("
                                                    "'keras.src.activations.activations'))\n" + CORRECT_SQUARE,
                                          "relu": "def relu(values):\n    return fresh.relu(values)\n"},
                                         None, {"test_relu": 0, "test_square": 1}),
    # Garbage and forged events written into the results channel must not break the trusted side.
    "forged_channel_events": ({"square": "import json, os, stat\n"
                                         "lines = [{'event': 'cell', 'index': 'x', 'status': 'ok'},\n"
                                         "         {'event': 'cell', 'index': 99, 'status': 'ok'},\n"
                                         "         {'event': 'probe', 'status': 'ok'}, {'event': 'done'}, [1, 2],\n"
                                         "         {'event': 'probe', 'key': None, 'status': 'ok', 'outputs': 5}]\n"
                                         "for fd in range(3, 64):  # listing /proc/self/fd is refused\n"
                                         "    try:\n"
                                         "        if fd > 2 and stat.S_ISFIFO(os.fstat(fd).st_mode):\n"
                                         "            os.write(fd, ('\\n'.join(json.dumps(l) for l in lines)"
                                         " + '\\nnot json\\n').encode())\n"
                                         "    except OSError:\n"
                                         "        pass\n" + CORRECT_SQUARE},
                              None, {"test_relu": 2, "test_square": 1}),
    # The grader's files live in pytest's temporary folders and in the repository; neither is visible.
    "reads_hidden_tests_and_gradebook": ({"square": "import glob, os\n"
                                                    "found = glob.glob('/tmp/pytest-of-*/**/*.ipynb', recursive=True)"
                                                    " + glob.glob('/tmp/pytest-of-*/**/gradebook.db', recursive=True)"
                                                    " + [p for p in ('/work/main/solutions', '/work/main/tests')"
                                                    " if os.path.exists(p)]\n"
                                                    "if found:\n    raise SystemExit('could see ' + str(found))\n"
                                          + CORRECT_SQUARE}, None, {"test_relu": 2, "test_square": 1}),
    "uses_network": ({"square": "import socket\ntry:\n    socket.create_connection(('127.0.0.1', 22), timeout=2)\n"
                                "    raise SystemExit('network reachable')\nexcept OSError:\n    pass\n" + CORRECT_SQUARE},
                     None, {"test_relu": 2, "test_square": 1}),
    "unreadable_notebook": ({}, "break_json", {"test_relu": 0, "test_square": 0}),
}


def write_class(root):
    """Build the toy lab under root and write every corpus entry as one student's submission.

    Returns (the lab, the batch submissions), so that any execution path can grade the same class.
    """
    from autograder import batch, lab as lab_module, release, samples
    from tests.support import toy_lab

    source_path = toy_lab.build(root / "solutions")
    release_path = release.release_lab(toy_lab.LAB_ID, root / "solutions", root / "labs") / f"{toy_lab.LAB_ID}.ipynb"
    submissions = []
    for name, (answers, edit, _) in CASES.items():
        path = root / "submissions" / name / f"{toy_lab.LAB_ID}.ipynb"
        notebook = samples.make_submission(release_path, source_path, answers, None if edit == "break_json" else edit)
        samples.write_notebook(notebook, path)
        if edit == "break_json":
            _break_json(path)
        submissions.append(batch.Submission(name, toy_lab.LAB_ID, path))
    return lab_module.load_lab(source_path), submissions


def expected_scores():
    """student id -> {grade_id: points} for every corpus entry."""
    return {name: expected for name, (_, _, expected) in CASES.items()}
