"""Parametric primitives of the synthetic scenes: boxes, vertical cylinders and folded sheets.

Each primitive knows two things: how to sample its visible surface as regular vertex grids at a
given spacing (triangulated, with per-vertex normals and a grid-patch "tile" index used for the
over-segmentation), and, for solids, whether points lie strictly inside it (used to remove hidden
surfaces). Coordinates are metres, z up; a primitive's ``yaw`` rotates it about the vertical axis
through its centre (boxes, cylinders) or its origin (sheets).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

__all__ = [
    "Box",
    "Cylinder",
    "FoldedSheet",
    "Part",
    "SurfacePatch",
    "transform_part",
    "tile_index",
    "grid_faces",
]

#: Points closer than this (metres) to a solid's boundary count as outside it.
INSIDE_TOLERANCE = 1e-4

RGB = tuple[float, float, float]


@dataclass(frozen=True)
class SurfacePatch:
    """A triangulated vertex grid sampled from one face of a primitive.

    Attributes:
        points: (n, 3) float64 vertex positions, metres.
        normals: (n, 3) float64 unit outward normals.
        faces: (f, 3) int64 triangles, indices into ``points``.
        tiles: (n,) int64 tile index of each vertex within this patch, 0..num_tiles-1.
        num_tiles: number of tiles the patch is cut into.
    """

    points: np.ndarray
    normals: np.ndarray
    faces: np.ndarray
    tiles: np.ndarray
    num_tiles: int


def tile_index(n: int, tile: int) -> np.ndarray:
    """Split ``n`` grid lines into about ``n / tile`` balanced runs.

    Returns:
        (n,) int64 run index of each grid line, 0..runs-1, runs of near-equal length.
    """
    runs = max(1, round(n / max(tile, 1)))
    return (np.arange(n, dtype=np.int64) * runs) // n


def grid_faces(nu: int, nv: int, *, wrap_u: bool = False) -> np.ndarray:
    """Two triangles per cell of an ``nu`` x ``nv`` vertex grid (vertex id ``i * nv + j``).

    Triangles are ordered so that their normal is ``dP/du x dP/dv``. With ``wrap_u`` the last
    row connects back to the first (a closed cylinder mantle).

    Returns:
        (F, 3) int64 vertex indices.
    """
    rows = nu if wrap_u else nu - 1
    if rows <= 0 or nv < 2:
        return np.zeros((0, 3), dtype=np.int64)
    i = np.arange(rows, dtype=np.int64)[:, None]
    j = np.arange(nv - 1, dtype=np.int64)[None, :]
    a = i * nv + j
    b = ((i + 1) % nu) * nv + j
    c = b + 1
    d = a + 1
    tri1 = np.stack([a, b, c], axis=-1).reshape(-1, 3)
    tri2 = np.stack([a, c, d], axis=-1).reshape(-1, 3)
    return np.concatenate([tri1, tri2], axis=0)


def _count(length: float, spacing: float) -> int:
    return max(2, round(length / spacing) + 1)


def _rotation(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _rect_patch(
    origin: np.ndarray,
    axis_u: np.ndarray,
    axis_v: np.ndarray,
    spacing: float,
    tile: int,
) -> SurfacePatch:
    """Sample the parallelogram ``origin + s * axis_u + t * axis_v`` (s, t in [0, 1])."""
    nu = _count(float(np.linalg.norm(axis_u)), spacing)
    nv = _count(float(np.linalg.norm(axis_v)), spacing)
    s = np.linspace(0.0, 1.0, nu)
    t = np.linspace(0.0, 1.0, nv)
    points = origin + s[:, None, None] * axis_u + t[None, :, None] * axis_v
    normal = np.cross(axis_u, axis_v)
    normal = normal / np.linalg.norm(normal)
    tu, tv = tile_index(nu, tile), tile_index(nv, tile)
    tiles = (tu[:, None] * (tv.max() + 1) + tv[None, :]).reshape(-1)
    return SurfacePatch(
        points=points.reshape(-1, 3),
        normals=np.broadcast_to(normal, (nu * nv, 3)).copy(),
        faces=grid_faces(nu, nv),
        tiles=tiles,
        num_tiles=int((tu.max() + 1) * (tv.max() + 1)),
    )


@dataclass(frozen=True)
class Box:
    """A box of full extents ``size`` around ``center``, rotated by ``yaw`` about z.

    Attributes:
        center: (x, y, z) metres.
        size: full extents along the box's own x, y, z axes, metres.
        yaw: rotation about the vertical axis, radians.
        color: base RGB in [0, 1].
        visible: sample its surface (False: an invisible occluder, e.g. the space behind a
            curtain).
    """

    center: tuple[float, float, float]
    size: tuple[float, float, float]
    color: RGB = (0.5, 0.5, 0.5)
    yaw: float = 0.0
    visible: bool = True

    solid = True

    def surface(
        self, spacing: float, tile: int, *, up_spacing: float | None = None
    ) -> list[SurfacePatch]:
        """Six rectangular patches (one per face), outward normals.

        ``up_spacing`` (default: ``spacing``) samples the face whose normal points up.
        """
        if not self.visible:
            return []
        half = np.asarray(self.size, dtype=np.float64) / 2.0
        rot = _rotation(self.yaw)
        centre = np.asarray(self.center, dtype=np.float64)
        patches = []
        for axis in range(3):
            u_axis, v_axis = (axis + 1) % 3, (axis + 2) % 3
            for sign in (-1.0, 1.0):
                e_u = np.zeros(3)
                e_v = np.zeros(3)
                e_u[u_axis] = 2 * half[u_axis]
                e_v[v_axis] = 2 * half[v_axis]
                corner = -half.copy()
                corner[axis] = sign * half[axis]
                if sign < 0:
                    # Swap the in-plane axes so that u x v points outward on both sides.
                    e_u, e_v = e_v, e_u
                origin = rot @ corner + centre
                step = up_spacing if up_spacing is not None and axis == 2 and sign > 0 else spacing
                patches.append(_rect_patch(origin, rot @ e_u, rot @ e_v, step, tile))
        return patches

    def contains(self, points: np.ndarray) -> np.ndarray:
        """(n,) bool: strictly inside (more than ``INSIDE_TOLERANCE`` from every face)."""
        local = points - np.asarray(self.center)
        if self.yaw != 0.0:
            c, s = np.cos(self.yaw), np.sin(self.yaw)
            x = c * local[:, 0] + s * local[:, 1]
            y = -s * local[:, 0] + c * local[:, 1]
        else:
            x, y = local[:, 0], local[:, 1]
        hx, hy, hz = (np.asarray(self.size) / 2.0) - INSIDE_TOLERANCE
        return (np.abs(x) < hx) & (np.abs(y) < hy) & (np.abs(local[:, 2]) < hz)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned bounding box (lo, hi), each (3,) float64 metres."""
        half = np.asarray(self.size) / 2.0
        c, s = abs(np.cos(self.yaw)), abs(np.sin(self.yaw))
        ext = np.array([c * half[0] + s * half[1], s * half[0] + c * half[1], half[2]])
        centre = np.asarray(self.center)
        return centre - ext, centre + ext


