"""Turn a furnished room into one triangle mesh with no hidden surfaces, then colour it.

Every visible primitive surface is sampled as a regular grid (``shapes``), the room shell adds
one grid per wall (inner face only: walls have no visible thickness) and one for the floor. A
vertex (or a triangle's centre) is *hidden* when the point a few millimetres in front of it,
along its outward normal, lies inside another solid primitive, outside the room footprint or
below the floor. This one rule removes vertices inside other solids, floor under objects
standing on it, wall behind objects flush to walls, bottom faces resting on the floor, and faces
pressed against each other (a chair leg's top under the seat). Faces with a hidden corner or
centre are dropped and the vertices no face references are removed, so every kept vertex
belongs to a triangle.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .room import RoomShape
from .shapes import FoldedSheet, Part, SurfacePatch, grid_faces, tile_index

__all__ = ["RawMesh", "build_mesh", "floor_patch", "wall_sheets", "shade_colors"]

#: How far in front of a vertex (metres, along its normal) the occupancy test looks. Smaller
#: than the thinnest solid part (1 cm) so contacts are detected, larger than float noise.
PROBE_DISTANCE = 0.005


@dataclass(frozen=True)
class RawMesh:
    """The noise-free mesh of a room before over-segmentation.

    Attributes:
        points: (V, 3) float64 vertex positions, metres.
        normals: (V, 3) float64 unit normals.
        faces: (F, 3) int64 triangles (every vertex is referenced).
        owner: (V,) int64 owner of each vertex (the caller's id of the part's object).
        tile: (V,) int64 grid tile of each vertex, unique across all patches.
        base_color: (V, 3) float64 RGB in [0, 1] of the vertex's part.
        part: (V,) int64 index of the vertex's part in the ``parts`` list (``len(parts)`` for
            the floor).
    """

    points: np.ndarray
    normals: np.ndarray
    faces: np.ndarray
    owner: np.ndarray
    tile: np.ndarray
    base_color: np.ndarray
    part: np.ndarray

    def subset(self, keep: np.ndarray) -> tuple[RawMesh, np.ndarray]:
        """The mesh without the vertices where ``keep`` is False, their faces and the vertices
        no remaining face references.

        Args:
            keep: (V,) bool.

        Returns:
            (the smaller mesh, (V,) bool mask of the vertices it kept, in order).
        """
        faces = self.faces[keep[self.faces].all(axis=1)]
        used = np.zeros(len(self.points), dtype=bool)
        used[faces.reshape(-1)] = True
        new_index = np.cumsum(used) - 1
        mesh = RawMesh(
            points=self.points[used],
            normals=self.normals[used],
            faces=new_index[faces],
            owner=self.owner[used],
            tile=self.tile[used],
            base_color=self.base_color[used],
            part=self.part[used],
        )
        return mesh, used


def _axis_nodes(breaks: list[float], spacing: float) -> np.ndarray:
    """Grid coordinates covering [breaks[0], breaks[-1]] that include every break point."""
    nodes = [np.array([breaks[0]])]
    for a, b in itertools.pairwise(breaks):
        n = max(2, round((b - a) / spacing) + 1)
        nodes.append(np.linspace(a, b, n)[1:])
    return np.concatenate(nodes)


def floor_patch(shape: RoomShape, spacing: float, tile: int) -> SurfacePatch:
    """The floor as a grid clipped to the room footprint (grid lines run along every wall)."""
    xb = [0.0, shape.width]
    yb = [0.0, shape.depth]
    if shape.notch is not None:
        xb.insert(1, shape.width - shape.notch[0])
        yb.insert(1, shape.depth - shape.notch[1])
    xs, ys = _axis_nodes(xb, spacing), _axis_nodes(yb, spacing)
    nu, nv = len(xs), len(ys)
    xx, yy = np.meshgrid(xs, ys, indexing="ij")
    points = np.stack([xx.reshape(-1), yy.reshape(-1), np.zeros(nu * nv)], axis=1)
    inside = shape.contains_points(points[:, :2], tolerance=1e-9)
    faces = grid_faces(nu, nv)
    faces = faces[inside[faces].all(axis=1)]
    tu, tv = tile_index(nu, tile), tile_index(nv, tile)
    tiles = (tu[:, None] * (tv.max() + 1) + tv[None, :]).reshape(-1)
    return SurfacePatch(
        points=points,
        normals=np.broadcast_to(np.array([0.0, 0.0, 1.0]), (nu * nv, 3)).copy(),
        faces=faces,
        tiles=tiles,
        num_tiles=int((tu.max() + 1) * (tv.max() + 1)),
    )


def wall_sheets(shape: RoomShape, color: tuple[float, float, float]) -> list[FoldedSheet]:
    """One flat sheet per wall, facing into the room, from the floor to the wall height."""
    return [
        FoldedSheet(
            origin=(float(w.start[0]), float(w.start[1]), 0.0),
            width=w.length,
            height=shape.height,
            color=color,
            yaw=w.yaw,
        )
        for w in shape.walls()
    ]


#: Edge of the xy grid cells that bucket probe points for the occupancy test, metres.
_CELL = 0.25


def _hidden(
    probe: np.ndarray, part_of_vertex: np.ndarray, parts: list[Part], shape: RoomShape
) -> np.ndarray:
    """(V,) bool: the probe point lies outside the room, under the floor, or in a solid part.

    Probes are bucketed in an xy grid of ``_CELL`` cells, so each solid only tests the probes
    in the cells its bounding box overlaps (the same exact test on fewer candidates).
    """
    hidden = ~shape.contains_points(probe[:, :2], tolerance=1e-4)
    hidden |= probe[:, 2] < -1e-4
    if len(probe) == 0:
        return hidden
    origin = probe[:, :2].min(axis=0)
    cells = np.floor((probe[:, :2] - origin) / _CELL).astype(np.int64)
    rows = int(cells[:, 1].max()) + 1
    keys = cells[:, 0] * rows + cells[:, 1]
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    for j, part in enumerate(parts):
        if not part.solid:
            continue
        lo, hi = part.bounds()
        c0 = np.floor((lo[:2] - origin) / _CELL).astype(np.int64)
        c1 = np.floor((hi[:2] - origin) / _CELL).astype(np.int64)
        j0, j1 = max(int(c0[1]), 0), min(int(c1[1]), rows - 1)
        if j0 > j1:
            continue
        starts = np.arange(max(int(c0[0]), 0), int(c1[0]) + 1) * rows
        a = np.searchsorted(sorted_keys, starts + j0)
        b = np.searchsorted(sorted_keys, starts + j1, side="right")
        spans = [order[x:y] for x, y in zip(a, b, strict=True) if y > x]
        if not spans:
            continue
        idx = np.concatenate(spans)
        q = probe[idx]
        near = (q[:, 0] >= lo[0]) & (q[:, 0] <= hi[0]) & (q[:, 1] >= lo[1]) & (q[:, 1] <= hi[1])
        near &= (q[:, 2] >= lo[2]) & (q[:, 2] <= hi[2]) & (part_of_vertex[idx] != j)
        idx, q = idx[near], q[near]
        if len(idx):
            hidden[idx[part.contains(q)]] = True
    return hidden


def _boundary_vertices(faces: np.ndarray, num_vertices: int) -> np.ndarray:
    """(V,) bool: vertices on a patch's rim.

    In the grid triangulation of :func:`dknet.synth.shapes.grid_faces` every interior vertex is
    a corner of exactly six triangles; a vertex on an outline (straight, clipped or a seam that
    does not wrap) is a corner of fewer.
    """
    return np.bincount(faces.reshape(-1), minlength=num_vertices) != 6


def _jitter_in_plane(
    points: np.ndarray,
    normals: np.ndarray,
    faces: np.ndarray,
    step: np.ndarray,
    amount: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Shift every interior vertex within its tangent plane by up to ``amount * step``.

    Rim vertices stay put, so patches keep their outline (edges of boxes, contact lines).
    """
    helper = np.where(np.abs(normals[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    t1 = np.cross(normals, helper)
    t1 /= np.maximum(np.linalg.norm(t1, axis=1, keepdims=True), 1e-12)
    t2 = np.cross(normals, t1)
    uv = rng.uniform(-amount, amount, size=(len(points), 2)) * step[:, None]
    uv[_boundary_vertices(faces, len(points))] = 0.0
    return points + uv[:, :1] * t1 + uv[:, 1:] * t2


def build_mesh(
    shape: RoomShape,
    parts: list[Part],
    owners: list[int],
    *,
    spacing: float,
    tile: int,
    floor_color: tuple[float, float, float],
    part_spacing: list[float] | None = None,
    up_factor: float = 1.0,
    floor_spacing: float | None = None,
    jitter: float = 0.0,
    rng: np.random.Generator | None = None,
) -> RawMesh:
    """Sample every visible surface, remove hidden vertices and re-index the faces.

    Args:
        shape: the room (its floor is added here; walls must be among ``parts``).
        parts: primitives in room coordinates, metres.
        owners: one owner id per part (copied to its vertices); the floor gets ``owners[-1]``
            when ``len(owners) == len(parts) + 1``.
        spacing: target vertex spacing, metres.
        tile: over-segmentation tile size, vertices per side.
        floor_color: RGB in [0, 1].
        part_spacing: one spacing per part, metres (default: ``spacing`` for all).
        up_factor: faces pointing up are sampled at ``up_factor`` times their part's spacing.
        floor_spacing: the floor's spacing, metres (default: ``spacing``).
        jitter: largest in-plane shift of interior vertices, as a fraction of their spacing
            (0: regular grids). Needs ``rng``.
        rng: random stream of the jitter.

    Returns:
        The visible mesh with per-vertex owner, tile and base colour.
    """
    if len(owners) != len(parts) + 1:
        raise ValueError("owners must list one id per part plus one for the floor")
    patches: list[tuple[SurfacePatch, int, tuple[float, float, float]]] = []
    steps: list[float] = []
    for j, part in enumerate(parts):
        step = spacing if part_spacing is None else part_spacing[j]
        up = None if up_factor == 1.0 else step * up_factor
        for patch in part.surface(step, tile, up_spacing=up):
            patches.append((patch, j, part.color))
            steps.append(step)
    step = spacing if floor_spacing is None else floor_spacing
    patches.append((floor_patch(shape, step, tile), len(parts), floor_color))
    steps.append(step)

    counts = np.array([len(p.points) for p, _, _ in patches], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    tile_starts = np.concatenate([[0], np.cumsum([p.num_tiles for p, _, _ in patches])[:-1]])
    points = np.concatenate([p.points for p, _, _ in patches])
    normals = np.concatenate([p.normals for p, _, _ in patches])
    faces = np.concatenate([p.faces + s for (p, _, _), s in zip(patches, starts, strict=True)])
    tiles = np.concatenate([p.tiles + t for (p, _, _), t in zip(patches, tile_starts, strict=True)])
    part_idx = np.repeat(np.array([j for _, j, _ in patches], dtype=np.int64), counts)
    colors = np.repeat(np.array([c for _, _, c in patches], dtype=np.float64), counts, axis=0)
    owner_of_part = np.asarray(owners, dtype=np.int64)
    if jitter > 0.0:
        if rng is None:
            raise ValueError("jitter needs a random generator")
        step_of_vertex = np.repeat(np.asarray(steps), counts)
        points = _jitter_in_plane(points, normals, faces, step_of_vertex, jitter, rng)

    # A face goes when a corner is hidden or when its centre is: a triangle whose corners all
    # lie on the rim of a hiding solid (a seam) still has its middle under that solid.
    face_normals = normals[faces].sum(axis=1)
    face_normals /= np.maximum(np.linalg.norm(face_normals, axis=1, keepdims=True), 1e-12)
    probes = np.concatenate(
        [
            points + PROBE_DISTANCE * normals,
            points[faces].mean(axis=1) + PROBE_DISTANCE * face_normals,
        ]
    )
    # The floor's part index (len(parts)) matches no real part, so no solid skips it.
    hidden = _hidden(probes, np.concatenate([part_idx, part_idx[faces[:, 0]]]), parts, shape)
    visible, face_visible = ~hidden[: len(points)], ~hidden[len(points) :]
    faces = faces[visible[faces].all(axis=1) & face_visible]
    keep = np.zeros(len(points), dtype=bool)
    keep[faces.reshape(-1)] = True
    new_index = np.cumsum(keep) - 1
    return RawMesh(
        points=points[keep],
        normals=normals[keep],
        faces=new_index[faces],
        owner=owner_of_part[part_idx[keep]],
        tile=tiles[keep],
        base_color=colors[keep],
        part=part_idx[keep],
    )


def shade_colors(
    base: np.ndarray, normals: np.ndarray, rng: np.random.Generator, *, light: np.ndarray
) -> np.ndarray:
    """Per-vertex colours: base colour, Lambert shading from ``light`` and sensor-like jitter.

    Args:
        base: (V, 3) float RGB in [0, 1].
        normals: (V, 3) float unit normals.
        rng: random stream for the per-vertex variation.
        light: (3,) unit direction towards the light.

    Returns:
        (V, 3) uint8 RGB.
    """
    lambert = np.clip(normals @ light, 0.0, 1.0)
    shading = 0.55 + 0.45 * lambert
    jitter = rng.normal(0.0, 0.025, size=base.shape) + rng.normal(0.0, 0.02, size=(len(base), 1))
    rgb = np.clip(base * shading[:, None] + jitter, 0.0, 1.0)
    return np.round(rgb * 255.0).astype(np.uint8)
