"""Semantic segmentation metrics over the 20 benchmark classes: overall accuracy and mIoU.

Predictions and ground truth are nyu40 ids per vertex, scored as ScanNet's
``evaluate_semantic_label.py`` scores them. Vertices whose ground truth is not one of the 20
classes (unannotated, other nyu40 classes) are ignored; a prediction outside the 20 classes on a
counted vertex is "unknown", a miss for the true class. A class's IoU is tp / (tp + fp + fn),
NaN only when tp + fp + fn = 0, so a class predicted but absent from the ground truth scores 0.
mIoU averages over the classes whose IoU is not NaN.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from dknet.errors import InvalidPredictionError
from dknet.labels import NUM_SEMANTIC_CLASSES, SEMANTIC_CLASS_NAMES, SEMANTIC_NYU40_IDS

__all__ = ["SemanticResult", "semantic_confusion", "semantic_metrics", "semantic_result"]

# nyu40 id -> semantic index 0..19; every other id maps to column 20 ("not a benchmark class").
_NUM_COLUMNS = NUM_SEMANTIC_CLASSES + 1
_LUT_SIZE = 256
_LUT = np.full(_LUT_SIZE, NUM_SEMANTIC_CLASSES, dtype=np.int64)
_LUT[list(SEMANTIC_NYU40_IDS)] = np.arange(NUM_SEMANTIC_CLASSES)


def _to_index(nyu40: np.ndarray) -> np.ndarray:
    ids = np.asarray(nyu40)
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        raise InvalidPredictionError(f"semantic labels must be integer nyu40 ids, got {ids.dtype}")
    ids = ids.astype(np.int64, copy=False)
    inside = (ids >= 0) & (ids < _LUT_SIZE)
    return np.where(inside, _LUT[np.where(inside, ids, 0)], NUM_SEMANTIC_CLASSES)


@dataclass(frozen=True, eq=False)
class SemanticResult:
    """Semantic segmentation metrics.

    Attributes:
        accuracy: correctly labelled vertices / counted vertices (NaN if none counted).
        miou: mean of the per-class IoUs that are not NaN (NaN if all are).
        iou: 20 per-class IoUs tp / (tp + fp + fn) in ``SEMANTIC_CLASS_NAMES`` order; NaN for a
            class neither in the ground truth nor predicted on a counted vertex, 0 for a class
            predicted there but absent from the ground truth.
        confusion: (20, 21) int64, rows = ground-truth class, columns = predicted class, column
            20 = a prediction outside the 20 classes.
        num_scenes: number of scenes scored.
    """

    accuracy: float
    miou: float
    iou: tuple[float, ...]
    confusion: np.ndarray
    num_scenes: int

    @property
    def class_names(self) -> tuple[str, ...]:
        """The 20 class names, in ``iou`` order."""
        return SEMANTIC_CLASS_NAMES

    @property
    def nyu40_ids(self) -> tuple[int, ...]:
        """The 20 nyu40 ids, in ``iou`` order."""
        return SEMANTIC_NYU40_IDS


def semantic_confusion(pred: np.ndarray, gt: np.ndarray, *, source: str = "<scene>") -> np.ndarray:
    """Confusion counts of one scene.

    Args:
        pred: (N,) int nyu40 id predicted per vertex.
        gt: (N,) int nyu40 id per vertex (0 = unannotated).
        source: scene or file name for error messages.

    Returns:
        (20, 21) int64 counts (see :class:`SemanticResult`).

    Raises:
        InvalidPredictionError: ``pred`` and ``gt`` differ in length or are not integers.
    """
    pred_arr = np.asarray(pred).reshape(-1)
    gt_arr = np.asarray(gt).reshape(-1)
    if pred_arr.shape != gt_arr.shape:
        raise InvalidPredictionError(
            f"{source}: {pred_arr.shape[0]} semantic labels but the ground truth has "
            f"{gt_arr.shape[0]} vertices"
        )
    gt_idx = _to_index(gt_arr)
    counted = gt_idx < NUM_SEMANTIC_CLASSES
    flat = gt_idx[counted] * _NUM_COLUMNS + _to_index(pred_arr)[counted]
    counts = np.bincount(flat, minlength=NUM_SEMANTIC_CLASSES * _NUM_COLUMNS)
    return counts.reshape(NUM_SEMANTIC_CLASSES, _NUM_COLUMNS).astype(np.int64)


def semantic_result(confusion: np.ndarray, num_scenes: int) -> SemanticResult:
    """Accuracy, per-class IoU and mIoU from summed (20, 21) confusion counts.

    The rule of ScanNet's ``evaluate_semantic_label.py``: only vertices whose ground truth is one
    of the 20 classes are counted (the rows of ``confusion``). For class c, tp = vertices of c
    predicted c; fn = vertices of c predicted anything else, "unknown" (column 20, a prediction
    outside the 20 classes) included; fp = vertices of another of the 20 classes predicted c.
    IoU = tp / (tp + fp + fn), NaN only when tp + fp + fn = 0: a class predicted but absent from
    the ground truth scores 0 and counts in the mean. mIoU is the mean over the classes whose IoU
    is not NaN.

    Args:
        confusion: (20, 21) int counts, rows = ground-truth class, columns = predicted class
            (column 20 = unknown), summed over the scenes to pool.
        num_scenes: number of scenes the counts come from.

    Returns:
        The metrics of the pooled counts.

    Raises:
        InvalidPredictionError: ``confusion`` is not (20, 21).
    """
    conf = np.asarray(confusion, dtype=np.int64)
    if conf.shape != (NUM_SEMANTIC_CLASSES, _NUM_COLUMNS):
        raise InvalidPredictionError(
            f"semantic confusion counts must be ({NUM_SEMANTIC_CLASSES}, {_NUM_COLUMNS}), "
            f"got {conf.shape}"
        )
    tp = np.diag(conf[:, :NUM_SEMANTIC_CLASSES]).astype(np.float64)
    fn = conf.sum(axis=1).astype(np.float64) - tp
    fp = conf[:, :NUM_SEMANTIC_CLASSES].sum(axis=0).astype(np.float64) - tp
    denominator = tp + fp + fn
    scored = denominator > 0
    iou = np.full(NUM_SEMANTIC_CLASSES, np.nan)
    iou[scored] = tp[scored] / denominator[scored]
    total = conf.sum()
    accuracy = float(tp.sum() / total) if total > 0 else float("nan")
    miou = float(iou[scored].mean()) if scored.any() else float("nan")
    return SemanticResult(
        accuracy=accuracy,
        miou=miou,
        iou=tuple(float(v) for v in iou),
        confusion=conf,
        num_scenes=num_scenes,
    )


def semantic_metrics(
    pred: np.ndarray | Mapping[str, np.ndarray], gt: np.ndarray | Mapping[str, np.ndarray]
) -> SemanticResult:
    """Overall accuracy and mIoU over the 20 classes.

    IoUs follow the benchmark's rule (see :func:`semantic_result`): tp / (tp + fp + fn) over the
    vertices whose ground truth is one of the 20 classes, NaN only when tp + fp + fn = 0.

    Args:
        pred: (N,) int nyu40 ids per vertex, or scene id -> such an array.
        gt: the ground truth in the same form (nyu40 ids per vertex, 0 = unannotated; for the
            benchmark's instance ground truth pass ``ids // 1000``). With mappings, every scene of
            ``pred`` must be in ``gt``.

    Returns:
        The metrics, pooled over all vertices of all scenes.

    Raises:
        InvalidPredictionError: a length mismatch, or a predicted scene missing from ``gt``.
    """
    if not isinstance(pred, Mapping) and not isinstance(gt, Mapping):
        return semantic_result(semantic_confusion(pred, gt), 1)
    if not isinstance(pred, Mapping) or not isinstance(gt, Mapping):
        raise TypeError("pred and gt must both be arrays or both be mappings of scene -> array")
    total = np.zeros((NUM_SEMANTIC_CLASSES, _NUM_COLUMNS), dtype=np.int64)
    for scene, labels in pred.items():
        if scene not in gt:
            raise InvalidPredictionError(
                f"semantic predictions for scene {scene!r} have no ground truth"
            )
        total += semantic_confusion(labels, gt[scene], source=scene)
    return semantic_result(total, len(pred))
