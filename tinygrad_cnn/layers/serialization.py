"""Layer configs to and from plain dicts: only the known layer classes below can be built from a config."""
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .augmentation import (
    RandomBrightness,
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
)
from .base import Layer
from .conv import Conv2D
from .conv_transpose import Conv2DTranspose
from .core import (
    ELU,
    Activation,
    Dense,
    Dropout,
    Flatten,
    InputLayer,
    LeakyReLU,
    PReLU,
    ReLU,
    Softmax,
    SpatialDropout2D,
)
from .embedding import Embedding
from .merge import Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract
from .normalization import BatchNormalization, LayerNormalization
from .pooling import AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, MaxPooling2D
from .preprocessing import Rescaling
from .reshaping import Cropping2D, Permute, Reshape, UpSampling2D, ZeroPadding2D
from .separable import DepthwiseConv2D, SeparableConv2D

# the classes a config may name; fixed, so that loading a file never runs other code
LAYER_CLASSES: Mapping[str, type[Layer]] = MappingProxyType({cls.__name__: cls for cls in (
    Activation, Add, Average, AveragePooling2D, BatchNormalization, Concatenate, Conv2D, Conv2DTranspose, Dot,
    Cropping2D, Dense, DepthwiseConv2D, Dropout, ELU, Embedding, Flatten, GlobalAveragePooling2D, GlobalMaxPooling2D,
    InputLayer, LayerNormalization, LeakyReLU, MaxPooling2D, Maximum, Minimum, Multiply, Permute, PReLU,
    RandomBrightness, RandomContrast, RandomCrop, RandomFlip, RandomRotation, RandomTranslation, RandomZoom, ReLU,
    Rescaling, Reshape, SeparableConv2D, Softmax, SpatialDropout2D, Subtract, UpSampling2D, ZeroPadding2D)})


def serialize(layer: Layer) -> dict[str, Any]:
    """{"class_name": ..., "config": ...} for a layer of a known class."""
    name = type(layer).__name__
    config = layer.get_config()  # first: a layer that can have no config (Lambda) says why
    if LAYER_CLASSES.get(name) is not type(layer):
        raise ValueError(f"cannot serialize {layer!r}: {name} is not one of the known layer classes "
                         f"({', '.join(LAYER_CLASSES)}), so it could not be rebuilt from the config")
    return {"class_name": name, "config": config}


def deserialize(config: Any) -> Layer:
    """A new layer from `serialize`'s output; only the classes in LAYER_CLASSES are accepted."""
    if not isinstance(config, Mapping) or not isinstance(config.get("config"), Mapping):
        raise ValueError(f"a layer config must be a dict with 'class_name' and a 'config' dict, got {config!r:.100}")
    name = config.get("class_name")
    if not isinstance(name, str) or name not in LAYER_CLASSES:
        raise ValueError(f"unknown layer class {name!r} in the config; known: {', '.join(LAYER_CLASSES)}")
    return LAYER_CLASSES[name].from_config(config["config"])
