"""ScanNet's mesh over-segmentation (the superpoints of ``*.0.010000.segs.json``).

A re-implementation, from its description, of the graph segmentation in ScanNet's public
``Segmentator`` tool (Felzenszwalb & Huttenlocher 2004 over the mesh edges, with weights from
vertex-normal differences), step for step and in float32 throughout, so that its output agrees
with the ``segs.json`` files ScanNet ships. See :func:`segment_mesh` for the steps and for how
ties are broken.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from dknet.errors import InvalidPointCloudError
from dknet.segmentation._graph import check_coords, check_parameters, segment_graph

__all__ = [
    "K_THRESHOLD",
    "MIN_VERTICES",
    "compact_segments",
    "directed_edge_weights",
    "mesh_edges",
    "segment_mesh",
]

logger = logging.getLogger(__name__)

#: ScanNet's ``kThresh``: the ``k`` of the Felzenszwalb threshold ``w + k / size``.
K_THRESHOLD = 0.01
#: ScanNet's ``segMinVerts``: segments with fewer vertices are merged into a neighbour.
MIN_VERTICES = 20


def _check_faces(values: Any, num_vertices: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise InvalidPointCloudError(f"faces must have shape (F, 3), got {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise InvalidPointCloudError(
            f"faces must hold integer vertex indices, got dtype {arr.dtype}"
        )
    if arr.shape[0] == 0:
        raise InvalidPointCloudError(
            "mesh has no faces, so there are no edges to segment over",
            hint="segment a bare point cloud with segment_points (a k-nearest-neighbour graph)",
        )
    bad = (arr < 0) | (arr >= num_vertices)
    if bad.any():
        face, corner = (int(i) for i in np.argwhere(bad)[0])
        raise InvalidPointCloudError(
            f"faces: {int(bad.any(axis=1).sum())} faces index a missing vertex (first: face "
            f"{face} uses vertex {int(arr[face, corner])}; valid indices are "
            f"0..{num_vertices - 1})"
        )
    return np.ascontiguousarray(arr, dtype=np.int64)


def mesh_edges(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ScanNet's directed edge list: three per face, duplicates kept.

    Face ``f = (v0, v1, v2)`` gives edges ``3f, 3f+1, 3f+2`` = ``(v0, v1), (v0, v2), (v2, v1)``.
    An interior mesh edge therefore appears twice (usually once in each direction).

    Args:
        faces: (F, 3) integer vertex indices.

    Returns:
        edge_a, edge_b: (3F,) int64 start and end vertex of each edge.
    """
    faces = np.asarray(faces, dtype=np.int64)
    return faces[:, [0, 0, 2]].ravel(), faces[:, [1, 2, 1]].ravel()


def directed_edge_weights(
    coords: np.ndarray, normals: np.ndarray, edge_a: np.ndarray, edge_b: np.ndarray
) -> np.ndarray:
    """ScanNet's weight of each directed edge a -> b, in float32.

    ``w = 1 - n_a . n_b``, squared when ``n_b . unit(p_b - p_a) > 0`` (the surface folds
    convexly there, which the tool penalises much less than a concave fold). The two copies of an
    edge can therefore differ. Every operation is float32 in the tool's order (dot products
    summed x, y, z; no fused multiply-add). A zero-length edge has a NaN direction and is never
    squared; a NaN normal gives a NaN weight. Runs as a Numba kernel (one pass, no temporaries).

    Args:
        coords: (N, 3) float vertex positions (computed in float32).
        normals: (N, 3) float vertex normals (float32).
        edge_a, edge_b: (E,) integer edge ends in [0, N) (not checked).

    Returns:
        (E,) float32 weights.
    """
    from dknet.segmentation._numba import edge_weights

    return edge_weights(
        np.ascontiguousarray(coords, dtype=np.float32),
        np.ascontiguousarray(normals, dtype=np.float32),
        np.ascontiguousarray(edge_a, dtype=np.int64),
        np.ascontiguousarray(edge_b, dtype=np.int64),
        True,
    )


