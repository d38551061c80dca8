"""Session 7 audit of the user-facing API: optimizers in Keras 3's form and PyTorch's, gradient clipping,
optimizer configs, tc.utils.plot_model and the command line."""
from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import require, require_torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_viz_render import dot  # noqa: F401  (the fixture: graphviz's dot, required in CI)

import tinygrad_cnn as tc
from tinygrad_cnn import optimizers
from tinygrad_cnn.optimizers import schedules

SHAPES = [(3, 4), (5,), (2, 3, 2)]
STEPS = 5


def run_both(make, torch_make, clip=None, seed=0):
    """Give our optimizer (`make(params)`) and PyTorch's (`torch_make(params)`) the same random gradients,
    of random size so that clipping bites on some steps, clipping PyTorch's with `clip(params)`; compare."""
    torch = require_torch()
    rng = np.random.default_rng(seed)
    start = [rng.standard_normal(s) for s in SHAPES]
    ours = [tc.Tensor(a.copy(), requires_grad=True) for a in start]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in start]
    opt, ref = make(ours), torch_make(theirs)
    atol = 1e-12 if clip is None else 1e-6   # PyTorch divides by norm + 1e-6 where Keras divides by the norm
    for step in range(STEPS):
        for p, q, shape in zip(ours, theirs, SHAPES, strict=True):
            g = rng.standard_normal(shape) * rng.choice([0.05, 1.0, 20.0])
            p.grad, q.grad = tc.Tensor(g), torch.tensor(g)
        kept = [p.grad.data.copy() for p in ours]
        opt.step()
        if clip is not None:
            clip(theirs)
        ref.step()
        for i, (p, q) in enumerate(zip(ours, theirs, strict=True)):
            np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-9, atol=atol,
                                       err_msg=f"parameter {i} after step {step + 1}")
            np.testing.assert_array_equal(p.grad.data, kept[i], err_msg="clipping must not change .grad")
    return opt


def torch_clipping(kind, limit):
    """PyTorch's clipping of the gradients, as Keras's clipnorm / global_clipnorm / clipvalue."""
    torch = require_torch()
    if kind == "clipnorm":
        return lambda ps: [torch.nn.utils.clip_grad_norm_([p], limit) for p in ps]
    if kind == "global_clipnorm":
        return lambda ps: torch.nn.utils.clip_grad_norm_(ps, limit)
    if kind == "clipvalue":
        return lambda ps: torch.nn.utils.clip_grad_value_(ps, limit)
    return None


CLIPS = st.sampled_from([None, "clipnorm", "global_clipnorm", "clipvalue"])
FORMS = st.sampled_from(["keras", "keras_keyword", "torch_positional", "torch_lr"])


def ours(cls, form, rate, **kwargs):
    """Our optimizer built in one of the four forms, then bound to the parameters."""
    if form == "keras":
        return lambda ps: cls(rate, **kwargs).bind(ps)
    if form == "keras_keyword":
        return lambda ps: cls(learning_rate=rate, **kwargs).bind(ps)
    if form == "torch_positional":
        return lambda ps: cls(ps, rate, **kwargs)
    return lambda ps: cls(ps, lr=rate, **kwargs)


def clip_kwargs(clip, limit):
    return {} if clip is None else {clip: limit}


@settings(max_examples=12, deadline=None)
@given(form=FORMS, clip=CLIPS, limit=st.sampled_from([0.5, 3.0]), lr=st.floats(1e-3, 0.3),
       momentum=st.sampled_from([0.0, 0.9]), nesterov=st.booleans(), weight_decay=st.sampled_from([0.0, 0.1]))
