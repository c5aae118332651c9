"""A real browser in a real formgrader: a course graded by the project is reviewed, adjusted, regraded and fed back.

Headless Chromium (Debian's, driven by Playwright) talks to JupyterLab on 127.0.0.1. Each step
leaves a screenshot under test-artifacts/browser/, kept after the test for a person to look at.
"""

import contextlib
import dataclasses
import os
import pathlib
import socket
import subprocess
import sys
import time

import nbformat
import psutil
import pytest
from nbgrader import api as nbgrader_api
from traitlets.config import loader as config_loader

from autograder import samples
from tests.support import browser, toy_lab

LAB_ID = toy_lab.LAB_ID
COMPLETE_STUDENT, UNFINISHED_STUDENT = "ada", "ben"
COMMAND_SECONDS = 300
PAGE_MILLISECONDS = 30_000


class Steps:
    """Runs the course's commands and keeps their output, the screenshots and a log in the artefact folder."""

    def __init__(self, folder, environment):
        self.folder = folder
        self.environment = environment
        self.log_path = folder / "commands.log"
        self.screenshots = 0

    def run(self, command, cwd, environment=None):
        """Run a command to completion; fail the test with its output when it does not succeed."""
        started = time.monotonic()
        try:
            completed = subprocess.run(command, cwd=cwd, env=environment or self.environment, stdin=subprocess.DEVNULL,
                                       capture_output=True, text=True, timeout=COMMAND_SECONDS)
        except subprocess.TimeoutExpired as timeout:
            pytest.fail(f"{' '.join(map(str, command))} did not finish in {COMMAND_SECONDS} s "
                        f"(cwd {cwd}); output:\n{timeout.stdout}\n{timeout.stderr}")
        output = completed.stdout + completed.stderr
        with open(self.log_path, "a") as log:
            log.write(f"$ (cd {cwd} && {' '.join(map(str, command))})  # {time.monotonic() - started:.1f} s, "
                      f"exit {completed.returncode}\n{output}\n")
        if completed.returncode != 0:
            pytest.fail(f"{' '.join(map(str, command))} exited with {completed.returncode} (cwd {cwd}):\n{output}")
        return output

    def autograder(self, *arguments, cwd):
        return self.run([sys.executable, "-m", "autograder", *map(str, arguments)], cwd)

    def nbgrader(self, *arguments, cwd, environment=None):
        return self.run([sys.executable, "-m", "nbgrader", *map(str, arguments)], cwd, environment)

    def student_environment(self, home):
        """Each student has their own Jupyter data folder, so nbgrader's submission cache is theirs alone."""
        return dict(self.environment, JUPYTER_DATA_DIR=str(home / ".jupyter-data"))

    def screenshot(self, page, name):
        """Save a full-page screenshot named NN_name.png."""
        self.screenshots += 1
        path = self.folder / f"{self.screenshots:02d}_{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


def _course_settings(course):
    """The course id and exchange root from the course's nbgrader_config.py, as nbgrader reads them."""
    config = config_loader.PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    course_id = config.CourseDirectory.get("course_id", "")
    exchange_root = config.Exchange.get("root", "")
    if not course_id or not exchange_root:
        pytest.fail(f"{course}/nbgrader_config.py must set c.CourseDirectory.course_id and c.Exchange.root "
                    f"(found {course_id!r} and {exchange_root!r})")
    return course_id, pathlib.Path(exchange_root)


@dataclasses.dataclass(frozen=True)
class Course:
    """An nbgrader course on the toy lab: where it is, its solutions, its id and its exchange."""

    root: pathlib.Path
    solutions: pathlib.Path
    course_id: str
    exchange_root: pathlib.Path

    def student_options(self):
        """What a student's nbgrader commands need to find this course's exchange."""
        return [f"--course={self.course_id}", f"--Exchange.root={self.exchange_root}"]


def build_course(steps, tmp_path):
    """An nbgrader course on the toy lab, generated and released through its exchange."""
    solutions = tmp_path / "solutions"
    toy_lab.build(solutions)
    root = tmp_path / "course"
    steps.autograder("--solutions", solutions, "init-course", root, "--labs", LAB_ID, cwd=tmp_path)
    course = Course(root, solutions, *_course_settings(root))
    steps.nbgrader("generate_assignment", LAB_ID, "--force", cwd=root)
    steps.nbgrader("release_assignment", LAB_ID, "--force", cwd=root)
    return course