def segment_mesh(
    vertices: Any,
    faces: Any,
    *,
    k_threshold: float = K_THRESHOLD,
    min_vertices: int = MIN_VERTICES,
) -> np.ndarray:
    """Over-segment a triangle mesh as ScanNet's ``Segmentator`` tool does.

    Steps, all in float32:

    1. Face normal = ``cross(p2 - p1, p3 - p1)`` divided by its length (unit, not area
       weighted). Vertex normal = running mean of its faces' normals in face order,
       ``n = f / (k + 1) + n * (1 - 1 / (k + 1))``, not re-normalised.
    2. Three directed edges per face, ``(v0, v1), (v0, v2), (v2, v1)``, duplicates kept
       (:func:`mesh_edges`), weighted by :func:`directed_edge_weights`.
    3. Edges sorted by ascending weight, then the Felzenszwalb pass: every vertex starts alone
       with threshold ``k``; an edge joins its ends' segments when they differ and its weight is
       <= both thresholds; the merged segment's threshold becomes ``w + k / size``.
    4. A second pass over the same sorted edges joins any two different segments of which
       either has fewer than ``min_vertices`` vertices.
    5. Each vertex gets the union-find root (a vertex index) of its segment.

    Ties and other choices that can change the result:

    - Union by rank; on equal rank the root of the edge's *second* vertex becomes the root, as
      in the C++ tool. Path compression never changes which vertex is a root.
    - Edge order: the tool sorts with ``std::sort``, which is not stable, so equal weights come
      out in an order only its implementation defines. Here they keep their edge-list order (a
      stable sort; +0.0 equals -0.0). Every interior edge appears twice, often with equal
      weights, and flat regions tie at one weight, so ties are common. Within one weight the
      first pass reaches the same partition in any order; ties change which vertex becomes the
      root (the raw ids: a g++ build of the tool gives the same ids for about 90 % of the
      vertices of synthetic rooms). In the small-segment pass they can also change the
      partition, when a segment below ``min_vertices`` touches two others through equally
      weighted edges (partitions were identical on every mesh compared; see
      ``benchmarks/RESULTS.md``).
    - Zero-area faces: a NaN face normal makes its vertices' normals, and every weight touching
      them, NaN, as in the tool. NaN edges never pass the threshold test, sort last here and
      so only act in the small-segment pass. ``std::sort`` has no defined order for NaN (all
      comparisons are false), which also disturbs the order of the other edges, so on meshes
      with zero-area faces the tool's output is arbitrary near them and can differ from this
      one more widely.
    - Vertices on no face stay singleton segments (their id is their own index).

    The output is deterministic and independent of thread count (the passes are serial).

    Args:
        vertices: (N, 3) float coordinates (converted to float32), finite, N >= 1.
        faces: (F, 3) integer vertex indices into ``vertices``, F >= 1 (triangles only).
        k_threshold: ``k`` of the threshold ``w + k / size``; larger gives larger segments.
            ScanNet's files use 0.01.
        min_vertices: segments with fewer vertices are merged into a neighbour (ScanNet: 20).

    Returns:
        (N,) int64 segment id per vertex: the vertex index of its segment's union-find root, as
        in ScanNet's ``segIndices`` (not consecutive; see :func:`compact_segments`).

    Raises:
        InvalidPointCloudError: vertices are not (N, 3), empty or non-finite; faces are not
            (F, 3) integers, empty, or index a missing vertex.
        ConfigError: ``k_threshold`` < 0 or not finite, or ``min_vertices`` < 0.
    """
    coords = check_coords(vertices, "mesh vertices")
    face_idx = _check_faces(faces, coords.shape[0])
    k = check_parameters(k_threshold, min_vertices)

    from dknet.segmentation._numba import mesh_vertex_normals

    normals, degenerate = mesh_vertex_normals(coords, face_idx)
    if degenerate:
        logger.info(
            "%d of %d faces have zero area; their vertices get NaN normals and join segments "
            "only in the small-segment pass, as in ScanNet's tool",
            degenerate,
            face_idx.shape[0],
        )
    edge_a, edge_b = mesh_edges(face_idx)
    weights = directed_edge_weights(coords, normals, edge_a, edge_b)
    return segment_graph(coords.shape[0], edge_a, edge_b, weights, k, min_vertices)


def compact_segments(seg_indices: Any) -> np.ndarray:
    """Renumber segment ids (e.g. ScanNet's raw root vertex ids) to 0..K-1.

    Segments are numbered in ascending order of their original id, so the result does not
    depend on point order beyond the ids themselves.

    Args:
        seg_indices: (N,) integer segment id per point (any values, e.g. ``segIndices``).

    Returns:
        (N,) int64 ids in 0..K-1, K = number of distinct input ids.

    Raises:
        InvalidPointCloudError: ``seg_indices`` is not a 1-D integer array.
    """
    arr = np.asarray(seg_indices)
    if arr.ndim != 1 or (arr.dtype.kind not in "iu" and arr.size):
        raise InvalidPointCloudError(
            f"segment ids must be a 1-D integer array, got shape {arr.shape} dtype {arr.dtype}"
        )
    _, inverse = np.unique(arr, return_inverse=True)
    return inverse.astype(np.int64).reshape(-1)