def test_sgd_both_forms_and_clipping_match_torch(form, clip, limit, lr, momentum, nesterov, weight_decay):
    torch = require_torch()
    nesterov = nesterov and momentum > 0
    kwargs = dict(momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    run_both(ours(optimizers.SGD, form, lr, **kwargs, **clip_kwargs(clip, limit)),
             lambda ps: torch.optim.SGD(ps, lr=lr, **kwargs), torch_clipping(clip, limit))


@settings(max_examples=12, deadline=None)
@given(form=FORMS, clip=CLIPS, limit=st.sampled_from([0.5, 3.0]), lr=st.floats(1e-4, 0.1),
       beta_1=st.sampled_from([0.0, 0.9]), beta_2=st.sampled_from([0.9, 0.999]), amsgrad=st.booleans(),
       weight_decay=st.sampled_from([0.0, 0.05]))
def test_adam_both_forms_and_clipping_match_torch(form, clip, limit, lr, beta_1, beta_2, amsgrad, weight_decay):
    torch = require_torch()
    run_both(ours(optimizers.Adam, form, lr, beta_1=beta_1, beta_2=beta_2, epsilon=1e-8, amsgrad=amsgrad,
                  weight_decay=weight_decay, **clip_kwargs(clip, limit)),
             lambda ps: torch.optim.Adam(ps, lr=lr, betas=(beta_1, beta_2), eps=1e-8, amsgrad=amsgrad,
                                         weight_decay=weight_decay),
             torch_clipping(clip, limit))


@settings(max_examples=8, deadline=None)
@given(form=FORMS, clip=CLIPS, lr=st.floats(1e-4, 0.1), weight_decay=st.sampled_from([None, 0.004, 0.1]))
def test_adamw_both_forms_and_clipping_match_torch(form, clip, lr, weight_decay):
    torch = require_torch()
    decay = 0.004 if weight_decay is None else weight_decay   # None: Keras's default
    run_both(ours(optimizers.AdamW, form, lr, epsilon=1e-8, weight_decay=weight_decay, **clip_kwargs(clip, 1.0)),
             lambda ps: torch.optim.AdamW(ps, lr=lr, eps=1e-8, weight_decay=decay), torch_clipping(clip, 1.0))


@settings(max_examples=10, deadline=None)
@given(form=FORMS, clip=CLIPS, lr=st.floats(1e-4, 0.05), rho=st.sampled_from([0.9, 0.99]),
       momentum=st.sampled_from([0.0, 0.9]), centered=st.booleans())
def test_rmsprop_both_forms_and_clipping_match_torch(form, clip, lr, rho, momentum, centered):
    torch = require_torch()
    run_both(ours(optimizers.RMSprop, form, lr, rho=rho, momentum=momentum, epsilon=1e-6, centered=centered,
                  **clip_kwargs(clip, 2.0)),
             lambda ps: torch.optim.RMSprop(ps, lr=lr, alpha=rho, momentum=momentum, eps=1e-6, centered=centered),
             torch_clipping(clip, 2.0))


def test_keras_docstring_figures_for_sgd():
    """Keras's SGD docstring: lr 0.1 on loss var**2 / 2 from var = 1 gives 0.9; with momentum 0.9 the
    first step is 0.1 and the second 0.18."""
    var = tc.Tensor(1.0, requires_grad=True, dtype=np.float64)
    opt = optimizers.SGD(0.1).bind([var])
    (var * var / 2).backward()
    opt.step()
    assert var.item() == pytest.approx(0.9)
    var = tc.Tensor(1.0, requires_grad=True, dtype=np.float64)
    opt, moves = optimizers.SGD(0.1, momentum=0.9).bind([var]), []
    for _ in range(2):
        before = var.item()
        opt.zero_grad()
        (var * var / 2).backward()
        opt.step()
        moves.append(before - var.item())
    assert moves == pytest.approx([0.1, 0.18])


def test_keras_form_defaults_and_the_rate_given_once():
    assert optimizers.Adam(3e-4).learning_rate == 3e-4 and optimizers.Adam(3e-4).params is None
    assert optimizers.SGD().learning_rate == 0.01 and optimizers.SGD(np.float32(0.5)).learning_rate == 0.5
    assert optimizers.RMSprop(0.01, rho=0.8, momentum=0.5, epsilon=1e-6, centered=True).get_config()["rho"] == 0.8
    w = tc.Tensor(np.ones(2), requires_grad=True)
    assert optimizers.Adam([w], 0.02).learning_rate == 0.02 and optimizers.Adam([w], lr=0.03).learning_rate == 0.03
    assert optimizers.Adam(params=[w], learning_rate=0.04).params == [w]
    schedule = schedules.ExponentialDecay(0.1, 10, 0.5)
    assert optimizers.Adam(schedule).get_config()["learning_rate"]["class_name"] == "ExponentialDecay"
    for make in (lambda: optimizers.Adam(0.1, learning_rate=0.2), lambda: optimizers.Adam(0.1, lr=0.2),
                 lambda: optimizers.Adam([w], 0.1, lr=0.2), lambda: optimizers.SGD(0.01, 0.9)):
        with pytest.raises(TypeError, match="learning rate 2 times.*give it once"):
            make()
    for name, keyword in [("SGD", "momentum"), ("Adam", "beta_1"), ("AdamW", "beta_1"), ("RMSprop", "rho")]:
        with pytest.raises(TypeError, match=rf"e\.g\. {name}\(0\.01, {keyword}=0\.9\)"):   # was: SGD's for all
            getattr(optimizers, name)(0.01, 0.9)
    assert (optimizers.SGD().name, optimizers.Adam().name, optimizers.AdamW().name,
            optimizers.RMSprop().name) == ("SGD", "adam", "adamw", "rmsprop")   # Keras's default names
    assert optimizers.AdamW(weight_decay=None).weight_decay == 0.004   # None: the default, as Keras's signature
    assert optimizers.SGD(weight_decay=None).weight_decay == 0


@pytest.mark.parametrize("make, error, words", [
    (lambda: optimizers.Adam(clipnorm=1.0, clipvalue=0.5), ValueError,
     ["only one of clipnorm, clipvalue and global_clipnorm", "clipnorm=1.0, clipvalue=0.5"]),
    (lambda: optimizers.SGD(global_clipnorm=1, clipnorm=2), ValueError, ["only one of", "global_clipnorm=1"]),
    (lambda: optimizers.SGD(clipnorm=0), ValueError, ["clipnorm must be > 0", "None"]),
    (lambda: optimizers.SGD(clipvalue=-1.0), ValueError, ["clipvalue must be in", "-1.0"]),
    (lambda: optimizers.RMSprop(global_clipnorm="big"), TypeError, ["global_clipnorm must be a number", "str"]),
    (lambda: optimizers.Adam(name=""), TypeError, ["name must be a non-empty str", "'adam'"]),
    (lambda: optimizers.Adam(name=3), TypeError, ["name must be a non-empty str"]),
    (lambda: optimizers.SGD(lr=-0.5), ValueError, ["learning_rate must be in", "-0.5"]),
    (lambda: optimizers.deserialize("adam"), TypeError, ["deserialize", "class_name"]),
])
def test_bad_keras_arguments_are_named(make, error, words):
    with pytest.raises(error) as info:
        make()
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("kind", ["clipnorm", "global_clipnorm", "clipvalue"])
def test_clipping_keeps_nan_visible_and_float32(kind):
    """A NaN gradient is not hidden by clipping (Keras and PyTorch scale by a NaN norm); float32 stays float32."""
    w = tc.Tensor(np.ones(3, np.float32), requires_grad=True)
    v = tc.Tensor(np.ones(2, np.float32), requires_grad=True)
    opt = optimizers.SGD([w, v], 0.1, **{kind: 1.0})
    w.grad, v.grad = tc.Tensor(np.array([np.nan, 1, 1], np.float32)), tc.Tensor(np.full(2, 5, np.float32))
    opt.step()
    assert np.isnan(w.data[0]) and w.dtype == np.float32 and v.dtype == np.float32
    expected = {"clipnorm": 1 - 0.1 / np.sqrt(2), "clipvalue": 0.9}.get(kind)
    if expected is None:
        assert np.isnan(v.data).all()     # the global norm is NaN: every gradient becomes NaN, as in Keras
    else:
        np.testing.assert_allclose(v.data, expected, rtol=1e-6)


@pytest.mark.parametrize("cls", [optimizers.SGD, optimizers.Adam, optimizers.AdamW, optimizers.RMSprop])
def test_config_round_trips_keep_the_keras_arguments(cls):
    opt = cls(0.05, clipnorm=2.0, name="mine", weight_decay=0.01)
    config = opt.get_config()
    assert {"name", "learning_rate", "weight_decay", "clipnorm", "clipvalue", "global_clipnorm"} <= set(config)
    again = cls.from_config(config)
    assert again.get_config() == config and type(again) is cls
    assert optimizers.deserialize(optimizers.serialize(opt)).get_config() == config
    assert optimizers.get(optimizers.serialize(opt)).get_config() == config
    assert type(optimizers.get(cls.__name__.lower())) is cls
    older = {k: v for k, v in config.items() if k not in ("name", "clipnorm", "clipvalue", "global_clipnorm")}
    assert cls.from_config(older).clipnorm is None   # configs written before session 7 still load
    scheduled = cls(schedules.CosineDecay(0.1, 100), global_clipnorm=1.0)
    assert optimizers.get(optimizers.serialize(scheduled)).get_config() == scheduled.get_config()


def test_compile_with_keras_form_trains_and_saves(tmp_path):
    tc.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    model = tc.Sequential([tc.Input((4,)), tc.layers.Dense(8, activation="relu"), tc.layers.Dense(2)])
    model.compile(optimizer=optimizers.Adam(1e-2, clipnorm=1.0), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    first = model.evaluate(x, y, verbose=0)[0]
    history = model.fit(x, y, batch_size=16, epochs=5, verbose=0)
    assert history.history["loss"][-1] < first
    assert model.optimizer.iterations == 20 and model.optimizer.params is not None
    model.save(tmp_path / "m.npz")
    loaded = tc.load_model(tmp_path / "m.npz")
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.clipnorm == 1.0 and loaded.optimizer.iterations == 20


KERAS_PLOT_MODEL = {"to_file": "model.png", "show_shapes": False, "show_dtype": False, "show_layer_names": False,
                    "rankdir": "TB", "expand_nested": False, "dpi": 200, "show_layer_activations": False,
                    "show_trainable": False}   # keras.utils.plot_model's signature in Keras 3


def small_cnn():
    return tc.Sequential([tc.Input((8, 8, 1)), tc.layers.Conv2D(4, 3, activation="relu", name="edges"),
                          tc.layers.Flatten(), tc.layers.Dense(3, name="scores")])


def test_utils_plot_model_has_keras_signature_and_defaults(tmp_path):
    pytest.importorskip("graphviz")
    parameters = inspect.signature(tc.utils.plot_model).parameters
    assert list(parameters)[:len(KERAS_PLOT_MODEL) + 1] == ["model", *KERAS_PLOT_MODEL]
    assert {name: parameters[name].default for name in KERAS_PLOT_MODEL} == KERAS_PLOT_MODEL
    model = small_cnn()
    graph = tc.utils.plot_model(model, to_file=tmp_path / "shapes.dot", show_shapes=True, show_layer_names=True)
    written = (tmp_path / "shapes.dot").read_text()
    assert written.strip() == graph.source.strip()
    assert "(1, 6, 6, 4)" in written and "edges" in written and "scores" in written and "dpi=200" in written
    bare = tc.utils.plot_model(model, tmp_path / "bare.dot", rankdir="LR").source   # Keras's defaults
    assert "6, 6, 4" not in bare and "edges" not in bare and "Conv2D" in bare and "rankdir=LR" in bare
    with pytest.raises(TypeError, match="show_shapes must be True or False"):
        tc.utils.plot_model(model, tmp_path / "x.dot", show_shapes="yes")
    with pytest.raises(TypeError, match="plot_model needs a model"):
        tc.utils.plot_model("model", tmp_path / "x.dot")


@pytest.mark.usefixtures("dot")
def test_utils_plot_model_writes_png_like_keras(tmp_path):
    tc.utils.plot_model(small_cnn(), to_file=str(tmp_path / "model.png"), show_shapes=True)
    tc.utils.plot_model(small_cnn(), to_file=str(tmp_path / "plain"))   # no extension: PNG, as Keras writes
    for name in ("model.png", "plain"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_version_and_a_description_for_each_command(capsys, monkeypatch):
    from tinygrad_cnn.cli import main
    from tinygrad_cnn.conv import max_pool
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    kernel = "compiled" if max_pool.compiled is not None else "NumPy (no C compiler at install)"
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"tinygrad-cnn {tc.__version__} (max-pool kernel: {kernel})"
    monkeypatch.setattr(max_pool, "compiled", None)   # what a user without a C compiler is told
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip().endswith("(max-pool kernel: NumPy (no C compiler at install))")
    for command, words in [("demo", "Train the tutorial's CNN"), ("gradcheck", "Gradcheck and gradgradcheck"),
                           ("graph", "Draw the demo CNN's graph")]:
        with pytest.raises(SystemExit) as info:
            main([command, "--help"])
        assert info.value.code == 0 and words in capsys.readouterr().out


@pytest.mark.parametrize("argv, words", [
    (["demo", "--seed", "-1"], "argument --seed: must be a whole number of at least 0, got '-1'"),
    (["demo", "--seed", "1.5"], "argument --seed: must be a whole number of at least 0"),
    (["demo", "--epochs", "0"], "argument --epochs: must be a whole number of at least 1, got '0'"),
])
def test_cli_bad_numbers_exit_2_with_the_option_named(capsys, argv, words):
    from tinygrad_cnn.cli import main
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2 and words in capsys.readouterr().err


def test_demo_names_one_missing_package_in_the_singular(monkeypatch, capsys, tmp_path):
    from tinygrad_cnn import demo
    from tinygrad_cnn.cli import main
    monkeypatch.setattr(demo.importlib.util, "find_spec", lambda name: None)
    assert main(["demo", "--mnist", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "the demo needs matplotlib, which is not installed" in capsys.readouterr().err


def test_the_version_is_written_once_and_the_wheel_carries_the_license():
    tomllib = pytest.importorskip("tomllib")
    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert "version" not in project["project"] and project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "tinygrad_cnn.__version__"}
    assert project["project"]["license"] == "MIT" and "MIT License" in (root / "LICENSE").read_text()
    assert (root / "tinygrad_cnn" / "py.typed").exists()
    assert project["tool"]["setuptools"]["package-data"]["tinygrad_cnn"] == ["py.typed"]


def test_demo_out_that_cannot_be_made_is_named(capsys, tmp_path):
    require("matplotlib"), require("sklearn")   # the demo asks for its packages before it looks at --out
    from tinygrad_cnn.cli import main
    (tmp_path / "file").write_text("not a folder")
    assert main(["demo", "--out", str(tmp_path / "file" / "sub"), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert f"--out {tmp_path / 'file' / 'sub'}: cannot make the folder" in err and "choose another --out" in err


def keras_config(**changes):
    """An Adam config as Keras 3's get_config writes it (its keys and defaults)."""
    return {"name": "adam", "learning_rate": 0.002, "weight_decay": None, "clipnorm": None, "global_clipnorm": 1.5,
            "clipvalue": None, "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
            "loss_scale_factor": None, "gradient_accumulation_steps": None, "beta_1": 0.8, "beta_2": 0.99,
            "epsilon": 1e-07, "amsgrad": False, **changes}


def test_keras_3_configs_load_when_its_extra_settings_are_off():
    opt = optimizers.get({"module": "keras.optimizers", "class_name": "Adam", "config": keras_config(),
                          "registered_name": None})
    assert (opt.learning_rate, opt.global_clipnorm, opt.beta_1, opt.beta_2, opt.weight_decay) == \
        (0.002, 1.5, 0.8, 0.99, 0.0)
    for key, value in [("use_ema", True), ("loss_scale_factor", 128.0), ("gradient_accumulation_steps", 4),
                       ("ema_overwrite_frequency", 10)]:
        with pytest.raises(ValueError, match=f"Adam.from_config: {key}={value!r} is a Keras setting"):
            optimizers.Adam.from_config(keras_config(**{key: value}))


@settings(max_examples=15, deadline=None)
@given(first=st.integers(1, 12), t_mul=st.sampled_from([1, 2, 3]), alpha=st.sampled_from([0.0, 0.1, 0.5]),
       initial=st.floats(1e-3, 1.0))
def test_cosine_decay_restarts_matches_torch_warm_restarts(first, t_mul, alpha, initial):
    """Keras's CosineDecayRestarts with m_mul=1 is PyTorch's CosineAnnealingWarmRestarts with
    eta_min = alpha * initial, T_0 = first_decay_steps and T_mult = t_mul, step for step."""
    torch = require_torch()
    schedule = schedules.CosineDecayRestarts(initial, first, t_mul=float(t_mul), alpha=alpha)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=initial)
    ref = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=first, T_mult=t_mul, eta_min=alpha * initial)
    for step in range(6 * first * t_mul):
        assert schedule(step) == pytest.approx(ref.get_last_lr()[0], rel=1e-9, abs=1e-12), f"step {step}"
        opt.step()
        ref.step()


def test_cosine_decay_restarts_m_mul_config_and_errors():
    schedule = schedules.CosineDecayRestarts(2.0, 10, t_mul=2.0, m_mul=0.5, alpha=0.1)
    starts = [0, 10, 30, 70, 150]   # periods of 10, 20, 40, 80 steps
    assert [schedule(s) for s in starts] == pytest.approx([2.0 * ((1 - 0.1) * 0.5 ** i + 0.1) for i in range(5)])
    assert schedule(20) == pytest.approx(2.0 * (0.9 * 0.5 * 0.5 + 0.1))      # halfway through the second period
    assert schedule(1e9) == pytest.approx(2.0 * 0.1, abs=1e-6)              # m_mul**i shrinks to alpha's floor
    assert schedule.get_config() == {"initial_learning_rate": 2.0, "first_decay_steps": 10, "t_mul": 2.0,
                                     "m_mul": 0.5, "alpha": 0.1, "name": "SGDRDecay"}
    again = schedules.deserialize(schedules.serialize(schedule))
    assert type(again) is schedules.CosineDecayRestarts and again.get_config() == schedule.get_config()
    opt = optimizers.SGD(schedule)
    assert optimizers.get(optimizers.serialize(opt)).get_config() == opt.get_config()
    for kwargs, words in [({"t_mul": 0.5}, "t_mul must be a finite number >= 1"),
                          ({"first_decay_steps": 0}, "first_decay_steps must be a finite number > 0"),
                          ({"alpha": 2.0}, r"alpha must be a finite number in \[0, 1\]")]:
        with pytest.raises(ValueError, match=words):
            schedules.CosineDecayRestarts(**{"initial_learning_rate": 0.1, "first_decay_steps": 10, **kwargs})


def test_pytorch_loop_forms_closure_and_zero_grad_match_torch():
    """opt.step(closure) and opt.zero_grad(set_to_none=False), as PyTorch's loop writes them."""
    torch = require_torch()
    start = np.random.default_rng(1).standard_normal((3, 2))
    w = tc.Tensor(start.copy(), requires_grad=True)
    v = torch.tensor(start.copy(), requires_grad=True)
    opt, ref = optimizers.SGD([w], lr=0.1, momentum=0.9), torch.optim.SGD([v], lr=0.1, momentum=0.9)

    def closure():
        opt.zero_grad(set_to_none=False)
        loss = (w * w * w).sum()
        loss.backward()
        return loss

    def torch_closure():
        ref.zero_grad(set_to_none=False)
        loss = (v * v * v).sum()
        loss.backward()
        return loss

    for _ in range(4):
        with tc.no_grad():   # the closure records even so, as in PyTorch
            loss = opt.step(closure)
        assert loss.item() == pytest.approx(ref.step(torch_closure).item(), rel=1e-12)
        np.testing.assert_allclose(w.data, v.detach().numpy(), rtol=1e-12)
    opt.zero_grad(set_to_none=False)
    assert w.grad is not None and not w.grad.data.any() and w.grad.shape == w.shape
    opt.zero_grad()
    assert w.grad is None
    with pytest.raises(TypeError, match="closure must be a function"):
        opt.step(0.1)
    with pytest.raises(TypeError, match="set_to_none must be True or False"):
        opt.zero_grad("no")
    with pytest.raises(TypeError, match="parameter groups"):
        optimizers.Adam([{"params": [w], "lr": 0.1}])


def test_import_loads_no_optional_dependency():
    """`import tinygrad_cnn` in a fresh process loads NumPy only: PyTorch, matplotlib, scikit-learn,
    hypothesis and pytest come in when a function that needs them runs."""
    code = ("import sys, tinygrad_cnn\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'torch', 'matplotlib', 'sklearn', 'scipy', 'hypothesis', 'pytest', 'PIL', 'tqdm'}))")
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
