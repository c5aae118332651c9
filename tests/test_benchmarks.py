"""The benchmark script's options and its interleaved timing (the measurements themselves are not tests)."""

import pytest

from benchmarks import run


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
