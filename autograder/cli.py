"""Command line: python -m autograder release|grade|export|feedback|mutants|demo.

Exit statuses: 0 done; 1 nothing to grade or a mutant survived; 2 refused before anything was
written (no usable sandbox, output not writable, bad arguments); 3 some submissions were not
graded (a failure on the grader's side; run again to retry them); 130 and 143 interrupted by
SIGINT and SIGTERM (everything committed is kept; run again to resume).
"""

import argparse
import os
import pathlib
import signal
import sys

# The commands import what they use, so that `--help` and the start of `grade` stay fast.
from autograder import interruption, sandbox

EXIT_NOT_GRADED = 3


def _labs(solutions, wanted):
    """The labs asked for (default: all), reading only their source notebooks."""
    from autograder import lab as lab_module

    paths = lab_module.find_lab_paths(solutions)
    if wanted:
        missing = sorted(set(wanted) - set(paths))
        if missing:
            raise SystemExit(f"unknown lab(s) {missing}; labs in {solutions}/: {sorted(paths)}")
        paths = {lab_id: path for lab_id, path in paths.items() if lab_id in wanted}
    return [lab_module.load_lab(path) for path in paths.values()]


def command_release(arguments):
    from autograder import release

    ids = arguments.labs or release.lab_ids(arguments.solutions)
    for lab_id in ids:
        target = release.release_lab(lab_id, arguments.solutions, arguments.labs_folder)
        print(f"released {lab_id} -> {target}")
    return 0


def command_grade(arguments):
    from autograder import batch, reports

    labs = _labs(arguments.solutions, arguments.lab)
    discovery = batch.discover_submissions(arguments.submissions, [lab.lab_id for lab in labs])
    for message in discovery.skipped:
        print(f"warning: {message}", file=sys.stderr)
    if not discovery.submissions:
        print(f"no submissions found in {arguments.submissions} (expected <student>/<lab_id>.ipynb "
              "or nbgrader's submitted/<student>/<lab_id>/<lab_id>.ipynb)", file=sys.stderr)
        return 1
    from autograder import workers  # distributed itself is imported only for --scheduler or --cluster

    with workers.open_engine(arguments.workers, arguments.scheduler, arguments.cluster) as engine:
        results = batch.grade_folder(discovery.submissions, labs, arguments.output, arguments.workers,
                                     arguments.isolation, progress=not arguments.quiet,
                                     allow_unsandboxed=arguments.allow_unsandboxed, force=arguments.force,
                                     skipped_folders=discovery.skipped, engine=engine)
    print(reports.summary_table(results))
    print(results.progress_line())
    print(f"gradebook: {pathlib.Path(arguments.output) / 'gradebook.db'}; "
          f"log: {pathlib.Path(arguments.output) / 'grading.log'}")
    if any(result.isolation != "bwrap" for result in results if result.graded):
        print("WARNING: graded WITHOUT the bubblewrap sandbox (reduced isolation); see grading.log",
              file=sys.stderr)
    if results.not_graded:
        print(f"{results.not_graded} submission(s) were not graded (see above and grading.log); "
              "run the same command again to retry them", file=sys.stderr)
        return EXIT_NOT_GRADED
    return 0


def command_export(arguments):
    from autograder import batch

    path = batch.export_csv(arguments.output, arguments.csv)
    print(f"wrote {path}")
    return 0


def command_feedback(arguments):
    from autograder import batch

    paths = batch.write_all_feedback(arguments.output, arguments.feedback)
    print(f"wrote {len(paths)} feedback files under {pathlib.Path(paths[0]).parent.parent if paths else '-'}")
    return 0


def command_mutants(arguments):
    from autograder import mutation

    survivors = 0
    for path in arguments.files:
        lab_id, _ = mutation.load_mutants(path)
        outcomes = mutation.run_mutants(path, arguments.solutions, arguments.workers, arguments.isolation,
                                        arguments.allow_unsandboxed)
        print("\n".join(mutation.format_report(lab_id, outcomes)))
        survivors += sum(not outcome.killed for outcome in outcomes)
    return 1 if survivors else 0


