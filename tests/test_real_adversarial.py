"""The adversarial corpus on the real labs: every attack gets exactly its expected score, is named, and leaks nothing.

One batch per lab (released from solutions/ into a temporary folder, all of the lab's cases
graded by one grade_folder call with two workers, in the sandbox); the tests below only read
the results. See tests/corpus/real_adversarial.py for the cases and the scoring rule.
"""

import pathlib
import time

import pytest

from autograder import batch, lab as lab_module, release, reports, samples
from autograder.sandbox import keras_backend
from tests.corpus import real_adversarial as corpus

pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
FIELDS = ("problems", "review", "notes", "incidents", "cell_errors", "checks")


def _answers(case_answers, release_path, source_path):
    solutions = samples.solution_answers(source_path)
    resolved = {}
    for grade_id, answer in case_answers.items():
        stub = samples.unfinished(release_path, grade_id)
        if answer is corpus.STUB:
            resolved[grade_id] = stub
        elif callable(answer):
            resolved[grade_id] = answer(solutions[grade_id], stub)
        else:
            resolved[grade_id] = answer
    return resolved


def _grade_lab(lab_id, root):
    """Release the lab, write every case of it, grade them all in one batch; (lab, results by case, seconds)."""
    started = time.monotonic()
    source_path = SOLUTIONS / lab_id / f"{lab_id}.ipynb"
    release_path = release.release_lab(lab_id, SOLUTIONS, root / "labs") / f"{lab_id}.ipynb"
    lab = lab_module.load_lab(source_path)
    submissions = []
    for name, (answers, edit, _, _) in corpus.CASES[lab_id].items():
        notebook = samples.make_submission(release_path, source_path, _answers(answers, release_path, source_path),
                                           edit)
        path = samples.write_notebook(notebook, root / "submissions" / name / f"{lab_id}.ipynb")
        submissions.append(batch.Submission(name, lab_id, path))
    results = batch.grade_folder(submissions, [lab], root / "graded", workers=2, progress=False)
    seconds = time.monotonic() - started
    print(f"\n{lab_id}: {len(submissions)} adversarial submissions graded in {seconds:.0f} s")
    return lab, {result.student_id: result for result in results}, seconds


def _lab_fixture(lab_id):
    @pytest.fixture(scope="module")
    def graded(tmp_path_factory):
        return _grade_lab(lab_id, tmp_path_factory.mktemp(f"adversarial-{lab_id}"))

    return graded


graded_01_optimization_basics = _lab_fixture("01_optimization_basics")
graded_05_optimizers = _lab_fixture("05_optimizers")
graded_06_callbacks = _lab_fixture("06_callbacks")
graded_07_convolutions = _lab_fixture("07_convolutions")

CASE_IDS = [(lab_id, name) for lab_id in corpus.LAB_IDS for name in corpus.CASES[lab_id]]
LEAK_IDS = [(lab_id, name) for lab_id in corpus.LAB_IDS for name in corpus.LEAK_TARGETS.get(lab_id, {})]


def _graded(request, lab_id):
    return request.getfixturevalue(f"graded_{lab_id}")


def _field(result, field):
    """One field of a result as a list of strings."""
    if field == "problems":
        return [problem for part in result.parts for problem in part.problems]
    if field == "review":
        return [reason for part in result.parts for reason in part.review]
    if field == "cell_errors":
        return [f"{label}: {message}" for label, message in result.cell_errors.items()]
    if field == "checks":  # what a failed check says: how an attack refused before it reached anything is named
        return [check.message for part in result.parts for check in part.checks if not check.passed]
    return list(getattr(result, field))


def _summary(result):
    """What a failure message needs: per-part scores, problems and failed checks, and the notes."""
    lines = [f"{result.student_id}: status {result.status} {result.reason}".rstrip()]
    for part in result.parts:
        failed = [check.message for check in part.checks if not check.passed][:3]
        lines.append(f"  {part.grade_id}: {part.score:g}/{part.max_score:g} problems={part.problems} failed={failed}")
    lines += [f"  {field}: {_field(result, field)}" for field in ("notes", "incidents", "cell_errors")]
    return "\n".join(lines)


