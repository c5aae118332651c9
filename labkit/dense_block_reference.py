"""The trusted reference of lab 07's dense block, written with Keras layers (Concatenate, BatchNormalization).

A module of its own, imported only when a dense-block check computes its reference, so that importing
labkit.convolution_probes never imports Keras.
"""

import keras


@keras.saving.register_keras_serializable(package="labkit")
class KerasDenseBlock(keras.layers.Layer):
    """num_layers x (BN -> ReLU -> 3x3 conv of growth_rate filters), each concatenated after its input."""

    def __init__(self, num_layers, growth_rate, transition_filters=None, conv_layer=keras.layers.Conv2D,
                 pooling_layer=keras.layers.AveragePooling2D, **kwargs):
        super().__init__(**kwargs)
        self.num_layers, self.growth_rate, self.transition_filters = num_layers, growth_rate, transition_filters
        self.conv_layer, self.pooling_layer = conv_layer, pooling_layer

    def build(self, input_shape):
        self.norms = [keras.layers.BatchNormalization() for _ in range(self.num_layers)]
        self.convolutions = [self.conv_layer(self.growth_rate, 3, padding="same", use_bias=False)
                             for _ in range(self.num_layers)]
        self.concatenate = keras.layers.Concatenate(axis=-1)
        if self.transition_filters is not None:
            self.transition_norm = keras.layers.BatchNormalization()
            self.transition_convolution = self.conv_layer(self.transition_filters, 1, use_bias=False)
            self.transition_pooling = self.pooling_layer(2)

    def call(self, inputs, training=None):
        features = inputs
        for norm, convolution in zip(self.norms, self.convolutions):
            new_features = convolution(keras.activations.relu(norm(features, training=training)))
            features = self.concatenate([features, new_features])
        if self.transition_filters is not None:
            features = self.transition_convolution(
                keras.activations.relu(self.transition_norm(features, training=training)))
            features = self.transition_pooling(features)
        return features

    def get_config(self):
        config = super().get_config()
        config.update(num_layers=self.num_layers, growth_rate=self.growth_rate,
                      transition_filters=self.transition_filters)
        return config
