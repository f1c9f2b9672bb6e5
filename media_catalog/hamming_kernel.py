"""The compiled inner loop of `hamming.pairs_within` (numba; imported only when needed, as
compiling or loading it costs about half a second)."""

import numba
import numpy as np

_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_ONES = np.uint64(0x0101010101010101)
_CHUNK_MASK = np.uint64(0xFFFF)


@numba.njit(inline="always")
def _popcount(x):  # pragma: no cover - compiled; LLVM turns it into one popcnt instruction
    x = x - ((x >> np.uint64(1)) & _M1)
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    return np.int64((x * _ONES) >> np.uint64(56))


@numba.njit(nogil=True, cache=True)
def scan_buckets(
    codes, confirm, owner, flagged, starts, first_flagged, masks, chunk, radii, radius, cap,
    low, high, out_i, out_j,
):  # fmt: skip
    """For bucket keys low..high-1 of one chunk's table (rows sorted by key, unflagged first),
    write the row pairs of buckets whose keys differ by a mask in `masks` that pass
    `pairs_within`'s tests and no earlier chunk finds; return how many (more than fit in
    out_i/out_j means: call again with room for that many)."""
    found = 0
    for key in range(low, high):
        a0, a1 = starts[key], starts[key + 1]
        if a0 == a1:
            continue
        for m in range(len(masks)):
            other = key ^ masks[m]
            if other < key:
                continue
            b0, b1, b_flagged = starts[other], starts[other + 1], first_flagged[other]
            for x in range(a0, a1):
                code, check, who = codes[x], confirm[x], owner[x]
                end = b_flagged if flagged[x] else b1
                for y in range(x + 1 if other == key else b0, end):
                    bits = code ^ codes[y]
                    if _popcount(bits) > radius or _popcount(check ^ confirm[y]) > cap:
                        continue
                    if owner[y] == who:
                        continue
                    earlier = False
                    for c in range(chunk):
                        shift = np.uint64(16 * c)
                        if _popcount((bits >> shift) & _CHUNK_MASK) <= radii[c]:
                            earlier = True
                    if earlier:
                        continue
                    if found < len(out_i):
                        out_i[found] = x
                        out_j[found] = y
                    found += 1
    return found
