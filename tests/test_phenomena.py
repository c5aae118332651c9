"""Tests for labkit.phenomena: a headline claim passes when its measurement shows it and fails loudly when not."""

import numpy as np
import pytest

from labkit import phenomena


def test_a_claim_that_holds_is_printed_with_its_measurements(capsys):
    assert phenomena.expect("momentum ends below SGD", 0.1 < 0.5, momentum=0.1, sgd=0.5) is True
    assert capsys.readouterr().out == "shown: momentum ends below SGD (momentum=0.1, sgd=0.5)\n"


def test_numpy_comparisons_are_accepted():
    assert phenomena.expect("above chance", np.float32(0.4) > 0.1, accuracy=float(np.float32(0.4)))


def test_a_claim_that_does_not_hold_names_the_measurements():
    with pytest.raises(phenomena.PhenomenonNotShown, match=r"does not show: ResNet above chance; measured accuracy=0\.1"):
        phenomena.expect("ResNet above chance", 0.1 > 0.2, accuracy=0.1)


def test_nan_never_counts_as_shown():
    with pytest.raises(phenomena.PhenomenonNotShown):
        phenomena.expect("loss decreases", True, loss=float("nan"))


@pytest.mark.parametrize("claim, holds", [("", True), ("a claim", 0.3), ("a claim", None)])
def test_bad_arguments_get_a_clear_error(claim, holds):
    with pytest.raises(ValueError, match="expect"):
        phenomena.expect(claim, holds)
