"""The benchmark script's options, its interleaved timing and the scale section's helpers, tables and report
(the measurements themselves are not tests)."""

import json
import os
import sys

import nbformat
import pytest

from benchmarks import run, scale


def test_defaults_measure_everything_in_fast_mode():
    arguments = run.parse_arguments([])
    assert arguments.section is None and arguments.lab is None
    assert arguments.mode == "fast" and arguments.output is None


def test_sections_labs_and_mode_are_parsed():
    arguments = run.parse_arguments(
        ["--section", "notebooks", "--lab", "05_optimizers", "--mode", "full", "--output", "full.md"])
    assert arguments.section == ["notebooks"] and arguments.lab == ["05_optimizers"]
    assert arguments.mode == "full" and str(arguments.output) == "full.md"


def test_an_unknown_lab_is_a_clear_error(capsys):
    with pytest.raises(SystemExit):
        run.parse_arguments(["--lab", "99_missing"])
    message = capsys.readouterr().err
    assert "unknown lab 99_missing" in message and "05_optimizers" in message


def test_an_unknown_section_is_refused(capsys):
    with pytest.raises(SystemExit):
        run.parse_arguments(["--section", "everything"])
    assert "invalid choice" in capsys.readouterr().err


def test_interleaved_timing_alternates_and_reports_per_step_medians():
    calls = []
    ours, theirs = run._interleaved_step_seconds(lambda: calls.append("ours"), lambda: calls.append("theirs"),
                                                 rounds=3, steps=2)
    assert calls == ["ours", "ours", "theirs", "theirs"] * 3
    assert ours >= 0 and theirs >= 0


def test_a_partial_run_prints_without_touching_the_results_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LABKIT_MODE", "fast")  # main() sets it; monkeypatch restores it afterwards
    results = tmp_path / "RESULTS.md"
    results.write_text("earlier results\n")
    monkeypatch.setattr(run, "RESULTS", results)
    monkeypatch.setattr(run, "time_notebook", lambda lab_id: (12.5, 0.9583))
    run.main(["--section", "notebooks", "--lab", "05_optimizers"])
    assert results.read_text() == "earlier results\n"
    printed = capsys.readouterr().out
    assert "| 05_optimizers | 12.5 | 95.83% |" in printed and "left unchanged" in printed


