"""Small seeded models the labs train, so every run of a lab starts from the same weights."""

import keras


def make_classifier(input_shape=(28, 28), hidden_units=(128,), num_classes=10, activation="relu", seed=0):
    """A seeded MLP classifier: Flatten, Dense hidden layers, softmax output."""
    if not hidden_units or any(units < 1 for units in hidden_units):
        raise ValueError(f"hidden_units must be positive layer widths, got {hidden_units!r}.")
    keras.utils.set_random_seed(seed)
    layers = [keras.Input(shape=input_shape), keras.layers.Flatten()]
    layers += [keras.layers.Dense(units, activation=activation) for units in hidden_units]
    layers.append(keras.layers.Dense(num_classes, activation="softmax"))
    return keras.Sequential(layers)
