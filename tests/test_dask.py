"""Grading on Dask: same scores as the local pool, lost workers retried, exactly-once results, resumable.

The slow tests grade lab 01 (the fastest real lab) on a real `distributed.LocalCluster` of two
worker processes bound to 127.0.0.1, started and closed here; the others check the options,
the task keys and the trusted preparation without a cluster.
"""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time

import distributed
import nbformat
import psutil
import pytest

from autograder import batch, cli, fingerprint, grading, lab as lab_module, sandbox, samples, workers
from tests.corpus import toy_adversarial
from tests.support import batch_processes, fake_grading, toy_lab

REPOSITORY = pathlib.Path(__file__).resolve().parents[1]
LAB_ID = "01_optimization_basics"
SOURCE_PATH = REPOSITORY / "solutions" / LAB_ID / f"{LAB_ID}.ipynb"
RELEASE_PATH = REPOSITORY / "labs" / LAB_ID / f"{LAB_ID}.ipynb"
GRADING_SECONDS = 240  # the most any grading run here may take, on a busy 2-core machine
SLOW_SECONDS = 3  # how long a slow submission's first answer sleeps


@pytest.fixture(scope="module")
def lab():
    return lab_module.load_lab(SOURCE_PATH)


@pytest.fixture(scope="module")
def dask_cluster():
    """Two worker processes on 127.0.0.1 for this module; yields the scheduler's address."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close(timeout=30)


@pytest.fixture
def client(dask_cluster):
    """A client of the module's cluster, once both workers are up (a killed one is restarted by its nanny).

    The grader version is read again here and on the workers, as at the start of a batch: the
    workers refuse jobs from a client whose grader differs, and this tree may be edited meanwhile.
    """
    with distributed.Client(dask_cluster, set_as_default=False, timeout=30) as connected:
        connected.wait_for_workers(2, timeout=120)
        fingerprint.grader_version.cache_clear()
        connected.run(fingerprint.grader_version.cache_clear)
        yield connected


def write_class(folder, students):
    """<folder>/<student>/01_optimization_basics.ipynb for each (student, kind).

    Kinds: complete, release, last_unfinished, and slow_complete or slow_release, whose first
    answer first sleeps SLOW_SECONDS (so that a job is surely running when a test kills its worker).
    """
    answers = samples.solution_answers(SOURCE_PATH)
    first, last = list(answers)[0], list(answers)[-1]
    pause = f"import time\ntime.sleep({SLOW_SECONDS})\n"
    notebooks = {
        "complete": lambda: samples.make_submission(RELEASE_PATH, SOURCE_PATH),
        "release": lambda: nbformat.read(str(RELEASE_PATH), as_version=4),
        "last_unfinished": lambda: samples.make_submission(
            RELEASE_PATH, SOURCE_PATH, {last: samples.unfinished(RELEASE_PATH, last)}),
        "slow_complete": lambda: samples.make_submission(RELEASE_PATH, SOURCE_PATH, {first: pause + answers[first]}),
        "slow_release": lambda: samples.make_submission(
            RELEASE_PATH, SOURCE_PATH, {grade_id: (pause if grade_id == first else "")
                                        + samples.unfinished(RELEASE_PATH, grade_id) for grade_id in answers}),
    }
    for student_id, kind in students.items():
        samples.write_notebook(notebooks[kind](), pathlib.Path(folder) / student_id / f"{LAB_ID}.ipynb")
    return batch.find_submissions(folder, [LAB_ID])


def part_scores(results):
    """(student, part) -> score of every graded result; fails on a result that is not graded."""
    not_graded = [(result.student_id, result.reason) for result in results if not result.graded]
    assert not_graded == []
    return {(result.student_id, part.grade_id): part.score for result in results for part in result.parts}


def log_counts(output, students):
    """How many times each student's result was committed to grading.log."""
    log = (output / "grading.log").read_text()
    return {student_id: log.count(f"\n{student_id} {LAB_ID}: ") for student_id in students}


def grade_in_a_thread(submissions, lab, output, engine):
    """grade_folder on the engine in a thread, so that the test can act meanwhile; returns (thread, outcome)."""
    outcome = {}

    def run():
        try:
            outcome["results"] = batch.grade_folder(submissions, [lab], output, progress=False, engine=engine)
        except BaseException as error:  # reported by the test, not lost in the thread
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def finish(thread, outcome, engine):
    """Wait (bounded) for grade_in_a_thread, close the engine and return the results."""
    thread.join(GRADING_SECONDS)
    alive = thread.is_alive()
    engine.close()
    assert not alive, "grading on the cluster did not finish in time"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["results"]


