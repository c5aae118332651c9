"""The student repository: the configured URL, stamping, `publish`, and nothing of the instructor's leaking out."""

import importlib.metadata
import json
import pathlib
import shutil
import subprocess
import sys
import sysconfig
import tomllib

import nbformat
import pytest

from autograder import publish, release

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
FAST_LAB = "01_optimization_basics"
INSTRUCTOR = release.github_repository(release.course_settings()["instructor_repository"])
STUDENT = release.student_repository()


def run_cli(*arguments, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "autograder", *arguments], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """One publish through the command line, shared by the tests that only read it."""
    output = tmp_path_factory.mktemp("student") / "repository"
    completed = run_cli("publish", str(output))
    assert completed.returncode == 0, completed.stderr
    return output


def write_project_file(folder, table):
    path = folder / "pyproject.toml"
    path.write_text(f"[project]\nname = 'x'\n\n{table}\n")
    return path


def test_course_settings_read_the_student_repository(tmp_path):
    path = write_project_file(tmp_path, '[tool.labkit]\nstudent_repository = "https://github.com/org/labs"')
    assert release.student_repository(path) == "org/labs"


@pytest.mark.parametrize("table", ["", "[tool.labkit]\nstudent_repository = 3", "[tool.labkit\n"])
def test_course_settings_without_a_student_repository_say_what_to_add(tmp_path, table):
    path = write_project_file(tmp_path, table)
    with pytest.raises(ValueError, match="student_repository|cannot read"):
        release.course_settings(path)


@pytest.mark.parametrize("url, expected", [
    ("https://github.com/org/labs", "org/labs"),
    ("https://github.com/org/labs.git", "org/labs"),
    ("https://github.com/my-org/deep.learning_labs/", "my-org/deep.learning_labs"),
])
def test_github_repository_accepts_github_urls(url, expected):
    assert release.github_repository(url) == expected


@pytest.mark.parametrize("url", ["https://gitlab.com/org/labs", "github.com/org/labs", "https://github.com/org"])
def test_github_repository_rejects_other_urls(url):
    with pytest.raises(ValueError, match="GitHub URL"):
        release.github_repository(url)


def test_stamp_notebook_points_the_install_and_colab_links_at_the_repository():
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('pip("labkit @ git+https://github.com/old/private")'),
        nbformat.v4.new_markdown_cell("[Colab](https://colab.research.google.com/github/old/private/blob/main/labs/x)"),
        nbformat.v4.new_markdown_cell("Keras itself: `pip install git+https://github.com/keras-team/keras`"),
    ])
    assert release.stamp_notebook(notebook, "org/labs")
    assert notebook.cells[0].source == 'pip("labkit @ git+https://github.com/org/labs")'
    assert "github/org/labs/blob/main/labs/x" in notebook.cells[1].source
    assert "github.com/keras-team/keras" in notebook.cells[2].source  # other links stay as they are
    assert not release.stamp_notebook(notebook, "org/labs")  # already stamped


def test_every_install_cell_names_the_student_repository_and_keeps_the_runtime():
    for folder in ("solutions", "labs"):
        for path in sorted((ROOT / folder).glob("*/*.ipynb")):
            install = next(cell for cell in nbformat.read(str(path), 4).cells if "pip" in cell.source)
            assert f"labkit @ git+https://github.com/{STUDENT}" in install.source, path
            assert '"--no-deps"' in install.source, f"{path}: the install must never change TensorFlow/Keras/NumPy"
            assert INSTRUCTOR not in path.read_text(), path


def test_stamp_solutions_and_release_differences_on_a_copy(tmp_path):
    solutions = tmp_path / "solutions"
    shutil.copytree(SOLUTIONS / FAST_LAB, solutions / FAST_LAB)
    release.release_lab(FAST_LAB, solutions, tmp_path / "labs")
    assert release.release_differences(solutions, tmp_path / "labs") == []
    assert release.unstamped_solutions(solutions, "org/other") == [solutions / FAST_LAB / f"{FAST_LAB}.ipynb"]
    assert release.stamp_solutions(solutions, "org/other") == [solutions / FAST_LAB / f"{FAST_LAB}.ipynb"]
    assert release.stamp_solutions(solutions, "org/other") == []
    # The configured repository is STUDENT, so the copy is now out of step, and the check says so.
    differences = release.release_differences(solutions, tmp_path / "labs")
    assert str(solutions / FAST_LAB / f"{FAST_LAB}.ipynb") in differences


