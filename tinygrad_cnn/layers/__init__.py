"""Keras-style layers: Conv2D, pooling, Dense, Flatten, BatchNormalization, Dropout and activations."""
from . import activations
from .base import Layer, ReceptiveField, clear_session
from .conv import Conv2D
from .core import Activation, Dense, Dropout, Flatten, Input, InputLayer, ReLU, Softmax
from .normalization import BatchNormalization
from .pooling import AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, MaxPooling2D
from .serialization import LAYER_CLASSES, deserialize, serialize

__all__ = [
    "LAYER_CLASSES", "Activation", "AveragePooling2D", "BatchNormalization", "Conv2D", "Dense", "Dropout",
    "Flatten", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Input", "InputLayer", "Layer", "MaxPooling2D",
    "ReLU", "ReceptiveField", "Softmax", "activations", "clear_session", "deserialize", "serialize",
]
