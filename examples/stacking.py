"""Stacking convolutional layers, and what a convolution saves against a dense layer (tutorial section
"Adding Convolutional Layers to Your Model").

Run: python examples/stacking.py
"""
import tinygrad_cnn as tc
from tinygrad_cnn.layers import Conv2D, Dense, Flatten

# The feed-forward model: flattened pixels times a (65536, 100) weight matrix.
feed_forward = tc.Sequential([tc.Input((256, 256, 1)), Flatten(), Dense(100, activation="relu"),
                              Dense(100, activation="relu"), Dense(3, activation="softmax")],
                             name="feed_forward")
feed_forward.summary()

# One convolution replaces the first two Dense layers; Flatten moves between it and the last Dense.
one_conv = tc.Sequential([tc.Input((256, 256, 1)), Conv2D(8, 3, activation="relu"), Flatten(),
                          Dense(3, activation="softmax")], name="one_convolution")
one_conv.summary(show_formula=True)

# Three stacked convolutions: the filters of one layer are the input channels of the next, and each
# output pixel sees a larger part of the image (the receptive field).
stacked = tc.Sequential(name="stacked")
stacked.add(tc.Input((256, 256, 1)))
stacked.add(Conv2D(8, 5, strides=3, activation="relu"))   # 8 5x5 filters, strides of 3
stacked.add(Conv2D(4, 3, strides=3, activation="relu"))   # 4 3x3 filters, strides of 3
stacked.add(Conv2D(2, 3, strides=2, activation="relu"))   # 2 3x3 filters, strides of 2
stacked.add(Flatten())
stacked.add(Dense(3, activation="softmax"))
stacked.summary(show_formula=True, show_receptive_field=True)
