"""ScanNet ``segs.json`` files, and segmenting a ``.ply`` file into one (``dknet segment``)."""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from dknet.errors import ConfigError, InvalidPointCloudError
from dknet.io.atomic import atomic_write_text
from dknet.io.ply import read_ply
from dknet.io.scannet import _read_segments
from dknet.segmentation.mesh import K_THRESHOLD, MIN_VERTICES, segment_mesh
from dknet.segmentation.points import K_NEIGHBORS, segment_points

__all__ = [
    "GRAPHS",
    "SegmentationResult",
    "read_segs_json",
    "scene_id_from_mesh",
    "segment_ply",
    "segs_json_path",
    "write_segs_json",
]

logger = logging.getLogger(__name__)

Graph = Literal["auto", "mesh", "knn"]
#: Graph choices of :func:`segment_ply`.
GRAPHS: tuple[str, ...] = ("auto", "mesh", "knn")

#: Mesh-name endings of ScanNet scenes, removed to get the ``sceneId``.
_SCANNET_MESH_ENDINGS = ("_vh_clean_2", "_vh_clean")


def read_segs_json(path: str | os.PathLike[str]) -> np.ndarray:
    """Read the ``segIndices`` of a ScanNet ``segs.json`` file.

    Args:
        path: a ``*.segs.json`` file (``{"params": ..., "sceneId": ..., "segIndices": [...]}``;
            only ``segIndices`` is read).

    Returns:
        (N,) int64 segment id per mesh vertex, raw (e.g. root vertex ids; see
        :func:`compact_segments`).

    Raises:
        DatasetLayoutError: the file is missing, unreadable, not JSON, or has no integer list
            ``segIndices``.
    """
    # dknet.io.scannet already reads this file for preprocessing; one reader, one set of errors.
    return _read_segments(Path(path))


def scene_id_from_mesh(path: str | os.PathLike[str]) -> str:
    """The scene id of a mesh file: its stem without ScanNet's ``_vh_clean_2``/``_vh_clean``.

    ``scans/scene0000_00/scene0000_00_vh_clean_2.ply`` gives ``scene0000_00``; other names give
    their stem.
    """
    stem = Path(path).stem
    for ending in _SCANNET_MESH_ENDINGS:
        if stem.endswith(ending) and len(stem) > len(ending):
            return stem[: -len(ending)]
    return stem


def segs_json_path(mesh_path: str | os.PathLike[str], *, k_threshold: float = K_THRESHOLD) -> Path:
    """Where ScanNet's tool writes the segmentation of ``mesh_path``.

    The mesh path without its last extension, then ``.<k>.segs.json`` with ``k`` printed as C's
    ``%f`` prints the float32 value: ``scene0000_00_vh_clean_2.ply`` with ``k = 0.01`` gives
    ``scene0000_00_vh_clean_2.0.010000.segs.json`` beside the mesh.
    """
    mesh = Path(mesh_path)
    return mesh.with_name(f"{mesh.stem}.{float(np.float32(k_threshold)):f}.segs.json")


def write_segs_json(
    path: str | os.PathLike[str],
    seg_indices: Any,
    *,
    scene_id: str | None = None,
    k_threshold: float = K_THRESHOLD,
    min_vertices: int = MIN_VERTICES,
    extra_params: dict[str, Any] | None = None,
) -> Path:
    """Write a ScanNet ``segs.json`` file atomically.

    The layout is the one ScanNet's tool writes, on one line:
    ``{"params":{"kThresh":0.01,"segMinVerts":20},"sceneId":"scene0000_00","segIndices":[...]}``.

    Args:
        path: output file; its folder is created if needed; an existing file is replaced.
        seg_indices: (N,) integer segment id per vertex (written as given, e.g. raw root ids).
        scene_id: the ``sceneId`` value; default :func:`scene_id_from_mesh` of ``path`` with
            everything from its first ``.`` removed.
        k_threshold: written as ``params.kThresh``.
        min_vertices: written as ``params.segMinVerts``.
        extra_params: more ``params`` entries (JSON values), e.g. for the k-NN variant.

    Returns:
        The path written.

    Raises:
        InvalidPointCloudError: ``seg_indices`` is not a 1-D integer array.
    """
    ids = np.asarray(seg_indices)
    if ids.ndim != 1 or (ids.dtype.kind not in "iu" and ids.size):
        raise InvalidPointCloudError(
            f"segment ids must be a 1-D integer array, got shape {ids.shape} dtype {ids.dtype}"
        )
    target = Path(path)
    if scene_id is None:
        scene_id = scene_id_from_mesh(target.name.split(".", 1)[0])
    params: dict[str, Any] = {"kThresh": float(k_threshold), "segMinVerts": int(min_vertices)}
    params.update(extra_params or {})
    head = json.dumps({"params": params, "sceneId": scene_id}, separators=(",", ":"))
    body = ",".join(map(str, ids.astype(np.int64).tolist()))
    atomic_write_text(target, f'{head[:-1]},"segIndices":[{body}]}}')
    return target


