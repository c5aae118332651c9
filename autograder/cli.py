"""Command line: python -m autograder release|publish|init-course|grade|export|feedback|mutants|demo.

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

    for path in release.stamp_solutions(arguments.solutions):
        print(f"stamped the student repository {release.student_repository()} into {path}")
    ids = arguments.labs or release.lab_ids(arguments.solutions)
    for lab_id in ids:
        target = release.release_lab(lab_id, arguments.solutions, arguments.labs_folder)
        print(f"released {lab_id} -> {target}")
    return 0


def command_publish(arguments):
    from autograder import publish

    written = publish.publish(arguments.output_directory, arguments.solutions)
    print(f"published the student repository into {written} (labs/, labkit/, pyproject.toml, README.md, "
          "requirements-student.txt); push it to "
          f"https://github.com/{publish.release.student_repository()}")
    return 0


def _late_plugin(arguments):
    """The late-penalty plugin: --late-plugin, else the nbgrader course's configured one, else nbgrader's."""
    from autograder import late_penalty

    submissions = pathlib.Path(arguments.submissions)
    course_root = submissions if (submissions / late_penalty.CONFIG_FILE).is_file() else None
    return late_penalty.make_plugin(course_root, arguments.late_plugin)


def _course_root(submissions):
    """The nbgrader course whose root SUBMISSIONS is (it holds nbgrader_config.py and submitted/), else None."""
    from autograder import course

    return pathlib.Path(submissions) if course.is_course_root(submissions) else None


def command_grade(arguments):
    from autograder import batch, reports

    course_root = _course_root(arguments.submissions)
    if arguments.output is None:
        arguments.output = str(course_root / "autograder") if course_root is not None else "grading"
    labs = _labs(arguments.solutions, arguments.lab)
    discovery = batch.discover_submissions(arguments.submissions, [lab.lab_id for lab in labs])
    for message in discovery.skipped:
        print(f"warning: {message}", file=sys.stderr)
    if not discovery.submissions:
        print(f"no submissions found in {arguments.submissions} (expected <student>/<lab_id>.ipynb "
              "or nbgrader's submitted/<student>/<lab_id>/<lab_id>.ipynb)", file=sys.stderr)
        return 1
    late_plugin = _late_plugin(arguments)  # a plugin that cannot be loaded refuses before anything starts
    from autograder import workers  # distributed itself is imported only for --scheduler or --cluster

    with workers.open_engine(arguments.workers, arguments.scheduler, arguments.cluster) as engine:
        results = batch.grade_folder(discovery.submissions, labs, arguments.output, arguments.workers,
                                     arguments.isolation, progress=not arguments.quiet,
                                     allow_unsandboxed=arguments.allow_unsandboxed, force=arguments.force,
                                     skipped_folders=discovery.skipped, engine=engine,
                                     timestamps_csv=arguments.timestamps, late_plugin=late_plugin,
                                     course_root=course_root)
    print(reports.summary_table(results))
    print(results.progress_line())
    print(f"gradebook: {pathlib.Path(course_root or arguments.output) / 'gradebook.db'}; "
          f"log: {pathlib.Path(arguments.output) / 'grading.log'}")
    if any(result.isolation != "bwrap" for result in results if result.graded):
        print("WARNING: graded WITHOUT the bubblewrap sandbox (reduced isolation); see grading.log",
              file=sys.stderr)
    if results.not_graded:
        print(f"{results.not_graded} submission(s) were not graded (see above and grading.log); "
              "run the same command again to retry them", file=sys.stderr)
        return EXIT_NOT_GRADED
    return 0


def command_init_course(arguments):
    from autograder import course

    # An existing course (course.CourseExistsError) and bad arguments are ValueErrors: exit status 2.
    lab_ids = course.init_course(arguments.course, arguments.solutions, arguments.labs, arguments.exchange,
                                 arguments.course_id, arguments.force)
    print(f"nbgrader course in {arguments.course}: source/ and release/ for {', '.join(lab_ids)}")
    print(course.next_steps(arguments.course, lab_ids))
    return 0


def command_export(arguments):
    from autograder import batch, lms_export

    course_root = pathlib.Path(arguments.course) if arguments.course else None
    output = pathlib.Path(arguments.output or (course_root / "autograder" if course_root else "grading"))
    if arguments.format == "parts":
        if arguments.roster:
            raise ValueError("--roster applies to --format canvas only")
        path = batch.export_csv(output, arguments.csv)
    else:
        database = arguments.gradebook or (course_root or output) / "gradebook.db"
        csv_path = arguments.csv or output / f"{arguments.format}.csv"
        path, warnings = lms_export.export(database, csv_path, arguments.format, arguments.roster)
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
    print(f"wrote {path}")
    return 0


def command_feedback(arguments):
    from autograder import batch

    output = arguments.output or (pathlib.Path(arguments.course) / "autograder" if arguments.course else "grading")
    paths = batch.write_all_feedback(output, arguments.feedback, arguments.solutions, arguments.course,
                                     model_answers=arguments.model_answers)
    print(f"wrote {len(paths)} feedback files under {pathlib.Path(paths[0]).parent.parent if paths else '-'}")
    if arguments.course:
        print(f"and under {pathlib.Path(arguments.course) / 'feedback'}; hand them back with "
              "`nbgrader release_feedback LAB` in the course folder")
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
        command.add_argument("--backend", choices=("tensorflow", "jax", "torch"),
                             help="the Keras backend to grade on, references included (default: $KERAS_BACKEND, "
                                  "else tensorflow)")
        command.add_argument("--gpus", metavar="all|0,2",
                             help="let sandboxes use these NVIDIA GPUs, one job per GPU at a time (default: none; "
                                  "each sandbox sees only its GPU)")
        command.add_argument("--jobs-per-gpu", type=int, default=1, metavar="N",
                             help="with --gpus: jobs sharing one GPU at a time (default 1)")

    release_command = commands.add_parser("release", help="generate student notebooks into labs/")
    release_command.add_argument("labs", nargs="*", help="lab ids (default: all)")
    release_command.add_argument("--labs-folder", default="labs", help="where releases go (default: labs)")
    release_command.set_defaults(handler=command_release)

    course_command = commands.add_parser("init-course", help="create an nbgrader course with trusted grading")
    course_command.add_argument("course", help="the course folder to create (COURSE)")
    course_command.add_argument("--labs", nargs="+", metavar="LAB", help="lab ids (default: all)")
    course_command.add_argument("--exchange", metavar="DIR",
                                help="nbgrader's exchange folder (default: COURSE/exchange)")
    course_command.add_argument("--course-id", help="nbgrader course id (default: the folder's name)")
    course_command.add_argument("--force", action="store_true",
                                help="rewrite an existing nbgrader_config.py and source/ (grades are kept)")
    course_command.set_defaults(handler=command_init_course)

    publish_command = commands.add_parser(
        "publish", help="write the public student repository: labs/, labkit only, README, requirements")
    publish_command.add_argument("output_directory", metavar="OUT_DIR",
                                 help="an empty folder or an earlier publish output (never solutions or tests)")
    publish_command.set_defaults(handler=command_publish)

    grade_command = commands.add_parser("grade", help="grade a folder of submissions")
    grade_command.add_argument("submissions", help="<student>/<lab_id>.ipynb folders, or an nbgrader course root")
    grade_command.add_argument("--lab", action="append", help="only this lab (repeatable)")
    grade_command.add_argument("--output", default=None,
                               help="results and log, and the gradebook unless SUBMISSIONS is an nbgrader course "
                                    "(whose own gradebook.db is used) (default: grading, or COURSE/autograder)")
    grade_command.add_argument("--quiet", action="store_true", help="no progress bar")
    grade_command.add_argument("--force", action="store_true",
                               help="grade everything again (default: skip submissions graded before and unchanged)")
    grade_command.add_argument("--timestamps", metavar="CSV",
                               help="when each notebook was submitted: a CSV of student_id,lab_id,timestamp "
                                    "(default: nbgrader's timestamp.txt, or <student>/<lab_id>.timestamp.txt)")
    grade_command.add_argument("--late-plugin", metavar="MODULE:CLASS",
                               help="nbgrader LateSubmissionPlugin subclass for late penalties (default: the "
                                    "course's c.AssignLatePenalties.plugin_class, else nbgrader's: no penalty)")
    grading_options(grade_command)
    scale_out = grade_command.add_mutually_exclusive_group()
    scale_out.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                           help="run the sandbox jobs on the workers of an existing Dask cluster; verdicts, "
                                "gradebook and feedback stay here (see docs/scale-out.md)")
    scale_out.add_argument("--cluster", metavar="local:N",
                           help="start a Dask cluster of N worker processes on this machine for the batch "
                                "(instead of --workers threads) and close it afterwards")
    grade_command.set_defaults(handler=command_grade)

    export_command = commands.add_parser("export", help="write the CSV of part scores, or grades for an LMS")
    export_command.add_argument("--output", help="the grading folder (default: grading, or COURSE/autograder)")
    export_command.add_argument("--format", choices=("parts", "canvas", "totals"), default="parts",
                                help="parts: part scores from results/ (default); canvas: a Canvas gradebook "
                                     "import; totals: one row per student, one column per lab (both from the "
                                     "gradebook, with formgrader's manual scores and late penalties)")
    export_command.add_argument("--roster", metavar="CSV",
                                help="for canvas: student_id,name,canvas_id,sis_user_id,sis_login_id,section "
                                     "(default: students matched by SIS User ID = their grading id)")
    export_command.add_argument("--gradebook", help="gradebook file (default: <output>/gradebook.db, or "
                                                    "COURSE/gradebook.db with --course)")
    export_command.add_argument("--course", help="nbgrader course root: its gradebook, output COURSE/autograder")
    export_command.add_argument("--csv", help="CSV path (default: <output>/grades.csv, canvas.csv or totals.csv)")
    export_command.set_defaults(handler=command_export)

    feedback_command = commands.add_parser("feedback", help="write per-student feedback HTML")
    feedback_command.add_argument("--output", help="the grading folder (default: grading, or COURSE/autograder)")
    feedback_command.add_argument("--course", help="nbgrader course root: also write COURSE/feedback/<student>/<lab>/")
    feedback_command.add_argument("--feedback", help="feedback folder (default: <output>/feedback)")
    feedback_command.add_argument("--model-answers", action="store_true",
                                  help="end each page with the lab's discussion questions and their model answers "
                                       "(off by default)")
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


def _use_backend(arguments):
    """Grade on the backend asked for: the sandboxes and the reference cache read KERAS_BACKEND."""
    backend = getattr(arguments, "backend", None)
    if not backend:
        return
    import importlib.util

    if importlib.util.find_spec(backend) is None:
        raise ValueError(f"--backend {backend}: the {backend} package is not installed in this Python "
                         f"({sys.executable}); install it (see README, 'Backends') or choose another backend")
    os.environ["KERAS_BACKEND"] = backend


def _use_gpus(arguments):
    """Check --gpus against this machine and hand it to the sandboxes (and local Dask workers) by environment."""
    if not getattr(arguments, "gpus", None):
        return
    from autograder import gpus

    gpus.parse_request(arguments.gpus, gpus.device_indices())  # ValueError naming what is missing
    gpus.jobs_per_gpu(arguments.jobs_per_gpu)
    os.environ[gpus.GPU_VARIABLE] = arguments.gpus
    os.environ[gpus.JOBS_PER_GPU_VARIABLE] = str(arguments.jobs_per_gpu)


def main(argv=None):
    arguments = build_parser().parse_args(argv)
    try:
        _use_backend(arguments)
        _use_gpus(arguments)
        return arguments.handler(arguments)
    except interruption.BatchInterrupted as interrupted:
        _exit_interrupted(interrupted)
    except (ValueError, sandbox.SandboxUnavailableError) as error:  # lab.LabDefinitionError is a ValueError
        print(f"error: {error}", file=sys.stderr)
        return 2
