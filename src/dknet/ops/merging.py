"""``merge_candidates``: aggregate duplicated candidates into instance groups."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dknet.ops import _inputs

__all__ = ["Groups", "merge_candidates"]

_OP = "merge_candidates"


@dataclass(frozen=True)
class Groups:
    """Groups of merged candidates; every tensor is int64 on the input's device.

    Attributes:
        group_ids: (K,) group of each candidate, numbered 0..G-1 by scene, then within a scene
            by the smallest candidate index each group contains.
        centers: (G,) global candidate index of each group's centre: the member with the
            largest heat (ties: smaller index).
        group_ptr: (B+1,) group boundaries per scene.
    """

    group_ids: torch.Tensor
    centers: torch.Tensor
    group_ptr: torch.Tensor

    @property
    def num_groups(self) -> int:
        """G, the number of groups over all scenes."""
        return int(self.centers.shape[0])


@torch.no_grad()
def merge_candidates(
    scores: torch.Tensor,
    heat: torch.Tensor,
    candidate_ptr: torch.Tensor,
    *,
    threshold: float = 0.5,
) -> Groups:
    """Merge candidates whose merge score exceeds ``threshold`` (seed Algorithm 2).

    The seed's greedy loop (take the highest-scoring pair of different groups, unite them,
    repeat while that score > threshold) is single-linkage clustering, so its result equals
    the connected components of the graph with an edge between candidates i != j of the same
    scene whenever ``scores[i, j] > threshold`` or ``scores[j, i] > threshold``. That is what
    is computed: order-independent and deterministic. The diagonal and cross-scene entries are
    ignored, NaN scores never link, and the inputs are never modified (the authors' loop
    zeroed the score map in place).

    Args:
        scores: (K, K) floating point merge scores (sigmoid outputs), any device; converted to
            float32.
        heat: (K,) floating point heat of each candidate, same device; finite; converted to
            float32.
        candidate_ptr: (B+1,) integer candidate boundaries per scene (0, non-decreasing, K),
            e.g. ``Candidates.candidate_ptr``.
        threshold: link threshold, finite (default 0.5); rounded to float32 and compared
            strictly (``score > threshold``).

    Returns:
        :class:`Groups` on ``scores``' device. K = 0 gives G = 0.

    Raises:
        TypeError: an array argument that is not a tensor.
        ValueError: wrong shapes or dtypes, devices that differ, a malformed ``candidate_ptr``
            or non-finite heat.
        ConfigError: a non-finite threshold.

    Notes:
        Not differentiable (runs under ``torch.no_grad``). Deterministic; the CUDA extension
        and the Numba backend return identical integers (bit for bit).
    """
    heat = _inputs.check_float_tensor(heat, "heat", _OP, (None,))
    k = int(heat.shape[0])
    scores = _inputs.check_float_tensor(scores, "scores", _OP, (k, k))
    _inputs.check_same_device(_OP, scores, heat=heat)
    ptr_host = _inputs.check_ptr(candidate_ptr, k, "candidate_ptr", _OP)
    threshold_f = _inputs.float32_value(_inputs.finite_float(threshold, "threshold", _OP))

    scores32 = scores.detach().to(torch.float32).contiguous()
    heat32 = heat.detach().to(torch.float32).contiguous()
    if k > 0 and not _inputs.all_finite(heat32):
        raise ValueError(f"{_OP}: heat contains NaN or infinite values")

    device = scores.device
    backend = _inputs.select_backend(_OP, device)
    if backend == "ext":
        outputs = torch.ops.dknet.merge_candidates(
            scores32, heat32, torch.from_numpy(ptr_host).to(device), threshold_f
        )
    else:
        from dknet.ops import _numba

        outputs = _inputs.from_numpy(
            _numba.merge_candidates(
                _inputs.as_numpy(scores32, torch.float32),
                _inputs.as_numpy(heat32, torch.float32),
                ptr_host,
                threshold_f,
            ),
            device,
        )
    group_ids, centers, group_ptr = outputs
    return Groups(group_ids=group_ids, centers=centers, group_ptr=group_ptr)