def test_release_lab_stamps_the_release_and_leaves_the_solutions_alone(tmp_path):
    solutions = tmp_path / "solutions"
    shutil.copytree(SOLUTIONS / FAST_LAB, solutions / FAST_LAB)
    source = solutions / FAST_LAB / f"{FAST_LAB}.ipynb"
    before = source.read_bytes()
    target = release.release_lab(FAST_LAB, solutions, tmp_path / "labs", repository="org/other")
    assert "git+https://github.com/org/other" in (target / f"{FAST_LAB}.ipynb").read_text()
    assert source.read_bytes() == before


def test_published_repository_holds_labs_labkit_readme_and_requirements(published):
    lab_ids = release.lab_ids(SOLUTIONS)
    assert sorted(path.name for path in (published / "labs").iterdir()) == lab_ids
    assert (published / "labkit" / "checks.py").is_file()
    assert not list(published.rglob("__pycache__"))
    top_level = {path.name for path in published.iterdir()}
    assert top_level == {"labs", "labkit", "pyproject.toml", "README.md", "requirements-student.txt",
                         publish.MARKER_FILE}
    project = tomllib.loads((published / "pyproject.toml").read_text())
    assert project["project"]["name"] == "labkit"
    assert project["tool"]["setuptools"]["packages"] == ["labkit"]
    readme = (published / "README.md").read_text()
    for lab_id in lab_ids:
        assert (f"https://colab.research.google.com/github/{STUDENT}/blob/main/labs/{lab_id}/{lab_id}.ipynb"
                in readme)
    assert "Zalando" in readme and "CC BY-SA 3.0" in readme and "Krizhevsky" in readme
    requirements = (published / "requirements-student.txt").read_text()
    assert requirements == (ROOT / "requirements-student.txt").read_text()


def test_published_labs_are_the_committed_releases(published):
    for notebook_path in sorted((ROOT / "labs").glob("*/*.ipynb")):
        copy = published / "labs" / notebook_path.parent.name / notebook_path.name
        assert json.loads(copy.read_text()) == json.loads(notebook_path.read_text())


def test_nothing_published_or_released_leaks_instructor_material(published):
    assert publish.find_leaks(published, SOLUTIONS) == []
    assert publish.find_leaks(ROOT / "labs", SOLUTIONS) == []


