"""Keras built-ins as the grader's Keras (3.15, requirements.txt) behaves them, whatever Keras is installed.

A check's reference must not change meaning with the installed version. Where Keras's behaviour changed
between the oldest Keras the labs support (3.11, requirements-compat.txt) and the grader's, the check names
the class here instead of the Keras built-in: the installed built-in with the changed method fixed to what
Keras 3.15 does (and what the lab teaches). On Keras 3.15 each class behaves exactly like its built-in.

* ``EarlyStopping``: Keras 3.15's ``on_train_begin`` also resets ``best``, so one instance reused for a
  second ``fit()`` starts afresh; Keras 3.11 keeps the first fit's ``best``.
* ``ReduceLROnPlateau``: the same change in ``_reset`` (called by ``on_train_begin``).

The classes are made on first use (module ``__getattr__``): labkit modules must not import Keras at
import time.
"""

__all__ = ["EarlyStopping", "ReduceLROnPlateau"]
_MADE = {}


def _early_stopping():
    import keras

    class EarlyStopping(keras.callbacks.EarlyStopping):
        """keras.callbacks.EarlyStopping with Keras 3.15's on_train_begin (best reset too)."""

        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            self.best = None

    return EarlyStopping


def _reduce_lr_on_plateau():
    import keras

    class ReduceLROnPlateau(keras.callbacks.ReduceLROnPlateau):
        """keras.callbacks.ReduceLROnPlateau with Keras 3.15's _reset (best reset too)."""

        def _reset(self):
            super()._reset()
            self.best = None

    return ReduceLROnPlateau


_FACTORIES = {"EarlyStopping": _early_stopping, "ReduceLROnPlateau": _reduce_lr_on_plateau}


def __getattr__(name):
    if name not in _FACTORIES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name not in _MADE:
        made = _FACTORIES[name]()
        made.__module__ = __name__
        made.__qualname__ = name
        _MADE[name] = made
    return _MADE[name]
