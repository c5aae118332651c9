"""Performance numbers for the README: grading time, notebook time, optimizer overhead, accuracy, scale.

Run with `make benchmark` (fast mode; `python -m benchmarks.run --help` for partial runs). Prints a
report and, after a complete run, rewrites benchmarks/RESULTS.md; a run of `--section scale` alone
(full size) rewrites only its own part of it, between the markers of `benchmarks.scale`.
These are measurements, not pass/fail tests: targets are listed next to each number.
"""

import argparse
import datetime
import os
import pathlib
import platform
import statistics
import tempfile
import time

import nbformat
import nbclient
import numpy as np

from autograder import batch, lab as lab_module, release, samples
from benchmarks import scale

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
# RESULTS.md below this line is written by other commands (make test-backends, make test-compat, the GPU
# check): a complete benchmark run rewrites what is above it and keeps the rest.
KEPT_MARKER = "<!-- kept: the sections below come from other commands; `make benchmark` keeps them -->"
GRADING_REPEATS = 3
STEP_ROUNDS = 15  # alternating timing blocks per optimizer pair
STEPS_PER_ROUND = 20


def time_notebook(lab_id):
    """Wall seconds to run a solution notebook (in the current LABKIT_MODE), and its best test accuracy if any."""
    notebook = nbformat.read(str(SOLUTIONS / lab_id / f"{lab_id}.ipynb"), as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(
        # Labs 01 and 05 keep {run: test accuracy}; lab 07's list of ResNet accuracies is not a headline figure.
        "print('BENCHMARK-ACCURACY', max(test_accuracies.values()) "
        "if isinstance(globals().get('test_accuracies'), dict) else -1)"))
    started = time.perf_counter()
    cell_timeout = 600 if os.environ.get("LABKIT_MODE") == "fast" else 4 * 3600  # full-mode cells train for long
    client = nbclient.NotebookClient(notebook, timeout=cell_timeout, kernel_name="python3",
                                     resources={"metadata": {"path": str(SOLUTIONS / lab_id)}})
    client.execute()
    seconds = time.perf_counter() - started
    text = "".join(output.get("text", "") for output in notebook.cells[-1].outputs)
    accuracy = float(text.split()[-1]) if "BENCHMARK-ACCURACY" in text else -1.0
    return seconds, accuracy


def time_grading(lab_id):
    """Median seconds to grade one solution submission (sandbox start included), and reference time."""
    source_path = SOLUTIONS / lab_id / f"{lab_id}.ipynb"
    lab = lab_module.load_lab(source_path)
    from autograder import grading

    started = time.perf_counter()
    references = grading.compute_references(lab)
    reference_seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as scratch:
        path = samples.write_notebook(
            samples.make_submission(ROOT / "labs" / lab_id / f"{lab_id}.ipynb", source_path),
            pathlib.Path(scratch) / f"{lab_id}.ipynb")
        durations = []
        for _ in range(GRADING_REPEATS):
            started = time.perf_counter()
            result = grading.grade_notebook(lab, path, "benchmark", references)
            durations.append(time.perf_counter() - started)
            if result.score != lab.max_points:
                raise RuntimeError(f"{lab_id}: the solution scored {result.score}/{lab.max_points}")
    return statistics.median(durations), reference_seconds


def _solution_namespace(lab_id):
    """Execute a lab's setup and answer cells (trusted instructor code) and return the namespace."""
    lab = lab_module.load_lab(SOLUTIONS / lab_id / f"{lab_id}.ipynb")
    namespace = {"__name__": "__benchmark__"}
    for cell in lab.cells:
        if cell.role in ("setup", "answer"):
            exec(compile(cell.source, f"<{cell.grade_id}>", "exec"), namespace)
    return namespace


def _trainer(make_optimizer, jit_compile):
    """A seeded MLP compiled with the optimizer, warmed up; returns a function running one step."""
    from labkit import models

    model = models.make_classifier(hidden_units=(256,), seed=0)
    model.compile(optimizer=make_optimizer(), loss="sparse_categorical_crossentropy", jit_compile=jit_compile)
    generator = np.random.default_rng(0)
    images = generator.random((128, 28, 28), dtype=np.float32)
    labels = generator.integers(0, 10, 128)
    for _ in range(20):
        model.train_on_batch(images, labels)
    return lambda: model.train_on_batch(images, labels)


