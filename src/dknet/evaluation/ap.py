"""ScanNet 3D semantic-instance AP: matching, precision-recall integral and averages.

The rules are those of the ScanNet benchmark's evaluator, implemented on per-scene records
(:mod:`dknet.evaluation.records`) so that only instance-level work is left here:

* overlaps ``np.append(np.arange(0.5, 0.95, 0.05), 0.25)`` (the floating-point values as they
  come out of ``arange``), minimum region size 100 vertices, no distance filters;
* per class and overlap, pooled over scenes: a prediction matches a ground-truth instance of the
  same class when IoU is strictly greater than the overlap. Ground truth is visited in scene
  order, then ascending id; its candidate predictions in file order. A prediction that matched
  once is not used again at that overlap. A second qualifying prediction of an already matched
  instance adds a false positive scored with the lower of the two confidences, and the match
  keeps the higher one;
* a prediction with no ground truth of its class above the overlap (small instances included)
  is a false positive unless more than ``overlap`` of its vertices lie on void or on
  ground-truth instances smaller than 100 vertices, in which case it is ignored;
* AP is the step-width integral of the precision-recall points taken at every distinct
  confidence, plus the point (recall 0, precision 1). A class with ground truth and no
  prediction scores 0, a class without ground truth NaN; a class whose predictions are all
  ignored and whose ground truth is all unmatched scores 0 (the benchmark script crashes there).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np

from dknet.errors import InvalidPredictionError
from dknet.evaluation.records import MIN_REGION_SIZE, OVERLAPS, SceneRecords, scene_records
from dknet.evaluation.report import EvalResult, build_eval_result
from dknet.evaluation.semantic import semantic_metrics
from dknet.labels import NUM_INSTANCE_CLASSES
from dknet.structures.instances import Instances

__all__ = [
    "OVERLAPS",
    "ap_table",
    "average_precision",
    "check_scene_sets",
    "evaluate_instances",
]

logger = logging.getLogger(__name__)


def average_precision(y_true: np.ndarray, y_score: np.ndarray, num_hard_fn: int) -> float:
    """Area under the precision-recall curve as the benchmark integrates it.

    Args:
        y_true: (E,) 1 for a matched ground-truth instance, 0 for a false positive.
        y_score: (E,) float64 confidence of each entry.
        num_hard_fn: ground-truth instances that no prediction matched.

    Returns:
        sum_i p_i * (r_{i-1} - r_{i+1}) / 2 over the points at each distinct confidence (ascending)
        followed by (p=1, r=0), with r_{-1} := r_0 and the recall after the last point 0.
        With no entries at all the curve is that single point and the result is 0.
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    y_score = np.asarray(y_score, dtype=np.float64)
    order = np.argsort(y_score)
    cumsum = np.cumsum(y_true[order])
    _, first = np.unique(y_score[order], return_index=True)
    num_examples = y_true.shape[0]
    num_true = cumsum[-1] if num_examples else 0.0
    # Sum of y_true over entries scored strictly below each distinct confidence.
    below = np.where(first > 0, cumsum[np.maximum(first - 1, 0)], 0.0) if num_examples else cumsum
    tp = num_true - below
    fp = num_examples - first - tp
    fn = below + num_hard_fn
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.append(tp / (tp + fp), 1.0)
        recall = np.append(tp / (tp + fn), 0.0)
    padded = np.concatenate([recall[:1], recall, [0.0]])
    step_widths = np.convolve(padded, [-0.5, 0.0, 0.5], "valid")
    return float(np.dot(precision, step_widths))


class _Pooled:
    """All scenes' records concatenated, with global instance indices."""

    def __init__(self, records: Sequence[SceneRecords]) -> None:
        gt_offsets = np.cumsum([0] + [r.gt_sizes.shape[0] for r in records])
        pred_offsets = np.cumsum([0] + [r.pred_sizes.shape[0] for r in records])
        cat = np.concatenate
        empty = np.zeros(0, dtype=np.int64)
        self.gt_classes = cat([empty] + [r.gt_classes for r in records])
        self.gt_sizes = cat([empty] + [r.gt_sizes for r in records])
        self.pred_classes = cat([empty] + [r.pred_classes for r in records])
        self.pred_scores = cat([np.zeros(0)] + [r.pred_scores for r in records]).astype(np.float64)
        self.pred_sizes = cat([empty] + [r.pred_sizes for r in records])
        self.pred_void = cat([empty] + [r.pred_void for r in records])
        # Each record's offset; the offsets' last entry is the total.
        pred_starts, gt_starts = pred_offsets[:-1], gt_offsets[:-1]
        self.pair_pred = cat(
            [empty] + [r.pair_pred + o for r, o in zip(records, pred_starts, strict=True)]
        )
        self.pair_gt = cat(
            [empty] + [r.pair_gt + o for r, o in zip(records, gt_starts, strict=True)]
        )
        self.pair_inter = cat([empty] + [r.pair_inter for r in records])
        key_ids: dict[str, int] = {}
        keys = [key for r in records for key in r.pred_keys]
        self.pred_key = np.array([key_ids.setdefault(k, len(key_ids)) for k in keys], np.int64)
        self.num_keys = len(key_ids)


