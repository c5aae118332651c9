"""The backend table's helpers (benchmarks/backends.py); the measurements themselves are not tests."""

from benchmarks import backends, scale


def _row(lab, solution, release=0.0, seconds=41.6):
    return {"lab": lab, "notebook_seconds": seconds, "grading_seconds": 20.0, "solution": solution,
            "release": release, "max_points": 12.0, "backend": "jax"}


def test_a_cell_shows_seconds_and_both_grades():
    assert backends.cell(_row("02_custom_layers", 12.0)) == "42 s; 12/12, release 0"
    assert backends.cell(None) == "not run"


def test_the_table_has_one_column_per_backend_in_a_fixed_order():
    lines = backends.report_lines({"torch": [_row("02_custom_layers", 10.0)], "jax": [_row("02_custom_layers", 12.0)]},
                                  "keras 3.15.1")
    header = next(line for line in lines if line.startswith("| lab"))
    assert header == "| lab | jax | torch |"
    assert "| 02_custom_layers | 42 s; 12/12, release 0 | 42 s; 10/12, release 0 |" in lines
    assert lines[0] == "## Keras backends (issue 11)"


def test_a_lab_measured_on_one_backend_only_says_so_for_the_other():
    lines = backends.report_lines({"jax": [_row("02_custom_layers", 12.0)], "torch": [_row("05_optimizers", 15.0)]},
                                  "keras 3.15.1")
    assert "| 02_custom_layers | 42 s; 12/12, release 0 | not run |" in lines


def test_the_section_replaces_only_its_own_markers():
    text = "# Results\n\n" + scale.BEGIN_MARKER + "\nscale rows\n" + scale.END_MARKER + "\n"
    once = scale.replace_marked_section(text, ["first"], backends.BEGIN_MARKER, backends.END_MARKER)
    twice = scale.replace_marked_section(once, ["second"], backends.BEGIN_MARKER, backends.END_MARKER)
    assert "scale rows" in twice and "second" in twice and "first" not in twice


def test_backends_and_labs_are_parsed():
    arguments = backends.parse_arguments(["--backend", "jax", "--lab", "02_custom_layers", "--no-write"])
    assert arguments.backend == ["jax"] and arguments.lab == ["02_custom_layers"] and arguments.no_write


def test_versions_name_each_package():
    assert backends.versions_text(["tensorflow"]).startswith("keras ")
