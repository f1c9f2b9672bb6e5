"""Hamming search over 64-bit codes: every pair of rows within a radius, exactly.

Multi-index hashing (Norouzi, Punjani & Fleet, 2012) with the generalised pigeonhole principle
(Qin, Xiao et al., 2018): a code is cut into four 16-bit chunks and chunk c gets a radius t_c,
the four summing to radius − 3 (3, 2, 2, 2 for 12 bits). Two codes within `radius` bits are then
within t_c bits in some chunk c, so each pair lies in a pair of buckets (codes grouped by one
chunk's value) whose keys are within that chunk's radius. Those bucket pairs are compared on
all 64 bits by a compiled loop (`hamming_kernel`, numba) on every core; a pair is kept by the
first chunk that finds it. Below BRUTE_BELOW codes numpy brute force answers without compiling.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import combinations

import numpy as np

BRUTE_BELOW = 20_000
# A bucket holding more than this many codes, or BUCKET_SPREAD times the mean bucket's if more,
# is oversized: left out of its chunk's search (the same photo recompressed a million times
# would otherwise cost a million squared comparisons); `oversized` counts it. No smaller
# search can hold one: brute force and the index agree.
BUCKET_CAP = BRUTE_BELOW
BUCKET_SPREAD = 20
# what `pairs_within` is: (codes, radius, confirm, cap, owner, apart) -> (i, j)
PairSearch = Callable[
    [np.ndarray, int, np.ndarray, int, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]
]
CHUNK = 16
KEYS = 1 << CHUNK
BLOCK = 1024  # bucket keys per task


def chunk_radii(radius: int) -> list[int]:
    """Each chunk's radius; they sum to radius − 3 (−1: that chunk is not searched)."""
    share, extra = divmod(radius - 3, 4)
    return [share + 1] * extra + [share] * (4 - extra)


def _masks(radius: int) -> np.ndarray:
    """Every 16-bit mask with at most `radius` bits set (0 first)."""
    masks = [0]
    for r in range(1, min(radius, CHUNK) + 1):
        masks += [sum(1 << b for b in bits) for bits in combinations(range(CHUNK), r)]
    return np.array(masks, dtype=np.int64)


