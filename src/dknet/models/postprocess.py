"""Test-time post-processing of one scene's decoded masks (ALGORITHM.md section 8).

In order, as the authors' ``test.py`` does it:

1. cover ratio = (sum of the soft mask over the points the instance won, truncated to an
   integer as the authors' integer buffer does) / (sum of its thresholded mask), capped at 1;
   mask and threshold are rescaled by ``sqrt(value * cover)``; points are reassigned;
2. instances with at most ``min_instance_points`` points are dropped; reassign;
3. score = sqrt(mean rescaled mask over its points * mean softmax probability of its voted
   class over those points) (0 for an instance without a class); keep score >
   ``score_threshold_test``; reassign;
4. superpoint refinement (when superpoints are given): every superpoint takes the majority
   label of its points, "unassigned" counting as a label (ties: the smaller instance index,
   "unassigned" last), and every point inherits it;
5. classes are voted again over the foreground points; instances without a class are dropped.

Every step is vectorised over instances and points; an empty scene, a scene without instances,
and a scene whose Otsu thresholds are all 0 give an empty, valid result (the authors' code
crashed on the last two).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dknet.labels import MIN_INSTANCE_SEMANTIC, SEMANTIC_NYU40_IDS
from dknet.models.config import ModelConfig
from dknet.structures.instances import Instances

__all__ = [
    "DecodedScene",
    "ScenePrediction",
    "assign_points",
    "postprocess_scene",
    "superpoint_majority",
    "vote_classes",
]


@dataclass
class DecodedScene:
    """Decoded instances of one scene (indices local to the scene's points)."""

    group_slice: slice  # the scene's rows of the group tensors (after the training cap)
    masks: torch.Tensor  # (G_b, N_b) soft masks in [0, 1]
    thresholds: torch.Tensor  # (G_b,) Otsu thresholds
    assignment: torch.Tensor  # (N_b,) int64 instance of each point, -1 unassigned
    classes: torch.Tensor  # (G_b,) int64 voted class 0..C-1, C = invalid


@dataclass(frozen=True)
class ScenePrediction:
    """The prediction for one scene.

    Attributes:
        scene_id: the scene's name.
        instances: binary masks over the scene's input points, nyu40 labels, scores.
        semantic_labels: (N,) int64 predicted class 0..19 per point.
        point_instance: (N,) int64 index of the point's instance in ``instances``, or -1.
    """

    scene_id: str
    instances: Instances
    semantic_labels: np.ndarray
    point_instance: np.ndarray


def vote_classes(
    assignment: torch.Tensor, semantic: torch.Tensor, num_instances: int, num_classes: int
) -> torch.Tensor:
    """Most frequent class among the points assigned to each instance (ties: smaller class).

    Args:
        assignment: (P,) int64 instance of each voting point, -1 for none.
        semantic: (P,) int64 class of each voting point.
        num_instances: I.
        num_classes: C.

    Returns:
        (I,) int64 class per instance; C (invalid) for an instance without voting points.
    """
    valid = assignment >= 0
    keys = assignment[valid] * num_classes + semantic[valid]
    counts = torch.bincount(keys, minlength=num_instances * num_classes).view(
        num_instances, num_classes
    )
    best = counts.argmax(dim=1)
    return torch.where(counts.sum(dim=1) > 0, best, torch.full_like(best, num_classes))


def assign_points(thresholded: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """Hard assignment of points to the instance with the largest thresholded mask value.

    A point is unassigned (-1) when that value is below the smallest non-zero threshold, as in
    the authors' code; when every threshold is 0 (their code crashed there), a point is
    unassigned only when its best value is 0.

    Args:
        thresholded: (I, N) masks with values below each row's threshold set to 0.
        thresholds: (I,) thresholds.

    Returns:
        (N,) int64 instance per point, or -1.
    """
    n = thresholded.shape[1]
    if thresholded.shape[0] == 0:
        return torch.full((n,), -1, dtype=torch.int64, device=thresholded.device)
    score, best = thresholded.max(dim=0)
    nonzero = thresholds[thresholds != 0]
    floor = nonzero.min() if nonzero.numel() else thresholds.new_zeros(())
    unassigned = (score < floor) | (score <= 0)
    return torch.where(unassigned, torch.full_like(best, -1), best)


def _counts(assignment: torch.Tensor, num: int) -> torch.Tensor:
    valid = assignment >= 0
    return torch.bincount(assignment[valid], minlength=num)


def _sums(values: torch.Tensor, assignment: torch.Tensor, num: int) -> torch.Tensor:
    """Per instance i, the sum of ``values[i, n]`` over the points n assigned to i."""
    valid = torch.nonzero(assignment >= 0).view(-1)
    owner = assignment[valid]
    return values.new_zeros(num).index_add(0, owner, values[owner, valid])


def superpoint_majority(
    assignment: torch.Tensor, superpoints: torch.Tensor, num_instances: int
) -> torch.Tensor:
    """Each point takes the majority instance label of its superpoint.

    Args:
        assignment: (N,) int64 instance per point, -1 unassigned.
        superpoints: (N,) int64 superpoint id per point (any non-negative ids).
        num_instances: I.

    Returns:
        (N,) int64 refined assignment; ties go to the smaller instance index, with
        "unassigned" ranked after every instance.
    """
    _, sp = torch.unique(superpoints, return_inverse=True)
    num_sp = int(sp.max()) + 1 if sp.numel() else 0
    label = torch.where(assignment >= 0, assignment, torch.full_like(assignment, num_instances))
    counts = torch.bincount(
        sp * (num_instances + 1) + label, minlength=num_sp * (num_instances + 1)
    )
    winner = counts.view(num_sp, num_instances + 1).argmax(dim=1)
    refined = winner[sp]
    return torch.where(refined == num_instances, torch.full_like(refined, -1), refined)


def postprocess_scene(
    scene_id: str,
    decoded: DecodedScene | None,
    probs: torch.Tensor,
    semantic_pred: torch.Tensor,
    superpoints: torch.Tensor | None,
    config: ModelConfig,
) -> ScenePrediction:
    """Turn one scene's decoded masks into a :class:`~dknet.models.dknet.ScenePrediction`.

    Args:
        scene_id: the scene's name.
        decoded: the scene's :class:`~dknet.models.dknet.DecodedScene` (or None: no instance).
        probs: (N, C) float32 semantic softmax of the scene's points.
        semantic_pred: (N,) int64 predicted class per point.
        superpoints: optional (N,) int64 superpoint ids.
        config: thresholds (``min_instance_points``, ``score_threshold_test``).
    """
    n = probs.shape[0]
    num_classes = probs.shape[1]
    fg = semantic_pred >= MIN_INSTANCE_SEMANTIC
    device = probs.device
    none = torch.full((n,), -1, dtype=torch.int64, device=device)

    def finish(assignment: torch.Tensor, num: int, scores: torch.Tensor) -> ScenePrediction:
        if num == 0:
            return ScenePrediction(
                scene_id=scene_id,
                instances=Instances(
                    masks=np.zeros((0, n), dtype=bool),
                    labels=np.zeros(0, dtype=np.int64),
                    scores=np.zeros(0, dtype=np.float32),
                ),
                semantic_labels=semantic_pred.cpu().numpy().astype(np.int64),
                point_instance=np.full(n, -1, dtype=np.int64),
            )
        if superpoints is not None:
            assignment = superpoint_majority(assignment, superpoints, num)
        classes = vote_classes(assignment[fg], semantic_pred[fg], num, num_classes)
        keep = classes < num_classes
        new_index = torch.cumsum(keep.to(torch.int64), 0) - 1
        safe = assignment.clamp(min=0)
        kept_assignment = torch.where((assignment >= 0) & keep[safe], new_index[safe], -1)
        num_kept = int(keep.sum())
        point_instance = kept_assignment.cpu().numpy()
        masks = np.zeros((num_kept, n), dtype=bool)
        if num_kept:
            valid = point_instance >= 0
            masks[point_instance[valid], np.nonzero(valid)[0]] = True
        nyu40 = np.asarray(SEMANTIC_NYU40_IDS, dtype=np.int64)[classes[keep].cpu().numpy()]
        instances = Instances(
            masks=masks,
            labels=nyu40,
            scores=scores[keep].float().clamp(0.0, 1.0).cpu().numpy(),
        )
        return ScenePrediction(
            scene_id=scene_id,
            instances=instances,
            semantic_labels=semantic_pred.cpu().numpy().astype(np.int64),
            point_instance=point_instance.astype(np.int64),
        )

    empty_scores = probs.new_zeros(0)
    if decoded is None or decoded.masks.shape[0] == 0:
        return finish(none, 0, empty_scores)
    masks = decoded.masks.float()
    thresholds = decoded.thresholds.float()
    assignment = decoded.assignment
    classes = decoded.classes
    num = masks.shape[0]
    thresholded = torch.where(masks < thresholds.unsqueeze(1), 0.0, masks)

    # 1. cover ratio
    won = torch.floor(_sums(masks, assignment, num))
    cover = torch.clamp(won / (thresholded.sum(dim=1) + 1e-6), max=1.0)
    thresholded = torch.sqrt(thresholded * cover.unsqueeze(1))
    thresholds = torch.sqrt(thresholds * cover)
    assignment = assign_points(thresholded, thresholds)

    # 2. size
    keep = _counts(assignment, num) > config.min_instance_points
    thresholded, thresholds, classes = thresholded[keep], thresholds[keep], classes[keep]
    num = int(keep.sum())
    if num == 0:
        return finish(none, 0, empty_scores)
    assignment = assign_points(thresholded, thresholds)

    # 3. score
    counts = _counts(assignment, num).to(thresholded.dtype)
    mask_mean = _sums(thresholded, assignment, num) / (counts + 1e-6)
    valid_class = classes < num_classes
    owned = torch.nonzero(assignment >= 0).view(-1)
    owner = assignment[owned]
    own_prob = probs[owned, classes.clamp(max=num_classes - 1)[owner]]
    prob_mean = probs.new_zeros(num).index_add(0, owner, own_prob) / (counts + 1e-6)
    scores = torch.sqrt(torch.where(valid_class, mask_mean * prob_mean, 0.0))
    keep = scores > config.score_threshold_test
    thresholded, thresholds, scores = thresholded[keep], thresholds[keep], scores[keep]
    num = int(keep.sum())
    if num == 0:
        return finish(none, 0, empty_scores)
    assignment = assign_points(thresholded, thresholds)

    # 4-5. superpoints, class vote, drop instances without a class
    return finish(assignment, num, scores)
