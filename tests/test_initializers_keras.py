"""Keras 3's initializers: moments and bounds of large draws, orthogonality, seeds, names, layers, configs, errors."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn import initializers as I  # noqa: N812
from tinygrad_cnn.creation import generator
from tinygrad_cnn.saving import ModelFileError

CUT = 0.87962566103423978   # std of a standard normal cut at +-2
BIG = (500, 400)           # 200000 samples: sample moments within ~0.5% of the true ones


def check_moments(values, mean, std, bound=None):
    """Sample mean and std near (mean, std); every value within `bound` of the mean."""
    assert abs(values.mean() - mean) < 0.01 * std + 1e-12
    assert abs(values.std() / std - 1) < 0.02
    if bound is not None:
        assert np.abs(values - mean).max() <= bound * (1 + 1e-6)


def test_random_normal_uniform_truncated_moments():
    check_moments(I.RandomNormal(mean=0.3, stddev=0.2)(BIG), 0.3, 0.2)
    check_moments(I.RandomUniform(minval=-0.1, maxval=0.3)(BIG), 0.1, 0.4 / math.sqrt(12), bound=0.2)
    values = I.TruncatedNormal(mean=-1.0, stddev=0.5)(BIG, "float64")
    check_moments(values, -1.0, 0.5 * CUT, bound=1.0)   # cut at 2 stddev of the uncut normal
    assert values.dtype == np.float64 and np.abs(values + 1).max() > 0.95   # the cut is at 2 sd, not tighter
    defaults = I.RandomNormal()(BIG)   # Keras's defaults: mean 0, stddev 0.05; uniform in [-0.05, 0.05)
    check_moments(defaults, 0.0, 0.05)
    assert defaults.dtype == np.float32 and np.abs(defaults).max() > 0.15   # untruncated: beyond 3 sd occurs
    check_moments(I.RandomUniform()(BIG), 0.0, 0.1 / math.sqrt(12), bound=0.05)
    check_moments(I.TruncatedNormal()(BIG), 0.0, 0.05 * CUT, bound=0.1)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("distribution", ["truncated_normal", "untruncated_normal", "uniform"])
@pytest.mark.parametrize("shape", [(400, 250), (5, 5, 40, 80)])
def test_variance_scaling_has_variance_scale_over_n(mode, distribution, shape):
    fan_in, fan_out = I.compute_fans(shape)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    std = math.sqrt(3.0 / n)
    values = I.VarianceScaling(scale=3.0, mode=mode, distribution=distribution)(shape)
    bound = {"truncated_normal": 2 * std / CUT, "uniform": math.sqrt(3) * std, "untruncated_normal": None}
    check_moments(values, 0.0, std, bound[distribution])
    if distribution == "untruncated_normal":
        assert np.abs(values).max() > 3 * std


@pytest.mark.parametrize("cls, scale, mode, uniform", [
    (I.GlorotUniform, 1, "fan_avg", True), (I.GlorotNormal, 1, "fan_avg", False),
    (I.HeUniform, 2, "fan_in", True), (I.HeNormal, 2, "fan_in", False),
    (I.LecunUniform, 1, "fan_in", True), (I.LecunNormal, 1, "fan_in", False)])
def test_presets_are_variance_scaling(cls, scale, mode, uniform):
    shape = (3, 3, 64, 128)
    fan_in, fan_out = I.compute_fans(shape)
    std = math.sqrt(scale / (fan_in if mode == "fan_in" else (fan_in + fan_out) / 2))
    check_moments(cls()(shape), 0.0, std, math.sqrt(3) * std if uniform else 2 * std / CUT)
    preset = cls(seed=7)
    twin = I.VarianceScaling(scale, mode, "uniform" if uniform else "truncated_normal", seed=7)
    np.testing.assert_array_equal(preset((6, 4)), twin((6, 4)))
    assert preset.get_config() == {"seed": 7}


@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=2, max_size=4).map(tuple), gain=st.floats(-3, 3),
       seed=st.integers(0, 2 ** 31))
def test_orthogonal_is_gain_times_orthonormal_in_keras_flattening(shape, gain, seed):
    values = I.Orthogonal(gain=gain, seed=seed)(shape, "float64")
    assert values.shape == shape
    rows, cols = math.prod(shape[:-1]), shape[-1]
    m = values.reshape(rows, cols)  # Keras's flattening: every axis but the last is a row
    product = m.T @ m if rows >= cols else m @ m.T
    np.testing.assert_allclose(product, gain ** 2 * np.eye(min(rows, cols)), atol=1e-10)
    if gain != 0:   # Q from the QR of the normal matrix drawn with this seed, R's diagonal made positive
        a = np.random.default_rng(seed).standard_normal((max(rows, cols), min(rows, cols)))
        q = m / gain if rows >= cols else m.T / gain
        r = q.T @ a
        np.testing.assert_allclose(np.tril(r, -1), 0, atol=1e-9)
        assert (np.diag(r) > 0).all()


def test_identity_and_constant():
    np.testing.assert_array_equal(I.Identity(gain=2.0)((3, 5)), 2 * np.eye(3, 5))
    np.testing.assert_array_equal(I.get("identity")((4, 2)), np.eye(4, 2))
    values = I.Constant(0.7)((2, 3), "float64")
    assert values.dtype == np.float64 and (values == 0.7).all()
    assert I.Constant(3)((4,), "int32").tolist() == [3, 3, 3, 3]
    assert (I.Constant()((2,)) == 0).all() and I.Constant()((2,)).dtype == np.float32
    assert (I.Zeros()((2, 2)) == 0).all() and (I.Ones()((3,), np.float64) == 1).all()


RANDOM = [I.RandomNormal, I.RandomUniform, I.TruncatedNormal, I.VarianceScaling, I.GlorotUniform, I.GlorotNormal,
          I.HeUniform, I.HeNormal, I.LecunUniform, I.LecunNormal, I.Orthogonal]


@pytest.mark.parametrize("cls", RANDOM)
def test_seeds_int_repeats_none_follows_manual_seed(cls):
    shape = (4, 6)
    seeded = cls(seed=11)
    first = seeded(shape)
    np.testing.assert_array_equal(seeded(shape), first)          # Keras 3: an int seed repeats on every call
    np.testing.assert_array_equal(cls(seed=11)(shape), first)    # ... and across objects
    assert not np.array_equal(cls(seed=12)(shape), first)
    tc.manual_seed(5)
    unseeded = cls()
    a, b = unseeded(shape), unseeded(shape)
    assert not np.array_equal(a, b)    # seed=None draws from the project's generator: new values each call
    tc.manual_seed(5)
    np.testing.assert_array_equal(cls()(shape), a)
    seeded(shape)
    np.testing.assert_array_equal(unseeded(shape), b)   # a seeded draw leaves the generator where it was


def test_old_functions_are_the_defaults_and_draw_as_before():
    """glorot_uniform(shape, dtype) and friends still work, with the draws of earlier versions."""
    for function, cls in [(I.glorot_uniform, I.GlorotUniform), (I.glorot_normal, I.GlorotNormal),
                          (I.he_uniform, I.HeUniform), (I.he_normal, I.HeNormal), (I.zeros, I.Zeros),
                          (I.ones, I.Ones)]:
        assert function == cls() and I.get(function) is function
    tc.manual_seed(0)
    limit = math.sqrt(6 / (3 + 4))
    expected = generator().uniform(-limit, limit, (3, 4)).astype(np.float32)
    tc.manual_seed(0)
    np.testing.assert_array_equal(I.glorot_uniform((3, 4), np.float32), expected)
    np.testing.assert_array_equal(I.zeros((2, 3)), 0)


NAMES = {"glorot_uniform": I.GlorotUniform, "glorot_normal": I.GlorotNormal, "he_uniform": I.HeUniform,
         "he_normal": I.HeNormal, "lecun_uniform": I.LecunUniform, "lecun_normal": I.LecunNormal,
         "random_normal": I.RandomNormal, "random_uniform": I.RandomUniform, "truncated_normal": I.TruncatedNormal,
         "variance_scaling": I.VarianceScaling, "orthogonal": I.Orthogonal, "identity": I.Identity,
         "constant": I.Constant, "zeros": I.Zeros, "ones": I.Ones}


@pytest.mark.parametrize("name, cls", NAMES.items())
def test_snake_and_class_names(name, cls):
    assert type(I.get(name)) is cls and type(I.get(cls.__name__)) is cls
    assert I.get(name) == cls() and I.get(cls) == cls()
    assert I.get({"class_name": cls.__name__, "config": {}}) == cls()
    assert I.config_entry(cls()) == name                  # a default object is kept by its name
    assert I.deserialize(I.serialize(cls())) == cls()


def test_keras_aliases():
    for alias, cls in [("normal", I.RandomNormal), ("uniform", I.RandomUniform), ("zero", I.Zeros), ("one", I.Ones),
                       ("IdentityInitializer", I.Identity), ("OrthogonalInitializer", I.Orthogonal)]:
        assert type(I.get(alias)) is cls
    assert I.IdentityInitializer is I.Identity and I.OrthogonalInitializer is I.Orthogonal
    assert I.VarianceScaling(distribution="normal").distribution == "truncated_normal"
    assert I.VarianceScaling(distribution="Uniform").distribution == "uniform"


@pytest.mark.parametrize("initializer", [
    I.RandomNormal(stddev=0.1, seed=1), I.RandomUniform(-0.2, 0.2), I.TruncatedNormal(mean=0.1, stddev=0.02),
    I.VarianceScaling(2.0, "fan_out", "untruncated_normal", seed=3), I.HeNormal(seed=4), I.LecunUniform(),
    I.Orthogonal(gain=1.5, seed=2), I.Constant(0.25), I.Zeros(), I.Ones(), "lecun_normal"])
def test_dense_and_conv2d_built_with_each(initializer):
    bias = "zeros" if isinstance(initializer, I.Orthogonal) else initializer   # Orthogonal needs 2 axes or more
    for layer, shape in [(tc.layers.Dense(6, kernel_initializer=initializer, bias_initializer=bias), (2, 5)),
                         (tc.layers.Conv2D(4, 3, kernel_initializer=initializer), (1, 6, 6, 3))]:
        layer(tc.randn(*shape))
        assert layer.kernel.dtype == np.float32 and np.isfinite(layer.kernel.data).all()
        expected = I.get(initializer)
        if getattr(expected, "seed", None) is not None:   # a seeded initializer gives exactly its own values
            np.testing.assert_array_equal(layer.kernel.data, expected(layer.kernel.shape))
        rebuilt = type(layer).from_config(json.loads(json.dumps(layer.get_config())))
        assert rebuilt.kernel_initializer == expected


def test_identity_builds_a_dense_kernel_but_refuses_a_conv_kernel():
    layer = tc.layers.Dense(3, kernel_initializer=I.Identity(gain=0.5))
    layer(tc.ones(2, 3))
    np.testing.assert_array_equal(layer.kernel.data, 0.5 * np.eye(3))
    with pytest.raises(ValueError, match=r"Identity initializer: only 2-D shapes .* got shape \(3, 3, 2, 4\)"):
        tc.layers.Conv2D(4, 3, kernel_initializer="identity")(tc.ones(1, 5, 5, 2))


def test_configs_hold_names_for_defaults_and_dicts_for_arguments():
    layer = tc.layers.Dense(3, kernel_initializer=I.RandomNormal(stddev=0.1, seed=4), bias_initializer=I.Constant(0.2))
    config = layer.get_config()
    assert config["kernel_initializer"] == {"class_name": "RandomNormal",
                                            "config": {"mean": 0.0, "stddev": 0.1, "seed": 4}}
    assert config["bias_initializer"] == {"class_name": "Constant", "config": {"value": 0.2}}
    plain = tc.layers.Dense(3, kernel_initializer=I.glorot_uniform, bias_initializer=I.Zeros()).get_config()
    assert plain["kernel_initializer"] == "glorot_uniform" and plain["bias_initializer"] == "zeros"
    assert tc.layers.Conv2D(2, 3, bias_initializer=I.RandomUniform).get_config()["bias_initializer"] == "random_uniform"


def make_model():
    return tc.Sequential([
        tc.Input((6, 6, 2)),
        tc.layers.Conv2D(4, 3, kernel_initializer=I.Orthogonal(gain=2.0, seed=1), bias_initializer=I.Constant(0.1)),
        tc.layers.BatchNormalization(gamma_initializer=I.Constant(0.5), beta_initializer="random_uniform"),
        tc.layers.PReLU(alpha_initializer=I.Constant(0.25)),
        tc.layers.SeparableConv2D(3, 3, depthwise_initializer=I.HeUniform(seed=9),
                                  pointwise_initializer=I.TruncatedNormal(stddev=0.3)),
        tc.layers.Flatten(),
        tc.layers.Dense(2, kernel_initializer=I.VarianceScaling(2.0, "fan_out", "uniform", seed=3))])


def test_save_and_load_model_round_trip(tmp_path):
    model = make_model()
    model.save(tmp_path / "model.npz")
    loaded = tc.load_model(tmp_path / "model.npz")
    assert loaded.get_config() == model.get_config()
    assert loaded.layers[0].kernel_initializer == I.Orthogonal(gain=2.0, seed=1)
    assert loaded.layers[1].initializers["gamma_initializer"] == I.Constant(0.5)
    assert loaded.layers[3].pointwise_initializer == I.TruncatedNormal(stddev=0.3)
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(a.data, b.data)


def test_unknown_initializer_classes_in_a_config_are_refused(tmp_path):
    path = tmp_path / "model.npz"
    make_model().save(path)
    arrays = dict(np.load(path))
    architecture = json.loads(str(arrays["architecture"]))
    architecture["config"]["layers"][1]["config"]["kernel_initializer"] = {"class_name": "Lambda", "config": {}}
    arrays["architecture"] = np.array(json.dumps(architecture))
    np.savez(path, **arrays)
    with pytest.raises(ModelFileError, match="Conv2D: kernel_initializer: an initializer config must be .*Lambda"):
        tc.load_model(path)
    for bad in [{"class_name": "os.system", "config": {}}, {"class_name": ["Zeros"]}, {"config": {}},
                {"class_name": "Zeros", "config": [1]}, {"class_name": "Initializer", "config": {}}]:
        with pytest.raises(ValueError, match="an initializer config must be"):
            I.deserialize(bad)
    with pytest.raises(ValueError, match=r"cannot build RandomNormal from the config .*'scale'"):
        I.get({"class_name": "RandomNormal", "config": {"scale": 2}})
    with pytest.raises(ValueError, match="RandomNormal: stddev must be a finite number >= 0.0, got -1"):
        I.get({"class_name": "RandomNormal", "config": {"stddev": -1}})
    with pytest.raises(TypeError, match="for a name such as 'he_normal' use get"):
        I.deserialize("he_normal")


def test_a_custom_callable_trains_but_cannot_be_saved(tmp_path):
    ones = lambda shape, dtype: np.ones(shape, dtype)  # noqa: E731
    model = tc.Sequential([tc.Input((3,)), tc.layers.Dense(1, kernel_initializer=ones)])
    np.testing.assert_array_equal(model.layers[0].kernel.data, np.ones((3, 1)))
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((4, 3), np.float32), np.zeros((4, 1), np.float32), epochs=1, verbose=0)
    assert not np.array_equal(model.layers[0].kernel.data, np.ones((3, 1)))
    for save in (model.get_config, lambda: model.save(tmp_path / "m.npz")):
        with pytest.raises(ValueError, match="custom callable, which a config cannot hold.*save_weights"):
            save()

    class Mine(I.Initializer):
        def __call__(self, shape, dtype=None):
            return np.full(shape, 2.0, dtype)
    with pytest.raises(ValueError, match="Mine.*custom callable"):
        tc.layers.Dense(2, kernel_initializer=Mine()).get_config()


@pytest.mark.parametrize("make, error, message", [
    (lambda: I.RandomNormal(stddev=-1), ValueError, r"RandomNormal: stddev must be a finite number >= 0.0, got -1;"),
    (lambda: I.RandomNormal(stddev=float("nan")), ValueError, "RandomNormal: stddev must be a finite number"),
    (lambda: I.RandomNormal(mean="0"), TypeError, "RandomNormal: mean must be a number, got str"),
    (lambda: I.TruncatedNormal(stddev=math.inf), ValueError, "TruncatedNormal: stddev must be a finite number"),
    (lambda: I.RandomUniform(1, 0), ValueError, r"RandomUniform: minval \(1\) must not exceed maxval \(0\); swap"),
    (lambda: I.RandomUniform(maxval=math.inf), ValueError, "RandomUniform: maxval must be a finite number"),
    (lambda: I.VarianceScaling(scale=0), ValueError, "VarianceScaling: scale must be positive, got 0"),
    (lambda: I.VarianceScaling(scale=-2.0), ValueError, "VarianceScaling: scale must be positive, got -2.0"),
    (lambda: I.VarianceScaling(mode="fan"), ValueError,
     "VarianceScaling: mode must be one of 'fan_in', 'fan_out', 'fan_avg', got 'fan'"),
    (lambda: I.VarianceScaling(distribution="gaussian"), ValueError,
     "VarianceScaling: distribution must be one of 'truncated_normal', 'untruncated_normal', 'uniform'.*'gaussian'"),
    (lambda: I.VarianceScaling(distribution=3), ValueError, "VarianceScaling: distribution must be one of"),
    (lambda: I.Orthogonal(gain=math.nan), ValueError, "Orthogonal: gain must be a finite number, got nan"),
    (lambda: I.Orthogonal(gain="1"), TypeError, "Orthogonal: gain must be a number, got str"),
    (lambda: I.Identity(gain=math.inf), ValueError, "Identity: gain must be a finite number, got inf"),
    (lambda: I.Constant("a"), TypeError, "Constant: value must be a number, got str"),
    (lambda: I.Constant([1.0, 2.0]), TypeError, "Constant: value must be a number, got list"),
    (lambda: I.HeNormal(seed=-1), ValueError, "HeNormal: seed must be None .* or an int >= 0 .*got int -1"),
    (lambda: I.RandomNormal(seed=1.5), TypeError, "RandomNormal: seed must be None .*got float 1.5"),
    (lambda: I.Orthogonal(seed="1"), TypeError, "Orthogonal: seed must be None"),
    (lambda: I.GlorotUniform(seed=True), TypeError, "GlorotUniform: seed must be None"),
    (lambda: I.Orthogonal()((5,)), ValueError, r"Orthogonal initializer: needs a shape of rank 2 or more .*\(5,\)"),
    (lambda: I.Identity()((2, 2, 2)), ValueError, "Identity initializer: only 2-D shapes"),
    (lambda: I.RandomNormal()((2,), "int32"), TypeError, "RandomNormal initializer draws floats; dtype int32"),
    (lambda: I.Zeros()((2,), "complex64"), TypeError, "Zeros initializer: dtype must be a bool, int or float dtype"),
    (lambda: I.HeUniform()((-1, 3)), ValueError, r"HeUniform initializer: sizes must be non-negative ints"),
    (lambda: I.get("xavier"), ValueError, "unknown initializer 'xavier'; known names: .*lecun_normal"),
    (lambda: I.get(3), TypeError, "an initializer must be None, a name .* got int"),
    (lambda: tc.layers.Dense(2, kernel_initializer="Glorot"), ValueError,
     "Dense: kernel_initializer: unknown initializer 'Glorot'"),
])
def test_bad_arguments_raise_clear_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_none_is_keras_default_initializer_and_survives_configs(tmp_path):
    """get(None) is None, as in Keras; a layer's weight given None gets glorot_uniform (Keras's default
    for float weights, also for a bias), and None goes through configs and model files as None."""
    assert I.get(None) is None
    tc.manual_seed(3)
    default = tc.layers.Dense(5)
    default(np.ones((1, 40), np.float32))
    tc.manual_seed(3)
    none = tc.layers.Dense(5, kernel_initializer=None, bias_initializer=None)
    none(np.ones((1, 40), np.float32))
    np.testing.assert_array_equal(none.kernel.data, default.kernel.data)   # the same glorot_uniform draw
    assert np.abs(none.bias.data).max() > 0                                  # glorot_uniform, not zeros
    assert none.get_config()["kernel_initializer"] is None
    model = tc.Sequential([tc.Input((40,)), tc.layers.Dense(5, kernel_initializer=None)])
    model.save(tmp_path / "m.npz")
    loaded = tc.load_model(tmp_path / "m.npz")
    assert loaded.layers[0].kernel_initializer is None
    np.testing.assert_array_equal(loaded.layers[0].kernel.data, model.layers[0].kernel.data)