def pairs_within(
    codes: np.ndarray,
    radius: int,
    confirm: np.ndarray,
    cap: int,
    owner: np.ndarray,
    apart: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Row pairs (i < j, sorted) whose `codes` differ in at most `radius` bits and whose
    `confirm` codes in at most `cap`, with different `owner`s and not both flagged `apart`."""
    codes = np.ascontiguousarray(codes, dtype=np.uint64)
    confirm = np.ascontiguousarray(confirm, dtype=np.uint64)
    owner = np.ascontiguousarray(owner, dtype=np.int64)
    apart = np.ascontiguousarray(apart, dtype=bool)
    if len(codes) < BRUTE_BELOW:

        def accept(i: np.ndarray, j: np.ndarray) -> np.ndarray:
            confirmed = np.bitwise_count(confirm[i] ^ confirm[j]) <= cap
            return confirmed & (owner[i] != owner[j]) & ~(apart[i] & apart[j])

        i, j, _ = brute_pairs(codes, radius, accept=accept)
    else:
        i, j = _indexed_pairs(codes, radius, confirm, cap, owner, apart)
    order = np.lexsort((j, i))
    return i[order], j[order]


def _indexed_pairs(
    codes: np.ndarray,
    radius: int,
    confirm: np.ndarray,
    cap: int,
    owner: np.ndarray,
    apart: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    radii = np.array(chunk_radii(radius), dtype=np.int64)
    workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    found_i, found_j = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for chunk, chunk_radius in enumerate(radii.tolist()):
        if chunk_radius < 0:
            continue
        keys = chunk_keys(codes, chunk)
        order, buckets = _buckets(keys, codes, confirm, owner, apart, over_cap(keys))
        table = (*buckets, _masks(chunk_radius), chunk, radii, radius, cap)

        def scan(low: int, table: tuple = table) -> tuple[np.ndarray, np.ndarray]:
            return _scan(table, low, min(low + BLOCK, KEYS))

        with ThreadPoolExecutor(workers) as pool:
            for i, j in pool.map(scan, range(0, KEYS, BLOCK)):
                found_i.append(order[i])
                found_j.append(order[j])
    i, j = np.concatenate(found_i), np.concatenate(found_j)
    return np.minimum(i, j), np.maximum(i, j)


def chunk_keys(codes: np.ndarray, chunk: int) -> np.ndarray:
    """Each code's key (its 16 bits) in `chunk`."""
    return ((codes >> np.uint64(CHUNK * chunk)) & np.uint64(KEYS - 1)).astype(np.int64)


def over_cap(keys: np.ndarray) -> np.ndarray:
    """Which of a chunk's bucket keys hold an oversized bucket (BUCKET_CAP), as KEYS flags."""
    counts = np.bincount(keys, minlength=KEYS)
    return counts > max(BUCKET_CAP, BUCKET_SPREAD * len(keys) / KEYS)


def oversized(codes: np.ndarray, radius: int) -> tuple[int, int]:
    """How many buckets a search within `radius` leaves out as oversized, over its chunks,
    and how many codes they hold."""
    buckets = rows = 0
    for chunk, chunk_radius in enumerate(chunk_radii(radius)):
        if chunk_radius >= 0 and len(codes) >= BRUTE_BELOW:
            keys = chunk_keys(np.ascontiguousarray(codes, dtype=np.uint64), chunk)
            over = over_cap(keys)
            buckets += int(over.sum())
            rows += int(over[keys].sum())
    return buckets, rows


def _buckets(
    keys: np.ndarray,
    codes: np.ndarray,
    confirm: np.ndarray,
    owner: np.ndarray,
    apart: np.ndarray,
    over: np.ndarray,
) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """The rows sorted by their `keys` (in each bucket those not flagged `apart` first), but
    those of buckets `over` the cap, and the bucket table `scan_buckets` reads: codes,
    confirm codes, owners, flags, each bucket's first row and first flagged row. The first
    array maps sorted rows back."""
    order = np.lexsort((apart, keys))
    order = order[~over[keys[order]]]
    key, flagged = keys[order], apart[order]
    return order, (
        codes[order],
        confirm[order],
        owner[order],
        flagged.astype(np.int8),
        np.searchsorted(key, np.arange(KEYS + 1)),
        np.searchsorted(2 * key + flagged, 2 * np.arange(KEYS) + 1),
    )


def _scan(table: tuple, low: int, high: int) -> tuple[np.ndarray, np.ndarray]:
    """`scan_buckets` over bucket keys low..high-1, given room for whatever it finds."""
    from .hamming_kernel import scan_buckets

    size = 4096
    while True:
        out_i, out_j = np.empty(size, dtype=np.int64), np.empty(size, dtype=np.int64)
        found = scan_buckets(*table, low, high, out_i, out_j)
        if found <= size:
            return out_i[:found], out_j[:found]
        size = found


# The search cut for a cluster: a chunk's keys fall in 2**BLOCK_BITS blocks by their top bits;
# a task compares the buckets of one block with those of a block whose number differs from it
# in at most the chunk's radius bits (the same bucket pairs as `pairs_within`, each once).
BLOCK_BITS = 4
Rows = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def block_tasks(radius: int) -> list[tuple[int, int, int]]:
    """(chunk, block, other block >= block) of every task of a search within `radius`."""
    blocks = range(1 << BLOCK_BITS)
    return [
        (chunk, p, q)
        for chunk, chunk_radius in enumerate(chunk_radii(radius))
        if chunk_radius >= 0
        for p in blocks
        for q in blocks
        if q >= p and (p ^ q).bit_count() <= chunk_radius
    ]


def block_rows(
    codes: np.ndarray,
    confirm: np.ndarray,
    owner: np.ndarray,
    apart: np.ndarray,
    chunk: int,
    block: int,
) -> Rows:
    """The rows whose key in `chunk` lies in `block`, but those of oversized buckets: (row
    numbers, codes, confirm, owner, apart), what a task of the search reads."""
    keys = chunk_keys(codes, chunk)
    inside = (keys >> (CHUNK - BLOCK_BITS)) == block
    if len(codes) >= BRUTE_BELOW:  # (as in pairs_within: only the index leaves buckets out)
        inside &= ~over_cap(keys)[keys]
    rows = np.flatnonzero(inside)
    return rows, codes[rows], confirm[rows], owner[rows], apart[rows]


def block_pairs(
    radius: int, cap: int, chunk: int, block: int, other: int, first: Rows, second: Rows
) -> tuple[np.ndarray, np.ndarray]:
    """The pairs (i < j, row numbers) `pairs_within` finds in `chunk` between the buckets of
    `block` (rows `first`) and those of `other` (rows `second`; the same when equal)."""
    both = zip(first, second, strict=True)
    rows, codes, confirm, owner, apart = (
        first if block == other else (np.concatenate(pair) for pair in both)
    )
    radii = np.array(chunk_radii(radius), dtype=np.int64)
    keys = chunk_keys(codes, chunk)
    order, buckets = _buckets(keys, codes, confirm, owner, apart, np.zeros(KEYS, dtype=bool))
    masks = _masks(int(radii[chunk]))
    masks = masks[masks >> (CHUNK - BLOCK_BITS) == block ^ other]
    low = block << (CHUNK - BLOCK_BITS)
    i, j = _scan((*buckets, masks, chunk, radii, radius, cap), low, low + (KEYS >> BLOCK_BITS))
    i, j = rows[order[i]], rows[order[j]]
    return np.minimum(i, j), np.maximum(i, j)


def brute_pairs(
    codes: np.ndarray,
    radius: int,
    rows: int | None = None,
    tile: int = 1024,
    accept: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (i < j) within `radius` bits by XOR + popcount over every pair: the baseline.

    With `rows`, only pairs whose i is below `rows` (to time a slice of a large set); with
    `accept`, only the pairs it keeps (a mask over i, j), tile by tile, so that memory holds
    what is kept, not every pair within a wide radius.
    """
    codes = np.ascontiguousarray(codes, dtype=np.uint64)
    out_i, out_j = [], []
    limit = len(codes) if rows is None else min(rows, len(codes))
    for a in range(0, limit, tile):
        left = codes[a : min(a + tile, limit)]
        for b in range(a, len(codes), 8 * tile):
            d = np.bitwise_count(left[:, None] ^ codes[None, b : b + 8 * tile])
            i, j = np.nonzero(d <= radius)
            i, j = i + a, j + b
            i, j = i[j > i], j[j > i]
            if accept is not None:
                keep = accept(i, j)
                i, j = i[keep], j[keep]
            out_i.append(i)
            out_j.append(j)
    i = np.concatenate(out_i) if out_i else np.zeros(0, dtype=np.int64)
    j = np.concatenate(out_j) if out_j else np.zeros(0, dtype=np.int64)
    return i, j, np.bitwise_count(codes[i] ^ codes[j]).astype(np.int64)
