"""Tests for labkit.plots (with the Agg backend) and labkit.models.make_classifier."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from labkit import models, plots  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


class FakeHistory:
    """Stands in for keras.callbacks.History: only the .history dict matters."""

    def __init__(self, history):
        self.history = history


# ---------------------------------------------------------------------------
# plot_histories.


def test_plot_histories_with_dicts():
    histories = {"sgd": {"loss": [3.0, 2.0, 1.5]}, "adam": {"loss": [2.0, 1.0, 0.5], "accuracy": [0.1, 0.5, 0.9]}}
    ax = plots.plot_histories(histories)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["sgd", "adam"]
    np.testing.assert_array_equal(lines[0].get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(lines[1].get_ydata(), [2.0, 1.0, 0.5])
    assert ax.get_xlabel() == "epoch"
    assert ax.get_ylabel() == "loss"
    assert ax.get_title() == "loss"
    assert ax.get_yscale() == "linear"
    assert ax.get_legend() is not None


def test_plot_histories_with_history_objects_metric_title_and_log_scale():
    histories = {"run": FakeHistory({"loss": [1.0, 0.1], "val_loss": [2.0, 0.2, 0.02]})}
    ax = plots.plot_histories(histories, metric="val_loss", title="validation", log_scale=True)
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(line.get_ydata(), [2.0, 0.2, 0.02])
    assert ax.get_ylabel() == "val_loss"
    assert ax.get_title() == "validation"
    assert ax.get_yscale() == "log"


def test_plot_histories_draws_on_given_axes():
    _, ax = plt.subplots()
    assert plots.plot_histories({"run": {"loss": [1.0]}}, ax=ax) is ax
    assert len(ax.get_lines()) == 1


def test_plot_histories_missing_metric_names_available_metrics():
    histories = {"run": FakeHistory({"loss": [1.0], "accuracy": [0.5]})}
    with pytest.raises(ValueError) as raised:
        plots.plot_histories(histories, metric="val_accuracy")
    message = str(raised.value)
    assert "'run'" in message
    assert "'val_accuracy'" in message
    assert "['accuracy', 'loss']" in message


def test_plot_histories_empty_raises():
    with pytest.raises(ValueError, match="at least one run"):
        plots.plot_histories({})


# ---------------------------------------------------------------------------
# plot_series.


def test_plot_series_with_lists_and_pairs():
    series = {"constant": [0.1, 0.1, 0.1], "decay": ([0, 10, 20], [0.1, 0.05, 0.025])}
    ax = plots.plot_series(series, xlabel="step", ylabel="learning rate", title="schedules")
    constant, decay = ax.get_lines()
    assert constant.get_label() == "constant"
    np.testing.assert_array_equal(constant.get_xdata(), [0, 1, 2])
    np.testing.assert_array_equal(constant.get_ydata(), [0.1, 0.1, 0.1])
    np.testing.assert_array_equal(decay.get_xdata(), [0, 10, 20])
    np.testing.assert_array_equal(decay.get_ydata(), [0.1, 0.05, 0.025])
    assert ax.get_xlabel() == "step"
    assert ax.get_ylabel() == "learning rate"
    assert ax.get_title() == "schedules"
    assert ax.get_yscale() == "linear"


def test_plot_series_log_scale_without_title():
    ax = plots.plot_series({"lr": np.geomspace(1.0, 1e-3, 5)}, log_scale=True)
    assert ax.get_yscale() == "log"
    assert ax.get_title() == ""
    assert len(ax.get_lines()[0].get_xdata()) == 5


def test_plot_series_draws_on_given_axes():
    _, ax = plt.subplots()
    assert plots.plot_series({"a": [1, 2]}, ax=ax) is ax


def test_plot_series_empty_raises():
    with pytest.raises(ValueError, match="at least one series"):
        plots.plot_series({})


# ---------------------------------------------------------------------------
# make_classifier.


def weights_of(model):
    return [np.asarray(weight) for weight in model.get_weights()]


def test_make_classifier_output_shape_and_softmax():
    model = models.make_classifier(input_shape=(4, 4), hidden_units=(8, 6), num_classes=3, seed=1)
    assert model.output_shape == (None, 3)
    assert [layer.units for layer in model.layers if hasattr(layer, "units")] == [8, 6, 3]
    inputs = np.random.default_rng(0).normal(size=(5, 4, 4)).astype("float32")
    outputs = keras.ops.convert_to_numpy(model(inputs))  # np.asarray fails on torch: the outputs track gradients
    assert outputs.shape == (5, 3)
    np.testing.assert_allclose(outputs.sum(axis=1), 1.0, rtol=1e-5)


def test_make_classifier_default_shape():
    model = models.make_classifier()
    assert model.input_shape == (None, 28, 28)
    assert model.output_shape == (None, 10)


def test_make_classifier_same_seed_same_weights():
    first = weights_of(models.make_classifier(input_shape=(6,), hidden_units=(5,), num_classes=2, seed=3))
    second = weights_of(models.make_classifier(input_shape=(6,), hidden_units=(5,), num_classes=2, seed=3))
    other = weights_of(models.make_classifier(input_shape=(6,), hidden_units=(5,), num_classes=2, seed=4))
    assert len(first) == len(second) == 4
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])


@pytest.mark.parametrize("hidden_units", [(), [], (0,), (16, -2)])
def test_make_classifier_bad_hidden_units(hidden_units):
    with pytest.raises(ValueError, match="hidden_units must be positive"):
        models.make_classifier(input_shape=(4,), hidden_units=hidden_units)
