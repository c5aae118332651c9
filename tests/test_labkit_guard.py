"""labkit's functions refuse student callers while grading, except the modules a lab lends as tools."""

import json
import subprocess
import sys
import textwrap

# Runs in a fresh interpreter: installing the guards replaces labkit's functions for the whole process.
_PROGRAM = textwrap.dedent("""
    import json, sys
    refused = []
    sys.addaudithook(lambda event, arguments: refused.append(arguments[0]) if event == "grader.refuse" else None)
    from autograder.sandboxed import labkit_guard
    # Student code here is the "<cell answer>" below; a checkout under /tmp must not make labkit's own frames
    # look like student files (in the sandbox labkit is mounted read-only outside /tmp and /scratch).
    labkit_guard._STUDENT_WRITABLE = ()
    import labkit.autodiff, labkit.gradient_probes
    original = labkit.autodiff.gradients
    labkit_guard.install(json.loads(sys.argv[1]))
    student = compile("labkit.gradient_probes.relative_error_reference(1.0, 1.0, 1e-12)\\n"
                      "labkit.autodiff.gradients(lambda: 0.0, [])", "<cell answer>", "exec")
    try:
        exec(student, {"labkit": labkit})
    except Exception:
        pass  # a tool called with nonsense may raise; what matters is whether it was refused
    print(json.dumps({"refused": sorted(set(refused)), "unchanged": labkit.autodiff.gradients is original}))
""")


def _run(lent):
    completed = subprocess.run([sys.executable, "-c", _PROGRAM, json.dumps(lent)], capture_output=True, text=True,
                               timeout=120, env={"KERAS_BACKEND": "numpy", "PATH": "/usr/bin:/bin"})
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.splitlines()[-1])


def test_labkit_functions_called_by_student_code_are_refused():
    outcome = _run([])
    assert [name.split(" ")[0] for name in outcome["refused"]] == [
        "labkit.autodiff.gradients", "labkit.gradient_probes.relative_error_reference"]
    assert not outcome["unchanged"]


def test_a_lent_module_stays_callable_and_the_others_stay_guarded():
    outcome = _run(["labkit.autodiff"])
    assert [name.split(" ")[0] for name in outcome["refused"]] == ["labkit.gradient_probes.relative_error_reference"]
    assert outcome["unchanged"]
