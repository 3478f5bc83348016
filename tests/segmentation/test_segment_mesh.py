"""segment_mesh against a slow, literal reference and against meshes with known answers."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from dknet.errors import ConfigError, InvalidPointCloudError
from dknet.segmentation import (
    compact_segments,
    directed_edge_weights,
    mesh_edges,
    segment_mesh,
)
from dknet.segmentation._graph import ascending_order

F32 = np.float32


def reference_segment(
    vertices: np.ndarray, faces: np.ndarray, k: float = 0.01, min_vertices: int = 20
) -> list[int]:
    """ScanNet's Segmentator, one float32 scalar operation at a time (slow, small meshes only).

    Sort: stable by weight, NaN weights last. Union-find without path compression, union by
    rank with the second root winning ties.
    """
    n = len(vertices)
    pts = [[F32(c) for c in row] for row in np.asarray(vertices, dtype=np.float32)]
    normals = [[F32(0.0)] * 3 for _ in range(n)]
    counts = [0] * n
    edges: list[tuple[int, int]] = []
    one = F32(1.0)
    for i1, i2, i3 in (tuple(int(i) for i in f) for f in faces):
        edges += [(i1, i2), (i1, i3), (i3, i2)]
        p1, p2, p3 = pts[i1], pts[i2], pts[i3]
        u = [p2[j] - p1[j] for j in range(3)]
        v = [p3[j] - p1[j] for j in range(3)]
        c = [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]]
        with np.errstate(invalid="ignore", divide="ignore"):
            length = np.sqrt(c[0] * c[0] + c[1] * c[1] + c[2] * c[2])
            c = [x / length for x in c]
        for vi in (i1, i2, i3):
            t = one / (F32(counts[vi]) + one)
            s = one - t
            normals[vi] = [t * c[j] + s * normals[vi][j] for j in range(3)]
        for vi in (i1, i2, i3):
            counts[vi] += 1

    weights = []
    for a, b in edges:
        na, nb, pa, pb = normals[a], normals[b], pts[a], pts[b]
        d = [pb[j] - pa[j] for j in range(3)]
        with np.errstate(invalid="ignore", divide="ignore"):
            dd = np.sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2])
            d = [x / dd for x in d]
        dot = na[0] * nb[0] + na[1] * nb[1] + na[2] * nb[2]
        dot2 = nb[0] * d[0] + nb[1] * d[1] + nb[2] * d[2]
        w = one - dot
        if dot2 > 0:
            w = w * w
        weights.append(w)
    order = sorted(
        range(len(edges)),
        key=lambda e: (math.isnan(weights[e]), 0.0 if math.isnan(weights[e]) else weights[e]),
    )

    parent, rank, size = list(range(n)), [0] * n, [1] * n
    threshold = [F32(k)] * n

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    def join(a: int, b: int) -> int:
        if rank[a] > rank[b]:
            parent[b] = a
            size[a] += size[b]
            return a
        parent[a] = b
        size[b] += size[a]
        if rank[a] == rank[b]:
            rank[b] += 1
        return b

    for e in order:
        a, b = find(edges[e][0]), find(edges[e][1])
        w = weights[e]
        if a != b and w <= threshold[a] and w <= threshold[b]:
            root = join(a, b)
            threshold[root] = w + F32(k) / F32(size[root])
    for e in order:
        a, b = find(edges[e][0]), find(edges[e][1])
        if a != b and (size[a] < min_vertices or size[b] < min_vertices):
            join(a, b)
    return [find(v) for v in range(n)]


def grid_mesh(rows: int, cols: int, rng: np.random.Generator, noise: float) -> tuple:
    """A bumpy height-field grid, triangulated with randomly flipped diagonals."""
    x, y = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    z = 0.4 * np.sin(x / 2.0) * np.cos(y / 3.0) + rng.normal(0.0, noise, x.shape)
    vertices = np.stack([x * 0.1, y * 0.1, z * 0.1], axis=-1).reshape(-1, 3)
    idx = np.arange(rows * cols).reshape(rows, cols)
    a, b = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel()
    c, d = idx[:-1, 1:].ravel(), idx[1:, 1:].ravel()
    flip = rng.random(a.size) < 0.5
    first = np.where(flip[:, None], np.stack([a, b, c], 1), np.stack([a, b, d], 1))
    second = np.where(flip[:, None], np.stack([b, d, c], 1), np.stack([a, d, c], 1))
    return vertices.astype(np.float32), np.concatenate([first, second]).astype(np.int64)


def random_mesh(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Small meshes of several kinds: shuffled faces and corners, stray faces, unused vertices."""
    rng = np.random.default_rng(seed)
    kind = seed % 4
    if kind == 3:  # a triangle soup: arbitrary vertex triples, non-manifold everywhere
        vertices = rng.normal(size=(int(rng.integers(5, 60)), 3)).astype(np.float32)
        faces = np.stack([rng.choice(vertices.shape[0], 3, replace=False) for _ in range(80)])
        return vertices, faces
    vertices, faces = grid_mesh(
        int(rng.integers(3, 12)), int(rng.integers(3, 12)), rng, noise=(0.0, 0.05, 1.0)[kind]
    )
    faces = faces[rng.permutation(faces.shape[0])]
    rolled = rng.random(faces.shape[0]) < 0.3
    faces[rolled] = np.roll(faces[rolled], 1, axis=1)  # same orientation, other first corner
    flipped = rng.random(faces.shape[0]) < 0.1
    faces[flipped] = faces[flipped][:, ::-1]  # inconsistent orientation
    extra = rng.choice(vertices.shape[0], size=(3, 3))
    extra = extra[(extra[:, 0] != extra[:, 1]) & (extra[:, 1] != extra[:, 2])]
    extra = extra[extra[:, 0] != extra[:, 2]]
    unused = rng.normal(size=(2, 3)).astype(np.float32)
    return np.concatenate([vertices, unused]), np.concatenate([faces, extra])


