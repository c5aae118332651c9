"""Tests for labkit.convolution_probes: built-ins and correct variants pass, known-wrong ones fail, bad input raises."""

import json
import pathlib
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from keras import ops

from labkit import checks
from labkit import convolution_probes as probes
from labkit import dense_block_reference
from labkit import dense_block_reference

ROOT = pathlib.Path(__file__).resolve().parents[1]


def pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


# ---------------------------------------------------------------------------
# Cross-correlation and geometry.


def correlate_with_loops(image, kernel):
    """Correct: NumPy, one output pixel at a time."""
    image, kernel = np.asarray(image), np.asarray(kernel)
    rows, columns = image.shape[0] - kernel.shape[0] + 1, image.shape[1] - kernel.shape[1] + 1
    output = np.zeros((rows, columns), dtype="float32")
    for i in range(rows):
        for j in range(columns):
            output[i, j] = np.sum(image[i:i + kernel.shape[0], j:j + kernel.shape[1]] * kernel)
    return output


def correlate_with_windows(image, kernel):
    """Correct: sliding windows and einsum."""
    windows = np.lib.stride_tricks.sliding_window_view(np.asarray(image), np.shape(kernel))
    return np.einsum("ijuv,uv->ij", windows, np.asarray(kernel))


def convolve_flipped(image, kernel):
    """Wrong: the mathematical convolution (flipped kernel)."""
    return correlate_with_loops(image, np.asarray(kernel)[::-1, ::-1])


def correlate_transposed(image, kernel):
    """Wrong: swaps the kernel's axes (kernel[v, u] instead of kernel[u, v])."""
    return correlate_with_loops(image, np.asarray(kernel).T)


