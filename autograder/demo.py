"""The demo: release a lab, grade five sample students, print the gradebook and file locations."""

import pathlib
import shutil

from autograder import batch, lab as lab_module, release, reports, samples, sandbox


def run(solutions="solutions", output="demo-output", workers=2, isolation="auto", lab_id=None,
        allow_unsandboxed=False):
    """Run the whole instructor path once, into output/; 3 when a sample could not be graded."""
    # Refuse before output/ is emptied when there is no sandbox and reduced isolation was not allowed.
    isolation = sandbox.resolve_isolation(isolation, allow_unsandboxed)
    output = pathlib.Path(output)
    if output.exists():
        shutil.rmtree(output)
    lab_ids = release.lab_ids(solutions)
    if not lab_ids:
        raise ValueError(f"no labs in {solutions}/")
    lab_id = lab_id or lab_ids[0]
    release_folder = release.release_lab(lab_id, solutions, output / "labs")
    release_path = release_folder / f"{lab_id}.ipynb"
    source_path = pathlib.Path(solutions) / lab_id / f"{lab_id}.ipynb"
    print(f"1. released {lab_id} -> {release_path}")
    submissions_folder = output / "submissions"
    for student_id, notebook in samples.demo_students(release_path, source_path).items():
        samples.write_notebook(notebook, submissions_folder / student_id / f"{lab_id}.ipynb")
    print(f"2. wrote sample submissions -> {submissions_folder}/<student>/{lab_id}.ipynb")
    lab = lab_module.load_lab(source_path)
    submissions = batch.find_submissions(submissions_folder, [lab_id])
    print(f"3. grading {len(submissions)} submissions with {workers} worker{'s' if workers != 1 else ''}")
    grading_folder = output / "grading"
    results = batch.grade_folder(submissions, [lab], grading_folder, workers, isolation,
                                 allow_unsandboxed=allow_unsandboxed)
    csv_path = batch.export_csv(grading_folder)
    feedback_paths = batch.write_all_feedback(grading_folder, solutions=solutions)
    print()
    print(reports.summary_table(results))
    print()
    print(f"gradebook (nbgrader): {grading_folder / 'gradebook.db'}")
    print(f"CSV of part scores:   {csv_path}")
    print(f"feedback HTML:        {grading_folder / 'feedback'}/<student>/{lab_id}.html "
          f"({len(feedback_paths)} files)")
    print(f"grading log:          {grading_folder / 'grading.log'}")
    isolation_used = {result.isolation for result in results}
    print(f"isolation:            {', '.join(sorted(isolation_used))}")
    print(results.progress_line())
    return 3 if results.not_graded else 0
