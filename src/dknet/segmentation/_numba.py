"""Numba kernels of the superpoint segmentation: vertex normals, edge weights, union-find.

Private: call :func:`dknet.segmentation.segment_mesh` or
:func:`dknet.segmentation.segment_points`. Importing this module imports Numba and compiles (or
loads from the on-disk cache) the kernels, so the public functions import it inside their
bodies, on first use only.

The compile options follow :mod:`dknet.ops._numba._jit` (``nogil``, ``error_model="numpy"``, no
``fastmath``: every float32 operation is rounded exactly as ScanNet's C++ rounds it, with no
re-association or fused multiply-adds). That helper lives under :mod:`dknet.ops`, whose package
imports torch, so this numpy-only package keeps its own copy of the rule for ``cache=True``:
only when Numba can write its cache (a read-only install with an unwritable home would
otherwise make the decoration, hence the import, fail).
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
from pathlib import Path

import numba
import numpy as np

__all__ = ["edge_weights", "felzenszwalb", "mesh_vertex_normals"]

logger = logging.getLogger(__name__)

_CACHE_DIR = Path(__file__).resolve().parent / "__pycache__"


@functools.cache
def _cache_enabled() -> bool:
    """Whether Numba can cache compiled kernels (``NUMBA_CACHE_DIR`` or ``__pycache__``)."""
    user_dir = os.environ.get("NUMBA_CACHE_DIR")
    target = Path(user_dir) if user_dir else _CACHE_DIR
    try:
        target.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=target).close()
    except OSError:
        logger.info("Numba kernel cache disabled: %s is not writable", target)
        return False
    return True


_jit = numba.njit(nogil=True, cache=_cache_enabled(), error_model="numpy")


@_jit
def mesh_vertex_normals(coords: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, int]:
    """Unit face normals, averaged into vertex normals in face order (not re-normalised).

    Face normal ``c = cross(p2 - p1, p3 - p1) / |c|`` (NaN for a zero-area face). For the k-th
    face (k = 0, 1, ...) touching vertex v: ``t = 1 / (k + 1)``, ``n_v = t * c + (1 - t) * n_v``.
    Every operation is float32, in the order written. The three corners of a face all use the
    counts from before the face (a face listing a vertex twice updates it twice with the same
    ``t``). Vertices on no face keep (0, 0, 0).

    Args:
        coords: (N, 3) float32 vertex positions.
        faces: (F, 3) int64 vertex indices, validated by the caller.

    Returns:
        (N, 3) float32 vertex normals, and the number of zero-area (NaN-normal) faces.
    """
    num_vertices = coords.shape[0]
    normals = np.zeros((num_vertices, 3), dtype=np.float32)
    counts = np.zeros(num_vertices, dtype=np.int64)
    one = np.float32(1.0)
    degenerate = 0
    for f in range(faces.shape[0]):
        i1, i2, i3 = faces[f, 0], faces[f, 1], faces[f, 2]
        ux = coords[i2, 0] - coords[i1, 0]
        uy = coords[i2, 1] - coords[i1, 1]
        uz = coords[i2, 2] - coords[i1, 2]
        vx = coords[i3, 0] - coords[i1, 0]
        vy = coords[i3, 1] - coords[i1, 1]
        vz = coords[i3, 2] - coords[i1, 2]
        cx = uy * vz - uz * vy
        cy = uz * vx - ux * vz
        cz = ux * vy - uy * vx
        length = np.sqrt(cx * cx + cy * cy + cz * cz)
        cx = cx / length
        cy = cy / length
        cz = cz / length
        if cx != cx:
            degenerate += 1
        for corner in range(3):
            v = faces[f, corner]
            t = one / (np.float32(counts[v]) + one)
            u = one - t
            normals[v, 0] = t * cx + u * normals[v, 0]
            normals[v, 1] = t * cy + u * normals[v, 1]
            normals[v, 2] = t * cz + u * normals[v, 2]
        for corner in range(3):
            counts[faces[f, corner]] += 1
    return normals, degenerate


@_jit
def edge_weights(
    coords: np.ndarray,
    normals: np.ndarray,
    edge_a: np.ndarray,
    edge_b: np.ndarray,
    oriented: bool,
) -> np.ndarray:
    """float32 weight of each directed edge a -> b (see ``directed_edge_weights``).

    ``oriented``: ``1 - n_a . n_b``, squared when ``n_b . unit(p_b - p_a) > 0``. Otherwise
    (normals of arbitrary sign): ``1 - |n_a . n_b|``, never squared.
    """
    num_edges = edge_a.shape[0]
    weights = np.empty(num_edges, dtype=np.float32)
    one = np.float32(1.0)
    for i in range(num_edges):
        a = edge_a[i]
        b = edge_b[i]
        dot = normals[a, 0] * normals[b, 0] + normals[a, 1] * normals[b, 1]
        dot = dot + normals[a, 2] * normals[b, 2]
        if not oriented:
            weights[i] = one - abs(dot)
            continue
        dx = coords[b, 0] - coords[a, 0]
        dy = coords[b, 1] - coords[a, 1]
        dz = coords[b, 2] - coords[a, 2]
        length = np.sqrt(dx * dx + dy * dy + dz * dz)
        dx = dx / length
        dy = dy / length
        dz = dz / length
        convex = normals[b, 0] * dx + normals[b, 1] * dy + normals[b, 2] * dz
        w = one - dot
        if convex > 0:
            w = w * w
        weights[i] = w
    return weights


@_jit
def _find(parent: np.ndarray, x: int) -> int:
    """Root of ``x``, halving the path on the way (roots are unaffected by compression)."""
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@_jit
def _join(parent: np.ndarray, rank: np.ndarray, size: np.ndarray, a: int, b: int) -> int:
    """Union of roots ``a`` and ``b`` by rank; on equal rank ``b`` stays the root. Returns it."""
    if rank[a] > rank[b]:
        parent[b] = a
        size[a] += size[b]
        return a
    parent[a] = b
    size[b] += size[a]
    if rank[a] == rank[b]:
        rank[b] += 1
    return b


@_jit
def felzenszwalb(
    num_vertices: int,
    ends: np.ndarray,
    keys: np.ndarray,
    k_threshold: np.float32,
    min_vertices: int,
) -> np.ndarray:
    """Felzenszwalb-Huttenlocher graph segmentation with ScanNet's small-segment pass.

    Args:
        num_vertices: N (< 2**31).
        ends: (E,) int64 edge ends packed as ``a << 32 | b``.
        keys: (E,) uint64 sort keys in ascending order, as built by ``_graph.sort_keys``: the
            order-preserving image of the float32 weight in the high 32 bits, the edge index in
            the low 32 bits.
        k_threshold: float32 ``k`` of the adaptive threshold ``w + k / size``.
        min_vertices: segments smaller than this are merged in the second pass.

    Returns:
        (N,) int64 union-find root vertex of each vertex.
    """
    num_edges = keys.shape[0]
    # Edges in sorted order, gathered once so that both passes read memory sequentially.
    sorted_a = np.empty(num_edges, dtype=np.int32)
    sorted_b = np.empty(num_edges, dtype=np.int32)
    weight_bits = np.empty(num_edges, dtype=np.uint32)
    for i in range(num_edges):
        key = keys[i]
        packed = ends[np.int64(key & np.uint64(0xFFFFFFFF))]
        sorted_a[i] = packed >> 32
        sorted_b[i] = packed & 0xFFFFFFFF
        high = np.uint32(key >> np.uint64(32))
        if high >= np.uint32(0x80000000):
            weight_bits[i] = high ^ np.uint32(0x80000000)
        else:
            weight_bits[i] = high ^ np.uint32(0xFFFFFFFF)
    sorted_w = weight_bits.view(np.float32)

    parent = np.arange(num_vertices).astype(np.int32)
    rank = np.zeros(num_vertices, dtype=np.int32)
    size = np.ones(num_vertices, dtype=np.int32)
    threshold = np.full(num_vertices, k_threshold, dtype=np.float32)
    for i in range(num_edges):
        w = sorted_w[i]
        a = _find(parent, sorted_a[i])
        b = _find(parent, sorted_b[i])
        if a != b and w <= threshold[a] and w <= threshold[b]:
            root = _join(parent, rank, size, a, b)
            threshold[root] = w + k_threshold / np.float32(size[root])
    for i in range(num_edges):
        a = _find(parent, sorted_a[i])
        b = _find(parent, sorted_b[i])
        if a != b and (size[a] < min_vertices or size[b] < min_vertices):
            _join(parent, rank, size, a, b)
    roots = np.empty(num_vertices, dtype=np.int64)
    for v in range(num_vertices):
        roots[v] = _find(parent, v)
    return roots
