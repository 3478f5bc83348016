"""The superpoint segmentation for point clouds without faces: a k-nearest-neighbour graph.

The same Felzenszwalb passes as :func:`dknet.segmentation.segment_mesh`, over edges from each
point to its nearest neighbours instead of mesh edges, with normals estimated by PCA when the
cloud carries none.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dknet.errors import ConfigError, InvalidPointCloudError
from dknet.segmentation._graph import check_coords, check_parameters, segment_graph
from dknet.segmentation.mesh import K_THRESHOLD, MIN_VERTICES, directed_edge_weights

__all__ = ["K_NEIGHBORS", "NORMAL_NEIGHBORS", "estimate_normals", "knn_graph", "segment_points"]

#: Default graph degree: a point's edges go to this many nearest neighbours (a mesh vertex
#: has about six; two more keep unevenly sampled clouds connected).
K_NEIGHBORS = 8
#: Default neighbourhood (the point included) of the PCA normal estimate: about a mesh
#: vertex's one-ring, so the normals are as noisy as a mesh's face-averaged ones. On synthetic
#: rooms (``dknet synth``) the defaults give 0.75-0.8 times as many segments as
#: :func:`segment_mesh` on the same vertices; 16 neighbours gave a third as many.
NORMAL_NEIGHBORS = 8


def _check_count(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _neighbours(coords: np.ndarray, k: int) -> np.ndarray:
    """(N, min(k, N - 1)) int64 nearest other points of each point, nearest first.

    Ties in distance follow ``scipy.spatial.cKDTree``. A point is never its own neighbour, even
    when duplicates share its position (the query asks for one extra neighbour and drops the
    point itself, or the farthest one if duplicates pushed the point out of the list).
    """
    from scipy.spatial import cKDTree

    n = coords.shape[0]
    k = min(k, n - 1)
    if k == 0:
        return np.zeros((n, 0), dtype=np.int64)
    _, idx = cKDTree(coords).query(coords, k=k + 1)
    idx = np.asarray(idx, dtype=np.int64)
    is_self = idx == np.arange(n)[:, None]
    is_self[~is_self.any(axis=1), -1] = True
    # A stable sort on the flag moves the dropped entry to the end and keeps the rest in order.
    keep = np.argsort(is_self, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(idx, keep, axis=1)


def knn_graph(coords: Any, *, k_neighbors: int = K_NEIGHBORS) -> tuple[np.ndarray, np.ndarray]:
    """Directed edges from every point to its ``k_neighbors`` nearest other points.

    Edge ``i * k + j`` goes from point ``i`` to its ``j``-th nearest neighbour (k =
    ``min(k_neighbors, N - 1)``); a mutual pair appears once in each direction, as an interior
    mesh edge does.

    Args:
        coords: (N, 3) float coordinates, finite.
        k_neighbors: neighbours per point, >= 1.

    Returns:
        edge_a, edge_b: (N * k,) int64 start and end point of each edge.

    Raises:
        InvalidPointCloudError: coords are not (N, 3), empty or non-finite.
        ConfigError: ``k_neighbors`` < 1.
    """
    points = check_coords(coords, "point coordinates")
    k = _check_count("k_neighbors", k_neighbors, 1)
    nbrs = _neighbours(points, k)
    edge_a = np.repeat(np.arange(points.shape[0], dtype=np.int64), nbrs.shape[1])
    return edge_a, nbrs.ravel()


def estimate_normals(coords: Any, *, neighbors: int = NORMAL_NEIGHBORS) -> np.ndarray:
    """Unit normals by PCA: the least-variance direction of each point's neighbourhood.

    The neighbourhood is the point and its ``neighbors - 1`` nearest other points; the
    covariance is computed in float64 about the neighbourhood mean, and the normal is the
    eigenvector of its smallest eigenvalue (``numpy.linalg.eigh``). The sign is arbitrary (PCA
    cannot orient a normal), so users of these normals must not rely on it.

    Args:
        coords: (N, 3) float coordinates, finite.
        neighbors: neighbourhood size including the point, >= 3 (capped at N).

    Returns:
        (N, 3) float32 unit normals (for fewer than 3 distinct points in a neighbourhood, some
        unit vector perpendicular to it).

    Raises:
        InvalidPointCloudError: coords are not (N, 3), empty or non-finite.
        ConfigError: ``neighbors`` < 3.
    """
    points = check_coords(coords, "point coordinates")
    k = _check_count("neighbors", neighbors, 3)
    return _pca_normals(points, _neighbours(points, k - 1))


def _pca_normals(points: np.ndarray, nbrs: np.ndarray) -> np.ndarray:
    hood = np.concatenate([points[:, None, :], points[nbrs]], axis=1).astype(np.float64)
    hood -= hood.mean(axis=1, keepdims=True)
    cov = np.einsum("nki,nkj->nij", hood, hood)
    _, vectors = np.linalg.eigh(cov)
    return np.ascontiguousarray(vectors[:, :, 0], dtype=np.float32)


def segment_points(
    coords: Any,
    *,
    normals: Any = None,
    k_neighbors: int = K_NEIGHBORS,
    normal_neighbors: int = NORMAL_NEIGHBORS,
    k_threshold: float = K_THRESHOLD,
    min_vertices: int = MIN_VERTICES,
) -> np.ndarray:
    """Over-segment a point cloud without faces (the k-nearest-neighbour variant).

    The graph has an edge from every point to each of its ``k_neighbors`` nearest other points
    (:func:`knn_graph`); the segmentation passes, edge order and tie rules are those of
    :func:`segment_mesh` (stable ascending sort, Felzenszwalb pass with threshold
    ``w + k / size``, then merging of segments below ``min_vertices``). Edge weights:

    - with ``normals`` given (e.g. a scan's ``nx ny nz``), they are taken as oriented and used
      as given, with the mesh's rule: ``1 - n_a . n_b``, squared across a convex fold;
    - without, normals are estimated by PCA (:func:`estimate_normals`). Their sign is
      arbitrary, so the weight is ``1 - |n_a . n_b|`` and there is no convexity test.

    Distances do not enter the weights (as on a mesh), so an isolated point is linked to its
    nearest points however far they are.

    Args:
        coords: (N, 3) float coordinates (converted to float32), finite, N >= 1.
        normals: optional (N, 3) float oriented normals, finite.
        k_neighbors: graph degree, >= 1 (capped at N - 1).
        normal_neighbors: PCA neighbourhood including the point, >= 3 (unused with ``normals``).
        k_threshold: ``k`` of the threshold ``w + k / size``.
        min_vertices: segments with fewer points are merged into a neighbour.

    Returns:
        (N,) int64 segment id per point: the index of its segment's union-find root point.

    Raises:
        InvalidPointCloudError: coords or normals are not (N, 3), empty or non-finite.
        ConfigError: a count or threshold is out of range.
    """
    points = check_coords(coords, "point coordinates")
    k = check_parameters(k_threshold, min_vertices)
    _check_count("k_neighbors", k_neighbors, 1)
    if normals is None:
        _check_count("normal_neighbors", normal_neighbors, 3)
    else:
        given = check_coords(normals, "normals")
        if given.shape != points.shape:
            raise InvalidPointCloudError(
                f"normals have shape {given.shape} but coords have {points.shape}"
            )
    n = points.shape[0]
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    # One neighbour query serves both the graph and the PCA neighbourhoods.
    wanted = k_neighbors if normals is not None else max(k_neighbors, normal_neighbors - 1)
    nbrs = _neighbours(points, wanted)
    graph = nbrs[:, :k_neighbors]
    edge_a = np.repeat(np.arange(n, dtype=np.int64), graph.shape[1])
    edge_b = graph.ravel()
    if normals is None:
        from dknet.segmentation._numba import edge_weights

        estimated = _pca_normals(points, nbrs[:, : normal_neighbors - 1])
        weights = edge_weights(points, estimated, edge_a, edge_b, False)
    else:
        weights = directed_edge_weights(points, given, edge_a, edge_b)
    return segment_graph(n, edge_a, edge_b, weights, k, min_vertices)
