"""What turns a clean synthetic room into something that looks like a reconstructed scan.

Four stages, each vectorised numpy and each drawing only from the scene's mesh stream:

* :func:`recolor` gives every object materials from wide palettes (no class owns a colour);
* :func:`scanner_visibility` removes what a hand-held RGB-D scan does not reconstruct (narrow
  gaps, floor under furniture, undersides, upper walls, holes, the far side of the scan's edge);
* :func:`scan_colors` adds textures, ceiling lights and shadows, colour bleeding across object
  borders, a per-scene white balance and exposure, and per-vertex sensor noise;
* :func:`deform` adds surface noise, a smooth warp, a registration wobble, a whole-scene tilt
  and a random room yaw (recorded as ScanNet's ``axisAlignment``).

Every drawn scalar is recorded in a ``draws`` dict under its option name, so tests can check that
each one lies in its range (:class:`dknet.synth.options.SynthOptions`).
"""

from __future__ import annotations

import colorsys
from dataclasses import replace

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import ndtr

from .mesh import RawMesh, _hidden
from .options import ColorOptions, GeometryOptions
from .room import RoomLayout, RoomShape
from .shapes import Box, Part

__all__ = [
    "recolor",
    "ceiling_fragments",
    "scanner_visibility",
    "scan_colors",
    "deform",
    "annotation_gaps",
    "object_share_ceiling",
    "stitch_faces",
]

RGB = tuple[float, float, float]


def draw(
    rng: np.random.Generator, draws: dict[str, list[float]], name: str, bounds: tuple[float, float]
) -> float:
    """A uniform draw from ``bounds``, recorded under ``name``."""
    value = float(rng.uniform(bounds[0], bounds[1])) if bounds[1] > bounds[0] else float(bounds[0])
    draws.setdefault(name, []).append(value)
    return value


def draw_int(
    rng: np.random.Generator, draws: dict[str, list[float]], name: str, bounds: tuple[int, int]
) -> int:
    """A uniform integer from ``bounds`` (inclusive), recorded under ``name``."""
    value = int(rng.integers(bounds[0], bounds[1] + 1))
    draws.setdefault(name, []).append(float(value))
    return value