def correlate_same(image, kernel):
    """Wrong: zero padding to the input size."""
    kernel_height, kernel_width = np.shape(kernel)
    padded = np.pad(np.asarray(image), [((kernel_height - 1) // 2, kernel_height // 2),
                                        ((kernel_width - 1) // 2, kernel_width // 2)])
    return correlate_with_loops(padded, kernel)


def output_size_correct(size, kernel_size, strides=1, padding="valid"):
    import math

    return math.ceil(size / strides) if padding == "same" else math.floor((size - kernel_size) / strides) + 1


def output_size_floor_same(size, kernel_size, strides=1, padding="valid"):
    return size // strides if padding == "same" else (size - kernel_size) // strides + 1


def output_size_ignores_strides_in_valid(size, kernel_size, strides=1, padding="valid"):
    return -(-size // strides) if padding == "same" else size - kernel_size + 1


def same_padding_correct(size, kernel_size, strides=1):
    output = -(-size // strides)
    total = max((output - 1) * strides + kernel_size - size, 0)
    return (total // 2, total - total // 2)


def same_padding_as_array(size, kernel_size, strides=1):
    """Correct: any pair will do, a NumPy array too."""
    return np.array(same_padding_correct(size, kernel_size, strides))


def same_padding_symmetric(size, kernel_size, strides=1):
    """Wrong: PyTorch's habit, k // 2 on both sides."""
    return (kernel_size // 2, kernel_size // 2)


def same_padding_extra_first(size, kernel_size, strides=1):
    before, after = same_padding_correct(size, kernel_size, strides)
    return (after, before)


def same_padding_without_max(size, kernel_size, strides=1):
    """Wrong: the total without max(..., 0), negative once the stride exceeds the kernel."""
    output = -(-size // strides)
    total = (output - 1) * strides + kernel_size - size
    return (total // 2, total - total // 2)


# ---------------------------------------------------------------------------
# Conv2D.


class SliceConv2D(keras.layers.Layer):
    """Correct: a sum over kernel offsets of strided slices times kernel[u, v]."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", activation=None, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.strides = filters, pair(kernel_size), pair(strides)
        self.padding, self.activation, self.use_bias = padding, keras.activations.get(activation), use_bias

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(*self.kernel_size, input_shape[-1], self.filters), name="kernel")
        self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias") if self.use_bias else None

    def paddings(self, inputs):
        if self.padding == "valid":
            return [(0, 0), (0, 0)]
        return [probes.same_padding_amounts(int(inputs.shape[axis + 1]), self.kernel_size[axis], self.strides[axis])
                for axis in range(2)]

    def effective_kernel(self):
        return self.kernel

    def call(self, inputs):
        (top, bottom), (left, right) = self.paddings(inputs)
        padded = ops.pad(inputs, [[0, 0], [top, bottom], [left, right], [0, 0]])
        rows = (padded.shape[1] - self.kernel_size[0]) // self.strides[0] + 1
        columns = (padded.shape[2] - self.kernel_size[1]) // self.strides[1] + 1
        kernel = self.effective_kernel()
        outputs = 0
        for u in range(self.kernel_size[0]):
            for v in range(self.kernel_size[1]):
                window = padded[:, u:u + self.strides[0] * (rows - 1) + 1:self.strides[0],
                                v:v + self.strides[1] * (columns - 1) + 1:self.strides[1], :]
                outputs = outputs + ops.matmul(window, kernel[u, v])
        if self.use_bias:
            outputs = outputs + self.bias
        return self.activation(outputs)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding,
                "activation": keras.activations.serialize(self.activation), "use_bias": self.use_bias}


class Im2colConv2D(SliceConv2D):
    """Correct, another style: stack the slices (im2col), one matmul with the reshaped kernel, bias added first."""

    def call(self, inputs):
        (top, bottom), (left, right) = self.paddings(inputs)
        padded = ops.pad(inputs, [[0, 0], [top, bottom], [left, right], [0, 0]])
        rows = (padded.shape[1] - self.kernel_size[0]) // self.strides[0] + 1
        columns = (padded.shape[2] - self.kernel_size[1]) // self.strides[1] + 1
        patches = ops.concatenate([
            padded[:, u:u + self.strides[0] * (rows - 1) + 1:self.strides[0],
                   v:v + self.strides[1] * (columns - 1) + 1:self.strides[1], :]
            for u in range(self.kernel_size[0]) for v in range(self.kernel_size[1])], axis=-1)
        outputs = ops.matmul(patches, ops.reshape(self.kernel, (-1, self.filters)))
        return self.activation(outputs + self.bias if self.use_bias else outputs)


class SymmetricPaddingConv2D(SliceConv2D):
    """Wrong: PyTorch-style symmetric 'same' padding of k // 2 (right for odd kernels with stride 1 only)."""

    def paddings(self, inputs):
        if self.padding == "valid":
            return [(0, 0), (0, 0)]
        return [(size // 2, size // 2) for size in self.kernel_size]


class StrideOnePaddingConv2D(SliceConv2D):
    """Wrong: always pads k - 1 zeros, the extra one after (right for stride 1, too much once the stride exceeds k)."""

    def paddings(self, inputs):
        if self.padding == "valid":
            return [(0, 0), (0, 0)]
        return [((size - 1) // 2, size // 2) for size in self.kernel_size]


class ExtraPaddingFirstConv2D(SliceConv2D):
    def paddings(self, inputs):
        return [(after, before) for before, after in super().paddings(inputs)]


class FlippedKernelConv2D(SliceConv2D):
    """Wrong: a true convolution (the kernel flipped)."""

    def effective_kernel(self):
        return ops.flip(self.kernel, axis=(0, 1))


class IgnoresStridesConv2D(SliceConv2D):
    def call(self, inputs):
        strides, self.strides = self.strides, (1, 1)
        try:
            return super().call(inputs)
        finally:
            self.strides = strides


class ActivationBeforeBiasConv2D(SliceConv2D):
    def call(self, inputs):
        use_bias = self.use_bias
        self.use_bias = False
        try:
            outputs = super().call(inputs)
        finally:
            self.use_bias = use_bias
        return outputs + self.bias if use_bias else outputs


class AlwaysBiasConv2D(SliceConv2D):
    """Wrong: creates and adds a bias even with use_bias=False."""

    def build(self, input_shape):
        use_bias, self.use_bias = self.use_bias, True
        super().build(input_shape)
        self.use_bias = use_bias

    def call(self, inputs):
        return super().call(inputs) + self.bias


class TorchLayoutConv2D(SliceConv2D):
    """Wrong layout: kernel (filters, channels_in, kh, kw)."""

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(self.filters, input_shape[-1], *self.kernel_size), name="kernel")
        self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias") if self.use_bias else None

    def call(self, inputs):
        return inputs


class NumpyConv2D(SliceConv2D):
    """Wrong: right values eagerly, but NumPy inside call (no gradients, no symbolic call)."""

    def call(self, inputs):
        kernel = ops.convert_to_numpy(self.kernel)
        bias = ops.convert_to_numpy(self.bias) if self.use_bias else None
        values = probes.reference_conv2d(ops.convert_to_numpy(inputs), kernel, bias, self.strides, self.padding)
        return ops.convert_to_tensor(ops.convert_to_numpy(self.activation(values.astype("float32"))))


class ConfiglessConv2D(SliceConv2D):
    """Wrong: get_config forgets the layer's own arguments."""

    def get_config(self):
        return keras.layers.Layer.get_config(self)


# ---------------------------------------------------------------------------
# Pooling.


class StackPooling2D(keras.layers.Layer):
    """Correct base: one strided slice per window offset."""

    reduce = None

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.pool_size = pair(pool_size)
        self.strides = self.pool_size if strides is None else pair(strides)
        self.padding = padding

    def windows(self, inputs):
        rows = (inputs.shape[1] - self.pool_size[0]) // self.strides[0] + 1
        columns = (inputs.shape[2] - self.pool_size[1]) // self.strides[1] + 1
        return [inputs[:, u:u + self.strides[0] * (rows - 1) + 1:self.strides[0],
                       v:v + self.strides[1] * (columns - 1) + 1:self.strides[1], :]
                for u in range(self.pool_size[0]) for v in range(self.pool_size[1])]

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides, "padding": self.padding}


class StackMaxPooling2D(StackPooling2D):
    def call(self, inputs):
        return ops.max(ops.stack(self.windows(inputs)), axis=0)


class RunningMaxPooling2D(StackPooling2D):
    """Correct, another style: a running ops.maximum."""

    def call(self, inputs):
        windows = self.windows(inputs)
        result = windows[0]
        for window in windows[1:]:
            result = ops.maximum(result, window)
        return result


class StackAveragePooling2D(StackPooling2D):
    def call(self, inputs):
        return ops.mean(ops.stack(self.windows(inputs)), axis=0)


class SumDividedAveragePooling2D(StackPooling2D):
    """Correct: a running sum divided by the window size."""

    def call(self, inputs):
        return sum(self.windows(inputs)) / (self.pool_size[0] * self.pool_size[1])


class SummingPooling2D(StackPooling2D):
    """Wrong: sums the window."""

    def call(self, inputs):
        return ops.sum(ops.stack(self.windows(inputs)), axis=0)


class StrideOneMaxPooling2D(StackMaxPooling2D):
    """Wrong: strides default to 1."""

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", **kwargs):
        super().__init__(pool_size, 1 if strides is None else strides, padding, **kwargs)


class ReshapeMaxPooling2D(StackPooling2D):
    """Right only when the pool size divides the map and strides equal the pool size."""

    def call(self, inputs):
        height, width, channels = inputs.shape[1:]
        rows, columns = height // self.pool_size[0], width // self.pool_size[1]
        cropped = inputs[:, :rows * self.pool_size[0], :columns * self.pool_size[1], :]
        blocks = ops.reshape(cropped, (-1, rows, self.pool_size[0], columns, self.pool_size[1], channels))
        return ops.max(blocks, axis=(2, 4))


# ---------------------------------------------------------------------------
# 1x1 convolutions and parameter counts.


def pointwise_einsum(images, kernel, bias):
    return ops.einsum("...c,cd->...d", images, kernel[0, 0]) + bias


def pointwise_without_bias(images, kernel, bias):
    return ops.matmul(images, kernel[0, 0])


def pointwise_transposed(images, kernel, bias):
    return ops.matmul(images, ops.transpose(kernel[0, 0])) + bias


def conv_count_correct(kernel_size, input_channels, filters, use_bias=True):
    height, width = pair(kernel_size)
    return height * width * input_channels * filters + filters * bool(use_bias)


def conv_count_without_bias(kernel_size, input_channels, filters, use_bias=True):
    height, width = pair(kernel_size)
    return height * width * input_channels * filters


def conv_count_ignores_input_channels(kernel_size, input_channels, filters, use_bias=True):
    height, width = pair(kernel_size)
    return height * width * filters + (filters if use_bias else 0)


def dense_count_correct(input_units, units, use_bias=True):
    return (input_units + (1 if use_bias else 0)) * units


def dense_count_always_bias(input_units, units, use_bias=True):
    return input_units * units + units


# ---------------------------------------------------------------------------
# LeNet-5.


def lenet_sequential(input_shape=(28, 28, 1), num_classes=10, activation="relu", conv_layer=keras.layers.Conv2D,
                     pooling_layer=keras.layers.MaxPooling2D):
    return keras.Sequential([
        keras.Input(shape=input_shape),
        conv_layer(6, 5, padding="same", activation=activation),
        pooling_layer(2),
        conv_layer(16, 5, activation=activation),
        pooling_layer(pool_size=2),
        keras.layers.Flatten(),
        keras.layers.Dense(120, activation=activation),
        keras.layers.Dense(84, activation=activation),
        keras.layers.Dense(num_classes, activation="softmax"),
    ])


def lenet_without_input(input_shape=(28, 28, 1), num_classes=10, activation="relu", conv_layer=keras.layers.Conv2D,
                        pooling_layer=keras.layers.MaxPooling2D):
    """Correct too: Keras allows a Sequential without keras.Input (it is built by its first call)."""
    return keras.Sequential(lenet_sequential(input_shape, num_classes, activation, conv_layer, pooling_layer).layers)


def lenet_functional(input_shape=(28, 28, 1), num_classes=10, activation="relu", conv_layer=keras.layers.Conv2D,
                     pooling_layer=keras.layers.MaxPooling2D):
    """Correct, another style: the functional API, keyword arguments and tuples."""
    inputs = keras.Input(shape=input_shape)
    features = conv_layer(filters=6, kernel_size=(5, 5), strides=(1, 1), padding="same", activation=activation)(inputs)
    features = pooling_layer(pool_size=(2, 2), strides=(2, 2))(features)
    features = conv_layer(filters=16, kernel_size=(5, 5), padding="valid", activation=activation)(features)
    features = pooling_layer((2, 2))(features)
    features = keras.layers.Flatten()(features)
    for units in (120, 84):
        features = keras.layers.Dense(units, activation=activation)(features)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(features))


def lenet_valid_first(input_shape=(28, 28, 1), num_classes=10, activation="relu", conv_layer=keras.layers.Conv2D,
                      pooling_layer=keras.layers.MaxPooling2D):
    return keras.Sequential([
        keras.Input(shape=input_shape), conv_layer(6, 5, activation=activation), pooling_layer(2),
        conv_layer(16, 5, activation=activation), pooling_layer(2), keras.layers.Flatten(),
        keras.layers.Dense(120, activation=activation), keras.layers.Dense(84, activation=activation),
        keras.layers.Dense(num_classes, activation="softmax"),
    ])


def lenet_hard_coded(input_shape=(28, 28, 1), num_classes=10, activation="relu", conv_layer=keras.layers.Conv2D,
                     pooling_layer=keras.layers.MaxPooling2D):
    """Wrong: ignores its arguments except the layer classes."""
    return lenet_sequential(conv_layer=conv_layer, pooling_layer=pooling_layer)


def lenet_ignores_conv_layer(input_shape=(28, 28, 1), num_classes=10, activation="relu",
                             conv_layer=keras.layers.Conv2D, pooling_layer=keras.layers.MaxPooling2D):
    """Wrong: uses keras.layers.Conv2D directly (switched off while grading)."""
    return lenet_sequential(input_shape, num_classes, activation, keras.layers.Conv2D, pooling_layer)


def lenet_without_softmax(input_shape=(28, 28, 1), num_classes=10, activation="relu", conv_layer=keras.layers.Conv2D,
                          pooling_layer=keras.layers.MaxPooling2D):
    model = lenet_sequential(input_shape, num_classes, activation, conv_layer, pooling_layer)
    model.layers[-1].activation = keras.activations.get("linear")
    return model


# ---------------------------------------------------------------------------
# Residual blocks.


class BuildBlock(keras.layers.Layer):
    """Correct: sub-layers made in build, the projection only when needed."""

    def __init__(self, filters, strides=1, conv_layer=keras.layers.Conv2D, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.strides, self.conv_layer = filters, strides, conv_layer

    def build(self, input_shape):
        self.first = self.conv_layer(self.filters, 3, strides=self.strides, padding="same", use_bias=False)
        self.first_norm = keras.layers.BatchNormalization()
        self.second = self.conv_layer(self.filters, 3, padding="same", use_bias=False)
        self.second_norm = keras.layers.BatchNormalization()
        self.project = self.strides != 1 or input_shape[-1] != self.filters
        if self.project:
            self.projection = self.conv_layer(self.filters, 1, strides=self.strides, use_bias=False)
            self.projection_norm = keras.layers.BatchNormalization()

    def main_path(self, inputs, training):
        outputs = ops.relu(self.first_norm(self.first(inputs), training=training))
        return self.second_norm(self.second(outputs), training=training)

    def shortcut(self, inputs, training):
        return self.projection_norm(self.projection(inputs), training=training) if self.project else inputs

    def call(self, inputs, training=None):
        return ops.relu(self.main_path(inputs, training) + self.shortcut(inputs, training))


class InitBlock(keras.layers.Layer):
    """Correct, another style: every sub-layer made in __init__ (the projection too, unused when not needed)."""

    def __init__(self, filters, strides=1, conv_layer=keras.layers.Conv2D, **kwargs):
        super().__init__(**kwargs)
        self.strides = strides
        self.first = conv_layer(filters, (3, 3), strides=(strides, strides), padding="same", use_bias=False)
        self.second = conv_layer(filters, (3, 3), strides=(1, 1), padding="same", use_bias=False)
        self.projection = conv_layer(filters, (1, 1), strides=(strides, strides), padding="same", use_bias=False)
        self.norms = [keras.layers.BatchNormalization() for _ in range(3)]
        self.filters = filters

    def call(self, inputs, training=None):
        outputs = ops.relu(self.norms[0](self.first(inputs), training=training))
        outputs = self.norms[1](self.second(outputs), training=training)
        if self.strides != 1 or inputs.shape[-1] != self.filters:
            inputs = self.norms[2](self.projection(inputs), training=training)
        return ops.maximum(outputs + inputs, 0.0)


class ReluBeforeAdditionBlock(BuildBlock):
    def call(self, inputs, training=None):
        return ops.relu(self.main_path(inputs, training)) + self.shortcut(inputs, training)


class PlainBlock(BuildBlock):
    """Wrong: no shortcut at all."""

    def call(self, inputs, training=None):
        return ops.relu(self.main_path(inputs, training))


class StrideInSecondConvBlock(BuildBlock):
    def build(self, input_shape):
        super().build(input_shape)
        self.first = self.conv_layer(self.filters, 3, padding="same", use_bias=False)
        self.second = self.conv_layer(self.filters, 3, strides=self.strides, padding="same", use_bias=False)


class ProjectionWithoutNormBlock(BuildBlock):
    def shortcut(self, inputs, training):
        return self.projection(inputs) if self.project else inputs


class BiasedConvolutionsBlock(BuildBlock):
    def build(self, input_shape):
        super().build(input_shape)
        self.first = self.conv_layer(self.filters, 3, strides=self.strides, padding="same")
        self.second = self.conv_layer(self.filters, 3, padding="same")


class InferenceOnlyBlock(BuildBlock):
    """Wrong: batch normalization always in inference mode."""

    def call(self, inputs, training=None):
        return super().call(inputs, training=False)


# ---------------------------------------------------------------------------
# Dense blocks.


@keras.saving.register_keras_serializable(package="tests")
class ConcatenatingDenseBlock(keras.layers.Layer):
    """Correct: sub-layers made in build, ops.concatenate of the features so far and the new ones."""

    def __init__(self, num_layers, growth_rate, transition_filters=None, conv_layer=keras.layers.Conv2D,
                 pooling_layer=keras.layers.AveragePooling2D, **kwargs):
        super().__init__(**kwargs)
        self.num_layers = num_layers
        self.growth_rate = growth_rate
        self.transition_filters = transition_filters
        self.conv_layer = conv_layer
        self.pooling_layer = pooling_layer

    def build(self, input_shape):
        self.norms, self.convolutions = [], []
        for _ in range(self.num_layers):
            self.norms.append(keras.layers.BatchNormalization())
            self.convolutions.append(self.conv_layer(filters=self.growth_rate, kernel_size=(3, 3), padding="same",
                                                     use_bias=False))
        if self.transition_filters is None:
            return
        self.transition_norm = keras.layers.BatchNormalization()
        self.transition = self.conv_layer(filters=self.transition_filters, kernel_size=(1, 1), use_bias=False)
        self.pooling = self.pooling_layer(pool_size=(2, 2))

    def new_features(self, index, features, training):
        return self.convolutions[index](ops.relu(self.norms[index](features, training=training)))

    def call(self, inputs, training=None):
        features = inputs
        for index in range(self.num_layers):
            features = ops.concatenate([features, self.new_features(index, features, training)], axis=-1)
        if self.transition_filters is not None:
            features = self.pooling(self.transition(ops.relu(self.transition_norm(features, training=training))))
        return features

    def get_config(self):
        return {**super().get_config(), "num_layers": self.num_layers, "growth_rate": self.growth_rate,
                "transition_filters": self.transition_filters}


@keras.saving.register_keras_serializable(package="tests")
class ListDenseBlock(keras.layers.Layer):
    """Correct, another style: sub-layers made in __init__, the paper's list of all feature maps concatenated anew."""

    def __init__(self, num_layers, growth_rate, transition_filters=None, conv_layer=keras.layers.Conv2D,
                 pooling_layer=keras.layers.AveragePooling2D, **kwargs):
        super().__init__(**kwargs)
        self.settings = {"num_layers": num_layers, "growth_rate": growth_rate,
                         "transition_filters": transition_filters}
        self.layer_pairs = [(keras.layers.BatchNormalization(), conv_layer(growth_rate, (3, 3), strides=(1, 1),
                                                                           padding="same", use_bias=False))
                            for _ in range(num_layers)]
        self.transition = None if transition_filters is None else (
            keras.layers.BatchNormalization(), conv_layer(transition_filters, (1, 1), use_bias=False),
            pooling_layer(pool_size=(2, 2)))
        self.concatenate = keras.layers.Concatenate()

    def call(self, inputs, training=None):
        maps = [inputs]
        for norm, convolution in self.layer_pairs:
            joined = maps[0] if len(maps) == 1 else self.concatenate(maps)
            maps.append(convolution(keras.activations.relu(norm(joined, training=training))))
        features = self.concatenate(maps)
        if self.transition is not None:
            norm, convolution, pooling = self.transition
            features = pooling(convolution(keras.activations.relu(norm(features, training=training))))
        return features

    def get_config(self):
        return {**super().get_config(), **self.settings}


@keras.saving.register_keras_serializable(package="tests")
class LastOutputOnlyDenseBlock(ConcatenatingDenseBlock):
    """Wrong: a plain stack, each layer seeing only the previous layer's output."""

    def call(self, inputs, training=None):
        features = inputs
        for index in range(self.num_layers):
            features = self.new_features(index, features, training)
        return features


@keras.saving.register_keras_serializable(package="tests")
class NewFeaturesFirstDenseBlock(ConcatenatingDenseBlock):
    """Wrong: the new channels first, so the inputs are no longer the first output channels."""

    def call(self, inputs, training=None):
        features = inputs
        for index in range(self.num_layers):
            features = ops.concatenate([self.new_features(index, features, training), features], axis=-1)
        return features


@keras.saving.register_keras_serializable(package="tests")
class HeightConcatenatingDenseBlock(ConcatenatingDenseBlock):
    """Wrong: concatenates along the height (the new maps need as many channels as the input to fit)."""

    def build(self, input_shape):
        self.growth_rate = int(input_shape[-1])
        super().build(input_shape)

    def call(self, inputs, training=None):
        features = inputs
        for index in range(self.num_layers):
            features = ops.concatenate([features, self.new_features(index, features, training)], axis=1)
        return features


@keras.saving.register_keras_serializable(package="tests")
class PostActivationDenseBlock(ConcatenatingDenseBlock):
    """Wrong: conv -> BN -> ReLU (the ResNet order) instead of BN -> ReLU -> conv."""

    def build(self, input_shape):
        super().build(input_shape)
        self.norms = [keras.layers.BatchNormalization() for _ in range(self.num_layers)]

    def new_features(self, index, features, training):
        return ops.relu(self.norms[index](self.convolutions[index](features), training=training))


@keras.saving.register_keras_serializable(package="tests")
class InputGrowthDenseBlock(ConcatenatingDenseBlock):
    """Wrong: every layer adds as many channels as the block's input (growth applied to the input channels)."""

    def build(self, input_shape):
        self.growth_rate = int(input_shape[-1])
        super().build(input_shape)


@keras.saving.register_keras_serializable(package="tests")
class BiasedDenseBlock(ConcatenatingDenseBlock):
    """Wrong: convolutions with a bias (BN follows in the next layer; the paper's convolutions have none)."""

    def build(self, input_shape):
        super().build(input_shape)
        self.convolutions = [self.conv_layer(self.growth_rate, 3, padding="same") for _ in range(self.num_layers)]


@keras.saving.register_keras_serializable(package="tests")
class MaxPoolingTransitionDenseBlock(ConcatenatingDenseBlock):
    """Wrong: the transition pools with a 3x3 window and stride 2."""

    def build(self, input_shape):
        super().build(input_shape)
        if self.transition_filters is not None:
            self.pooling = self.pooling_layer(3, strides=2)


@keras.saving.register_keras_serializable(package="tests")
class ConfigWithoutTransitionDenseBlock(ConcatenatingDenseBlock):
    """Wrong: get_config forgets transition_filters."""

    def get_config(self):
        config = super().get_config()
        del config["transition_filters"]
        return config


class UnregisteredDenseBlock(ConcatenatingDenseBlock):
    """Wrong: correct computations, but not registered for serialization."""


NAMESPACE = {name: value for name, value in globals().items() if not name.startswith("_")}
NAMESPACE["NotAClass"] = SliceConv2D(2, 3)


def outcome(check):
    return checks.evaluate(check, NAMESPACE)


# ---------------------------------------------------------------------------
# The module itself.


def test_import_does_not_load_keras_or_tensorflow():
    code = (
        "import sys, labkit.convolution_probes; "
        "loaded = [name for name in ('keras', 'tensorflow', 'jax', 'torch') if name in sys.modules]; "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------
# Closed forms against Keras.


@pytest.mark.parametrize("seed", range(12))
def test_reference_conv2d_and_same_padding_match_keras(seed):
    random = np.random.RandomState(seed)
    kernel_size = tuple(int(size) for size in random.randint(1, 6, size=2))
    strides = tuple(int(size) for size in random.randint(1, 4, size=2))
    padding = ("valid", "same")[seed % 2]
    shape = (2, int(random.randint(kernel_size[0], 11)), int(random.randint(kernel_size[1], 11)), 3)
    inputs = random.normal(size=shape).astype("float32")
    layer = keras.layers.Conv2D(4, kernel_size, strides=strides, padding=padding)
    layer.build(shape)
    kernel, bias = (weight.astype("float32") for weight in (random.normal(size=(*kernel_size, 3, 4)),
                                                            random.normal(size=4)))
    layer.set_weights([kernel, bias])
    expected = probes.reference_conv2d(inputs, kernel, bias, strides, padding)
    np.testing.assert_allclose(ops.convert_to_numpy(layer(inputs)), expected, rtol=1e-5, atol=1e-5)
    for axis in range(2):
        assert expected.shape[axis + 1] == probes.output_size(shape[axis + 1], kernel_size[axis], strides[axis],
                                                              padding)


@pytest.mark.parametrize("kernel_size, strides, shape", [
    ((3, 2), (4, 3), (2, 12, 10, 2)), (1, 2, (1, 7, 8, 3)), ((2, 1), 3, (2, 9, 11, 2)), (2, (5, 3), (1, 11, 7, 1)),
])
def test_same_padding_matches_keras_when_the_stride_exceeds_the_kernel(kernel_size, strides, shape):
    random = np.random.RandomState(0)
    inputs = random.normal(size=shape).astype("float32")
    layer = keras.layers.Conv2D(3, kernel_size, strides=strides, padding="same")
    layer.build(shape)
    kernel = random.normal(size=(*pair(kernel_size), shape[-1], 3)).astype("float32")
    bias = random.normal(size=3).astype("float32")
    layer.set_weights([kernel, bias])
    expected = probes.reference_conv2d(inputs, kernel, bias, strides, "same")
    # Float32 sums of at most 6 products of values of size ~1 (see LAYER_RTOL): 1e-5 is ample.
    np.testing.assert_allclose(ops.convert_to_numpy(layer(inputs)), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pool_size, strides, shape", [((2, 1), 3, (2, 8, 10, 2)), (2, (3, 4), (2, 9, 11, 2))])
def test_pooling_output_size_when_the_stride_exceeds_the_window(pool_size, strides, shape):
    outputs = keras.layers.MaxPooling2D(pool_size, strides=strides)(np.zeros(shape, dtype="float32"))
    expected = [probes.output_size(shape[axis + 1], pair(pool_size)[axis], pair(strides)[axis], "valid")
                for axis in range(2)]
    assert list(outputs.shape[1:3]) == expected


def test_closed_forms_by_hand():
    assert probes.reference_cross_correlation([[1, 2, 0], [3, 1, 4], [0, 2, 1]], [[1, 2], [0, -1]]).tolist() == [
        [4.0, -2.0], [3.0, 8.0]]
    assert probes.same_padding_amounts(32, 3, 2) == (0, 1)
    assert probes.same_padding_amounts(28, 5, 1) == (2, 2)
    assert probes.same_padding_amounts(9, 4, 2) == (1, 2)
    # Strides larger than the kernel: (n_out - 1) s + k - n is -1, -1, 1 and 2 here; the padding is never negative.
    assert probes.same_padding_amounts(8, 1, 3) == (0, 0)
    assert probes.same_padding_amounts(11, 2, 4) == (0, 0)
    assert probes.same_padding_amounts(12, 3, 5) == (0, 1)
    assert probes.same_padding_amounts(9, 3, 4) == (1, 1)
    assert probes.output_size(9, 4, 2, "same") == 5 and probes.output_size(9, 4, 2, "valid") == 3
    assert probes.conv_parameter_count(5, 1, 6) == 156 and probes.conv_parameter_count((3, 3), 64, 64, False) == 36864
    assert probes.dense_parameter_count(400, 120) == 48120
    assert probes.expected_lenet()["total_parameters"] == 61706


def test_descriptions():
    assert probes.describe_conv(6, 5, padding="same", activation="relu") == (
        "conv_layer(filters=6, kernel_size=(5, 5), strides=(1, 1), padding='same', activation='relu', use_bias=True)")
    assert probes.describe_pooling((2, 3)) == "pooling_layer(pool_size=(2, 3), strides=(2, 3), padding='valid')"
    assert probes.describe_dense(10, "softmax", False) == "Dense(units=10, activation='softmax', use_bias=False)"
    with pytest.raises(ValueError):
        probes.describe_conv(6, 0)


def test_expected_lenet_matches_a_keras_built_lenet():
    for arguments in ({}, {"input_shape": (32, 32, 3), "num_classes": 100, "activation": "tanh"}):
        expected = probes.expected_lenet(**arguments)
        model = lenet_sequential(**arguments)
        assert model.count_params() == expected["total_parameters"]
        for index, layer in enumerate(model.layers, start=1):
            shape = probes._shape_text(layer.output.shape)
            assert expected[f"layer_{index}"].endswith(f"-> {shape}, {layer.count_params()} parameters")


@pytest.mark.parametrize("kernel_size, strides, padding, shape", [
    (3, 1, "same", (2, 6, 6, 3)), (3, 2, "same", (2, 8, 8, 3)), (3, 2, "same", (2, 7, 7, 3)),
    (1, 2, "valid", (2, 8, 8, 3)), (4, 2, "same", (1, 9, 9, 2)), ((5, 3), (1, 2), "valid", (1, 9, 8, 2)),
])
def test_stand_in_convolution_equals_keras_on_centre_tap_kernels(kernel_size, strides, padding, shape):
    stand_in_class, _ = probes._stand_in_classes()
    inputs = np.random.RandomState(0).normal(size=shape).astype("float32")
    outputs = []
    for layer_class in (stand_in_class, keras.layers.Conv2D):
        layer = layer_class(5, kernel_size, strides=strides, padding=padding)
        layer.build(shape)
        kernel = probes._centre_tap_kernel(tuple(layer.kernel.shape), 3)
        layer.set_weights([kernel, np.full(5, 0.25, dtype="float32")])
        outputs.append(ops.convert_to_numpy(layer(inputs)))
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("filters, strides, shape", [(4, 1, (2, 6, 6, 4)), (6, 2, (2, 8, 8, 3)),
                                                     (5, 2, (3, 7, 7, 5)), (8, 1, (2, 5, 5, 4))])
def test_residual_closed_form_equals_a_block_of_keras_convolutions(filters, strides, shape):
    """The closed form (and so the stand-in) predicts a block built from real keras.layers.Conv2D."""
    inputs = probes._seeded_normal(shape, 2)
    block = BuildBlock(filters, strides=strides)
    block(inputs)
    for layer in block._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.Conv2D):
            layer.kernel.assign(probes._centre_tap_kernel(tuple(layer.kernel.shape), 2))
    expected = probes.expected_residual_block(filters, strides, shape, seed=2)
    np.testing.assert_allclose(ops.convert_to_numpy(block(inputs, training=False)), expected["inference_outputs"],
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ops.convert_to_numpy(block(inputs, training=True)), expected["training_outputs"],
                               rtol=1e-4, atol=1e-4)
    assert sum(int(np.prod(weight.shape)) for weight in block.trainable_weights) == expected["trainable_parameters"]


# ---------------------------------------------------------------------------
# Part 1 and 2.


@pytest.mark.parametrize("target, passes", [
    ("correlate_with_loops", True), ("correlate_with_windows", True), ("convolve_flipped", False),
    ("correlate_transposed", False), ("correlate_same", False),
])
def test_cross_correlation_checks(target, passes):
    results = [
        outcome(probes.cross_correlation_matches_closed_form("example", image=[[1, 2, 0], [3, 1, 4], [0, 2, 1]],
                                                             kernel=[[1, 2], [0, -1]], target=target)),
        outcome(probes.cross_correlation_matches_closed_form("seeded", image_shape=(9, 5), kernel_shape=(5, 3),
                                                             seed=7, target=target)),
    ]
    assert all(result.passed for result in results) == passes, [result.message for result in results]


CASES = [[28, 5, 1, "valid"], [28, 5, 1, "same"], [32, 3, 2, "same"], [9, 4, 2, "valid"], [10, 3, 3, "same"],
         [13, 2, 4, "valid"]]


@pytest.mark.parametrize("target, passes", [
    ("keras.layers.Conv2D", True), ("output_size_correct", True), ("output_size_floor_same", False),
    ("output_size_ignores_strides_in_valid", False),
])
def test_output_size_checks(target, passes):
    assert outcome(probes.output_sizes_match_keras("sizes", CASES, target=target)).passed == passes


@pytest.mark.parametrize("target, passes", [
    ("same_padding_correct", True), ("same_padding_as_array", True), ("same_padding_symmetric", False),
    ("same_padding_extra_first", False),
])
def test_same_padding_checks(target, passes):
    check = probes.same_paddings_match_closed_form("paddings", [[28, 5, 1], [32, 3, 2], [9, 4, 2], [8, 2, 1]],
                                                   target=target)
    assert outcome(check).passed == passes


def test_same_padding_without_max_is_seen_only_when_the_stride_exceeds_the_kernel():
    usual = probes.same_paddings_match_closed_form("paddings", [[28, 5, 1], [32, 3, 2], [9, 4, 2], [7, 1, 2]],
                                                   target="same_padding_without_max")
    assert outcome(usual).passed
    large_strides = probes.same_paddings_match_closed_form("paddings", [[12, 3, 5], [8, 1, 3]],
                                                           target="same_padding_without_max")
    assert not outcome(large_strides).passed
    assert outcome(checks.Check(**{**large_strides.to_json(), "target": "same_padding_correct"})).passed


# ---------------------------------------------------------------------------
# Conv2D.

CONV_CASES = [
    ({"filters": 4, "kernel_size": 3}, (2, 7, 7, 3), False),
    ({"filters": 3, "kernel_size": 3, "padding": "same", "activation": "relu"}, (2, 6, 6, 2), False),
    ({"filters": 5, "kernel_size": 4, "strides": 2, "padding": "same"}, (2, 9, 9, 2), True),
    ({"filters": 3, "kernel_size": (2, 3), "strides": (2, 1), "padding": "same"}, (2, 8, 7, 2), False),
    ({"filters": 3, "kernel_size": (3, 2), "strides": (1, 2), "use_bias": False}, (3, 6, 9, 4), False),
]


@pytest.mark.parametrize("target", ["keras.layers.Conv2D", "SliceConv2D", "Im2colConv2D"])
def test_correct_conv2d_matches_keras(target):
    for arguments, shape, symbolic in CONV_CASES:
        result = outcome(probes.conv2d_matches_keras("conv", arguments, shape, symbolic=symbolic, target=target))
        assert result.passed, (arguments, result.message)


@pytest.mark.parametrize("target", [
    "SymmetricPaddingConv2D", "ExtraPaddingFirstConv2D", "FlippedKernelConv2D", "IgnoresStridesConv2D",
    "ActivationBeforeBiasConv2D", "AlwaysBiasConv2D", "TorchLayoutConv2D", "NumpyConv2D", "ConfiglessConv2D",
])
def test_wrong_conv2d_fails(target):
    results = [outcome(probes.conv2d_matches_keras("conv", arguments, shape, symbolic=symbolic, target=target))
               for arguments, shape, symbolic in CONV_CASES]
    assert not all(result.passed for result in results)


def test_stride_one_padding_is_seen_only_when_the_stride_exceeds_the_kernel():
    assert all(outcome(probes.conv2d_matches_keras("conv", arguments, shape, target="StrideOnePaddingConv2D")).passed
               for arguments, shape, _ in CONV_CASES)
    large_strides = {"filters": 3, "kernel_size": (3, 2), "strides": (4, 3), "padding": "same"}
    for target, passes in [("StrideOnePaddingConv2D", False), ("SliceConv2D", True), ("Im2colConv2D", True)]:
        result = outcome(probes.conv2d_matches_keras("conv", large_strides, (2, 12, 10, 2), symbolic=True,
                                                     target=target))
        assert result.passed == passes, (target, result.message)


def test_conv2d_probe_reports_what_it_compares():
    outputs = probes.conv2d_layer(keras.layers.Conv2D, {"filters": 5, "kernel_size": 4, "strides": 2,
                                                        "padding": "same"}, (2, 9, 9, 2), symbolic=True)
    assert outputs["weight_shapes"] == "(4, 4, 2, 5), (5,)"
    assert outputs["symbolic_output_shape"] == "(None, 5, 5, 5)"
    assert outputs["outputs"].shape == (2, 5, 5, 5) and outputs["same_after_from_config"] is True
    assert outputs["kernel_gradient"].shape == (4, 4, 2, 5) and not np.isnan(outputs["input_gradient"]).any()
    # A layer whose call uses NumPy has values but no gradients.
    numpy_outputs = probes.conv2d_layer(NumpyConv2D, {"filters": 2, "kernel_size": 3}, (1, 5, 5, 1))
    assert np.isnan(numpy_outputs["kernel_gradient"]).all()
    np.testing.assert_allclose(numpy_outputs["outputs"], probes.conv2d_layer(
        keras.layers.Conv2D, {"filters": 2, "kernel_size": 3}, (1, 5, 5, 1))["outputs"], rtol=1e-5, atol=1e-5)


def test_a_layer_with_the_wrong_kernel_layout_reports_its_weight_shapes():
    outputs = probes.conv2d_layer(TorchLayoutConv2D, {"filters": 4, "kernel_size": 3}, (1, 5, 5, 2))
    assert outputs == {"weight_shapes": "(4, 2, 3, 3), (4,)"}


# ---------------------------------------------------------------------------
# Pooling.

POOLING_CASES = [({"pool_size": 2}, (2, 6, 6, 3)), ({"pool_size": 3, "strides": 2}, (2, 9, 9, 2)),
                 ({"pool_size": (2, 3), "strides": (1, 2)}, (2, 7, 9, 2)), ({"pool_size": 2}, (1, 7, 7, 3)),
                 ({"pool_size": (2, 1), "strides": 3}, (2, 8, 10, 2)),
                 ({"pool_size": 2, "strides": (3, 4)}, (2, 9, 11, 2))]


@pytest.mark.parametrize("target, reference", [
    ("keras.layers.MaxPooling2D", "keras.layers.MaxPooling2D"), ("StackMaxPooling2D", "keras.layers.MaxPooling2D"),
    ("RunningMaxPooling2D", "keras.layers.MaxPooling2D"),
    ("keras.layers.AveragePooling2D", "keras.layers.AveragePooling2D"),
    ("StackAveragePooling2D", "keras.layers.AveragePooling2D"),
    ("SumDividedAveragePooling2D", "keras.layers.AveragePooling2D"),
])
def test_correct_pooling_matches_keras(target, reference):
    for arguments, shape in POOLING_CASES:
        result = outcome(probes.pooling_matches_keras("pooling", target, reference, arguments, shape))
        assert result.passed, (arguments, result.message)


@pytest.mark.parametrize("target, reference", [
    ("SummingPooling2D", "keras.layers.AveragePooling2D"), ("StrideOneMaxPooling2D", "keras.layers.MaxPooling2D"),
    ("ReshapeMaxPooling2D", "keras.layers.MaxPooling2D"), ("StackMaxPooling2D", "keras.layers.AveragePooling2D"),
])
def test_wrong_pooling_fails(target, reference):
    results = [outcome(probes.pooling_matches_keras("pooling", target, reference, arguments, shape))
               for arguments, shape in POOLING_CASES]
    assert not all(result.passed for result in results)


def test_pooling_probe_reports_what_it_compares():
    outputs = probes.pooling_layer(keras.layers.MaxPooling2D, {"pool_size": 3, "strides": 2}, (2, 9, 8, 2))
    assert outputs["symbolic_output_shape"] == "(None, 4, 3, 2)" and outputs["weight_count"] == 0
    assert outputs["outputs"].shape == (2, 4, 3, 2) and outputs["same_after_from_config"] is True
    # Max pooling sends each output's gradient to one input: at most 4 * 3 nonzero gradients per map.
    assert np.count_nonzero(outputs["input_gradient"][0, :, :, 0]) <= 12


# ---------------------------------------------------------------------------
# 1x1 convolutions and parameter counts.


@pytest.mark.parametrize("target, passes", [
    ("keras.layers.Dense", True), ("pointwise_einsum", True), ("pointwise_without_bias", False),
    ("pointwise_transposed", False),
])
def test_pointwise_checks(target, passes):
    results = [outcome(probes.pointwise_matches_keras("conv", (2, 4, 5, 3), 3, target=target)),
               outcome(probes.pointwise_matches_keras("dense", (4, 5, 3), 3, reference="keras.layers.Dense",
                                                      target=target))]
    assert all(result.passed for result in results) == passes, [result.message for result in results]


@pytest.mark.parametrize("target, passes", [
    ("conv_count_correct", True), ("conv_count_without_bias", False), ("conv_count_ignores_input_channels", False),
])
def test_conv_parameter_count_checks(target, passes):
    check = probes.conv_parameter_counts_match_keras("counts", [[5, 1, 6, True], [3, 3, 64, False]], target=target)
    assert outcome(check).passed == passes


@pytest.mark.parametrize("target, passes", [("dense_count_correct", True), ("dense_count_always_bias", False)])
def test_dense_parameter_count_checks(target, passes):
    check = probes.dense_parameter_counts_match_keras("counts", [[784, 100, True], [3072, 10, False]], target=target)
    assert outcome(check).passed == passes


# ---------------------------------------------------------------------------
# LeNet-5 and residual blocks.

LENET_ARGUMENTS = [{}, {"input_shape": (32, 32, 3), "num_classes": 100, "activation": "tanh"}]


@pytest.mark.parametrize("target, passes", [
    ("lenet_sequential", True), ("lenet_functional", True), ("lenet_without_input", True), ("lenet_valid_first", False),
    ("lenet_hard_coded", False), ("lenet_ignores_conv_layer", False), ("lenet_without_softmax", False),
])
def test_lenet_checks(target, passes):
    results = [outcome(probes.lenet_matches("lenet", arguments, target=target)) for arguments in LENET_ARGUMENTS]
    assert all(result.passed for result in results) == passes, [result.message for result in results]


def test_lenet_probe_describes_each_layer():
    outputs = probes.lenet_architecture(lenet_sequential)
    assert outputs["layer_1"] == ("conv_layer(filters=6, kernel_size=(5, 5), strides=(1, 1), padding='same', "
                                  "activation='relu', use_bias=True) -> (None, 28, 28, 6), 156 parameters")
    assert outputs["layer_2"] == ("pooling_layer(pool_size=(2, 2), strides=(2, 2), padding='valid') -> "
                                  "(None, 14, 14, 6), 0 parameters")
    assert outputs["layer_8"].startswith("Dense(units=10, activation='softmax', use_bias=True)")
    assert outputs["output_shape"] == "(2, 10)"


BLOCK_CASES = [(4, 1, (2, 6, 6, 4)), (6, 2, (2, 8, 8, 3)), (5, 2, (3, 7, 7, 5)), (8, 1, (2, 5, 5, 4))]


# Keras warns that a layer creating its sub-layers in __init__ has "unbuilt state"; that style is correct here.
INIT_STYLE_WARNING = "ignore:`build\\(\\)` was called on layer:UserWarning"


@pytest.mark.parametrize("target", ["BuildBlock", "InitBlock"])
@pytest.mark.filterwarnings(INIT_STYLE_WARNING)
def test_correct_residual_blocks_pass(target):
    for filters, strides, shape in BLOCK_CASES:
        result = outcome(probes.residual_block_matches("block", filters, strides, shape, target=target))
        assert result.passed, (filters, strides, shape, result.message)


@pytest.mark.parametrize("target", ["ReluBeforeAdditionBlock", "PlainBlock", "StrideInSecondConvBlock",
                                    "ProjectionWithoutNormBlock", "BiasedConvolutionsBlock", "InferenceOnlyBlock"])
def test_wrong_residual_blocks_fail(target):
    results = [outcome(probes.residual_block_matches("block", filters, strides, shape, target=target))
               for filters, strides, shape in BLOCK_CASES]
    assert not all(result.passed for result in results)


@pytest.mark.filterwarnings(INIT_STYLE_WARNING)
def test_residual_block_probe_lists_only_the_convolutions_used():
    outputs = probes.residual_block(InitBlock, 4, 1, (2, 6, 6, 4))
    assert outputs["convolutions"].count("conv_layer(") == 2
    assert outputs["trainable_parameters"] == 9 * 4 * 4 * 2 + 2 * 2 * 4


# ---------------------------------------------------------------------------
# Dense blocks.

DENSE_CASES = [(3, 4, (2, 5, 5, 5), None), (2, 3, (2, 6, 6, 2), 4), (1, 6, (3, 4, 4, 1), None),
               (3, 4, (2, 5, 7, 2), 7)]


def dense_outcomes(target, cases=DENSE_CASES):
    return [outcome(probes.dense_block_matches("dense", num_layers, growth_rate, shape,
                                               transition_filters=transition_filters, seed=seed, target=target))
            for seed, (num_layers, growth_rate, shape, transition_filters) in enumerate(cases)]


@pytest.mark.parametrize("target", ["ConcatenatingDenseBlock", "ListDenseBlock"])
@pytest.mark.filterwarnings(INIT_STYLE_WARNING)
def test_correct_dense_blocks_pass(target):
    results = dense_outcomes(target)
    assert all(result.passed for result in results), [result.message for result in results]


@pytest.mark.parametrize("target, output", [
    ("LastOutputOnlyDenseBlock", "leading_channels_are_the_inputs"),
    ("NewFeaturesFirstDenseBlock", "leading_channels_are_the_inputs"),
    ("HeightConcatenatingDenseBlock", "output_shape"),
    ("PostActivationDenseBlock", "inference_outputs"),
    ("InputGrowthDenseBlock", "trainable_parameters"),
    ("BiasedDenseBlock", "convolutions"),
    ("MaxPoolingTransitionDenseBlock", "pooling_layers"),
    ("ConfigWithoutTransitionDenseBlock", "configuration"),
    ("UnregisteredDenseBlock", "registered"),
])
def test_wrong_dense_blocks_fail_on_what_they_get_wrong(target, output):
    results = dense_outcomes(target, DENSE_CASES[:2])  # one case without and one with a transition
    assert not all(result.passed for result in results)
    assert any(f"`{output}`" in result.message for result in results), [result.message for result in results]


def test_dense_reference_with_keras_layers_equals_a_float64_closed_form():
    """The trusted reference, built from real keras.layers.Conv2D and AveragePooling2D with full 3x3 kernels,
    computes BN -> ReLU -> conv, concatenated after the inputs, then the transition (float64 NumPy)."""
    shape, growth_rate, transition_filters = (2, 6, 6, 3), 4, 5
    inputs = probes._seeded_normal(shape, 5)
    block = dense_block_reference.KerasDenseBlock(2, growth_rate, transition_filters=transition_filters)
    block(inputs)
    random = np.random.RandomState(5)
    kernels = {}
    for layer in block._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.Conv2D):
            kernels[layer.name] = random.normal(size=tuple(layer.kernel.shape)).astype("float32") * 0.3
            layer.kernel.assign(kernels[layer.name])
        elif isinstance(layer, keras.layers.BatchNormalization):
            probes._seed_batch_normalization(layer, 5)

    def batch_norm(layer, values):
        gamma, beta, mean, variance = (np.asarray(ops.convert_to_numpy(weight), dtype=np.float64) for weight in (
            layer.gamma, layer.beta, layer.moving_mean, layer.moving_variance))
        return gamma * (values - mean) / np.sqrt(variance + layer.epsilon) + beta

    features = inputs.astype(np.float64)
    for norm, convolution in zip(block.norms, block.convolutions):
        new = probes.reference_conv2d(np.maximum(batch_norm(norm, features), 0), kernels[convolution.name],
                                      padding="same")
        features = np.concatenate([features, new], axis=-1)
    features = probes.reference_conv2d(np.maximum(batch_norm(block.transition_norm, features), 0),
                                       kernels[block.transition_convolution.name])
    expected = features.reshape(2, 3, 2, 3, 2, transition_filters).mean(axis=(2, 4))
    # Float32 BN and sums of at most 9 * 11 products of size ~1: 1e-4 leaves a wide margin (see BLOCK_RTOL).
    np.testing.assert_allclose(ops.convert_to_numpy(block(inputs, training=False)), expected, rtol=1e-4, atol=1e-4)
    assert block.count_params() == (9 * 3 * 4 + 9 * 7 * 4 + 11 * 5) + 4 * (3 + 7 + 11)


def test_dense_block_probe_reports_what_it_compares():
    outputs = probes.dense_block(ConcatenatingDenseBlock, 2, 3, (2, 4, 4, 2), transition_filters=4)
    assert outputs["convolutions"].count("kernel_size=(3, 3)") == 2 and "filters=4, kernel_size=(1, 1)" in outputs[
        "convolutions"]
    assert outputs["pooling_layers"] == "pooling_layer(pool_size=(2, 2), strides=(2, 2), padding='valid')"
    assert outputs["trainable_parameters"] == 9 * 2 * 3 + 9 * 5 * 3 + 8 * 4 + 2 * (2 + 5 + 8)
    assert outputs["non_trainable_parameters"] == 2 * (2 + 5 + 8)
    assert outputs["output_shape"] == "(2, 2, 2, 4)" and outputs["symbolic_output_shape"] == "(None, 2, 2, 4)"
    assert outputs["configuration"] == "num_layers=2, growth_rate=3, transition_filters=4"
    assert outputs["registered"] is True
    np.testing.assert_allclose(outputs["rebuilt_outputs"], outputs["inference_outputs"], rtol=1e-6, atol=1e-6)
    without = probes.dense_block(ConcatenatingDenseBlock, 1, 2, (1, 3, 3, 2))
    assert without["leading_channels_are_the_inputs"] is True and without["pooling_layers"] == "none"


@pytest.mark.parametrize("arguments", [
    (0, 4, (1, 4, 4, 2), None), (7, 4, (1, 4, 4, 2), None), (2, 0, (1, 4, 4, 2), None),
    (2, 4, (4, 4, 2), None), (2, 4, (1, 1, 4, 2), 3), (2, 4, (1, 4, 4, 2), 0), (True, 4, (1, 4, 4, 2), None),
])
def test_dense_block_checks_reject_bad_arguments(arguments):
    num_layers, growth_rate, shape, transition_filters = arguments
    with pytest.raises(ValueError):
        probes.dense_block_matches("bad", num_layers, growth_rate, shape, transition_filters=transition_filters)


def test_dense_block_probe_needs_a_class():
    result = outcome(probes.dense_block_matches("class", 2, 3, (1, 4, 4, 2), target="lenet_sequential"))
    assert not result.passed and "class" in result.message


# ---------------------------------------------------------------------------
# Targets and arguments.


@pytest.mark.parametrize("make_check, target", [
    (lambda: probes.conv2d_matches_keras("conv", {"filters": 2, "kernel_size": 3}, (1, 5, 5, 1),
                                         target="NotAClass"), "class"),
    (lambda: probes.pooling_matches_keras("pool", "NotAClass", "keras.layers.MaxPooling2D", {"pool_size": 2},
                                          (1, 4, 4, 1)), "class"),
    (lambda: probes.cross_correlation_matches_closed_form("function", image_shape=(3, 3), kernel_shape=(2, 2),
                                                          target="SliceConv2D"), "function"),
    (lambda: probes.lenet_matches("function", target="SliceConv2D"), "function"),
    (lambda: probes.residual_block_matches("class", 4, 1, (1, 4, 4, 4), target="lenet_sequential"), "class"),
    # A class bound to a function's name is not mistaken for the Keras reference.
    (lambda: probes.output_sizes_match_keras("sizes", [[28, 5, 1, "valid"]], target="SliceConv2D"), "function"),
    (lambda: probes.pointwise_matches_keras("mix", (1, 3, 3, 2), 2, target="SliceConv2D"), "function"),
    (lambda: probes.conv_parameter_counts_match_keras("counts", [[3, 3, 8, True]], target="SliceConv2D"),
     "function"),
    (lambda: probes.dense_parameter_counts_match_keras("counts", [[4, 3, True]], target="SliceConv2D"), "function"),
])
def test_a_target_of_the_wrong_kind_fails_with_a_clear_message(make_check, target):
    result = outcome(make_check())
    assert not result.passed and target in result.message


@pytest.mark.parametrize("make_check", [
    lambda: probes.cross_correlation_matches_closed_form("big kernel", image_shape=(3, 3), kernel_shape=(4, 4)),
    lambda: probes.cross_correlation_matches_closed_form("rank", image=[1, 2, 3], kernel=[[1]]),
    lambda: probes.cross_correlation_matches_closed_form("no shapes"),
    lambda: probes.output_sizes_match_keras("padding", [[28, 5, 1, "full"]]),
    lambda: probes.output_sizes_match_keras("kernel too large", [[4, 5, 1, "valid"]]),
    lambda: probes.output_sizes_match_keras("case", [[28, 5, 1]]),
    lambda: probes.output_sizes_match_keras("no cases", []),
    lambda: probes.same_paddings_match_closed_form("stride", [[28, 5, 0]]),
    lambda: probes.conv2d_matches_keras("unknown", {"filters": 2, "kernel_size": 3, "dilation_rate": 2},
                                        (1, 5, 5, 1)),
    lambda: probes.conv2d_matches_keras("filters", {"kernel_size": 3}, (1, 5, 5, 1)),
    lambda: probes.conv2d_matches_keras("kernel", {"filters": 2, "kernel_size": (3, 3, 3)}, (1, 5, 5, 1)),
    lambda: probes.conv2d_matches_keras("padding", {"filters": 2, "kernel_size": 3, "padding": "causal"},
                                        (1, 5, 5, 1)),
    lambda: probes.conv2d_matches_keras("rank", {"filters": 2, "kernel_size": 3}, (5, 5, 1)),
    lambda: probes.conv2d_matches_keras("huge", {"filters": 2, "kernel_size": 3}, (10, 32, 32, 3)),
    lambda: probes.pooling_matches_keras("reference", "MaxPooling2D", "keras.layers.GlobalMaxPooling2D",
                                         {"pool_size": 2}, (1, 4, 4, 1)),
    lambda: probes.pooling_matches_keras("no pool size", "AveragePooling2D", "keras.layers.AveragePooling2D", {},
                                         (1, 4, 4, 1)),
    lambda: probes.pointwise_matches_keras("reference", (2, 3, 3, 2), 2, reference="keras.layers.Conv1D"),
    lambda: probes.pointwise_matches_keras("rank", (3, 3, 2), 2),
    lambda: probes.pointwise_matches_keras("channels", (2, 3, 3, 2), 0),
    lambda: probes.conv_parameter_counts_match_keras("case", [[3, 3, 64]]),
    lambda: probes.conv_parameter_counts_match_keras("bias", [[3, 3, 64, 1]]),
    lambda: probes.conv_parameter_counts_match_keras("non-square", [[[3, 3], 3, 64, True]]),
    lambda: probes.dense_parameter_counts_match_keras("units", [[3, 0, True]]),
    lambda: probes.lenet_matches("unknown", {"dropout": 0.5}),
    lambda: probes.lenet_matches("shape", {"input_shape": (28, 28)}),
    lambda: probes.residual_block_matches("filters", 0, 1, (1, 4, 4, 4)),
    lambda: probes.residual_block_matches("strides", 4, 4, (1, 4, 4, 4)),
    lambda: probes.residual_block_matches("rank", 4, 1, (4, 4, 4)),
    lambda: probes.residual_block_matches("seed", 4, 1, (1, 4, 4, 4), seed=-1),
])
def test_bad_arguments_raise_value_error(make_check):
    with pytest.raises(ValueError):
        make_check()


def test_probes_reject_bad_arguments_too():
    with pytest.raises(ValueError):
        probes.conv2d_layer(SliceConv2D, {"filters": 2, "kernel_size": 0}, (1, 5, 5, 1))
    with pytest.raises(ValueError):
        probes.pooling_layer(StackMaxPooling2D, {"pool_size": 2, "padding": "full"}, (1, 4, 4, 1))
    with pytest.raises(ValueError):
        probes.cross_correlation_outputs(correlate_with_loops, [[np.nan]], [[1.0]])
    with pytest.raises(ValueError):
        probes.lenet_architecture(lenet_sequential, batch_size=100)
    with pytest.raises(TypeError):
        probes.conv2d_layer(correlate_with_loops, {"filters": 2, "kernel_size": 3}, (1, 5, 5, 1))
    with pytest.raises(TypeError):
        probes.same_paddings(SliceConv2D, [[5, 3, 1]])
    with pytest.raises(TypeError):
        probes.residual_block(lenet_sequential, 4, 1, (1, 4, 4, 4))


# ---------------------------------------------------------------------------
# The probes run while the grader disables the built-ins the lab forbids.


def test_student_side_probes_do_not_need_the_forbidden_built_ins():
    notebook = json.loads((ROOT / "solutions" / "07_convolutions" / "07_convolutions.ipynb").read_text())
    forbidden = sorted({path for paths in notebook["metadata"]["labkit"]["forbidden_builtins"].values()
                        for path in paths})
    code = textwrap.dedent(f"""
        import keras, numpy as np
        from autograder.sandboxed import runner
        from labkit import convolution_probes as probes
        from tests.test_convolution_probes import (SliceConv2D, StackMaxPooling2D, StackAveragePooling2D,
                                                   correlate_with_loops, output_size_correct, same_padding_correct,
                                                   pointwise_einsum, conv_count_correct, dense_count_correct,
                                                   lenet_sequential, BuildBlock, ConcatenatingDenseBlock)

        runner.disable_builtins({forbidden!r})
        for disabled in (lambda: keras.layers.Conv2D(2, 3), lambda: keras.layers.MaxPooling2D(),
                         lambda: keras.ops.conv(np.ones((1, 4, 4, 1)), np.ones((2, 2, 1, 1)))):
            try:
                disabled()
            except Exception:  # disabled: it raises
                pass
            else:
                raise AssertionError("a forbidden built-in still works")
        probes.cross_correlation_outputs(correlate_with_loops, [[1, 2], [3, 4]], [[1]])
        probes.output_sizes(output_size_correct, [[9, 4, 2, "same"]])
        probes.same_paddings(same_padding_correct, [[9, 4, 2]])
        probes.conv2d_layer(SliceConv2D, {{"filters": 2, "kernel_size": 3, "padding": "same"}}, (1, 5, 5, 2),
                            symbolic=True)
        probes.pooling_layer(StackMaxPooling2D, {{"pool_size": 2}}, (1, 5, 5, 2))
        probes.pooling_layer(StackAveragePooling2D, {{"pool_size": 3, "strides": 2}}, (1, 7, 7, 2))
        probes.pointwise_outputs(pointwise_einsum, (2, 3, 3, 4), 2)
        probes.conv_parameter_counts(conv_count_correct, [[3, 2, 4, True]])
        probes.dense_parameter_counts(dense_count_correct, [[3, 2, True]])
        outputs = probes.lenet_architecture(lenet_sequential, {{"input_shape": (32, 32, 3)}})
        assert outputs["total_parameters"] == probes.expected_lenet((32, 32, 3))["total_parameters"], outputs
        outputs = probes.residual_block(BuildBlock, 6, 2, (2, 8, 8, 3))
        expected = probes.expected_residual_block(6, 2, (2, 8, 8, 3))
        np.testing.assert_allclose(outputs["training_outputs"], expected["training_outputs"], rtol=1e-4, atol=1e-4)
        outputs = probes.dense_block(ConcatenatingDenseBlock, 2, 3, (2, 4, 4, 2), transition_filters=4)
        assert outputs["rebuilt_outputs"].shape == (2, 2, 2, 4) and outputs["registered"], outputs
        print("ok")
    """)
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert completed.returncode == 0 and "ok" in completed.stdout, completed.stderr[-3000:]