def test_find_leaks_sees_solutions_hidden_tests_folders_and_the_instructor_name(tmp_path):
    notebook = nbformat.read(str(SOLUTIONS / FAST_LAB / f"{FAST_LAB}.ipynb"), 4)
    solution_cell = next(cell for cell in notebook.cells if "### BEGIN SOLUTION" in cell.source)
    solution = solution_cell.source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
    hidden_cell = next(cell for cell in notebook.cells if "### BEGIN HIDDEN TESTS" in cell.source)
    hidden = hidden_cell.source.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0]
    hidden_description = next(line.strip().strip(",") for line in hidden.splitlines() if len(line.strip()) > 40)
    (tmp_path / "copied_solution.py").write_text("def helper():\n" + solution)
    short_solution = next(cell for cell in notebook.cells if "rng.permutation" in cell.source).source
    short_solution = short_solution.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
    assert len(short_solution.strip().splitlines()) < publish.WINDOW_LINES
    (tmp_path / "short_solution.md").write_text("```python\n" + short_solution + "```\n")
    (tmp_path / "hidden.md").write_text(f"the hidden check {hidden_description}\n")
    (tmp_path / "notes.txt").write_text(f"see https://github.com/{INSTRUCTOR}\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "anything.py").write_text("x = 1\n")
    (tmp_path / "clean.py").write_text("print('hello')\n")
    leaks = "\n".join(publish.find_leaks(tmp_path, SOLUTIONS))
    for name in ("copied_solution.py", "short_solution.md", "hidden.md", "notes.txt", "tests/anything.py"):
        assert name in leaks
    assert "clean.py" not in leaks


def test_publish_refuses_a_folder_it_did_not_write(tmp_path):
    (tmp_path / "thesis.tex").write_text("precious")
    completed = run_cli("publish", str(tmp_path))
    assert completed.returncode == 2
    assert "not empty" in completed.stderr and "Nothing was written" in completed.stderr
    assert [path.name for path in tmp_path.iterdir()] == ["thesis.tex"]
    assert (tmp_path / "thesis.tex").read_text() == "precious"


def test_publish_refuses_a_file(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        publish.publish(path, SOLUTIONS)


def test_publish_again_replaces_its_own_files_and_keeps_the_others(published, tmp_path):
    again = tmp_path / "repository"
    shutil.copytree(published, again)
    (again / ".git").mkdir()
    (again / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (again / "labs" / "99_removed").mkdir()
    (again / "labs" / "99_removed" / "99_removed.ipynb").write_text("{}")
    marker = json.loads((again / publish.MARKER_FILE).read_text())
    marker["files"].append("labs/99_removed/99_removed.ipynb")
    marker["files"].append("../outside.txt")  # a damaged record never deletes outside the folder
    (tmp_path / "outside.txt").write_text("stays")
    (again / publish.MARKER_FILE).write_text(json.dumps(marker))
    (again / "README.md").write_text("edited by hand")
    assert publish.publish(again, SOLUTIONS) == again
    assert not (again / "labs" / "99_removed").exists()
    assert (again / ".git" / "HEAD").is_file() and (tmp_path / "outside.txt").read_text() == "stays"
    assert (again / "README.md").read_text() == (published / "README.md").read_text()


def test_student_pyproject_declares_the_tested_minimums():
    from labkit import environment

    declared = tomllib.loads(publish.student_pyproject("org/labs"))["project"]["dependencies"]
    instructor = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    expected = sorted(f"{name}>={version}" for name, version in environment.TESTED_MINIMUMS.items())
    assert sorted(declared) == expected and sorted(instructor) == expected


def test_student_requirements_pin_the_tested_versions_without_nbgrader():
    def pins(path):
        lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
        return dict(line.split("==") for line in lines if line)

    student, instructor = pins(ROOT / "requirements-student.txt"), pins(ROOT / "requirements.txt")
    assert {"tensorflow", "keras", "numpy", "matplotlib", "jupyterlab"} <= set(student)
    assert not {"nbgrader", "nbval", "pytest"} & set(student)
    for name in ("tensorflow", "keras", "numpy", "matplotlib"):
        assert student[name] == instructor[name], f"{name}: keep requirements-student.txt equal to requirements.txt"


def test_published_package_installs_without_touching_the_runtime(published, tmp_path):
    """A runtime like Colab's (the instructor venv's TensorFlow, Keras, NumPy): pip adds labkit and changes nothing."""
    environment = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(environment)], check=True, timeout=120)
    python = environment / "bin" / "python"
    site_packages = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                   capture_output=True, text=True, check=True).stdout.strip()
    # The new venv sees the instructor venv's packages as preinstalled ones, behind its own.
    pathlib.Path(site_packages, "runtime.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    versions = "import importlib.metadata as m; print([m.version(n) for n in ('tensorflow', 'keras', 'numpy')])"
    before = subprocess.run([python, "-c", versions], capture_output=True, text=True, check=True).stdout
    assert before.strip() == str([importlib.metadata.version(name) for name in ("tensorflow", "keras", "numpy")])
    installed = subprocess.run(
        [python, "-m", "pip", "install", "--no-index", "--no-build-isolation", "--quiet", str(published)],
        capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr
    after = subprocess.run([python, "-c", versions], capture_output=True, text=True, check=True).stdout
    assert after == before
    located = subprocess.run([python, "-c", "import labkit.checks, labkit.exercises; print(labkit.__file__)"],
                             capture_output=True, text=True, check=True, cwd=tmp_path).stdout.strip()
    assert located.startswith(site_packages)
    record = subprocess.run([python, "-c", "import importlib.metadata as m; print(m.files('labkit'))"],
                            capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert "labkit/checks.py" in record and "autograder" not in record