def apply_linear(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``points @ matrix.T`` for (V, 3) points without BLAS.

    A tall, 3-column product is memory-bound; multi-threaded BLAS only adds contention on a
    shared machine (it measured 5x slower than this loop over columns).
    """
    out = np.empty((len(points), len(matrix)), dtype=np.float64)
    for row in range(len(matrix)):
        out[:, row] = (
            points[:, 0] * matrix[row, 0]
            + points[:, 1] * matrix[row, 1]
            + points[:, 2] * matrix[row, 2]
        )
    return out


def smooth_field(points: np.ndarray, scale: float, rng: np.random.Generator) -> np.ndarray:
    """(V,) values in (0, 1), about uniform, varying smoothly over ``scale`` metres.

    A sum of eight random plane waves (a cheap stand-in for Perlin noise), mapped through the
    normal CDF so that thresholds are area fractions.
    """
    waves = 8
    k = rng.normal(size=(waves, 3))
    k /= np.linalg.norm(k, axis=1, keepdims=True)
    k *= (2 * np.pi / scale) * rng.uniform(0.7, 1.4, size=(waves, 1))
    phase = rng.uniform(0, 2 * np.pi, size=waves)
    # float32 is plenty for a noise field and halves the cost of the cosines.
    angles = (apply_linear(points, k) + phase).astype(np.float32)
    value = np.cos(angles).sum(axis=1, dtype=np.float64) * np.sqrt(2.0 / waves)
    return ndtr(value)


# ----------------------------------------------------------------------------------------------
# Materials


def _material(
    rng: np.random.Generator,
    copts: ColorOptions,
    draws: dict[str, list[float]],
    *,
    value: tuple[str, tuple[float, float]] | None = None,
    saturation: tuple[float, float] | None = None,
) -> RGB:
    neutral = rng.random() < copts.neutral_probability
    sat_range = (
        (0.0, min(0.12, copts.material_saturation[1])) if neutral else copts.material_saturation
    )
    s = draw(rng, draws, "material_saturation", saturation or sat_range)
    name, bounds = value or ("material_value", copts.material_value)
    v = draw(rng, draws, name, bounds)
    r, g, b = colorsys.hsv_to_rgb(float(rng.uniform()), s, v)
    return (r, g, b)


def recolor(
    layout: RoomLayout, rng: np.random.Generator, copts: ColorOptions, draws: dict[str, list[float]]
) -> tuple[list[tuple[Part, ...]], RGB, RGB]:
    """New part colours per object, the wall paint and the floor material.

    Each object gets one material per distinct colour among its parts (legs, top, handles keep
    distinct colours), drawn from wide palettes; windows keep their bright glass.

    Returns:
        (parts of every layout object, wall colour, floor colour).
    """
    recolored = []
    for obj in layout.objects:
        if obj.raw_category == "window":
            glass = obj.parts[0]
            if glass.visible:
                grey = draw(rng, draws, "window_value", copts.window_value)
                tint = rng.uniform(0.95, 1.05, size=3) * grey
                glass = replace(glass, color=(float(tint[0]), float(tint[1]), float(tint[2])))
            recolored.append((glass, *obj.parts[1:]))
            continue
        if obj.raw_category in ("whiteboard", "tv"):
            recolored.append(obj.parts)
            continue
        mapping: dict[RGB, RGB] = {}
        main: RGB | None = None
        parts = []
        for part in obj.parts:
            if part.color not in mapping:
                if main is not None and rng.random() < 0.4:
                    f = float(rng.uniform(0.8, 1.15))
                    mapping[part.color] = (main[0] * f, main[1] * f, main[2] * f)
                else:
                    mapping[part.color] = _material(rng, copts, draws)
                main = main or mapping[part.color]
            parts.append(replace(part, color=mapping[part.color]))
        recolored.append(tuple(parts))
    wall = _material(
        rng,
        copts,
        draws,
        value=("wall_value", copts.wall_value),
        saturation=(0.0, min(0.25, copts.material_saturation[1])),
    )
    floor = _material(rng, copts, draws, value=("floor_value", copts.floor_value))
    return recolored, wall, floor


def ceiling_fragments(
    shape: RoomShape,
    rng: np.random.Generator,
    gopts: GeometryOptions,
    draws: dict[str, list[float]],
) -> list[Box]:
    """Thin slabs under the ceiling along random walls (scanned bits of the ceiling)."""
    slabs = []
    walls = shape.walls()
    for _ in range(draw_int(rng, draws, "ceiling_fragments", gopts.ceiling_fragments)):
        wall = walls[int(rng.integers(len(walls)))]
        length = float(rng.uniform(0.3, 1.0)) * wall.length
        s0 = float(rng.uniform(0.0, wall.length - length))
        reach = float(rng.uniform(0.3, 1.5))
        mid = wall.start + (s0 + length / 2) * wall.direction + (reach / 2) * wall.inward
        color = (0.8, 0.8, 0.8)
        slabs.append(
            Box(
                center=(float(mid[0]), float(mid[1]), shape.height - 0.01),
                size=(length, reach, 0.02),
                color=color,
                yaw=wall.yaw,
            )
        )
    return slabs


# ----------------------------------------------------------------------------------------------
# Visibility


def covered_from_above(
    points: np.ndarray, part_of_vertex: np.ndarray, parts: list[Part], reach: float
) -> np.ndarray:
    """(V,) bool: a visible solid part hangs over the vertex within ``reach`` metres."""
    covered = np.zeros(len(points), dtype=bool)
    order = np.argsort(points[:, 0], kind="stable")
    xs = points[order, 0]
    for j, part in enumerate(parts):
        if not (part.solid and part.visible):
            continue
        lo, hi = part.bounds()
        a, b = np.searchsorted(xs, lo[0]), np.searchsorted(xs, hi[0], side="right")
        if a >= b:
            continue
        idx = order[a:b]
        q = points[idx]
        near = (q[:, 1] >= lo[1]) & (q[:, 1] <= hi[1])
        near &= (q[:, 2] < lo[2]) & (q[:, 2] > lo[2] - reach) & (part_of_vertex[idx] != j)
        idx = idx[near]
        if len(idx):
            probe = points[idx].copy()
            probe[:, 2] = (lo[2] + hi[2]) / 2
            covered[idx[part.contains(probe)]] = True
    return covered


def scanner_visibility(
    mesh: RawMesh,
    parts: list[Part],
    shape: RoomShape,
    *,
    num_walls: int,
    ceiling_parts: np.ndarray,
    rng: np.random.Generator,
    gopts: GeometryOptions,
    draws: dict[str, list[float]],
) -> tuple[np.ndarray, np.ndarray]:
    """Which vertices a hand-held scan reconstructs.

    Args:
        mesh: the clean visible mesh (room coordinates).
        parts: the parts ``mesh.part`` indexes.
        shape: the room.
        num_walls: owners 0..num_walls-1 are walls.
        ceiling_parts: (P,) bool, the ceiling fragments among ``parts``.
        rng: the mesh stream.
        gopts: the geometry ranges.
        draws: record of drawn values.

    Returns:
        (keep, covered): (V,) bool each -- vertices kept, and vertices with a solid above them
        (for shadows).
    """
    p, n = mesh.points, mesh.normals
    keep = np.ones(len(p), dtype=bool)
    # Surfaces facing a solid a few centimetres away: narrow gaps are never reconstructed.
    for distance in gopts.gap_probes:
        idx = np.flatnonzero(keep)
        keep[idx[_hidden(p[idx] + distance * n[idx], mesh.part[idx], parts, shape)]] = False
    # Floor and low tops under furniture: seen only at grazing angles, mostly missing.
    covered = covered_from_above(p, mesh.part, parts, reach=1.5)
    under = draw(rng, draws, "under_furniture_drop", gopts.under_furniture_drop)
    idx = np.flatnonzero(covered & (n[:, 2] > 0.5))
    keep[idx[smooth_field(p[idx], 0.3, rng) < under]] = False
    # Undersides below eye level: a hand-held camera does not look up at them.
    idx = np.flatnonzero((n[:, 2] < -0.7) & (p[:, 2] < 1.2))
    keep[idx[smooth_field(p[idx], 0.2, rng) < gopts.underside_drop]] = False
    # Ceiling fragments: only their downward face; tops of tall furniture: rarely seen.
    on_ceiling = ceiling_parts[np.minimum(mesh.part, len(ceiling_parts) - 1)] & (
        mesh.part < len(ceiling_parts)
    )
    keep &= ~(on_ceiling & (n[:, 2] > -0.5))
    keep &= ~((n[:, 2] > 0.5) & (p[:, 2] > 2.1) & ~on_ceiling & (rng.random(len(p)) < 0.7))
    # Upper walls: the scan stops at a ragged height per wall.
    is_wall = (mesh.owner >= 0) & (mesh.owner < num_walls)
    if num_walls:
        kept = np.array(
            [draw(rng, draws, "wall_top_kept", gopts.wall_top_kept) for _ in range(num_walls)]
        )
        idx = np.flatnonzero(is_wall)
        cut = shape.height * kept[mesh.owner[idx]] + 0.5 * (smooth_field(p[idx], 0.8, rng) - 0.5)
        keep[idx[p[idx, 2] > cut]] = False
    # Holes anywhere (dark or specular spots, tracking gaps).
    fraction = draw(rng, draws, "hole_fraction", gopts.hole_fraction)
    scale = draw(rng, draws, "hole_scale", gopts.hole_scale)
    keep &= smooth_field(p, scale, rng) >= fraction
    # The scan's edge: everything beyond a wobbly line near one side is missing.
    if rng.random() < gopts.scan_edge_probability:
        angle = float(rng.uniform(0, 2 * np.pi))
        direction = np.array([np.cos(angle), np.sin(angle)])
        along = p[:, 0] * direction[0] + p[:, 1] * direction[1]
        corners = shape.polygon() @ direction
        depth = draw(rng, draws, "scan_edge_depth", gopts.scan_edge_depth)
        limit = corners.max() - depth * (corners.max() - corners.min())
        limit = limit + 0.3 * (smooth_field(p, 1.0, rng) - 0.5)
        keep &= along <= limit
    return keep, covered


# ----------------------------------------------------------------------------------------------
# Colour


def scan_colors(
    mesh: RawMesh,
    shape: RoomShape,
    *,
    covered: np.ndarray,
    bright_owners: np.ndarray,
    rng: np.random.Generator,
    copts: ColorOptions,
    draws: dict[str, list[float]],
) -> np.ndarray:
    """Per-vertex colours of a scan: texture x lighting, bleeding, camera response, noise.

    Args:
        mesh: the kept mesh (room coordinates).
        shape: the room.
        covered: (V,) bool, vertices with a solid above them (shadowed).
        bright_owners: owner ids that are not lit but bright themselves (windows).
        rng: the mesh stream.
        copts: the colour ranges.
        draws: record of drawn values.

    Returns:
        (V, 3) uint8 RGB.
    """
    p, n, owner = mesh.points, mesh.normals, mesh.owner
    v = len(p)
    if v == 0:
        return np.zeros((0, 3), dtype=np.uint8)
    # Textures: one kind, strength and direction per owner.
    owners, inverse = np.unique(owner, return_inverse=True)
    k = len(owners)
    kind = rng.integers(0, 4, size=k)
    amp = np.array(
        [draw(rng, draws, "texture_amplitude", copts.texture_amplitude) for _ in range(k)]
    )
    direction = rng.normal(size=(k, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    period = rng.uniform(0.01, 0.06, size=k)
    blotch = 2 * smooth_field(p, 0.25, rng) - 1
    fine = 2 * smooth_field(p, 0.07, rng) - 1
    grain = np.sin(
        2 * np.pi * np.einsum("ij,ij->i", p, direction[inverse]) / period[inverse] + 2 * blotch
    )
    tile = float(rng.uniform(0.3, 0.6))
    tiles = np.sign(np.sin(np.pi * p[:, 0] / tile) * np.sin(np.pi * p[:, 1] / tile))
    pattern = np.choose(kind[inverse], [np.zeros(v), grain, blotch + 0.5 * fine, tiles])
    color = mesh.base_color * (1.0 + amp[inverse] * pattern)[:, None]

    # Lighting: ambient plus ceiling lights with distance falloff, shadows under furniture.
    ambient = draw(rng, draws, "ambient", copts.ambient)
    lights = draw_int(rng, draws, "light_count", copts.light_count)
    irradiance = np.zeros(v)
    for _ in range(lights):
        pos = np.array(
            [rng.uniform(0, shape.width), rng.uniform(0, shape.depth), shape.height - 0.05]
        )
        to_light = pos - p
        dist = np.maximum(np.linalg.norm(to_light, axis=1), 1e-6)
        cos = np.clip(np.einsum("ij,ij->i", n, to_light) / dist, 0.0, 1.0)
        irradiance += (0.3 + 0.7 * cos) / (1.0 + (dist / 2.5) ** 2)
    irradiance /= max(float(np.percentile(irradiance, 90)), 1e-9)
    shading = ambient + (1 - ambient) * np.clip(irradiance, 0, 1.3)
    shadow = draw(rng, draws, "shadow_strength", copts.shadow_strength)
    shading = np.where(covered, shading * (1 - shadow), shading)
    bright = np.isin(owner, bright_owners)
    shading = np.where(bright, 1.0, shading)
    color = color * shading[:, None]

    # Colour bleeding: fused RGB-D mixes neighbouring colours across object borders.
    weight = draw(rng, draws, "bleed_weight", copts.bleed_weight)
    radius = draw(rng, draws, "bleed_radius", copts.bleed_radius)
    _, nbr = cKDTree(p).query(p, k=6, distance_upper_bound=radius)
    # Missing neighbours (index v) read a zero row and are left out of the count.
    padded = np.concatenate([color, np.zeros((1, 3))]).astype(np.float32)
    summed = padded[nbr].sum(axis=1, dtype=np.float64)
    mean = summed / np.maximum((nbr < v).sum(axis=1), 1)[:, None]
    color = (1 - weight) * color + weight * mean

    # Camera: white balance, exposure, tone curve, then per-vertex noise.
    gains = np.array([draw(rng, draws, "white_balance", copts.white_balance) for _ in range(3)])
    exposure = draw(rng, draws, "exposure", copts.exposure)
    gamma = draw(rng, draws, "gamma", copts.gamma)
    color = np.clip(color * gains * exposure, 0.0, 1.0) ** gamma
    sigma = draw(rng, draws, "vertex_noise", copts.vertex_noise)
    color = color + rng.normal(0, sigma, size=(v, 3)) + rng.normal(0, sigma, size=(v, 1))
    # Auto exposure and contrast: the scene's overall mean and spread land on drawn targets.
    # Metered on the room: windows (bright light sources) keep the camera's response.
    target_mean = draw(rng, draws, "tone_mean", copts.tone_mean)
    target_std = draw(rng, draws, "tone_std", copts.tone_std)
    color = np.clip(color, 0.0, 1.0)
    if bright.any():
        # The camera exposes for the room, so windows (light sources) come out near the top.
        window_grey = draw(rng, draws, "window_grey", copts.window_grey)
        for _ in range(2):  # clipping at 1 lowers the mean a little; repeat
            shift = window_grey - float(color[bright].mean())
            color[bright] = np.clip(color[bright] + shift, 0.0, 1.0)
    room = ~bright
    for _ in range(3):  # clipping and the fixed windows move the statistics a little; repeat
        spread = max(float(color.std()), 1e-6)
        toned = target_mean + (color[room] - color.mean()) * (target_std / spread)
        color[room] = np.clip(toned, 0.0, 1.0)
    return np.round(color * 255.0).astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# Geometry


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def deform(
    points: np.ndarray,
    normals: np.ndarray,
    shape: RoomShape,
    *,
    rng: np.random.Generator,
    gopts: GeometryOptions,
    draws: dict[str, list[float]],
) -> tuple[np.ndarray, np.ndarray]:
    """Noise, warp, wobble, tilt and yaw: room coordinates to scan coordinates.

    Args:
        points: (V, 3) float64 room coordinates, metres.
        normals: (V, 3) unit normals.
        shape: the room.
        rng: the mesh stream.
        gopts: the geometry ranges.
        draws: record of drawn values.

    Returns:
        (points (V, 3) float32 in scan coordinates, (4, 4) float64 ``axisAlignment`` that maps
        them back to a level, axis-aligned room frame up to the noise, warp, wobble and tilt).
    """
    v = len(points)
    sigma = draw(rng, draws, "surface_noise", gopts.surface_noise)
    out = points + normals * rng.normal(0.0, sigma, size=(v, 1))
    amplitude = draw(rng, draws, "warp_amplitude", gopts.warp_amplitude)
    wavelength = draw(rng, draws, "warp_wavelength", gopts.warp_wavelength)
    for axis in range(3):
        k = rng.normal(size=(2, 3))
        k *= (2 * np.pi / wavelength) / np.linalg.norm(k, axis=1, keepdims=True)
        phase = rng.uniform(0, 2 * np.pi, size=2)
        out[:, axis] += amplitude * np.sin(apply_linear(points, k) + phase).sum(axis=1) / np.sqrt(2)
    centre = np.array([shape.width / 2, shape.depth / 2, 0.0])
    # Wobble: a rotation about z that fades in across the room (misregistered scan ends).
    wobble = np.radians(draw(rng, draws, "wobble_deg", gopts.wobble_deg))
    heading = float(rng.uniform(0, 2 * np.pi))
    along = (points[:, 0] - centre[0]) * np.cos(heading) + (points[:, 1] - centre[1]) * np.sin(
        heading
    )
    span = max(float(np.ptp(along)), 1e-6) if v else 1.0
    fade = np.clip((along - along.min(initial=0.0)) / span, 0, 1) if v else along
    theta = wobble * fade * fade * (3 - 2 * fade)
    rel = out - centre
    c, s = np.cos(theta), np.sin(theta)
    out = np.stack([c * rel[:, 0] - s * rel[:, 1], s * rel[:, 0] + c * rel[:, 1], rel[:, 2]], 1)
    # Tilt about a random horizontal axis, then the room's yaw and position.
    tilt = np.radians(draw(rng, draws, "tilt_deg", gopts.tilt_deg))
    tilt_heading = float(rng.uniform(0, 2 * np.pi))
    tilt_rot = _rotation(np.array([np.cos(tilt_heading), np.sin(tilt_heading), 0.0]), tilt)
    yaw = np.radians(draw(rng, draws, "room_yaw_deg", gopts.room_yaw_deg))
    yaw_rot = _rotation(np.array([0.0, 0.0, 1.0]), yaw)
    shift = np.array([*rng.uniform(-1.0, 1.0, size=2), 0.0]) + centre
    out = apply_linear(out, yaw_rot @ tilt_rot) + shift
    alignment = np.eye(4)
    alignment[:3, :3] = yaw_rot.T
    alignment[:3, 3] = -yaw_rot.T @ shift + centre
    return out.astype(np.float32), alignment


def annotation_gaps(
    owner: np.ndarray,
    seg_labels: np.ndarray,
    *,
    rng: np.random.Generator,
    share_range: tuple[float, float],
    draws: dict[str, list[float]],
) -> np.ndarray:
    """A copy of ``owner`` with random segments (small ones preferred) in no group.

    Annotators of real scans skip small and ambiguous segments; the share of vertices left
    out is drawn from ``share_range``.
    """
    share = draw(rng, draws, "annotation_gap", share_range)
    sizes = np.bincount(seg_labels)
    order = np.argsort(rng.random(len(sizes)) * np.sqrt(np.maximum(sizes, 1)), kind="stable")
    taken = np.cumsum(sizes[order]) <= share * len(seg_labels)
    gap = np.zeros(len(sizes), dtype=bool)
    gap[order[taken]] = True
    out = owner.copy()
    hit = gap[seg_labels]
    out[hit] = -1_000_000 - seg_labels[hit]
    return out


def object_share_ceiling(
    owner: np.ndarray,
    seg_labels: np.ndarray,
    object_owners: np.ndarray,
    *,
    rng: np.random.Generator,
    share_range: tuple[float, float],
    draws: dict[str, list[float]],
) -> np.ndarray:
    """A copy of ``owner`` where at most a drawn share of vertices is annotated as an object.

    Real annotators label only part of each object's surface (small segments, edges, parts
    of furniture they were unsure of); where more than the share drawn from ``share_range``
    of all vertices belongs to benchmark objects, random object segments (small ones
    preferred, as in :func:`annotation_gaps`) are left out of every group until it does not.

    Args:
        owner: (V,) int owner per vertex (negative: in no group).
        seg_labels: (V,) compact segment index per vertex.
        object_owners: (O,) bool per owner id >= 0, True for the benchmark instance classes.
        rng: the mesh stream.
        share_range: (low, high) of the ceiling, a fraction of all vertices.
        draws: record of drawn values.
    """
    ceiling = draw(rng, draws, "object_share", share_range)
    on_object = (owner >= 0) & object_owners[np.maximum(owner, 0)]
    excess = int(on_object.sum()) - int(np.floor(ceiling * len(owner)))
    if excess <= 0:
        return owner
    sizes = np.bincount(seg_labels[on_object], minlength=int(seg_labels.max(initial=-1)) + 1)
    candidates = np.flatnonzero(sizes)
    order = candidates[
        np.argsort(rng.random(len(candidates)) * np.sqrt(sizes[candidates]), kind="stable")
    ]
    # Whole segments, up to and including the one that brings the share under the ceiling.
    cum = np.cumsum(sizes[order])
    count = int(np.searchsorted(cum, excess)) + 1
    gap = np.zeros(len(sizes), dtype=bool)
    gap[order[:count]] = True
    out = owner.copy()
    hit = on_object & gap[seg_labels]
    out[hit] = -1_000_000 - seg_labels[hit]
    return out


def stitch_faces(
    points: np.ndarray, faces: np.ndarray, part: np.ndarray, radius: float
) -> np.ndarray:
    """Triangles that weld each patch's rim to the nearest vertex of another part.

    A reconstructed mesh is one welded surface: a chair leg runs into the floor, a picture
    into its wall. The synthetic mesh is a set of separate patches, so without these bridges
    no over-segment could ever straddle two objects. Each rim edge ``(a, a2)`` (used by one
    triangle) whose end ``a`` has a vertex ``b`` of another part within ``radius`` gets the
    triangle ``(a, a2, b)``.

    Args:
        points: (V, 3) float vertex positions, metres.
        faces: (F, 3) int64 triangles.
        part: (V,) int64 part index per vertex.
        radius: largest bridge length, metres.

    Returns:
        (S, 3) int64 bridging triangles (their vertices are existing vertices).
    """
    v = np.int64(len(points))
    if len(faces) == 0:
        return np.zeros((0, 3), dtype=np.int64)
    edges = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    keys, counts = np.unique(edges[:, 0] * v + edges[:, 1], return_counts=True)
    rim = keys[counts == 1]
    a, a2 = rim // v, rim % v
    _, nbr = cKDTree(points).query(points[a], k=8, distance_upper_bound=radius)
    valid = nbr < v
    safe = np.where(valid, nbr, 0)
    valid &= part[safe] != part[a][:, None]
    has = valid.any(axis=1)
    first = np.argmax(valid, axis=1)
    b = safe[np.arange(len(a)), first]
    return np.stack([a[has], a2[has], b[has]], axis=1).astype(np.int64)