def _interleaved_step_seconds(step_ours, step_theirs, rounds=STEP_ROUNDS, steps=STEPS_PER_ROUND):
    """Median seconds per step of each, timed in alternating blocks so drifts in machine speed cancel."""
    ours, theirs = [], []
    for _ in range(rounds):
        for step, timings in ((step_ours, ours), (step_theirs, theirs)):
            started = time.perf_counter()
            for _ in range(steps):
                step()
            timings.append((time.perf_counter() - started) / steps)
    return statistics.median(ours), statistics.median(theirs)


def optimizer_overhead():
    """Per-step time of the solution optimizers vs the Keras built-ins, jit off and on."""
    import keras

    namespace = _solution_namespace("05_optimizers")
    pairs = {
        "SGD (momentum 0.9, Nesterov)": ("SGD", keras.optimizers.SGD, {"learning_rate": 0.01, "momentum": 0.9,
                                                                        "nesterov": True}),
        "RMSprop (centered)": ("RMSprop", keras.optimizers.RMSprop, {"centered": True}),
        "Adam": ("Adam", keras.optimizers.Adam, {}),
        "AdamW": ("AdamW", keras.optimizers.AdamW, {}),
    }
    rows = []
    for label, (name, builtin, arguments) in pairs.items():
        for jit_compile in (False, True):
            step_ours = _trainer(lambda: namespace[name](**arguments), jit_compile)
            step_theirs = _trainer(lambda: builtin(**arguments), jit_compile)
            ours, theirs = _interleaved_step_seconds(step_ours, step_theirs)
            rows.append((label, jit_compile, ours, theirs, ours / theirs))
            keras.backend.clear_session()
    return rows


SECTIONS = ("notebooks", "grading", "optimizers", "scale")


def class_size(text):
    """The --class-size value: a whole number of students, at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of students, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"a class needs at least one student, got {value}")
    return value


def parse_arguments(argv=None):
    """Command-line options: which sections and labs to measure, and where to write the report."""
    parser = argparse.ArgumentParser(
        description="Measure notebook run time, grading time, optimizer overhead and grading at scale.",
        epilog="With every section and lab in fast mode the report replaces benchmarks/RESULTS.md; `--section "
               "scale` alone, with every lab and the full class size, replaces only its part of it; any other run "
               "only prints, unless --output names a file.",
    )
    parser.add_argument("--section", action="append", choices=SECTIONS,
                        help="measure only this section (repeatable; default: all)")
    parser.add_argument("--lab", action="append", metavar="LAB_ID",
                        help="measure only this lab in the notebook, grading and scale sections (repeatable)")
    parser.add_argument("--mode", choices=("fast", "full"), default="fast",
                        help="LABKIT_MODE for the notebooks (default: fast; full takes minutes per lab)")
    parser.add_argument("--class-size", type=class_size, default=scale.CLASS_SIZE, metavar="N",
                        help=f"submissions per lab in the scale section (default: {scale.CLASS_SIZE}; fewer for a "
                             "quick check, which leaves RESULTS.md alone)")
    parser.add_argument("--output", type=pathlib.Path, help="write the report here")
    arguments = parser.parse_args(argv)
    known = release.lab_ids(SOLUTIONS)
    unknown = sorted(set(arguments.lab or ()) - set(known))
    if unknown:
        parser.error(f"unknown lab {', '.join(unknown)}; choose from {', '.join(known)}")
    return arguments


def grading_rows(lab_ids, lab_measurements):
    """The grading table's rows; from the scale section's measurements when it runs too (the same grades:
    references, then the median of three grades in the sandbox they warmed), else from time_grading."""
    rows = []
    for lab_id in lab_ids:
        if lab_measurements is not None:
            measured = lab_measurements[lab_id]
            median, reference_seconds = measured.warm_median["total"], measured.reference_seconds
        else:
            median, reference_seconds = time_grading(lab_id)
        rows.append(f"| {lab_id} | {median:.1f} | {reference_seconds:.1f} |")
        print(rows[-1], flush=True)
    return rows


def measure_labs_for_scale(lab_ids):
    """Section scale's per-lab measurements (part 1 of issue 10): references, a cold grade, warm grades."""
    measurements = {}
    with tempfile.TemporaryDirectory(prefix="benchmark-labs-") as scratch:
        for lab_id in lab_ids:
            measurements[lab_id] = scale.measure_lab(lab_id, scratch)
    return measurements


