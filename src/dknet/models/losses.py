"""DKNet's training losses (ALGORITHM.md section 9; all weights 1), stage by stage.

* stage 1: ``semantic`` (cross-entropy + multi-class soft Dice) and ``offset`` (L1 +
  negative cosine);
* stage 2: + ``heat`` (L1 to a Gaussian of the distance to the instance centroid) and ``merge``
  (BCE over the merge-score map + row-wise soft Dice);
* stage 3: + ``mask`` (BCE + soft Dice of the decoded masks matched to ground-truth instances by
  the Hungarian algorithm).

``compute_losses`` returns a dict with one scalar per loss of the stage and ``total`` (their
sum). A loss with nothing to supervise (no instance points, no candidate, no matched instance)
is an exact 0 that stays connected to the graph, never NaN.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from dknet.data.batch import PointBatch
from dknet.labels import IGNORE_LABEL
from dknet.models.config import ModelConfig
from dknet.models.postprocess import vote_classes

if TYPE_CHECKING:
    from dknet.models.dknet import ForwardState

__all__ = ["compute_losses", "instance_statistics", "soft_dice"]


def soft_dice(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Row-wise soft Dice loss ``1 - (2 sum pg + 1) / (sum g^2 + sum p^2 + 1)`` (the authors'
    smoothing, with their 1e-6 in the denominator). (R, M) -> (R,)."""
    inter = 2 * (pred * target).sum(dim=1) + 1
    union = (target * target).sum(dim=1) + (pred * pred).sum(dim=1) + 1 + 1e-6
    return 1 - inter / union


