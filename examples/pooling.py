"""Max pooling: keep the largest value of each window (tutorial section "Pooling").

Run: python examples/pooling.py
"""
import numpy as np

import tinygrad_cnn as tc
from tinygrad_cnn.layers import AveragePooling2D, Conv2D, MaxPooling2D

max_pool_2d = MaxPooling2D(pool_size=(3, 3), strides=(3, 3), padding="valid")

x = np.arange(36, dtype=np.float32).reshape(1, 6, 6, 1)
print("a 6x6 input:\n", x[0, :, :, 0].astype(int))
print("3x3 max pooling, stride 3:\n", max_pool_2d(x).data[0, :, :, 0].astype(int))
print("3x3 average pooling, stride 3:\n", AveragePooling2D(3)(x).data[0, :, :, 0])

# Some translation invariance: moving the bright pixel inside its window does not change the output.
image = np.zeros((1, 6, 6, 1), np.float32)
image[0, 0, 0, 0] = 1
shifted = np.roll(image, (2, 1), axis=(1, 2))
same = np.array_equal(max_pool_2d(image).data, max_pool_2d(shifted).data)
print(f"pixel moved from (0, 0) to (2, 1): pooled outputs equal? {same}")

# Pooling after a convolution shrinks the feature maps without adding parameters.
model = tc.Sequential([tc.Input((256, 256, 1)), Conv2D(8, 5, strides=3, activation="relu"), max_pool_2d])
model.summary(show_receptive_field=True)
