"""labkit.validation: shared argument checks for check factories."""

import pytest

from labkit import validation


def test_keyword_arguments():
    assert validation.keyword_arguments(None) == {}
    original = {"rate": 0.5}
    copy = validation.keyword_arguments(original)
    assert copy == original and copy is not original
    with pytest.raises(ValueError, match="layer_arguments must be a dict"):
        validation.keyword_arguments([("rate", 0.5)], "layer_arguments")
    with pytest.raises(ValueError):
        validation.keyword_arguments({1: "x"})


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3", None])
def test_seed_refuses_non_integers(bad):
    with pytest.raises(ValueError, match="must be a non-negative integer"):
        validation.seed(bad)


def test_seed_accepts_numpy_integers():
    import numpy as np

    assert validation.seed(np.int64(7)) == 7


def test_require_class_accepts_classes_and_names_what_it_got():
    validation.require_class(int, "Dense")
    with pytest.raises(TypeError, match=r"expected the Dense class itself, got int 3"):
        validation.require_class(3, "Dense")


def test_require_function_refuses_classes_and_non_callables():
    validation.require_function(len, "relative_error")
    for wrong in (int, "relative_error", None):
        with pytest.raises(TypeError, match="expected the function relative_error"):
            validation.require_function(wrong, "relative_error")


def test_shape_accepts_positive_integer_lists_and_refuses_the_rest():
    assert validation.shape([4, 3]) == (4, 3)
    assert validation.shape((2, 5, 5, 1), min_rank=4, max_elements=50) == (2, 5, 5, 1)
    for wrong in ("4, 3", 7, [4, 0], [4, 2.5], [True, 3]):
        with pytest.raises(ValueError, match="positive integers"):
            validation.shape(wrong, "input_shape")
    with pytest.raises(ValueError, match="at least 2"):
        validation.shape([4], min_rank=2)
    with pytest.raises(ValueError, match="more than 10 elements"):
        validation.shape([4, 3], max_elements=10)
