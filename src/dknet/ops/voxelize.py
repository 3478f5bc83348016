"""``voxelize``: group the points of packed scenes into voxels, with both direction maps."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from dknet.errors import InvalidPointCloudError
from dknet.ops import _inputs

__all__ = ["Voxels", "voxelize"]

_OP = "voxelize"
# voxel_coords are int32 (spconv's layout): every per-axis index must fit.
_MAX_INDEX = 2**31 - 1


@dataclass(frozen=True)
class Voxels:
    """Voxels of B packed scenes; every tensor lives on the input's device.

    Attributes:
        voxel_coords: (M, 4) int32 rows ``(b, vx, vy, vz)``: scene index then voxel indices,
            each axis starting at 0 per scene; sorted lexicographically.
        point_to_voxel: (N,) int64 voxel row of every point.
        voxel_to_point_ptr: (M+1,) int64 CSR boundaries of the inverse map.
        voxel_to_point_idx: (N,) int64 point indices, grouped by voxel, ascending per voxel.
        voxel_ptr: (B+1,) int64 voxel row boundaries per scene.
        features: (M, C) mean of the points' features per voxel (the features' dtype), or None
            when no features were given.
    """

    voxel_coords: torch.Tensor
    point_to_voxel: torch.Tensor
    voxel_to_point_ptr: torch.Tensor
    voxel_to_point_idx: torch.Tensor
    voxel_ptr: torch.Tensor
    features: torch.Tensor | None = None

    @property
    def num_voxels(self) -> int:
        """M, the number of voxels over all scenes."""
        return int(self.voxel_coords.shape[0])


def voxelize(
    coords: torch.Tensor,
    ptr: torch.Tensor,
    *,
    voxel_size: float,
    features: torch.Tensor | None = None,
) -> Voxels:
    """Voxelise B packed scenes and mean-pool point features per voxel.

    For every scene separately, a point's voxel is ``floor(coords / voxel_size)`` per axis,
    computed in float32 (float32 coordinates divided by float32 ``voxel_size``), minus the
    scene's per-axis minimum so indices start at 0. Voxels are the distinct
    ``(b, vx, vy, vz)``, sorted lexicographically.

    Args:
        coords: (N, 3) floating point, metres, any device; converted to float32.
        ptr: (B+1,) integer scene boundaries (scene b = rows ``ptr[b]:ptr[b+1]``), starting at 0,
            non-decreasing, ending at N. Any device; it is read once on the host.
        voxel_size: voxel side in metres, > 0 (rounded to float32), e.g. 0.02 for ScanNet.
        features: optional (N, C) floating point on ``coords``' device. Pooled by mean with
            ``index_add_`` in torch, so gradients flow to ``features`` through autograd.

    Returns:
        :class:`Voxels` on ``coords``' device. Empty scenes get no voxels; N = 0 gives M = 0.

    Raises:
        TypeError: an array argument that is not a tensor.
        ValueError: wrong shapes or dtypes, a malformed ``ptr``, devices that differ, or voxel
            indices that do not fit int32 (``voxel_size`` far too small for the extent).
        InvalidPointCloudError: non-finite coordinates.
        ConfigError: ``voxel_size`` not a finite number > 0.

    Notes:
        Integer outputs are deterministic and identical on every backend (CUDA extension and
        Numba) and for any thread count. Pooled features are exact sums divided by counts; on
        CPU they are reproducible bit for bit, on CUDA ``index_add_`` accumulates with atomics,
        so the last bits may vary between runs (relative error ~1e-6 in float32) unless
        ``torch.use_deterministic_algorithms(True)`` is set. The index part is not
        differentiable; the feature pooling is.
    """
    coords = _inputs.check_float_tensor(coords, "coords", _OP, (None, 3))
    n = int(coords.shape[0])
    ptr_host = _inputs.check_ptr(ptr, n, "ptr", _OP)
    size = _inputs.float32_value(
        _inputs.finite_float(voxel_size, "voxel_size", _OP, strictly_positive=True)
    )
    if features is not None:
        features = _inputs.check_float_tensor(features, "features", _OP, (n, None))
        _inputs.check_same_device(_OP, coords, features=features)
    device = coords.device

    with torch.no_grad():
        coords32 = coords.detach().to(torch.float32).contiguous()
        _check_range(coords32, size)
        backend = _inputs.select_backend(_OP, device)
        if backend == "ext":
            outputs = torch.ops.dknet.voxelize(
                coords32, torch.from_numpy(ptr_host).to(device), size
            )
        else:
            from dknet.ops import _numba

            outputs = _inputs.from_numpy(
                _numba.voxelize(_inputs.as_numpy(coords32, torch.float32), ptr_host, size),
                device,
            )
    voxel_coords, point_to_voxel, voxel_to_point_ptr, voxel_to_point_idx, voxel_ptr = outputs

    pooled = None
    if features is not None:
        num_voxels = int(voxel_coords.shape[0])
        counts = (voxel_to_point_ptr[1:] - voxel_to_point_ptr[:-1]).to(features.dtype)
        sums = features.new_zeros((num_voxels, features.shape[1])).index_add(
            0, point_to_voxel, features
        )
        pooled = sums / counts.unsqueeze(1)
    return Voxels(
        voxel_coords=voxel_coords,
        point_to_voxel=point_to_voxel,
        voxel_to_point_ptr=voxel_to_point_ptr,
        voxel_to_point_idx=voxel_to_point_idx,
        voxel_ptr=voxel_ptr,
        features=pooled,
    )


def _check_range(coords32: torch.Tensor, voxel_size: float) -> None:
    """Reject non-finite coordinates and extents whose voxel indices would overflow int32."""
    if coords32.shape[0] == 0:
        return
    lo, hi = torch.aminmax(coords32, dim=0)
    bounds = torch.cat([lo, hi]).tolist()  # one small device-to-host copy
    span = max(bounds[a + 3] - bounds[a] for a in range(3))
    magnitude = max(abs(v) for v in bounds)
    if not (math.isfinite(span) and math.isfinite(magnitude)):
        raise InvalidPointCloudError(f"{_OP}: coords contain NaN or infinite values")
    # float32 division rounds each quotient by up to one ulp (<= 2^-23 relative), so the index
    # range can exceed span / voxel_size by a few ulps of the largest quotient.
    largest = magnitude / voxel_size
    index_range = span / voxel_size * (1.0 + 2.0**-22) + largest * 2.0**-21 + 4.0
    if index_range > _MAX_INDEX or largest > 2.0**62:
        raise ValueError(
            f"{_OP}: coordinates span {span:.6g} m, which is more than 2^31 voxels of "
            f"{voxel_size:.6g} m; use a larger voxel_size or split the scene"
        )