def _multiclass_dice(probs: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Mean over classes of 1 - (2 sum p t + eps) / (sum p^2 + sum t^2 + 1e-4 + eps)."""
    target = F.one_hot(labels, num_classes).to(probs.dtype)
    eps = 1e-5
    dice = (2 * (probs * target).sum(0) + eps) / (
        (probs * probs).sum(0) + (target * target).sum(0) + 1e-4 + eps
    )
    return (1 - dice).mean()


def instance_statistics(
    coords: torch.Tensor, instance_labels: torch.Tensor, num_instances: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Centroid and longest box side of every ground-truth instance.

    Args:
        coords: (N, 3) metric coordinates.
        instance_labels: (N,) int64 instance id 0..I-1 or -1.
        num_instances: I.

    Returns:
        ``(centroids (I, 3), extent (I,))``; an instance without points gets zeros.
    """
    valid = instance_labels >= 0
    ids = instance_labels[valid]
    pts = coords[valid].float()
    counts = torch.bincount(ids, minlength=num_instances).clamp(min=1).to(pts.dtype)
    centroids = pts.new_zeros((num_instances, 3)).index_add(0, ids, pts) / counts.unsqueeze(1)
    index = ids.unsqueeze(1).expand(-1, 3)
    lo = pts.new_full((num_instances, 3), torch.inf).scatter_reduce(0, index, pts, reduce="amin")
    hi = pts.new_full((num_instances, 3), -torch.inf).scatter_reduce(0, index, pts, reduce="amax")
    extent = torch.nan_to_num((hi - lo).amax(dim=1), nan=0.0, posinf=0.0, neginf=0.0)
    return centroids, extent


def compute_losses(
    state: ForwardState, batch: PointBatch, *, stage: int, config: ModelConfig
) -> dict[str, torch.Tensor]:
    """The named losses of ``stage`` for a forward ``state``.

    Returns:
        ``semantic``, ``offset`` (stage >= 1), ``heat``, ``merge`` (stage >= 2), ``mask``
        (stage 3) and ``total``, each a 0-d float32 tensor.
    """
    # Losses are computed in float32 whatever the autocast context (BCE is unsafe in fp16).
    with torch.autocast(device_type=batch.device.type, enabled=False):
        return _compute(state, batch, stage=stage, config=config)


def _compute(
    state: ForwardState, batch: PointBatch, *, stage: int, config: ModelConfig
) -> dict[str, torch.Tensor]:
    logits = state.semantic_logits.float()
    zero = logits.sum() * 0.0
    labels = batch.semantic_labels
    num_classes = config.num_classes
    losses: dict[str, torch.Tensor] = {}

    # semantic: cross-entropy + multi-class soft Dice over labelled points
    labelled = labels != IGNORE_LABEL
    if bool(labelled.any()):
        ce = F.cross_entropy(logits, labels, ignore_index=IGNORE_LABEL)
        probs = torch.softmax(logits[labelled], dim=1)
        losses["semantic"] = ce + _multiclass_dice(probs, labels[labelled], num_classes)
    else:
        losses["semantic"] = zero

    # offset: L1 + negative cosine over instance points
    instance = batch.instance_labels
    num_instances = int(batch.instance_ptr[-1])
    centroids, extent = instance_statistics(batch.coords, instance, num_instances)
    valid = (instance >= 0).to(logits.dtype)
    gt_offsets = centroids[instance.clamp(min=0)] - batch.coords.float()
    offsets = state.offsets.float()
    l1 = ((offsets - gt_offsets).abs().sum(dim=1) * valid).sum() / (valid.sum() + 1e-6)
    gt_dir = gt_offsets / (gt_offsets.norm(dim=1, keepdim=True) + 1e-8)
    pred_dir = offsets / (offsets.norm(dim=1, keepdim=True) + 1e-8)
    cosine = (-(gt_dir * pred_dir).sum(dim=1) * valid).sum() / (valid.sum() + 1e-6)
    losses["offset"] = l1 + cosine

    if stage >= 2:
        losses["heat"] = _heat_loss(state, batch, centroids, extent, zero)
        losses["merge"] = _merge_loss(state, batch, zero)
    if stage >= 3:
        losses["mask"] = _mask_loss(state, batch, centroids, zero, num_classes)
    losses["total"] = sum(losses.values(), zero)
    return losses


def _heat_loss(
    state: ForwardState,
    batch: PointBatch,
    centroids: torch.Tensor,
    extent: torch.Tensor,
    zero: torch.Tensor,
) -> torch.Tensor:
    fg_idx = state.fg_idx
    heat = state.heat
    if fg_idx is None or heat is None or fg_idx.numel() == 0:
        return zero
    inst = batch.instance_labels[fg_idx]
    valid = (inst >= 0).to(heat.dtype)
    safe = inst.clamp(min=0)
    dist2 = ((centroids[safe] - batch.coords[fg_idx].float()) ** 2).sum(dim=1)
    target = torch.exp(-25.0 * dist2 / (extent[safe] + 1e-4) ** 2)
    return ((heat - target).abs() * valid).sum() / (valid.sum() + 1e-6) + zero


def _merge_loss(state: ForwardState, batch: PointBatch, zero: torch.Tensor) -> torch.Tensor:
    candidates = state.candidates
    blocks = state.merge_blocks
    fg_idx = state.fg_idx
    if candidates is None or fg_idx is None or candidates.num_candidates == 0 or not blocks:
        return zero
    inst = batch.instance_labels[fg_idx[candidates.candidate_idx]]
    bounds = candidates.candidate_ptr.tolist()
    bce_sum = zero
    pairs = 0
    dice_rows = []
    for b, block in enumerate(blocks):
        if block.numel() == 0:
            continue
        ids = inst[bounds[b] : bounds[b + 1]]
        target = ((ids.unsqueeze(1) == ids.unsqueeze(0)) & (ids >= 0).unsqueeze(1)).to(block.dtype)
        bce_sum = bce_sum + F.binary_cross_entropy(block, target, reduction="sum")
        pairs += block.shape[0] ** 2
        dice_rows.append(soft_dice(block, target))
    if pairs == 0:
        return zero
    return bce_sum / pairs + torch.cat(dice_rows).mean()


def _mask_loss(
    state: ForwardState,
    batch: PointBatch,
    centroids: torch.Tensor,
    zero: torch.Tensor,
    num_classes: int,
) -> torch.Tensor:
    decoded = state.decoded
    center_points = state.center_points
    if not decoded or center_points is None:
        return zero
    instance = batch.instance_labels
    semantic = batch.semantic_labels
    point_bounds = batch.ptr.tolist()
    inst_bounds = batch.instance_ptr.tolist()
    bce_terms: list[torch.Tensor] = []
    dice_terms: list[torch.Tensor] = []
    for b, scene in enumerate(decoded):
        num_pred = scene.masks.shape[0]
        i0, i1 = inst_bounds[b], inst_bounds[b + 1]
        if num_pred == 0 or i1 <= i0:
            continue
        p0, p1 = point_bounds[b], point_bounds[b + 1]
        local_inst = instance[p0:p1]
        num_gt = i1 - i0
        gt_masks = torch.zeros(
            (num_gt, p1 - p0), dtype=scene.masks.dtype, device=scene.masks.device
        )
        has = local_inst >= 0
        pts = torch.nonzero(has).view(-1)
        gt_masks[local_inst[pts] - i0, pts] = 1.0
        # each GT instance's class: the most frequent label of its points; an instance whose
        # points are mostly unlabelled (column C) or that has no points gets IGNORE_LABEL
        sem = semantic[p0:p1][pts]
        voted = vote_classes(
            local_inst[pts] - i0, torch.where(sem >= 0, sem, num_classes), num_gt, num_classes + 1
        )
        gt_class = torch.where(voted < num_classes, voted, torch.full_like(voted, IGNORE_LABEL))
        centres = batch.coords[center_points[scene.group_slice]].float()
        cost = torch.cdist(centroids[i0:i1], centres)  # (G, I)
        cost = cost + (gt_class.unsqueeze(1) != scene.classes.unsqueeze(0)).to(cost.dtype)
        rows, cols = linear_sum_assignment(cost.detach().cpu().numpy())
        rows_t = torch.as_tensor(rows, dtype=torch.int64, device=cost.device)
        cols_t = torch.as_tensor(cols, dtype=torch.int64, device=cost.device)
        order = torch.argsort(cols_t)
        rows_t, cols_t = rows_t[order], cols_t[order]
        pred = scene.masks[cols_t]
        gt = gt_masks[rows_t]
        hard = (scene.assignment.unsqueeze(0) == cols_t.unsqueeze(1)).to(gt.dtype)
        inter = (hard * gt).sum(dim=1)
        iou = inter / (hard.sum(dim=1) + gt.sum(dim=1) - inter + 1e-6)
        labelled = gt_class[rows_t] != IGNORE_LABEL
        chosen = labelled & (iou > 0.25)
        if not bool(chosen.any()):
            chosen = labelled
        if not bool(chosen.any()):
            continue
        pred, gt = pred[chosen].float(), gt[chosen]
        bce_terms.append(F.binary_cross_entropy(pred, gt, reduction="none").flatten())
        dice_terms.append(soft_dice(pred, gt))
    if not bce_terms:
        return zero
    return torch.cat(bce_terms).mean() + torch.cat(dice_terms).mean()
