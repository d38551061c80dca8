"""Keras-style layers: convolutions (plain, transposed, depthwise, separable), pooling, Dense, Flatten,
BatchNormalization, LayerNormalization, Dropout, Embedding, activations, reshaping (Reshape, Permute, padding,
cropping, upsampling), image augmentation."""
from . import activations
from .augmentation import (
    RandomBrightness,
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
)
from .base import Layer, clear_session
from .conv import Conv2D
from .conv_transpose import Conv2DTranspose
from .core import (
    ELU,
    Activation,
    Dense,
    Dropout,
    Flatten,
    Input,
    InputLayer,
    LeakyReLU,
    PReLU,
    ReLU,
    Softmax,
    SpatialDropout2D,
)
from .embedding import Embedding
from .lambda_layer import Lambda
from .merge import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    dot,
    maximum,
    minimum,
    multiply,
    subtract,
)
from .normalization import BatchNormalization, LayerNormalization
from .pooling import AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, MaxPooling2D
from .preprocessing import Rescaling
from .receptive_field import ReceptiveField
from .reshaping import Cropping2D, Permute, Reshape, UpSampling2D, ZeroPadding2D
from .separable import DepthwiseConv2D, SeparableConv2D
from .serialization import LAYER_CLASSES, deserialize, serialize

# Keras 3's other names for the same classes (their layers and configs are those of the classes)
MaxPool2D, AvgPool2D = MaxPooling2D, AveragePooling2D
GlobalMaxPool2D, GlobalAvgPool2D = GlobalMaxPooling2D, GlobalAveragePooling2D
Convolution2D, Convolution2DTranspose, SeparableConvolution2D = Conv2D, Conv2DTranspose, SeparableConv2D

__all__ = [
    "ELU", "LAYER_CLASSES", "Activation", "Add", "Average", "AveragePooling2D", "AvgPool2D", "BatchNormalization",
    "Conv2D", "Conv2DTranspose", "Concatenate", "Convolution2D", "Convolution2DTranspose", "Cropping2D", "Dense",
    "DepthwiseConv2D", "Dot", "Dropout", "Embedding", "Flatten", "GlobalAveragePooling2D", "GlobalAvgPool2D",
    "GlobalMaxPool2D", "GlobalMaxPooling2D", "Input", "InputLayer", "Lambda", "Layer", "LayerNormalization",
    "LeakyReLU", "MaxPool2D", "MaxPooling2D", "Maximum", "Minimum", "Multiply", "PReLU", "Permute", "RandomBrightness",
    "RandomContrast", "RandomCrop", "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "ReLU",
    "ReceptiveField", "Rescaling", "Reshape", "SeparableConv2D", "SeparableConvolution2D", "Softmax", "Subtract",
    "SpatialDropout2D", "UpSampling2D", "ZeroPadding2D", "activations", "add", "average", "clear_session",
    "concatenate", "deserialize", "dot", "maximum", "minimum", "multiply", "serialize", "subtract",
]
