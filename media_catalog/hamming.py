"""Hamming search over 64-bit codes: multi-index hashing (Norouzi, Punjani & Fleet, 2012).

A code is cut into CHUNKS = 4 chunks of 16 bits. If two codes differ in at most r bits, one of
their chunks differs in at most r // 4 bits (pigeonhole). So every near pair is found by
looking, chunk by chunk, in the buckets whose 16-bit key lies within r // 4 bits of the
code's key, and checking those candidates' full distance. For r = 10 that is 137 buckets per
chunk of ~N/65536 codes each, instead of all N codes: benchmarks/similarity.py measures it
against brute force (XOR + popcount over every pair) on clustered, photo-like hashes.

Pure numpy; an index of N codes takes 4 sorted copies of the row numbers (4 x 4 bytes x N)
and 4 bucket-offset tables of 65,537 entries.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

CHUNKS = 4
CHUNK_BITS = 16
_BLOCK = 1 << 18  # query rows expanded at once: bounds the memory of the candidate arrays


def _masks(radius: int) -> np.ndarray:
    """Every 16-bit mask with at most `radius` bits set (0 first)."""
    masks = [0]
    for r in range(1, min(radius, CHUNK_BITS) + 1):
        masks += [sum(1 << b for b in bits) for bits in combinations(range(CHUNK_BITS), r)]
    return np.array(masks, dtype=np.int64)


def hex_codes(hexes: list[str]) -> np.ndarray:
    """64-bit hex hashes as a numpy uint64 array."""
    return np.array([int(h, 16) for h in hexes], dtype=np.uint64)


class HammingIndex:
    """All codes within a Hamming radius, for one code (`search`) or every pair (`pairs`)."""

    def __init__(self, codes: np.ndarray) -> None:
        self.codes = np.ascontiguousarray(codes, dtype=np.uint64)
        self.keys = [self._key(self.codes, c) for c in range(CHUNKS)]
        self.order = [np.argsort(k, kind="stable").astype(np.int32) for k in self.keys]
        self.offsets = [
            np.concatenate(([0], np.cumsum(np.bincount(k, minlength=1 << CHUNK_BITS))))
            for k in self.keys
        ]

    @staticmethod
    def _key(codes: np.ndarray, chunk: int) -> np.ndarray:
        return ((codes >> np.uint64(chunk * CHUNK_BITS)) & np.uint64(0xFFFF)).astype(np.int64)

    def __len__(self) -> int:
        return len(self.codes)

    def search(self, code: int, radius: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows within `radius` bits of `code` and their distances, closest first."""
        code64 = np.array([code], dtype=np.uint64)
        masks = _masks(radius // CHUNKS)
        found = []
        for c in range(CHUNKS):
            buckets = self._key(code64, c)[0] ^ masks
            lo, hi = self.offsets[c][buckets], self.offsets[c][buckets + 1]
            found += [self.order[c][a:b] for a, b in zip(lo, hi, strict=True) if b > a]
        rows = np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int32)
        distances = np.bitwise_count(self.codes[rows] ^ np.uint64(code)).astype(np.int64)
        keep = distances <= radius
        rows, distances = rows[keep], distances[keep]
        order = np.lexsort((rows, distances))
        return rows[order], distances[order]

    def pairs(self, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every pair of rows (i < j) within `radius` bits: arrays i, j, distance.

        Each pair is reported once: by the first chunk in which it lies within radius // 4.
        """
        chunk_radius = radius // CHUNKS
        masks = _masks(chunk_radius)
        out_i, out_j = [], []
        for c in range(CHUNKS):
            keys, order, offsets = self.keys[c], self.order[c], self.offsets[c]
            for mask in masks:
                # each unordered pair of buckets once: from the lower key (the same bucket: i < j)
                targets = keys ^ mask
                queries = np.flatnonzero(targets >= keys)
                for start in range(0, len(queries), _BLOCK):
                    q = queries[start : start + _BLOCK]
                    i, j = self._candidates(q, targets[q], order, offsets)
                    if mask == 0:
                        keep = i < j
                        i, j = i[keep], j[keep]
                    near = np.bitwise_count(self.codes[i] ^ self.codes[j]) <= radius
                    i, j = i[near], j[near]
                    for earlier in range(c):  # found already by an earlier chunk?
                        chunk_distance = np.bitwise_count(
                            (self.keys[earlier][i] ^ self.keys[earlier][j]).astype(np.uint64)
                        )
                        keep = chunk_distance > chunk_radius
                        i, j = i[keep], j[keep]
                    out_i.append(np.minimum(i, j))
                    out_j.append(np.maximum(i, j))
        i = np.concatenate(out_i) if out_i else np.zeros(0, dtype=np.int64)
        j = np.concatenate(out_j) if out_j else np.zeros(0, dtype=np.int64)
        distance = np.bitwise_count(self.codes[i] ^ self.codes[j]).astype(np.int64)
        return i, j, distance

    @staticmethod
    def _candidates(
        queries: np.ndarray, targets: np.ndarray, order: np.ndarray, offsets: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(query row, candidate row) for every code in each query's target bucket."""
        lo = offsets[targets]
        counts = offsets[targets + 1] - lo
        total = int(counts.sum())
        i = np.repeat(queries, counts)
        # position of each candidate inside its bucket: 0..count-1, run by run
        starts = np.repeat(np.cumsum(counts) - counts, counts)
        j = order[np.repeat(lo, counts) + (np.arange(total) - starts)]
        return i, j.astype(np.int64)


def brute_pairs(
    codes: np.ndarray, radius: int, rows: int | None = None, tile: int = 4096
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (i < j) within `radius` bits by XOR + popcount over every pair: the baseline.

    With `rows`, only pairs whose i is below `rows` (to time a slice of a large set).
    """
    codes = np.ascontiguousarray(codes, dtype=np.uint64)
    out_i, out_j = [], []
    for a in range(0, len(codes) if rows is None else rows, tile):
        left = codes[a : a + tile]
        for b in range(a, len(codes), tile):
            d = np.bitwise_count(left[:, None] ^ codes[None, b : b + tile])
            i, j = np.nonzero(d <= radius)
            i, j = i + a, j + b
            keep = j > i
            out_i.append(i[keep])
            out_j.append(j[keep])
    i = np.concatenate(out_i) if out_i else np.zeros(0, dtype=np.int64)
    j = np.concatenate(out_j) if out_j else np.zeros(0, dtype=np.int64)
    return i, j, np.bitwise_count(codes[i] ^ codes[j]).astype(np.int64)
