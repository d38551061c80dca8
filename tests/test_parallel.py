"""The batch splitter: pieces cover the batch, tasks run on several threads, errors and BLAS are handled."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn import blas_threads, parallel

try:
    import tomllib
except ModuleNotFoundError:   # Python 3.10: pytest's own dependency
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def threadpoolctl():
    """threadpoolctl (the dev extra), the independent oracle for BLAS's thread count: as the torch
    oracle, it skips when missing, but fails under TINYGRAD_CNN_REQUIRE_TORCH=1 (CI)."""
    try:
        import threadpoolctl
    except ImportError:
        if os.environ.get("TINYGRAD_CNN_REQUIRE_TORCH") == "1":
            pytest.fail("threadpoolctl is required (TINYGRAD_CNN_REQUIRE_TORCH=1) but is not installed")
        pytest.skip("threadpoolctl not installed (the BLAS oracle tests need it: pip install -e .[dev])")
    return threadpoolctl


def run_python(code: str, **env: str) -> str:
    """The standard output of `code` run by a fresh Python; its error output if it fails."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            timeout=120, env={**os.environ, **env})
    assert result.returncode == 0, result.stderr
    return result.stdout


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


def test_blas_is_held_to_one_thread_inside_and_restored_after(threads, threadpoolctl):
    threads(2)
    ours = {os.path.realpath(library.path) for library in blas_threads.loaded_blas()}

    def blas_counts():   # as threadpoolctl reads them, for the libraries we hold
        return [lib["num_threads"] for lib in threadpoolctl.threadpool_info()
                if lib["user_api"] == "blas" and os.path.realpath(lib["filepath"]) in ours]
    with threadpoolctl.threadpool_limits(limits=3, user_api="blas"):   # a count that is nobody's default
        assert blas_counts() and all(count == 3 for count in blas_counts())
        seen = parallel.run([blas_counts, lambda: None])[0]
        alone = parallel.run([blas_counts])[0]              # a single task too: BLAS's threads never wake
        split = parallel.over_batch(64, 1 << 20, lambda part: blas_counts())
        nested = parallel.run([lambda: parallel.run([blas_counts])[0], blas_counts])
        assert all(count == 1 for counts in (seen, alone, *split, *nested) for count in counts)
        assert all(count == 3 for count in blas_counts())   # the count from before, back
        with pytest.raises(KeyError):
            parallel.run([lambda: {}["missing"], blas_counts])
        assert all(count == 3 for count in blas_counts())   # back after an error too


def test_we_find_the_blas_libraries_threadpoolctl_finds(threadpoolctl):
    """In a fresh process with NumPy's BLAS (and SciPy's, where SciPy is installed) loaded."""
    found = run_python("""
        import importlib.util, os
        import numpy as np
        if importlib.util.find_spec("scipy"):
            import scipy.linalg
        from threadpoolctl import threadpool_info
        from tinygrad_cnn import blas_threads
        print(sorted(os.path.realpath(library.path) for library in blas_threads.loaded_blas()))
        print(sorted(os.path.realpath(lib["filepath"]) for lib in threadpool_info()
                     if lib["internal_api"] in ("openblas", "mkl")))
        print(np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"])
    """)
    ours, theirs, numpy_blas = found.splitlines()
    assert ours == theirs
    if "openblas" in numpy_blas or "mkl" in numpy_blas:
        assert ours != "[]", f"NumPy uses {numpy_blas}, which blas_threads did not find"


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler to build stand-in BLAS libraries")
def test_every_known_pair_of_thread_functions_is_used(tmp_path):
    """Stand-in libraries exporting each (setter, getter) pair, with a thread count of 7, are found once loaded."""
    names = ["libscipy_openblas64_", "libscipy_openblas", "libopenblas64_", "libopenblas", "libmkl_rt"]   # as real ones
    assert len(names) == len(blas_threads.THREAD_FUNCTIONS)
    paths = []
    for name, (setter, getter) in zip(names, blas_threads.THREAD_FUNCTIONS):
        source = tmp_path / f"{name}.c"
        source.write_text(f"static int n = 7;\nvoid {setter}(int k) {{ n = k; }}\nint {getter}(void) {{ return n; }}\n")
        paths.append(tmp_path / f"{name}-stand-in.so")
        subprocess.run(["cc", "-shared", "-fPIC", "-o", str(paths[-1]), str(source)], check=True, timeout=60)
    out = run_python(f"""
        import ctypes, os
        import numpy as np
        from tinygrad_cnn import blas_threads, parallel
        paths = {[str(path) for path in paths]!r}
        assert blas_threads.blas_in(paths) == ()   # not loaded yet: never loaded by us
        for path in paths:
            ctypes.CDLL(path)
        ours = [lib for lib in blas_threads.loaded_blas() if lib.path in paths]
        print(sorted(os.path.basename(lib.path) for lib in ours))
        print(parallel.run([lambda: [lib.get_num_threads() for lib in ours], lambda: None])[0])
        print([lib.get_num_threads() for lib in ours])
    """)
    names, inside, after = out.splitlines()
    assert names == str(sorted(path.name for path in paths))
    assert inside == str([1] * len(paths)) and after == str([7] * len(paths))


