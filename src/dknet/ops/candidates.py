"""``mine_candidates``: instance-centre candidates by local-normalised NMS on the heat map."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dknet.errors import ConfigError, InvalidPointCloudError
from dknet.ops import _inputs

__all__ = ["Candidates", "mine_candidates"]

_OP = "mine_candidates"


@dataclass(frozen=True)
class Candidates:
    """Candidates of B packed scenes; every tensor is int64 on the input's device.

    Attributes:
        candidate_idx: (K,) global point index of each candidate, ordered by scene, then by
            acceptance order (decreasing heat).
        candidate_ptr: (B+1,) candidate boundaries per scene.
        sizes: (K,) size of each candidate's full foreground set, counted *before* the
            ``max_neighbors`` cap.
        fg_ptr: (K+1,) CSR boundaries of the foreground lists; a list holds at most
            ``max_neighbors`` points, so ``fg_ptr[k+1] - fg_ptr[k]`` is the size *after* the
            cap (:attr:`capped_sizes`).
        fg_idx: (sum,) global point indices of the foreground lists, ascending per candidate.
        bg_ptr: (K+1,) CSR boundaries of the background lists.
        bg_idx: (sum,) global point indices of the background lists, ascending per candidate.
    """

    candidate_idx: torch.Tensor
    candidate_ptr: torch.Tensor
    sizes: torch.Tensor
    fg_ptr: torch.Tensor
    fg_idx: torch.Tensor
    bg_ptr: torch.Tensor
    bg_idx: torch.Tensor

    @property
    def num_candidates(self) -> int:
        """K, the number of candidates over all scenes."""
        return int(self.candidate_idx.shape[0])

    @property
    def capped_sizes(self) -> torch.Tensor:
        """(K,) int64 foreground-list length, i.e. ``min(sizes, max_neighbors)``.

        This is the count the authors' op reports as a candidate's size and the one DKNet's
        kernel aggregation weights candidates by; :attr:`sizes` is the uncapped count.
        """
        return self.fg_ptr[1:] - self.fg_ptr[:-1]


@torch.no_grad()
def mine_candidates(
    heat: torch.Tensor,
    coords: torch.Tensor,
    semantic_pred: torch.Tensor,
    ptr: torch.Tensor,
    *,
    radius: float = 0.3,
    local_ratio: float = 0.5,
    max_candidates: int = 150,
    max_neighbors: int = 2000,
    score_threshold: float = 0.0,
) -> Candidates:
    """Mine instance candidates with LN-NMS (seed Algorithm 1, ALGORITHM.md section 5).

    Run on the foreground points only (predicted class not wall/floor), packed per scene. For
    each scene, points are visited in decreasing heat (ties: smaller index first); a point is
    eligible when it is not suppressed and ``heat >= score_threshold``. A visited point c
    suppresses every point within R of it, whatever its class; its foreground set F is the
    points within R of c's class (c itself and earlier-suppressed points included) and its
    background set the points within 2R of another class. c is rejected when
    ``heat[c] < local_ratio * max(heat over F)`` (its suppressions stay), otherwise it becomes
    a candidate of size ``|F|``. A scene stops after ``max_candidates`` candidates or when no
    eligible point is left.

    Distances are squared and computed in float32 exactly as
    ``dx = xi - xj; ...; d2 = (dx*dx + dy*dy) + dz*dz`` (no fused multiply-add); "within R"
    means ``d2 < R*R`` and "within 2R" means ``d2 < 4*R*R``, with R, R*R and 4*R*R rounded to
    float32 and ``local_ratio * max`` a float32 product.

    Args:
        heat: (N,) floating point, the per-scene softmax heat of the foreground points; any
            device, converted to float32. Must be finite.
        coords: (N, 3) floating point, raw metric xyz in metres (not shifted by offsets), same
            device, converted to float32. Must be finite.
        semantic_pred: (N,) integer predicted class of each point, same device.
        ptr: (B+1,) integer scene boundaries into the packed points (0, non-decreasing, N).
        radius: R in metres, > 0 (default 0.3).
        local_ratio: Q, finite and >= 0 (default 0.5; 0 turns local normalisation off).
        max_candidates: T, at most this many candidates per scene, >= 1 (default 150).
        max_neighbors: cap of each foreground and background list, >= 1 (default 2000). An
            oversized list keeps the ``max_neighbors`` points with the smallest (d2, index),
            i.e. the nearest, ties by smaller index; ``sizes`` still counts the full set.
        score_threshold: finite; points with lower heat are never visited (default 0.0, which
            is inactive for softmax heat, as in the authors' configuration).

    Returns:
        :class:`Candidates` on ``heat``'s device. Lists are sorted by ascending point index. A
        scene without eligible points, an empty scene and N = 0 give no candidates (the
        authors' code crashed on a scene without candidates; this returns empty tensors).

    Raises:
        TypeError: an array argument that is not a tensor.
        ValueError: wrong shapes or dtypes, devices that differ, or a malformed ``ptr``.
        InvalidPointCloudError: non-finite heat or coordinates.
        ConfigError: a parameter out of range.

    Notes:
        Not differentiable (runs under ``torch.no_grad``). Deterministic: the outputs depend
        neither on the thread count nor on scheduling, and the CUDA extension and the Numba
        backend return identical integers (bit for bit, no tolerance). Unlike the authors'
        op, which copied its state between host and device once per candidate, the CUDA path
        keeps the whole loop on the device and the CPU path never leaves the host.
    """
    heat = _inputs.check_float_tensor(heat, "heat", _OP, (None,))
    n = int(heat.shape[0])
    coords = _inputs.check_float_tensor(coords, "coords", _OP, (n, 3))
    semantic_pred = _inputs.check_int_tensor(semantic_pred, "semantic_pred", _OP, (n,))
    _inputs.check_same_device(_OP, heat, coords=coords, semantic_pred=semantic_pred)
    ptr_host = _inputs.check_ptr(ptr, n, "ptr", _OP)
    radius_f = _inputs.float32_value(
        _inputs.finite_float(radius, "radius", _OP, strictly_positive=True)
    )
    ratio_f = _inputs.float32_value(
        _inputs.finite_float(local_ratio, "local_ratio", _OP, minimum=0.0)
    )
    threshold_f = _inputs.float32_value(
        _inputs.finite_float(score_threshold, "score_threshold", _OP)
    )
    max_cand = _inputs.positive_int(max_candidates, "max_candidates", _OP)
    max_nb = _inputs.positive_int(max_neighbors, "max_neighbors", _OP)
    r32 = np.float32(radius_f)
    with np.errstate(over="ignore", under="ignore"):
        r2_bg = np.float32(4.0) * (r32 * r32)
    if not (r2_bg > 0 and np.isfinite(r2_bg)):
        raise ConfigError(f"{_OP}: radius {radius} m gives no usable float32 squared radius")

    heat32 = heat.detach().to(torch.float32).contiguous()
    coords32 = coords.detach().to(torch.float32).contiguous()
    semantic64 = semantic_pred.detach().to(torch.int64).contiguous()
    if n > 0 and not _inputs.all_finite(heat32, coords32):
        raise InvalidPointCloudError(f"{_OP}: heat or coords contain NaN or infinite values")

    device = heat.device
    backend = _inputs.select_backend(_OP, device)
    if backend == "ext":
        outputs = torch.ops.dknet.mine_candidates(
            heat32,
            coords32,
            semantic64,
            torch.from_numpy(ptr_host).to(device),
            radius_f,
            ratio_f,
            max_cand,
            max_nb,
            threshold_f,
        )
    else:
        from dknet.ops import _numba

        outputs = _inputs.from_numpy(
            _numba.mine_candidates(
                _inputs.as_numpy(heat32, torch.float32),
                _inputs.as_numpy(coords32, torch.float32),
                _inputs.as_numpy(semantic64, torch.int64),
                ptr_host,
                radius_f,
                ratio_f,
                max_cand,
                max_nb,
                threshold_f,
            ),
            device,
        )
    candidate_idx, candidate_ptr, sizes, fg_ptr, fg_idx, bg_ptr, bg_idx = outputs
    return Candidates(
        candidate_idx=candidate_idx,
        candidate_ptr=candidate_ptr,
        sizes=sizes,
        fg_ptr=fg_ptr,
        fg_idx=fg_idx,
        bg_ptr=bg_ptr,
        bg_idx=bg_idx,
    )
