"""Argument checks shared by the probe modules: clear errors for instructors' check definitions and targets."""

import math
import numbers


def keyword_arguments(arguments, what="constructor_arguments"):
    """A copy of a dict of keyword arguments (None means none)."""
    if arguments is None:
        return {}
    if not isinstance(arguments, dict) or not all(isinstance(key, str) for key in arguments):
        raise ValueError(f"{what} must be a dict of keyword arguments, got {arguments!r}.")
    return dict(arguments)


def seed(value, what="seed"):
    """A non-negative integer seed (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {value!r}.")
    return int(value)


def require_class(target, what):
    """Raise a clear TypeError when a probe's target is not a class (a student may have rebound the name)."""
    if not isinstance(target, type):
        raise TypeError(f"expected the {what} class itself, got {type(target).__name__} {target!r}.")


def require_function(target, what):
    """Raise a clear TypeError when a probe's target is a class or not callable."""
    if isinstance(target, type) or not callable(target):
        raise TypeError(f"expected the function {what}, got {type(target).__name__} {target!r}.")


def shape(value, what="shape", min_rank=1, max_elements=4096):
    """A concrete array shape as a tuple of positive ints, with at least min_rank axes and few elements."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ValueError(f"{what} must be a list of positive integers such as [4, 3], got {value!r}.")
    sizes = list(value)
    if len(sizes) < min_rank or any(
        isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1 for size in sizes
    ):
        raise ValueError(f"{what} must hold at least {min_rank} positive integers, got {sizes!r}.")
    if math.prod(int(size) for size in sizes) > max_elements:
        raise ValueError(f"{what} {sizes} has more than {max_elements} elements: keep probes small.")
    return tuple(int(size) for size in sizes)
