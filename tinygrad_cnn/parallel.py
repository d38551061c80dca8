"""Batch-parallel array work: a kernel's batch is split over threads, with BLAS held to one thread.

NumPy releases the GIL inside ufunc loops, copies and BLAS calls, so threads that each take a
slice of the batch run on separate cores. BLAS's own threads would fight ours for the same
cores (and spin on them after every call), so while tinygrad_cnn's kernels run, the BLAS that
blas_threads finds (OpenBLAS or MKL) is held to one thread and restored afterwards.

The thread count follows PyTorch's `set_num_threads`: it starts at TINYGRAD_CNN_NUM_THREADS,
else OMP_NUM_THREADS, else the number of cores this process may run on.
"""
from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from .arguments import positive_int
from .blas_threads import loaded_blas

T = TypeVar("T")

# Below this much work a split loses: waking a worker costs 60 us to 0.5 ms here, and two threads hand
# the GIL to each other between NumPy calls, each handoff a wake-up too (a 2.4 MB max-pool ran slower on 2)
MIN_BYTES_PER_THREAD = 1 << 21
PIECES_PER_THREAD = 4   # over_batch's pieces per thread: enough for a late thread to take fewer, few enough to be cheap


def _default_threads() -> int:
    """The thread count a new process starts with (environment, else the usable cores)."""
    for variable in ("TINYGRAD_CNN_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(variable, "").strip()
        if value:
            if not value.isdigit() or int(value) < 1:
                raise ValueError(f"the environment variable {variable}={value!r} must be a positive whole "
                                 f"number of threads, such as {variable}=2")
            return int(value)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:   # not on Linux
        return os.cpu_count() or 1


class _Job:
    """One task handed to a worker, with its result or its exception; run by whoever claims it first."""

    __slots__ = ("task", "result", "error", "done", "_claim")

    def __init__(self, task: Callable[[], Any]) -> None:
        self.task, self.result, self.error = task, None, None
        self.done = threading.Event()
        self._claim = threading.Lock()

    def claim(self) -> bool:
        """Whether this thread is the one to run the job (only one claim ever succeeds)."""
        return self._claim.acquire(blocking=False)

    def run(self) -> None:
        try:
            self.result = self.task()
        except BaseException as e:   # handed back to the caller, who re-raises it
            self.error = e
        self.done.set()


class _Workers:
    """The threads that serve jobs beside the calling thread; they hold no data between jobs."""

    def __init__(self, count: int) -> None:
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.threads = [threading.Thread(target=self._serve, name=f"tinygrad_cnn-worker-{i}", daemon=True)
                        for i in range(count)]
        for thread in self.threads:
            thread.start()

    def _serve(self) -> None:
        _LOCAL.depth = 1   # a job that splits again runs its parts inline: no worker waits on itself
        while (job := self.jobs.get()) is not None:
            if job.claim():
                job.run()

    def stop(self) -> None:
        for _ in self.threads:
            self.jobs.put(None)


class _BlasHold:
    """Holds BLAS to one thread while any of our kernels runs; restores it when the last one ends.

    Holding and restoring costs about 2 us: a lock and three ctypes calls per library that
    blas_threads.loaded_blas() found on the first hold. With none found, it does nothing.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.holders = 0
        self.saved: list[int] = []

    def __enter__(self) -> None:
        with self.lock:
            self.holders += 1
            if self.holders == 1:
                libraries = loaded_blas()
                self.saved = [library.get_num_threads() for library in libraries]
                for library in libraries:
                    library.set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.holders -= 1
            if self.holders == 0:
                for library, threads in zip(loaded_blas(), self.saved):
                    library.set_num_threads(threads)


class _Settings:
    """The thread count and the workers that serve it (created on first use)."""

    def __init__(self) -> None:
        self.threads = _default_threads()
        self.workers: _Workers | None = None
        self.lock = threading.Lock()

    def current_workers(self) -> _Workers:
        """threads - 1 workers beside the caller, (re)started when the count has changed."""
        with self.lock:
            if self.workers is None or len(self.workers.threads) != self.threads - 1:
                if self.workers is not None:
                    self.workers.stop()
                self.workers = _Workers(self.threads - 1)
            return self.workers


_SETTINGS = _Settings()
_BLAS = _BlasHold()
_LOCAL = threading.local()


def _forget_workers_after_fork() -> None:
    """A forked child has none of its parent's threads: it starts its own on first use."""
    _SETTINGS.workers = None
    _SETTINGS.lock = threading.Lock()
    _BLAS.lock, _BLAS.holders = threading.Lock(), 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_workers_after_fork)