# ---------------------------------------------------------------------------
# Options, keys and preparation (no cluster).


@pytest.fixture
def toy_course(tmp_path):
    source_path = toy_lab.build(tmp_path / "solutions")
    fake_grading.write_submissions(tmp_path / "submissions", source_path, ["amy"])
    return tmp_path


def grade_toy(course, *options):
    return cli.main(["--solutions", str(course / "solutions"), "grade", str(course / "submissions"),
                     "--output", str(course / "grading"), "--quiet", *options])


@pytest.mark.parametrize("options, message", [
    (["--cluster", "local:0"], "--cluster expects local:N"),
    (["--cluster", "remote:4"], "--cluster expects local:N"),
    (["--cluster", "local"], "--cluster expects local:N"),
    (["--scheduler", "10.0.0.5:8786"], "--scheduler expects the address of a Dask scheduler"),
    (["--scheduler", "tcp://10.0.0.5"], "--scheduler expects the address of a Dask scheduler"),
])
def test_a_malformed_option_is_refused_before_anything_is_written(toy_course, capsys, options, message):
    assert grade_toy(toy_course, *options) == 2
    assert message in capsys.readouterr().err
    assert not (toy_course / "grading").exists()


def test_scheduler_and_cluster_exclude_each_other(toy_course, capsys):
    with pytest.raises(SystemExit) as exit_info:
        grade_toy(toy_course, "--scheduler", "tcp://127.0.0.1:8786", "--cluster", "local:2")
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_an_unreachable_scheduler_is_refused_after_the_timeout(toy_course, monkeypatch, capsys):
    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    monkeypatch.setattr(workers, "CONNECT_SECONDS", 1)
    started = time.monotonic()
    assert grade_toy(toy_course, "--scheduler", f"tcp://127.0.0.1:{port}") == 2
    assert time.monotonic() - started < 30
    error = capsys.readouterr().err
    assert f"the Dask scheduler at tcp://127.0.0.1:{port} did not answer within 1 s" in error
    assert "Nothing was graded" in error
    assert not (toy_course / "grading").exists()


def test_the_command_line_does_not_import_distributed_unless_asked():
    code = ("import sys\nfrom autograder import batch, cli, workers\n"
            "cli.build_parser().parse_args(['grade', 'x', '--workers', '2'])\n"
            "workers.open_engine(2).close()\n"
            "print('distributed' in sys.modules)")
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPOSITORY, capture_output=True, text=True,
                               timeout=120)
    assert completed.stdout.strip() == "False", completed.stderr


def test_a_task_key_names_the_submission_and_follows_its_fingerprint():
    item = batch.Submission("amy", LAB_ID, pathlib.Path("amy.ipynb"))
    other = batch.Submission("bob", LAB_ID, pathlib.Path("bob.ipynb"))
    key = workers.task_key(item, "f" * 64, "bwrap")
    assert key == workers.task_key(item, "f" * 64, "bwrap")
    assert key.startswith(f"sandbox-job-{LAB_ID}-amy-")
    assert len({key, workers.task_key(item, "e" * 64, "bwrap"), workers.task_key(item, "f" * 64, "none"),
                workers.task_key(other, "f" * 64, "bwrap")}) == 4
    assert workers.task_key(item, "", "bwrap") != workers.task_key(item, "", "bwrap")  # no fingerprint: never shared


