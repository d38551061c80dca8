"""Memory: training keeps no graph alive by accident (flat object counts and RSS over 1,000 steps, graphs
freed by reference counting alone), and evaluate, predict and no_grad record no graph at all."""
from __future__ import annotations

import gc
import os
import weakref

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import losses, optimizers
from tinygrad_cnn.function import Function
from tinygrad_cnn.training import Callback

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """Resident set size of this process, from /proc/self/statm (pages)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def live(kind: type) -> int:
    """How many objects of `kind` the garbage collector can see."""
    return sum(1 for o in gc.get_objects() if isinstance(o, kind))


def tiny_cnn() -> tc.Sequential:
    return tc.Sequential([tc.Input((6, 6, 1)), tc.layers.Conv2D(2, 3, activation="relu"), tc.layers.MaxPooling2D(2),
                          tc.layers.BatchNormalization(), tc.layers.Flatten(), tc.layers.Dropout(0.2),
                          tc.layers.Dense(3)])


class _Sampler(Callback):
    """Records live Tensors, live Function nodes and RSS after chosen training steps."""

    def __init__(self, at: set[int]) -> None:
        self.at, self.samples = at, {}

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        if batch + 1 in self.at:
            gc.collect()
            self.samples[batch + 1] = (live(tc.Tensor), live(Function), rss_bytes())


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="RSS is read from /proc (Linux)")
def test_fit_for_1000_steps_keeps_memory_flat():
    tc.manual_seed(0)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((4000, 6, 6, 1)).astype(np.float32), rng.integers(0, 3, 4000)
    model = tiny_cnn()
    model.compile(optimizer="adam", loss=losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    sampler = _Sampler({100, 400, 700, 1000})
    gc.collect()
    nodes_before = live(Function)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[sampler])   # 1,000 steps
    (t100, f100, r100), *later = (sampler.samples[k] for k in sorted(sampler.samples))
    for tensors, functions, rss in later:
        assert tensors == t100, f"live Tensors grew from {t100} to {tensors}: a graph is kept alive"
        assert functions == f100, f"live Function nodes grew from {f100} to {functions}"
        assert rss - r100 < 4 * 2**20, f"RSS grew by {(rss - r100) / 2**20:.1f} MiB over 900 steps"
    gc.collect()
    assert live(Function) == nodes_before, "graph nodes outlived fit"


def test_each_step_frees_its_graph_by_reference_counting_alone():
    """With the cyclic collector off, a step's loss, nodes and arrays die as soon as they go out of scope."""
    tc.manual_seed(1)
    model = tiny_cnn()
    optimizer = optimizers.SGD(model.parameters(), learning_rate=0.01, momentum=0.9)
    x = tc.randn(4, 6, 6, 1)
    labels = np.array([0, 1, 2, 1])
    gc.collect()
    gc.disable()
    try:
        for _ in range(20):
            logits = model(x)
            loss = losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
            watched = [weakref.ref(loss), weakref.ref(loss._ctx), weakref.ref(logits), weakref.ref(logits.data),
                       weakref.ref(logits._ctx)]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            del logits, loss
            alive = [ref() for ref in watched if ref() is not None]
            assert not alive, f"still alive after the step (a reference cycle or a stray reference): {alive}"
    finally:
        gc.enable()


def test_backward_releases_saved_arrays_but_keeps_the_structure():
    x = tc.randn(64, 64, requires_grad=True)
    h = (x @ x).tanh()
    saved = weakref.ref(h._ctx._saved[0])   # the tanh input: the matmul's output array holder
    h.sum().backward()
    assert h._ctx.released and saved() is None
    assert h._ctx.out_shape == (64, 64)     # still drawable


def _spy_on_recording(monkeypatch) -> list[str]:
    """Make every op that records a node leave its name in the returned list."""
    recorded: list[str] = []
    apply = tc.Function.apply.__func__

    def spying_apply(cls, *args, **kwargs):
        out = apply(cls, *args, **kwargs)
        if out.grad_fn is not None:
            recorded.append(out.grad_fn.name)
        return out
    monkeypatch.setattr(tc.Function, "apply", classmethod(spying_apply))
    return recorded


@pytest.fixture
def compiled():
    tc.manual_seed(2)
    model = tiny_cnn()
    model.compile(optimizer="sgd", loss=losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    rng = np.random.default_rng(2)
    return model, rng.standard_normal((10, 6, 6, 1)).astype(np.float32), rng.integers(0, 3, 10)


@pytest.mark.parametrize("entry", ["predict", "evaluate", "no_grad call", "no_grad decorator"])
def test_inference_records_no_graph(monkeypatch, compiled, entry):
    model, x, y = compiled
    model.train()
    before = live(Function)
    recorded = _spy_on_recording(monkeypatch)
    if entry == "predict":
        out = model.predict(x, batch_size=4)
    elif entry == "evaluate":
        out = model.evaluate(x, y, batch_size=4, verbose=0)
    elif entry == "no_grad call":
        with tc.no_grad():
            out = model(x)
        assert out._ctx is None and not out.requires_grad
    else:
        out = tc.no_grad()(lambda v: model(v).softmax())(x)
        assert out._ctx is None
    assert out is not None and recorded == [], f"{entry} recorded graph nodes: {recorded[:5]}"
    gc.collect()
    assert live(Function) == before, "a Function node survived an inference call"
    assert all(p.grad is None for p in model.parameters())
    assert model.training, "inference must restore the model's training mode"


def test_training_records_a_graph_the_spy_sees(monkeypatch, compiled):
    """The spy above is not blind: a training-mode call does record nodes."""
    model, x, _ = compiled
    recorded = _spy_on_recording(monkeypatch)
    model(x)
    assert "Conv" in recorded and "MatMul" in recorded


def test_fit_evaluate_and_predict_make_no_reference_cycles(compiled):
    """Everything fit, evaluate and predict create (with anomaly mode too) dies by reference counting: the
    cyclic collector finds no Tensor, graph node or array among the garbage it would have to free."""
    model, x, y = compiled
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)   # keep what the collector finds in gc.garbage instead of freeing it
    try:
        model.fit(x, y, batch_size=4, epochs=2, validation_split=0.2, verbose=0)
        model.evaluate(x, y, batch_size=4, verbose=0)
        model.predict(x, batch_size=4)
        with tc.detect_anomaly():
            model.fit(x, y, batch_size=4, verbose=0)
        gc.collect()
        cyclic = [type(o).__name__ for o in gc.garbage if isinstance(o, (tc.Tensor, Function, np.ndarray))]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert not cyclic, f"kept alive by reference cycles until the collector ran: {cyclic[:10]}"
