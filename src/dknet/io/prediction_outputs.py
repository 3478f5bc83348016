"""Files ``dknet predict`` writes per scene, all atomically and 1:1 with the input's vertices.

``<scene>.ply``
    The input's vertices (coordinates as stored) and faces, coloured by instance (unassigned
    vertices light grey), with vertex properties ``instance`` (int, -1 = none), ``label`` (ushort
    nyu40 id: the instance's class, or the vertex's semantic class when it is in no instance)
    and ``score`` (float, the instance's confidence, 0 = none). MeshLab, CloudCompare and
    Open3D show the colours; the extra properties are scalar fields in CloudCompare.
``<scene>.npz``
    ``instance`` (N,) int32, ``label`` (N,) int32 nyu40, ``score`` (N,) float32 as in the PLY;
    ``semantic`` (N,) int32 nyu40 id of every vertex's semantic prediction; ``masks`` (K, N)
    bool, ``instance_labels`` (K,) int32 nyu40, ``instance_scores`` (K,) float32.
``<scene>.json``
    Scene facts and one entry per instance: ``id`` (the ``instance`` value), ``class``,
    ``nyu40_id``, ``score``, ``num_vertices``, ``bbox_min`` / ``bbox_max`` (axis-aligned, in the
    input's coordinates).
``<scene>.png``
    Top and side views coloured by instance with a legend of classes and scores, written by
    :func:`dknet.render.render_instances` (``dknet predict --render``).
``scannet/<scene>.txt`` + ``scannet/predicted_masks/<scene>_NNN.txt``
    The benchmark's submission layout (:mod:`dknet.io.submission`).

numpy only; never imports torch.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dknet.io.atomic import atomic_path, atomic_write_bytes, atomic_write_text
from dknet.io.ids_txt import format_ids
from dknet.io.ply import write_ply
from dknet.labels import INSTANCE_NYU40_IDS, SEMANTIC_CLASS_NAMES, SEMANTIC_NYU40_IDS
from dknet.structures.instances import Instances

__all__ = [
    "SUBMISSION_FOLDER",
    "UNASSIGNED_COLOR",
    "class_name",
    "instance_colors",
    "instance_summaries",
    "output_paths",
    "vertex_fields",
    "write_prediction_json",
    "write_prediction_npz",
    "write_prediction_ply",
    "write_submission_scene",
]

#: Subfolder of the output folder holding the benchmark-format files.
SUBMISSION_FOLDER = "scannet"
#: Colour of vertices that belong to no instance.
UNASSIGNED_COLOR = (200, 200, 200)

_NAMES = dict(zip(SEMANTIC_NYU40_IDS, SEMANTIC_CLASS_NAMES, strict=True))
_SEMANTIC_TO_NYU40 = np.asarray(SEMANTIC_NYU40_IDS, dtype=np.int32)


def _shareable(path: Path) -> Path:
    # Temporary files are created private (0600); outputs are meant to be read by others.
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o666 & ~umask)
    return path


def class_name(nyu40_id: int) -> str:
    """The benchmark's name of a nyu40 id (``nyu40:<id>`` for ids outside the 20 classes)."""
    return _NAMES.get(int(nyu40_id), f"nyu40:{int(nyu40_id)}")


def output_paths(
    output_dir: str | os.PathLike[str], scene_id: str, formats: Sequence[str]
) -> dict[str, Path]:
    """Where each format's main file goes (``scannet``: the scene's ``<scene>.txt``)."""
    out = Path(output_dir)
    paths = {}
    for fmt in formats:
        if fmt == "scannet":
            paths[fmt] = out / SUBMISSION_FOLDER / f"{scene_id}.txt"
        else:
            paths[fmt] = out / f"{scene_id}.{fmt}"
    return paths


def instance_colors(num_instances: int) -> np.ndarray:
    """(K, 3) uint8 distinct, saturated colours, the same for the same index in every scene.

    Hues step by the golden angle so neighbouring indices differ strongly.
    """
    k = np.arange(num_instances, dtype=np.float64)
    hue = (k * 0.618033988749895) % 1.0
    sat = np.where(k % 2 == 0, 0.75, 0.55)
    val = np.where(k % 3 == 0, 0.95, 0.8)
    h6 = hue * 6.0
    i = np.floor(h6).astype(np.int64) % 6
    f = h6 - np.floor(h6)
    p, q, t = val * (1 - sat), val * (1 - sat * f), val * (1 - sat * (1 - f))
    table = np.stack(
        [
            np.stack([val, t, p], 1),
            np.stack([q, val, p], 1),
            np.stack([p, val, t], 1),
            np.stack([p, q, val], 1),
            np.stack([t, p, val], 1),
            np.stack([val, p, q], 1),
        ]
    )  # (6, K, 3)
    rgb = table[i, np.arange(num_instances)] if num_instances else np.zeros((0, 3))
    return np.rint(rgb * 255.0).astype(np.uint8)


def vertex_fields(
    instances: Instances, point_instance: np.ndarray, semantic: np.ndarray
) -> dict[str, np.ndarray]:
    """Per-vertex ``instance``, ``label``, ``score`` and ``semantic`` arrays.

    Args:
        instances: K instances over N vertices.
        point_instance: (N,) int index into ``instances`` or -1.
        semantic: (N,) int semantic class 0..19 per vertex.

    Returns:
        ``instance`` (N,) int32 (-1 = none); ``label`` (N,) int32 nyu40 id (the instance's
        class, else the semantic class's); ``score`` (N,) float32 (0 = none); ``semantic`` (N,)
        int32 nyu40 id of the semantic class.
    """
    inst = np.asarray(point_instance, dtype=np.int64)
    sem_nyu40 = _SEMANTIC_TO_NYU40[np.asarray(semantic, dtype=np.int64)]
    assigned = inst >= 0
    safe = np.where(assigned, inst, 0)
    labels = instances.labels.astype(np.int32) if len(instances) else np.zeros(1, np.int32)
    scores = instances.scores if len(instances) else np.zeros(1, np.float32)
    return {
        "instance": inst.astype(np.int32),
        "label": np.where(assigned, labels[safe], sem_nyu40).astype(np.int32),
        "score": np.where(assigned, scores[safe], 0.0).astype(np.float32),
        "semantic": sem_nyu40.astype(np.int32),
    }