def test_only_a_plain_job_leaves_the_trusted_side(tmp_path):
    lab = lab_module.load_lab(toy_lab.build(tmp_path / "solutions"))
    prepared = grading.prepare_submission(lab, lab.source_path, "amy")
    assert prepared.result is None
    assert json.loads(json.dumps(prepared.job)) == prepared.job
    assert set(prepared.job) == {"cells", "probes", "forbidden", "forbidden_kernels", "student_tools", "environment"}
    assert all("expected" not in request and "reference" not in request for request in prepared.job["probes"])
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{ not json")
    unreadable = grading.prepare_submission(lab, broken, "bob")
    assert unreadable.job is None and unreadable.result.graded and unreadable.result.score == 0
    assert grading.judge_submission(lab, unreadable, sandbox.JobResult(), {}) is unreadable.result


def test_a_worker_without_a_usable_sandbox_refuses_the_job(monkeypatch):
    def unavailable(requested="auto", allow_unsandboxed=False):
        raise sandbox.SandboxUnavailableError("the grading sandbox cannot be used: bwrap: No permissions")

    monkeypatch.setattr(sandbox, "resolve_isolation", unavailable)
    monkeypatch.setattr(sandbox, "run_job", lambda *arguments: pytest.fail("ran without a sandbox check"))
    with pytest.raises(sandbox.SandboxUnavailableError, match="No permissions"):
        workers.run_on_worker({"cells": [], "probes": []}, sandbox.Limits(), "bwrap")


# ---------------------------------------------------------------------------
# On a real cluster.


def break_the_sandbox(fake_bin):
    """On a worker: a `bwrap` that cannot start comes first on PATH (as in a container without namespaces)."""
    os.environ["PATH"] = f"{fake_bin}{os.pathsep}{os.environ['PATH']}"
    sandbox.bwrap_problem.cache_clear()


def repair_the_sandbox(fake_bin):
    os.environ["PATH"] = os.pathsep.join(part for part in os.environ["PATH"].split(os.pathsep) if part != fake_bin)
    sandbox.bwrap_problem.cache_clear()


@pytest.mark.slow
def test_the_cluster_gives_the_same_scores_per_part_as_the_local_pool(dask_cluster, client, lab, tmp_path,
                                                                      monkeypatch):
    fake_grading.read_alembic_head_once(monkeypatch)
    submissions = write_class(tmp_path / "submissions", {"ada": "complete", "ben": "release",
                                                         "cleo": "last_unfinished"})
    local = batch.grade_folder(submissions, [lab], tmp_path / "local", workers=2, progress=False)
    command = [sys.executable, "-m", "autograder", "grade", str(tmp_path / "submissions"), "--lab", LAB_ID,
               "--output", str(tmp_path / "dask"), "--quiet", "--scheduler", dask_cluster]
    completed = subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True, timeout=GRADING_SECONDS)
    assert completed.returncode == 0, completed.stderr[-3000:]
    on_dask = batch.load_results(tmp_path / "dask" / "results")
    assert part_scores(on_dask) == part_scores(local)
    assert part_scores(local)[("ada", "test_minibatch_sgd")] == 2.0
    assert part_scores(local)[("cleo", "test_minibatch_sgd")] == 0.0
    assert {result.isolation for result in on_dask} == {"bwrap"}
    assert f"sandbox jobs on: Dask scheduler {dask_cluster}" in (tmp_path / "dask" / "grading.log").read_text()


@pytest.mark.slow
def test_a_worker_without_a_working_sandbox_leaves_the_submission_not_graded(dask_cluster, client, lab, tmp_path,
                                                                             monkeypatch):
    fake_grading.read_alembic_head_once(monkeypatch)
    fake_bin = tmp_path / "fake-bin"
    fake_bin.mkdir()
    (fake_bin / "bwrap").write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    (fake_bin / "bwrap").chmod(0o755)
    submissions = write_class(tmp_path / "submissions", {"fay": "complete"})
    client.run(break_the_sandbox, str(fake_bin))
    try:
        engine = workers.DaskEngine.connect(dask_cluster)
        (result,) = finish(*grade_in_a_thread(submissions, lab, tmp_path / "grading", engine), engine)
    finally:
        client.run(repair_the_sandbox, str(fake_bin))
    assert not result.graded
    assert "the sandbox job failed on the Dask cluster (SandboxUnavailableError" in result.reason
    assert "No permissions to create new namespace" in result.reason
    assert (tmp_path / "grading" / "results" / "fay" / f"{LAB_ID}.not-graded.json").is_file()
    assert not (tmp_path / "grading" / "results" / "fay" / f"{LAB_ID}.json").exists()


def executing_sandbox_jobs(dask_worker):
    """On a worker: the keys of the sandbox jobs it is running now (its warm sandboxes may idle meanwhile)."""
    return [str(task.key) for task in dask_worker.state.executing if str(task.key).startswith("sandbox-job-")]