@dataclass(frozen=True)
class SegmentationResult:
    """What :func:`segment_ply` did.

    Attributes:
        path: the ``segs.json`` file written.
        num_vertices: vertices (points) segmented.
        num_segments: distinct segments.
        graph: "mesh" (ScanNet's algorithm over the faces) or "knn" (point-cloud variant).
        seconds: wall time of the segmentation itself (reading and writing excluded).
    """

    path: Path
    num_vertices: int
    num_segments: int
    graph: str
    seconds: float


def segment_ply(
    mesh_path: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    overwrite: bool = False,
    graph: Graph = "auto",
    k_threshold: float = K_THRESHOLD,
    min_vertices: int = MIN_VERTICES,
    k_neighbors: int = K_NEIGHBORS,
) -> SegmentationResult:
    """Over-segment a ``.ply`` mesh (or point cloud) and write a ScanNet ``segs.json``.

    Args:
        mesh_path: the ``.ply`` file (read with :func:`dknet.io.ply.read_ply`).
        out: output file; default :func:`segs_json_path` (beside the mesh, ScanNet's name).
        overwrite: replace an existing output file (otherwise it is an error).
        graph: "mesh": :func:`segment_mesh` over the faces (an error if there are none);
            "knn": :func:`segment_points` with PCA normals, ignoring any faces; "auto": "mesh"
            when the file has faces, else "knn" (logged as a warning).
        k_threshold: ``k`` of the threshold ``w + k / size`` (ScanNet: 0.01).
        min_vertices: minimum segment size (ScanNet: 20).
        k_neighbors: graph degree of the "knn" variant.

    Returns:
        A :class:`SegmentationResult`.

    Raises:
        ConfigError: the output exists and ``overwrite`` is False, the output is a folder, or a
            parameter is out of range.
        InvalidPointCloudError: the file is unreadable or malformed, or "mesh" was asked of a
            file without faces.
    """
    if graph not in GRAPHS:
        raise ConfigError(f"graph must be one of {', '.join(GRAPHS)}, got {graph!r}")
    mesh = Path(mesh_path)
    target = Path(out) if out is not None else segs_json_path(mesh, k_threshold=k_threshold)
    if target.is_dir():
        raise ConfigError(f"{target}: output is a folder; give a file name")
    if target.exists() and not overwrite:
        raise ConfigError(f"{target}: already exists", hint="pass --overwrite to replace it")
    cloud = read_ply(mesh)
    has_faces = cloud.faces is not None and cloud.faces.shape[0] > 0
    if graph == "mesh" and not has_faces:
        raise InvalidPointCloudError(
            f"{mesh}: has no faces, so it cannot be segmented over mesh edges",
            hint="use --graph knn (or auto) to segment it as a point cloud",
        )
    used = "mesh" if graph == "mesh" or (graph == "auto" and has_faces) else "knn"
    if graph == "auto" and used == "knn":
        logger.warning(
            "%s has no faces: segmenting its points over a %d-nearest-neighbour graph with PCA "
            "normals instead of ScanNet's mesh graph",
            mesh,
            k_neighbors,
        )
    start = time.perf_counter()
    extra: dict[str, Any] = {}
    if used == "mesh":
        seg = segment_mesh(
            cloud.coords, cloud.faces, k_threshold=k_threshold, min_vertices=min_vertices
        )
    else:
        seg = segment_points(
            cloud.coords,
            k_neighbors=k_neighbors,
            k_threshold=k_threshold,
            min_vertices=min_vertices,
        )
        extra = {"graph": "knn", "kNeighbors": int(k_neighbors)}
    seconds = time.perf_counter() - start
    write_segs_json(
        target,
        seg,
        scene_id=scene_id_from_mesh(mesh),
        k_threshold=k_threshold,
        min_vertices=min_vertices,
        extra_params=extra,
    )
    return SegmentationResult(
        path=target,
        num_vertices=int(seg.shape[0]),
        num_segments=int(np.unique(seg).size),
        graph=used,
        seconds=seconds,
    )