def test_output_saves_a_partial_report(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_MODE", "fast")
    monkeypatch.setattr(run, "time_notebook", lambda lab_id: (80.0, -1.0))
    report = tmp_path / "full.md"
    run.main(["--section", "notebooks", "--lab", "06_callbacks", "--mode", "full", "--output", str(report)])
    text = report.read_text()
    assert "full mode" in text and "| 06_callbacks | 80.0 | — |" in text and "<= 60 s" not in text


# ---------------------------------------------------------------- the scale section (benchmarks/scale.py)


def test_student_ids_sort_in_order_and_refuse_an_empty_class():
    assert scale.student_ids(3) == ["s01", "s02", "s03"]
    assert scale.student_ids(12)[-1] == "s12"
    assert scale.student_ids(100)[:2] == ["s001", "s002"] and scale.student_ids(100)[-1] == "s100"
    with pytest.raises(ValueError, match="at least one student"):
        scale.student_ids(0)


def test_markdown_table_lines_and_a_row_of_the_wrong_width():
    assert scale.markdown_table(["a", "b"], [[1, "x"]]) == ["| a | b |", "| --- | --- |", "| 1 | x |"]
    with pytest.raises(ValueError, match="has 1 cells, the header 2"):
        scale.markdown_table(["a", "b"], [[1]])


def test_the_marked_section_is_appended_then_replaced_in_place():
    first = scale.replace_marked_section("# Benchmark results\n\nearlier\n", ["## Scale", "old"])
    assert first.startswith("# Benchmark results\n\nearlier\n\n" + scale.BEGIN_MARKER + "\n## Scale\nold\n")
    assert first.endswith(scale.END_MARKER + "\n")
    second = scale.replace_marked_section(first + "after\n", ["## Scale", "new"])
    assert "old" not in second and "\nnew\n" in second
    assert second.startswith("# Benchmark results\n\nearlier\n\n") and second.endswith(scale.END_MARKER + "\nafter\n")
    assert scale.replace_marked_section("", ["x"]) == f"{scale.BEGIN_MARKER}\nx\n{scale.END_MARKER}\n"


REPEATED_MARKERS = f"{scale.BEGIN_MARKER}\n{scale.END_MARKER}\n" * 2


@pytest.mark.parametrize("text", [f"{scale.BEGIN_MARKER}\nno end\n", f"{scale.END_MARKER}\n{scale.BEGIN_MARKER}\n",
                                  REPEATED_MARKERS])
def test_markers_out_of_order_or_repeated_are_refused(text):
    with pytest.raises(ValueError, match="by hand"):
        scale.replace_marked_section(text, ["x"])


def test_rates_and_ratios():
    assert scale.per_minute(12, 30.0) == 24.0
    with pytest.raises(ValueError, match="positive"):
        scale.per_minute(12, 0)
    assert scale.ratio(3.0, 1.5) == 2.0
    assert scale.ratio(None, 1.0) is None and scale.ratio(1.0, None) is None and scale.ratio(1.0, 0) is None
    assert scale.format_ratio(None) == "—" and scale.format_ratio(2.0) == "2.00x"


def test_breakdown_splits_the_wall_and_medians_each_field():
    parts = scale.breakdown(2.0, {"start": 0.1, "cells": 1.0, "probes": 0.5, "warm": True})
    assert parts["judge+other"] == pytest.approx(0.4) and parts["fixed"] == pytest.approx(0.5)
    assert parts["total"] == 2.0
    with pytest.raises(ValueError, match="no probes timing"):
        scale.breakdown(2.0, {"start": 0.1, "cells": 1.0})
    median = scale.median_breakdown([{"a": 1, "b": 9}, {"a": 3, "b": 1}, {"a": 2, "b": 5}])
    assert median == {"a": 2, "b": 5}
    with pytest.raises(ValueError):
        scale.median_breakdown([])


def test_scheduler_overhead_excludes_the_cluster_start_and_never_goes_negative():
    assert scale.scheduler_overhead_per_task(30.0, 20.0, 4.0, 12) == pytest.approx(0.5)
    assert scale.scheduler_overhead_per_task(20.0, 21.0, 4.0, 12) == 0.0
    with pytest.raises(ValueError):
        scale.scheduler_overhead_per_task(1.0, 1.0, 0.0, 0)


def test_thread_estimate_grows_two_threads_per_core():
    assert scale.estimated_threads(40, 2, 2) == 40
    assert scale.estimated_threads(40, 2, 64) == 40 + 2 * 62
    assert scale.estimated_threads(40, 2, 64, pinned=True) == 40
    assert scale.pools_pinned()  # the sandbox pins TensorFlow's pools (autograder.sandbox._child_environment)


def _inputs(**changes):
    values = dict(lab_costs={"01_a": scale.LabCost(sandbox_seconds=1.0, client_seconds=0.01),
                             "05_b": scale.LabCost(sandbox_seconds=5.0, client_seconds=1.0)},
                  efficiency=0.9, scheduler_overhead=0.0, memory_per_worker=2**30, client_memory=2**29,
                  measured_threads=30, measured_cores=2, thread_limit=256)
    values.update(changes)
    return scale.ScalingInputs(**values)


def test_extrapolation_arithmetic_and_its_ceilings():
    row = scale.extrapolate(8, _inputs())
    assert row.workers == 8 and row.memory_bytes == 8 * 2**30 + 2**29
    assert row.per_hour["01_a"] == pytest.approx(8 * 0.9 * 3600 / 1.0) and row.bound_by["01_a"] == "sandboxes"
    # Lab 05: 8 sandboxes could do 8 x 0.9 x 3600 / 5 = 5184 an hour, but judging one a second caps it at 3600.
    assert row.per_hour["05_b"] == pytest.approx(3600 / 1.0) and row.bound_by["05_b"] == "client"
    assert row.threads_per_sandbox == 30 + 2 * 6
    assert "client" in row.breaks_first and "05" in row.breaks_first
    overhead = scale.extrapolate(8, _inputs(scheduler_overhead=1.0))
    assert overhead.per_hour["01_a"] == pytest.approx(8 * 0.9 * 3600 / 2.0)


def test_what_breaks_first_follows_the_numbers():
    assert "thread" in scale.extrapolate(512, _inputs()).breaks_first
    assert "thread" not in scale.extrapolate(512, _inputs(pools_pinned=True)).breaks_first  # pinned pools do not grow
    assert "memory" in scale.extrapolate(8, _inputs(memory_per_worker=5 * 2**30)).breaks_first
    fine = scale.extrapolate(8, _inputs(lab_costs={"01_a": scale.LabCost(10.0, 0.001)}))
    assert fine.bound_by == {"01_a": "sandboxes"} and "oversubscribe" in fine.breaks_first
    with pytest.raises(ValueError, match="at least one core"):
        scale.extrapolate(0, _inputs())
    with pytest.raises(ValueError, match="no lab costs"):
        scale.extrapolate(8, _inputs(lab_costs={}))


def test_formatting_helpers():
    assert scale.format_bytes(512 * 2**20) == "512 MiB" and scale.format_bytes(3 * 2**30) == "3.0 GiB"
    assert scale.format_seconds(None) == "—" and scale.format_seconds(1.234) == "1.23"
    assert scale.short_lab("01_optimization_basics") == "01"


def test_recording_jobs_records_and_restores_run_job(monkeypatch):
    from autograder import sandbox

    fake = lambda job, *arguments, **keywords: sandbox.JobResult(seconds=1.5)  # noqa: E731
    monkeypatch.setattr(sandbox, "run_job", fake)
    records = []
    with scale.recording_jobs(records):
        result = sandbox.run_job({"cells": []})
    assert records == [({"cells": []}, result)] and result.seconds == 1.5
    assert sandbox.run_job is fake


def test_tree_sampler_sees_this_process():
    with scale.TreeSampler(os.getpid(), include_root=True, interval=60) as sampler:
        pass
    assert sampler.peak_rss > 0 and sampler.peak_pss > 0 and sampler.peak_threads >= 1
    assert sampler.peak_root_rss > 0


def test_write_class_copies_one_correct_submission(tmp_path):
    folder = scale.write_class(tmp_path / "class", "01_optimization_basics", 3)
    paths = sorted(folder.glob("*/01_optimization_basics.ipynb"))
    assert [path.parent.name for path in paths] == ["s01", "s02", "s03"]
    assert len({path.read_bytes() for path in paths}) == 1
    code = [cell.source for cell in nbformat.read(str(paths[0]), as_version=4).cells if cell.cell_type == "code"]
    assert not any("raise NotImplementedError()" in source for source in code)


def _lab_measurement(lab_id, sandbox_seconds):
    cold = scale.breakdown(6.0, {"start": 4.0, "cells": 1.0, "probes": 0.5})
    warm = [scale.breakdown(2.0, {"start": 0.1, "cells": 1.0, "probes": 0.5}) for _ in range(3)]
    return scale.LabMeasurement(lab_id, {}, 3.0, cold, warm, [False, True, True, True], 0.1, sandbox_seconds,
                                900 * 2**20, 500 * 2**20, 40, 256)


def _results():
    results = scale.ScaleResults(12)
    results.labs = {"01_optimization_basics": _lab_measurement("01_optimization_basics", 1.8),
                    "05_optimizers": _lab_measurement("05_optimizers", 5.0)}
    for lab_id in results.labs:
        results.throughput[lab_id] = {
            "1 worker": scale.ThroughputRun("1 worker", 12, seconds=30.0, peak_rss=2**30, peak_client_rss=2**28),
            "2 workers": scale.ThroughputRun("2 workers", 12, seconds=16.0, peak_rss=2**31, peak_client_rss=2**28),
            "local Dask cluster of 2": scale.ThroughputRun("local Dask cluster of 2", 12, seconds=22.0,
                                                           peak_rss=2**31, peak_client_rss=2**28)}
    results.cluster_fixed = {"start": 2.0, "warm-up": 1.5, "close": 0.5}
    results.nbgrader_seconds = 240.0
    results.help_seconds = 0.1
    results.single_grades = [scale.SingleGrade("cold reference cache", 6.0, 5.0, 4.0, 0.0)]
    results.regrade_seconds = 1.5
    return results


def test_the_report_has_every_table_with_targets_and_the_measured_ratios():
    text = "\n".join(scale.report_lines(_results()))
    for heading in ("Seconds per submission", "Throughput", "Fixed cost", "Extrapolation"):
        assert f"### {heading}" in text
    assert text.count("Targets: ") == 4 and f"{os.cpu_count()} CPU cores" in text
    assert "| 01_optimization_basics | 2 workers | 16.0 | 45.0 | 1.88x | 15.00x |" in text  # 45/min vs 3/min
    assert "vanilla `nbgrader autograde` | 240.0 | 3.0 |" in text
    assert "8.8 s of sandbox wall" in text and "(1.76x)" in text  # 8.8 / 5.0
    assert "| 1.00 |" in text  # the rest of the single grade: 6.0 - 5.0
    assert "0.167 s per task" in text and "costs 4.0 s once per batch" in text  # (22 - 16 - 4) / 12
    assert "| 512 |" in text and "thread" in text.split("| 512 |", 1)[1]


def test_a_scale_run_alone_rewrites_only_its_part_of_the_results(tmp_path, monkeypatch):
    results_file = tmp_path / "RESULTS.md"
    results_file.write_text(f"# Benchmark results\n\nkept\n\n{scale.BEGIN_MARKER}\nold\n{scale.END_MARKER}\n")
    monkeypatch.setattr(run, "RESULTS", results_file)
    monkeypatch.setenv("LABKIT_MODE", "fast")
    monkeypatch.setattr(scale, "measure", lambda lab_ids, count, lab_measurements: _results())
    run.main(["--section", "scale"])
    text = results_file.read_text()
    assert text.startswith("# Benchmark results\n\nkept\n\n") and "\nold\n" not in text and "### Throughput" in text
    monkeypatch.setattr(scale, "measure", lambda lab_ids, count, lab_measurements: scale.ScaleResults(count))
    run.main(["--section", "scale", "--class-size", "3"])  # a small run prints only
    assert results_file.read_text() == text


def test_class_size_must_be_a_positive_whole_number(capsys):
    assert run.parse_arguments(["--class-size", "3"]).class_size == 3
    assert run.parse_arguments([]).class_size == scale.CLASS_SIZE
    for value in ("0", "three"):
        with pytest.raises(SystemExit):
            run.parse_arguments(["--class-size", value])
    assert "at least one student" in capsys.readouterr().err


def test_the_recorder_runs_the_command_line_and_writes_its_jobs(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    blocked_here = "rfc3987_syntax" not in sys.modules  # autograder/__main__.py blocks this optional module
    timings = tmp_path / "timings.json"
    try:
        assert scale.main(["record", str(timings), "--", "--help"]) == 0
    finally:
        if blocked_here:
            sys.modules.pop("rfc3987_syntax", None)  # the block is for the command's process, not this one
    assert "python -m autograder" in capsys.readouterr().out
    assert json.loads(timings.read_text()) == {"jobs": [], "exit_status": 0}
    with pytest.raises(SystemExit, match="usage"):
        scale.main(["record", str(timings)])


def test_every_target_gets_a_verdict_from_the_measurements():
    lines = scale.target_verdicts(_results())
    text = "\n".join(lines)
    assert len(lines) == 4 + len(scale.TARGETS) and "a class of 12" in text
    assert "at most 0.50 s (lab 01) — met" in text  # warm start 0.1 + judge+other 0.4
    assert "15.0x — met" in text and "1.76x (warm sandbox job 5.00 s) — met" in text
    assert "lab 01 1.88x, lab 05 1.88x — met" in text and "1.50 s — met" in text
    assert "not measured in this run" in text  # no warm-cache single grade in _results()
    empty = "\n".join(scale.target_verdicts(scale.ScaleResults(3)))
    assert empty.count("not measured in this run") == len(scale.TARGETS)


def test_grading_and_scale_together_grade_each_lab_once(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LABKIT_MODE", "fast")
    measured, shared = [], {}
    monkeypatch.setattr(scale, "measure_lab", lambda lab_id, scratch: measured.append(lab_id) or
                        _lab_measurement(lab_id, 1.8))
    monkeypatch.setattr(run, "time_grading", lambda lab_id: pytest.fail("time_grading must not run with scale"))

    def fake_measure(lab_ids, count, lab_measurements):
        shared.update(lab_measurements)
        return _results()

    monkeypatch.setattr(scale, "measure", fake_measure)
    report = tmp_path / "report.md"
    run.main(["--section", "grading", "--section", "scale", "--lab", "05_optimizers", "--output", str(report)])
    assert measured == ["05_optimizers"] and list(shared) == ["05_optimizers"]
    text = report.read_text()
    assert "| 05_optimizers | 2.0 | 3.0 |" in text  # median warm total and references, from the scale measurement
    assert text.count(scale.BEGIN_MARKER) == 1 and text.rstrip().endswith(scale.END_MARKER)


def test_a_complete_run_keeps_the_sections_other_commands_wrote():
    text = "# old report\n\nold rows\n\n" + run.KEPT_MARKER + "\n\n## GPU check\n\nfigures\n"
    kept = run.kept_sections(text)
    assert kept.startswith("\n" + run.KEPT_MARKER) and "## GPU check\n\nfigures\n" in kept
    assert "old rows" not in kept
    assert run.kept_sections("# a report without other sections\n") == ""
