"""Fingerprint many images across worker processes, with bounded memory.

The scan reads each image's bytes and SHA-256 itself (so the same bytes are never hashed twice,
and references get their SHA-256 at once) and hands new bytes to a Hasher. With more than one
worker the Hasher fingerprints them in a process pool, keeping at most `2 * workers` images
and MAX_IN_FLIGHT bytes in flight: submitting waits for a result when the window is full, so
memory stays bounded however many images a scan holds. With one worker it hashes in-process.

Entering a Hasher starts its workers at once (forked, with what the scan has imported), so
that a caller can take locks after it: the workers then do not share the catalogue's write
lock, which a killed scan must release at once.

A worker that dies (a decoder crashing on a hostile file, or killed for memory) does not stop
the scan: the images that were in flight are hashed again one at a time, each in a fresh
worker, and the one that kills its worker again is recorded as a `bad-image` error.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from .errors import FingerprintError
from .fingerprint import fingerprint
from .models import Fingerprint

MAX_IN_FLIGHT = 256 * 1024 * 1024

# What a worker sends back: a Fingerprint, or a FingerprintError's (message, path, code)
# (exceptions with keyword-only fields do not survive pickling).
_Outcome = Fingerprint | tuple[str, str | None, str]


def default_workers() -> int:
    """All the cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def _context() -> multiprocessing.context.BaseContext:
    """Fork where there is fork (fast, and no re-import of the caller's main module)."""
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")  # pragma: no cover - Windows


def _fingerprint(data: bytes, name: str, sha256: str) -> _Outcome:
    try:
        return fingerprint(data, name, sha256=sha256)
    except FingerprintError as exc:
        return str(exc), exc.path, exc.code


class Hasher:
    """Fingerprints submitted bytes; `done` and `failed` fill in as results arrive (all of
    them after `close()`). `on_hashed` is called once per image fingerprinted or failed."""

    def __init__(self, workers: int | None = None, on_hashed: Callable[[], None] | None = None):
        self.workers = max(1, workers or default_workers())
        self.on_hashed = on_hashed
        self.done: dict[str, Fingerprint] = {}
        self.failed: dict[str, FingerprintError] = {}
        self._pool: ProcessPoolExecutor | None = None
        self._pending: dict[Future[_Outcome], tuple[str, bytes, str]] = {}
        self._in_flight = 0

    def __enter__(self) -> Hasher:
        if self.workers > 1:
            self._start()
        return self

    def _start(self) -> None:
        self._pool = ProcessPoolExecutor(self.workers, mp_context=_context())
        self._pool.submit(int)  # with fork, the first task starts every worker now

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def submit(self, sha256: str, data: bytes, name: str) -> None:
        """Fingerprint `data` (whose SHA-256 is `sha256`); `name` goes into error messages."""
        if self.workers == 1:
            self._record(sha256, _fingerprint(data, name, sha256))
            return
        while self._pending and (
            len(self._pending) >= 2 * self.workers or self._in_flight + len(data) > MAX_IN_FLIGHT
        ):
            self._collect()
        if self._pool is None:
            self._start()
        try:
            future = self._pool.submit(_fingerprint, data, name, sha256)
        except BrokenProcessPool:  # a worker died since the last result
            self._recover()
            self.submit(sha256, data, name)
            return
        self._pending[future] = (sha256, data, name)
        self._in_flight += len(data)

    def wait(self) -> None:
        """Wait for every submitted image (the workers stay for more)."""
        while self._pending:
            self._collect()

    def close(self) -> None:
        """Wait for every submitted image, then stop the workers."""
        self.wait()
        self.__exit__()

    def _collect(self) -> None:
        finished, _ = wait(self._pending, return_when=FIRST_COMPLETED)
        for future in finished:
            try:
                outcome = future.result()
            except BrokenProcessPool:
                self._recover()
                return
            sha256, data, _ = self._pending.pop(future)
            self._in_flight -= len(data)
            self._record(sha256, outcome)

    def _recover(self) -> None:
        """A worker died: hash every image that was in flight alone, in a fresh worker.

        (These short-lived workers are forked while the scan holds the catalogue's lock: a
        scan killed meanwhile releases it when the one image at hand is done.)"""
        in_flight = list(self._pending.values())
        self._pending.clear()
        self._in_flight = 0
        self.__exit__()
        for sha256, data, name in in_flight:
            with ProcessPoolExecutor(1, mp_context=_context()) as alone:
                try:
                    outcome = alone.submit(_fingerprint, data, name, sha256).result()
                except BrokenProcessPool:
                    message = f"not a readable image ({name}): the image decoder crashed on it"
                    outcome = (message, name, "bad-image")
            self._record(sha256, outcome)

    def _record(self, sha256: str, outcome: _Outcome) -> None:
        if isinstance(outcome, Fingerprint):
            self.done[sha256] = outcome
        else:
            message, path, code = outcome
            self.failed[sha256] = FingerprintError(message, path=path, code=code)
        if self.on_hashed is not None:
            self.on_hashed()