def write_prediction_ply(
    path: str | os.PathLike[str],
    coords: np.ndarray,
    fields: Mapping[str, np.ndarray],
    *,
    faces: np.ndarray | None = None,
) -> Path:
    """The input's vertices (and faces) coloured by instance, with per-vertex fields.

    Args:
        path: output ``.ply``.
        coords: (N, 3) float coordinates as stored in the input.
        fields: from :func:`vertex_fields`.
        faces: (F, 3) int triangles, or None.

    Returns:
        The written path.
    """
    inst = fields["instance"]
    num = int(inst.max()) + 1 if inst.size and inst.max() >= 0 else 0
    palette = np.vstack([instance_colors(num), np.asarray([UNASSIGNED_COLOR], dtype=np.uint8)])
    colors = palette[np.where(inst >= 0, inst, num)]
    written = write_ply(
        path,
        coords,
        colors=colors,
        faces=faces,
        vertex_properties={
            "instance": fields["instance"].astype(np.int32),
            "label": fields["label"].astype(np.uint16),
            "score": fields["score"].astype(np.float32),
        },
    )
    return _shareable(written)


def write_prediction_npz(
    path: str | os.PathLike[str], instances: Instances, fields: Mapping[str, np.ndarray]
) -> Path:
    """Per-vertex fields plus per-instance masks, labels and scores (compressed ``.npz``)."""
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        instance=fields["instance"].astype(np.int32),
        label=fields["label"].astype(np.int32),
        score=fields["score"].astype(np.float32),
        semantic=fields["semantic"].astype(np.int32),
        masks=instances.masks.astype(bool),
        instance_labels=instances.labels.astype(np.int32),
        instance_scores=instances.scores.astype(np.float32),
    )
    atomic_write_bytes(path, buffer.getvalue())
    return _shareable(Path(path))


def instance_summaries(
    instances: Instances, point_instance: np.ndarray, coords: np.ndarray
) -> list[dict[str, Any]]:
    """One JSON-ready dict per instance: id, class, nyu40_id, score, num_vertices, box."""
    inst = np.asarray(point_instance, dtype=np.int64)
    order = np.argsort(inst, kind="stable")
    sorted_inst = inst[order]
    summaries = []
    for k in range(len(instances)):
        lo, hi = np.searchsorted(sorted_inst, [k, k + 1])
        members = coords[order[lo:hi]]
        box_min: list[float] | None = None
        box_max: list[float] | None = None
        if members.shape[0]:
            # float32 coordinates: 6 decimals keep every digit that means something.
            box_min = [round(float(v), 6) for v in members.min(axis=0)]
            box_max = [round(float(v), 6) for v in members.max(axis=0)]
        label = int(instances.labels[k])
        summaries.append(
            {
                "id": k,
                "class": class_name(label),
                "nyu40_id": label,
                "score": round(float(instances.scores[k]), 6),
                "num_vertices": int(hi - lo),
                "bbox_min": box_min,
                "bbox_max": box_max,
            }
        )
    return summaries


def write_prediction_json(path: str | os.PathLike[str], document: Mapping[str, Any]) -> Path:
    """Write a JSON document (indented, keys in the given order), atomically."""
    atomic_write_text(path, json.dumps(document, indent=2) + "\n")
    return _shareable(Path(path))


def _shareable_write(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
        _shareable(tmp)


def _format_score(score: float) -> str:
    # Shortest text that reads back as the same float32 (as dknet.io.submission writes it).
    return np.format_float_positional(np.float32(score), unique=True, trim="0")


def write_submission_scene(
    folder: str | os.PathLike[str], scene_id: str, instances: Instances
) -> Path:
    """Add one scene to a benchmark-format folder (masks first, the scene file last).

    Instances whose label is not one of the 18 instance classes are left out. Mask files this
    scene had before (``predicted_masks/<scene>_*.txt``) are removed once the new scene file is
    in place.

    Returns:
        The scene file ``folder/<scene>.txt``.
    """
    root = Path(folder)
    masks_dir = root / "predicted_masks"
    masks_dir.mkdir(parents=True, exist_ok=True)
    keep = np.isin(instances.labels, list(INSTANCE_NYU40_IDS))
    chosen = instances[keep] if not keep.all() else instances
    width = max(3, len(str(max(len(chosen) - 1, 0))))
    lines, written = [], set()
    for k in range(len(chosen)):
        name = f"{scene_id}_{k:0{width}d}.txt"
        _shareable_write(masks_dir / name, format_ids(chosen.masks[k]))
        written.add(name)
        lines.append(
            f"predicted_masks/{name} {int(chosen.labels[k])} {_format_score(chosen.scores[k])}\n"
        )
    scene_file = root / f"{scene_id}.txt"
    _shareable_write(scene_file, "".join(lines).encode("ascii"))
    for old in masks_dir.glob(f"{scene_id}_*.txt"):
        if old.name not in written and old.name[len(scene_id) + 1 : -4].isdigit():
            old.unlink()
    return scene_file
