"""Beyond one machine (issue 20): the near-pair search on Dask, shard costs, and a simulation.

Run from the repository root (`pip install -e '.[dask]'`; about 2 minutes on 2 cores):

    python benchmarks/sharded.py [--n 1000000] [--sample 5000] [--photos DIR]

1. **Search.** `--n` clustered pHash-like codes (benchmarks/similarity.py's): every pair
   within 12 bits, found by `hamming.pairs_within` here and by `cluster.ClusterSearch` on a
   LocalCluster of 2 worker processes; the two must be equal, and brute force over the pairs
   of the first `--sample` rows must find nothing they lack. Wall, CPU (this process and the
   workers) and peak memory (this process; the workers' largest RSS, sampled every 50 ms).
2. **Shards.** The photos under `--photos` cut into shards of 50 and scanned one after the
   other with `shards.run_shard` as a LocalCluster worker runs them (images fingerprinted by
   one child process): time per shard and per image (what the simulation draws from), and
   Parquet bytes per image; `fingerprint()` alone on every photo, for comparison.
3. **Simulation** of a run on 100 machines of 16 cores over 1,000,000,000 images in shards of
   10,000, fed with those measurements: makespan, efficiency (work / (cores x makespan)),
   scheduler load, bytes written, and the bytes the cluster search would move.
"""

from __future__ import annotations

import argparse
import heapq
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from similarity import clustered_codes

from media_catalog.hamming import block_tasks, brute_pairs, pairs_within

RADIUS = 12
ROW_BYTES = 8 + 8 + 8 + 1 + 8  # a search row sent to a task: code, confirm, owner, flag, number


def _cpu_of(pids: list[int]) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


class _PeakRss:
    """The largest RSS any of `pids` reached while inside, sampled every 50 ms."""

    def __init__(self, pids: list[int]) -> None:
        import psutil

        self.processes = [psutil.Process(pid) for pid in pids]
        self.peak = 0
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while self.running:
            for process in self.processes:
                self.peak = max(self.peak, process.memory_info().rss)
            time.sleep(0.05)

    def __enter__(self) -> _PeakRss:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.running = False
        self.thread.join()


def _nothing(value: int) -> int:
    return value


def search(n: int, sample: int) -> tuple[list[str], dict[str, float]]:
    from distributed import Client, LocalCluster

    from media_catalog.cluster import ClusterSearch

    codes = clustered_codes(n)
    everyone, nobody = np.arange(n), np.zeros(n, dtype=bool)
    pairs_within(codes[:30_000], RADIUS, codes[:30_000], 64, everyone[:30_000], nobody[:30_000])
    started, cpu = time.perf_counter(), time.process_time()
    local = pairs_within(codes, RADIUS, codes, 64, everyone, nobody)
    local_wall, local_cpu = time.perf_counter() - started, time.process_time() - cpu
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster,
        Client(cluster) as client,
    ):
        pids = list(client.run(os.getpid).values())
        found = ClusterSearch(client)(codes[:30_000], RADIUS, codes[:30_000], 64,
                                      everyone[:30_000], nobody[:30_000])  # fmt: skip
        worker_cpu = _cpu_of(pids)
        started, cpu = time.perf_counter(), time.process_time()
        with _PeakRss(pids) as peak:
            found = ClusterSearch(client)(codes, RADIUS, codes, 64, everyone, nobody)
        wall, driver_cpu = time.perf_counter() - started, time.process_time() - cpu
        worker_cpu = _cpu_of(pids) - worker_cpu
        started = time.perf_counter()  # the scheduler's cost of a task, with no work in it
        client.gather(client.map(_nothing, range(5000), pure=False))
        figures = {"task_seconds": (time.perf_counter() - started) / 5000}
    assert all(np.array_equal(a, b) for a, b in zip(found, local, strict=True)), "they differ"
    bi, bj, _ = brute_pairs(codes, RADIUS, rows=sample)
    mine = found[0] < sample
    brute = set(zip(bi.tolist(), bj.tolist(), strict=True))
    assert brute == set(zip(found[0][mine].tolist(), found[1][mine].tolist(), strict=True))
    tasks = block_tasks(RADIUS)
    moved = sum(2 if p != q else 1 for _, p, q in tasks) / 16 * n * ROW_BYTES
    driver_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures.update(n=n, search_cpu=worker_cpu + driver_cpu, moved_per_code=moved / n)
    return [
        f"#### Near-pair search: {n:,} clustered pHash-like codes, every pair within {RADIUS} bits",
        "",
        "| search | wall | CPU | pairs | peak memory |",
        "|:---|---:|---:|---:|---:|",
        f"| `pairs_within`, this process (2 threads) | {local_wall:.1f} s | {local_cpu:.1f} s | "
        f"{len(local[0]):,} | (in the driver's) |",
        f"| `ClusterSearch`, LocalCluster of 2 processes | {wall:.1f} s | {worker_cpu:.1f} s "
        f"workers + {driver_cpu:.1f} s driver | {len(found[0]):,} | worker {peak.peak / 2**20:,.0f}"
        f" MiB; driver {driver_rss:,.0f} MiB |",
        "",
        f"- The same pairs, array for array; brute force over the {sample:,} first rows x all "
        f"found {len(brute):,} pairs, each also found by both.",
        f"- {len(tasks)} block-pair tasks; rows sent to them: {moved / 2**20:,.0f} MiB "
        f"({moved / n:.0f} bytes a code).",
        f"- Wall ratio cluster / here: {wall / local_wall:.2f}x; CPU ratio "
        f"{(worker_cpu + driver_cpu) / local_cpu:.2f}x.",
        f"- 5,000 empty tasks on that cluster: {figures['task_seconds'] * 1000:.2f} ms a task, "
        "end to end (the scheduler, the two workers and this client on 2 cores).",
        "",
    ], figures


