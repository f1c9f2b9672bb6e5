"""Hamming search over 64-bit codes: multi-index hashing (Norouzi, Punjani & Fleet, 2012).

A code is cut into m chunks (m = 4 of 16 bits; m = 3 of 22/21/21 bits from 2**18 codes up, as
the paper's m ~ 64 / log2(N) advises). If two codes differ in at most r bits, one of their
chunks differs in at most r // m bits (pigeonhole). So every near pair lies in a pair of
buckets — codes grouped by one chunk's value — whose keys are within r // m bits; only those
bucket pairs are expanded into candidate pairs and checked on all 64 bits. For r = 10 among a
million pHash-like codes that checks about a thousandth of the 5e11 pairs that brute force
does: benchmarks/similarity.py measures both on clustered, photo-like hashes.

Pure numpy. Below BRUTE_BELOW codes plain brute force is faster and is used instead.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

BRUTE_BELOW = 20_000


def _widths(n: int) -> list[int]:
    return [22, 21, 21] if n >= 2**18 else [16, 16, 16, 16]


def _masks(width: int, radius: int) -> np.ndarray:
    """Every `width`-bit mask with at most `radius` bits set (0 first)."""
    masks = [0]
    for r in range(1, min(radius, width) + 1):
        masks += [sum(1 << b for b in bits) for bits in combinations(range(width), r)]
    return np.array(masks, dtype=np.int64)


def hex_codes(hexes: list[str]) -> np.ndarray:
    """64-bit hex hashes as a numpy uint64 array."""
    return np.array([int(h, 16) for h in hexes], dtype=np.uint64)


class _Table:
    """The codes grouped by one chunk: bucket keys, where each bucket's rows start, how many."""

    def __init__(self, codes: np.ndarray, shift: int, width: int) -> None:
        self.shift, self.width = shift, width
        self.keys = self.key(codes)
        self.order = np.argsort(self.keys, kind="stable")
        self.buckets, self.starts, self.counts = np.unique(
            self.keys[self.order], return_index=True, return_counts=True
        )
        self.lookup = np.full(1 << width, -1, dtype=np.int32)  # key -> bucket number
        self.lookup[self.buckets] = np.arange(len(self.buckets), dtype=np.int32)

    def key(self, codes: np.ndarray) -> np.ndarray:
        mask = np.uint64((1 << self.width) - 1)
        return ((codes >> np.uint64(self.shift)) & mask).astype(np.int64)

    def rows(self, buckets: np.ndarray) -> np.ndarray:
        return np.concatenate(
            [self.order[self.starts[b] : self.starts[b] + self.counts[b]] for b in buckets]
            or [np.zeros(0, dtype=np.int64)]
        )

    def bucket_pairs(self, mask: int) -> tuple[np.ndarray, np.ndarray]:
        """Bucket numbers (a, b) with key_b = key_a ^ mask, each unordered pair once."""
        if mask == 0:
            a = np.flatnonzero(self.counts > 1)
            return a, a
        targets = self.buckets ^ mask
        a = np.flatnonzero(targets > self.buckets)
        b = self.lookup[targets[a]]
        hit = b >= 0
        return a[hit], b[hit].astype(np.int64)

    def expand(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _cross(self.order, self.starts, self.counts, a, b)


def _cross(
    order: np.ndarray, starts: np.ndarray, counts: np.ndarray, a: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Every (row of group a, row of group b) for each group pair; a group paired with itself
    gives each pair of its rows once. Group g's rows: order[starts[g] : starts[g] + counts[g]]."""
    ca, cb = counts[a], counts[b]
    sizes = ca * cb
    pair = np.repeat(np.arange(len(a)), sizes)
    k = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    i = order[starts[a][pair] + k // cb[pair]]
    j = order[starts[b][pair] + k % cb[pair]]
    keep = (a[pair] != b[pair]) | (i < j)
    return i[keep], j[keep]


class HammingIndex:
    """All codes within a Hamming radius, for one code (`search`) or every pair (`pairs`)."""

    def __init__(self, codes: np.ndarray) -> None:
        self.codes = np.ascontiguousarray(codes, dtype=np.uint64)
        widths = _widths(len(self.codes))
        shifts = np.cumsum([0, *widths[:-1]])
        self.tables = [_Table(self.codes, int(s), w) for s, w in zip(shifts, widths, strict=True)]

    def __len__(self) -> int:
        return len(self.codes)

    def search(self, code: int, radius: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows within `radius` bits of `code` and their distances, closest first."""
        code64 = np.array([code], dtype=np.uint64)
        found = []
        for table in self.tables:
            keys = table.key(code64)[0] ^ _masks(table.width, radius // len(self.tables))
            buckets = table.lookup[keys]
            found.append(table.rows(buckets[buckets >= 0]))
        rows = np.unique(np.concatenate(found))
        distances = np.bitwise_count(self.codes[rows] ^ np.uint64(code)).astype(np.int64)
        keep = distances <= radius
        rows, distances = rows[keep], distances[keep]
        order = np.lexsort((rows, distances))
        return rows[order], distances[order]

    def pairs(self, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every pair of rows (i < j) within `radius` bits: arrays i, j, distance.

        Equal codes (exact copies, common in a catalogue) are searched once: the search runs
        over the distinct codes, and each pair found stands for every pair of their rows.
        """
        distinct, inverse, counts = np.unique(self.codes, return_inverse=True, return_counts=True)
        a, b = _distinct_pairs(distinct, radius)
        same = np.flatnonzero(counts > 1)
        order = np.argsort(inverse, kind="stable")
        starts = np.cumsum(counts) - counts
        i, j = _cross(order, starts, counts, np.concatenate([a, same]), np.concatenate([b, same]))
        i, j = np.minimum(i, j), np.maximum(i, j)
        return i, j, np.bitwise_count(self.codes[i] ^ self.codes[j]).astype(np.int64)


def _distinct_pairs(codes: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of rows of distinct codes within `radius`; each is found by the first chunk in
    which it lies within radius // m."""
    if len(codes) < BRUTE_BELOW:
        i, j, _ = brute_pairs(codes, radius)
        return i, j
    tables = HammingIndex(codes).tables
    chunk_radius = radius // len(tables)
    out_i, out_j = [], []
    for c, table in enumerate(tables):
        for mask in _masks(table.width, chunk_radius):
            i, j = table.expand(*table.bucket_pairs(int(mask)))
            near = np.bitwise_count(codes[i] ^ codes[j]) <= radius
            i, j = i[near], j[near]
            for earlier in tables[:c]:  # found already by an earlier chunk?
                seen = np.bitwise_count(earlier.keys[i] ^ earlier.keys[j]) <= chunk_radius
                i, j = i[~seen], j[~seen]
            out_i.append(i)
            out_j.append(j)
    return np.concatenate(out_i), np.concatenate(out_j)


def brute_pairs(
    codes: np.ndarray, radius: int, rows: int | None = None, tile: int = 1024
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (i < j) within `radius` bits by XOR + popcount over every pair: the baseline.

    With `rows`, only pairs whose i is below `rows` (to time a slice of a large set).
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
            keep = j > i
            out_i.append(i[keep])
            out_j.append(j[keep])
    i = np.concatenate(out_i) if out_i else np.zeros(0, dtype=np.int64)
    j = np.concatenate(out_j) if out_j else np.zeros(0, dtype=np.int64)
    return i, j, np.bitwise_count(codes[i] ^ codes[j]).astype(np.int64)
