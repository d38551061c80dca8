"""Image augmentation layers: exact geometry (flips, quarter turns, whole-pixel shifts, fill modes), the
contrast and brightness formulas, inference mode, seeds, configs, saving, errors and a training run."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import require_torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn import layers
from tinygrad_cnn.layers.resample import extended_index

GEOMETRIC = (layers.RandomTranslation, layers.RandomRotation, layers.RandomZoom)


def images(n: int, h: int, w: int, c: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, h, w, c)).astype(np.float32)


def every_layer() -> list[layers.Layer]:
    """One of each, with arguments away from the defaults."""
    return [layers.RandomFlip("vertical", seed=3), layers.RandomTranslation((-0.2, 0.3), 0.1, fill_mode="wrap", seed=4),
            layers.RandomRotation(0.2, fill_mode="constant", interpolation="nearest", fill_value=2.0, seed=5),
            layers.RandomZoom(0.3, (-0.1, 0.2), fill_mode="nearest", seed=6), layers.RandomCrop(4, 5, seed=7),
            layers.RandomContrast((0.1, 0.4), value_range=(0, 1), seed=8),
            layers.RandomBrightness(0.3, value_range=[-1, 1], seed=9)]


# --- RandomFlip ---
@pytest.mark.parametrize("mode", ["horizontal", "vertical"])
def test_flip_reverses_the_image_about_half_the_time(mode):
    x = images(400, 3, 4, 2)
    y = layers.RandomFlip(mode)(x, training=True).numpy()
    flipped = x[:, :, ::-1] if mode == "horizontal" else x[:, ::-1]
    same, reversed_ = (y == x).all(axis=(1, 2, 3)), (y == flipped).all(axis=(1, 2, 3))
    assert (same | reversed_).all()
    assert 0.4 < reversed_.mean() < 0.6   # 400 draws of probability 1/2: 4 standard deviations either side


def test_flip_both_draws_each_direction_on_its_own():
    x = images(800, 3, 4, 1)
    y = layers.RandomFlip()(x, training=True).numpy()
    outcomes = [x, x[:, :, ::-1], x[:, ::-1], x[:, ::-1, ::-1]]
    hits = np.stack([(y == o).all(axis=(1, 2, 3)) for o in outcomes])
    assert hits.any(axis=0).all()
    assert (np.abs(hits.mean(axis=1) - 0.25) < 0.07).all(), hits.mean(axis=1)


def test_channels_first_matches_channels_last():
    x = images(8, 6, 7, 3)
    for layer in every_layer():
        config = {**layer.get_config(), "name": None, "data_format": "channels_first"}
        first = type(layer).from_config(config)
        for training in (True, False):
            out = first(x.transpose(0, 3, 1, 2), training=training)
            assert first.compute_output_shape((None, 3, 6, 7)) == (None, *out.shape[1:])
            np.testing.assert_allclose(out.numpy().transpose(0, 2, 3, 1), layer(x, training=training).numpy(),
                                       rtol=1e-6, atol=1e-6)


# --- the resampler's geometry ---
@settings(max_examples=15)
@given(size=st.integers(1, 7), c=st.integers(1, 3),
       fill_mode=st.sampled_from(["reflect", "wrap", "constant", "nearest"]), turns=st.sampled_from([0.25, -0.25, 0.5]))
def test_rotation_by_a_quarter_turn_is_rot90_counter_clockwise(size, c, fill_mode, turns):
    x = images(3, size, size, c)
    layer = layers.RandomRotation((turns, turns), fill_mode=fill_mode, interpolation="nearest")
    expected = np.rot90(x, k=round(turns * 4), axes=(1, 2))   # k=1: counter-clockwise as displayed
    np.testing.assert_array_equal(layer(x, training=True).numpy(), expected)
    bilinear = layers.RandomRotation((turns, turns), fill_mode=fill_mode)(x, training=True).numpy()
    np.testing.assert_allclose(bilinear, expected, atol=1e-5)


@settings(max_examples=15)
@given(size=st.integers(1, 8), width=st.integers(1, 8), turn=st.floats(-0.5, 0.5), down=st.floats(-0.5, 0.5),
       right=st.floats(-0.5, 0.5), fill=st.sampled_from([("constant", "zeros"), ("nearest", "border"),
                                                         ("reflect", "reflection")]))
def test_bilinear_turns_shifts_and_zooms_equal_torch_grid_sample(size, width, turn, down, right, fill):
    torch = require_torch()
    x = images(2, size, size, 2).astype(np.float64)
    angle = turn * 2 * np.pi   # a square image: a turn about the center is a turn of torch's [-1, 1] square
    cases = [(layers.RandomRotation((turn, turn), fill_mode=fill[0]), x, [[np.cos(angle), -np.sin(angle), 0],
                                                                           [np.sin(angle), np.cos(angle), 0]])]
    wide = images(2, size, width, 2, seed=2).astype(np.float64)   # shifts by fractions of the height and width
    cases.append((layers.RandomTranslation((down, down), (right, right), fill_mode=fill[0]), wide,
                  [[1, 0, -2 * right], [0, 1, -2 * down]]))
    cases.append((layers.RandomZoom((down, down), (right, right), fill_mode=fill[0]), wide,   # about the center
                  [[1 + right, 0, 0], [0, 1 + down, 0]]))
    for layer, inputs, theta in cases:
        ours = tc.Tensor(inputs, requires_grad=True)
        out = layer(ours, training=True)
        upstream = np.random.default_rng(1).standard_normal(inputs.shape)
        out.backward(tc.Tensor(upstream))
        reference = torch.tensor(inputs).permute(0, 3, 1, 2).requires_grad_()   # (N, H, W, C) -> (N, C, H, W)
        theta = torch.tensor([theta] * 2, dtype=torch.float64)   # (N, 2, 3): output point -> input point in [-1, 1]
        grid = torch.nn.functional.affine_grid(theta, list(reference.shape), align_corners=False)
        expected = torch.nn.functional.grid_sample(reference, grid, mode="bilinear", padding_mode=fill[1],
                                                   align_corners=False)
        expected.backward(torch.tensor(upstream).permute(0, 3, 1, 2))
        np.testing.assert_allclose(out.numpy(), expected.detach().permute(0, 2, 3, 1).numpy(), atol=1e-9)
        np.testing.assert_allclose(ours.grad.numpy(), reference.grad.permute(0, 2, 3, 1).numpy(), atol=1e-9)


@settings(max_examples=15)
@given(h=st.integers(1, 6), w=st.integers(1, 6), interpolation=st.sampled_from(["nearest", "bilinear"]),
       fill_mode=st.sampled_from(["reflect", "wrap", "constant", "nearest"]))
def test_zero_shift_turn_and_zoom_are_the_identity(h, w, interpolation, fill_mode):
    x = images(2, h, w, 3)
    for layer in (layers.RandomTranslation(0.0, 0.0, fill_mode, interpolation),
                  layers.RandomRotation(0.0, fill_mode, interpolation),
                  layers.RandomZoom(0.0, 0.0, fill_mode, interpolation)):
        np.testing.assert_array_equal(layer(x, training=True).numpy(), x)


@settings(max_examples=20)
@given(h=st.integers(1, 6), w=st.integers(1, 6), data=st.data())
def test_whole_pixel_shift_with_constant_fill(h, w, data):
    down, right = data.draw(st.integers(-h, h)), data.draw(st.integers(-w, w))
    x = images(2, h, w, 2)
    layer = layers.RandomTranslation((down / h,) * 2, (right / w,) * 2, fill_mode="constant", fill_value=-3.0,
                                     interpolation="nearest")
    expected = np.full_like(x, -3.0)
    expected[:, max(down, 0):h + min(down, 0), max(right, 0):w + min(right, 0)] = \
        x[:, max(-down, 0):h - max(down, 0), max(-right, 0):w - max(right, 0)]
    np.testing.assert_array_equal(layer(x, training=True).numpy(), expected)
    bilinear = layers.RandomTranslation((down / h,) * 2, (right / w,) * 2, fill_mode="constant", fill_value=-3.0)
    np.testing.assert_allclose(bilinear(x, training=True).numpy(), expected, atol=1e-5)


@pytest.mark.parametrize(("fill_mode", "left", "right"), [
    ("reflect", "dcba", "dcba"), ("wrap", "abcd", "abcd"), ("nearest", "aaaa", "dddd"), ("constant", "kkkk", "kkkk")])
def test_fill_modes_on_a_ramp_follow_keras_patterns(fill_mode, left, right):
    row = np.array([1.0, 2.0, 3.0, 4.0], np.float32)   # a b c d
    value = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0, "k": 7.0}
    x = row.reshape(1, 1, 4, 1)
    for shift, pattern in ((1.0, left), (-1.0, right)):   # a whole width right: the output shows what is left of a
        layer = layers.RandomTranslation(0.0, (shift, shift), fill_mode=fill_mode, fill_value=7.0)
        np.testing.assert_array_equal(layer(x, training=True).numpy().ravel(), [value[p] for p in pattern])


def test_extended_index_repeats_each_pattern():
    i, n = np.arange(-12, 16), 4
    row = np.arange(n)
    np.testing.assert_array_equal(extended_index(i, n, "reflect"), np.tile(np.r_[row, row[::-1]], 4)[i + 12 + 4])
    np.testing.assert_array_equal(extended_index(i, n, "wrap"), np.tile(row, 7)[i + 12])
    np.testing.assert_array_equal(extended_index(i, n, "nearest"), np.clip(i, 0, n - 1))
    np.testing.assert_array_equal(extended_index(i, n, "constant"), np.where((i >= 0) & (i < n), i, -1))


def test_zoom_sign_positive_zooms_out_about_the_center():
    x = np.zeros((1, 5, 5, 1), np.float32)
    x[0, 1:4, 1:4, 0] = 1   # a 3x3 square around the center
    out = layers.RandomZoom((1.0, 1.0), fill_mode="constant", interpolation="nearest")(x, training=True).numpy()
    assert out.sum() == 1 and out[0, 2, 2, 0] == 1   # twice smaller: only the center's pixel is left (zoom out)
    zoomed_in = layers.RandomZoom((-0.5, -0.5), interpolation="nearest")(x, training=True).numpy()
    assert zoomed_in.sum() == 25   # twice larger: the square fills the image (zoom in)
    wide = layers.RandomZoom((0.0, 0.0), (1.0, 1.0), fill_mode="constant", interpolation="nearest")
    np.testing.assert_array_equal(wide(x, training=True).numpy()[0, :, :, 0].sum(axis=1), [0, 1, 1, 1, 0])


def test_shift_draws_stay_within_the_factors():
    x = np.zeros((300, 9, 9, 1), np.float32)
    x[:, 4, 4] = 1   # a dot in the middle: its new place shows each image's draw
    moved = layers.RandomTranslation((0.0, 2 / 9), (-3 / 9, 0.0), fill_mode="constant",
                                     interpolation="nearest")(x, training=True).numpy()
    rows, cols = np.nonzero(moved[..., 0])[1:]
    assert set(rows - 4) == {0, 1, 2} and set(cols - 4) == {-3, -2, -1, 0}


def test_geometric_gradients_reach_the_input():
    x = tc.Tensor(images(2, 4, 5, 2).astype(np.float64), requires_grad=True)
    for layer in (layers.RandomRotation((0.1, 0.1), fill_mode="constant", fill_value=0.5),
                  layers.RandomZoom((-0.3, -0.3), fill_mode="reflect"), layers.RandomCrop(3, 3),
                  layers.RandomBrightness((0.1, 0.1), value_range=(0, 1)),
                  layers.RandomTranslation((0.1, 0.1), (0.3, 0.3), fill_mode="wrap")):
        layer(x[:1], training=False)   # built; a fixed draw (pair of equal ends) keeps the function the same
        assert tc.gradcheck(lambda t, layer=layer: layer(t, training=not isinstance(layer, layers.RandomCrop)), (x,))


# --- RandomCrop ---
def test_crop_in_training_is_one_window_for_the_batch():
    x = images(4, 6, 7, 2)
    layer = layers.RandomCrop(3, 4)
    seen = set()
    for _ in range(60):
        y = layer(x, training=True).numpy()
        match = [(t, l) for t in range(4) for l in range(4) if np.array_equal(y, x[:, t:t + 3, l:l + 4])]
        assert len(match) == 1
        seen.add(match[0])
    assert len(seen) > 10   # 16 places


@pytest.mark.parametrize(("shape", "target", "window"), [
    ((7, 9), (5, 5), (slice(0, 7), slice(1, 8))), ((6, 8), (3, 4), (slice(0, 6), slice(0, 8))),
    ((8, 5), (4, 4), (slice(1, 6), slice(0, 5))), ((4, 4), (6, 8), (slice(0, 3), slice(0, 4)))])
def test_crop_in_inference_resizes_the_largest_centered_window(torch, shape, target, window):
    x = images(2, *shape, 3)
    layer = layers.RandomCrop(*target)
    out = layer(x).numpy()
    assert out.shape == (2, *target, 3) and layer.compute_output_shape((None, *shape, 3)) == (None, *target, 3)
    expected = torch.nn.functional.interpolate(torch.tensor(x[:, window[0], window[1]]).permute(0, 3, 1, 2),
                                               size=target, mode="bilinear", align_corners=False)
    np.testing.assert_allclose(out, expected.permute(0, 2, 3, 1).numpy(), atol=1e-5)
    if shape[0] < target[0]:   # smaller inputs are resized in training too
        np.testing.assert_array_equal(layer(x, training=True).numpy(), out)


def test_crop_of_the_input_size_is_the_identity():
    x = images(2, 5, 6, 1)
    for training in (True, False):
        np.testing.assert_array_equal(layers.RandomCrop(5, 6)(x, training=training).numpy(), x)


# --- RandomContrast, RandomBrightness ---
def test_contrast_formula_with_one_factor_per_image_and_clipping():
    x = images(50, 4, 5, 3)
    lower, upper = 0.3, 0.9
    y = layers.RandomContrast((lower, upper), value_range=(0, 1))(x, training=True).numpy()
    mean = x.mean(axis=(1, 2), keepdims=True)
    assert 0 <= y.min() and y.max() <= 1 and (y == 1).any()   # clipped: factors near 1.9 push values past 1
    for xi, yi, mi in zip(x, y, mean, strict=True):
        inside = (yi > 0) & (yi < 1)
        factor = np.sum((yi - mi)[inside] * (xi - mi)[inside]) / np.sum((xi - mi)[inside] ** 2)   # least squares
        assert 1 - lower - 1e-5 <= factor <= 1 + upper + 1e-5
        np.testing.assert_allclose(yi, np.clip((xi - mi) * factor + mi, 0, 1), atol=1e-5)


@pytest.mark.parametrize(("factor", "value_range"), [(0.5, (0, 255)), (-0.25, (0, 1)), (1.0, (-1, 1))])
def test_brightness_adds_a_share_of_the_value_range_and_clips(factor, value_range):
    low, high = value_range
    x = (images(3, 4, 4, 3) * (high - low) + low).astype(np.float32)
    y = layers.RandomBrightness((factor, factor), value_range=value_range)(x, training=True).numpy()
    np.testing.assert_allclose(y, np.clip(x + factor * (high - low), low, high), atol=1e-5)
    drawn = layers.RandomBrightness(0.2, value_range=value_range)(x, training=True).numpy() - x
    unclipped = drawn[:, 0, 0, 0]   # x + 0.2 * range may pass a bound, so look at the spread only
    assert (np.abs(drawn) <= 0.2 * (high - low) + 1e-5).all() and len(set(np.round(unclipped, 5))) == 3


# --- modes, seeds, configs ---
def test_inference_is_the_identity_and_predict_does_not_augment():
    x = images(3, 6, 6, 2) * 255
    for layer in every_layer()[:4] + every_layer()[5:]:
        assert layer(x).numpy().tolist() == x.tolist() and layer(x, training=False).numpy().tolist() == x.tolist()
    model = tc.Sequential([tc.Input((6, 6, 2)), layers.RandomFlip(), layers.RandomRotation(0.3),
                           layers.RandomZoom(0.2)])
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    assert not np.array_equal(model(x, training=True).numpy(), x)


def test_seeds_reproduce_and_manual_seed_drives_unseeded_layers():
    x = images(16, 12, 12, 2)   # RandomCrop(4, 5) has 72 places to choose from
    for first, second in zip(every_layer(), every_layer(), strict=True):
        outs = [first(x, training=True).numpy() for _ in range(2)]
        np.testing.assert_array_equal(outs[0], second(x, training=True).numpy())
        assert not np.array_equal(outs[0], outs[1])   # a new draw on every call
    for cls, args in ((layers.RandomRotation, (0.3,)), (layers.RandomFlip, ()), (layers.RandomCrop, (3, 3))):
        runs = []
        for _ in range(2):
            tc.manual_seed(11)
            runs.append(cls(*args)(x, training=True).numpy())
        np.testing.assert_array_equal(*runs)


def test_configs_round_trip_and_models_save(tmp_path):
    x = images(4, 6, 6, 2) * 0.5
    for layer in every_layer():
        config = layer.get_config()
        copy = type(layer).from_config({**config, "name": config["name"] + "_copy"})
        assert {**copy.get_config(), "name": config["name"]} == config
        rebuilt = layers.deserialize(layers.serialize(layer))
        np.testing.assert_array_equal(rebuilt(x, training=True).numpy(), type(layer).from_config(config)(
            x, training=True).numpy())
    model = tc.Sequential([tc.Input((6, 6, 2)), *every_layer(), layers.Flatten(), layers.Dense(2)])
    model.save(tmp_path / "augmented.keras")
    loaded = tc.load_model(tmp_path / "augmented.keras")
    assert [layer.get_config() for layer in loaded.layers] == [layer.get_config() for layer in model.layers]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_summary_rows():
    model = tc.Sequential([tc.Input((16, 16, 3)), layers.RandomFlip("horizontal"), layers.RandomRotation(0.1),
                           layers.RandomCrop(12, 10), layers.Conv2D(4, 3)])
    rows = {line.split()[1]: line.split()[2:] for line in model.summary_str().split("\n") if "(Random" in line}
    assert rows == {"(RandomFlip)": ["(None,", "16,", "16,", "3)", "0"],
                    "(RandomRotation)": ["(None,", "16,", "16,", "3)", "0"],
                    "(RandomCrop)": ["(None,", "12,", "10,", "3)", "0"]}
    assert model.output_shape == (None, 10, 8, 4)


# --- errors ---
@pytest.mark.parametrize(("make", "error", "words"), [
    (lambda: layers.RandomRotation(1.5), ValueError, ["RandomRotation", "factor", "1.5", "[-1, 1]"]),
    (lambda: layers.RandomRotation((0.1, 0.2, 0.3)), ValueError, ["RandomRotation", "factor", "3 values", "pair"]),
    (lambda: layers.RandomRotation("big"), TypeError, ["RandomRotation", "factor", "'big'"]),
    (lambda: layers.RandomRotation(0.1, fill_mode="mirror"), ValueError, ["fill_mode", "'mirror'", "'reflect'"]),
    (lambda: layers.RandomZoom(0.1, interpolation="bicubic"), ValueError, ["RandomZoom", "interpolation", "'bicubic'"]),
    (lambda: layers.RandomZoom(0.1, width_factor=[0.1]), ValueError, ["RandomZoom", "width_factor", "1 values"]),
    (lambda: layers.RandomTranslation(0.1, -1.2), ValueError, ["RandomTranslation", "width_factor", "-1.2"]),
    (lambda: layers.RandomTranslation(0.1, 0.1, fill_value="x"), TypeError, ["fill_value", "'x'"]),
    (lambda: layers.RandomZoom(0.1, fill_value=float("inf")), ValueError, ["RandomZoom", "fill_value", "inf"]),
    (lambda: layers.RandomContrast(0.1, value_range=(1, 1)), ValueError, ["RandomContrast", "value_range", "(1, 1)"]),
    (lambda: layers.RandomFlip("diagonal"), ValueError, ["RandomFlip", "mode", "'diagonal'", "'horizontal'"]),
    (lambda: layers.RandomFlip(seed=-1), ValueError, ["RandomFlip", "seed", "-1"]),
    (lambda: layers.RandomFlip(data_format="nhwc"), ValueError, ["data_format", "'nhwc'"]),
    (lambda: layers.RandomCrop(0, 4), ValueError, ["RandomCrop", "height", "0"]),
    (lambda: layers.RandomCrop(4, 2.5), TypeError, ["RandomCrop", "width", "2.5"]),
    (lambda: layers.RandomContrast(1.5), ValueError, ["RandomContrast", "factor", "[0, 1]"]),
    (lambda: layers.RandomContrast(-0.1), ValueError, ["RandomContrast", "factor", "-0.1"]),
    (lambda: layers.RandomBrightness(0.1, value_range=(0, 255, 1)), ValueError, ["RandomBrightness", "value_range"]),
    (lambda: layers.RandomBrightness(float("nan")), ValueError, ["RandomBrightness", "factor", "nan"]),
])
def test_bad_arguments_name_the_layer_argument_and_value(make, error, words):
    with pytest.raises(error) as info:
        make()
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_one_image_is_changed_as_a_batch_of_one_and_other_ranks_are_refused():
    image = images(1, 6, 7, 2)[0]  # (H, W, C), as Keras 3 takes it unbatched
    for batched, single in zip(every_layer(), every_layer(), strict=True):
        for training in (False, True):
            expected = batched(image[None], training=training).numpy()[0]
            out = single(image, training=training)
            assert out.shape == expected.shape
            np.testing.assert_array_equal(out.numpy(), expected)
    first = layers.RandomRotation(0.2, seed=1, data_format="channels_first")
    np.testing.assert_array_equal(first(image.transpose(2, 0, 1), training=True).numpy(),
                                  layers.RandomRotation(0.2, seed=1)(image, training=True).numpy().transpose(2, 0, 1))
    x = tc.Tensor(image, requires_grad=True)
    layers.RandomZoom(0.3, seed=2)(x, training=True).sum().backward()
    assert x.grad.shape == image.shape
    for shape in ((4, 4), (1, 2, 4, 4, 3)):
        with pytest.raises(ValueError, match="RandomFlip.*4-D"):
            layers.RandomFlip()(np.zeros(shape))


# --- training ---
def test_a_model_with_augmentation_trains_one_epoch():
    tc.manual_seed(0)
    x = images(64, 10, 10, 1)
    y = (x[:, :5].mean(axis=(1, 2, 3)) > x[:, 5:].mean(axis=(1, 2, 3))).astype(np.int64)
    model = tc.Sequential([tc.Input((10, 10, 1)), layers.RandomFlip("horizontal"), layers.RandomRotation(0.1),
                           layers.Conv2D(4, 3, activation="relu"), layers.Flatten(),
                           layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert all(not np.array_equal(b, a) for b, a in zip(before, model.get_weights(), strict=True))