@pytest.mark.parametrize("seed", range(16))
@pytest.mark.parametrize(("k", "min_vertices"), [(0.01, 20), (0.05, 5), (1.0, 0), (0.0, 3)])
def test_matches_reference(seed: int, k: float, min_vertices: int) -> None:
    vertices, faces = random_mesh(seed)
    expected = reference_segment(vertices, faces, k, min_vertices)
    got = segment_mesh(vertices, faces, k_threshold=k, min_vertices=min_vertices)
    assert got.dtype == np.int64
    assert got.tolist() == expected  # raw root ids, hence also the partition


def test_flat_grid_ties_match_reference() -> None:
    """A flat grid: all weights tie at 0 (or nearly), so raw ids depend on the stable order."""
    vertices, faces = grid_mesh(7, 9, np.random.default_rng(0), noise=0.0)
    vertices[:, 2] = 0.0
    expected = reference_segment(vertices, faces, 0.01, 20)
    assert segment_mesh(vertices, faces).tolist() == expected
    assert np.unique(expected).size == 1


def test_degenerate_faces_match_reference() -> None:
    vertices, faces = grid_mesh(6, 6, np.random.default_rng(1), noise=0.05)
    vertices = np.concatenate([vertices, vertices[:3]])  # duplicates: zero-length edges
    n = vertices.shape[0]
    bad = np.array([[0, 1, 1], [n - 3, n - 2, n - 1], [0, 1, 2]])  # [0,1,2] is collinear
    faces = np.concatenate([faces, bad, [[n - 3, 7, 8]]])
    for min_vertices in (0, 5, 20):
        expected = reference_segment(vertices, faces, 0.01, min_vertices)
        got = segment_mesh(vertices, faces, min_vertices=min_vertices)
        assert got.tolist() == expected


def test_single_triangle_raw_ids() -> None:
    """Weights all 0: edges (0,1), (0,2), (2,1) in order; 1 wins the first tie, then absorbs 2."""
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=np.float32)
    assert segment_mesh(vertices, [[0, 1, 2]]).tolist() == [1, 1, 1]


def two_walls(n_floor: int, n_wall: int, depth: int = 6) -> tuple[np.ndarray, np.ndarray, list]:
    """An L of two flat grids meeting at 90 degrees along x = 0, z = 0; returns the groups."""
    verts: list[tuple[float, float, float]] = []
    index: dict[tuple[float, float, float], int] = {}

    def vid(p: tuple[float, float, float]) -> int:
        if p not in index:
            index[p] = len(verts)
            verts.append(p)
        return index[p]

    faces = []
    for i in range(n_floor):  # floor, x in [0, n_floor], z = 0, normal +z
        for j in range(depth):
            a, b = vid((i, j, 0.0)), vid((i + 1, j, 0.0))
            c, d = vid((i, j + 1, 0.0)), vid((i + 1, j + 1, 0.0))
            faces += [(a, b, d), (a, d, c)]
    for i in range(n_wall):  # wall, z in [0, n_wall], x = 0, normal +x
        for j in range(depth):
            a, b = vid((0.0, j, i)), vid((0.0, j + 1, i))
            c, d = vid((0.0, j, i + 1)), vid((0.0, j + 1, i + 1))
            faces += [(a, b, d), (a, d, c)]
    coords = np.array(verts, dtype=np.float32)
    floor = np.flatnonzero((coords[:, 2] == 0) & (coords[:, 0] > 0))
    wall = np.flatnonzero((coords[:, 0] == 0) & (coords[:, 2] > 0))
    fold = np.flatnonzero((coords[:, 0] == 0) & (coords[:, 2] == 0))
    return coords, np.array(faces, dtype=np.int64), [floor, wall, fold]