def get_num_threads() -> int:
    """The number of threads tinygrad_cnn's kernels use (the caller's thread included)."""
    return _SETTINGS.threads


def set_num_threads(threads: int) -> None:
    """Use this many threads for tinygrad_cnn's kernels from now on (as torch.set_num_threads)."""
    _SETTINGS.threads = positive_int(threads, "threads", "set_num_threads")


def thread_count(n: int, bytes_per_item: int) -> int:
    """How many threads n items of work deserve: each gets MIN_BYTES_PER_THREAD at least (one inside a task)."""
    if getattr(_LOCAL, "depth", 0):
        return 1
    return max(1, min(_SETTINGS.threads, n, n * bytes_per_item // MIN_BYTES_PER_THREAD))


class Pieces:
    """Slices of a batch handed out in order, each to the first thread that asks: threads sharing
    them stay busy until the batch is done, however late each of them starts."""

    def __init__(self, parts: Iterable[slice]) -> None:
        self.parts = list(parts)
        self.largest = max((part.stop - part.start for part in self.parts), default=0)   # items in the largest
        self._next = iter(self.parts)   # a list iterator's next() is one indivisible step under the GIL

    def __iter__(self) -> Iterator[slice]:
        return self._next


def run(tasks: Sequence[Callable[[], T]]) -> list[T]:
    """Run the tasks at the same time, the first on this thread; return their results in order.

    A task that no worker has started by the time the first is done is run on this thread too.

    BLAS is held to one thread meanwhile, even for a single task: OpenBLAS's own threads, once
    woken, spin for milliseconds and would take the cores our next split needs. Every task
    finishes before this returns, even when one raises; the first exception is then raised here.
    """
    with _BLAS:
        if len(tasks) == 1 or getattr(_LOCAL, "depth", 0):
            return [task() for task in tasks]
        workers = _SETTINGS.current_workers()
        jobs = [_Job(task) for task in tasks[1:]]
        for job in jobs:
            workers.jobs.put(job)
        _LOCAL.depth = 1
        try:
            first = _Job(tasks[0])
            first.run()
            for job in jobs:   # a job no worker has started yet is run here, rather than waiting for one to wake
                if job.claim():
                    job.run()
        finally:
            _LOCAL.depth = 0
            for job in jobs:
                job.done.wait()
    for job in (first, *jobs):
        if job.error is not None:
            raise job.error
    return [first.result, *(job.result for job in jobs)]


def equal_slices(n: int, count: int) -> list[slice]:
    """range(n) cut into `count` consecutive slices (at least one, at most n) whose sizes differ by one at most."""
    count = max(1, min(n, count))
    return [slice(n * k // count, n * (k + 1) // count) for k in range(count)]


def over_pieces(parts: Iterable[slice], threads: int, thread: Callable[[Pieces], T]) -> list[T]:
    """thread(pieces) on `threads` threads at once, all taking their slices of `parts` from one Pieces.

    A thread that wakes late (from 60 us to half a millisecond here) takes fewer pieces instead of
    making the others wait for a fixed share. The results are each thread's, in thread order.
    """
    pieces = Pieces(parts)
    return run([lambda: thread(pieces)] * threads)


def over_batch(n: int, bytes_per_item: int, kernel: Callable[[slice], T], piece_bytes: int | None = None) -> list[T]:
    """kernel(part) for consecutive slices `part` of range(n), on as many threads as the work deserves.

    The batch is cut into equal pieces: PIECES_PER_THREAD per thread when it is split, and more if
    needed so that none holds over `piece_bytes` (a cache-sized block) when it can. The results
    come back in piece order.
    """
    threads = thread_count(n, bytes_per_item)
    count = threads * PIECES_PER_THREAD if threads > 1 else 1
    if piece_bytes:
        count = max(count, -(-n * bytes_per_item // piece_bytes))

    def thread(pieces: Pieces) -> list[tuple[int, T]]:
        return [(part.start, kernel(part)) for part in pieces]
    done = over_pieces(equal_slices(n, count), threads, thread)
    return [result for _, result in sorted((pair for pairs in done for pair in pairs), key=lambda pair: pair[0])]
