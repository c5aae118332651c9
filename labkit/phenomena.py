"""Headline checks: a lab's experiment shows, in the mode it ran in, what the lab's text says it shows.

Each source notebook has instructor-only cells (tagged ``instructor``; the release removes them) that call
``expect`` on the numbers an experiment measured. CI runs every solution notebook in fast mode, so a plot that
stops showing its claim (after a change of sizes, seeds or Keras version) fails the build instead of misleading
students.
"""

import math

import numpy


class PhenomenonNotShown(RuntimeError):
    """An experiment ran but its measurements do not show what the lab's text claims."""


def _format(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_format(item) for item in value) + "]"
    return str(value)


def expect(claim, holds, **measured):
    """Print the claim with the measured values when it holds; raise PhenomenonNotShown (naming them) when not.

    `holds` is the comparison itself (e.g. ``momentum_loss < sgd_loss``); NaN measurements never count as shown.
    """
    if not isinstance(claim, str) or not claim.strip():
        raise ValueError("expect() needs the claim as a sentence, e.g. 'momentum ends below plain SGD'")
    if not isinstance(holds, (bool, numpy.bool_)):
        raise ValueError(f"expect({claim!r}, holds=...) needs a comparison's True/False, not {type(holds).__name__}")
    values = ", ".join(f"{name}={_format(value)}" for name, value in measured.items())
    has_nan = any(isinstance(value, float) and math.isnan(value) for value in measured.values())
    if bool(holds) and not has_nan:
        print(f"shown: {claim}" + (f" ({values})" if values else ""))
        return True
    raise PhenomenonNotShown(
        f"the experiment does not show: {claim}" + (f"; measured {values}" if values else "")
        + ". Fix the experiment's design (sizes, seeds, learning rates) or the text that makes the claim.")