def submit_students(steps, tmp_path, course):
    """Two students submit through the exchange (one complete, one unfinished) and the instructor collects."""
    release_path = course.root / "release" / LAB_ID / f"{LAB_ID}.ipynb"
    source_path = course.solutions / LAB_ID / f"{LAB_ID}.ipynb"
    notebooks = {COMPLETE_STUDENT: samples.make_submission(release_path, source_path),
                 UNFINISHED_STUDENT: nbformat.read(str(release_path), as_version=4)}
    for student_id, notebook in notebooks.items():
        home = tmp_path / "students" / student_id
        samples.write_notebook(notebook, home / LAB_ID / f"{LAB_ID}.ipynb")
        steps.nbgrader("submit", LAB_ID, f"--student={student_id}", *course.student_options(), cwd=home,
                       environment=steps.student_environment(home))
    steps.nbgrader("collect", LAB_ID, "--CollectApp.check_owner=False", cwd=course.root)
    for student_id in notebooks:
        submitted = course.root / "submitted" / student_id / LAB_ID
        if not (submitted / f"{LAB_ID}.ipynb").is_file() or not (submitted / "timestamp.txt").is_file():
            pytest.fail(f"nbgrader collect did not put {student_id}'s submission and timestamp in {submitted}")


def grade(steps, course, *options):
    """The project's trusted grading of the whole course, from its command line."""
    steps.autograder("--solutions", course.solutions, "grade", course.root, "--lab", LAB_ID, "--quiet", *options,
                     cwd=course.root.parent)


def check_graded_course(course):
    """The project's grading must leave the course as formgrader reads it (the helpers' contract)."""
    database = course.root / "gradebook.db"
    with nbgrader_api.Gradebook(f"sqlite:///{database}") as book:
        graded = sorted(submission.student.id for submission in book.assignment_submissions(LAB_ID))
    if graded != sorted([COMPLETE_STUDENT, UNFINISHED_STUDENT]):
        pytest.fail(f"`python -m autograder grade {course.root}` must record both submissions in {database}; found {graded}")
    for student_id in graded:
        autograded = course.root / "autograded" / student_id / LAB_ID / f"{LAB_ID}.ipynb"
        if not autograded.is_file():
            pytest.fail(f"`python -m autograder grade {course.root}` must write {autograded} for formgrader to open it")


def submission_notebook_id(course, student_id):
    """formgrader's id of one student's submitted notebook."""
    with nbgrader_api.Gradebook(f"sqlite:///{course.root / 'gradebook.db'}") as book:
        return book.find_submission_notebook(LAB_ID, LAB_ID, student_id).id


def read_grade(course, student_id, grade_id):
    """(auto score, manual score, extra credit) of one part, read with nbgrader's own API as formgrader does."""
    with nbgrader_api.Gradebook(f"sqlite:///{course.root / 'gradebook.db'}") as book:
        grade = book.find_grade(grade_id, LAB_ID, LAB_ID, student_id)
        return grade.auto_score, grade.manual_score, grade.extra_credit


def release_feedback(steps, tmp_path, course):
    """Write feedback, release it through the exchange and fetch it as the complete student; returns its HTML path."""
    steps.autograder("--solutions", course.solutions, "feedback", "--course", course.root, cwd=tmp_path)
    steps.nbgrader("release_feedback", LAB_ID, cwd=course.root)
    home = tmp_path / "students" / COMPLETE_STUDENT
    steps.nbgrader("fetch_feedback", LAB_ID, f"--student={COMPLETE_STUDENT}", *course.student_options(),
                   cwd=home, environment=steps.student_environment(home))
    fetched = sorted((home / LAB_ID / "feedback").glob(f"*/{LAB_ID}.html"))
    if not fetched:
        pytest.fail(f"nbgrader fetch_feedback put no {LAB_ID}.html under {home / LAB_ID / 'feedback'}")
    return fetched[-1]


