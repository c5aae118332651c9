"""Every lab on every Keras backend: solution notebook seconds and the grades of the solution and the release.

`make test-backends` (or `python -m benchmarks.backends --backend jax --backend torch`) runs each backend in
its own process, since Keras fixes its backend when it is first imported, and rewrites the backend section of
benchmarks/RESULTS.md between its markers. These are measurements: the pass/fail checks are the tests that
`make test-backends` runs first.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

from benchmarks import scale

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
BACKENDS = ("tensorflow", "jax", "torch")
BEGIN_MARKER = "<!-- backends: begin (rewritten by `python -m benchmarks.backends`) -->"
END_MARKER = "<!-- backends: end -->"


def measure_lab(lab_id, scratch):
    """Notebook seconds and the solution's and the release's scores for one lab, on this process's backend."""
    from autograder import batch, lab as lab_module, samples
    from benchmarks import run

    notebook_seconds, _ = run.time_notebook(lab_id)
    source_path = ROOT / "solutions" / lab_id / f"{lab_id}.ipynb"
    release_path = ROOT / "labs" / lab_id / f"{lab_id}.ipynb"
    lab = lab_module.load_lab(source_path)
    solution = samples.write_notebook(samples.make_submission(release_path, source_path),
                                      pathlib.Path(scratch) / lab_id / "solution" / f"{lab_id}.ipynb")
    submissions = [batch.Submission("solution", lab_id, solution), batch.Submission("release", lab_id, release_path)]
    started = time.perf_counter()
    results = {result.student_id: result for result in batch.grade_folder(
        submissions, [lab], pathlib.Path(scratch) / lab_id / "graded", workers=1, progress=False)}
    return {
        "lab": lab_id,
        "notebook_seconds": round(notebook_seconds, 1),
        "grading_seconds": round(time.perf_counter() - started, 1),
        "solution": results["solution"].score,
        "release": results["release"].score,
        "max_points": lab.max_points,
        "backend": results["solution"].backend,
    }


def measure_backend(backend, lab_ids):
    """Rows for every lab on one backend, measured in a child process with KERAS_BACKEND set."""
    environment = dict(os.environ, KERAS_BACKEND=backend, LABKIT_MODE=os.environ.get("LABKIT_MODE", "fast"))
    command = [sys.executable, "-m", "benchmarks.backends", "--measure", *lab_ids]
    completed = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"measuring on {backend} failed:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def cell(row):
    """One table cell: notebook seconds, and the solution's and release's scores out of the maximum."""
    if row is None:
        return "not run"
    maximum = f"{row['max_points']:g}"
    return f"{row['notebook_seconds']:.0f} s; {row['solution']:g}/{maximum}, release {row['release']:g}"


def report_lines(rows_by_backend, versions):
    """The RESULTS.md section: one row per lab, one column per backend measured."""
    backends = [backend for backend in BACKENDS if backend in rows_by_backend]
    labs = sorted({row["lab"] for rows in rows_by_backend.values() for row in rows})
    by_key = {(backend, row["lab"]): row for backend, rows in rows_by_backend.items() for row in rows}
    table = scale.markdown_table(["lab", *backends],
                                 [[lab, *(cell(by_key.get((backend, lab))) for backend in backends)] for lab in labs])
    mode = os.environ.get("LABKIT_MODE", "fast")
    return ["## Keras backends (issue 11)", "",
            f"Each cell: the solution notebook's seconds ({mode} mode, kernel start included), the solution's grade "
            "and the untouched release's grade, graded in the bubblewrap sandbox on that backend (CPU, 2 cores). "
            f"Versions: {versions}.", "", *table, ""]


def versions_text(backends):
    """The backend packages' versions, e.g. 'keras 3.15.1, tensorflow 2.21.0, jax 0.10.2, torch 2.13.0+cpu'."""
    import importlib.metadata

    names = ["keras"] + [backend for backend in backends]
    found = []
    for name in names:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} not installed")
    return ", ".join(found)


def parse_arguments(argv):
    """Command-line options: the backends and labs to measure, and whether to rewrite RESULTS.md."""
    parser = argparse.ArgumentParser(description="Run and grade every lab on each Keras backend.")
    parser.add_argument("--backend", action="append", choices=BACKENDS,
                        help="a backend to measure (repeatable; default: all three)")
    parser.add_argument("--lab", action="append", help="only this lab (repeatable; default: every lab)")
    parser.add_argument("--no-write", action="store_true", help="print the table without rewriting RESULTS.md")
    parser.add_argument("--measure", nargs="+", metavar="LAB", help=argparse.SUPPRESS)  # the child process
    return parser.parse_args(argv)


def main(argv=None):
    arguments = parse_arguments(argv)
    if arguments.measure:
        with tempfile.TemporaryDirectory() as scratch:
            print(json.dumps([measure_lab(lab_id, scratch) for lab_id in arguments.measure]))
        return 0
    from autograder import release

    lab_ids = arguments.lab or release.lab_ids(ROOT / "solutions")
    backends = arguments.backend or list(BACKENDS)
    rows_by_backend = {}
    for backend in backends:
        print(f"measuring {len(lab_ids)} labs on {backend} ...", flush=True)
        rows_by_backend[backend] = measure_backend(backend, lab_ids)
    lines = report_lines(rows_by_backend, versions_text(backends))
    print("\n".join(lines))
    if not arguments.no_write:
        text = RESULTS.read_text() if RESULTS.exists() else ""
        RESULTS.write_text(scale.replace_marked_section(text, lines, BEGIN_MARKER, END_MARKER))
        print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
