"""One synthetic ScanNet-like room with exact ground truth: :func:`generate_scene`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dknet.errors import ConfigError
from dknet.labels import INSTANCE_NYU40_IDS
from dknet.segmentation import segment_mesh

from .contents import generate_scan_layout
from .labels_table import nyu40_of
from .mesh import RawMesh, build_mesh, shade_colors, wall_sheets
from .options import SynthOptions
from .room import ROOM_TYPES, RoomLayout, RoomShape, generate_layout
from .scan import (
    annotation_gaps,
    ceiling_fragments,
    deform,
    draw,
    object_share_ceiling,
    recolor,
    scan_colors,
    scanner_visibility,
    stitch_faces,
)
from .segments import (
    MIN_SEGMENT_VERTICES,
    _absorb_leftovers,
    over_segment,
    segment_ids_from_labels,
)
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

#: segs.json ``method`` of scan-like scenes.
SCAN_SEGMENTATION = "ScanNet Segmentator (dknet.segmentation.segment_mesh, kThresh 0.01)"
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
        axis_alignment: (4, 4) float64 ScanNet ``axisAlignment`` (maps the vertices to a level,
            axis-aligned room frame), or None for the identity (clean preset).
        draws: option name -> values drawn for this scene (scan preset; empty for clean), so
            every randomisation range can be checked.
        segmentation: how ``segments`` were made (written as the segs.json ``method``).
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
    axis_alignment: np.ndarray | None = None
    draws: dict[str, list[float]] = field(default_factory=dict)
    segmentation: str = "dknet.synth grid tiles"

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


def _unannotated_wall_patch(
    owner: np.ndarray,
    seg_labels: np.ndarray,
    n_walls: int,
    rng: np.random.Generator,
    probability: float,
) -> np.ndarray:
    """A copy of ``owner`` where, with ``probability``, one wall segment belongs to no group."""
    owner = owner.copy()
    if rng.random() < probability:
        # Leave one wall patch unannotated, as annotators sometimes do.
        wall_segs = np.unique(seg_labels[(owner >= 0) & (owner < n_walls)])
        if len(wall_segs):
            chosen = wall_segs[int(rng.integers(len(wall_segs)))]
            owner[seg_labels == chosen] = int(owner.min(initial=0)) - 1
    return owner


def _resolve_straddlers(
    owner: np.ndarray, segments: np.ndarray, mode: str, points: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Make annotations (unions of segments) out of segments that may straddle objects.

    Args:
        owner: (V,) int64 owner each vertex was sampled from.
        segments: (V,) int64 segment id per vertex (any ids).
        mode: "split" cuts every straddling segment at the owners' borders (each piece is a
            segment, named by its lowest vertex; the ground truth stays exact); "majority"
            gives the whole segment to the owner of most of its vertices, as an annotator
            painting segments does (labels then follow segments, not sampled objects);
            "unannotated" leaves straddling segments out of every group (exact, but walls
            bridged to a picture lose their label).
        points: (V, 3) vertex positions, metres ("split" merges pieces below
            ``MIN_SEGMENT_VERTICES`` into the nearest large segment of their owner, as ScanNet's
            small-segment pass would have within one object).

    Returns:
        (owner, segments) to annotate and write.
    """
    seg = np.unique(segments, return_inverse=True)[1].reshape(-1)
    codes, own = np.unique(owner, return_inverse=True)
    own = own.reshape(-1)
    pair = seg * np.int64(len(codes)) + own
    keys, pair_index, counts = np.unique(pair, return_inverse=True, return_counts=True)
    pair_seg = keys // len(codes)
    # Majority owner per segment: the pair with most vertices (ties: the lower owner code).
    order = np.lexsort((keys % len(codes), -counts, pair_seg))
    first = np.ones(len(order), dtype=bool)
    first[1:] = pair_seg[order][1:] != pair_seg[order][:-1]
    majority = np.empty(int(seg.max(initial=-1)) + 1, dtype=np.int64)
    majority[pair_seg[order][first]] = (keys % len(codes))[order][first]
    mixed_seg = np.bincount(pair_seg, minlength=len(majority)) > 1
    if mode == "split":
        pieces = _absorb_leftovers(
            points.astype(np.float64), pair_index.reshape(-1), owner, MIN_SEGMENT_VERTICES
        )
        return owner, segment_ids_from_labels(pieces)
    if mode == "majority":
        return codes[majority[seg]], segments
    out = owner.copy()
    mixed = mixed_seg[seg]
    out[mixed] = -2_000_000 - seg[mixed]
    return out, segments


def _ground_truth(
    owner: np.ndarray, segments: np.ndarray, labels: list[str]
) -> tuple[np.ndarray, np.ndarray, tuple[SyntheticObject, ...]]:
    """(instance_ids, nyu40, objects) from per-vertex owners and segment ids."""
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

    return instance_ids.astype(np.int64), nyu40.astype(np.int64), objects


