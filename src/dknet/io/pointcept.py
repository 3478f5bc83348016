"""ScanNet as preprocessed by Pointcept: one folder of ``.npy`` arrays per scene.

Per scene: ``coord.npy`` (float32 N x 3), ``color.npy`` (uint8 N x 3), optional ``normal.npy``,
``segment20.npy`` (index into the 20 benchmark classes, -1 = ignore), ``segment200.npy`` (not
used), ``instance.npy`` (-1 = no instance) and optionally ``superpoint.npy``. Vertex order equals
``<scene>_vh_clean_2.ply``, so predictions still map 1:1 to the benchmark's vertices. Scene
folders live under ``root/{train,val,test}/<scene>/``; a flat root of scene folders, or a
single scene folder, also works. Test scenes have no ``segment20.npy`` / ``instance.npy``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dknet.errors import DatasetLayoutError
from dknet.io._layout import require_folder
from dknet.io.scannet import MAX_OBJECT_ID, ScanNetScene
from dknet.labels import (
    IGNORE_LABEL,
    MIN_INSTANCE_SEMANTIC,
    NUM_SEMANTIC_CLASSES,
    SEMANTIC_NYU40_IDS,
)

__all__ = [
    "POINTCEPT_SPLITS",
    "is_pointcept_scene_dir",
    "list_pointcept_scenes",
    "pointcept_ground_truth",
    "read_pointcept_scene",
]

#: Split folders of a Pointcept ScanNet root, in listing order.
POINTCEPT_SPLITS: tuple[str, ...] = ("train", "val", "test")

_SEMANTIC_TO_NYU40 = np.asarray(SEMANTIC_NYU40_IDS, dtype=np.int64)


def is_pointcept_scene_dir(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a Pointcept scene folder (holds ``coord.npy``)."""
    return (Path(path) / "coord.npy").is_file()


def list_pointcept_scenes(root: str | os.PathLike[str]) -> list[Path]:
    """The scene folders of a Pointcept ScanNet root.

    ``root/train/*``, ``root/val/*``, ``root/test/*`` (each sorted by name) when any of those
    split folders exists; otherwise the sub-folders of ``root`` that hold ``coord.npy``; or
    ``root`` itself when it is a scene folder.

    Raises:
        DatasetLayoutError: ``root`` is missing or not a folder, or holds no scenes.
    """
    base = require_folder(root)
    if is_pointcept_scene_dir(base):
        return [base]
    split_folders = [base / s for s in POINTCEPT_SPLITS if (base / s).is_dir()]
    if split_folders:
        scenes = [
            d
            for folder in split_folders
            for d in sorted(folder.iterdir())
            if d.is_dir() and not d.name.startswith(".")
        ]
    else:
        scenes = sorted(
            d
            for d in base.iterdir()
            if d.is_dir() and not d.name.startswith(".") and is_pointcept_scene_dir(d)
        )
    if not scenes:
        raise DatasetLayoutError(
            f"{base}: no Pointcept scenes found (expected {{train,val,test}}/<scene>/coord.npy)",
            hint="point ROOT at the folder that holds train/, val/ and test/",
        )
    return scenes


