"""Superpoints: ScanNet's mesh over-segmentation and a point-cloud variant (``dknet segment``).

:func:`segment_mesh` reproduces ScanNet's ``Segmentator`` (the ``*.0.010000.segs.json`` files
ScanNet ships); :func:`segment_points` runs the same passes over a k-nearest-neighbour graph
for clouds without faces. numpy and Numba only; Numba is imported on the first segmentation::

    from dknet.segmentation import segment_mesh, compact_segments, write_segs_json
    seg = segment_mesh(vertices, faces)          # raw root vertex ids, as ScanNet writes them
    superpoints = compact_segments(seg)          # 0..K-1
    write_segs_json("scene.0.010000.segs.json", seg, scene_id="scene")
"""

from __future__ import annotations

from dknet.segmentation.files import (
    GRAPHS,
    SegmentationResult,
    read_segs_json,
    scene_id_from_mesh,
    segment_ply,
    segs_json_path,
    write_segs_json,
)
from dknet.segmentation.mesh import (
    K_THRESHOLD,
    MIN_VERTICES,
    compact_segments,
    directed_edge_weights,
    mesh_edges,
    segment_mesh,
)
from dknet.segmentation.points import (
    K_NEIGHBORS,
    NORMAL_NEIGHBORS,
    estimate_normals,
    knn_graph,
    segment_points,
)

__all__ = [
    "GRAPHS",
    "K_NEIGHBORS",
    "K_THRESHOLD",
    "MIN_VERTICES",
    "NORMAL_NEIGHBORS",
    "SegmentationResult",
    "compact_segments",
    "directed_edge_weights",
    "estimate_normals",
    "knn_graph",
    "mesh_edges",
    "read_segs_json",
    "scene_id_from_mesh",
    "segment_mesh",
    "segment_ply",
    "segment_points",
    "segs_json_path",
    "write_segs_json",
]
