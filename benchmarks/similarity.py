"""Duplicate search at scale: all near pairs among N 64-bit hashes.

Run from the repository root (a few minutes on 2 cores; `--n` makes it smaller):

    python benchmarks/similarity.py [--n 1000000] [--radius 10] [--sample 20000]

Compares, in the same run, on the same codes:

- `media_catalog.hamming.pairs_within` (multi-index hashing, its inner loop compiled with
  numba, on every core) — every pair within `--radius` bits among all N codes, timed in full
  (wall and CPU), peak memory from the process's max RSS;
- brute force with numpy (XOR + `np.bitwise_count`, `hamming.brute_pairs`) — timed on the pairs
  of the first `--sample` rows with all N (a full run takes many minutes) and scaled by the
  share of pairs it covered; its pairs are checked to equal the index's for those rows;
- FAISS `IndexBinaryFlat.range_search` when `faiss-cpu` is installed, the same way.

Codes are *clustered and pHash-like*, as a catalogue's are: imagehash's pHash keeps the 64
lowest DCT coefficients of a 32x32 grey image above their median, so the DC bit is always set
and 32 bits are set in all. Each base photo's bits come from 1/f-distributed coefficients; it
has 0-7 near copies whose distances follow the reuse distances measured in docs/threshold.md,
and bases come in "shoots" of similar photos 12-24 bits apart (the dense neighbourhood that
makes a Hamming index work hardest). Uniform random codes are measured too.
"""

from __future__ import annotations

import argparse
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from media_catalog.hamming import BRUTE_BELOW, brute_pairs, pairs_within

# pHash distance of a reuse copy to its original (docs/threshold.md, all reuse: 972 pairs)
COPY_DISTANCES = {0: 698, 2: 172, 4: 44, 6: 21, 8: 11, 10: 6, 12: 8, 14: 2, 16: 6}


def _phash_like(rng: np.random.Generator, n: int) -> np.ndarray:
    """n codes shaped like pHashes: median-thresholded 8x8 DCT of 1/f noise, DC bit set."""
    u, v = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    scale = 1.0 / (1.0 + np.hypot(u, v)).ravel()
    coefficients = rng.normal(size=(n, 64)) * scale
    coefficients[:, 0] = 100.0  # the DC term: mean brightness, always above the median
    bits = coefficients > np.median(coefficients, axis=1, keepdims=True)
    return _pack(bits)


def _pack(bits: np.ndarray) -> np.ndarray:
    weights = np.uint64(1) << np.arange(63, -1, -1, dtype=np.uint64)
    return (bits.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)