def _open_manual_grading(page, server, steps, course, student_id):
    """From formgrader's manual-grading list to one student's submission; fails on formgrader's 404 page."""
    page.goto(f"{server.url}/formgrader/gradebook/{LAB_ID}/{LAB_ID}")
    notebook_id = submission_notebook_id(course, student_id)
    link = page.locator(f"a[href$='/formgrader/submissions/{notebook_id}']:visible").first
    link.wait_for(timeout=PAGE_MILLISECONDS)
    steps.screenshot(page, f"manual_grading_list_{student_id}")
    link.click()
    page.wait_for_load_state("networkidle")
    if page.locator("#test_relu").count() == 0:
        steps.screenshot(page, f"submission_{student_id}_missing")
        pytest.fail(f"formgrader did not display {student_id}'s submission ({page.url}): "
                    f"{page.locator('body').inner_text()[:1000]}")


def _set_part_score(page, selector, value):
    """Type a score into formgrader's field and wait for its save to reach the server."""
    with page.expect_response(lambda response: "/formgrader/api/grade/" in response.url
                              and response.request.method == "PUT", timeout=PAGE_MILLISECONDS) as saved:
        page.fill(selector, value)
        page.press(selector, "Tab")
    if not saved.value.ok:
        pytest.fail(f"formgrader refused the score {value} in {selector}: HTTP {saved.value.status}")


def _field(sync_api, page, selector, name, expected):
    """A field's value or placeholder once formgrader's script has filled it in: what it shows after waiting
    (up to the page limit) for the expected text."""
    script = "([selector, name, expected]) => document.querySelector(selector)?.[name] === expected"
    with contextlib.suppress(sync_api.TimeoutError):  # then report what the page shows instead
        page.wait_for_function(script, arg=[selector, name, expected], timeout=PAGE_MILLISECONDS)
    return page.eval_on_selector(selector, "(element, name) => element[name]", name)


def _playwright():
    """Playwright's synchronous API; the test fails (never skips) when it is not installed."""
    try:
        from playwright import sync_api
    except ImportError as missing:
        pytest.fail(f"Playwright is not installed ({missing}): run `make install` (requirements.txt pins it)")
    return sync_api


def walk_through_formgrader(sync_api, page, steps, server, course, tmp_path):
    """The instructor's path: formgrader, a graded submission, a manual score, a regrade, the released feedback."""
    page.goto(f"{server.url}/formgrader?token={server.token}")
    page.locator(f"text={LAB_ID}").first.wait_for()
    steps.screenshot(page, "formgrader_assignments")

    _open_manual_grading(page, server, steps, course, UNFINISHED_STUDENT)
    steps.screenshot(page, f"submission_{UNFINISHED_STUDENT}_graded")
    assert _field(sync_api, page, "#test_relu", "placeholder", "0") == "0"  # the project's automatic score
    _set_part_score(page, "#test_relu", "1.5")
    _set_part_score(page, "#test_square_extra_credit", "0.5")
    steps.screenshot(page, f"submission_{UNFINISHED_STUDENT}_manual_score")
    assert read_grade(course, UNFINISHED_STUDENT, "test_relu")[1:] == (1.5, None)
    assert read_grade(course, UNFINISHED_STUDENT, "test_square")[1:] == (None, 0.5)

    grade(steps, course, "--force")
    page.reload()
    page.wait_for_load_state("networkidle")
    assert _field(sync_api, page, "#test_relu", "value", "1.5") == "1.5"
    assert _field(sync_api, page, "#test_square_extra_credit", "value", "0.5") == "0.5"
    steps.screenshot(page, f"submission_{UNFINISHED_STUDENT}_after_regrade")
    assert read_grade(course, UNFINISHED_STUDENT, "test_relu") == (0.0, 1.5, None)
    assert read_grade(course, UNFINISHED_STUDENT, "test_square") == (0.0, None, 0.5)
    log = (course.root / "autograder" / "grading.log").read_text()
    assert f"{UNFINISHED_STUDENT} {LAB_ID} test_relu: kept manual score 1.5 (new automatic score 0)" in log
    with nbgrader_api.Gradebook(f"sqlite:///{course.root / 'gradebook.db'}") as book:
        assert book.find_submission(LAB_ID, UNFINISHED_STUDENT).score == 2.0  # manual 1.5 + extra credit 0.5

    _open_manual_grading(page, server, steps, course, COMPLETE_STUDENT)
    steps.screenshot(page, f"submission_{COMPLETE_STUDENT}_graded")
    assert _field(sync_api, page, "#test_relu", "placeholder", "2") == "2"

    feedback_path = release_feedback(steps, tmp_path, course)
    page.goto(feedback_path.resolve().as_uri())
    steps.screenshot(page, f"feedback_{COMPLETE_STUDENT}")
    assert LAB_ID in page.locator("body").inner_text()