@dataclass(frozen=True)
class Cylinder:
    """A vertical (optionally elliptic and tapered) cylinder from ``z0`` to ``z1``.

    Attributes:
        center: (x, y) of the axis, metres.
        z0, z1: bottom and top heights, metres.
        radii: (rx, ry) semi-axes of the bottom ellipse along the cylinder's own x, y, metres.
        taper: top radii = bottom radii * taper (1: straight; < 1 narrows upwards).
        color: base RGB in [0, 1].
        yaw: rotation about the axis, radians.
        caps: sample the (bottom, top) discs.
    """

    center: tuple[float, float]
    z0: float
    z1: float
    radii: tuple[float, float]
    color: RGB = (0.5, 0.5, 0.5)
    taper: float = 1.0
    yaw: float = 0.0
    caps: tuple[bool, bool] = (True, True)
    visible: bool = True

    solid = True

    def _scale(self, z: np.ndarray) -> np.ndarray:
        t = (z - self.z0) / (self.z1 - self.z0)
        return 1.0 + (self.taper - 1.0) * t

    def surface(
        self, spacing: float, tile: int, *, up_spacing: float | None = None
    ) -> list[SurfacePatch]:
        """The mantle (a wrapped grid) and the cap discs (square grids clipped to the ellipse).

        ``up_spacing`` (default: ``spacing``) samples the top disc.
        """
        if not self.visible:
            return []
        rx, ry = self.radii
        rot = _rotation(self.yaw)
        centre = np.array([self.center[0], self.center[1], 0.0])
        height = self.z1 - self.z0
        perimeter = np.pi * (3 * (rx + ry) - np.sqrt((3 * rx + ry) * (rx + 3 * ry)))
        perimeter *= max(1.0, self.taper)
        n_theta = max(8, int(np.ceil(perimeter / spacing)))
        n_z = _count(height, spacing)
        theta = np.arange(n_theta) * (2 * np.pi / n_theta)
        z = np.linspace(self.z0, self.z1, n_z)
        scale = self._scale(z)
        cos_t, sin_t = np.cos(theta)[:, None], np.sin(theta)[:, None]
        x = rx * scale[None, :] * cos_t
        y = ry * scale[None, :] * sin_t
        local = np.stack([x, y, np.broadcast_to(z, x.shape)], axis=-1).reshape(-1, 3)
        # Outward normal of the (tapered) elliptic mantle: gradient of (x/rx)^2 + (y/ry)^2 = s^2.
        slope = (self.taper - 1.0) / height
        nx = np.broadcast_to(cos_t / rx, x.shape)
        ny = np.broadcast_to(sin_t / ry, x.shape)
        nz = np.full(x.shape, -slope)
        normals = np.stack([nx, ny, nz], axis=-1).reshape(-1, 3)
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)
        tu, tv = tile_index(n_theta, tile), tile_index(n_z, tile)
        tiles = (tu[:, None] * (tv.max() + 1) + tv[None, :]).reshape(-1)
        patches = [
            SurfacePatch(
                points=local @ rot.T + centre,
                normals=normals @ rot.T,
                faces=grid_faces(n_theta, n_z, wrap_u=True),
                tiles=tiles,
                num_tiles=int((tu.max() + 1) * (tv.max() + 1)),
            )
        ]
        for is_top, wanted in zip((False, True), self.caps, strict=True):
            if wanted:
                step = up_spacing if up_spacing is not None and is_top else spacing
                patch = self._cap(is_top, step, tile, rot, centre)
                if patch is not None:
                    patches.append(patch)
        return patches

    def _cap(
        self, is_top: bool, spacing: float, tile: int, rot: np.ndarray, centre: np.ndarray
    ) -> SurfacePatch | None:
        z = self.z1 if is_top else self.z0
        scale = self.taper if is_top else 1.0
        rx, ry = self.radii[0] * scale, self.radii[1] * scale
        nu, nv = _count(2 * rx, spacing), _count(2 * ry, spacing)
        if nu < 3 or nv < 3:
            return None
        u = np.linspace(-rx, rx, nu)
        v = np.linspace(-ry, ry, nv)
        if not is_top:
            # Mirror one axis so the triangles face down (u x v = -z).
            u = u[::-1]
        uu, vv = np.meshgrid(u, v, indexing="ij")
        inside = ((uu / rx) ** 2 + (vv / ry) ** 2 <= 1.0 + 1e-9).reshape(-1)
        faces = grid_faces(nu, nv)
        faces = faces[inside[faces].all(axis=1)]
        if len(faces) == 0:
            return None
        local = np.stack([uu.reshape(-1), vv.reshape(-1), np.full(nu * nv, z)], axis=1)
        normal = np.array([0.0, 0.0, 1.0 if is_top else -1.0])
        tu, tv = tile_index(nu, tile), tile_index(nv, tile)
        tiles = (tu[:, None] * (tv.max() + 1) + tv[None, :]).reshape(-1)
        return SurfacePatch(
            points=local @ rot.T + centre,
            normals=np.broadcast_to(normal, (nu * nv, 3)).copy(),
            faces=faces,
            tiles=tiles,
            num_tiles=int((tu.max() + 1) * (tv.max() + 1)),
        )

    def contains(self, points: np.ndarray) -> np.ndarray:
        """(n,) bool: strictly inside the (tapered) cylinder."""
        z = points[:, 2]
        in_z = (z > self.z0 + INSIDE_TOLERANCE) & (z < self.z1 - INSIDE_TOLERANCE)
        local = points[:, :2] - np.asarray(self.center)
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        x = c * local[:, 0] + s * local[:, 1]
        y = -s * local[:, 0] + c * local[:, 1]
        scale = self._scale(z)
        rx = self.radii[0] * scale - INSIDE_TOLERANCE
        ry = self.radii[1] * scale - INSIDE_TOLERANCE
        return in_z & ((x / rx) ** 2 + (y / ry) ** 2 < 1.0)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned bounding box (lo, hi), each (3,) float64 metres."""
        r = max(self.radii) * max(1.0, self.taper)
        return (
            np.array([self.center[0] - r, self.center[1] - r, self.z0]),
            np.array([self.center[0] + r, self.center[1] + r, self.z1]),
        )


@dataclass(frozen=True)
class FoldedSheet:
    """A vertical sheet folded like a hanging curtain (not a solid, hides nothing).

    The surface is ``origin + s * u + t * z + (offset + amplitude * (1 + sin(2 pi s / wavelength
    + phase))) * n`` for s in [0, width], t in [0, height], where ``u = (cos yaw, sin yaw, 0)``
    and ``n = (-sin yaw, cos yaw, 0)`` is the side the sheet faces. With ``amplitude = 0`` it is
    a flat wall panel.

    Attributes:
        origin: (x, y, z) of the bottom-left corner on the base line, metres.
        width, height: extents along u and z, metres.
        yaw: direction of u, radians.
        amplitude: fold depth / 2, metres.
        wavelength: fold period along u, metres.
        phase: fold phase, radians.
        offset: distance of the fold troughs from the base line along n, metres.
        color: base RGB in [0, 1].
    """

    origin: tuple[float, float, float]
    width: float
    height: float
    color: RGB = (0.5, 0.5, 0.5)
    yaw: float = 0.0
    amplitude: float = 0.0
    wavelength: float = 1.0
    phase: float = 0.0
    offset: float = 0.0
    visible: bool = True

    solid = False

    def surface(
        self, spacing: float, tile: int, *, up_spacing: float | None = None
    ) -> list[SurfacePatch]:
        """One patch sampled on a regular (s, t) grid (a vertical sheet: ``up_spacing`` unused)."""
        u = np.array([np.cos(self.yaw), np.sin(self.yaw), 0.0])
        n = np.array([-np.sin(self.yaw), np.cos(self.yaw), 0.0])
        # Arc length of the folds is longer than the width: sample s more densely.
        k = 2 * np.pi / self.wavelength
        stretch = np.sqrt(1.0 + 0.5 * (self.amplitude * k) ** 2)
        nu = _count(self.width * stretch, spacing)
        nv = _count(self.height, spacing)
        s = np.linspace(0.0, self.width, nu)
        t = np.linspace(0.0, self.height, nv)
        depth = self.offset + self.amplitude * (1.0 + np.sin(k * s + self.phase))
        base = np.asarray(self.origin) + s[:, None] * u + depth[:, None] * n
        points = base[:, None, :] + t[None, :, None] * np.array([0.0, 0.0, 1.0])
        normal_s = n[None, :] - (self.amplitude * k * np.cos(k * s + self.phase))[:, None] * u
        normal_s /= np.linalg.norm(normal_s, axis=1, keepdims=True)
        normals = np.broadcast_to(normal_s[:, None, :], (nu, nv, 3)).reshape(-1, 3).copy()
        tu, tv = tile_index(nu, tile), tile_index(nv, tile)
        tiles = (tu[:, None] * (tv.max() + 1) + tv[None, :]).reshape(-1)
        # dP/ds x dP/dt = u x z = -n, so reverse the triangles to face n.
        faces = grid_faces(nu, nv)[:, ::-1].copy()
        return [
            SurfacePatch(
                points=points.reshape(-1, 3),
                normals=normals,
                faces=faces,
                tiles=tiles,
                num_tiles=int((tu.max() + 1) * (tv.max() + 1)),
            )
        ]

    def contains(self, points: np.ndarray) -> np.ndarray:
        """A sheet has no interior: (n,) all False."""
        return np.zeros(len(points), dtype=bool)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned bounding box (lo, hi), each (3,) float64 metres."""
        u = np.array([np.cos(self.yaw), np.sin(self.yaw), 0.0])
        n = np.array([-np.sin(self.yaw), np.cos(self.yaw), 0.0])
        o = np.asarray(self.origin)
        depth = self.offset + 2 * self.amplitude
        corners = np.stack([o, o + self.width * u, o + depth * n, o + self.width * u + depth * n])
        lo, hi = corners.min(axis=0), corners.max(axis=0)
        hi[2] = o[2] + self.height
        return lo, hi


Part = Box | Cylinder | FoldedSheet


def transform_part(part: Part, yaw: float, translation: tuple[float, float]) -> Part:
    """Rotate ``part`` by ``yaw`` about the world z axis, then shift it by ``translation`` (x, y).

    Used to move a piece of furniture built in its own frame into the room.
    """
    c, s = np.cos(yaw), np.sin(yaw)
    tx, ty = translation

    def move(x: float, y: float) -> tuple[float, float]:
        return (float(c * x - s * y + tx), float(s * x + c * y + ty))

    if isinstance(part, Box):
        x, y = move(part.center[0], part.center[1])
        return replace(part, center=(x, y, part.center[2]), yaw=part.yaw + yaw)
    if isinstance(part, Cylinder):
        return replace(part, center=move(*part.center), yaw=part.yaw + yaw)
    x, y = move(part.origin[0], part.origin[1])
    return replace(part, origin=(x, y, part.origin[2]), yaw=part.yaw + yaw)
