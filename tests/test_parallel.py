"""The batch splitter: pieces cover the batch, tasks run on several threads, errors and BLAS are handled."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from threadpoolctl import threadpool_info

import tinygrad_cnn as tc
from tinygrad_cnn import parallel


@pytest.fixture
def threads():
    """Set the thread count for one test and put the old one back."""
    before = tc.get_num_threads()
    yield tc.set_num_threads
    tc.set_num_threads(before)


@given(n=st.integers(0, 500), bytes_per_item=st.integers(1, 1 << 22), count=st.integers(1, 8),
       piece_bytes=st.one_of(st.none(), st.integers(1, 1 << 24)))
def test_over_batch_covers_the_batch_in_balanced_pieces(n, bytes_per_item, count, piece_bytes):
    before = tc.get_num_threads()
    tc.set_num_threads(count)
    try:
        threads = parallel.thread_count(n, bytes_per_item)
        parts = parallel.over_batch(n, bytes_per_item, lambda part: part, piece_bytes)
    finally:
        tc.set_num_threads(before)
    assert 1 <= threads <= max(1, min(count, n))
    assert threads == 1 or n * bytes_per_item // threads >= parallel.MIN_BYTES_PER_THREAD   # enough for each
    covered = [i for part in parts for i in range(part.start, part.stop)]
    assert covered == list(range(n))                                 # every item once, in order
    sizes = [part.stop - part.start for part in parts]
    assert max(sizes) - min(sizes) <= 1                              # balanced
    if n:
        assert len(parts) >= min(n, threads * parallel.PIECES_PER_THREAD if threads > 1 else 1)
        if piece_bytes and bytes_per_item <= piece_bytes:
            assert max(sizes) * bytes_per_item <= 2 * piece_bytes   # cache-sized pieces, within rounding


def test_small_work_is_not_split(threads):
    threads(4)
    assert parallel.thread_count(1000, 8) == 1
    assert parallel.thread_count(64, 1 << 20) == 4


def test_tasks_run_on_separate_threads_and_results_keep_their_order(threads):
    threads(3)
    barrier = threading.Barrier(3, timeout=10)   # only passes if all three run at the same time

    def task(k):
        barrier.wait()
        return k, threading.get_ident()
    results = parallel.run([lambda k=k: task(k) for k in range(3)])
    assert [k for k, _ in results] == [0, 1, 2]
    assert results[0][1] == threading.get_ident()
    assert len({ident for _, ident in results}) == 3


def test_over_batch_matches_a_serial_kernel(threads):
    threads(2)
    x = np.random.default_rng(0).standard_normal((64, 32, 32, 4)).astype(np.float32)
    out = np.empty_like(x)

    def kernel(part):
        np.maximum(x[part], 0, out=out[part])
        return part, threading.get_ident()
    results = parallel.over_batch(len(x), 1 << 20, kernel)   # as if each image were a megabyte of work
    parts = [part for part, _ in results]
    assert len(parts) == 2 * parallel.PIECES_PER_THREAD
    assert [i for part in parts for i in range(part.start, part.stop)] == list(range(len(x)))   # in order
    np.testing.assert_array_equal(out, np.maximum(x, 0))


def test_a_late_thread_takes_fewer_pieces(threads):
    threads(2)
    worker_started = threading.Event()

    def kernel(part):
        if threading.current_thread() is threading.main_thread():
            time.sleep(0.005)
        else:
            worker_started.set()
            time.sleep(0.05)          # a worker ten times slower than the caller
        return threading.get_ident()
    owners = parallel.over_batch(64, 1 << 20, kernel)
    mine = owners.count(threading.get_ident())
    assert mine > len(owners) // 2 and worker_started.is_set()


def test_a_task_no_worker_has_started_runs_on_the_caller(threads, monkeypatch):
    """Workers that never wake (as if asleep) cannot hold the caller up: it runs their tasks itself."""
    threads(3)

    class Asleep:
        jobs = type("Jobs", (), {"put": staticmethod(lambda job: None)})()
    monkeypatch.setattr(parallel._SETTINGS, "current_workers", lambda: Asleep)
    x = np.arange(40.0)
    results = []

    def caller():   # on its own thread, so that a caller left waiting fails the test instead of hanging it
        results.append(parallel.run([threading.get_ident] * 3))
        results.append(parallel.over_batch(40, 1 << 20, lambda part: x[part].sum()))
    thread = threading.Thread(target=caller, daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert results == [[thread.ident] * 3, [x[part].sum() for part in parallel.equal_slices(40, 12)]]


def test_every_task_finishes_before_the_first_error_is_raised(threads):
    threads(2)
    finished = []

    def slow():
        time.sleep(0.2)
        finished.append("slow")

    def failing():
        raise KeyError("boom")
    with pytest.raises(KeyError, match="boom"):
        parallel.run([failing, slow])
    assert finished == ["slow"]
    assert parallel.run([lambda: 1, lambda: 2]) == [1, 2]   # the workers still serve


def test_a_task_that_splits_again_runs_its_parts_inline(threads):
    threads(2)
    inner = parallel.run([lambda: parallel.run([lambda: 1, lambda: 2]), lambda: parallel.thread_count(64, 1 << 20)])
    assert inner[0] == [1, 2]
    assert inner[1] == 1


def test_blas_is_held_to_one_thread_inside_and_restored_after(threads):
    threads(2)
    blas_before = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    seen = parallel.run([lambda: [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"],
                         lambda: None])[0]
    assert seen and all(count == 1 for count in seen)
    alone = parallel.run([lambda: [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]])[0]
    assert alone and all(count == 1 for count in alone)    # a single task too: BLAS's threads never wake
    assert [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"] == blas_before


def test_set_num_threads_checks_its_argument(threads):
    with pytest.raises(ValueError, match="threads must be a positive int"):
        tc.set_num_threads(0)
    with pytest.raises(TypeError, match="threads must be a positive int, got float"):
        tc.set_num_threads(2.0)
    threads(3)
    assert tc.get_num_threads() == 3


@pytest.mark.parametrize("environment, expected", [
    ({"TINYGRAD_CNN_NUM_THREADS": "3", "OMP_NUM_THREADS": "5"}, "3"),
    ({"OMP_NUM_THREADS": "5"}, "5"),
])
def test_the_thread_count_starts_from_the_environment(environment, expected):
    env = {k: v for k, v in os.environ.items() if k not in ("TINYGRAD_CNN_NUM_THREADS", "OMP_NUM_THREADS")}
    result = subprocess.run([sys.executable, "-c", "import tinygrad_cnn as tc; print(tc.get_num_threads())"],
                            env={**env, **environment}, capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == expected, result.stderr


def test_a_bad_thread_count_in_the_environment_is_named():
    env = {**os.environ, "TINYGRAD_CNN_NUM_THREADS": "two"}
    result = subprocess.run([sys.executable, "-c", "import tinygrad_cnn"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0
    assert "TINYGRAD_CNN_NUM_THREADS='two' must be a positive whole number" in result.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX-only")
def test_a_forked_child_starts_its_own_workers(threads):
    threads(2)
    parallel.run([lambda: 1, lambda: 2])            # the parent's workers exist
    pid = os.fork()
    if pid == 0:   # the child: its parent's worker threads are gone; new ones must serve it
        signal.alarm(30)   # a hang kills the child, which the parent sees as a failure
        ok = False
        try:
            ok = parallel.run([lambda: 1, lambda: 2]) == [1, 2]
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