def drive_formgrader(steps, server, course, tmp_path, chromium):
    """Headless Chromium through formgrader; a screenshot at a failure; the browser closed whatever happens."""
    sync_api = _playwright()
    server_errors = []
    with sync_api.sync_playwright() as playwright:
        chromium_browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            context = chromium_browser.new_context(viewport={"width": 1280, "height": 900},
                                                   extra_http_headers={"Authorization": f"token {server.token}"})
            page = context.new_page()
            page.set_default_timeout(PAGE_MILLISECONDS)
            page.on("response", lambda response: server_errors.append(f"{response.status} {response.url}")
                    if response.status >= 500 else None)
            try:
                walk_through_formgrader(sync_api, page, steps, server, course, tmp_path)
            except BaseException:
                with contextlib.suppress(sync_api.Error):  # never hide the failure behind a second one
                    steps.screenshot(page, "at_failure")
                raise
        finally:
            chromium_browser.close()
    if server_errors:
        pytest.fail(f"formgrader answered with server errors: {server_errors}")


def test_missing_chromium_names_the_way_to_install_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="make browser.*apt-get install chromium"):
        browser.find_chromium(search_path=str(tmp_path))


def test_artifact_folder_is_emptied_and_refuses_paths(tmp_path):
    folder = browser.artifact_folder("run", root=tmp_path)
    (folder / "old.png").write_text("from an earlier run")
    assert list(browser.artifact_folder("run", root=tmp_path).iterdir()) == []
    with pytest.raises(ValueError, match="single folder name"):
        browser.artifact_folder("../elsewhere", root=tmp_path)


def test_jupyter_environment_keeps_user_settings_out(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_TOKEN", "leaked")
    environment = browser.jupyter_environment(tmp_path)
    assert environment["JUPYTER_CONFIG_DIR"] == str(tmp_path / "config")
    assert (tmp_path / "data").is_dir() and "JUPYTER_TOKEN" not in environment
    assert environment["PATH"].split(os.pathsep)[0] == os.path.dirname(sys.executable)


def test_free_port_is_on_localhost_and_unused():
    port = browser.free_port()
    with socket.create_server((browser.LOCALHOST, port)):
        pass


def test_stop_process_group_ends_the_process_and_its_children():
    parent = subprocess.Popen(["sh", "-c", "sleep 60 & wait"], start_new_session=True)
    deadline = time.monotonic() + 10
    while not psutil.Process(parent.pid).children() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = psutil.Process(parent.pid).children()[0]
    browser.stop_process_group(parent, grace_seconds=5)
    assert parent.poll() is not None
    child.wait(5)  # raises psutil.TimeoutExpired while the child lives on
    assert not child.is_running()


@pytest.mark.slow
def test_formgrader_reviews_a_course_graded_by_the_project(tmp_path, capsys):
    try:
        chromium = browser.find_chromium()
    except FileNotFoundError as missing:
        pytest.fail(str(missing))
    artifacts = browser.artifact_folder("formgrader")
    with capsys.disabled():
        print(f"\nbrowser test artefacts (screenshots, command output, JupyterLab log): {artifacts}")
    environment = browser.jupyter_environment(tmp_path / "jupyter")
    steps = Steps(artifacts, environment)
    course = build_course(steps, tmp_path)
    submit_students(steps, tmp_path, course)
    grade(steps, course)
    check_graded_course(course)

    with browser.jupyter_lab(course.root, artifacts / "jupyterlab.log", environment) as server:
        addresses = server.listening_addresses()
        assert addresses and {ip for ip, _ in addresses} == {browser.LOCALHOST}, addresses
        drive_formgrader(steps, server, course, tmp_path, chromium)
    assert server.process.poll() is not None
    with capsys.disabled():
        print(f"browser test: {steps.screenshots} screenshots in {artifacts}")
