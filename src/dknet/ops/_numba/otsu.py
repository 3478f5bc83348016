"""Numba kernel of ``dknet.ops.otsu_thresholds`` (seed eq. S6, Otsu over K bins per row).

Rows are independent and processed in parallel; each row's histogram is private and made of
exact integer counts, so the result never depends on the thread count.
"""

from __future__ import annotations

import numba
import numpy as np

from dknet.ops._numba._jit import dynamic_schedule, jit

__all__ = ["otsu_thresholds"]

_LANES = 8
_BLOCK = 512


@jit()
def _histogram(row: np.ndarray, num_bins: int, hist: np.ndarray, block: np.ndarray) -> None:
    """Exact bin counts of one row into ``hist[:num_bins]``.

    Args:
        row: (N,) float32 values.
        num_bins: K.
        hist: (LANES * K,) int64 scratch; on return its first K entries hold the counts.
        block: (BLOCK,) uint32 scratch for the bins of one block of values.

    The bins of a block are computed branch-free (the compiler vectorises it):
    ``q = min(max(m, 0) * K, K - 1)`` in float32 (NaN and negatives fail ``m > 0`` and become
    0; values above 1 and +inf clamp to the last bin), then truncated, which is the floor for
    non-negative q. This equals ``min(floor(clamp(m, 0, 1) * K), K - 1)`` exactly. The counts
    then go to LANES interleaved sub-histograms, so repeated bins (soft masks are mostly 0)
    do not serialise on one counter.
    """
    n = row.shape[0]
    bins_f32 = np.float32(num_bins)
    last = np.float32(num_bins - 1)
    stride = np.uint64(num_bins)
    hist[:] = 0
    for start in range(0, n, _BLOCK):
        size = min(_BLOCK, n - start)
        for i in range(size):
            value = row[start + i]
            value = value if value > 0 else np.float32(0.0)
            q = value * bins_f32
            q = min(last, q)
            block[i] = np.uint32(q)
        j = 0
        while j + _LANES <= size:
            for lane in range(_LANES):
                hist[np.uint64(lane) * stride + np.uint64(block[j + lane])] += 1
            j += _LANES
        while j < size:
            hist[np.uint64(block[j])] += 1
            j += 1
    for k in range(num_bins):
        total = 0
        for lane in range(_LANES):
            total += hist[lane * num_bins + k]
        hist[k] = total


@jit()
def _row_threshold(
    row: np.ndarray, num_bins: int, hist: np.ndarray, block: np.ndarray
) -> np.float32:
    """Otsu threshold of one row; ``hist`` and ``block`` are scratch (see ``_histogram``)."""
    n = row.shape[0]
    _histogram(row, num_bins, hist, block)
    total_weighted = 0
    for k in range(num_bins):
        total_weighted += k * hist[k]

    n_low = 0
    s_low = 0
    best_var = -1.0
    best_t = 0
    for t in range(1, num_bins):
        n_low += hist[t - 1]
        s_low += (t - 1) * hist[t - 1]
        n_high = n - n_low
        if n_low == 0 or n_high == 0:
            continue
        mu_low = np.float64(s_low) / np.float64(n_low)
        mu_high = np.float64(total_weighted - s_low) / np.float64(n_high)
        diff = mu_low - mu_high
        var = np.float64(n_low) * np.float64(n_high) * diff * diff
        if var > best_var:  # strict: the smallest t wins ties
            best_var = var
            best_t = t
    return np.float32(np.float64(best_t) / np.float64(num_bins))


@dynamic_schedule
@jit(parallel=True)
def otsu_thresholds(masks: np.ndarray, num_bins: int) -> np.ndarray:
    """Per-row Otsu thresholds (see ``dknet.ops.otsu_thresholds``).

    Args:
        masks: (I, N) float32 soft masks, C-contiguous.
        num_bins: number of bins K (>= 2).

    Returns:
        (I,) float32 thresholds ``t* / K``, 0.0 where no split exists.
    """
    num_rows = masks.shape[0]
    out = np.zeros(num_rows, dtype=np.float32)
    for r in numba.prange(num_rows):
        hist = np.empty(_LANES * num_bins, dtype=np.int64)
        block = np.empty(_BLOCK, dtype=np.uint32)
        out[r] = _row_threshold(masks[r], num_bins, hist, block)
    return out
