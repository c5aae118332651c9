"""Plots the labs share: training curves of several runs and named series such as schedules."""

import matplotlib.pyplot as plt


def _history_dict(history):
    """Accept a keras History or a plain dict of metric name -> list of values."""
    return history.history if hasattr(history, "history") else dict(history)


def plot_histories(histories, metric="loss", title=None, log_scale=False, ax=None):
    """One line per run of a metric over epochs (e.g. loss of each optimizer); returns the Axes."""
    if not histories:
        raise ValueError("plot_histories needs at least one run, got an empty dict.")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    for run_name, history in histories.items():
        values = _history_dict(history)
        if metric not in values:
            raise ValueError(
                f"Run {run_name!r} has no metric {metric!r}; it has {sorted(values)}."
            )
        epochs = range(1, len(values[metric]) + 1)
        ax.plot(epochs, values[metric], marker="o", markersize=3, label=run_name)
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    if log_scale:
        ax.set_yscale("log")
    ax.set_title(title or metric)
    ax.legend()
    ax.grid(alpha=0.3)
    return ax


def plot_series(series, xlabel="step", ylabel="value", title=None, log_scale=False, ax=None):
    """One line per named series; a series is a list of y values or a pair (x values, y values)."""
    if not series:
        raise ValueError("plot_series needs at least one series, got an empty dict.")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    for name, values in series.items():
        if isinstance(values, tuple) and len(values) == 2:
            ax.plot(values[0], values[1], label=name)
        else:
            ax.plot(range(len(values)), values, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if log_scale:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    return ax
