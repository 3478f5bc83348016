"""Per-scene matching records: the small summary of a scene that instance AP needs.

A scene's predictions and ground truth are reduced, once, to counts: each ground-truth
instance's size, each prediction's size and void overlap, and the intersection of every
(prediction, ground truth) pair of the same class that overlaps. Everything the AP protocol does
afterwards works on these records, so a worker process only ships a few kilobytes per scene.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dknet.errors import InvalidPredictionError
from dknet.labels import INSTANCE_NYU40_IDS

__all__ = [
    "MIN_REGION_SIZE",
    "OVERLAPS",
    "GroundTruthInstances",
    "SceneRecords",
    "class_indices",
    "ground_truth_instances",
    "scene_records",
]

#: The ten overlap thresholds: 0.50, 0.55, ..., 0.90 (as ``np.arange`` computes them), then 0.25.
OVERLAPS: np.ndarray = np.append(np.arange(0.5, 0.95, 0.05), 0.25)
OVERLAPS.flags.writeable = False

#: Ground-truth instances and predicted masks with fewer vertices than this are not matched.
MIN_REGION_SIZE = 100

_INSTANCE_IDS = np.asarray(INSTANCE_NYU40_IDS, dtype=np.int64)
# GT ids are nyu40 * 1000 + instance; below this bound a dense bincount is cheaper than a sort.
_DENSE_ID_LIMIT = 1 << 22


def class_indices(nyu40_ids: np.ndarray) -> np.ndarray:
    """Map nyu40 ids to instance-class indices.

    Args:
        nyu40_ids: (K,) integer nyu40 ids (any values).

    Returns:
        (K,) int64, index 0..17 into ``INSTANCE_NYU40_IDS``, or -1 for other ids.
    """
    ids = np.asarray(nyu40_ids, dtype=np.int64)
    pos = np.searchsorted(_INSTANCE_IDS, ids)
    pos_clipped = np.minimum(pos, len(_INSTANCE_IDS) - 1)
    return np.where(_INSTANCE_IDS[pos_clipped] == ids, pos_clipped, -1).astype(np.int64)


@dataclass(frozen=True)
class GroundTruthInstances:
    """A scene's ground-truth instances of the 18 benchmark classes.

    Attributes:
        ids: (G,) int64 ground-truth values ``nyu40 * 1000 + instance``, ascending.
        classes: (G,) int64 instance-class index 0..17.
        sizes: (G,) int64 number of vertices.
        point_to_instance: (N,) int64 index into ``ids`` per vertex, or G for void vertices
            (unannotated, wall, floor, non-benchmark classes).
    """

    ids: np.ndarray
    classes: np.ndarray
    sizes: np.ndarray
    point_to_instance: np.ndarray


def ground_truth_instances(gt_ids: np.ndarray) -> GroundTruthInstances:
    """Find the benchmark instances of a ground-truth id array.

    Every distinct non-zero value whose ``value // 1000`` is one of the 18 instance-class nyu40
    ids is an instance; every other vertex is void.

    Args:
        gt_ids: (N,) integer ``nyu40 * 1000 + instance`` per vertex (0 = unannotated).

    Returns:
        The instances in ascending id order and the per-vertex instance index.
    """
    ids = np.asarray(gt_ids, dtype=np.int64)
    dense = ids.size > 0 and ids.min() >= 0 and ids.max() < _DENSE_ID_LIMIT
    if dense:
        counts_all = np.bincount(ids)
        uniq = np.flatnonzero(counts_all)
        counts = counts_all[uniq]
    else:
        uniq, counts = np.unique(ids, return_counts=True)
    classes = class_indices(uniq // 1000)
    keep = (uniq != 0) & (classes >= 0)
    inst_ids, inst_classes, inst_sizes = uniq[keep], classes[keep], counts[keep]
    g = inst_ids.shape[0]
    if dense:
        lut = np.full(counts_all.shape[0], g, dtype=np.int64)
        lut[inst_ids] = np.arange(g, dtype=np.int64)
        point_to_instance = lut[ids]
    else:
        pos = np.minimum(np.searchsorted(inst_ids, ids), max(g - 1, 0))
        hit = inst_ids[pos] == ids if g else np.zeros(ids.shape, dtype=bool)
        point_to_instance = np.where(hit, pos, g).astype(np.int64)
    return GroundTruthInstances(inst_ids, inst_classes, inst_sizes, point_to_instance)


@dataclass(frozen=True)
class SceneRecords:
    """What instance AP needs from one scene.

    Predictions are those with a benchmark label and at least ``MIN_REGION_SIZE`` vertices, in
    file order. Pairs are the (prediction, ground truth) combinations of the same class with a
    non-zero intersection, sorted by prediction then ground-truth index.

    Attributes:
        gt_classes: (G,) int64 class index 0..17 of each ground-truth instance (ascending id).
        gt_sizes: (G,) int64 vertex count of each ground-truth instance.
        pred_keys: P identities (the mask file path for folders); two predictions with the same
            key share the benchmark's "already matched" flag.
        pred_classes: (P,) int64 class index 0..17.
        pred_scores: (P,) float64 confidence.
        pred_sizes: (P,) int64 vertex count (>= MIN_REGION_SIZE).
        pred_void: (P,) int64 vertices on void (not on any benchmark-class instance).
        pair_pred: (M,) int64 prediction index.
        pair_gt: (M,) int64 ground-truth index.
        pair_inter: (M,) int64 intersection (> 0).
    """

    gt_classes: np.ndarray
    gt_sizes: np.ndarray
    pred_keys: tuple[str, ...]
    pred_classes: np.ndarray
    pred_scores: np.ndarray
    pred_sizes: np.ndarray
    pred_void: np.ndarray
    pair_pred: np.ndarray
    pair_gt: np.ndarray
    pair_inter: np.ndarray


def scene_records(
    masks: np.ndarray | Sequence[np.ndarray],
    labels: np.ndarray,
    scores: np.ndarray,
    gt: GroundTruthInstances | np.ndarray,
    *,
    keys: Sequence[str] | None = None,
    source: str = "<scene>",
) -> SceneRecords:
    """Reduce one scene's predictions and ground truth to matching records.

    Args:
        masks: (K, N) bool masks, or a sequence of K (N,) bool masks.
        labels: (K,) int nyu40 ids; instances of other classes are dropped.
        scores: (K,) float confidences.
        gt: the scene's ground truth, as returned by :func:`ground_truth_instances` or as the
            (N,) ``nyu40 * 1000 + instance`` id array.
        keys: K instance identities (default: unique per instance).
        source: scene name for error messages.

    Returns:
        The scene's records.

    Raises:
        InvalidPredictionError: a mask's length differs from the ground truth's vertex count.
    """
    if not isinstance(gt, GroundTruthInstances):
        gt = ground_truth_instances(gt)
    n = gt.point_to_instance.shape[0]
    g = gt.ids.shape[0]
    label_arr = np.asarray(labels, dtype=np.int64).reshape(-1)
    score_arr = np.asarray(scores, dtype=np.float64).reshape(-1)
    k = label_arr.shape[0]
    if len(masks) != k or score_arr.shape[0] != k:
        raise InvalidPredictionError(
            f"{source}: {len(masks)} masks, {k} labels and {score_arr.shape[0]} scores differ"
        )
    key_list = list(keys) if keys is not None else [f"{source}#{i}" for i in range(k)]
    classes = class_indices(label_arr)
    kept: list[int] = []
    sizes: list[int] = []
    inter_rows: list[np.ndarray] = []
    for i in np.flatnonzero(classes >= 0).tolist():
        mask = np.asarray(masks[i])
        if mask.shape != (n,):
            raise InvalidPredictionError(
                f"{source}: instance {i} has a mask over {mask.shape[-1] if mask.ndim else 0} "
                f"points but the ground truth has {n} vertices"
            )
        if mask.dtype != np.bool_:
            mask = mask != 0
        size = int(np.count_nonzero(mask))
        if size < MIN_REGION_SIZE:
            continue
        kept.append(i)
        sizes.append(size)
        # Column g counts the void vertices under the mask.
        inter_rows.append(np.bincount(gt.point_to_instance[mask], minlength=g + 1))
    p = len(kept)
    kept_arr = np.asarray(kept, dtype=np.int64)
    pred_classes = classes[kept_arr]
    inter = np.stack(inter_rows) if p else np.zeros((0, g + 1), dtype=np.int64)
    same_class = pred_classes[:, None] == gt.classes[None, :]
    pair_pred, pair_gt = np.nonzero((inter[:, :g] > 0) & same_class)
    return SceneRecords(
        gt_classes=gt.classes,
        gt_sizes=gt.sizes,
        pred_keys=tuple(key_list[i] for i in kept),
        pred_classes=pred_classes,
        pred_scores=score_arr[kept_arr],
        pred_sizes=np.asarray(sizes, dtype=np.int64),
        pred_void=inter[:, g].astype(np.int64),
        pair_pred=pair_pred.astype(np.int64),
        pair_gt=pair_gt.astype(np.int64),
        pair_inter=inter[pair_pred, pair_gt].astype(np.int64),
    )