def ap_table(records: Sequence[SceneRecords]) -> np.ndarray:
    """AP of every class at every overlap, pooled over the scenes (in the given order).

    Args:
        records: one :class:`SceneRecords` per scene.

    Returns:
        (18, 10) float64, rows in ``INSTANCE_NYU40_IDS`` order, columns in ``OVERLAPS`` order;
        NaN for a class without ground truth.
    """
    pool = _Pooled(records)
    num_gt = pool.gt_sizes.shape[0]
    num_pred = pool.pred_sizes.shape[0]
    gt_valid = pool.gt_sizes >= MIN_REGION_SIZE
    pair_gt_class = pool.gt_classes[pool.pair_gt]
    g_size = pool.gt_sizes[pool.pair_gt]
    p_size = pool.pred_sizes[pool.pair_pred]
    iou = pool.pair_inter / (g_size + p_size - pool.pair_inter)
    # Vertices that do not count against an unmatched prediction: void and small ground truth.
    small_pair = ~gt_valid[pool.pair_gt]
    ignored = pool.pred_void + np.bincount(
        pool.pair_pred[small_pair], weights=pool.pair_inter[small_pair], minlength=num_pred
    ).astype(np.int64)
    ignored_fraction = ignored / np.maximum(pool.pred_sizes, 1)
    has_gt = np.bincount(pool.gt_classes[gt_valid], minlength=NUM_INSTANCE_CLASSES) > 0
    has_pred = np.bincount(pool.pred_classes, minlength=NUM_INSTANCE_CLASSES) > 0
    gt_count = np.bincount(pool.gt_classes[gt_valid], minlength=NUM_INSTANCE_CLASSES)

    table = np.full((NUM_INSTANCE_CLASSES, len(OVERLAPS)), np.nan)
    for oi, overlap in enumerate(OVERLAPS.tolist()):
        above = iou > overlap
        # Greedy matching, in the order the benchmark visits pairs: class, scene, gt, prediction.
        cand = np.flatnonzero(above & gt_valid[pool.pair_gt])
        cand = cand[np.lexsort((pool.pair_pred[cand], pool.pair_gt[cand], pair_gt_class[cand]))]
        visited = np.zeros(pool.num_keys, dtype=bool)
        matched = np.zeros(num_gt, dtype=bool)
        best: list[float] = [0.0] * num_gt
        extra_class: list[int] = []
        extra_score: list[float] = []
        scores = pool.pred_scores.tolist()
        keys = pool.pred_key.tolist()
        for p, g in zip(pool.pair_pred[cand].tolist(), pool.pair_gt[cand].tolist(), strict=True):
            key = keys[p]
            if visited[key]:
                continue
            conf = scores[p]
            if matched[g]:
                previous = best[g]
                best[g] = max(previous, conf)
                extra_class.append(int(pool.gt_classes[g]))
                extra_score.append(min(previous, conf))
            else:
                matched[g] = True
                best[g] = conf
                visited[key] = True
        found = np.bincount(pool.pair_pred[above], minlength=num_pred) > 0
        false_pos = ~found & (ignored_fraction <= overlap)
        match_idx = np.flatnonzero(matched)
        hard_fn = gt_count - np.bincount(pool.gt_classes[match_idx], minlength=NUM_INSTANCE_CLASSES)
        best_arr = np.asarray(best, dtype=np.float64)
        entry_class = np.concatenate(
            [
                pool.gt_classes[match_idx],
                np.asarray(extra_class, np.int64),
                pool.pred_classes[false_pos],
            ]
        )
        entry_score = np.concatenate(
            [best_arr[match_idx], np.asarray(extra_score, np.float64), pool.pred_scores[false_pos]]
        )
        entry_true = np.concatenate(
            [np.ones(match_idx.shape[0]), np.zeros(len(extra_class) + int(false_pos.sum()))]
        )
        order = np.argsort(entry_class, kind="stable")
        bounds = np.searchsorted(entry_class[order], np.arange(NUM_INSTANCE_CLASSES + 1))
        for c in range(NUM_INSTANCE_CLASSES):
            if has_gt[c] and has_pred[c]:
                sel = order[bounds[c] : bounds[c + 1]]
                table[c, oi] = average_precision(entry_true[sel], entry_score[sel], int(hard_fn[c]))
            elif has_gt[c]:
                table[c, oi] = 0.0
    return table


