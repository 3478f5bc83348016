"""How far generated scenes are from real ScanNet scans: the statistics of ``REAL_SCANS.md``.

:func:`scene_statistics` measures one labelled scene (any ScanNet-layout scene, real or
synthetic); :func:`dataset_report` measures every labelled scene under a dataset root and sets the
results beside :data:`REAL_RANGES`, the ranges measured on real ScanNet v2 scans (see the project's
``REAL_SCANS.md``). ``dknet synth --report DIR`` prints that table.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from dknet.labels import INSTANCE_NYU40_IDS, SEMANTIC_NYU40_IDS

from .scan import apply_linear

__all__ = [
    "RealRange",
    "REAL_RANGES",
    "SceneStatistics",
    "ReportRow",
    "scene_statistics",
    "dataset_statistics",
    "dataset_report",
]

logger = logging.getLogger(__name__)

_WALL, _FLOOR, _WINDOW = 1, 2, 9
#: Voxel edge of the "points per occupied voxel" statistic, metres.
VOXEL_SIZE = 0.02
#: At most this many points enter the nearest-neighbour and plane fits (random, seeded).
_MAX_FIT_POINTS = 60_000


@dataclass(frozen=True)
class SceneStatistics:
    """The REAL_SCANS.md statistics of one labelled scene.

    Attributes:
        scene_id: the scene's id.
        num_vertices: mesh vertices.
        short_side, long_side: floor extents after levelling and axis alignment, metres
            (0.5..99.5 % quantiles of all vertices).
        height: vertical extent above the fitted floor (99.9 % quantile), metres.
        nn_spacing_cm: median distance of a vertex to its nearest other vertex, cm.
        points_per_voxel: vertices per occupied 2 cm voxel.
        wall_share, floor_share: share of vertices labelled wall (nyu40 1) / floor (2), %.
        unlabelled_share: share of vertices outside the 20 benchmark classes (semantic
            ignore: no group, unmapped or non-benchmark class), %.
        object_share: share of vertices on the 18 instance classes, %.
        floor_tilt_deg: angle between the fitted floor plane's normal and +z, degrees (NaN
            without floor).
        floor_residual_cm: 99th percentile of |distance to the fitted floor plane|, cm.
        window_grey: mean grey level (0..255) of window vertices (NaN without windows).
        num_instances: instances of the 18 classes with >= 100 vertices.
        median_instance_vertices: median vertices of those instances (NaN without any).
        rgb_mean, rgb_std: mean and standard deviation of all colour values (0..255).
        num_segments: over-segments (NaN without a segments file).
        vertices_per_segment: vertices / segments (NaN without a segments file).
    """

    scene_id: str
    num_vertices: int
    short_side: float
    long_side: float
    height: float
    nn_spacing_cm: float
    points_per_voxel: float
    wall_share: float
    floor_share: float
    unlabelled_share: float
    object_share: float
    floor_tilt_deg: float
    floor_residual_cm: float
    window_grey: float
    num_instances: int
    median_instance_vertices: float
    rgb_mean: float
    rgb_std: float
    num_segments: float
    vertices_per_segment: float


@dataclass(frozen=True)
class RealRange:
    """The range of one statistic on real ScanNet scans.

    Attributes:
        key: the :class:`SceneStatistics` field.
        name: what the report calls it.
        low, high: the real range (inclusive).
        source: the REAL_SCANS.md row it comes from.
    """

    key: str
    name: str
    low: float
    high: float
    source: str


#: Real ranges of REAL_SCANS.md ("real ScanNet (3 scenes)" column). Where the document gives a
#: single value ("about 15 %", "about 175", "668 segments for 81k vertices") the range is that
#: value with the stated margin.
REAL_RANGES: tuple[RealRange, ...] = (
    RealRange("num_vertices", "vertices per scene", 81_000, 239_000, "vertices per scene"),
    RealRange("short_side", "room short side (m)", 5.8, 8.4, "room extent 5.8 x 8.2 .. 8.4 x 8.7"),
    RealRange("long_side", "room long side (m)", 8.2, 8.7, "room extent 5.8 x 8.2 .. 8.4 x 8.7"),
    RealRange("height", "room height (m)", 2.5, 3.0, "room extent: height 2.5 - 3.0"),
    RealRange("nn_spacing_cm", "median NN spacing (cm)", 1.24, 2.9, "nearest-neighbour spacing"),
    RealRange("points_per_voxel", "points per 2 cm voxel", 1.02, 1.46, "per occupied 2 cm voxel"),
    RealRange("wall_share", "vertices on walls (%)", 10.0, 20.0, "walls: about 15 % (+-5)"),
    RealRange("floor_tilt_deg", "floor tilt (deg)", 0.0, 2.0, "tilted up to about 1.2 degrees"),
    RealRange("floor_residual_cm", "floor residual p99 (cm)", 0.5, 5.0, "+-5 cm around the plane"),
    RealRange("window_grey", "window grey (0-255)", 150.0, 200.0, "windows: grey about 175"),
    RealRange("unlabelled_share", "unlabelled vertices (%)", 17.0, 31.0, "no semantic label"),
    RealRange("object_share", "benchmark-object vertices (%)", 40.0, 45.0, "on benchmark objects"),
    RealRange("num_instances", "instances (18 classes, >=100 v)", 23, 26, "instances per scene"),
    RealRange(
        "median_instance_vertices", "median vertices per instance", 600, 3500, "per instance"
    ),
    RealRange("rgb_mean", "RGB mean (0-255)", 90.0, 109.0, "RGB mean"),
    RealRange("rgb_std", "RGB standard deviation", 59.0, 67.0, "RGB standard deviation"),
    RealRange(
        "vertices_per_segment", "vertices per segment", 80.0, 160.0, "668 segments for 81k: ~121"
    ),
)


def _fit_plane(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(centroid, unit normal with n_z >= 0) of the least-squares plane through ``points``."""
    centre = points.mean(axis=0)
    _, _, vt = np.linalg.svd(points - centre, full_matrices=False)
    normal = vt[2]
    if normal[2] < 0:
        normal = -normal
    return centre, normal


