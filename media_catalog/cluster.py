"""Dask: where the shards of a run (media_catalog.shards) are scanned, and the near-pair search
of `dupes` on a cluster (`ClusterSearch`). A cluster is a `LocalCluster` on this machine or an
existing one given by its scheduler address.

Only the shards without a done marker run, so a run whose driver was killed is finished by
running it again. Each task is sent its own part of the plan; Dask runs a lost worker's tasks
elsewhere and retries a failing one; a shard that still fails is reported and stays to do.
This project starts no machines: a cluster comes from the user's tools (dask-jobqueue,
dask-kubernetes, Coiled, `dask scheduler` and `dask worker`), and its workers must see the
inputs at the same paths, and the output folder too unless it is an object-store prefix.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import QueryError
from .hamming import block_pairs, block_rows, block_tasks
from .hashing import default_workers
from .shards import Plan, RunFolder, done_shards, run_shard, shard_name

RETRIES = 2  # a shard task that raises is tried this many times more


@dataclass
class RunSummary:
    """A run's shards: in all, done before this run, run now, failed (number → why); and
    the counts of every done shard added up."""

    shards: int = 0
    done_before: int = 0
    ran: int = 0
    failed: dict[int, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "shards": self.shards,
            "done_before": self.done_before,
            "ran": self.ran,
            "failed": len(self.failed),
            **self.counts,
        }


def run_plan(
    plan: Plan,
    out: RunFolder,
    scheduler: str = "local",
    *,
    workers: int | None = None,
    on_start: Callable[[str | None], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    show_progress: bool = False,
) -> RunSummary:
    """Scan the shards of `plan` not yet done into run folder `out`.

    `scheduler`: "none" (no Dask: shard after shard here, images fingerprinted by `workers`
    processes), "local" (a LocalCluster of `workers` processes, default all cores, one
    thread each) or a scheduler address (tcp://host:8786). `on_start(dashboard link or None)`
    is called once the cluster is reached, `on_warning(message)` for a cluster whose workers
    are set up to do worse than they could; `show_progress` draws Dask's progress bar."""
    summary = RunSummary(shards=len(plan.shards))
    done = done_shards(out)
    todo = [number for number in range(len(plan.shards)) if number not in done]
    summary.done_before = len(plan.shards) - len(todo)
    if scheduler == "none":
        if on_start is not None:
            on_start(None)
        for number in todo:
            try:
                run_shard(plan.part(number), out, number, workers)
            except Exception as exc:  # one shard's failure: reported, the others run
                summary.failed[number] = f"{type(exc).__name__}: {exc}"
    else:
        summary.failed = _on_dask(
            plan, out, scheduler, todo, workers, on_start, on_warning, show_progress
        )
    finished = done_shards(out)
    summary.ran = len(finished.keys() - done.keys())
    for counts in finished.values():
        for key, value in counts.items():
            summary.counts[key] = summary.counts.get(key, 0) + value
    summary.counts["errors"] = summary.counts.get("errors", 0) + len(plan.errors)
    return summary


def _on_dask(
    plan: Plan,
    out: RunFolder,
    scheduler: str,
    todo: list[int],
    workers: int | None,
    on_start: Callable[[str | None], None] | None,
    on_warning: Callable[[str], None] | None,
    show_progress: bool,
) -> dict[int, str]:
    """Run the shards `todo` on Dask, each task sent its own part of the plan (a lost worker
    loses nothing another task needs); the shards that failed, with why."""
    failed = {}
    with dask_client(scheduler, workers) as client:
        from distributed import as_completed, progress

        if on_start is not None:
            on_start(client.dashboard_link)
        if on_warning is not None:
            for message in _worker_advice(client):
                on_warning(message)
        futures = client.map(
            run_shard, [plan.part(n) for n in todo], [out] * len(todo), todo,
            pure=False, retries=RETRIES,
        )  # fmt: skip
        if show_progress and futures:
            progress(futures)
        numbers = {future.key: number for future, number in zip(futures, todo, strict=True)}
        for future in as_completed(futures):
            number = numbers[future.key]
            if future.status != "finished":
                exc = future.exception() if future.status == "error" else None
                failed[number] = repr(exc) if exc is not None else f"the task {future.status}"
            elif out.read(f"done/{shard_name(number)}.json") is None:
                failed[number] = (
                    f"a worker wrote shard {number} where this process does not see it: "
                    "workers must see --out at the same path (a shared file system), or "
                    "write to an object-store prefix"
                )
    return failed


def _worker_advice(client: Any) -> list[str]:
    """What the cluster's workers are set up to do worse than they could."""
    import multiprocessing

    advice = []
    workers = client.scheduler_info()["workers"].values()
    if not workers:
        advice.append(
            "the Dask scheduler has no workers yet: the shards wait until workers join it "
            "(dask worker ADDRESS --nworkers N --nthreads 1)"
        )
    if any(worker["nthreads"] > 1 for worker in workers):
        advice.append(
            "some Dask workers have more than one thread; a worker scans one shard at a "
            "time, so start one process per core: dask worker ADDRESS --nworkers N --nthreads 1"
        )
    if any(client.run(lambda: multiprocessing.current_process().daemon).values()):
        advice.append(
            "the Dask workers are daemonic processes, so they fingerprint in their own "
            "process: a crashing image costs its shard, and --image-seconds does not apply; "
            "start them with DASK_DISTRIBUTED__WORKER__DAEMON=False"
        )
    return advice


class ClusterSearch:
    """`hamming.pairs_within` on a Dask cluster, with the same result: the arrays are sent
    to the cluster once per search, each (chunk, block) of rows is cut out by one task, and
    each block pair of `hamming.block_tasks` is compared by another."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def __call__(
        self,
        codes: np.ndarray,
        radius: int,
        confirm: np.ndarray,
        cap: int,
        owner: np.ndarray,
        apart: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        client = self.client
        arrays = client.scatter(
            [
                np.ascontiguousarray(codes, dtype=np.uint64),
                np.ascontiguousarray(confirm, dtype=np.uint64),
                np.ascontiguousarray(owner, dtype=np.int64),
                np.ascontiguousarray(apart, dtype=bool),
            ],
            hash=False,  # (keys by content: two searches' equal arrays would share one)
        )
        tasks = block_tasks(radius)
        wanted = sorted({(chunk, p) for chunk, p, _ in tasks} | {(c, q) for c, _, q in tasks})
        blocks = {
            (chunk, block): client.submit(block_rows, *arrays, chunk, block, pure=False)
            for chunk, block in wanted
        }
        futures = []
        for chunk, p, q in tasks:
            first, second = blocks[chunk, p], blocks[chunk, q]
            futures.append(
                client.submit(block_pairs, radius, cap, chunk, p, q, first, second, pure=False)
            )
        found = client.gather(futures)
        i = np.concatenate([np.zeros(0, np.int64), *(pair[0] for pair in found)])
        j = np.concatenate([np.zeros(0, np.int64), *(pair[1] for pair in found)])
        order = np.lexsort((j, i))
        return i[order], j[order]


def check_scheduler(scheduler: str, here: str = "none") -> str:
    """`scheduler` when it is `here` ("none"), "local" or a scheduler address (tcp://host:8786,
    host:8786), else QueryError saying what to give."""
    if scheduler in (here, "local") or re.fullmatch(r"[a-z]+://\S+|[\w.-]+:\d+", scheduler):
        return scheduler
    raise QueryError(
        f"--scheduler {scheduler!r}: give {here} (this process), local (a Dask LocalCluster) "
        "or a Dask scheduler's address (tcp://host:8786)"
    )


@contextmanager
def dask_client(scheduler: str, workers: int | None = None) -> Iterator[Any]:
    """A Dask client of a LocalCluster of `workers` processes ("local") or of the cluster at
    a scheduler address; QueryError when Dask is not installed or the scheduler not reached."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise QueryError(
            "--scheduler needs Dask: pip install 'media-catalog[dask]' (or --scheduler none)"
        ) from exc
    import dask

    cluster = None
    if scheduler == "local":
        # workers that may start processes: a shard's images are fingerprinted in children
        # of the worker, with their time limit, and a crashing decoder costs one image
        with dask.config.set({"distributed.worker.daemon": False}):
            cluster = LocalCluster(
                n_workers=workers or default_workers(),
                threads_per_worker=1,
                processes=True,
                dashboard_address="127.0.0.1:0",
            )
    try:
        try:
            client = Client(cluster or scheduler)
        except OSError as exc:
            raise QueryError(
                f"cannot reach the Dask scheduler {scheduler}: {exc}; check the address, or "
                "run with --scheduler local"
            ) from exc
        with client:
            yield client
    finally:
        if cluster is not None:
            cluster.close()
