"""One synthetic ScanNet-like room with exact ground truth: :func:`generate_scene`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dknet.errors import ConfigError

from .labels_table import nyu40_of
from .mesh import build_mesh, shade_colors, wall_sheets
from .room import ROOM_TYPES, RoomLayout, generate_layout
from .segments import over_segment, segment_ids_from_labels
from .shapes import Part

__all__ = [
    "SyntheticObject",
    "SyntheticScene",
    "generate_scene",
    "scene_id_for",
    "MAX_SCENES",
    "MIN_VERTEX_SPACING",
    "MAX_VERTEX_SPACING",
]

#: Scene ids are ``scene9000_00`` .. ``scene9999_00`` (ScanNet's four-digit pattern).
MAX_SCENES = 1000
MIN_VERTEX_SPACING = 0.01
MAX_VERTEX_SPACING = 0.2

_WALL_COLORS = (
    (0.88, 0.86, 0.80),
    (0.80, 0.80, 0.78),
    (0.90, 0.87, 0.72),
    (0.75, 0.82, 0.86),
    (0.86, 0.78, 0.72),
)
_FLOOR_COLORS = (
    (0.60, 0.45, 0.30),
    (0.72, 0.72, 0.70),
    (0.45, 0.40, 0.38),
    (0.30, 0.33, 0.45),
    (0.78, 0.66, 0.48),
)


@dataclass(frozen=True)
class SyntheticObject:
    """One segGroup of a synthetic scene.

    Attributes:
        object_id: the group's ``objectId`` (also its ``id``), 0..K-1.
        raw_category: raw ScanNet name written as the group's ``label``.
        nyu40_id: nyu40 id the label table maps it to; 0 when the row's nyu40id is empty or the
            name has no row at all.
        segments: ids (as in ``segIndices``) of the group's segments, ascending.
    """

    object_id: int
    raw_category: str
    nyu40_id: int
    segments: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class SyntheticScene:
    """A furnished room as a ScanNet-style mesh with exact per-vertex ground truth.

    Attributes:
        scene_id: e.g. ``scene9000_00``.
        vertices: (V, 3) float32 metres; z up, floor at z = 0, the room in +x +y.
        colors: (V, 3) uint8 RGB.
        faces: (F, 3) int64 triangles; every vertex is used by at least one.
        segments: (V,) int64 over-segment id per vertex (ScanNet-like: the segment's lowest
            vertex index, so ids are not compact).
        nyu40: (V,) int64 nyu40 id per vertex; 0 for vertices in no group and for groups whose
            raw label the table does not map.
        instance_ids: (V,) int64 ``objectId`` of the vertex's group, -1 when in no group.
        objects: the segGroups, ordered by ``object_id``.
        room_type: one of ``dknet.synth.room.ROOM_TYPES``.
    """

    scene_id: str
    vertices: np.ndarray
    colors: np.ndarray
    faces: np.ndarray
    segments: np.ndarray
    nyu40: np.ndarray
    instance_ids: np.ndarray
    objects: tuple[SyntheticObject, ...]
    room_type: str

    @property
    def num_vertices(self) -> int:
        """Number of mesh vertices V."""
        return int(self.vertices.shape[0])


def scene_id_for(scene_index: int) -> str:
    """ScanNet-style id of synthetic scene ``scene_index`` (``scene9000_00`` for 0)."""
    return f"scene{9000 + scene_index:04d}_00"


def _check_arguments(scene_index: int, seed: int, vertex_spacing: float) -> None:
    if not 0 <= scene_index < MAX_SCENES:
        raise ConfigError(f"scene index {scene_index} is outside 0..{MAX_SCENES - 1}")
    check_seed_and_spacing(seed, vertex_spacing)


def check_seed_and_spacing(seed: int, vertex_spacing: float) -> None:
    """Raise ConfigError unless the seed is >= 0 and the spacing is in the supported range."""
    if seed < 0:
        raise ConfigError(f"seed must be >= 0, got {seed}")
    if not MIN_VERTEX_SPACING <= vertex_spacing <= MAX_VERTEX_SPACING:
        raise ConfigError(
            f"vertex spacing {vertex_spacing} m is outside {MIN_VERTEX_SPACING}.."
            f"{MAX_VERTEX_SPACING} m",
            hint="the default 0.03 gives ScanNet-like densities",
        )


def _pick(
    rng: np.random.Generator, colors: tuple[tuple[float, float, float], ...]
) -> tuple[float, float, float]:
    c = np.clip(np.asarray(colors[int(rng.integers(len(colors)))]) + rng.normal(0, 0.03, 3), 0, 1)
    return (float(c[0]), float(c[1]), float(c[2]))


def _assemble(
    layout: RoomLayout, rng: np.random.Generator
) -> tuple[list[Part], list[int], list[str], tuple[float, float, float]]:
    """Parts, their owner ids, the raw label of every owner id >= 0, and the floor colour.

    Owners 0..n_walls-1 are the walls, then the floor, then annotated objects; clutter parts get
    distinct negative owners (no segGroup).
    """
    walls = wall_sheets(layout.shape, _pick(rng, _WALL_COLORS))
    parts: list[Part] = list(walls)
    owners = list(range(len(walls)))
    labels = ["wall"] * len(walls)
    floor_owner = len(labels)
    labels.append("floor")
    clutter = 0
    for obj in layout.objects:
        if obj.raw_category is None:
            clutter += 1
            owner = -clutter
        else:
            owner = len(labels)
            labels.append(obj.raw_category)
        parts.extend(obj.parts)
        owners.extend([owner] * len(obj.parts))
    owners.append(floor_owner)
    return parts, owners, labels, _pick(rng, _FLOOR_COLORS)


def generate_scene(scene_index: int, seed: int, *, vertex_spacing: float = 0.03) -> SyntheticScene:
    """Generate synthetic room ``scene_index`` of dataset ``seed``.

    The room kind cycles with the index (``ROOM_TYPES[(scene_index + seed) % 6]``), so any six
    consecutive scenes contain a bedroom, office, living room, kitchen, bathroom and conference
    room. Everything is drawn from ``np.random.SeedSequence([seed, scene_index])``: its first
    child stream draws the layout (so the objects do not depend on ``vertex_spacing``), its
    second the mesh details (segment tile size, noise, colours). Identical arguments give
    identical arrays.

    Args:
        scene_index: 0..999; the scene id is ``scene{9000 + scene_index}_00``.
        seed: dataset seed, >= 0.
        vertex_spacing: grid spacing of every surface, metres (0.01..0.2; default 3 cm).

    Returns:
        The scene's mesh, over-segmentation and ground truth.

    Raises:
        ConfigError: an argument is out of range.
    """
    _check_arguments(scene_index, seed, vertex_spacing)
    layout_seq, mesh_seq = np.random.SeedSequence([seed, scene_index]).spawn(2)
    layout_rng, rng = np.random.default_rng(layout_seq), np.random.default_rng(mesh_seq)
    room_type = ROOM_TYPES[(scene_index + seed) % len(ROOM_TYPES)]
    layout = generate_layout(room_type, layout_rng)

    parts, owners, labels, floor_color = _assemble(layout, rng)
    tile = int(rng.integers(6, 11))
    mesh = build_mesh(
        layout.shape, parts, owners, spacing=vertex_spacing, tile=tile, floor_color=floor_color
    )
    seg_labels = over_segment(mesh.points, mesh.tile, mesh.owner, spacing=vertex_spacing)
    owner = mesh.owner.copy()
    n_walls = len(layout.shape.walls())
    if rng.random() < 0.35:
        # Leave one wall patch unannotated, as annotators sometimes do.
        wall_segs = np.unique(seg_labels[(owner >= 0) & (owner < n_walls)])
        if len(wall_segs):
            chosen = wall_segs[int(rng.integers(len(wall_segs)))]
            owner[seg_labels == chosen] = int(owner.min(initial=0)) - 1
    segments = segment_ids_from_labels(seg_labels)

    # Compact objectIds over the owners that kept vertices, in owner order.
    present = np.unique(owner[owner >= 0])
    object_of_owner = np.full(len(labels), -1, dtype=np.int64)
    object_of_owner[present] = np.arange(len(present))
    instance_ids = np.where(owner >= 0, object_of_owner[np.maximum(owner, 0)], -1)
    nyu_of_owner = np.array([nyu40_of(name) for name in labels], dtype=np.int64)
    nyu40 = np.where(owner >= 0, nyu_of_owner[np.maximum(owner, 0)], 0)

    grouped = instance_ids >= 0
    # Distinct (objectId, segment id) pairs, sorted, via one integer key per vertex.
    stride = np.int64(len(segments) + 1)
    keys = np.unique(instance_ids[grouped] * stride + segments[grouped])
    pairs = np.stack([keys // stride, keys % stride], axis=1)
    bounds = np.searchsorted(pairs[:, 0], np.arange(len(present) + 1))
    objects = tuple(
        SyntheticObject(
            object_id=k,
            raw_category=labels[int(present[k])],
            nyu40_id=int(nyu_of_owner[present[k]]),
            segments=tuple(int(s) for s in pairs[bounds[k] : bounds[k + 1], 1]),
        )
        for k in range(len(present))
    )

    sigma = float(rng.uniform(0.003, 0.005))
    vertices = (mesh.points + rng.normal(0.0, sigma, size=mesh.points.shape)).astype(np.float32)
    azimuth = float(rng.uniform(0, 2 * np.pi))
    elevation = float(rng.uniform(np.radians(35), np.radians(70)))
    light = np.array(
        [
            np.cos(elevation) * np.cos(azimuth),
            np.cos(elevation) * np.sin(azimuth),
            np.sin(elevation),
        ]
    )
    colors = shade_colors(mesh.base_color, mesh.normals, rng, light=light)
    return SyntheticScene(
        scene_id=scene_id_for(scene_index),
        vertices=vertices,
        colors=colors,
        faces=mesh.faces.astype(np.int64),
        segments=segments,
        nyu40=nyu40.astype(np.int64),
        instance_ids=instance_ids.astype(np.int64),
        objects=objects,
        room_type=room_type,
    )
