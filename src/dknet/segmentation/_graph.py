"""Shared steps of the mesh and point-cloud segmentations: validation, edge order, the pass."""

from __future__ import annotations

from typing import Any

import numpy as np

from dknet.errors import ConfigError, InvalidPointCloudError

_SIGN = np.uint32(0x80000000)
_LOW32 = np.uint64(0xFFFFFFFF)


def check_coords(values: Any, what: str) -> np.ndarray:
    """``values`` as a C-contiguous (N, 3) float32 array with N >= 1 and finite entries.

    Raises:
        InvalidPointCloudError: wrong shape or dtype, no points, or non-finite coordinates.
    """
    arr = np.asarray(values)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise InvalidPointCloudError(f"{what} must have shape (N, 3), got {arr.shape}")
    if arr.dtype.kind not in "fiu":
        raise InvalidPointCloudError(f"{what} must be numeric, got dtype {arr.dtype}")
    if arr.shape[0] == 0:
        raise InvalidPointCloudError(f"{what} is empty (0 points); nothing to segment")
    if arr.shape[0] >= 2**31:
        raise InvalidPointCloudError(
            f"{what} has {arr.shape[0]} points; at most 2**31 - 1 are supported"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        coords = np.ascontiguousarray(arr, dtype=np.float32)
    finite = np.isfinite(coords).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise InvalidPointCloudError(
            f"{what}: {bad.size} of {coords.shape[0]} points have non-finite coordinates in "
            f"float32 (first: point {int(bad[0])})",
            hint="drop them first (read_ply(..., drop_non_finite=True) does)",
        )
    return coords


def check_parameters(k_threshold: float, min_vertices: int) -> np.float32:
    """Validate the segmentation parameters; return ``k_threshold`` as float32.

    Raises:
        ConfigError: ``k_threshold`` is negative or not finite, or ``min_vertices`` < 0.
    """
    k = np.float32(k_threshold)
    if not np.isfinite(k) or k < 0:
        raise ConfigError(f"k_threshold must be a finite number >= 0, got {k_threshold!r}")
    if isinstance(min_vertices, bool) or not isinstance(min_vertices, (int, np.integer)):
        raise ConfigError(f"min_vertices must be an integer, got {min_vertices!r}")
    if min_vertices < 0:
        raise ConfigError(f"min_vertices must be >= 0, got {min_vertices}")
    return k


def sort_keys(weights: np.ndarray) -> np.ndarray:
    """Sorted 64-bit keys giving the stable ascending order of float32 edge weights.

    Key of edge ``e`` = an order-preserving 32-bit image of its weight (high half) above ``e``
    (low half). The keys are unique, so one fast unstable sort gives the stable order: equal
    weights keep their edge-list order. +0.0 and -0.0 get one key (they compare equal); every
    NaN becomes one positive quiet NaN, whose key is above +inf, so NaN weights come last, in
    edge-list order. About three times faster than ``np.argsort(kind="stable")``.

    Args:
        weights: (E,) float32, E < 2**32.

    Returns:
        (E,) uint64 keys, ascending.
    """
    w = weights + np.float32(0.0)  # -0.0 + 0.0 == +0.0
    nan = np.isnan(w)
    if nan.any():
        w[nan] = np.float32(np.nan)
    bits = w.view(np.uint32)
    # Flip every bit of a negative float, only the sign bit of a positive one: the unsigned
    # integers then order like the floats. (int32 >> 31 is 0 or -1, i.e. 0 or 0xFFFFFFFF.)
    flip = (bits.view(np.int32) >> 31).view(np.uint32) | _SIGN
    keys = (bits ^ flip).astype(np.uint64) << np.uint64(32)
    keys |= np.arange(w.shape[0], dtype=np.uint64)
    keys.sort()
    return keys


def ascending_order(weights: np.ndarray) -> np.ndarray:
    """(E,) int64 edge indices in the order of :func:`sort_keys` (stable, NaN last)."""
    return (sort_keys(weights) & _LOW32).astype(np.int64)


def segment_graph(
    num_vertices: int,
    edge_a: np.ndarray,
    edge_b: np.ndarray,
    weights: np.ndarray,
    k_threshold: np.float32,
    min_vertices: int,
) -> np.ndarray:
    """Sort the edges and run the Numba union-find passes; (N,) int64 root vertex ids."""
    from dknet.segmentation._numba import felzenszwalb

    if weights.shape[0] >= 2**32:
        raise InvalidPointCloudError(
            f"graph has {weights.shape[0]} edges; at most 2**32 - 1 are supported"
        )
    ends = (np.asarray(edge_a, dtype=np.int64) << 32) | np.asarray(edge_b, dtype=np.int64)
    return felzenszwalb(
        num_vertices, ends, sort_keys(weights), np.float32(k_threshold), int(min_vertices)
    )
