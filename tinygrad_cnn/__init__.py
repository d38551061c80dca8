"""tinygrad_cnn: a small, fast autodiff framework on NumPy, with Keras-style CNN layers."""
from .malloc import tune_malloc

tune_malloc()   # glibc's malloc as its adaptive rule leaves it (docs/threads.md); TINYGRAD_CNN_TUNE_MALLOC=0 opts out

from .tensor import Tensor
from .function import Function
from .mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .parallel import get_num_threads, set_num_threads
from .anomaly import AnomalyError, detect_anomaly, is_anomaly_check_nan_enabled, is_anomaly_enabled, set_detect_anomaly
from .autograd import grad, hvp
from .creation import (arange, eye, full, full_like, manual_seed, ones, ones_like, rand, rand_like,
                       randn, randn_like, zeros, zeros_like)
from .ops.composed import maximum, minimum, where
from .ops.movement import concatenate, split, stack
from .gradcheck import GradcheckError, GradcheckWarning, gradcheck, gradgradcheck
from .taylor import TaylorResult, taylor_test, taylor_test_hvp
from . import testing
from .conv import avg_pool2d, conv2d, conv2d_transpose, global_avg_pool2d, global_max_pool2d, max_pool2d
from . import constraints, filters, initializers, layers, regularizers
from .layers import Input, clear_session
from .models import Model, Sequential
from . import datasets, losses, metrics, optimizers, training
from . import callbacks
from . import utils
from .saving import load_model
from .viz import draw_graph
from . import viz

__version__ = "0.1.0"

__all__ = [
    "draw_graph", "viz",
    "GradcheckWarning", "TaylorResult", "taylor_test", "taylor_test_hvp", "testing",
    "callbacks", "datasets", "utils", "load_model", "losses", "metrics", "optimizers", "training",
    "Input", "Model", "Sequential", "clear_session", "filters", "initializers", "layers", "regularizers",
    "constraints",
    "avg_pool2d", "conv2d", "conv2d_transpose", "global_avg_pool2d", "global_max_pool2d", "max_pool2d",
    "AnomalyError", "Function", "GradcheckError", "Tensor", "arange", "concatenate", "detect_anomaly",
    "enable_grad", "eye", "full", "full_like", "get_num_threads", "grad", "gradcheck", "gradgradcheck", "hvp",
    "is_anomaly_check_nan_enabled", "is_anomaly_enabled", "is_grad_enabled", "manual_seed", "maximum", "minimum",
    "no_grad", "ones", "ones_like",
    "rand", "rand_like", "randn", "randn_like", "set_detect_anomaly", "set_grad_enabled", "set_num_threads",
    "stack", "where", "inference_mode", "split",
    "zeros", "zeros_like",
]
