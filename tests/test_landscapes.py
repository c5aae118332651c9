"""Tests for labkit.landscapes: the 2-D test functions, optimizer paths on them, and the trajectory plot."""

import subprocess
import sys

import keras
import matplotlib
import numpy as np
import pytest

from labkit import landscapes

matplotlib.use("Agg")


def test_module_does_not_import_keras():
    code = "import sys, labkit.landscapes; sys.exit('keras' in sys.modules or 'tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize("landscape", [landscapes.quadratic_bowl(), landscapes.rosenbrock()], ids=["bowl", "rosenbrock"])
def test_gradient_is_the_derivative_and_vanishes_at_the_minimum(landscape):
    # Central differences in float64 with h = 1e-6 are accurate to ~1e-8 relative for these polynomials.
    step = 1e-6
    for x, y in [landscape.start, (0.3, -0.7), (1.2, 0.4)]:
        numerical = [(landscape.value(x + step, y) - landscape.value(x - step, y)) / (2 * step),
                     (landscape.value(x, y + step) - landscape.value(x, y - step)) / (2 * step)]
        np.testing.assert_allclose(landscape.gradient(x, y), numerical, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(landscape.gradient(*landscape.minimum), [0.0, 0.0], atol=1e-12)
    assert landscape.value(*landscape.minimum) == 0.0


def test_bowl_plot_region_is_symmetric_around_the_start_unless_given():
    assert landscapes.quadratic_bowl(start=(-4.0, 1.0)).x_range == (-4.6, 4.6)
    bowl = landscapes.quadratic_bowl(x_range=(-4.5, 1.0), y_range=(-1.0, 1.5))
    assert bowl.x_range == (-4.5, 1.0) and bowl.y_range == (-1.0, 1.5)


def test_gradient_descent_on_the_bowl_follows_the_closed_form():
    # x_t = x_0 (1 - lr a)^t per axis; float32 steps: rtol 1e-5 over 20 steps.
    bowl = landscapes.quadratic_bowl(curvatures=(1.0, 10.0), start=(-2.0, 1.0))
    result = landscapes.optimize(keras.optimizers.SGD(learning_rate=0.05), bowl, 20)
    steps = np.arange(21)[:, None]
    expected = np.array([-2.0, 1.0]) * (1 - 0.05 * np.array([1.0, 10.0])) ** steps
    assert result["points"].shape == (21, 2) and result["losses"].shape == (21,)
    np.testing.assert_allclose(result["points"], expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(result["losses"], bowl.value(expected[:, 0], expected[:, 1]), rtol=1e-4)


def test_clip_is_applied_before_each_step_and_start_overrides_the_landscape():
    valley = landscapes.rosenbrock()

    def to_unit_norm(gradients):
        return [gradient / keras.ops.sqrt(keras.ops.sum(keras.ops.square(gradient))) for gradient in gradients]

    result = landscapes.optimize(keras.optimizers.SGD(learning_rate=0.01), valley, 5, start=(2.0, -1.0), clip=to_unit_norm)
    np.testing.assert_allclose(result["points"][0], [2.0, -1.0])
    np.testing.assert_allclose(np.linalg.norm(np.diff(result["points"], axis=0), axis=1), 0.01, rtol=1e-4)


def test_a_diverging_run_records_non_finite_losses_without_raising():
    result = landscapes.optimize(keras.optimizers.SGD(learning_rate=0.0015), landscapes.rosenbrock(start=(2.0, -1.0)), 30)
    assert np.isfinite(result["losses"][0]) and not np.isfinite(result["losses"][-1])


def test_plot_draws_every_trajectory_over_the_contours():
    bowl = landscapes.quadratic_bowl()
    paths = {"a": [[-4.0, 1.0], [-3.0, 0.5]], "b": np.array([[-4.0, 1.0], [np.nan, np.inf]])}
    axes = landscapes.plot_trajectories(bowl, paths, title="t", colors={"b": "red"})
    lines = {line.get_label(): line for line in axes.lines}
    assert {"a", "b"} <= set(lines) and axes.get_title() == "t"
    assert lines["b"].get_color() == "red"
    assert axes.get_xlim() == bowl.x_range
    matplotlib.pyplot.close("all")


@pytest.mark.parametrize("call", [
    lambda: landscapes.quadratic_bowl(curvatures=(1.0, 0.0)),
    lambda: landscapes.quadratic_bowl(curvatures=(1.0,)),
    lambda: landscapes.quadratic_bowl(start=(1.0, float("nan"))),
    lambda: landscapes.rosenbrock(start="origin"),
    lambda: landscapes.optimize(keras.optimizers.SGD(), "bowl", 5),
    lambda: landscapes.optimize(keras.optimizers.SGD(), landscapes.rosenbrock(), 0),
    lambda: landscapes.optimize(keras.optimizers.SGD(), landscapes.rosenbrock(), 5, clip=1.0),
    lambda: landscapes.plot_trajectories(landscapes.rosenbrock(), {}),
    lambda: landscapes.plot_trajectories(landscapes.rosenbrock(), {"a": [1.0, 2.0, 3.0]}),
])
def test_bad_arguments_raise_value_error(call):
    with pytest.raises(ValueError):
        call()