def _timed_shard(plan: Any, out: Any, number: int) -> tuple[float, float]:
    """Wall and CPU seconds (this process and its children) of one shard."""
    from media_catalog.shards import run_shard

    def cpu() -> float:
        own, children = (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    started, before = time.perf_counter(), cpu()
    run_shard(plan.part(number), out, number, workers=1)
    return time.perf_counter() - started, cpu() - before


def shards(photos: Path) -> tuple[list[str], dict[str, float]]:
    from media_catalog.fingerprint import fingerprint
    from media_catalog.shards import RunFolder, plan_run

    files = sorted(p for p in photos.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    per_image = []
    for path in files:
        data = path.read_bytes()
        started = time.process_time()
        fingerprint(data, str(path))
        per_image.append(time.process_time() - started)
    with tempfile.TemporaryDirectory() as folder:
        out = RunFolder(Path(folder) / "run")
        plan = plan_run([photos], out, shard_size=50)
        # as a LocalCluster's worker runs them: images fingerprinted by one child process
        timed = [_timed_shard(plan, out, number) for number in range(len(plan.shards))]
        times, cpus = [wall for wall, _ in timed], [cpu for _, cpu in timed]
        written = sum(f.stat().st_size for f in Path(folder, "run").rglob("*.parquet"))
    images = sum(len(s) for s in plan.shards)
    shard_images = [len(s) for s in plan.shards]
    per_shard_image = [t / k for t, k in zip(times, shard_images, strict=True)]
    figures = {"shard_image_seconds": per_shard_image, "bytes_per_image": written / images}
    lines = [
        f"#### Shards of 50 photos ({images} photos, {len(times)} shards), one after another "
        "as a LocalCluster worker runs them (one fingerprinting child)",
        "",
        "| measure | value |",
        "|:---|---:|",
        f"| shard wall, median (min–max) | {statistics.median(times):.2f} s "
        f"({min(times):.2f}–{max(times):.2f}) |",
        f"| shard CPU, median | {statistics.median(cpus):.2f} s |",
        f"| per image in a shard, median | {statistics.median(per_shard_image) * 1000:.1f} ms |",
        f"| `fingerprint()` alone per image, median (p95) | "
        f"{statistics.median(per_image) * 1000:.1f} ms "
        f"({np.percentile(per_image, 95) * 1000:.1f}) |",
        f"| Parquet written per image | {written / images:,.0f} bytes |",
        "",
    ]
    return lines, figures


def schedule(
    durations: np.ndarray, slots: int, lost: range = range(0), at: float = float("inf")
) -> tuple[float, float]:
    """Makespan and wasted seconds when shards run in plan order, each on the first free core,
    and the cores in `lost` (one machine) die at time `at`: the shards they were running are
    run again by the others (as Dask reschedules a lost worker's tasks)."""
    free = [(0.0, slot) for slot in range(slots)]
    heapq.heapify(free)
    queue = list(durations[::-1])  # popped from the end: plan order
    wasted, makespan = 0.0, 0.0
    while queue:
        start, slot = heapq.heappop(free)
        if slot in lost and start >= at:
            continue  # a dead core takes no more work
        duration = queue.pop()
        end = start + duration
        if slot in lost and end > at:
            wasted += at - start
            queue.append(duration)  # run again, next
            continue
        makespan = max(makespan, end)
        heapq.heappush(free, (end, slot))
    return makespan, wasted


def simulate(figures: dict[str, float], seed: int = 1) -> list[str]:
    machines, cores, images, shard = 100, 16, 1_000_000_000, 10_000
    slots, count = machines * cores, images // shard
    rng = np.random.default_rng(seed)
    # a shard's time: the time per image of a shard measured here, drawn (with its spread:
    # shards of 50 vary more than shards of 10,000 would), times 10,000
    durations = rng.choice(figures["shard_image_seconds"], size=count) * shard
    work = float(durations.sum())
    makespan, _ = schedule(durations, slots)
    lost_makespan, wasted = schedule(durations, slots, range(cores), at=makespan / 2)
    rate = count / makespan
    # the near-pair search: its work is bucket pairs compared, which grows as n² once buckets
    # hold many codes (n >> 65,536 keys): scaled from the n measured
    search = figures["search_cpu"] * (images / figures["n"]) ** 2
    scheduler_per_task = figures["task_seconds"]  # measured here, an upper bound
    return [
        f"#### Simulation: {images:,} images, {machines} machines x {cores} cores, shards of "
        f"{shard:,}",
        "",
        "| measure | value |",
        "|:---|---:|",
        f"| shards | {count:,} |",
        f"| shard time, mean (min–max) | {np.mean(durations):.0f} s "
        f"({durations.min():.0f}–{durations.max():.0f}) |",
        f"| work | {work / 3600:,.0f} core-hours |",
        f"| makespan | {makespan / 3600:.2f} h |",
        f"| efficiency (work / cores x makespan) | {work / (slots * makespan):.1%} |",
        f"| one machine lost half-way: makespan, efficiency | {lost_makespan / 3600:.2f} h, "
        f"{work / (slots * lost_makespan):.1%} ({wasted / 3600:.1f} core-hours redone) |",
        f"| scheduler load | {rate:.1f} tasks/s, at most {rate * scheduler_per_task:.2%} of one "
        "core (at the cost of an empty task measured here) |",
        f"| Parquet written | {figures['bytes_per_image'] * images / 2**40:,.1f} TiB |",
        "| shuffle bytes of the scan | 0 (each shard writes its own files) |",
        f"| near-pair search, 12 bits, scaled by n² from {figures['n']:,.0f} codes | "
        f"{search / 3600:,.0f} core-hours, {search / slots / 3600:,.1f} h on {slots:,} cores |",
        f"| rows the search sends to its tasks, at most | "
        f"{figures['moved_per_code'] * images / 2**40:,.1f} TiB |",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=5_000)
    parser.add_argument("--photos", type=Path, default=Path("/tmp/media-catalog-bench/photos"))
    args = parser.parse_args()
    import dask

    header = [
        f"- command: `python benchmarks/sharded.py --n {args.n} --sample {args.sample} "
        f"--photos {args.photos}`",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- machine: {platform.machine()}, {subprocess.getoutput('nproc')} CPUs, Python "
        f"{platform.python_version()}, numpy {np.__version__}, dask {dask.__version__}",
        f"- load before: `{subprocess.getoutput('uptime').strip()}`",
        "",
    ]
    print("\n".join(header), flush=True)
    lines, searched = search(args.n, args.sample)
    print("\n".join(lines), flush=True)
    lines, figures = shards(args.photos)
    print("\n".join(lines), flush=True)
    print("\n".join(simulate({**figures, **searched})), flush=True)


if __name__ == "__main__":
    main()