@pytest.mark.slow
def test_a_worker_killed_mid_task_is_retried_and_every_submission_is_graded_once(dask_cluster, client, lab,
                                                                                  tmp_path, monkeypatch):
    fake_grading.read_alembic_head_once(monkeypatch)
    students = {"gus": "slow_complete", "hal": "slow_release", "ivy": "slow_complete"}
    submissions = write_class(tmp_path / "submissions", students)
    worker_pids = client.run(os.getpid)
    engine = workers.DaskEngine.connect(dask_cluster)
    thread, outcome = grade_in_a_thread(submissions, lab, tmp_path / "grading", engine)
    killed, interrupted_keys = None, []
    deadline = time.monotonic() + GRADING_SECONDS
    while killed is None and thread.is_alive() and time.monotonic() < deadline:
        busy = {address: keys for address, keys in client.run(executing_sandbox_jobs).items() if keys}
        if busy:
            address, interrupted_keys = next(iter(busy.items()))
            time.sleep(0.5)  # inside the job: its first answer sleeps SLOW_SECONDS
            killed = worker_pids[address]
        else:
            time.sleep(0.05)
    assert killed is not None, "no sandbox job was seen running on a worker"
    os.kill(killed, signal.SIGKILL)
    results = finish(thread, outcome, engine)
    expected = {(student_id, part.grade_id): part.points if kind == "slow_complete" else 0.0
                for student_id, kind in students.items() for part in lab.parts}
    assert part_scores(results) == expected  # the interrupted job included: it ran again elsewhere
    assert len(interrupted_keys) == 1 and interrupted_keys[0].startswith(f"sandbox-job-{LAB_ID}-")
    assert log_counts(tmp_path / "grading", students) == {student_id: 1 for student_id in students}
    assert sorted(batch.load_results(tmp_path / "grading" / "results"), key=lambda result: result.student_id) \
        == sorted(results, key=lambda result: result.student_id)
    client.wait_for_workers(2, timeout=120)
    assert killed not in client.run(os.getpid).values(), "the killed worker should have been replaced"


def test_the_adversarial_corpus_scores_exactly_as_on_the_local_pool(dask_cluster, client, tmp_path):
    """Every tampered or broken toy-lab submission, graded on the cluster, gets its exact expected score."""
    corpus_lab, submissions = toy_adversarial.write_class(tmp_path)
    engine = workers.DaskEngine.connect(dask_cluster)
    thread, outcome = grade_in_a_thread(submissions, corpus_lab, tmp_path / "grading", engine)
    results = finish(thread, outcome, engine)
    got = {result.student_id: {part.grade_id: part.score for part in result.parts} for result in results}
    assert got == toy_adversarial.expected_scores()


@pytest.mark.slow
def test_an_interrupted_client_resumes_with_the_same_command_and_skips_what_was_committed(tmp_path):
    students = {f"student{index}": "complete" for index in range(3)}
    write_class(tmp_path / "submissions", students)
    output = tmp_path / "grading"
    command = [sys.executable, "-m", "autograder", "grade", str(tmp_path / "submissions"), "--lab", LAB_ID,
               "--output", str(output), "--quiet", "--cluster", "local:2"]
    process = subprocess.Popen(command, cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        batch_processes.wait_for_first_result(process, output / "results", LAB_ID)
        running = psutil.Process(process.pid).children(recursive=True)  # the cluster's processes, the sandboxes
        process.send_signal(signal.SIGINT)
        out, error = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, (out, error[-3000:])
    assert "interrupted by SIGINT" in error and "Run the same command again to resume" in error
    _, alive = psutil.wait_procs(running, timeout=15)
    assert [member.pid for member in alive] == [], "cluster or sandbox processes left running"
    done = sorted(path.parent.name for path in (output / "results").glob(f"*/{LAB_ID}.json"))
    assert 1 <= len(done) < len(students)
    assert sorted(path.name for path in (output / "results").glob("**/*.tmp")) == []

    completed = subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True, timeout=GRADING_SECONDS)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert f"{len(students) - len(done)} graded, {len(done)} skipped (unchanged), 0 not graded" in completed.stdout
    results = batch.load_results(output / "results")
    assert part_scores(results) == {(student_id, part.grade_id): part.points
                                    for student_id in students for part in lab_module.load_lab(SOURCE_PATH).parts}
    assert log_counts(output, students) == {student_id: 1 for student_id in students}