def test_two_planes_at_right_angle_give_two_segments() -> None:
    coords, faces, (floor, wall, fold) = two_walls(4, 5)
    assert floor.size >= 20 and wall.size >= 20 and fold.size < 20
    seg = segment_mesh(coords, faces)
    assert seg.tolist() == reference_segment(coords, faces)
    assert np.unique(seg).size == 2
    assert np.unique(seg[floor]).size == 1 and np.unique(seg[wall]).size == 1
    assert seg[floor[0]] != seg[wall[0]]
    # The fold row's normals are part floor, part wall: it stays out of both sides in the first
    # pass and joins them in the small-segment pass (here all of it the same side).
    assert np.unique(seg[fold]).size == 1
    assert seg[fold[0]] in (seg[floor[0]], seg[wall[0]])


def test_small_flap_is_merged_and_large_one_is_not() -> None:
    coords, faces, (floor, _, _) = two_walls(4, 5)

    def add_flap(coords: np.ndarray, faces: np.ndarray, length: int) -> tuple:
        # A strip folded up at 45 degrees from the floor's far edge x = 4.
        n0 = coords.shape[0]
        edge = [int(np.flatnonzero((coords[:, 0] == 4) & (coords[:, 1] == j))[0]) for j in (0, 1)]
        new = [(4 + (i + 1) * 0.7, j, (i + 1) * 0.7) for i in range(length) for j in (0, 1)]
        ids = [edge] + [[n0 + 2 * i, n0 + 2 * i + 1] for i in range(length)]
        strip = []
        for (a, c), (b, d) in itertools.pairwise(ids):
            strip += [(a, b, d), (a, d, c)]
        return np.concatenate([coords, np.array(new, np.float32)]), np.concatenate(
            [faces, np.array(strip, np.int64)]
        )

    small_coords, small_faces = add_flap(coords, faces, 4)  # 8 new vertices
    seg = segment_mesh(small_coords, small_faces)
    assert np.unique(seg).size == 2
    assert set(seg[coords.shape[0] :]) == {seg[floor[0]]}  # the flap joined the floor

    big_coords, big_faces = add_flap(coords, faces, 14)  # 28 new vertices
    seg = segment_mesh(big_coords, big_faces)
    assert np.unique(seg).size == 3
    assert np.unique(seg[coords.shape[0] + 2 :]).size == 1


def test_disconnected_pieces_and_unused_vertices() -> None:
    coords, faces, _ = two_walls(4, 5)
    tiny = np.array([[50, 0, 0], [51, 0, 0], [50, 1, 0]], dtype=np.float32)
    lone = np.array([[-9, -9, -9]], dtype=np.float32)
    n = coords.shape[0]
    all_coords = np.concatenate([coords, tiny, lone])
    all_faces = np.concatenate([faces, [[n, n + 1, n + 2]]])
    seg = segment_mesh(all_coords, all_faces)
    # The triangle has no edge to anything else, so it stays a (small) segment of its own;
    # a vertex on no face is its own segment, with its own index as id.
    assert np.unique(seg).size == 4
    assert seg[n + 3] == n + 3
    assert np.unique(seg[n : n + 3]).size == 1


def test_min_vertices_zero_and_huge() -> None:
    coords, faces, _ = two_walls(4, 5)
    assert np.unique(segment_mesh(coords, faces, min_vertices=10**6)).size == 1
    coords, faces, (floor, wall, fold) = two_walls(4, 5)
    seg = segment_mesh(coords, faces, min_vertices=0)
    assert np.unique(seg[floor]).size == 1 and np.unique(seg[wall]).size == 1
    assert seg[floor[0]] != seg[wall[0]]
    assert not set(seg[fold]) & {seg[floor[0]], seg[wall[0]]}  # fold pieces stay apart


