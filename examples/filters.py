"""Filters: how many, how big, and how many parameters they cost (tutorial section "Filters").

Run: python examples/filters.py
"""
import numpy as np

import tinygrad_cnn as tc
from tinygrad_cnn.layers import Conv2D

# A layer with 4 filters of 5x5 (Keras: tf.keras.layers.Conv2D(4, 5, activation="relu")), used on its own:
# it creates its weights when it first sees an input, from the input's number of channels.
images = np.random.default_rng(0).random((2, 256, 256, 1), dtype=np.float32)  # 2 grayscale 256x256 images
layer = Conv2D(4, 5, activation="relu")
features = layer(images)
print(f"Conv2D(4, 5) on {images.shape}: output {features.shape}, kernel {layer.kernel.shape}, "
      f"bias {layer.bias.shape}, {layer.count_params()} params")

# Each filter has height x width x input channels weights and one bias:
# parameters = filters * (channels * height * width + 1).
print("\nModel with 8 filters:")
model = tc.Sequential()
model.add(tc.Input(shape=(256, 256, 1)))
model.add(Conv2D(8, 3, activation="relu"))
model.summary(show_formula=True)

# The number of input channels is not ours to choose: an RGB image has 3, so every filter is 3 deep.
rgb = tc.Sequential([tc.Input((256, 256, 3)), Conv2D(8, 3, activation="relu")])
print("\nThe same layer on RGB images:")
rgb.summary(show_formula=True)