def generate_scene(
    scene_index: int,
    seed: int,
    *,
    vertex_spacing: float = 0.03,
    options: SynthOptions | None = None,
) -> SyntheticScene:
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
        vertex_spacing: grid spacing, metres (0.01..0.2; default 3 cm). The clean preset samples
            every surface at this spacing; the scan preset scales it per surface
            (``GeometryOptions.*_spacing``).
        options: the randomisation ranges (default: the scan-like preset, ``SynthOptions()``);
            ``preset_options("clean")`` gives the original noise-free rooms.

    Returns:
        The scene's mesh, over-segmentation and ground truth.

    Raises:
        ConfigError: an argument is out of range.
    """
    _check_arguments(scene_index, seed, vertex_spacing)
    options = (options or SynthOptions()).validate()
    layout_seq, mesh_seq = np.random.SeedSequence([seed, scene_index]).spawn(2)
    layout_rng, rng = np.random.default_rng(layout_seq), np.random.default_rng(mesh_seq)
    room_type = ROOM_TYPES[(scene_index + seed) % len(ROOM_TYPES)]
    if options.scan_like:
        scene, _ = _generate_scan_scene(
            scene_index, room_type, layout_rng, rng, vertex_spacing, options
        )
        return scene
    layout = generate_layout(room_type, layout_rng)

    parts, owners, labels, floor_color = _assemble(layout, rng)
    tile = int(rng.integers(6, 11))
    mesh = build_mesh(
        layout.shape, parts, owners, spacing=vertex_spacing, tile=tile, floor_color=floor_color
    )
    seg_labels = over_segment(mesh.points, mesh.tile, mesh.owner, spacing=vertex_spacing)
    n_walls = len(layout.shape.walls())
    owner = _unannotated_wall_patch(mesh.owner, seg_labels, n_walls, rng, 0.35)
    segments = segment_ids_from_labels(seg_labels)
    instance_ids, nyu40, objects = _ground_truth(owner, segments, labels)

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
        nyu40=nyu40,
        instance_ids=instance_ids,
        objects=objects,
        room_type=room_type,
    )


def _scan_parts(
    layout: RoomLayout,
    rng: np.random.Generator,
    options: SynthOptions,
    draws: dict[str, list[float]],
) -> tuple[list[Part], list[int], list[str], tuple[float, float, float], np.ndarray, list[int]]:
    """Parts, owners and labels of a scan-like room, like :func:`_assemble`, plus ceiling
    fragments (unannotated), the (P,) bool ceiling flags and each part's object index (walls
    and ceiling fragments: -1)."""
    recolored, wall_color, floor_color = recolor(layout, rng, options.color, draws)
    walls = wall_sheets(layout.shape, wall_color)
    parts: list[Part] = list(walls)
    owners = list(range(len(walls)))
    objects_of_part = [-1] * len(walls)
    labels = ["wall"] * len(walls)
    floor_owner = len(labels)
    labels.append("floor")
    clutter = 0
    for k, (obj, obj_parts) in enumerate(zip(layout.objects, recolored, strict=True)):
        if obj.raw_category is None:
            clutter += 1
            owner = -clutter
        else:
            owner = len(labels)
            labels.append(obj.raw_category)
        parts.extend(obj_parts)
        owners.extend([owner] * len(obj_parts))
        objects_of_part.extend([k] * len(obj_parts))
    slabs = ceiling_fragments(layout.shape, rng, options.geometry, draws)
    for slab in slabs:
        clutter += 1
        parts.append(slab)
        owners.append(-clutter)
        objects_of_part.append(-1)
    ceiling = np.zeros(len(parts), dtype=bool)
    ceiling[len(parts) - len(slabs) :] = True
    owners.append(floor_owner)
    return parts, owners, labels, floor_color, ceiling, objects_of_part


def _generate_scan_scene(
    scene_index: int,
    room_type: str,
    layout_rng: np.random.Generator,
    rng: np.random.Generator,
    vertex_spacing: float,
    options: SynthOptions,
) -> tuple[SyntheticScene, ScanSources]:
    """The scan-like preset's scene (see :mod:`dknet.synth.scan` for the stages) and where each
    of its vertices came from."""
    geo = options.geometry
    draws: dict[str, list[float]] = {}
    layout, _ = generate_scan_layout(room_type, layout_rng, options.contents, draws)
    shape = layout.shape
    draws["room_side"] = [max(shape.width, shape.depth)]
    draws["room_height"] = [shape.height]
    parts, owners, labels, floor_color, ceiling, objects_of_part = _scan_parts(
        layout, rng, options, draws
    )
    n_walls = len(shape.walls())
    wall_step = vertex_spacing * draw(rng, draws, "wall_spacing", geo.wall_spacing)
    object_steps = [
        vertex_spacing * draw(rng, draws, "object_spacing", geo.object_spacing)
        for _ in layout.objects
    ]
    part_spacing = [wall_step if k < 0 else object_steps[k] for k in objects_of_part]
    mesh = build_mesh(
        shape,
        parts,
        owners,
        spacing=vertex_spacing,
        tile=int(rng.integers(12, 17)),
        floor_color=floor_color,
        part_spacing=part_spacing,
        up_factor=draw(rng, draws, "up_facing_spacing", geo.up_facing_spacing),
        floor_spacing=vertex_spacing * draw(rng, draws, "floor_spacing", geo.floor_spacing),
        jitter=geo.in_plane_jitter,
        rng=rng,
    )
    keep, covered = scanner_visibility(
        mesh,
        parts,
        shape,
        num_walls=n_walls,
        ceiling_parts=ceiling,
        rng=rng,
        gopts=geo,
        draws=draws,
    )
    mesh, kept = mesh.subset(keep)
    bright = np.array([o for o, name in enumerate(labels) if name == "window"], dtype=np.int64)
    colors = scan_colors(
        mesh,
        shape,
        covered=covered[kept],
        bright_owners=bright,
        rng=rng,
        copts=options.color,
        draws=draws,
    )
    vertices, alignment = deform(mesh.points, mesh.normals, shape, rng=rng, gopts=geo, draws=draws)
    bridges = stitch_faces(mesh.points, mesh.faces, mesh.part, radius=1.5 * vertex_spacing)
    faces = np.concatenate([mesh.faces, bridges])
    # ScanNet's own over-segmentation of the welded mesh: segments may straddle objects.
    segments = segment_mesh(vertices, faces).astype(np.int64)
    owner, segments = _resolve_straddlers(
        mesh.owner, segments, options.contents.straddling_segments, vertices
    )
    seg_labels = np.unique(segments, return_inverse=True)[1].reshape(-1)
    owner = _unannotated_wall_patch(
        owner, seg_labels, n_walls, rng, options.contents.unlabelled_wall_patch_probability
    )
    owner = annotation_gaps(
        owner, seg_labels, rng=rng, share_range=options.contents.annotation_gap, draws=draws
    )
    object_owners = np.array([nyu40_of(name) in INSTANCE_NYU40_IDS for name in labels], bool)
    owner = object_share_ceiling(
        owner,
        seg_labels,
        object_owners,
        rng=rng,
        share_range=options.contents.object_share,
        draws=draws,
    )
    instance_ids, nyu40, objects = _ground_truth(owner, segments, labels)
    sources = ScanSources(mesh=mesh, parts=parts, owners=owners, labels=labels, shape=shape)
    scene = SyntheticScene(
        scene_id=scene_id_for(scene_index),
        vertices=vertices,
        colors=colors,
        faces=faces,
        segments=segments,
        nyu40=nyu40,
        instance_ids=instance_ids,
        objects=objects,
        room_type=room_type,
        axis_alignment=alignment,
        draws=draws,
        segmentation=SCAN_SEGMENTATION,
    )
    return scene, sources


@dataclass(frozen=True, eq=False)
class ScanSources:
    """Where the vertices of a scan-like scene came from (for tests of exact ground truth).

    Attributes:
        mesh: the kept mesh before deformation (room coordinates); ``mesh.part`` indexes
            ``parts`` (``len(parts)``: the floor) and ``mesh.owner`` the owners.
        parts: every primitive of the room.
        owners: owner id per part, then the floor's.
        labels: raw category per owner id >= 0.
        shape: the room.
    """

    mesh: RawMesh
    parts: list[Part]
    owners: list[int]
    labels: list[str]
    shape: RoomShape


def scan_scene_with_sources(
    scene_index: int,
    seed: int,
    *,
    vertex_spacing: float = 0.03,
    options: SynthOptions | None = None,
) -> tuple[SyntheticScene, ScanSources]:
    """:func:`generate_scene` for the scan preset, plus the undeformed mesh and its parts.

    Raises:
        ConfigError: an argument is out of range or ``options`` is the clean preset.
    """
    _check_arguments(scene_index, seed, vertex_spacing)
    options = (options or SynthOptions()).validate()
    if not options.scan_like:
        raise ConfigError("scan_scene_with_sources needs the scan preset")
    layout_seq, mesh_seq = np.random.SeedSequence([seed, scene_index]).spawn(2)
    room_type = ROOM_TYPES[(scene_index + seed) % len(ROOM_TYPES)]
    return _generate_scan_scene(
        scene_index,
        room_type,
        np.random.default_rng(layout_seq),
        np.random.default_rng(mesh_seq),
        vertex_spacing,
        options,
    )