def kept_sections(text):
    """What follows KEPT_MARKER in RESULTS.md (other commands' results), marker included; "" if it has none."""
    if KEPT_MARKER not in text:
        return ""
    return "\n" + text[text.index(KEPT_MARKER):].rstrip("\n") + "\n"


def write_report(arguments, sections, lines, scale_lines):
    """Save the report where this run's options say (see parse_arguments' epilog); returns the path or None."""
    complete = (set(sections) == set(SECTIONS) and not arguments.lab and arguments.mode == "fast"
                and arguments.class_size == scale.CLASS_SIZE)
    scale_alone = (sections == ["scale"] and not arguments.lab and arguments.mode == "fast"
                   and arguments.class_size == scale.CLASS_SIZE)
    if arguments.output is not None or complete:
        output = arguments.output or RESULTS
        kept = kept_sections(RESULTS.read_text()) if output == RESULTS and RESULTS.exists() else ""
        output.write_text("\n".join(lines) + "\n" + kept)
        return output
    if scale_alone:
        RESULTS.write_text(scale.replace_marked_section(RESULTS.read_text() if RESULTS.exists() else "", scale_lines))
        return RESULTS
    return None


def main(argv=None):
    arguments = parse_arguments(argv)
    os.environ["LABKIT_MODE"] = arguments.mode
    sections = list(dict.fromkeys(arguments.section or SECTIONS))
    lab_ids = [lab_id for lab_id in release.lab_ids(SOLUTIONS) if not arguments.lab or lab_id in arguments.lab]
    lab_measurements = None  # the scale section's per-lab grades, shared with the grading section
    lines = [
        "# Benchmark results",
        "",
        f"Measured {datetime.date.today()} with `make benchmark` on {platform.machine()}, "
        f"{os.cpu_count()} CPU cores, Python {platform.python_version()}, {arguments.mode} mode.",
    ]
    if "notebooks" in sections:
        target = "; target <= 60 s" if arguments.mode == "fast" else ""
        lines += ["", f"## Solution notebooks ({arguments.mode} mode, kernel start included{target})", "",
                  "| lab | wall seconds | best test accuracy the lab prints (lab 05 target: >= 95 % on MNIST) |",
                  "| --- | --- | --- |"]
        for lab_id in lab_ids:
            seconds, accuracy = time_notebook(lab_id)
            shown = f"{accuracy:.2%}" if accuracy >= 0 else "—"
            lines.append(f"| {lab_id} | {seconds:.1f} | {shown} |")
            print(lines[-1], flush=True)
    if "grading" in sections:
        lines += ["", f"## Grading one submission (median of {GRADING_REPEATS}, sandbox start included; "
                      "target <= 15 s)", "",
                  "| lab | seconds per submission | references (once per batch) |", "| --- | --- | --- |"]
        if "scale" in sections:
            lab_measurements = measure_labs_for_scale(lab_ids)
        lines += grading_rows(lab_ids, lab_measurements)
    if "optimizers" in sections:
        lines += ["", "## Solution optimizers vs Keras built-ins (median seconds per training step over "
                      f"{STEP_ROUNDS} alternating blocks of {STEPS_PER_ROUND} steps, MLP 784-256-10, batch 128; "
                      "target ratio <= 1.05)", "",
                  "| optimizer | jit | ours | Keras | ratio |", "| --- | --- | --- | --- | --- |"]
        for label, jit_compile, ours, theirs, ratio in optimizer_overhead():
            lines.append(f"| {label} | {'on' if jit_compile else 'off'} | {ours * 1e3:.2f} ms | "
                         f"{theirs * 1e3:.2f} ms | {ratio:.2f} |")
            print(lines[-1], flush=True)
    scale_lines = []
    if "scale" in sections:
        results = scale.measure(lab_ids, arguments.class_size, lab_measurements)
        scale_lines = scale.report_lines(results)
        print("\n".join(scale_lines), flush=True)
        lines += ["", scale.BEGIN_MARKER, *scale_lines, scale.END_MARKER]
    output = write_report(arguments, sections, lines, scale_lines)
    if output is None:
        print("partial or full-mode run: benchmarks/RESULTS.md left unchanged (use --output to save this report)")
        return
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