def _levelling(normal: np.ndarray) -> np.ndarray:
    """(3, 3) rotation taking ``normal`` to +z (Rodrigues)."""
    z = np.array([0.0, 0.0, 1.0])
    v = np.cross(normal, z)
    s, c = float(np.linalg.norm(v)), float(normal @ z)
    if s < 1e-12:
        return np.eye(3)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]]) / s
    return np.eye(3) + s * k + (1 - c) * (k @ k)


def scene_statistics(
    scene_id: str,
    coords: np.ndarray,
    colors: np.ndarray,
    nyu40: np.ndarray,
    object_ids: np.ndarray,
    *,
    segments: np.ndarray | None = None,
    axis_alignment: np.ndarray | None = None,
) -> SceneStatistics:
    """Measure one labelled scene.

    Args:
        scene_id: the scene's id (copied into the result).
        coords: (N, 3) float, metres, as stored in the mesh.
        colors: (N, 3) uint8 RGB.
        nyu40: (N,) int nyu40 id per vertex, 0 for unannotated.
        object_ids: (N,) int group (objectId) per vertex, -1 for none.
        segments: (N,) int over-segment id per vertex, or None.
        axis_alignment: (4, 4) ScanNet ``axisAlignment`` (yaw of the room), or None.

    Returns:
        The statistics; see :class:`SceneStatistics` for units.
    """
    coords = np.asarray(coords, dtype=np.float64)
    n = len(coords)
    rng = np.random.default_rng(0)
    if axis_alignment is not None:
        coords = apply_linear(coords, axis_alignment[:3, :3]) + axis_alignment[:3, 3]
    floor = nyu40 == _FLOOR
    tilt, residual = float("nan"), float("nan")
    levelled = coords
    floor_z = float(coords[:, 2].min()) if n else 0.0
    if floor.sum() >= 3:
        pts = coords[floor]
        if len(pts) > _MAX_FIT_POINTS:
            pts = pts[rng.choice(len(pts), _MAX_FIT_POINTS, replace=False)]
        centre, normal = _fit_plane(pts)
        tilt = float(np.degrees(np.arccos(np.clip(normal[2], -1.0, 1.0))))
        residual = 100.0 * float(
            np.percentile(np.abs(apply_linear(pts - centre, normal[None])), 99)
        )
        levelled = apply_linear(coords - centre, _levelling(normal))
        floor_z = 0.0
    lo = np.percentile(levelled[:, :2], 0.5, axis=0)
    hi = np.percentile(levelled[:, :2], 99.5, axis=0)
    sides = np.sort(hi - lo)
    height = float(np.percentile(levelled[:, 2], 99.9)) - floor_z

    sample = coords if n <= _MAX_FIT_POINTS else coords[rng.choice(n, _MAX_FIT_POINTS, False)]
    dist, _ = cKDTree(coords).query(sample, k=2)
    voxels = np.unique(np.floor(coords / VOXEL_SIZE).astype(np.int64), axis=0)

    semantic = np.isin(nyu40, SEMANTIC_NYU40_IDS)
    is_object = np.isin(nyu40, INSTANCE_NYU40_IDS) & (object_ids >= 0)
    _, counts = np.unique(object_ids[is_object], return_counts=True)
    big = counts[counts >= 100]
    window = nyu40 == _WINDOW
    grey = colors.astype(np.float64).mean(axis=1)
    num_segments = float(len(np.unique(segments))) if segments is not None else float("nan")
    return SceneStatistics(
        scene_id=scene_id,
        num_vertices=n,
        short_side=float(sides[0]),
        long_side=float(sides[1]),
        height=height,
        nn_spacing_cm=100.0 * float(np.median(dist[:, 1])),
        points_per_voxel=n / max(len(voxels), 1),
        wall_share=100.0 * float(np.mean(nyu40 == _WALL)),
        floor_share=100.0 * float(np.mean(floor)),
        unlabelled_share=100.0 * float(np.mean(~semantic)),
        object_share=100.0 * float(np.mean(is_object)),
        floor_tilt_deg=tilt,
        floor_residual_cm=residual,
        window_grey=float(grey[window].mean()) if window.any() else float("nan"),
        num_instances=len(big),
        median_instance_vertices=float(np.median(big)) if len(big) else float("nan"),
        rgb_mean=float(colors.mean()),
        rgb_std=float(colors.astype(np.float64).std()),
        num_segments=num_segments,
        vertices_per_segment=n / num_segments if segments is not None else float("nan"),
    )


