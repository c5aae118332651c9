"""Two-dimensional test functions for optimizers: an ill-conditioned quadratic bowl and Rosenbrock's valley.

An optimizer's character (zigzagging, overshooting, per-coordinate step sizes) shows when it moves a single point
in the plane. `optimize` runs any Keras optimizer on a 2-D `keras.Variable` and records the path;
`plot_trajectories` draws paths over the function's contour lines.
"""

import dataclasses
import math
import numbers

import numpy as np


@dataclasses.dataclass(frozen=True)
class Landscape:
    """A function of a point (x, y), its gradient, a starting point and the region a plot shows.

    `value(x, y)` and `gradient(x, y)` use only arithmetic operators, so they accept NumPy arrays (for contour
    grids) as well as backend tensors (inside a compiled optimizer step).
    """

    name: str
    value: object
    gradient: object
    start: tuple
    minimum: tuple
    x_range: tuple
    y_range: tuple


def quadratic_bowl(curvatures=(1.0, 50.0), start=(-4.0, 1.0), x_range=None, y_range=None):
    """f(x, y) = (a x**2 + b y**2) / 2: condition number b / a, so gradient descent zigzags across the narrow axis.

    The plotted region defaults to a symmetric one around the start.
    """
    if (len(curvatures) != 2 or any(isinstance(c, bool) or not isinstance(c, numbers.Real) or not c > 0
                                    for c in curvatures)):
        raise ValueError(f"curvatures must be two positive numbers (a, b) such as (1.0, 50.0), got {curvatures!r}.")
    a, b = (float(c) for c in curvatures)
    start = _checked_point("start", start)
    x_extent = max(abs(start[0]) * 1.15, 1.0)
    y_extent = max(abs(start[1]) * 1.6, 0.5)
    return Landscape(
        name=f"quadratic bowl (curvatures {a:g} and {b:g})",
        value=lambda x, y: 0.5 * (a * x * x + b * y * y),
        gradient=lambda x, y: (a * x, b * y),
        start=start,
        minimum=(0.0, 0.0),
        x_range=(-x_extent, x_extent) if x_range is None else _checked_point("x_range", x_range),
        y_range=(-y_extent, y_extent) if y_range is None else _checked_point("y_range", y_range),
    )


def rosenbrock(start=(-1.5, 2.0), x_range=(-2.2, 2.2), y_range=(-1.2, 3.2)):
    """f(x, y) = (1 - x)**2 + 100 (y - x**2)**2: a curved, flat-bottomed valley with steep walls; minimum at (1, 1)."""
    return Landscape(
        name="Rosenbrock",
        value=lambda x, y: (1 - x) ** 2 + 100 * (y - x * x) ** 2,
        gradient=lambda x, y: (-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)),
        start=_checked_point("start", start),
        minimum=(1.0, 1.0),
        x_range=_checked_point("x_range", x_range),
        y_range=_checked_point("y_range", y_range),
    )


def _checked_point(name, point):
    try:
        values = tuple(float(value) for value in point)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be two numbers such as (-1.5, 2.0), got {point!r}.") from None
    if len(values) != 2 or not all(math.isfinite(value) for value in values):
        raise ValueError(f"{name} must be two finite numbers such as (-1.5, 2.0), got {point!r}.")
    return values


def _compiled(step):
    """The step as one TensorFlow graph (as model.fit runs it, ~0.3 ms a step instead of ~9 ms eagerly)."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow

        return tensorflow.function(step)
    return step


def optimize(optimizer, landscape, steps, start=None, clip=None):
    """Run `optimizer` for `steps` steps from the landscape's start (or `start`); return the path and its losses.

    `clip`, if given, maps the list of gradients to a clipped list before each step (e.g. a clipping function
    with its threshold bound). Returns {"points": (steps + 1, 2) array, "losses": (steps + 1,) array}, both
    float64; a run that overflows float32 has inf or NaN from then on.
    """
    import keras

    if not isinstance(landscape, Landscape):
        raise ValueError(f"landscape must be a labkit.landscapes.Landscape (e.g. rosenbrock()), got {landscape!r}.")
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}.")
    if clip is not None and not callable(clip):
        raise ValueError(f"clip must be a function of a list of gradients (or None), got {clip!r}.")
    start = landscape.start if start is None else _checked_point("start", start)
    point = keras.Variable(np.asarray(start, dtype="float32"), dtype="float32", name="point")

    def step():
        x, y = point.value[0], point.value[1]
        gradients = [keras.ops.stack(landscape.gradient(x, y))]
        if clip is not None:
            gradients = list(clip(gradients))
        optimizer.apply_gradients(zip(gradients, [point]))
        return point.value

    run_step = _compiled(step)
    points = [np.asarray(start, dtype=np.float64)]
    for _ in range(int(steps)):
        points.append(np.asarray(keras.ops.convert_to_numpy(run_step()), dtype=np.float64))
    points = np.stack(points)
    with np.errstate(over="ignore", invalid="ignore"):
        losses = landscape.value(points[:, 0], points[:, 1])
    return {"points": points, "losses": np.asarray(losses, dtype=np.float64)}


def plot_trajectories(landscape, trajectories, ax=None, title=None, levels=None, max_markers=60, colors=None):
    """Draw `trajectories` ({label: (n, 2) points}) over log-spaced contour lines of the landscape.

    Points outside the plotted region (a diverging run) are cut off by the axes; the minimum is marked with a star.
    `colors` ({label: color}) keeps a run's color the same across several plots.
    """
    import matplotlib.pyplot as plt

    if not isinstance(landscape, Landscape):
        raise ValueError(f"landscape must be a labkit.landscapes.Landscape, got {landscape!r}.")
    if not isinstance(trajectories, dict) or not trajectories:
        raise ValueError("trajectories must be a non-empty dict {label: array of (x, y) points}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4.5))
    x = np.linspace(*landscape.x_range, 300)
    y = np.linspace(*landscape.y_range, 300)
    grid_x, grid_y = np.meshgrid(x, y)
    values = landscape.value(grid_x, grid_y)
    if levels is None:
        low = max(float(values.min()), 1e-3)
        levels = np.geomspace(low, float(values.max()), 14)
    ax.contour(grid_x, grid_y, values, levels=levels, colors="0.75", linewidths=0.8)
    for label, points in trajectories.items():
        points = np.asarray(points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(f"trajectory {label!r} must be an (n, 2) array of points, got shape {points.shape}.")
        every = max(1, len(points) // max_markers)
        color = (colors or {}).get(label)
        ax.plot(points[:, 0], points[:, 1], "-", linewidth=1.3, label=label, **({"color": color} if color else {}))
        ax.plot(points[::every, 0], points[::every, 1], ".", markersize=3, color=ax.lines[-1].get_color())
    ax.plot(*landscape.start, "ko", markersize=5)
    ax.plot(*landscape.minimum, "k*", markersize=11)
    ax.set_xlim(*landscape.x_range)
    ax.set_ylim(*landscape.y_range)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title or landscape.name)
    ax.legend(fontsize=7, loc="best")
    return ax
