"""Convolution and pooling: differentiable sliding-window ops (Keras conventions, channels_last)."""
from .conv2d import conv2d
from .conv_transpose import conv2d_transpose
from .pool import avg_pool2d, global_avg_pool2d, global_max_pool2d, max_pool2d

__all__ = ["avg_pool2d", "conv2d", "conv2d_transpose", "global_avg_pool2d", "global_max_pool2d", "max_pool2d"]