def test_input_dtypes_and_immutability() -> None:
    vertices, faces = grid_mesh(5, 5, np.random.default_rng(3), noise=0.05)
    expected = segment_mesh(vertices, faces)
    v64, f32 = vertices.astype(np.float64), faces.astype(np.int32)
    before = (v64.copy(), f32.copy())
    assert segment_mesh(v64, f32).tolist() == expected.tolist()
    assert segment_mesh(v64.tolist(), f32.tolist()).tolist() == expected.tolist()
    assert np.array_equal(v64, before[0]) and np.array_equal(f32, before[1])


def test_edges_and_weights_layout() -> None:
    a, b = mesh_edges(np.array([[3, 4, 5], [6, 7, 8]]))
    assert a.tolist() == [3, 3, 5, 6, 6, 8] and b.tolist() == [4, 5, 4, 7, 8, 7]
    coords = np.array([[0, 0, 0], [1, 0, 0], [0, 0, 1]], dtype=np.float32)
    normals = np.array([[0, 0, 1], [0, 0, 1], [1, 0, 0]], dtype=np.float32)
    w = directed_edge_weights(coords, normals, np.array([0, 0, 2]), np.array([1, 2, 0]))
    # 0->1 coplanar: 0; 0->2: n_b . d = 0, not squared: 1; 2->0: n_b . d = -1 < 0: 1.
    assert w.dtype == np.float32 and w.tolist() == [0.0, 1.0, 1.0]
    normals[2] = [0, 0.6, 0.8]
    w = directed_edge_weights(coords, normals, np.array([0]), np.array([2]))
    assert w[0] == (F32(1) - F32(0.8)) ** 2  # n_b . d = 0.8 > 0: convex, squared


def test_ascending_order_is_stable_with_signed_zero_and_nan() -> None:
    w = np.array([0.5, -0.0, np.nan, 0.0, -1.0, 0.5, -np.nan, np.inf, -np.inf], np.float32)
    assert ascending_order(w).tolist() == [8, 4, 1, 3, 0, 5, 7, 2, 6]
    rng = np.random.default_rng(0)
    w = rng.choice(np.array([0.0, 0.25, 1e-8, -3.0, 7.5], np.float32), size=1000)
    assert ascending_order(w).tolist() == np.argsort(w, kind="stable").tolist()


def test_compact_segments() -> None:
    assert compact_segments(np.array([7, 3, 7, 9, 3])).tolist() == [1, 0, 1, 2, 0]
    assert compact_segments(np.zeros(0, np.int64)).tolist() == []
    with pytest.raises(InvalidPointCloudError, match="1-D integer"):
        compact_segments(np.zeros((2, 2), np.int64))


@pytest.mark.parametrize(
    ("vertices", "faces", "match"),
    [
        (np.zeros((0, 3)), np.zeros((0, 3), np.int64), "empty"),
        (np.zeros((3, 2)), [[0, 1, 2]], r"shape \(N, 3\)"),
        ([[0, 0, 0], [1, 0, np.nan], [0, 1, 0]], [[0, 1, 2]], "1 of 3 points have non-finite"),
        ([[0, 0, 0], [1e39, 0, 0], [0, 1, 0]], [[0, 1, 2]], "non-finite coordinates in float32"),
        (np.eye(3), np.zeros((0, 3), np.int64), "no faces"),
        (np.eye(3), [[0, 1, 3]], "face 0 uses vertex 3; valid indices are 0..2"),
        (np.eye(3), [[0, 1, 2], [-1, 1, 2]], "first: face 1 uses vertex -1"),
        (np.eye(3), [[0.0, 1.0, 2.0]], "integer vertex indices"),
        (np.eye(3), [[0, 1, 2, 0]], r"shape \(F, 3\)"),
    ],
)
def test_invalid_inputs(vertices, faces, match: str) -> None:
    with pytest.raises(InvalidPointCloudError, match=match):
        segment_mesh(vertices, faces)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k_threshold": -0.1}, "k_threshold"),
        ({"k_threshold": float("nan")}, "k_threshold"),
        ({"min_vertices": -1}, "min_vertices"),
        ({"min_vertices": 2.5}, "min_vertices"),
    ],
)
def test_invalid_parameters(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        segment_mesh(np.eye(3), [[0, 1, 2]], **kwargs)
