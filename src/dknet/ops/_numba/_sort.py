"""Stable least-significant-digit radix sort shared by the Numba kernels.

Voxel keys, heat orders and neighbour lists are all small non-negative integers (or float bits
mapped to order-preserving integers), so a radix sort beats a comparison sort by a wide margin
and is stable by construction, which is exactly the tie rule the ops contract asks for
("ties: smaller index first").
"""

from __future__ import annotations

import numpy as np

from dknet.ops._numba._jit import jit

__all__ = ["RADIX_COUNTS", "sort_pairs"]

RADIX_COUNTS = 2048
"""Length of the digit-count scratch array :func:`sort_pairs` needs (11-bit digits)."""

_INSERTION_MAX = 32


@jit()
def sort_pairs(
    keys: np.ndarray,
    vals: np.ndarray,
    n: int,
    keys_tmp: np.ndarray,
    vals_tmp: np.ndarray,
    counts: np.ndarray,
) -> None:
    """Sort ``keys[:n]`` ascending in place, stably, moving ``vals[:n]`` along.

    Args:
        keys: (>= n,) uint64 keys; the first ``n`` are sorted.
        vals: (>= n,) int64 payload permuted with the keys.
        n: number of entries to sort.
        keys_tmp: (>= n,) uint64 scratch.
        vals_tmp: (>= n,) int64 scratch.
        counts: (>= RADIX_COUNTS,) int64 scratch for digit counts.
    """
    if n <= 1:
        return
    if n <= _INSERTION_MAX:
        for i in range(1, n):
            k = keys[i]
            v = vals[i]
            j = i - 1
            while j >= 0 and keys[j] > k:
                keys[j + 1] = keys[j]
                vals[j + 1] = vals[j]
                j -= 1
            keys[j + 1] = k
            vals[j + 1] = v
        return
    max_key = keys[0]
    for i in range(1, n):
        max_key = max(max_key, keys[i])
    # Small inputs use 8-bit digits so clearing the count table does not dominate.
    digit_bits = 8 if n < 4096 else 11
    radix = 1 << digit_bits
    mask = np.uint64(radix - 1)
    src_k = keys
    src_v = vals
    dst_k = keys_tmp
    dst_v = vals_tmp
    in_tmp = False
    shift = 0
    while shift < 64 and (max_key >> np.uint64(shift)) != 0:
        ushift = np.uint64(shift)
        shift += digit_bits
        for d in range(radix):
            counts[d] = 0
        for i in range(n):
            counts[np.intp((src_k[i] >> ushift) & mask)] += 1
        if counts[np.intp((src_k[0] >> ushift) & mask)] == n:
            continue  # every key has the same digit here: the pass would be the identity
        total = 0
        for d in range(radix):
            c = counts[d]
            counts[d] = total
            total += c
        for i in range(n):
            d = np.intp((src_k[i] >> ushift) & mask)
            pos = counts[d]
            counts[d] = pos + 1
            dst_k[pos] = src_k[i]
            dst_v[pos] = src_v[i]
        src_k, dst_k = dst_k, src_k
        src_v, dst_v = dst_v, src_v
        in_tmp = not in_tmp
    if in_tmp:
        for i in range(n):
            keys[i] = keys_tmp[i]
            vals[i] = vals_tmp[i]
