"""Stride and padding: how far the filter moves, and what happens at the border (tutorial section
"Stride and Padding").

Run: python examples/stride_and_padding.py
"""
import numpy as np

import tinygrad_cnn as tc
from tinygrad_cnn.layers import Conv2D

# A 3x3 filter on a 7x7 image: "valid" stops where the filter would hang off the image (5x5 out),
# "same" pads with zeros so that every pixel gets a window (7x7 out).
image = np.ones((1, 7, 7, 1), np.float32)
for padding in ("valid", "same"):
    out = Conv2D(1, 3, padding=padding, kernel_initializer="ones")(image)
    print(f"3x3 filter, padding={padding!r:8} on a 7x7 image -> {out.shape[1]}x{out.shape[2]}")
    print(out.data[0, :, :, 0].astype(int))  # "same": border windows see the padding zeros

# A stride of s moves the filter s pixels at a time: about 1/s of the height and width remain.
for strides in (1, 2, 3):
    out = Conv2D(1, 3, strides=strides, padding="same")(np.ones((1, 12, 12, 1), np.float32))
    print(f"strides={strides} with 'same' padding on 12x12 -> {out.shape[1]}x{out.shape[2]}")

# The tutorial's two layers: 8 filters of 5x5 with stride 3, valid and same padding.
for padding in ("valid", "same"):
    model = tc.Sequential([tc.Input((256, 256, 1)), Conv2D(8, 5, strides=3, padding=padding, activation="relu")])
    print(f"\nConv2D(8, 5, strides=3, padding={padding!r}) on 256x256x1:")
    model.summary(show_formula=True, show_receptive_field=True)