def _load(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DatasetLayoutError(f"{path}: file not found") from None
    except (ValueError, OSError, EOFError) as exc:
        raise DatasetLayoutError(f"{path}: not a readable .npy array ({exc})") from None


def _check_rows(arr: np.ndarray, path: Path, num_points: int, width: int | None) -> np.ndarray:
    """Check ``arr`` is (N, width) (or (N,) / (N, 1) when ``width`` is None)."""
    if width is None and arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    expected = (num_points,) if width is None else (num_points, width)
    if arr.shape != expected:
        raise DatasetLayoutError(f"{path}: shape {arr.shape}, expected {expected}")
    return arr


def _integer_labels(path: Path, num_points: int, low: int, high: int | None) -> np.ndarray:
    arr = _check_rows(_load(path), path, num_points, None)
    if arr.dtype.kind not in "iu":
        raise DatasetLayoutError(f"{path}: dtype {arr.dtype}, expected integers")
    arr = arr.astype(np.int64)
    if arr.size:
        bad = (arr < low) | (arr > high) if high is not None else arr < low
        if bad.any():
            value = int(arr[np.argmax(bad)])
            limit = f"{low}..{high}" if high is not None else f">= {low}"
            raise DatasetLayoutError(f"{path}: value {value} outside {limit}")
    return arr


def pointcept_ground_truth(segment20: np.ndarray, instance: np.ndarray) -> np.ndarray:
    """Benchmark ground-truth values from Pointcept's per-point class and instance.

    The layout stores no nyu40 id per point, so the class comes from ``segment20`` through the
    20 benchmark nyu40 ids. Choice per point:

    - class in the 18 instance classes and ``instance >= 0``: ``nyu40 * 1000 + instance + 1``;
    - class in the 18 instance classes without an instance: 0 (a value ``nyu40 * 1000`` would be
      read by the evaluator as one instance made of all such points);
    - wall / floor: ``nyu40 * 1000 + instance + 1`` with an instance, ``nyu40 * 1000`` without
      (both keep the class for semantic evaluation; the evaluator never treats wall/floor as
      instances and counts them as void);
    - ignore (-1): 0 (unannotated; the nyu40 id of non-benchmark classes is unknown here, and
      ``instance + 1`` alone could exceed 999 and be misread as a class).

    Args:
        segment20: (N,) int64 semantic index 0..19 or -1.
        instance: (N,) int64 instance id >= 0 or -1; ids of labelled points must be <= 998.

    Returns:
        (N,) int64 ground-truth values.
    """
    known = segment20 >= 0
    nyu40 = np.where(known, _SEMANTIC_TO_NYU40[np.where(known, segment20, 0)], 0)
    has_instance = instance >= 0
    value = nyu40 * 1000 + np.where(has_instance, instance + 1, 0)
    instance_class = segment20 >= MIN_INSTANCE_SEMANTIC
    keep = np.where(instance_class, has_instance, known)
    return np.where(keep, value, 0).astype(np.int64)


def read_pointcept_scene(scene_dir: str | os.PathLike[str]) -> ScanNetScene:
    """Read one Pointcept scene folder.

    Args:
        scene_dir: the folder holding ``coord.npy`` etc.; its name is the scene id.

    Returns:
        A :class:`~dknet.io.scannet.ScanNetScene` with coords (N, 3) float32, colors (N, 3)
        uint8, normals (N, 3) float32 or None, superpoints (N,) int64 compact 0..S-1 from
        ``superpoint.npy`` or None. With ``segment20.npy`` and ``instance.npy``: semantic labels
        0..19 / -1 as stored; nyu40 ids derived from the class (0 for ignore); instance labels
        compacted to 0..K-1 over points of the 18 instance classes (points of wall, floor and
        ignore get ``IGNORE_LABEL``); ``object_ids`` = the stored instance ids; ground truth from
        :func:`pointcept_ground_truth`.

    Raises:
        DatasetLayoutError: a required file is missing or unreadable, an array has the wrong
            shape, dtype or value range, only one of ``segment20.npy`` / ``instance.npy``
            exists, or coordinates are not finite.
    """
    folder = Path(scene_dir)
    if not folder.is_dir():
        raise DatasetLayoutError(f"{folder}: scene folder not found")
    coord_path = folder / "coord.npy"
    coords = _load(coord_path)
    if coords.ndim != 2 or coords.shape[1] != 3:
        raise DatasetLayoutError(f"{coord_path}: shape {coords.shape}, expected (N, 3)")
    if coords.dtype.kind != "f":
        raise DatasetLayoutError(f"{coord_path}: dtype {coords.dtype}, expected float32")
    num_points = int(coords.shape[0])
    if num_points == 0:
        raise DatasetLayoutError(f"{coord_path}: the scene has no points")
    coords = np.ascontiguousarray(coords, dtype=np.float32)
    finite = np.isfinite(coords).all(axis=1)
    if not finite.all():
        raise DatasetLayoutError(
            f"{coord_path}: {int((~finite).sum())} points have non-finite coordinates"
        )

    color_path = folder / "color.npy"
    colors = _check_rows(_load(color_path), color_path, num_points, 3)
    if colors.dtype != np.uint8:
        in_range = colors.size == 0 or (colors.min() >= 0 and colors.max() <= 255)
        if colors.dtype.kind not in "iu" or not in_range:
            raise DatasetLayoutError(f"{color_path}: dtype {colors.dtype}, expected uint8 0..255")
        colors = colors.astype(np.uint8)

    normals = None
    normal_path = folder / "normal.npy"
    if normal_path.is_file():
        normals = _check_rows(_load(normal_path), normal_path, num_points, 3)
        if normals.dtype.kind != "f":
            raise DatasetLayoutError(f"{normal_path}: dtype {normals.dtype}, expected float32")
        normals = normals.astype(np.float32)

    superpoints = None
    superpoint_path = folder / "superpoint.npy"
    if superpoint_path.is_file():
        raw = _integer_labels(superpoint_path, num_points, np.iinfo(np.int64).min, None)
        superpoints = np.unique(raw, return_inverse=True)[1].astype(np.int64).reshape(-1)

    segment_path = folder / "segment20.npy"
    instance_path = folder / "instance.npy"
    has_segment, has_instance = segment_path.is_file(), instance_path.is_file()
    if has_segment != has_instance:
        present, missing = (
            (segment_path, instance_path) if has_segment else (instance_path, segment_path)
        )
        raise DatasetLayoutError(f"{folder}: {present.name} exists but {missing.name} is missing")
    base = ScanNetScene(
        scene_id=folder.name,
        source=folder,
        coords=coords,
        colors=colors,
        normals=normals,
        superpoints=superpoints,
    )
    if not has_segment:
        return base

    segment20 = _integer_labels(segment_path, num_points, IGNORE_LABEL, NUM_SEMANTIC_CLASSES - 1)
    instance = _integer_labels(instance_path, num_points, IGNORE_LABEL, None)
    labelled = segment20 >= 0
    if np.any(labelled & (instance > MAX_OBJECT_ID)):
        value = int(instance[labelled].max())
        raise DatasetLayoutError(
            f"{instance_path}: instance id {value} > {MAX_OBJECT_ID} cannot be encoded as "
            "nyu40*1000+instance+1"
        )
    nyu40 = np.where(labelled, _SEMANTIC_TO_NYU40[np.where(labelled, segment20, 0)], 0)
    trainable = (segment20 >= MIN_INSTANCE_SEMANTIC) & (instance >= 0)
    instance_labels = np.full(num_points, IGNORE_LABEL, dtype=np.int64)
    if trainable.any():
        instance_labels[trainable] = np.unique(instance[trainable], return_inverse=True)[1]
    return ScanNetScene(
        scene_id=base.scene_id,
        source=folder,
        coords=coords,
        colors=colors,
        normals=normals,
        superpoints=superpoints,
        nyu40_ids=nyu40.astype(np.int64),
        semantic_labels=segment20,
        instance_labels=instance_labels,
        object_ids=instance,
        gt_ids=pointcept_ground_truth(segment20, instance),
    )