def test_no_blas_found_means_nothing_is_held(threads, monkeypatch):
    """Without a controllable BLAS (Accelerate, BLIS), kernels run as usual, BLAS's threads untouched."""
    threads(2)
    assert blas_threads.blas_in(["/no/such/libopenblas.so", np.__file__, "libmkl_rt.so.2"]) == ()
    real = blas_threads.loaded_blas()
    monkeypatch.setattr(parallel, "loaded_blas", lambda: ())
    before = [library.get_num_threads() for library in real]
    x = np.random.default_rng(1).standard_normal((16, 9, 9, 3)).astype(np.float32)
    kernel = np.random.default_rng(2).standard_normal((3, 3, 3, 4)).astype(np.float32)
    split = parallel.over_batch(len(x), 1 << 20, lambda part: (tc.conv2d(x[part], kernel).numpy(),
                                                               [library.get_num_threads() for library in real]))
    np.testing.assert_allclose(np.concatenate([out for out, _ in split]), tc.conv2d(x, kernel).numpy(), rtol=1e-6)
    assert all(counts == before for _, counts in split)


def test_threadpoolctl_is_no_runtime_dependency():
    """A parallel convolution, in a process where importing threadpoolctl fails."""
    out = run_python("""
        import sys
        sys.modules["threadpoolctl"] = None   # from here on, `import threadpoolctl` raises ImportError
        import numpy as np
        import tinygrad_cnn as tc
        from tinygrad_cnn import blas_threads, parallel

        tasks, blas_inside, plain_run = [], [], parallel.run
        def run(jobs):   # records how many tasks each split has and what BLAS says inside them
            tasks.append(len(jobs))
            blas_inside.extend(plain_run([lambda: [lib.get_num_threads() for lib in blas_threads.loaded_blas()]]))
            return plain_run(jobs)
        parallel.run = run
        rng = np.random.default_rng(0)
        x = rng.standard_normal((64, 32, 32, 8)).astype(np.float32)
        kernel = rng.standard_normal((3, 3, 8, 16)).astype(np.float32)
        tc.set_num_threads(2)
        two = tc.conv2d(x, kernel).numpy()
        tc.set_num_threads(1)
        one = tc.conv2d(x, kernel).numpy()
        print(max(tasks), np.array_equal(one, two), bool(blas_threads.loaded_blas()))
        print(all(count == 1 for counts in blas_inside for count in counts), sys.modules["threadpoolctl"])
    """, TINYGRAD_CNN_NUM_THREADS="2")
    assert out.split() == ["2", "True", "True", "True", "None"]


def test_the_only_runtime_dependency_is_numpy():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert [requirement.split(">")[0].split("=")[0].strip() for requirement in project["dependencies"]] == ["numpy"]
    assert any(requirement.startswith("threadpoolctl") for requirement in project["optional-dependencies"]["dev"])


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
