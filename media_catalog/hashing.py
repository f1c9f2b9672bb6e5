"""Read and fingerprint many images across worker processes, with bounded memory.

The scan hands the Hasher image files by path (after the resolver has checked that they lie
inside the allowed roots and are not over the byte limit): a worker reads the file, computes
its SHA-256 and fingerprints it, unless those bytes are already known (catalogued before the
scan, or seen earlier by the same worker), so the scan's own process only records results.
Bytes it holds already (data URIs) it hashes itself and hands over as bytes. With more than
one worker the Hasher keeps at most `2 * workers` images and MAX_IN_FLIGHT bytes in flight:
submitting waits for a result when the window is full, so memory stays bounded however many
images a scan holds. One worker is a process of its own too, so that a crash in a decoder
never takes the scan with it (except in a daemonic process, which may not start any: there
the Hasher works in-process).

Workers are forked when the Hasher is entered, with the known SHA-256s; the scan holds the
catalogue's write lock by then, which a forked process lets go of at once
(store/jsonfile.py), so a killed scan releases it however long its workers live.

A worker that dies (a decoder crashing on a hostile file, or killed for memory) does not stop
the scan: the images that were in flight are hashed again one at a time, each in a fresh
worker, and the one that kills its worker again is recorded as a `bad-image` error. An image
gets `seconds` (IMAGE_SECONDS) in a worker: when one takes longer, the workers are replaced
the same way, and the image that overruns again alone is recorded as `too-slow`.
"""

from __future__ import annotations

import ctypes
import hashlib
import itertools
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Container
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from .errors import FingerprintError, ResolveError
from .fingerprint import fingerprint
from .models import IMAGE_SECONDS, Fingerprint
from .resolve import read_bytes

MAX_IN_FLIGHT = 256 * 1024 * 1024
_PR_SET_PDEATHSIG = 1  # linux/prctl.h

# What fingerprinting sends back: a Fingerprint, or a FingerprintError's (message, path, code)
# (exceptions with keyword-only fields do not survive pickling).
_Outcome = Fingerprint | tuple[str, str | None, str]
# What reading a file sends back: its SHA-256 and the outcome (None: known bytes, not
# fingerprinted again), or no SHA-256 and a ResolveError's (message, ref, reason).
_Read = tuple[str, _Outcome | None] | tuple[None, tuple[str, str, str]]


class Known:
    """SHA-256s whose bytes need no fingerprint: the catalogue's (any container: a store's
    may look them up on disk) and those seen since."""

    def __init__(self, catalogued: Container[str] = ()) -> None:
        self.catalogued = catalogued
        self.seen: set[str] = set()

    def __contains__(self, sha256: str) -> bool:
        return sha256 in self.seen or sha256 in self.catalogued

    def add(self, sha256: str) -> None:
        self.seen.add(sha256)


# In a worker: the SHA-256s known when it was forked and those it has seen since.
_known = Known()


