"""Argument checks shared by the probe modules: clear errors for instructors' check definitions and targets."""

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