def check_scene_sets(
    pred_scenes: Sequence[str], gt_scenes: Sequence[str], *, require_all: bool, what: str
) -> tuple[str, ...]:
    """Compare the evaluated scenes with the ground truth's.

    Args:
        pred_scenes: scenes that have predictions.
        gt_scenes: scenes that have ground truth.
        require_all: make ground-truth scenes without predictions an error.
        what: what the predictions are, for messages ("instance predictions").

    Returns:
        Ground-truth scenes without predictions, sorted (logged as a warning).

    Raises:
        InvalidPredictionError: a scene without ground truth, or (with ``require_all``) a ground-
            truth scene without predictions.
    """
    gt_set = set(gt_scenes)
    orphans = sorted(set(pred_scenes) - gt_set)
    if orphans:
        raise InvalidPredictionError(
            f"{what} for scene {orphans[0]!r} have no ground truth"
            + (f" ({len(orphans) - 1} more scenes too)" if len(orphans) > 1 else "")
        )
    missing = tuple(sorted(gt_set - set(pred_scenes)))
    if missing:
        listed = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        if require_all:
            raise InvalidPredictionError(
                f"{len(missing)} ground-truth scenes have no {what}: {listed}",
                hint="evaluate without --require-all to score only the scenes you predicted",
            )
        logger.warning(
            "%d ground-truth scenes have no %s and are not scored (--require-all makes this an "
            "error): %s",
            len(missing),
            what,
            listed,
        )
    return missing


def evaluate_instances(
    predictions: Mapping[str, Instances],
    ground_truth: Mapping[str, np.ndarray],
    *,
    require_all: bool = False,
    semantic_predictions: Mapping[str, np.ndarray] | None = None,
) -> EvalResult:
    """Score in-memory predictions with the benchmark protocol.

    Args:
        predictions: scene id -> its instances (masks (K, N) bool over the scene's mesh
            vertices, labels (K,) int64 nyu40 ids, scores (K,) float32). Every instance is its
            own prediction (there are no file paths to coincide).
        ground_truth: scene id -> (N,) int ``nyu40 * 1000 + instance`` per vertex (0 =
            unannotated), the content of the benchmark's ground-truth txt files.
        require_all: raise if a ground-truth scene has no predictions (default: warn).
        semantic_predictions: optional scene id -> (N,) int nyu40 id per vertex; adds semantic
            accuracy and mIoU (ground truth ``id // 1000``).

    Returns:
        The per-class and mean AP / AP50 / AP25 (and semantic metrics when given).

    Raises:
        InvalidPredictionError: a scene without ground truth, or a mask whose length differs
            from the scene's vertex count.
    """
    scenes = sorted(predictions)
    missing = check_scene_sets(
        scenes, list(ground_truth), require_all=require_all, what="instance predictions"
    )
    records = []
    for scene in scenes:
        inst = predictions[scene]
        gt_ids = np.asarray(ground_truth[scene])
        if inst.num_points != gt_ids.shape[0] and len(inst):
            raise InvalidPredictionError(
                f"scene {scene}: masks cover {inst.num_points} points but the ground truth has "
                f"{gt_ids.shape[0]} vertices"
            )
        records.append(scene_records(inst.masks, inst.labels, inst.scores, gt_ids, source=scene))
    semantic = None
    if semantic_predictions is not None:
        sem_scenes = sorted(semantic_predictions)
        check_scene_sets(
            sem_scenes, list(ground_truth), require_all=require_all, what="semantic predictions"
        )
        semantic = semantic_metrics(
            {s: semantic_predictions[s] for s in sem_scenes},
            {s: np.asarray(ground_truth[s]) // 1000 for s in sem_scenes},
        )
    return build_eval_result(ap_table(records), scenes, missing, semantic)