def default_workers() -> int:
    """All the cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def pool_context() -> multiprocessing.context.BaseContext:
    """Fork where there is fork (fast, and no re-import of the caller's main module)."""
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")  # pragma: no cover - Windows


def _fingerprint(data: bytes, name: str, sha256: str) -> _Outcome:
    try:
        return fingerprint(data, name, sha256=sha256)
    except FingerprintError as exc:
        return str(exc), exc.path, exc.code


def _read_in_worker(path: str, max_bytes: int) -> _Read:
    """Read, SHA-256 and (unless known to this worker) fingerprint the file at `path`."""
    try:
        data = read_bytes(Path(path), max_bytes)
    except ResolveError as exc:
        return None, (str(exc), exc.ref, exc.reason)
    sha256 = hashlib.sha256(data).hexdigest()
    if sha256 in _known:
        return sha256, None
    _known.add(sha256)
    return sha256, _fingerprint(data, path, sha256)


def _remember(known: Known, scan: int) -> None:
    """A worker's start: keep the known SHA-256s, and end with the scan (process `scan`)
    even when it is killed (Linux: otherwise a killed scan's idle workers would wait for
    work forever)."""
    global _known
    _known = known
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != scan:  # the scan died before the signal was asked for
            os._exit(1)


# A task for a worker: the function, its arguments, and the bytes it holds in memory.
_Task = tuple[Callable[..., Any], tuple[Any, ...], int]


class Hasher:
    """Reads and fingerprints submitted files and bytes. As results arrive (all of them after
    `wait()`): `read` maps each file read to its SHA-256, `unreadable` to its ResolveError;
    `done` and `failed` map SHA-256s to Fingerprints and FingerprintErrors (`take()` empties
    `done` in the order the bytes were submitted). Bytes in `known`
    (given, submitted or read) are not fingerprinted again. `on_hashed` is called once per
    image fingerprinted or failed. An image gets `seconds` in a worker."""

    def __init__(
        self,
        workers: int | None = None,
        on_hashed: Callable[[], None] | None = None,
        known: Container[str] = (),
        seconds: float = IMAGE_SECONDS,
    ):
        self.workers = max(1, workers or default_workers())
        self.seconds = seconds
        self.on_hashed = on_hashed
        self.known = Known(known)
        self.read: dict[str, str] = {}
        self.unreadable: dict[str, ResolveError] = {}
        self.done: dict[str, Fingerprint] = {}
        self.failed: dict[str, FingerprintError] = {}
        self._pool: ProcessPoolExecutor | None = None
        self._pending: dict[Future[Any], tuple[_Task, int]] = {}  # (task, its number)
        self._submitted = 0  # tasks submitted so far: each result keeps its task's number
        self._order: dict[str, int] = {}  # SHA-256 -> the number of the task that hashed it
        self._started: dict[Future[Any], float] = {}  # when a pending task was running by
        self._in_flight = 0

    def __enter__(self) -> Hasher:
        if _daemonic():  # hashes in this process; it reads with this Hasher's known bytes
            global _known
            _known = self.known
            return self
        self._pool = self._new_pool(self.workers)
        return self

    def _new_pool(self, workers: int) -> ProcessPoolExecutor:
        """A pool whose workers are started (with fork, the first task starts them all), so
        that no image's time counts theirs."""
        pool = ProcessPoolExecutor(
            workers,
            mp_context=pool_context(),
            initializer=_remember,
            initargs=(self.known, os.getpid()),
        )
        pool.submit(int).result()
        return pool

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def submit_file(self, path: str, size: int, max_bytes: int) -> None:
        """Read the file at `path` (`size` bytes when the caller looked), refusing it if it
        is over `max_bytes` by then, and fingerprint its bytes unless they are known."""
        self._submit((_read_in_worker, (path, max_bytes), size))

    def submit(self, sha256: str, data: bytes, name: str) -> None:
        """Fingerprint `data` (whose SHA-256 is `sha256`) unless these bytes are known; `name`
        goes into error messages."""
        if sha256 in self.known:
            return
        self.known.add(sha256)
        self._submit((_fingerprint, (data, name, sha256), len(data)))

    def take(self) -> list[Fingerprint]:
        """The fingerprints made since the last call, in the order their bytes were
        submitted (not as workers finished them: two scans of the same files give their
        images the same catalogue order)."""
        found = sorted(self.done.values(), key=lambda print_: self._order.pop(print_.sha256))
        self.done.clear()
        return found

    def _submit(self, task: _Task, number: int | None = None) -> None:
        if number is None:
            self._submitted += 1
            number = self._submitted
        while self._pending and (
            len(self._pending) >= 2 * self.workers or self._in_flight + task[2] > MAX_IN_FLIGHT
        ):
            self._collect()
        function, args, size = task
        if _daemonic():
            self._record(task, function(*args), number)
            return
        if self._pool is None:
            self._pool = self._new_pool(self.workers)
        try:
            future = self._pool.submit(function, *args)
        except BrokenProcessPool:  # a worker died since the last result
            self._recover()
            self._submit(task, number)
            return
        self._pending[future] = (task, number)
        self._in_flight += size

    def wait(self) -> None:
        """Wait for every submitted image (the workers stay for more)."""
        while self._pending:
            self._collect()

    def close(self) -> None:
        """Wait for every submitted image, then stop the workers."""
        self.wait()
        self.__exit__()

    def _collect(self) -> None:
        """Record the next results; when a task overruns its time, replace the workers.

        The pool runs tasks in the order they were submitted, so the `workers` oldest
        pending ones are running: each one's time counts from when it became one of them."""
        now = time.monotonic()
        running = list(itertools.islice(self._pending, self.workers))
        for future in running:
            self._started.setdefault(future, now)
        deadline = min(self._started[future] for future in running) + self.seconds
        finished, _ = wait(self._pending, deadline - now, return_when=FIRST_COMPLETED)
        if not finished:
            self._recover()
            return
        for future in finished:
            try:
                outcome = future.result()
            except BrokenProcessPool:
                self._recover()
                return
            task, number = self._pending.pop(future)
            self._started.pop(future, None)
            self._in_flight -= task[2]
            self._record(task, outcome, number)

    def _recover(self) -> None:
        """A worker died or overran: stop the others and run every task that was in flight
        alone, in a fresh worker.

        (These short-lived workers are forked while the scan holds the catalogue's lock,
        which they let go of at once.)"""
        in_flight = list(self._pending.values())
        self._pending.clear()
        self._started.clear()
        self._in_flight = 0
        self._stop()
        for task, number in in_flight:
            self._record(task, self._alone(task), number)

    def _alone(self, task: _Task) -> Any:
        """The outcome of `task` in a worker of its own, or of its failure."""
        function, args, _ = task
        alone = self._new_pool(1)
        try:
            return alone.submit(function, *args).result(timeout=self.seconds)
        except BrokenProcessPool:
            why = "not a readable image ({}): the image decoder crashed on it"
            return _failed(function, args, why, "bad-image")
        except TimeoutError:
            why = f"the image took over {self.seconds:g} s to decode ({{}}); it was stopped"
            return _failed(function, args, why, "too-slow")
        finally:
            _kill(alone)

    def _stop(self) -> None:
        if self._pool is not None:
            _kill(self._pool)
            self._pool = None

    def _record(self, task: _Task, outcome: Any, number: int) -> None:
        function, args, _ = task
        if function is _fingerprint:
            self._fingerprinted(args[2], outcome, number)
        else:
            sha256, found = outcome
            if sha256 is None:
                message, ref, reason = found
                self.unreadable[args[0]] = ResolveError(message, reason=reason, ref=ref)
            else:
                self.read[args[0]] = sha256
                self.known.add(sha256)  # bytes read in a worker: known here too
                if found is not None:
                    self._fingerprinted(sha256, found, number)

    def _fingerprinted(self, sha256: str, outcome: _Outcome, number: int) -> None:
        if isinstance(outcome, Fingerprint):
            self.done[sha256] = outcome  # (the same bytes in two files: the first submitted)
            self._order[sha256] = min(number, self._order.get(sha256, number))
        else:
            message, path, code = outcome
            self.failed[sha256] = FingerprintError(message, path=path, code=code)
        if self.on_hashed is not None:
            self.on_hashed()


def _daemonic() -> bool:
    """Whether this process may not start workers (a daemonic one: a multiprocessing pool's
    worker); it then hashes in-process, and a decoder crash ends it."""
    return multiprocessing.current_process().daemon


def _kill(pool: ProcessPoolExecutor) -> None:
    """Stop `pool` now, its workers killed whatever they are doing."""
    for process in list((pool._processes or {}).values()):  # (no public way to reach them)
        process.kill()
    pool.shutdown(cancel_futures=True)


def _failed(function: Callable[..., Any], args: tuple[Any, ...], why: str, code: str) -> Any:
    """The outcome of a task whose worker failed twice (died, or overran its time): error
    `code`, saying `why` (with "{}" for the image's name). (For a file, its SHA-256 is
    computed here, to say which bytes.)"""
    if function is _fingerprint:
        name, sha256 = args[1], args[2]
    else:
        name = args[0]
        try:
            sha256 = hashlib.sha256(read_bytes(Path(name), args[1])).hexdigest()
        except ResolveError as exc:
            return None, (str(exc), exc.ref, exc.reason)
    outcome = (why.format(name), name, code)
    return outcome if function is _fingerprint else (sha256, outcome)