def _flip_pairs(rng: np.random.Generator, codes: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """Move each code by `distance` bits, half set bits cleared and half clear bits set (as
    pHash does: the count of set bits stays 32)."""
    out = codes.copy()
    for d in np.unique(distances):
        rows = np.flatnonzero(distances == d)
        if d == 0:
            continue
        bits = ((codes[rows, None] >> np.arange(63, -1, -1, dtype=np.uint64)) & np.uint64(1)) == 1
        bits[:, 0] = False  # never move the DC bit
        noise = rng.random(bits.shape)
        ones = np.argsort(np.where(bits, noise, 2.0), axis=1)[:, : d // 2]
        zeros = np.argsort(np.where(~bits, noise, 2.0), axis=1)[:, 1 : d // 2 + 1]
        flips = np.zeros_like(bits)
        np.put_along_axis(flips, ones, True, axis=1)
        np.put_along_axis(flips, zeros, True, axis=1)
        out[rows] ^= _pack(flips)
    return out


def clustered_codes(n: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shoots = _phash_like(rng, n // 12)
    bases = np.repeat(shoots, 3)[: n // 4]
    bases = _flip_pairs(rng, bases, rng.choice(np.arange(12, 26, 2), size=len(bases)))
    values = np.array(list(COPY_DISTANCES))
    weights = np.array(list(COPY_DISTANCES.values()), dtype=float)
    owners = rng.integers(0, len(bases), size=n - len(bases))
    copies = _flip_pairs(
        rng, bases[owners], rng.choice(values, size=len(owners), p=weights / weights.sum())
    )
    codes = np.concatenate([bases, copies])
    return codes[rng.permutation(n)]


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(name: str, codes: np.ndarray, radius: int, sample: int) -> list[str]:
    n = len(codes)
    total_pairs = n * (n - 1) / 2
    sample_pairs = sum(n - 1 - i for i in range(sample))
    lines = [f"#### {name}: {n:,} codes, radius {radius}", ""]

    everyone, nobody = np.arange(n), np.zeros(n, dtype=bool)
    started = time.perf_counter()
    few = slice(0, BRUTE_BELOW)
    pairs_within(codes[few], radius, codes[few], 64, everyone[few], nobody[few])
    warm = time.perf_counter() - started  # compiles the kernel, or loads it from numba's cache
    started = time.perf_counter()
    cpu = time.process_time()
    i, j = pairs_within(codes, radius, codes, 64, everyone, nobody)
    mih, mih_cpu = time.perf_counter() - started, time.process_time() - cpu
    rss = _rss_mib()

    started = time.perf_counter()
    bi, bj, _ = brute_pairs(codes, radius, rows=sample)
    brute_sample = time.perf_counter() - started
    brute = brute_sample * total_pairs / sample_pairs
    mine = i < sample
    assert set(zip(i[mine].tolist(), j[mine].tolist(), strict=True)) == set(
        zip(bi.tolist(), bj.tolist(), strict=True)
    ), "the index and brute force disagree"

    rows = [
        ["multi-index hashing (numba), all pairs", f"{mih:.1f} s", f"{len(i):,}", "1.0x"],
        [
            f"brute force numpy, {sample:,} rows x all, scaled",
            f"{brute:.0f} s ({brute_sample:.1f} s measured)",
            f"{len(bi):,} in the sample",
            f"{brute / mih:.1f}x slower",
        ],
    ]
    try:
        import faiss
    except ImportError:
        faiss = None
    if faiss is not None:
        flat = faiss.IndexBinaryFlat(64)
        data = codes.byteswap().view(np.uint8).reshape(-1, 8)
        flat.add(data)
        started = time.perf_counter()
        flat.range_search(data[:sample], radius + 1)  # radius is strict
        faiss_sample = time.perf_counter() - started
        faiss_total = faiss_sample * n / sample  # a self-join queries all n codes
        rows.append(
            [
                f"FAISS {faiss.__version__} IndexBinaryFlat range_search, {sample:,} rows, scaled",
                f"{faiss_total:.0f} s ({faiss_sample:.1f} s measured)",
                "",
                f"{faiss_total / mih:.1f}x slower",
            ]
        )

    lines += [
        "| method | time for all pairs | pairs found | vs the index |",
        "|:---|---:|---:|---:|",
        *("| " + " | ".join(r) + " |" for r in rows),
        "",
        f"- the index: {mih_cpu:.1f} s of CPU over {mih:.1f} s wall; its first call, on "
        f"{BRUTE_BELOW:,} codes, took {warm:.1f} s (compiling or loading the kernel); peak RSS "
        f"of the process after it: {rss:,.0f} MiB",
        "",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--radius", type=int, default=10)
    parser.add_argument("--sample", type=int, default=20_000)
    args = parser.parse_args()
    try:
        import faiss

        faiss_version = f", faiss-cpu {faiss.__version__}"
    except ImportError:
        faiss_version = ", faiss-cpu not installed"
    header = [
        f"- command: `python benchmarks/similarity.py --n {args.n} --radius {args.radius} "
        f"--sample {args.sample}`",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- machine: {platform.machine()}, {subprocess.getoutput('nproc')} CPUs, Python "
        f"{platform.python_version()}, numpy {np.__version__}{faiss_version}",
        f"- load before: `{_uptime()}`",
        "",
    ]
    print("\n".join(header), flush=True)
    for name, codes in (
        ("clustered pHash-like codes", clustered_codes(args.n)),
        (
            "uniform random codes",
            np.random.default_rng(3).integers(0, 2**64 - 1, args.n, dtype=np.uint64, endpoint=True),
        ),
    ):
        print("\n".join(measure(name, codes, args.radius, args.sample)), flush=True)
    print(f"- load after: `{_uptime()}`")


if __name__ == "__main__":
    main()