def dataset_statistics(root: str | os.PathLike[str]) -> list[SceneStatistics]:
    """Measure every labelled scene under ``root`` (a ScanNet-layout dataset root).

    Test scenes (no annotations) are skipped.

    Raises:
        DatasetLayoutError: ``root`` has no scenes or no label table.
    """
    from dknet.io.scannet import find_label_table, list_scenes, read_label_table, read_scene

    root = Path(root)
    table = read_label_table(find_label_table(root))
    result = []
    for folder in list_scenes(root):
        scene = read_scene(folder, table, log_warnings=False)
        if scene.nyu40_ids is None or scene.object_ids is None:
            continue
        result.append(
            scene_statistics(
                scene.scene_id,
                scene.coords,
                scene.colors,
                scene.nyu40_ids,
                scene.object_ids,
                segments=scene.superpoints,
                axis_alignment=scene.axis_alignment,
            )
        )
    logger.info("measured %d labelled scenes under %s", len(result), root)
    return result


@dataclass(frozen=True)
class ReportRow:
    """One statistic over a set of scenes beside its real range.

    Attributes:
        name: the statistic.
        median, low, high: median, minimum and maximum over the scenes (NaN-free).
        real_low, real_high: the real range.
        inside: whether the median lies in the real range.
        source: the REAL_SCANS.md row.
    """

    name: str
    median: float
    low: float
    high: float
    real_low: float
    real_high: float
    inside: bool
    source: str


def dataset_report(stats: list[SceneStatistics]) -> list[ReportRow]:
    """Set the statistics of several scenes beside :data:`REAL_RANGES`.

    Args:
        stats: one entry per scene (at least one).

    Returns:
        One row per real range, in :data:`REAL_RANGES` order.
    """
    rows = []
    for real in REAL_RANGES:
        values = np.array([asdict(s)[real.key] for s in stats], dtype=np.float64)
        values = values[np.isfinite(values)]
        if len(values) == 0:
            med = low = high = float("nan")
        else:
            med, low, high = float(np.median(values)), float(values.min()), float(values.max())
        rows.append(
            ReportRow(
                name=real.name,
                median=med,
                low=low,
                high=high,
                real_low=real.low,
                real_high=real.high,
                inside=bool(real.low <= med <= real.high),
                source=real.source,
            )
        )
    return rows