@pytest.mark.parametrize(("lab_id", "name"), CASE_IDS, ids=[f"{lab}-{name}" for lab, name in CASE_IDS])
def test_exact_score(request, lab_id, name):
    lab, results, _ = _graded(request, lab_id)
    result = results[name]
    assert result.graded and result.isolation == "bwrap", _summary(result)
    expected = corpus.expected_scores(lab, corpus.CASES[lab_id][name][2])
    got = {part.grade_id: part.score for part in result.parts}
    differences = {grade_id: (expected[grade_id], got[grade_id]) for grade_id in expected
                   if got.get(grade_id) != expected[grade_id]}
    assert not differences, f"(expected, got) per part: {differences}\n{_summary(result)}"


@pytest.mark.parametrize(("lab_id", "name"), CASE_IDS, ids=[f"{lab}-{name}" for lab, name in CASE_IDS])
def test_attack_is_named(request, lab_id, name):
    """The feedback (problems, notes, failed checks), the log or the instructor's review names what was tried."""
    _, results, _ = _graded(request, lab_id)
    result = results[name]
    backend = keras_backend()
    names = [(field, text) for field, text, *backends in corpus.CASES[lab_id][name][3]
             if not backends or backend in backends[0]]
    missing = [(field, text) for field, text in names
               if not any(alternative in item for alternative in text.split(" | ") for item in _field(result, field))]
    assert not missing, f"not named: {missing}\n" + "\n".join(
        f"  {field}: {_field(result, field)}" for field in FIELDS)


def _hidden_markers(lab, lab_id, name):
    """What the case's attack would write if it carried a hidden check's inputs out (visible ones excluded)."""
    markers, visible = set(), set()
    for target, encode in corpus.LEAK_TARGETS[lab_id][name]:
        for graded in lab.all_checks():
            if graded.check.target == target:
                marker = encode(graded.check.arguments)
                if marker is not None:
                    (markers if graded.hidden else visible).add(marker)
    markers -= visible
    assert markers, f"{lab_id} {name}: no hidden check to go after"
    return markers


@pytest.mark.parametrize(("lab_id", "name"), LEAK_IDS, ids=[f"{lab}-{name}" for lab, name in LEAK_IDS])
def test_hidden_inputs_stay_out_of_what_students_read(request, lab_id, name):
    """Not in the feedback page, nor in the review reasons (nbgrader shows them as the cell's comment)."""
    lab, results, _ = _graded(request, lab_id)
    result = results[name]
    page = reports.feedback_html(result)
    visible_messages = [check.message for part in result.parts for check in part.checks if not check.hidden]
    places = {"feedback page": [page], "visible check messages": visible_messages,
              "review (gradebook comments)": _field(result, "review")}
    leaks = {(where, marker) for marker in _hidden_markers(lab, lab_id, name)
             for where, texts in places.items() if any(marker in text for text in texts)}
    assert not leaks, f"hidden inputs leaked: {sorted(leaks)}"


@pytest.mark.parametrize(("lab_id", "name"), LEAK_IDS, ids=[f"{lab}-{name}" for lab, name in LEAK_IDS])
def test_hidden_check_errors_keep_only_type_and_line(request, lab_id, name):
    """A hidden check's message keeps only the built-in exception type and the student's line; its output is dropped."""
    lab, results, _ = _graded(request, lab_id)
    result = results[name]
    hidden_messages = [check.message for part in result.parts for check in part.checks if check.hidden]
    leaks = {(where, marker) for marker in _hidden_markers(lab, lab_id, name)
             for where, texts in {"hidden check messages": hidden_messages, "output": [result.output]}.items()
             if any(marker in text for text in texts)}
    assert not leaks, f"hidden inputs kept: {sorted(leaks)}"


def test_the_corpus_stays_bounded(request):
    """All four labs' batches together stay well under four minutes on two cores."""
    seconds = {lab_id: _graded(request, lab_id)[2] for lab_id in corpus.LAB_IDS}
    assert sum(seconds.values()) < 240, seconds
