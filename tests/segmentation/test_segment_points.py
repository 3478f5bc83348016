"""segment_points (the k-nearest-neighbour variant), its graph and its PCA normals."""

from __future__ import annotations

import numpy as np
import pytest

from dknet.errors import ConfigError, InvalidPointCloudError
from dknet.segmentation import estimate_normals, knn_graph, segment_points


def corner(spacing: float = 0.05, size: float = 1.0, seed: int = 0) -> tuple:
    """Points on a floor (z = 0, x > 0) and a wall (x = 0, z > 0), lightly jittered."""
    rng = np.random.default_rng(seed)
    u, v = np.meshgrid(np.arange(1, int(size / spacing)), np.arange(int(size / spacing)))
    u, v = u.ravel() * spacing, v.ravel() * spacing
    zeros = np.zeros_like(u)
    floor = np.stack([u, v, zeros], axis=1)
    wall = np.stack([zeros, v, u], axis=1)
    coords = np.concatenate([floor, wall]) + rng.normal(0, spacing * 0.02, (2 * u.size, 3))
    labels = np.repeat([0, 1], u.size)
    order = rng.permutation(coords.shape[0])
    return coords[order].astype(np.float32), labels[order]


def purity(seg: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of points whose segment's majority label is their own."""
    good = 0
    for s in np.unique(seg):
        good += np.bincount(labels[seg == s]).max()
    return good / seg.size


def test_corner_splits_into_floor_and_wall() -> None:
    coords, labels = corner()
    seg = segment_points(coords)
    assert seg.dtype == np.int64 and seg.shape == (coords.shape[0],)
    assert 2 <= np.unique(seg).size <= 4
    assert purity(seg, labels) > 0.97
    # Roots are point indices of their own segment.
    assert np.array_equal(seg[seg], seg)


def test_oriented_normals_use_the_mesh_rule() -> None:
    coords, labels = corner()
    normals = np.where(labels[:, None] == 0, [[0, 0, 1]], [[1, 0, 0]]).astype(np.float32)
    seg = segment_points(coords, normals=normals)
    assert np.unique(seg).size == 2
    assert purity(seg, labels) > 0.97


def test_deterministic_and_order_independent_partition() -> None:
    coords, _ = corner(seed=1)
    first = segment_points(coords)
    assert np.array_equal(first, segment_points(coords))
    perm = np.random.default_rng(2).permutation(coords.shape[0])
    shuffled = segment_points(coords[perm])
    # Same number of segments on a permuted cloud (ties in weight may move boundary points).
    assert abs(np.unique(shuffled).size - np.unique(first).size) <= 1


def test_tiny_clouds_and_duplicates() -> None:
    assert segment_points([[0.0, 0.0, 0.0]]).tolist() == [0]
    two = segment_points([[0, 0, 0], [1, 0, 0]])
    assert np.unique(two).size == 1
    dup = np.zeros((30, 3), np.float32)
    dup[15:] = 1.0
    seg = segment_points(dup, min_vertices=0)
    assert seg.shape == (30,)
    edge_a, edge_b = knn_graph(dup, k_neighbors=4)
    assert not np.any(edge_a == edge_b)  # a point is never its own neighbour


def test_knn_graph_layout() -> None:
    coords = np.array([[0, 0, 0], [1, 0, 0], [3, 0, 0], [7, 0, 0]], np.float32)
    a, b = knn_graph(coords, k_neighbors=2)
    assert a.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert b.tolist() == [1, 2, 0, 2, 1, 0, 2, 1]
    a, b = knn_graph(coords, k_neighbors=10)  # capped at N - 1
    assert a.size == 12


def test_estimate_normals_of_a_plane() -> None:
    rng = np.random.default_rng(0)
    pts = np.concatenate([rng.random((200, 2)), np.zeros((200, 1))], axis=1)
    normals = estimate_normals(pts)
    assert normals.dtype == np.float32
    np.testing.assert_allclose(np.abs(normals[:, 2]), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"coords": np.zeros((0, 3))}, InvalidPointCloudError, "empty"),
        ({"coords": [[0, 0, np.inf]]}, InvalidPointCloudError, "non-finite"),
        (
            {"coords": np.zeros((4, 3)), "normals": np.zeros((3, 3))},
            InvalidPointCloudError,
            "shape",
        ),
        ({"coords": np.zeros((4, 3)), "k_neighbors": 0}, ConfigError, "k_neighbors"),
        ({"coords": np.zeros((4, 3)), "normal_neighbors": 2}, ConfigError, "normal_neighbors"),
        ({"coords": np.zeros((4, 3)), "k_threshold": -1.0}, ConfigError, "k_threshold"),
    ],
)
def test_invalid_inputs(kwargs: dict, error: type, match: str) -> None:
    coords = kwargs.pop("coords")
    with pytest.raises(error, match=match):
        segment_points(coords, **kwargs)