def command_demo(arguments):
    from autograder import demo

    return demo.run(arguments.solutions, arguments.output, arguments.workers, arguments.isolation, arguments.lab,
                    arguments.allow_unsandboxed)


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    parser.add_argument("--solutions", default="solutions", help="folder of source notebooks (default: solutions)")
    commands = parser.add_subparsers(dest="command", required=True)

    def grading_options(command):
        command.add_argument("--workers", type=int, default=1, help="submissions graded at once (default 1)")
        command.add_argument("--isolation", choices=("auto", "bwrap", "none"), default="auto",
                             help="sandbox: auto or bwrap (bubblewrap; refuse to grade without it unless "
                                  "--allow-unsandboxed), none (no sandbox; needs --allow-unsandboxed)")
        command.add_argument("--allow-unsandboxed", action="store_true",
                             help="grade with REDUCED isolation when bubblewrap cannot run (student code can "
                                  "then read files and use the network); a loud warning says so")

    release_command = commands.add_parser("release", help="generate student notebooks into labs/")
    release_command.add_argument("labs", nargs="*", help="lab ids (default: all)")
    release_command.add_argument("--labs-folder", default="labs", help="where releases go (default: labs)")
    release_command.set_defaults(handler=command_release)

    grade_command = commands.add_parser("grade", help="grade a folder of submissions")
    grade_command.add_argument("submissions", help="<student>/<lab_id>.ipynb folders, or an nbgrader course root")
    grade_command.add_argument("--lab", action="append", help="only this lab (repeatable)")
    grade_command.add_argument("--output", default="grading", help="gradebook, results and log (default: grading)")
    grade_command.add_argument("--quiet", action="store_true", help="no progress bar")
    grade_command.add_argument("--force", action="store_true",
                               help="grade everything again (default: skip submissions graded before and unchanged)")
    grading_options(grade_command)
    scale_out = grade_command.add_mutually_exclusive_group()
    scale_out.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                           help="run the sandbox jobs on the workers of an existing Dask cluster; verdicts, "
                                "gradebook and feedback stay here (see docs/scale-out.md)")
    scale_out.add_argument("--cluster", metavar="local:N",
                           help="start a Dask cluster of N worker processes on this machine for the batch "
                                "(instead of --workers threads) and close it afterwards")
    grade_command.set_defaults(handler=command_grade)

    export_command = commands.add_parser("export", help="write the CSV of part scores")
    export_command.add_argument("--output", default="grading", help="the grading folder (default: grading)")
    export_command.add_argument("--csv", help="CSV path (default: <output>/grades.csv)")
    export_command.set_defaults(handler=command_export)

    feedback_command = commands.add_parser("feedback", help="write per-student feedback HTML")
    feedback_command.add_argument("--output", default="grading", help="the grading folder (default: grading)")
    feedback_command.add_argument("--feedback", help="feedback folder (default: <output>/feedback)")
    feedback_command.set_defaults(handler=command_feedback)

    mutants_command = commands.add_parser("mutants", help="check that known-wrong implementations lose points")
    mutants_command.add_argument("files", nargs="+", help="mutant files such as tests/mutants/05_optimizers.py")
    grading_options(mutants_command)
    mutants_command.set_defaults(handler=command_mutants)

    demo_command = commands.add_parser("demo", help="release a lab and grade sample submissions")
    demo_command.add_argument("--lab", default=None, help="lab id (default: the first lab)")
    demo_command.add_argument("--output", default="demo-output", help="where everything goes (default: demo-output)")
    grading_options(demo_command)
    demo_command.set_defaults(handler=command_demo)
    return parser


def _exit_interrupted(interrupted):
    """Say what was done, stop the sandboxes still running and leave at once (without waiting for them)."""
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, signal.SIG_IGN)  # a second Ctrl-C must not skip stopping the sandboxes
    from autograder import batch

    done = interrupted.results if interrupted.results is not None else batch.BatchResults()
    print(f"interrupted by {signal.Signals(interrupted.signal_number).name}: stopped cleanly after "
          f"{done.progress_line()}; everything committed is kept. Run the same command again to resume.",
          file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    interruption.stop_sandboxes()
    os._exit(interrupted.exit_status)


def main(argv=None):
    arguments = build_parser().parse_args(argv)
    try:
        return arguments.handler(arguments)
    except interruption.BatchInterrupted as interrupted:
        _exit_interrupted(interrupted)
    except (ValueError, sandbox.SandboxUnavailableError) as error:  # lab.LabDefinitionError is a ValueError
        print(f"error: {error}", file=sys.stderr)
        return 2
